"""Task 3, Wiener and U-Net: its hidden-test checks, sample variants, the reference filter and methods table, and the U-Net training script."""
