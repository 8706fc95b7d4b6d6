"""``dlci feedback``: per-student HTML feedback from the gradebook, without the hidden tests.

Runs the real ``nbgrader generate_feedback`` on the course folder, one assignment at a time,
with :class:`HideHiddenTests` first in its preprocessors (set in the course's
``nbgrader_config.py``, so formgrader's own feedback button does the same): every hidden-test
region is replaced by one comment line and the tracebacks of hidden tests are cut to their last
line (the check's message, e.g. "dL/dW has shape (3, 4), expected (4, 3) ..."), so students see
each test's intent, result and points, and their total, but never the hidden code.
The HTML lands in ``COURSE/feedback/<student>/<notebook>/<notebook>.html`` (nbgrader's
layout, which its ``release_feedback``/``fetch_feedback`` use).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from dlci_grader.nbgrader.config import (
    FEEDBACK_PREPROCESSORS,
    kit_owns_config,
    write_course_config,
)
from dlci_grader.nbgrader.course import Course

_HIDDEN = re.compile(
    r"^[ \t]*### BEGIN HIDDEN TESTS[ \t]*\n.*?^[ \t]*### END HIDDEN TESTS[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
HIDDEN_PLACEHOLDER = "# (hidden tests: not shown; their result and points are below)"
class HideHiddenTests(Preprocessor):
    """Replace hidden-test code by a placeholder; keep only the last line of its errors."""

    enabled = Bool(True, help="on by default (nbconvert preprocessors are off unless enabled)")

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.cell_type == "code" and "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = _HIDDEN.sub(HIDDEN_PLACEHOLDER, cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [
                        f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                    ]
        return cell, resources


def generate_feedback(
    course: str | Path = "course", students: list[str] | None = None,
) -> list[Path]:
    """HTML feedback for every autograded notebook in ``course`` (or only ``students``')."""
    state = Course(course)
    if not state.db.is_file():
        raise FileNotFoundError(f"no gradebook in {state.root}; run `dlci grade` first")
    hide: list[str] = []  # hidden tests hidden, in a course made elsewhere too
    if kit_owns_config(state.root):
        write_course_config(state.root)
    else:  # the instructor's configuration is theirs: the setting goes on the command line
        hide = [f"--GenerateFeedback.preprocessors={FEEDBACK_PREPROCESSORS!r}"]
    assignments = sorted(p.name for p in (state.root / "source").iterdir() if p.is_dir())
    written = []
    for assignment in assignments:
        graded = sorted((state.root / "autograded").glob(f"*/{assignment}/{assignment}.ipynb"))
        who = [p.parts[-3] for p in graded if students is None or p.parts[-3] in students]
        if not who:
            continue
        if students is None:
            state.run("generate_feedback", assignment, "--force", *hide)
        else:
            for student in who:
                state.run("generate_feedback", assignment, f"--student={student}", "--force",
                          *hide)
        for student in who:
            html = state.feedback_path(student, assignment)
            if html.is_file():
                written.append(html)
    return written
