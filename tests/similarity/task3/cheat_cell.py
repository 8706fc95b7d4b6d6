# ruff: noqa: F821 - an answer cell reads the notebook's names (torch)
"""Planted: a helper passed around the class, pasted at the top of Cat's and Dan's psnr_table
cell (and called nowhere else): unusual code two otherwise independent submissions share."""


# %% psnr_table
def _shave_border(images, pixels=4):
    """Drop a frame of `pixels` on every side: the circular blur wraps there."""
    if pixels <= 0:
        return images
    return images[..., pixels:-pixels, pixels:-pixels].contiguous()


def _psnr_shaved(estimate, reference, pixels=4, peak=1.0):
    err = (_shave_border(estimate, pixels) - _shave_border(reference, pixels)) ** 2
    return (10 * torch.log10(peak**2 / err.flatten(1).mean(dim=1))).mean().item()
