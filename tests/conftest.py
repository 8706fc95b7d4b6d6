"""Shared fixtures: where the real course data is, and what to do when it is absent.

The real data is found through the ``DLCI_DATA`` environment variable (``.ci/run`` points it
at ``../shared/data``). Without it, tests that need real data skip with the reason; with
``DLCI_REQUIRE_DATA=1`` (CI) they fail instead, so a CI run can never pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from starter.env_vars import DATA_ENV_VAR, REQUIRE_DATA_ENV_VAR


def _missing(reason: str) -> None:
    if os.environ.get(REQUIRE_DATA_ENV_VAR) == "1":
        pytest.fail(f"{reason} (DLCI_REQUIRE_DATA=1, so this is an error, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real course data folder (holds BSDS300/ and MNIST/), or skip/fail with the reason."""
    value = os.environ.get(DATA_ENV_VAR)
    if not value:
        _missing(
            f"real course data not configured: set {DATA_ENV_VAR} to the folder holding BSDS300/ and MNIST/"
        )
    root = Path(value)
    if not (root / "BSDS300" / "images" / "test").is_dir():
        _missing(f"{DATA_ENV_VAR}={root} has no BSDS300/images/test")
    return root


@pytest.fixture(scope="session")
def mnist_first10_csv(data_root: Path) -> Path:
    """The first ten MNIST training digits (label, 784 pixels per line)."""
    path = data_root / "mnist_train_first10.csv"
    if not path.is_file():
        _missing(f"{path} not found")
    return path
