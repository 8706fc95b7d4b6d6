"""``nbgrader_config.py``: the one writer of every course folder's nbgrader configuration.

Two kinds of course folder get one:

- the kit's course (``dlci grade``, formgrader, ``dlci feedback``): root, course id, the
  feedback preprocessors that hide hidden tests
  (:class:`~dlci_grader.nbgrader.feedback.HideHiddenTests`), so formgrader's own feedback
  button hides them too, and plain ``nbgrader autograde`` refused
  (:mod:`~dlci_grader.nbgrader.untrusted`); an instructor's own nbgrader course (one nbgrader
  made, :func:`kit_owns_config` False) is graded into but its configuration is never written:
  the hub's instructor configuration (``autograder/deploy/jupyter/instructor``) carries the
  same two settings;
- a worker's private course (one notebook, :mod:`dlci_grader.run.worker`): also the cell
  timeout, the (sandboxed) kernel, and the autograde preprocessors with
  :class:`~dlci_grader.nbgrader.execute.ResilientExecute` in place of nbgrader's ``Execute``
  and :class:`~dlci_grader.nbgrader.output_cap.CapOutputBytes` after its ``LimitOutput``, and
  nbgrader's own exporter back (the refusal is for the instructor's course, not the worker's).
"""

from __future__ import annotations

from pathlib import Path

from dlci_grader.isolation.limits import CELL_TIMEOUT

COURSE_ID = "dlci"
"""nbgrader's course id in every gradebook the kit writes."""

KIT_HEADER = "# Written by dlci_grader.nbgrader.config"
"""How every configuration the kit writes begins (:func:`kit_owns_config` looks for it)."""

REFUSE_IN_KERNEL = "dlci_grader.nbgrader.untrusted.InKernelAutogradeRefused"
"""``Autograde.exporter_class`` of a course the kit grades: plain ``nbgrader autograde`` stops
before it touches a file (:mod:`~dlci_grader.nbgrader.untrusted`)."""

FEEDBACK_PREPROCESSORS = [
    "dlci_grader.nbgrader.feedback.HideHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
"""``GenerateFeedback.preprocessors``: feedback without the hidden tests' code."""

_HEADER = KIT_HEADER + """ ({what}); rewritten on every run.
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
c.Execute.timeout = {cell_timeout}
"""
_COURSE = f"""
# Feedback hides the hidden tests (formgrader's feedback button too).
c.GenerateFeedback.preprocessors = {FEEDBACK_PREPROCESSORS!r}
# Plain `nbgrader autograde` (and formgrader's button) would run the tests inside the
# student's kernel: refused, `dlci grade` grades this course.
c.Autograde.exporter_class = {REFUSE_IN_KERNEL!r}
"""
_WORKER = """
# One notebook, graded by a worker: a dead kernel costs the cells from there on.
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades)
from dlci_grader.nbgrader.execute import ResilientExecute
from dlci_grader.nbgrader.output_cap import CapOutputBytes

c.Execute.interrupt_on_timeout = True
# The outputs are collected when the last cell is idle: the kernel is killed, not asked to exit
# (a graceful exit with PyTorch loaded takes about a second of every notebook).
c.Execute.shutdown_kernel = "immediate"
# Forked from nbgrader's process, PyTorch imported (dlci_grader.isolation.warm_kernel).
c.Execute.kernel_manager_class = "dlci_grader.isolation.warm_kernel.WarmKernelManager"
c.Autograde.exporter_class = "nbconvert.exporters.NotebookExporter"  # nbgrader's own
c.Execute.kernel_name = {kernel_name!r}
c.Autograde.autograde_preprocessors = [
    ResilientExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, CapOutputBytes,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]
"""


def kit_owns_config(root: Path) -> bool:
    """Whether the course folder's ``nbgrader_config.py`` is the kit's to write: the folder holds
    no nbgrader course yet, or its configuration is one the kit wrote. An instructor's own course
    (made with nbgrader, its configuration theirs or the hub's) is graded into, never rewritten."""
    config = Path(root) / "nbgrader_config.py"
    if config.is_file():
        return config.read_text(errors="replace").startswith(KIT_HEADER)
    return not (Path(root) / "gradebook.db").exists() and not (Path(root) / "source").exists()


def write_course_config(root: Path, cell_timeout: int = CELL_TIMEOUT) -> Path:
    """The kit's (or a throw-away) course: root, id, feedback without hidden tests, plain
    ``nbgrader autograde`` refused."""
    text = _HEADER.format(what="a course folder", root=str(root), course_id=COURSE_ID,
                          cell_timeout=int(cell_timeout))
    return _write(root, text + _COURSE)


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
