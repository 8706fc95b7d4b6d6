"""Every read and write of an nbgrader gradebook (``gradebook.db``), through nbgrader's own API.

- :func:`read_submission`: one student's graded cells (a worker reads its private gradebook; the
  hub's plain ``nbgrader autograde`` is read the same way);
- :func:`write_result`: a worker's result merged into the instructor's gradebook (only the
  parent of a grading run calls it, one result at a time);
- :func:`recorded_scores`: the scores the gradebook holds now, manual grades included (the CSV);
- :func:`write_lms_ids`: the LMS's id of each student (intake's), which the grades' export
  matches the LMS's roster on;
- :func:`assignment_names`: the assignments an (instructor's) gradebook holds.

Writes use the gradebook's own course id (an instructor's course may have its own), the kit's
:data:`~dlci_grader.nbgrader.config.COURSE_ID` only in a gradebook that has none.
"""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlci_grader.nbgrader.config import COURSE_ID

if TYPE_CHECKING:
    from dlci_grader.verdicts.results import NotebookResult


@dataclass(frozen=True)
class GradebookCell:
    """One graded cell of a submission as the gradebook holds it.

    Attributes:
        name: the cell's ``grade_id``.
        score: points given (the manual score if any, else the automatic one, else 0).
        max_score: the cell's points.
        manual_score: the score a person gave in formgrader, or None.
        needs_manual_grade: a person still has to grade it.
        comment: nbgrader's automatic comment, if any.
    """

    name: str
    score: float
    max_score: float
    manual_score: float | None
    needs_manual_grade: bool
    comment: str = ""


def _url(db: Path) -> str:
    return f"sqlite:///{Path(db).resolve()}"


def _course_id(db: Path) -> str:
    """The course id the gradebook's assignments belong to when they all belong to one (nbgrader
    itself adds a ``default_course`` row beside an instructor's own id), else the kit's."""
    try:
        with sqlite3.connect(f"file:{Path(db).resolve()}?mode=ro", uri=True) as con:
            rows = con.execute("SELECT DISTINCT course_id FROM assignment").fetchall()
    except sqlite3.Error:
        rows = []
    return str(rows[0][0]) if len(rows) == 1 and rows[0][0] else COURSE_ID


def assignment_names(db: Path) -> set[str]:
    """Names of the assignments in the gradebook (``nbgrader generate_assignment`` adds them)."""
    from nbgrader.api import Gradebook

    with Gradebook(_url(db), _course_id(db)) as gradebook:
        return {a.name for a in gradebook.assignments}


def read_submission(
    db: Path, assignment: str, notebook: str, student: str,
) -> dict[str, GradebookCell]:
    """Grade id -> :class:`GradebookCell` of ``student``'s ``notebook`` in ``assignment``."""
    from nbgrader.api import Gradebook

    with Gradebook(_url(db), _course_id(db)) as gradebook:
        return _cells(gradebook, assignment, notebook, student)


def _cells(
    gradebook: Any, assignment: str, notebook: str, student: str,
) -> dict[str, GradebookCell]:
    nb = gradebook.find_submission_notebook(notebook, assignment, student)
    comments = {c.name: c.auto_comment or "" for c in nb.comments}
    return {
        g.name: GradebookCell(
            g.name, float(g.score or 0.0), float(g.max_score),
            None if g.manual_score is None else float(g.manual_score),
            bool(g.needs_manual_grade), comments.get(g.name, ""),
        )
        for g in nb.grades
    }


def write_result(db: Path, result: NotebookResult) -> None:
    """Merge one notebook's result into the gradebook (one assignment per task notebook).

    A manual score a grader already gave in formgrader is kept (nbgrader does the same when it
    autogrades again); the cell is then flagged for review if its automatic score changed. A
    result with :attr:`~dlci_grader.verdicts.results.NotebookResult.flags` sets formgrader's flag on
    the submitted notebook (what was flagged, cell and line, is in ``grades.csv``; nbgrader's
    comments reach the student's feedback, so the flags stay out of them).
    """
    from nbgrader.api import Gradebook

    with Gradebook(_url(db), _course_id(db)) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
        gradebook.update_or_create_student(result.student)
        gradebook.update_or_create_submission(result.notebook, result.student)
        for cell in result.cells:
            grade = gradebook.find_grade(
                cell.cell, result.notebook, result.notebook, result.student,
            )
            auto = None if cell.needs_manual_grade and cell.manual else cell.points
            changed = grade.auto_score is not None and grade.auto_score != auto
            grade.auto_score = auto
            grade.needs_manual_grade = bool(
                cell.needs_manual_grade or (grade.manual_score is not None and changed)
            )
        notebook = gradebook.find_submission_notebook(
            result.notebook, result.notebook, result.student,
        )
        notebook.flagged = bool(result.flags)
        gradebook.db.commit()


def recorded_scores(
    db: Path, results: Iterable[NotebookResult]
) -> dict[tuple[str, str, str], GradebookCell]:
    """(student, notebook, grade id) -> what the gradebook holds for each result's cells."""
    from nbgrader.api import Gradebook, MissingEntry

    out: dict[tuple[str, str, str], GradebookCell] = {}
    with Gradebook(_url(db), _course_id(db)) as gradebook:
        for r in results:
            try:
                cells = _cells(gradebook, r.notebook, r.notebook, r.student)
            except MissingEntry:
                continue
            out.update({(r.student, r.notebook, name): cell for name, cell in cells.items()})
    return out


def write_lms_ids(db: Path, lms_ids: Mapping[str, str]) -> None:
    """Keep each student's LMS id (student id -> Canvas user id, Moodle participant id,
    Gradescope SID or email) as nbgrader's ``Student.lms_user_id``, creating the student if
    needed."""
    from nbgrader.api import Gradebook

    if not lms_ids:
        return
    with Gradebook(_url(db), _course_id(db)) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
        for student, lms_id in sorted(lms_ids.items()):
            gradebook.update_or_create_student(student, lms_user_id=lms_id)
        gradebook.db.commit()
