"""Image quality metrics."""

from __future__ import annotations

import torch


def psnr(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range² / MSE)``.

    Computed per image over all but the first dimension of ``(N, ...)`` inputs, then
    averaged (``reduction="mean"``) or returned per image (``"none"``). A single image
    without a batch dimension, e.g. ``(C, H, W)``, is not averaged: pass it as ``(1, C, H, W)``.
    Values are compared as they are (no clipping), in float64 for accuracy.

    Args:
        x, y: tensors of the same shape ``(N, ...)``, values nominally in ``[0, data_range]``.
        data_range: peak-to-peak range of the signal (1.0 for images in [0, 1]).
        reduction: ``"mean"`` (scalar, mean of per-image PSNRs) or ``"none"`` (``(N,)``).

    Returns:
        PSNR in dB; ``inf`` where the images are identical.

    Example:
        >>> x = torch.zeros(2, 1, 4, 4); y = x + 0.1
        >>> round(psnr(x, y).item(), 2)
        20.0
    """
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("psnr expects two torch.Tensors")
    if x.shape != y.shape:
        raise ValueError(
            f"psnr needs inputs of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.ndim < 2:
        raise ValueError(f"psnr expects a batch (N, ...), got shape {tuple(x.shape)}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    diff = x.detach().to(torch.float64) - y.detach().to(device=x.device, dtype=torch.float64)
    mse = diff.pow(2).flatten(1).mean(dim=1)
    values = 10.0 * torch.log10(data_range**2 / mse)
    return values.mean() if reduction == "mean" else values
