"""Task 2, the DnCNN ablation: its hidden-test checks."""
