"""``dlci export canvas|moodle``: a graded course and a roster give the LMS's import CSV, with
manual grades from formgrader counted and unmatched students reported, never dropped silently.

The course is a copy of the session's graded Task 1 sample class (``task1_class``): the roster
names two of its students (the solution as Alice, the transposed-gradient variant as Bob) and
one who handed nothing in (Dave); every other graded student has no roster entry."""

from __future__ import annotations

import csv
import io

import pytest

pytest.importorskip("dlci_grader")
from conftest import course_copy  # noqa: E402
from test_grader_class import dlci  # noqa: E402

from dlci_grader.lms import export  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1]

NB = "task1_backprop_inpainting"
ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,Email address,student
"Doe, Alice",101,A001,alice@uni.example,S1,alice@uni.example,solution
"Roe, Bob",102,B002,bob@uni.example,S1,bob@uni.example,task1-transposed_grad_weight
"Poe, Dave",104,D004,dave@uni.example,S2,dave@uni.example,dave
"""
IN_ROSTER = {"solution", "task1-transposed_grad_weight"}


@pytest.fixture(scope="module")
def course(tmp_path_factory, task1_class):
    """The graded Task 1 sample class, with 1.5 points for the solution's written answer given
    in formgrader, and the roster."""
    from nbgrader.api import Gradebook

    assert task1_class.run.returncode == 0, task1_class.run.stdout + task1_class.run.stderr
    tmp = tmp_path_factory.mktemp("lms")
    course_copy(task1_class.course, tmp)
    with Gradebook(f"sqlite:///{tmp / 'course' / 'gradebook.db'}") as gb:
        gb.find_grade("efficiency_answer", NB, NB, "solution").manual_score = 1.5
        gb.db.commit()
    (tmp / "roster.csv").write_text(ROSTER)
    return tmp


def _not_in_roster(course) -> list[str]:
    """The graded students (in the gradebook) the roster does not name."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'course' / 'gradebook.db'}") as gb:
        graded = {s.id for s in gb.students}
    assert IN_ROSTER < graded
    return sorted(graded - IN_ROSTER)


@pytest.mark.slow
def test_canvas_import_csv(course):
    done = export("canvas", course / "course", course / "roster.csv")
    assert done.csv == (
        "Student,ID,SIS User ID,SIS Login ID,Section,task1\r\n"
        "    Points Possible,,,,,30\r\n"
        '"Doe, Alice",101,A001,alice@uni.example,S1,24.5\r\n'
        '"Roe, Bob",102,B002,bob@uni.example,S1,12\r\n'
        '"Poe, Dave",104,D004,dave@uni.example,S2,\r\n'
    )
    assert done.unmatched_students == _not_in_roster(course)
    assert "blank" in done.unmatched_students
    assert done.ungraded_roster == ["D004"]
    assert ("task1-transposed_grad_weight", "task1") in done.pending_manual


@pytest.mark.slow
def test_moodle_import_csv_through_the_command_line(course):
    out = course / "moodle.csv"
    run = dlci("export", "moodle", "--course", str(course / "course"),
               "--roster", str(course / "roster.csv"),
               "--out", str(out), "--column", "task1=Task 1: backprop")
    assert run.returncode == 1, run.stdout + run.stderr  # a graded student is not in the roster
    for student in _not_in_roster(course):
        assert f"kit student with no roster entry (not exported): {student}\n" in run.stderr
    assert "roster entry with no graded notebook (empty grades): dave@uni.example" in run.stderr
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows == [
        ["email", "Task 1: backprop"],
        ["alice@uni.example", "24.5"],
        ["bob@uni.example", "12"],
        ["dave@uni.example", ""],
    ]
    assert "blank" in out.with_suffix(".report.txt").read_text()


@pytest.mark.slow
def test_clear_errors(course, tmp_path):
    (tmp_path / "roster.csv").write_text("student,name\nalice,Alice\n")
    with pytest.raises(ValueError, match="no 'Email address' or 'email' column"):
        export("moodle", course / "course", tmp_path / "roster.csv")
    with pytest.raises(FileNotFoundError, match="no gradebook"):
        export("canvas", tmp_path, course / "roster.csv")
    with pytest.raises(ValueError, match="unknown LMS"):
        export("blackboard", course / "course", course / "roster.csv")
