"""Task 3's reference implementations: what the grader, the demo and the training script compare
with or build on. Instructor side only: each function here answers (part of) a graded test, so
none of them may ship in the student package ``starter`` (``tests/test_api_leak.py``).

- :func:`wiener_deconv`: Wiener deconvolution, the answer to the ``wiener`` part;
- :func:`evaluate` / :func:`evaluate_methods`: mean PSNR of methods at several noise levels, the
  answer to ``psnr_table`` and the notebook's table (the figures in docs/instructors/results.md).

Images are ``(..., H, W)`` tensors (typically ``(N, 3, H, W)`` in [0, 1]); a kernel is a real
``(kh, kw)`` tensor. The helpers they use (``psf2otf``, ``blur``, ``psnr``, the pretrained
networks) are the student package's.

Example:
    >>> import torch
    >>> from dlci_grader.tasks.task3.reference import wiener_deconv
    >>> from starter.imaging import blur
    >>> k = torch.ones(3, 3) / 9
    >>> wiener_deconv(blur(torch.rand(1, 3, 32, 48), k), k, snr=100.0).shape
    torch.Size([1, 3, 32, 48])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from starter.imaging import blur, check_image, psf2otf
from starter.metrics import psnr
from starter.pretrained import PretrainedModels, predict
from starter.training import image_noise

METHODS = ("wiener", "unet", "wiener_unet")
"""The three Task 3 methods compared by :func:`evaluate_methods`."""

Method = Callable[[torch.Tensor], torch.Tensor]
Measure = Callable[[torch.Tensor, torch.Tensor, float, torch.Tensor], torch.Tensor]
"""``(x, kernel, σ, noise) -> y``: how measurements are made of clean images ``x`` from unit
white ``noise`` of their shape (the right one is ``blur(x, kernel) + σ·noise``)."""
"""A restoration method: measurements ``(N, 3, H, W)`` → estimates of the same shape."""


def wiener_deconv(y: torch.Tensor, kernel: torch.Tensor, snr: float = 100.0) -> torch.Tensor:
    """Wiener deconvolution of a circularly blurred image.

    With ``H`` the OTF of the kernel and a flat signal-to-noise ratio ``snr`` (a power
    ratio, not dB), the estimate is ``X = conj(H) Y / (|H|² + 1/snr)``.

    Args:
        y: blurred, noisy image(s) ``(..., H, W)``.
        kernel: real tensor ``(kh, kw)``, the blur that produced ``y``.
        snr: assumed signal-to-noise power ratio, > 0.

    Returns:
        real tensor of ``y``'s shape (not clipped).
    """
    check_image(y, "y")
    if not snr > 0:
        raise ValueError(f"snr must be > 0, got {snr}")
    kernel = kernel.to(device=y.device, dtype=y.dtype)
    otf = psf2otf(kernel, y.shape[-2:])
    filt = otf.conj() / (otf.abs() ** 2 + 1.0 / snr)
    return torch.fft.ifft2(torch.fft.fft2(y) * filt).real


def evaluate(
    methods: Mapping[str, Method],
    clean: torch.Tensor,
    kernel: torch.Tensor,
    sigmas: Sequence[float],
    *,
    seed: int = 0,
    batch_size: int = 4,
    progress: bool = False,
    measure: Measure | None = None,
) -> dict[str, dict[float, float]]:
    """Mean PSNR (dB) of each method at each noise level on ``clean``: ``{name: {σ: dB}}``,
    the mean over the images of :func:`psnr_per_image`."""
    each = psnr_per_image(
        methods, clean, kernel, sigmas, seed=seed, batch_size=batch_size, progress=progress,
        measure=measure,
    )
    return {m: {s: v.mean().item() for s, v in per_sigma.items()} for m, per_sigma in each.items()}


@torch.no_grad()
def psnr_per_image(
    methods: Mapping[str, Method],
    clean: torch.Tensor,
    kernel: torch.Tensor,
    sigmas: Sequence[float],
    *,
    seed: int = 0,
    batch_size: int = 4,
    progress: bool = False,
    measure: Measure | None = None,
) -> dict[str, dict[float, torch.Tensor]]:
    """PSNR (dB) of each method at each noise level for every image of ``clean`` (N, C, H, W):
    ``{name: {σ: tensor (N,)}}``.

    The measurement of image ``i`` at ``σ`` is ``blur(x_i, kernel) + σ n_i``, with ``n_i`` from
    :func:`starter.training.image_noise` ``(i, seed)``; PSNR against the clean image, without
    clipping (``measure``, when given, makes them instead: a simulation with a typical mistake).
    Images go through the methods ``batch_size`` at a time.
    """
    from starter.progress import progress_bar

    if clean.ndim != 4:
        raise ValueError(f"clean must be (N, C, H, W), got {tuple(clean.shape)}")
    clean = clean.float().cpu()
    scores: dict[str, dict[float, list[torch.Tensor]]] = {
        m: {float(s): [] for s in sigmas} for m in methods
    }
    n = clean.shape[0]
    with progress_bar(len(sigmas) * n, "evaluate", enabled=progress, unit="image") as bar:
        for start in range(0, n, batch_size):
            x = clean[start : start + batch_size]
            noise = torch.stack(
                [image_noise(x.shape[1:], i, seed) for i in range(start, start + len(x))]
            )
            blurred = blur(x, kernel)
            for sigma in sigmas:
                y = blurred + sigma * noise if measure is None else measure(x, kernel, sigma, noise)
                for name, method in methods.items():
                    out = method(y.clone()).float().cpu()
                    scores[name][float(sigma)].append(psnr(out, x, reduction="none"))
                bar.update(len(x))
    return {m: {s: torch.cat(v) for s, v in per_sigma.items()} for m, per_sigma in scores.items()}


def task3_methods(
    kernel: torch.Tensor, models: PretrainedModels, snr: float = 100.0
) -> dict[str, Method]:
    """The three Task 3 methods as the reference computes them:
    ``{"wiener", "unet", "wiener_unet"}``."""

    def wiener(y: torch.Tensor) -> torch.Tensor:
        return wiener_deconv(y, kernel, snr=snr)

    def unet(y: torch.Tensor) -> torch.Tensor:
        return predict(models.deblur_denoise, y)

    def wiener_unet(y: torch.Tensor) -> torch.Tensor:
        return predict(models.wiener_denoise, wiener_deconv(y, kernel, snr=snr))

    return {"wiener": wiener, "unet": unet, "wiener_unet": wiener_unet}


def evaluate_methods(
    clean: torch.Tensor,
    kernel: torch.Tensor,
    models: PretrainedModels,
    sigmas: Sequence[float] = (0.005, 0.01, 0.02),
    *,
    snr: float = 100.0,
    seed: int = 0,
    batch_size: int = 4,
    progress: bool = False,
    measure: Measure | None = None,
) -> dict[str, dict[float, float]]:
    """Mean PSNR (dB) of Wiener, U-Net and Wiener + U-Net on ``clean`` (see :func:`evaluate`).

    Args:
        clean: ``(N, 3, H, W)`` float images in [0, 1], H and W divisible by 16.
        kernel: ``(kh, kw)`` blur kernel.
        models: from :func:`starter.pretrained.load_models`; evaluated on their own device.
        sigmas: noise standard deviations.
        snr: Wiener's signal-to-noise ratio.
        measure: how the measurements are made (default: the right simulation).

    Returns:
        ``{"wiener" | "unet" | "wiener_unet": {σ: PSNR}}``.
    """
    return evaluate(task3_methods(kernel, models, snr), clean, kernel, sigmas,
                    seed=seed, batch_size=batch_size, progress=progress, measure=measure)
