"""Task 1, backprop and inpainting: its hidden-test checks."""
