"""The `dlci` tool works as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.foundation


def dlci(
    *args: str, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg", **(env or {})},
        cwd=cwd,
        timeout=300,
    )


def test_info_says_where_the_data_is(tmp_path):
    res = dlci("info", "--root", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert f"data root: {tmp_path} (from argument)" in res.stdout
    assert "missing (embedded stand-in will be used)" in res.stdout


def test_demo_runs_on_the_embedded_default_and_says_so(tmp_path):
    empty = tmp_path / "no-data"
    out = tmp_path / "out"
    res = dlci("demo", "--root", str(empty), "--out", str(out), "--steps", "20")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "embedded stand-in" in res.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["data"].startswith("embedded")
    # Wiener beats doing nothing at every noise level on the stand-in too
    assert all(v > 20 for v in results["wiener"].values())
    for name in ("wiener_examples.png", "dncnn_training.png", "results.md"):
        assert (out / name).stat().st_size > 0


def test_unknown_dataset_for_fetch_is_a_clear_error(tmp_path):
    res = dlci("fetch", "--root", str(tmp_path), "--only", "imagenet")
    assert res.returncode == 2 and "invalid choice: 'imagenet'" in res.stderr
