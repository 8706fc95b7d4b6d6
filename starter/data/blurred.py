"""The Task 3 data: BSDS300 images blurred circularly by a known kernel (no noise).

Each landscape BSDS300 image ``(3, 321, 481)`` loses its last row and column, giving the
clean image ``(3, 320, 480)``; the blurred image is :func:`starter.imaging.blur` of it, a
circular convolution through the FFT. Noise is not added here: the notebooks add it with
:func:`starter.imaging.add_noise` at the level they study.

Example:
    >>> from starter.data import BlurredBSDS300
    >>> data = BlurredBSDS300()  # doctest: +SKIP
    >>> blurred, clean, kernel = data[0]  # doctest: +SKIP
    >>> blurred.shape, kernel.shape  # doctest: +SKIP
    (torch.Size([3, 320, 480]), torch.Size([7, 7]))
"""

from __future__ import annotations

import os

import torch
from torch.utils.data import Dataset

from starter.data.bsds300 import load_bsds300
from starter.env_vars import grading_mode
from starter.grading_budget import deblurring_subset
from starter.imaging import blur
from starter.kernels import task3_kernel

CLEAN_SHAPE = (320, 480)
"""(H, W) of the Task 3 images: the landscape BSDS300 image without its last row and column."""

PathLike = str | os.PathLike[str]


class BlurredBSDS300(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """BSDS300 images trimmed to 320x480 and blurred circularly by ``kernel``.

    Args:
        root: data root (see :func:`starter.data.resolve_data_root`), or None.
        split: ``"test"`` (100 images, the default) or ``"train"`` (200).
        kernel: real ``(kh, kw)`` blur kernel; default :func:`starter.kernels.task3_kernel`
            (7x7, sums to 1).
        embedded_ok: when the real data is absent, use the embedded stand-in (announced
            with ``EmbeddedDataWarning``) instead of raising ``FileNotFoundError``.

    Attributes:
        images: uint8 ``(N, 3, 321, 481)``, the untrimmed landscape images.
        ids, source, split: as in :class:`starter.data.BSDS300`.
        kernel: float32 ``(kh, kw)``, the blur.

    Items are ``(blurred, clean, kernel)``: float32 ``(3, 320, 480)``, float32
    ``(3, 320, 480)`` in [0, 1], and the kernel. The blurred image stays in [0, 1] when the
    kernel is non-negative and sums to 1.
    """

    def __init__(
        self,
        root: PathLike | None = None,
        split: str = "test",
        kernel: torch.Tensor | None = None,
        embedded_ok: bool = True,
    ) -> None:
        kernel = task3_kernel() if kernel is None else torch.as_tensor(kernel)
        if kernel.ndim != 2 or kernel.is_complex():
            raise ValueError(
                f"kernel must be a real (kh, kw) tensor, got shape {tuple(kernel.shape)}"
            )
        if kernel.shape[0] > CLEAN_SHAPE[0] or kernel.shape[1] > CLEAN_SHAPE[1]:
            raise ValueError(
                f"kernel {tuple(kernel.shape)} is larger than the images {CLEAN_SHAPE}"
            )
        self.kernel = kernel.detach().to(torch.float32).cpu()
        self.split = split
        self.images, self.ids, self.source = load_bsds300(root, split, embedded_ok)

    def __len__(self) -> int:
        return len(self.images)

    def _clean(self, images: torch.Tensor) -> torch.Tensor:
        h, w = CLEAN_SHAPE
        return images[..., :h, :w].float().div_(255.0)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        clean = self._clean(self.images[index])
        return blur(clean, self.kernel), clean, self.kernel

    def as_tensors(
        self, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All items stacked on ``device``: ``(blurred, clean)``, float32 ``(N, 3, 320, 480)``."""
        clean = self._clean(self.images.to(device))
        return blur(clean, self.kernel), clean

    def clean_images(self, device: torch.device | str | None = None) -> torch.Tensor:
        """All clean images stacked on ``device``, float32 ``(N, 3, 320, 480)`` in [0, 1] (the
        second half of :meth:`as_tensors`, without computing the blur)."""
        return self._clean(self.images.to(device))

    def table_images(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The clean images Task 3's table averages over: all of :meth:`clean_images`.

        When the grader runs the notebook (``starter.env_vars.grading_mode``), a few of them
        (``starter.grading_budget.deblurring_subset``), so that grading stays short.
        """
        clean = self.clean_images(device)
        return deblurring_subset(clean) if grading_mode() else clean

    def __repr__(self) -> str:
        return (
            f"BlurredBSDS300(split={self.split!r}, {len(self)} images, "
            f"kernel {tuple(self.kernel.shape)}, source={self.source!r})"
        )
