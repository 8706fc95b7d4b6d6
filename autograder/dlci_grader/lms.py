"""Grades out to the LMS: a Canvas or Moodle gradebook import CSV from the course's gradebook.

The record is the course's ``gradebook.db`` (nbgrader's, read through its ``Gradebook`` API): it
holds every autograded score and every manual score given later in formgrader, whereas
``grades.csv`` is a snapshot written by ``dlci grade``. One row per student, one column per task
(the notebook's total: autograded plus written answers graded so far), keyed on the LMS's
identity, found through a roster:

- the roster is a CSV with the LMS identity columns (Canvas's gradebook export: ``Student``,
  ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``; Moodle: ``Email address`` or ``email``,
  ``ID number``/``idnumber``), matched to the kit's students in this order:

  1. a ``student`` column with the kit's student id, when the roster has one;
  2. else the LMS id that ``dlci grade`` found in the LMS's download and kept in the gradebook
     (``Student.lms_user_id``): the Canvas user id is the roster's ``ID``; the Moodle
     participant id (``Jane Doe_123456_assignsubmission_file_``) is the ``Identifier``
     ``Participant 123456`` of Moodle's grading worksheet (Assignment -> View all submissions ->
     Download grading worksheet, which also holds ``Email address``), so that neither roster
     needs a column made by hand;
  3. else a kit id matches a roster row when it equals one of the row's values made safe the
     way intake does;
- kit students with no roster row, and roster rows with no graded notebook, are listed in the
  :class:`Export` (and printed by ``dlci export``), never dropped silently.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dlci_grader.run.intake import student_id
from dlci_grader.tasks import task_key

CANVAS_KEYS = {"sis_user_id": "SIS User ID", "login_id": "SIS Login ID", "id": "ID"}
"""Canvas identity -> the roster (and import) column holding it."""
MOODLE_KEYS = {"email": ("Email address", "email"), "idnumber": ("ID number", "idnumber")}
"""Moodle identity -> roster columns that may hold it (first found is used)."""
CANVAS_FIXED = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
"""The identity columns Canvas's gradebook import expects before the assignment columns."""
KIT_ID_COLUMNS = ("student", "kit_id", "dlci_id")
LMS_ID_COLUMNS = ("ID", "Identifier")
"""Roster columns holding the LMS id intake keeps: Canvas's user id, Moodle's worksheet
``Participant 123456``."""


@dataclass
class Export:
    """What an export wrote and what it could not match.

    Attributes:
        csv: the import file's text.
        rows: students written.
        unmatched_students: kit students with grades but no roster row (not in the CSV).
        ungraded_roster: roster rows (their LMS identity) with no graded notebook (in the CSV,
            with empty grades, which the LMS leaves unchanged).
        pending_manual: (kit student, task) whose written answers still await a grader.
    """

    csv: str
    rows: int
    unmatched_students: list[str] = field(default_factory=list)
    ungraded_roster: list[str] = field(default_factory=list)
    pending_manual: list[tuple[str, str]] = field(default_factory=list)

    def report(self) -> str:
        """The problems, one per line (empty when everything matched)."""
        lines = [
            f"kit student with no roster entry (not exported): {s}" for s in self.unmatched_students
        ]
        lines += [
            f"roster entry with no graded notebook (empty grades): {s}"
            for s in self.ungraded_roster
        ]
        lines += [f"written answers still to grade: {s} {t}" for s, t in self.pending_manual]
        return "\n".join(lines)


@dataclass(frozen=True)
class Totals:
    """(kit student, task) -> points, the tasks' maxima, what awaits a manual grade, and the
    students' LMS ids (kit student -> the id the LMS's download named them by)."""

    points: dict[tuple[str, str], float]
    max_points: dict[str, float]
    pending: list[tuple[str, str]]
    lms_ids: dict[str, str] = field(default_factory=dict)


def gradebook_totals(course: str | Path) -> Totals:
    """Per-student totals of every task from ``course/gradebook.db`` (read-only use of
    nbgrader's ``Gradebook``; manual scores count)."""
    from nbgrader.api import Gradebook, MissingEntry

    db = Path(course) / "gradebook.db"
    if not db.is_file():
        raise FileNotFoundError(
            f"{db}: no gradebook; grade the class first (`dlci grade ... --course {course}`)"
        )
    points: dict[tuple[str, str], float] = {}
    maxima: dict[str, float] = {}
    pending = []
    lms_ids: dict[str, str] = {}
    with Gradebook(f"sqlite:///{db.resolve()}") as gradebook:
        assignments = [a.name for a in gradebook.assignments]
        for assignment in assignments:
            maxima[task_key(assignment)] = float(gradebook.find_assignment(assignment).max_score)
        for student in gradebook.students:
            if student.lms_user_id:
                lms_ids[student.id] = str(student.lms_user_id)
            for assignment in assignments:
                try:
                    sub = gradebook.find_submission(assignment, student.id)
                except MissingEntry:
                    continue
                key = (student.id, task_key(assignment))
                points[key] = float(sub.score)
                if sub.needs_manual_grade:
                    pending.append(key)
    return Totals(points, maxima, sorted(pending), lms_ids)


def read_roster(path: str | Path) -> list[dict[str, str]]:
    """The roster's rows (a Canvas or Moodle export, plus a ``student`` column); Canvas's
    ``Points Possible`` line and blank rows are skipped."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [
            {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            for row in csv.DictReader(f)
        ]
    if not rows:
        raise ValueError(f"{path}: the roster has no rows")
    return [r for r in rows if any(r.values()) and "Points Possible" not in r.get("Student", "")]


def _kit_id(row: Mapping[str, str]) -> str:
    return next((row[c] for c in KIT_ID_COLUMNS if row.get(c)), "")


def _lms_id(column: str, value: str) -> str:
    """A roster cell as the LMS id intake keeps: Moodle's ``Participant 123456`` is ``123456``
    (whatever the language of the word before it)."""
    if column == "Identifier":
        number = re.search(r"(\d+)\s*$", value)
        return number[1] if number else value
    return value


def match(
    students: Sequence[str],
    roster: Sequence[Mapping[str, str]],
    lms_ids: Mapping[str, str] | None = None,
) -> tuple[dict[str, int], list[str]]:
    """(kit student -> roster row index, kit students with no row); ``lms_ids``: kit student
    -> the LMS id intake kept (see the module docstring for the order of the matches)."""
    by_id: dict[str, int] = {}
    for index, row in enumerate(roster):
        kit = _kit_id(row)
        if kit:
            by_id.setdefault(kit, index)
    by_lms: dict[str, int] = {}
    for index, row in enumerate(roster):
        for column in LMS_ID_COLUMNS:
            if row.get(column):
                by_lms.setdefault(_lms_id(column, row[column]).casefold(), index)
    loose: dict[str, int] = {}
    for index, row in enumerate(roster):
        for value in row.values():
            if value:
                loose.setdefault(student_id(value), index)
    found: dict[str, int] = {}
    unmatched: list[str] = []
    for student in students:
        lms_id = (lms_ids or {}).get(student, "").casefold()
        at: int | None
        if by_id:
            at = by_id.get(student)
        elif lms_id and lms_id in by_lms:
            at = by_lms[lms_id]
        else:
            at = loose.get(student)
        if at is None:
            unmatched.append(student)
        else:
            found[student] = at
    return found, unmatched


def _column(row: Mapping[str, str], names: Sequence[str], lms: str, roster: str | Path) -> str:
    for name in names:
        if name in row:
            return name
    raise ValueError(
        f"{roster}: the roster has no {' or '.join(repr(n) for n in names)} column, which "
        f"{lms} needs"
    )


def export(
    lms: str,
    course: str | Path,
    roster_path: str | Path,
    key: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> Export:
    """The LMS's gradebook import CSV for ``course``'s grades.

    Args:
        lms: ``canvas`` or ``moodle``.
        course: the nbgrader course folder (its ``gradebook.db``).
        roster_path: the roster CSV (see the module doc).
        key: the LMS identity to key on: Canvas ``sis_user_id`` (default), ``login_id`` or ``id``;
            Moodle ``email`` (default) or ``idnumber``.
        columns: task key -> the LMS column title (default: the task key; for Canvas, give
            ``Name (assignment id)`` to update an existing assignment).
    """
    totals = gradebook_totals(course)
    roster = read_roster(roster_path)
    tasks = sorted(totals.max_points)
    titles = [(columns or {}).get(t, t) for t in tasks]
    students = sorted({s for s, _ in totals.points})
    found, unmatched = match(students, roster, totals.lms_ids)
    graded_rows = set(found.values())
    by_row: dict[int, str] = {index: student for student, index in found.items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if lms == "canvas":
        key = key or "sis_user_id"
        if key not in CANVAS_KEYS:
            raise ValueError(f"Canvas key must be one of {sorted(CANVAS_KEYS)}, got {key!r}")
        _column(roster[0], [CANVAS_KEYS[key]], "Canvas", roster_path)
        writer.writerow([*CANVAS_FIXED, *titles])
        writer.writerow(
            ["    Points Possible", "", "", "", "", *(f"{totals.max_points[t]:g}" for t in tasks)]
        )
        identity = CANVAS_KEYS[key]
        fixed = list(CANVAS_FIXED)
    elif lms == "moodle":
        key = key or "email"
        if key not in MOODLE_KEYS:
            raise ValueError(f"Moodle key must be one of {sorted(MOODLE_KEYS)}, got {key!r}")
        identity = _column(roster[0], MOODLE_KEYS[key], "Moodle", roster_path)
        writer.writerow([key, *titles])
        fixed = [identity]
    else:
        raise ValueError(f"unknown LMS {lms!r}: canvas or moodle")
    ungraded = []
    for index, row in enumerate(roster):
        student = by_row.get(index)
        if not row.get(identity):
            raise ValueError(
                f"{roster_path}: roster row {index + 2} (kit id {student!r}) has no {identity!r}"
            )
        if index not in graded_rows:
            ungraded.append(row[identity])
        grades = [
            f"{totals.points[(student, t)]:g}" if student is not None and (
                student, t
            ) in totals.points else ""
            for t in tasks
        ]
        writer.writerow([*(row.get(c, "") for c in fixed), *grades])
    pending = [p for p in totals.pending if p[0] not in unmatched]
    return Export(buffer.getvalue(), len(roster), unmatched, ungraded, pending)
