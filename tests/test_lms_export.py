"""``dlci export canvas|moodle``: a graded course and a roster give the LMS's import CSV, with
manual grades from formgrader counted and unmatched students reported, never dropped silently."""

from __future__ import annotations

import csv
import io

import pytest

pytest.importorskip("dlci_grader")
from test_grader_class import CELL_TIMEOUT, dlci  # noqa: E402

from dlci_grader.lms import export  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1]

NB = "task1_backprop_inpainting"
ROSTER = """Student,ID,SIS User ID,SIS Login ID,Section,Email address,student
"Doe, Alice",101,A001,alice@uni.example,S1,alice@uni.example,alice
"Roe, Bob",102,B002,bob@uni.example,S1,bob@uni.example,bob
"Poe, Dave",104,D004,dave@uni.example,S2,dave@uni.example,dave
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """alice hands in the solution (and gets 1.5 for a written answer in formgrader), bob the
    transposed-gradient variant, carol (not in the roster) the blank release."""
    from nbgrader.api import Gradebook

    tmp = tmp_path_factory.mktemp("lms")
    made = dlci("sample-class", str(tmp / "sample"), "--tasks", "task1")
    assert made.returncode == 0, made.stderr
    for student, source in (("alice", "solution"), ("bob", "task1-transposed_grad_weight"),
                            ("carol", "blank")):
        (tmp / "class" / student).mkdir(parents=True)
        (tmp / "class" / student / f"{NB}.ipynb").write_bytes(
            (tmp / "sample" / source / f"{NB}.ipynb").read_bytes()
        )
    run = dlci("grade", str(tmp / "class"), "--course", str(tmp / "course"), "--tasks", "task1",
               "--workers", "2", "--cell-timeout", str(CELL_TIMEOUT), "--quiet")
    assert run.returncode == 0, run.stdout + run.stderr
    with Gradebook(f"sqlite:///{tmp / 'course' / 'gradebook.db'}") as gb:
        gb.find_grade("efficiency_answer", NB, NB, "alice").manual_score = 1.5
        gb.db.commit()
    (tmp / "roster.csv").write_text(ROSTER)
    return tmp


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
    assert done.unmatched_students == ["carol"]
    assert done.ungraded_roster == ["D004"]
    assert ("bob", "task1") in done.pending_manual


@pytest.mark.slow
def test_moodle_import_csv_through_the_command_line(course):
    out = course / "moodle.csv"
    run = dlci("export", "moodle", "--course", str(course / "course"),
               "--roster", str(course / "roster.csv"),
               "--out", str(out), "--column", "task1=Task 1: backprop")
    assert run.returncode == 1, run.stdout + run.stderr  # a graded student is not in the roster
    assert "kit student with no roster entry (not exported): carol" in run.stderr
    assert "roster entry with no graded notebook (empty grades): dave@uni.example" in run.stderr
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows == [
        ["email", "Task 1: backprop"],
        ["alice@uni.example", "24.5"],
        ["bob@uni.example", "12"],
        ["dave@uni.example", ""],
    ]
    assert "carol" in out.with_suffix(".report.txt").read_text()


@pytest.mark.slow
def test_clear_errors(course, tmp_path):
    (tmp_path / "roster.csv").write_text("student,name\nalice,Alice\n")
    with pytest.raises(ValueError, match="no 'Email address' or 'email' column"):
        export("moodle", course / "course", tmp_path / "roster.csv")
    with pytest.raises(FileNotFoundError, match="no gradebook"):
        export("canvas", tmp_path, course / "roster.csv")
    with pytest.raises(ValueError, match="unknown LMS"):
        export("blackboard", course / "course", course / "roster.csv")
