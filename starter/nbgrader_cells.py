"""nbgrader's marks on a notebook cell, read one way by ``dlci check`` and by the grader.

nbgrader keeps them in ``cell.metadata["nbgrader"]``: ``grade_id`` (the cell's name),
``grade`` (scored), ``solution`` (an answer the student writes), ``points``. A **test** cell is
scored and not an answer; a written answer that is scored is graded by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def nbgrader_meta(cell: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's nbgrader metadata: the notebook's own dict (an edit to it edits the cell), or
    a new empty dict when the cell has none."""
    meta: dict[str, Any] = cell.get("metadata", {}).get("nbgrader", {})
    return meta


def grade_id(cell: Mapping[str, Any]) -> str | None:
    """The cell's nbgrader grade id, None (or empty) when it has none."""
    value: str | None = nbgrader_meta(cell).get("grade_id")
    return value


def is_test(cell: Mapping[str, Any]) -> bool:
    """A test cell: scored, and not an answer the student writes."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def is_answer(cell: Mapping[str, Any]) -> bool:
    """An answer cell: one the student writes (code or text)."""
    return bool(nbgrader_meta(cell).get("solution"))


def grade_ids(cells: Iterable[Mapping[str, Any]]) -> set[str]:
    """The grade ids the cells carry (a notebook's ``cells``)."""
    return {name for name in map(grade_id, cells) if name}
