"""Image-formation operators for deblurring: ``y = k ⊛ x + n`` with circular convolution.

All functions are batched torch code that run on whatever device their input lives on.
Images are ``(..., H, W)`` tensors (typically ``(N, C, H, W)``, values in [0, 1]); a blur
kernel is a real ``(kh, kw)`` tensor, applied to every leading index alike. The inverse,
Wiener deconvolution, is Task 3's exercise: it is not here.

Example:
    >>> import torch
    >>> from starter.imaging import blur, add_noise, psf2otf
    >>> x = torch.rand(1, 3, 32, 48)
    >>> k = torch.ones(3, 3) / 9
    >>> y = add_noise(blur(x, k), sigma=0.01, generator=torch.Generator().manual_seed(0))
    >>> y.shape, psf2otf(k, (32, 48)).shape
    (torch.Size([1, 3, 32, 48]), torch.Size([32, 48]))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _check_kernel(kernel: torch.Tensor, shape: tuple[int, int]) -> None:
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be a 2-D (kh, kw) tensor, got shape {tuple(kernel.shape)}")
    if kernel.is_complex():
        raise ValueError("kernel must be real-valued")
    kh, kw = kernel.shape
    if kh > shape[0] or kw > shape[1]:
        raise ValueError(
            f"kernel of shape {tuple(kernel.shape)} is larger than the image {tuple(shape)}"
        )


def check_image(x: torch.Tensor, name: str) -> None:
    """Raise a clear error unless ``x`` is a real tensor of shape ``(..., H, W)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (..., H, W), got {tuple(x.shape)}")
    if x.is_complex():
        raise ValueError(f"{name} must be real-valued")


def psf2otf(kernel: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Optical transfer function of a blur kernel: its 2-D DFT at image size.

    The kernel is zero-padded to ``shape`` and circularly shifted so that its centre
    element (index ``(kh // 2, kw // 2)``) sits at the origin; then ``fft2(x) * otf`` is
    the DFT of the circular convolution of ``x`` with the kernel, with no shift.

    Args:
        kernel: real tensor ``(kh, kw)``.
        shape: image size ``(H, W)``, at least the kernel's size.

    Returns:
        complex tensor ``(H, W)`` on the kernel's device.
    """
    shape = (int(shape[0]), int(shape[1]))
    _check_kernel(kernel, shape)
    kh, kw = kernel.shape
    padded = kernel.new_zeros(shape)
    padded[:kh, :kw] = kernel
    padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
    return torch.fft.fft2(padded)


def blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Circular convolution of every ``(H, W)`` slice of ``x`` with ``kernel``, via the FFT
    (the real FFT: half the spectrum, half the time and memory of ``fft2``).

    Args:
        x: real tensor ``(..., H, W)``.
        kernel: real tensor ``(kh, kw)``; moved to ``x``'s device and dtype.

    Returns:
        tensor of ``x``'s shape and dtype.
    """
    check_image(x, "x")
    kernel = kernel.to(device=x.device, dtype=x.dtype)
    shape = x.shape[-2:]
    otf = psf2otf(kernel, shape)[:, : shape[-1] // 2 + 1]  # a real image's spectrum: half of it
    return torch.fft.irfft2(torch.fft.rfft2(x) * otf, s=shape)


def add_noise(
    x: torch.Tensor, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Add white Gaussian noise of standard deviation ``sigma`` (not variance).

    Args:
        x: tensor of any shape (values in [0, 1] for images; the result is not clipped).
        sigma: noise standard deviation, in the units of ``x``; must be >= 0.
        generator: optional ``torch.Generator`` (on ``x``'s device) for reproducible noise.

    Returns:
        ``x + sigma * n`` with ``n ~ N(0, 1)`` i.i.d., same shape and dtype as ``x``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if sigma < 0:
        raise ValueError(f"sigma is a standard deviation and must be >= 0, got {sigma}")
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + sigma * noise
