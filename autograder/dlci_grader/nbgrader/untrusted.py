"""Plain ``nbgrader autograde`` refused in a course the kit grades.

nbgrader's own autograde (the command, and formgrader's "autograde" button) runs the tests
inside the student's kernel on fixed inputs: a submission can replace the harness, read the
inputs or forge its results there (the kit's attack suite does). In a course the kit grades,
``c.Autograde.exporter_class`` names :class:`InKernelAutogradeRefused`, which nbgrader builds
after listing the submissions and before it removes or writes any file: the run stops with
:data:`REFUSAL` in its log (formgrader shows it), and the trusted grades, autograded notebooks
and feedback stay as ``dlci grade`` left them. The kit's own workers run nbgrader with its
default exporter (:func:`~dlci_grader.nbgrader.config.write_worker_config`).
"""

from __future__ import annotations

from typing import Any

from nbconvert.exporters import NotebookExporter
from nbgrader.converters.base import NbGraderException

REFUSAL = (
    "This course is graded by the kit's trusted grader, not by plain `nbgrader autograde`, "
    "which runs the tests inside the student's kernel where a submission can cheat them. "
    "Run `dlci grade --course COURSE` in a terminal (it grades COURSE/submitted/ into this "
    "gradebook; the formgrader then shows the scores). Nothing was changed."
)


class InKernelAutogradeRefused(NotebookExporter):
    """nbgrader's exporter for ``autograde`` that refuses, before anything is written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        parent = kwargs.get("parent")
        if parent is not None and hasattr(parent, "log"):
            parent.log.error(REFUSAL)
        raise NbGraderException(REFUSAL)
