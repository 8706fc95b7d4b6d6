"""Task 3's bonus experiment: run a Deep Image Prior on one noisy crop and show what it gives.

:func:`run_deep_image_prior` calls the student's ``deep_image_prior(noisy, clean, iterations)``
on a 96 × 96 crop of a test image, prints how long it took and its best PSNR, and draws the
PSNR against the iterations beside the clean, noisy and best images. The bonus is ungraded: it
is not run when the grader (or ``dlci check``) runs the notebook
(``starter.env_vars.grading_mode``), and a function still raising ``NotImplementedError`` is
reported as not attempted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from starter.env_vars import grading_mode
from starter.imaging import add_noise
from starter.metrics import psnr
from starter.plotting import show_images

DeepImagePrior = Callable[..., tuple[torch.Tensor, Sequence[tuple[int, float]]]]
"""``deep_image_prior(noisy, clean, iterations=...)``, returning
``(best (1, 3, h, w), [(iteration, PSNR)])``."""


def run_deep_image_prior(
    deep_image_prior: DeepImagePrior,
    images: torch.Tensor,
    index: int = 5,
    sigma: float = 0.1,
    iterations: int = 800,
    window: tuple[int, int, int] = (100, 200, 96),
) -> tuple[torch.Tensor, list[tuple[int, float]]] | None:
    """Denoise a crop of ``images[index]`` (``(N, 3, H, W)`` in [0, 1]) at noise std ``sigma``.

    Args:
        deep_image_prior: the student's function (see the module docstring).
        images: the test images; the last one is used when there are not ``index + 1``.
        index, sigma, iterations: which image, the noise, the iterations of the fit.
        window: ``(top, left, size)`` of the square crop.

    Returns:
        ``(best output, history)``, or None when not run (grading, or not attempted).
    """
    if grading_mode():
        print("Bonus (ungraded): not run by the grader or `dlci check`.")
        return None
    if index >= len(images):
        print(f"only {len(images)} test images here: "
              f"using image {len(images) - 1} instead of image {index}")
        index = len(images) - 1
    top, left, size = window
    crop = images[index : index + 1, :, top : top + size, left : left + size]
    noisy = add_noise(crop, sigma, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    try:
        best, history = deep_image_prior(noisy, crop, iterations=iterations)
    except NotImplementedError:
        print("Bonus not attempted (deep_image_prior raises NotImplementedError); it is ungraded.")
        return None
    steps, values = zip(*history, strict=True)
    noisy_psnr = psnr(noisy, crop).item()
    print(f"{time.perf_counter() - start:.0f} s; noisy input {noisy_psnr:.2f} dB, "
          f"best {max(values):.2f} dB at iteration {steps[int(np.argmax(values))]}, "
          f"last {values[-1]:.2f} dB")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, values)
    ax.axhline(noisy_psnr, color="gray", ls="--", label="noisy input")
    ax.set_xlabel("iteration")
    ax.set_ylabel("PSNR against the clean crop (dB)")
    ax.legend()
    ax.grid(alpha=0.3)
    show_images([crop[0], noisy[0], best[0]],
                titles=["clean", f"noisy, σ = {sigma}", "DIP, best iterate"])
    return best, list(zip(steps, values, strict=True))
