"""The roster of ``dlci grade --roster``: which course student each LMS id stands for.

An LMS names a submission by its own id of the student (Canvas's user id, Moodle's participant id,
Gradescope's SID or email); the course grades under its own student ids. The roster is a CSV with
two columns (others are ignored):

- ``lms_id``: an id the LMS names a student by: the Canvas user id (``123456`` in
  ``doejane_123456_7890123_task1.ipynb``), the Moodle participant id (``123456`` in
  ``Jane Doe_123456_assignsubmission_file_/``), the Gradescope SID or email; compared without
  regard to case and surrounding spaces;
- ``student``: the course's student id (letters, digits, ``_ . -``), the name the gradebook,
  ``grades.csv`` and the feedback use.

A student may have several rows (a Canvas id and a Gradescope email). An id that is on rows of two
different students is ambiguous: a submission under it is not graded (nor is one whose LMS ids
lead to two different students), so that nothing is graded under a wrong id.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LMS_ID_COLUMN = "lms_id"
"""The roster's column of LMS ids."""
STUDENT_COLUMN = "student"
"""The roster's column of course student ids."""

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def _key(lms_id: str) -> str:
    return lms_id.strip().casefold()


@dataclass(frozen=True)
class Match:
    """What the roster says about a submission's LMS ids.

    Attributes:
        student: the course student id, or None when the submission is not to be graded.
        lms_id: the id that matched (None when none did).
        problem: why there is no student (an unmatched or ambiguous id), else None.
    """

    student: str | None
    lms_id: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Roster:
    """LMS ids -> course student ids, read from a CSV (see the module docstring).

    Attributes:
        path: the CSV it was read from (warnings name it).
        students_of: LMS id (stripped, case-folded) -> every student id a row gives it.
    """

    path: Path
    students_of: dict[str, tuple[str, ...]]

    @classmethod
    def read(cls, path: str | Path) -> Roster:
        """The roster in the CSV at ``path``; a clear error for a missing file, a missing
        column, an empty roster or a student id the gradebook cannot hold."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no roster at {path.resolve()}")
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in (LMS_ID_COLUMN, STUDENT_COLUMN) if c not in columns]
            if missing:
                raise ValueError(
                    f"{path}: the roster has no {' or '.join(repr(c) for c in missing)} column "
                    f"(it needs the columns {LMS_ID_COLUMN},{STUDENT_COLUMN}; found: "
                    f"{', '.join(columns) or 'none'})"
                )
            rows = [
                {(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader
            ]
        students_of: dict[str, list[str]] = {}
        for line, row in enumerate(rows, start=2):
            lms_id, student = row.get(LMS_ID_COLUMN, ""), row.get(STUDENT_COLUMN, "")
            if not lms_id and not student:
                continue
            if not lms_id or not student:
                raise ValueError(
                    f"{path}: row {line} needs both an {LMS_ID_COLUMN} and a {STUDENT_COLUMN}, "
                    f"got {LMS_ID_COLUMN}={lms_id!r}, {STUDENT_COLUMN}={student!r}"
                )
            if not _SAFE_ID.match(student):
                raise ValueError(
                    f"{path}: row {line}: student id {student!r} may hold letters, digits, "
                    "'_', '.', '-' only (it names the student's folders and gradebook entry)"
                )
            known = students_of.setdefault(_key(lms_id), [])
            if student not in known:
                known.append(student)
        if not students_of:
            raise ValueError(f"{path}: the roster has no rows")
        return cls(path, {k: tuple(v) for k, v in students_of.items()})

    @property
    def students(self) -> set[str]:
        """Every course student id in the roster."""
        return {s for students in self.students_of.values() for s in students}

    def match(self, lms_ids: Sequence[str]) -> Match:
        """The student that the LMS ids of one submission (most specific first) stand for."""
        found: dict[str, str] = {}  # student -> the id that named them
        for lms_id in lms_ids:
            students = self.students_of.get(_key(lms_id), ())
            if len(students) > 1:
                return Match(None, lms_id, (
                    f"LMS id {lms_id!r} is in the roster for several students "
                    f"({', '.join(students)}): ambiguous"
                ))
            for student in students:
                found.setdefault(student, lms_id)
        if len(found) > 1:
            named = ", ".join(f"{i!r} -> {s}" for s, i in found.items())
            return Match(None, None, f"its LMS ids lead to different students ({named}): ambiguous")
        if not found:
            ids = " or ".join(repr(i) for i in lms_ids) or "no id"
            return Match(None, None, f"LMS id {ids} is not in the roster {self.path.name}")
        ((student, lms_id),) = found.items()
        return Match(student, lms_id)
