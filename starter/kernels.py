"""The Task 3 blur kernel, shipped with the kit so that Task 3 needs no MNIST download.

Provenance: the first image of the MNIST *training* split (index 0, a "5"), 28×28 uint8,
resized to 7×7 by nearest-neighbour interpolation in its common "floor" form (output pixel
``(i, j)`` takes input pixel ``(4i, 4j)``, as ``torch.nn.functional.interpolate(...,
mode="nearest")`` and OpenCV's ``INTER_NEAREST`` do), then normalised to sum 1.
``tests/test_kernels.py`` re-derives it from the real MNIST file. With it, Wiener
deconvolution (SNR 100) of the 100 BSDS300 test images gives the course's published
32.17 / 28.15 / 22.86 dB at σ = 0.005 / 0.01 / 0.02; the centre-sampling form of
nearest-neighbour (PIL, scikit-image) picks other pixels and gives 31.88 / 28.02 / 22.82 dB.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# Pixel values (0-255) of the first MNIST training image (index 0, a handwritten "5") at
# rows/columns 0, 4, ..., 24.
TASK3_KERNEL_PIXELS: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0, 0, 0, 0),
    (0, 0, 0, 0, 0, 0, 0),
    (0, 0, 219, 253, 247, 0, 0),
    (0, 0, 0, 190, 0, 0, 0),
    (0, 0, 0, 0, 93, 0, 0),
    (0, 0, 0, 221, 253, 0, 0),
    (0, 136, 212, 0, 0, 0, 0),
)


def kernel_from_digit(digit: np.ndarray | torch.Tensor, size: int = 7) -> torch.Tensor:
    """Blur kernel from an MNIST digit: nearest-neighbour resize to ``size×size``, sum 1.

    Args:
        digit: ``(28, 28)`` or flat ``(784,)`` pixels, any real dtype (0-255 for MNIST).
        size: side of the square kernel.

    Returns:
        float64 tensor ``(size, size)`` summing to 1.
    """
    d = torch.as_tensor(np.asarray(digit), dtype=torch.float64)
    if d.numel() == 784 and d.ndim == 1:
        d = d.reshape(28, 28)
    if d.ndim != 2:
        raise ValueError(f"digit must be (28, 28) or (784,), got shape {tuple(d.shape)}")
    small = F.interpolate(d[None, None], size=(size, size), mode="nearest")[0, 0]
    total = small.sum()
    if total <= 0:
        raise ValueError("digit has no positive pixels; cannot normalise a kernel from it")
    return small / total


def task3_kernel(
    dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> torch.Tensor:
    """The course's 7×7 Task 3 blur kernel (see the module docstring), summing to 1.

    Returns:
        tensor ``(7, 7)`` of ``dtype`` on ``device``.
    """
    pixels = torch.tensor(TASK3_KERNEL_PIXELS, dtype=torch.float64)
    return (pixels / pixels.sum()).to(dtype=dtype, device=device)
