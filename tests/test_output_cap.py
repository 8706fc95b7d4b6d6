"""The grader's cap on a cell's output bytes (nbgrader's own cap counts lines only)."""

from __future__ import annotations

import nbformat
import pytest

from dlci_grader.kernel.answers import MIME
from dlci_grader.nbgrader.output_cap import CapOutputBytes

pytestmark = pytest.mark.grader


def _cell(*outputs: dict) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("print('x')")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_text_is_cut_to_the_budget_per_cell_and_says_so():
    cap = CapOutputBytes(text_bytes=1000)
    cell = _cell(
        {"output_type": "stream", "name": "stdout", "text": "a" * 600},
        {"output_type": "stream", "name": "stdout", "text": "b" * 5_000_000},  # one long line
    )
    cap.preprocess_cell(cell, {}, 0)
    first, second = (o["text"] for o in cell.outputs)
    assert first == "a" * 600  # within the budget: untouched
    assert second.startswith("b" * 400) and "b" * 401 not in second
    assert "output cut by the grader: 4.8 MiB printed" in second


def test_large_images_are_dropped_and_answers_are_kept():
    cap = CapOutputBytes(text_bytes=1000, rich_bytes=2000)
    answer = {MIME: {"npz": "A" * 100_000}, "text/plain": "answers handed to the grader"}
    cell = _cell(
        {"output_type": "display_data", "data": {"image/png": "P" * 5000}, "metadata": {}},
        {"output_type": "display_data", "data": {"image/png": "p" * 100}, "metadata": {}},
        {"output_type": "display_data", "data": answer, "metadata": {}},
    )
    cap.preprocess_cell(cell, {}, 0)
    big, small, kept = (o["data"] for o in cell.outputs)
    assert "image/png" not in big and "dropped by the grader" in big["text/plain"]
    assert small["image/png"] == "p" * 100
    assert kept[MIME] == {"npz": "A" * 100_000}
