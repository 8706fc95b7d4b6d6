"""Autograde notebooks with the real nbgrader and return their scores.

:func:`grade_submissions` sets up a temporary nbgrader course from one source notebook (with its
solutions and hidden tests), generates the assignment (which stores the hidden tests in the
gradebook), submits each notebook under its own student id, runs ``nbgrader autograde`` once
for all of them (hidden tests are put back into each notebook, which is then executed), and
reads every graded cell's score from the gradebook.

Example:
    >>> from dlci_grader.variants import submissions
    >>> grades = grade_submissions("solutions/task1_backprop_inpainting.ipynb",
    ...                            submissions("task1"))  # doctest: +SKIP
    >>> grades["solution"].auto_scores  # doctest: +SKIP
    {'test_linear': 2.0, 'test_linear_hidden': 3.0, ...}
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from nbformat import NotebookNode

from dlci_grader.nbgrader_course import NbgraderCourse, NotebookGrade

GRADING_ENV = {"DLCI_GRADING": "1"}
"""Environment the notebooks are graded in: the notebooks' grading mode."""

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def grade_submissions(
    source: str | os.PathLike[str],
    submissions: Mapping[str, str | os.PathLike[str] | NotebookNode],
    *,
    grading_mode: bool = True,
    timeout: int = 300,
    env: Mapping[str, str] | None = None,
    keep_dir: str | os.PathLike[str] | None = None,
) -> dict[str, NotebookGrade]:
    """Autograde each submission of one notebook with nbgrader.

    Args:
        source: the nbgrader source notebook (``solutions/<name>.ipynb``); the assignment and
            notebook are named after its stem.
        submissions: student id -> that student's notebook (path or NotebookNode).
        grading_mode: run the notebooks with ``DLCI_GRADING=1``.
        timeout: seconds each cell may run.
        env: more environment variables for nbgrader and its kernels.
        keep_dir: copy the whole course folder (autograded notebooks with outputs, gradebook)
            here, for a look at what happened.

    Returns:
        student id -> :class:`~dlci_grader.nbgrader_course.NotebookGrade`.
    """
    bad = [s for s in submissions if not _STUDENT_ID.match(s)]
    if bad:
        raise ValueError(f"student ids may hold letters, digits, '_', '.', '-' only: {bad}")
    if not submissions:
        raise ValueError("no submissions to grade")
    name = Path(source).stem
    full_env = dict(GRADING_ENV if grading_mode else {})
    full_env.update(env or {})
    with NbgraderCourse.temporary(timeout=timeout) as course:
        course.add_source(source, assignment=name, name=name)
        course.generate_assignment(name)
        for student, notebook in submissions.items():
            course.submit(name, student, notebook, name)
        try:
            course.autograde(name, env=full_env)
        finally:
            if keep_dir is not None:
                shutil.copytree(course.root, keep_dir, dirs_exist_ok=True)
        return {student: course.grades(name, student, name) for student in submissions}
