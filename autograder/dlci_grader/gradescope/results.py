"""A grading result as Gradescope's ``results.json``, written atomically, whatever happened.

Gradescope's autograder specification: ``/autograder/results/results.json`` holds a ``tests``
list (``name``, ``score``, ``max_score``, ``status``, ``output``, ``visibility``) and optionally the
submission's ``score``, ``output``, ``execution_time``, ``visibility`` and ``stdout_visibility``.
Here each autograded cell is one test named by its grade id; its output is the grader's verdict
and reason (the hint a failed check gives), never a test's source. Written answers (graded by
hand) are listed as tests worth 0 autograder points that say where they are graded; the
submission's ``score`` counts the autograded cells only.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat

from dlci_grader.files import atomic_write
from dlci_grader.verdicts.results import CellStatus, NotebookResult, NotebookStatus
from starter.nbgrader_cells import nbgrader_meta

_HIDDEN_REGION = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*", re.S | re.M,
)

ERROR_TEST = "autograder error"
"""The name of the test that says the autograder itself failed (score 0)."""


def hidden_cells(source: nbformat.NotebookNode) -> set[str]:
    """Grade ids of the source notebook's hidden tests: test cells whose code is all hidden (what
    is left outside their HIDDEN TESTS regions is at most a docstring and comments). A test cell
    with a visible part is a visible test: the student runs that part in the notebook."""
    hidden = set()
    for cell in source.cells:
        meta = nbgrader_meta(cell)
        if not meta.get("grade") or meta.get("solution") or "BEGIN HIDDEN TESTS" not in cell.get(
            "source", "",
        ):
            continue
        shown = _HIDDEN_REGION.sub("", cell.source)
        try:
            body = ast.parse(shown).body
        except SyntaxError:
            continue
        if all(
            isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
        ):
            hidden.add(meta["grade_id"])
    return hidden


def _output(status: CellStatus, reason: str) -> str:
    if status is CellStatus.PASSED:
        return "passed"
    return f"{status.value}: {reason}" if reason else status.value


def to_gradescope(
    result: NotebookResult,
    hidden: Iterable[str],
    visible: str = "visible",
    hidden_visibility: str = "after_published",
    execution_time: float | None = None,
) -> dict[str, Any]:
    """``results.json`` for one graded notebook.

    Args:
        result: the worker's result.
        hidden: grade ids of the hidden tests (their results get ``hidden_visibility``).
        visible: visibility of the visible tests' results.
        hidden_visibility: visibility of the hidden tests' results.
        execution_time: seconds the autograder ran (default: the worker's).
    """
    hidden = set(hidden)
    tests: list[dict[str, Any]] = []
    for number, cell in enumerate(result.cells, start=1):
        if cell.manual:
            tests.append({
                "name": f"{cell.cell} (written answer, {cell.max_points:g} points graded by hand)",
                "number": str(number), "score": 0.0, "max_score": 0.0,
                "output": (
                    "graded by hand: a manually graded question of this assignment on Gradescope"
                ),
                "visibility": visible, "tags": ["manual"],
            })
            continue
        entry: dict[str, Any] = {
            "name": cell.cell, "number": str(number), "score": float(cell.points),
            "max_score": float(cell.max_points),
            "status": (
                "passed"
                if cell.points >= cell.max_points > 0 or cell.status is CellStatus.PASSED
                else "failed"
            ),
            "output": _output(cell.status, cell.reason),
            "visibility": hidden_visibility if cell.cell in hidden else visible,
            "tags": ["hidden" if cell.cell in hidden else "visible"],
        }
        tests.append(entry)
    notes = [f"{result.status.value}" + (f": {result.reason}" if result.reason else "")]
    out: dict[str, Any] = {
        "score": float(sum(result.auto_points.values())),
        "execution_time": round(
            execution_time if execution_time is not None else result.seconds, 1,
        ),
        "output": "\n".join(notes),
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    extra: dict[str, Any] = {}  # for the instructor: stored, not shown
    flags = list(getattr(result, "flags", None) or [])
    if flags:
        extra["flags"] = flags
    mistakes = {c.cell: list(c.mistakes) for c in result.cells if c.mistakes}
    if mistakes:
        extra["mistakes"] = mistakes  # grade id -> ids of starter.mistakes, as grades.csv has
    if extra:
        out["extra_data"] = extra
    if result.status is NotebookStatus.ERROR:
        out["tests"].append(_error_test(result.reason))
    elif result.status is not NotebookStatus.GRADED:  # rejected, or stopped at the notebook limit
        out["tests"].append(
            _error_test(f"the notebook was {result.status.value}: {result.reason}", "notebook")
        )
    return out


def _error_test(reason: str, name: str = ERROR_TEST) -> dict[str, Any]:
    return {
        "name": name, "score": 0.0, "max_score": 0.0, "status": "failed",
        "output": reason, "visibility": "visible", "tags": ["error"],
    }


def error_results(
    reason: str, points: Mapping[str, tuple[float, bool]] | None = None,
) -> dict[str, Any]:
    """``results.json`` when the autograder failed: an ``autograder error`` test with the reason,
    and every autograded cell (when known) at 0 with the same reason."""
    tests = [
        {"name": name, "score": 0.0, "max_score": float(p), "status": "failed",
         "output": f"not graded: {reason}", "visibility": "visible"}
        for name, (p, manual) in (points or {}).items() if not manual
    ]
    tests.append(_error_test(reason))
    return {
        "score": 0.0, "output": f"autograder error: {reason}", "stdout_visibility": "hidden",
        "tests": tests
    }


def write_results(path: Path, results: Mapping[str, Any]) -> Path:
    """Write ``results.json`` atomically (Gradescope reads the whole file or the old one)."""
    atomic_write(Path(path), json.dumps(results, indent=1, allow_nan=False).encode())
    return Path(path)
