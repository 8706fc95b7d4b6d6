"""``nbgrader_config.py``: the one writer of every course folder's nbgrader configuration.

Two kinds of course folder get one:

- the instructor's course (``dlci grade``, formgrader, ``dlci feedback``): root, course id, and
  the feedback preprocessors that hide hidden tests
  (:class:`~dlci_grader.nbgrader.feedback.HideHiddenTests`),
  so formgrader's own feedback button hides them too;
- a worker's private course (one notebook, :mod:`dlci_grader.run.worker`): also the cell
  timeout, the (sandboxed) kernel, and the autograde preprocessors with
  :class:`~dlci_grader.nbgrader.execute.ResilientExecute` in place of nbgrader's ``Execute``
  and :class:`~dlci_grader.nbgrader.output_cap.CapOutputBytes` after its ``LimitOutput``.
"""

from __future__ import annotations

from pathlib import Path

from dlci_grader.isolation.limits import CELL_TIMEOUT

COURSE_ID = "dlci"
"""nbgrader's course id in every gradebook the kit writes."""

_HEADER = """\
# Written by dlci_grader.nbgrader.config ({what}); rewritten on every run.
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
c.Execute.timeout = {cell_timeout}
"""
_FEEDBACK = """
# Feedback hides the hidden tests (formgrader's feedback button too).
c.GenerateFeedback.preprocessors = [
    "dlci_grader.nbgrader.feedback.HideHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
"""
_WORKER = """
# One notebook, graded by a worker: a dead kernel costs the cells from there on.
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades)
from dlci_grader.nbgrader.execute import ResilientExecute
from dlci_grader.nbgrader.output_cap import CapOutputBytes

c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = {kernel_name!r}
c.Autograde.autograde_preprocessors = [
    ResilientExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, CapOutputBytes,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]
"""


def write_course_config(root: Path, cell_timeout: int = CELL_TIMEOUT) -> Path:
    """The instructor's (or a throw-away) course: root, id, feedback without hidden tests."""
    text = _HEADER.format(what="a course folder", root=str(root), course_id=COURSE_ID,
                          cell_timeout=int(cell_timeout))
    return _write(root, text + _FEEDBACK)


def write_worker_config(
    root: Path, cell_timeout: int, kernel_name: str, timings_file: Path | None = None,
) -> Path:
    """A worker's private course for one notebook: its timeout, kernel and preprocessors (and
    where :class:`~dlci_grader.nbgrader.execute.ResilientExecute` writes its slowest cell)."""
    text = _HEADER.format(what="one worker's private course", root=str(root), course_id=COURSE_ID,
                          cell_timeout=int(cell_timeout))
    text += _WORKER.format(kernel_name=kernel_name)
    if timings_file is not None:
        text += f"c.ResilientExecute.timings_file = {str(timings_file)!r}\n"
    return _write(root, text)


def _write(root: Path, text: str) -> Path:
    path = Path(root) / "nbgrader_config.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
