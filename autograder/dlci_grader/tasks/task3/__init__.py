"""Task 3, Wiener and U-Net: its hidden-test checks, the reference filter and methods table."""
