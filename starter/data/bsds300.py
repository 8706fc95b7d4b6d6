"""BSDS300: the Berkeley Segmentation Dataset images, as landscape float tensors or patches.

On disk (``dlci fetch`` puts it there)::

    <root>/BSDS300/images/train/<id>.jpg   200 images
    <root>/BSDS300/images/test/<id>.jpg    100 images
    <root>/BSDS300/iids_train.txt, iids_test.txt   the ids, one a line

The JPEGs are RGB, 481x321 or 321x481 (W x H). Portrait images are *transposed* (rows and
columns swapped, not rotated) so that every image is ``(3, 321, 481)``. Images are ordered
by numeric id, so the order is the same on every machine.

Example:
    >>> from starter.data import BSDS300, bsds300_patches
    >>> test = BSDS300(split="test")  # doctest: +SKIP
    >>> test[0].shape  # doctest: +SKIP
    torch.Size([3, 321, 481])
    >>> bsds300_patches(split="train").shape  # doctest: +SKIP
    torch.Size([30000, 3, 32, 32])
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from starter.data.embedded import IMAGE_SHAPE, EmbeddedDataWarning, embedded_bsds300
from starter.data.root import locate_data_root, missing_data_error
from starter.env_vars import grading_mode
from starter.grading_budget import denoising_subset

SPLITS = ("train", "test")
"""The BSDS300 splits."""

PathLike = str | os.PathLike[str]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _sort_key(image_id: str) -> tuple[int, int | str]:
    return (0, int(image_id)) if image_id.isdigit() else (1, image_id)


def _read_landscape_hwc(path: Path) -> np.ndarray:
    """uint8 ``(321, 481, 3)`` array of one BSDS300 JPEG; see :func:`read_landscape_image`."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
    except OSError as error:
        raise OSError(f"cannot read BSDS300 image {path}: {error}") from error
    if array.shape[:2] == IMAGE_SHAPE[::-1]:
        array = array.transpose(1, 0, 2)  # portrait -> landscape: swap rows and columns
    if array.shape[:2] != IMAGE_SHAPE:
        raise ValueError(
            f"BSDS300 image {path} is {array.shape[1]}x{array.shape[0]} (WxH); "
            f"expected {IMAGE_SHAPE[1]}x{IMAGE_SHAPE[0]} or {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]}"
        )
    return array


def read_landscape_image(path: PathLike) -> torch.Tensor:
    """Read one BSDS300 JPEG, transposed to landscape if it is portrait.

    Args:
        path: a 481x321 or 321x481 RGB image file.

    Returns:
        uint8 tensor ``(3, 321, 481)``, values 0-255.

    Raises:
        OSError: the file cannot be read or decoded (the message names it).
        ValueError: the image is not 321x481 in either orientation.
    """
    array = _read_landscape_hwc(Path(path))
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def image_ids(bsds_dir: Path, split: str) -> list[str]:
    """The ids of a split's images under ``<root>/BSDS300`` (its ``iids_<split>.txt``, else its
    files), in the kit's order; every listed image must be there."""
    folder = bsds_dir / "images" / split
    listing = bsds_dir / f"iids_{split}.txt"
    if listing.is_file():
        ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        missing = [i for i in ids if not (folder / f"{i}.jpg").is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} image(s) listed in {listing} are missing from {folder}, "
                f"e.g. {missing[0]}.jpg; re-run `dlci fetch` to restore them"
            )
    else:
        ids = [p.stem for p in folder.glob("*.jpg")]
    if not ids:
        raise FileNotFoundError(f"no BSDS300 images (*.jpg) in {folder}; run `dlci fetch`")
    return sorted(ids, key=_sort_key)


def load_bsds300(
    root: PathLike | None = None, split: str = "train", embedded_ok: bool = True
) -> tuple[torch.Tensor, list[str], str]:
    """Load every image of a split at once, as uint8.

    Args:
        root: data root (see :func:`starter.data.resolve_data_root`), or None.
        split: ``"train"`` or ``"test"``.
        embedded_ok: when the split's folder is absent, load the embedded stand-in
            (announced with :class:`EmbeddedDataWarning`) instead of raising.

    Returns:
        ``(images, ids, source)``: uint8 ``(N, 3, 321, 481)``, the image ids in order, and
        ``"real"`` or ``"embedded: <what>"``.

    Raises:
        FileNotFoundError: the split is absent and ``embedded_ok`` is False (the message says
            where we looked and how to fetch the data), or images listed in the ids file
            are missing.
    """
    _check_split(split)
    data_root = locate_data_root(root)
    bsds_dir = data_root.path / "BSDS300"
    folder = bsds_dir / "images" / split
    if not folder.is_dir():
        error = missing_data_error(f"BSDS300 {split} images", folder, data_root)
        if not embedded_ok:
            raise error
        images, names = embedded_bsds300(split)
        what = f"{len(names)} scikit-image photographs ({', '.join(names)})"
        warnings.warn(
            f"{error} Using the embedded stand-in instead: {what}; results will not match "
            f"the course's figures.",
            EmbeddedDataWarning,
            stacklevel=3,
        )
        return images, names, f"embedded: {what}"
    ids = image_ids(bsds_dir, split)
    pixels = np.empty((len(ids), 3, *IMAGE_SHAPE), dtype=np.uint8)  # numpy: fast row copies
    for i, image_id in enumerate(ids):
        pixels[i] = _read_landscape_hwc(folder / f"{image_id}.jpg").transpose(2, 0, 1)
    return torch.from_numpy(pixels), ids, "real"


def _check_patch_size(patch_size: int) -> None:
    if isinstance(patch_size, bool) or not isinstance(patch_size, int):
        raise TypeError(f"patch_size must be an int or None, got {type(patch_size).__name__}")
    if not 1 <= patch_size <= min(IMAGE_SHAPE):
        raise ValueError(f"patch_size must be between 1 and {min(IMAGE_SHAPE)}, got {patch_size}")


def extract_patches(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping square patches, dropping the right/bottom remainder.

    Args:
        images: ``(N, C, H, W)``, any dtype and device.
        patch_size: side ``p`` of the patches.

    Returns:
        ``(N * (H // p) * (W // p), C, p, p)``: image by image, each in row-major patch
        order (left to right, then top to bottom). A 321x481 image gives 10 x 15 = 150
        patches of 32x32.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    rows, cols = h // patch_size, w // patch_size
    if rows == 0 or cols == 0:
        raise ValueError(f"patch_size {patch_size} is larger than the images {h}x{w}")
    x = images[:, :, : rows * patch_size, : cols * patch_size]
    x = x.reshape(n, c, rows, patch_size, cols, patch_size).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(n * rows * cols, c, patch_size, patch_size)


class BSDS300(Dataset[torch.Tensor]):
    """BSDS300 images or patches, float32 in [0, 1].

    Args:
        root: data root (see :func:`starter.data.resolve_data_root`), or None.
        split: ``"train"`` (200 images) or ``"test"`` (100 images).
        patch_size: None for whole images ``(3, 321, 481)``; ``p`` for non-overlapping
            ``(3, p, p)`` patches (``(321 // p) * (481 // p)`` per image, 150 for p=32).
        embedded_ok: when the real data is absent, use the embedded stand-in (announced
            with :class:`EmbeddedDataWarning`) instead of raising ``FileNotFoundError``.

    Attributes:
        images: uint8 ``(N, 3, 321, 481)``, all images, loaded once.
        ids: image ids (file stems), in the order of ``images``.
        source: ``"real"`` or ``"embedded: <what>"``.
        split, patch_size: as given.

    Items are float32 tensors ``(3, 321, 481)`` or ``(3, p, p)``. For training, prefer
    :meth:`as_tensor`, which stacks every item into one tensor, optionally on a device.
    """

    def __init__(
        self,
        root: PathLike | None = None,
        split: str = "train",
        patch_size: int | None = None,
        embedded_ok: bool = True,
    ) -> None:
        _check_split(split)
        if patch_size is not None:
            _check_patch_size(patch_size)
        self.split = split
        self.patch_size = patch_size
        self.images, self.ids, self.source = load_bsds300(root, split, embedded_ok)
        h, w = IMAGE_SHAPE
        p = patch_size
        self._grid = (1, 1) if p is None else (h // p, w // p)

    @property
    def patches_per_image(self) -> int:
        """Items per image: 1 for whole images, ``(321 // p) * (481 // p)`` for patches."""
        return self._grid[0] * self._grid[1]

    def __len__(self) -> int:
        return len(self.images) * self.patches_per_image

    def __getitem__(self, index: int) -> torch.Tensor:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        image, k = divmod(index, self.patches_per_image)
        x = self.images[image]
        if self.patch_size is not None:
            p = self.patch_size
            r, c = divmod(k, self._grid[1])
            x = x[:, r * p : (r + 1) * p, c * p : (c + 1) * p]
        return x.float().div_(255.0)

    def as_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Every item stacked, float32 in [0, 1], on ``device`` (default CPU).

        Returns:
            ``(N, 3, 321, 481)`` images, or ``(N * patches_per_image, 3, p, p)`` patches in
            item order (``as_tensor()[i]`` equals ``dataset[i]``). The uint8 images are moved
            first and converted there, so a GPU copy costs a quarter of the transfer.
        """
        x = self.images.to(device)
        if self.patch_size is not None:
            x = extract_patches(x, self.patch_size)
        return x.float().div_(255.0)

    def __repr__(self) -> str:
        items = (
            "images" if self.patch_size is None else f"{self.patch_size}x{self.patch_size} patches"
        )
        return f"BSDS300(split={self.split!r}, {len(self)} {items}, source={self.source!r})"


def bsds300_patches(
    root: PathLike | None = None,
    split: str = "train",
    patch_size: int = 32,
    device: torch.device | str | None = None,
    embedded_ok: bool = True,
) -> torch.Tensor:
    """All non-overlapping patches of a split, stacked: the training set of Task 2.

    Returns:
        float32 ``(N, 3, p, p)`` in [0, 1] on ``device`` (30,000 patches for the 200 train
        images with p=32), in the order of :class:`BSDS300` items.
    """
    return BSDS300(root, split, patch_size, embedded_ok).as_tensor(device)


def bsds300_images(
    root: PathLike | None = None,
    split: str = "test",
    device: torch.device | str | None = None,
    embedded_ok: bool = True,
) -> torch.Tensor:
    """All images of a split, stacked: float32 ``(N, 3, 321, 481)`` in [0, 1] on ``device``."""
    return BSDS300(root, split, None, embedded_ok).as_tensor(device)


def denoising_test_images(
    root: PathLike | None = None,
    device: torch.device | str | None = None,
    embedded_ok: bool = True,
) -> torch.Tensor:
    """Task 2's test set: the test split, float32 ``(100, 3, 321, 481)`` in [0, 1] on ``device``.

    When the grader runs the notebook (``starter.env_vars.grading_mode``), a few crops of them
    instead (``starter.grading_budget.denoising_subset``), so that grading stays short.
    """
    images = bsds300_images(root, "test", device, embedded_ok)
    return denoising_subset(images) if grading_mode() else images
