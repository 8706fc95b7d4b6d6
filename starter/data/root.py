"""Where the course data lives: one data root, found the same way everywhere.

The data root is a folder holding ``BSDS300/`` and ``MNIST/raw/`` (see ``data/README.md``).
It is found, first match wins:

1. the ``root`` argument, when given;
2. the ``DLCI_DATA`` environment variable, when set and non-empty;
3. ``data/`` in the kit, when the package runs from a source checkout or editable install
   (the folder beside ``starter/`` that holds ``pyproject.toml`` and ``data/``);
4. a per-user cache folder, ``pooch.os_cache("dlci")`` (e.g. ``~/.cache/dlci`` on Linux).

Nothing here touches the disk except to check that the kit folder exists; ``dlci fetch``
creates the folder it downloads into.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pooch

from starter.env_vars import DATA_ENV_VAR

_KIT_DIR = Path(__file__).resolve().parents[2]


class DataRoot(NamedTuple):
    """A resolved data root and how it was found."""

    path: Path
    origin: str
    """``"argument"``, ``"DLCI_DATA"``, ``"kit data/"`` or ``"user cache"``."""

    def describe(self) -> str:
        """One line for messages, e.g. ``/x/data (from DLCI_DATA)``."""
        return f"{self.path} (from {self.origin})"


def locate_data_root(root: str | os.PathLike[str] | None = None) -> DataRoot:
    """Resolve the data root as :func:`resolve_data_root` does, and say how it was found."""
    if root is not None:
        return DataRoot(Path(root).expanduser(), "argument")
    value = os.environ.get(DATA_ENV_VAR, "")
    if value.strip():
        return DataRoot(Path(value).expanduser(), DATA_ENV_VAR)
    kit_data = _KIT_DIR / "data"
    if kit_data.is_dir() and (_KIT_DIR / "pyproject.toml").is_file():
        return DataRoot(kit_data, "kit data/")
    return DataRoot(Path(pooch.os_cache("dlci")), "user cache")


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds (or will hold) ``BSDS300/`` and ``MNIST/``.

    Order, first match wins: the ``root`` argument; the ``DLCI_DATA`` environment
    variable; ``data/`` in the kit (source checkout or editable install); the user cache
    folder ``pooch.os_cache("dlci")``. The folder need not exist yet.

    Args:
        root: explicit data root, or None to look it up.

    Returns:
        the data root as a ``Path`` (``~`` expanded, not otherwise resolved).
    """
    return locate_data_root(root).path


def missing_data_error(what: str, looked_for: Path, data_root: DataRoot) -> FileNotFoundError:
    """A ``FileNotFoundError`` that says what is missing, where we looked and how to get it.

    Args:
        what: the dataset, e.g. ``"BSDS300 test images"``.
        looked_for: the file or folder that is not there.
        data_root: the data root it was looked for in, with its origin.
    """
    return FileNotFoundError(
        f"{what} not found: looked for {looked_for} in the data root {data_root.describe()}. "
        f"Download the data with `dlci fetch` (or starter.data.fetch()), or set "
        f"{DATA_ENV_VAR} to a folder that holds BSDS300/ and MNIST/raw/."
    )
