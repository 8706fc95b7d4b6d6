"""How much less a notebook does when the grader (or ``dlci check``) runs it: one place for each
size.

Grading runs every notebook of a class in a fresh kernel, so it runs a short version of the
long parts. The kit's own functions shorten them, decided by :func:`starter.env_vars.grading_mode`
(``DLCI_GRADING=1``, set only in the kernel the grader or ``dlci check`` starts); a notebook
never does it itself, so a notebook run by its student does the whole experiment:

- :func:`starter.training.train` stops after :data:`TRAIN_STEPS` steps;
- :func:`starter.data.denoising_test_images` (Task 2) gives :func:`denoising_subset` of the
  test images, and ``BlurredBSDS300.table_images`` (Task 3) :func:`deblurring_subset`;
- progress bars, live figures and the Task 3 bonus stay off; ``precision="auto"`` is float32,
  so that a grade never depends on the grading machine's bf16 units.

The grader's checks read the same constants, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starter.env_vars import grading_mode

if TYPE_CHECKING:  # the grader reads the constants without importing torch
    import torch

__all__ = [
    "DEBLURRING_TEST_IMAGES",
    "DENOISING_TEST_CROP",
    "DENOISING_TEST_IMAGES",
    "TRAIN_STEPS",
    "deblurring_subset",
    "denoising_subset",
    "train_step_cap",
]

TRAIN_STEPS = 5
"""Optimizer steps of one ``train`` call when grading: the first 5 steps of the same schedule."""
DENOISING_TEST_IMAGES = slice(None, None, 25)
"""Which Task 2 test images are evaluated when grading: every 25th (4 of the 100)."""
DENOISING_TEST_CROP = 128
"""When grading, Task 2 evaluates the top-left ``128 × 128`` pixels of each of those images."""
DEBLURRING_TEST_IMAGES = slice(None, None, 17)
"""Which Task 3 test images the table averages over when grading: every 17th (6 of 100)."""


def denoising_subset(images: torch.Tensor) -> torch.Tensor:
    """Task 2's grading-time test set: every 25th image of ``(N, C, H, W)``, its top-left
    ``128 × 128`` crop, contiguous ``(ceil(N / 25), C, 128, 128)``."""
    crop = DENOISING_TEST_CROP
    return images[DENOISING_TEST_IMAGES, :, :crop, :crop].contiguous()


def deblurring_subset(images: torch.Tensor) -> torch.Tensor:
    """Task 3's grading-time table images: every 17th image of ``(N, C, H, W)``."""
    return images[DEBLURRING_TEST_IMAGES]


def train_step_cap(max_steps: int | None) -> int | None:
    """The step limit ``train`` applies: ``max_steps`` as given, at most :data:`TRAIN_STEPS`
    when grading (``None``: full epochs)."""
    if not grading_mode():
        return max_steps
    return TRAIN_STEPS if max_steps is None else min(max_steps, TRAIN_STEPS)
