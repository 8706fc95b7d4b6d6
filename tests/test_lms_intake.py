"""Submissions in from the LMS: Canvas's flat download, Gradescope's export and Moodle's folders,
with and without a roster of LMS ids, read by intake without grading (fast); one ``dlci grade``
of a Canvas download end to end; the grades' export matching the LMS's own roster through the
LMS ids that intake kept, with no column made by hand."""

from __future__ import annotations

import csv
import io
import os
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import CELL_TIMEOUT, KIT, dlci, grade_folder, read_grades

pytest.importorskip("dlci_grader")
from dlci_grader.lms import export  # noqa: E402
from dlci_grader.nbgrader.course import Course  # noqa: E402
from dlci_grader.run.intake import Submission, collect, opened  # noqa: E402
from dlci_grader.run.lms_intake import canvas_file, moodle_participant  # noqa: E402
from dlci_grader.run.roster import Roster  # noqa: E402
from dlci_grader.tasks import load_tasks  # noqa: E402
from starter.nbgrader_cells import grade_id  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1]

NB = "task1_backprop_inpainting"
RELEASE = (KIT / "notebooks" / f"{NB}.ipynb").read_bytes()
TASKS = load_tasks(KIT / "solutions", ["task1"])


def _release_ids() -> dict[str, dict[str, str]]:
    notebook = nbformat.reads(RELEASE.decode(), 4)
    return {"task1": {grade_id(c): c.get("id", "") for c in notebook.cells if grade_id(c)}}


def _zip(path: Path, files: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def _roster(path: Path, rows: str) -> Roster:
    path.write_text("lms_id,student\n" + rows)
    return Roster.read(path)


def _collect(download: Path, roster: Roster | None = None) -> tuple[list[Submission], list[str]]:
    with opened(download) as folder:
        return collect(folder, TASKS, _release_ids(), roster)


def _graded(subs: list[Submission]) -> list[tuple[str, str, str | None]]:
    """(student, file handed in, LMS id) of each submission, all of them gradable."""
    assert all(s.problem is None for s in subs), [s.problem for s in subs]
    return [(s.student, s.path.name, s.lms_id) for s in subs]


CANVAS = {
    f"doejane_123456_7890123_{NB}.ipynb": RELEASE,
    f"doejane_123456_7890200_{NB}-1.ipynb": RELEASE,
    f"roebob_LATE_234567_7890300_{NB}.ipynb": RELEASE,
    "doejane_123456_7890123_scratch.ipynb": RELEASE,
    "doejane_123456_7890123_report.pdf": b"%PDF-1.4",
    "stray.ipynb": RELEASE,
}


def test_canvas_file_names():
    found = canvas_file(f"roebob_LATE_234567_7890300_{NB}-2.ipynb")
    assert found is not None
    assert (found.user_id, found.attempt, found.filename, found.resubmission) == (
        "234567", 7890300, f"{NB}-2.ipynb", 2,
    )
    first = canvas_file(f"doejane_123456_7890123_{NB}.ipynb")
    assert first is not None and (first.user_id, first.resubmission) == ("123456", 0)
    assert canvas_file(f"{NB}.ipynb") is None
    assert moodle_participant("Jane Doe_123456_assignsubmission_file_") == "123456"
    assert moodle_participant("bob") is None


def test_canvas_download_names_every_file_it_skips(tmp_path):
    """The Canvas user id is the student id without a roster; the latest resubmission counts and
    the older one is named as superseded; nothing at the top is skipped without a word."""
    subs, warnings = _collect(_zip(tmp_path / "canvas.zip", CANVAS))
    assert _graded(subs) == [
        ("123456", f"doejane_123456_7890200_{NB}-1.ipynb", "123456"),
        ("234567", f"roebob_LATE_234567_7890300_{NB}.ipynb", "234567"),
    ]
    text = "\n".join(warnings)
    assert (
        f"123456: doejane_123456_7890123_{NB}.ipynb is superseded by the later submission "
        f"doejane_123456_7890200_{NB}-1.ipynb for task1; skipped"
    ) in warnings
    assert "123456: doejane_123456_7890123_scratch.ipynb matches no task; skipped" in warnings
    assert "doejane_123456_7890123_report.pdf: a file at the top level that is no notebook" in text
    assert "stray.ipynb: a notebook at the top level that is neither in a folder" in text
    assert len(warnings) == 4, warnings


def test_canvas_latest_is_the_highest_suffix_then_the_attempt(tmp_path):
    (tmp_path / "dl").mkdir()
    for name in (f"a_1_900_{NB}-2.ipynb", f"a_1_950_{NB}-1.ipynb", f"b_2_10_{NB}.ipynb",
                 f"b_2_30_{NB}.ipynb", f"b_2_20_{NB}.ipynb"):
        (tmp_path / "dl" / name).write_bytes(RELEASE)
    subs, warnings = _collect(tmp_path / "dl")
    assert [s.path.name for s in subs] == [f"a_1_900_{NB}-2.ipynb", f"b_2_30_{NB}.ipynb"]
    assert sum("superseded" in w for w in warnings) == 3, warnings


def test_a_roster_maps_lms_ids_and_grades_nothing_under_a_wrong_id(tmp_path):
    roster = _roster(tmp_path / "roster.csv", "123456,jane\n 234567 ,bob\n234567,robert\n")
    subs, warnings = _collect(_zip(tmp_path / "canvas.zip", CANVAS), roster)
    assert _graded(subs) == [("jane", f"doejane_123456_7890200_{NB}-1.ipynb", "123456")]
    assert (
        f"roebob_LATE_234567_7890300_{NB}.ipynb: LMS id '234567' is in the roster for several "
        "students (bob, robert): ambiguous; not graded"
    ) in warnings
    only_jane = _roster(tmp_path / "jane.csv", "123456,jane\n")
    subs, warnings = _collect(_zip(tmp_path / "canvas.zip", CANVAS), only_jane)
    assert [s.student for s in subs] == ["jane"]
    assert (
        f"roebob_LATE_234567_7890300_{NB}.ipynb: LMS id '234567' is not in the roster jane.csv; "
        "not graded"
    ) in warnings


GRADESCOPE_METADATA = """\
submission_111:
  :submitters:
  - :name: Jane Doe
    :sid: '1001'
    :email: jane@uni.example
  :created_at: 2026-03-01 10:00:00.000000000 -08:00
  :score: !ruby/object:BigDecimal 18:0.1e2
  :history: []
submission_222:
  :submitters:
  - :name: Bob Roe
    :sid: ''
    :email: bob@uni.example
  - :name: Carl Poe
    :sid: '1003'
    :email: carl@uni.example
  :history: []
"""


def _gradescope(tmp_path: Path, metadata: str = GRADESCOPE_METADATA) -> Path:
    root = "assignment_77_export/"
    return _zip(tmp_path / "gradescope.zip", {
        root + "submission_metadata.yml": metadata,
        root + f"submission_111/{NB}.ipynb": RELEASE,
        root + f"submission_222/work/{NB} (1).ipynb": RELEASE,
        root + f"submission_333/{NB}.ipynb": RELEASE,
    })


def test_gradescope_export_without_and_with_a_roster(tmp_path):
    """SID, else the email's local part; a group submission counts for each submitter; a folder
    the metadata does not list is named."""
    subs, warnings = _collect(_gradescope(tmp_path))
    assert _graded(subs) == [
        ("1001", f"{NB}.ipynb", "1001"),
        ("1003", f"{NB} (1).ipynb", "1003"),
        ("bob", f"{NB} (1).ipynb", "bob@uni.example"),
    ]
    assert warnings == ["submission_333/: a folder that submission_metadata.yml does not list; "
                        "skipped"]
    roster = _roster(tmp_path / "roster.csv",
                     "1001,jane\nBOB@uni.example,bob\n1003,carl\ncarl@uni.example,carlos\n")
    subs, warnings = _collect(_gradescope(tmp_path), roster)
    assert [(s.student, s.lms_id) for s in subs] == [("bob", "bob@uni.example"), ("jane", "1001")]
    assert any(w.startswith(f"submission_222/work/{NB} (1).ipynb (Carl Poe): its LMS ids lead to "
                            "different students") and w.endswith("ambiguous; not graded")
               for w in warnings), warnings


def test_one_student_id_for_two_lms_students_is_not_graded(tmp_path):
    metadata = GRADESCOPE_METADATA.replace("'1001'", "''").replace("jane@uni", "bob@other")
    subs, warnings = _collect(_gradescope(tmp_path, metadata))
    assert [s.student for s in subs] == ["1003"]
    assert sum("student id 'bob' stands for several LMS students (ids bob@other.example, "
               "bob@uni.example): ambiguous, not graded" in w for w in warnings) == 2, warnings


def test_moodle_and_plain_folders_with_a_roster(tmp_path):
    download = _zip(tmp_path / "moodle.zip", {
        f"Jane Doe_123456_assignsubmission_file_/{NB}.ipynb": RELEASE,
        f"Zed Roe_999_assignsubmission_file_/{NB}.ipynb": RELEASE,
        f"bob/{NB}.ipynb": RELEASE,
        f"carol/{NB}.ipynb": RELEASE,
    })
    subs, warnings = _collect(download)  # as before: the folder name is the student id
    assert [(s.student, s.lms_id) for s in subs] == [
        ("Jane_Doe_123456", "123456"), ("Zed_Roe_999", "999"), ("bob", None), ("carol", None),
    ]
    assert warnings == []
    roster = _roster(tmp_path / "roster.csv", "123456,jane\nbob,bob\n")
    subs, warnings = _collect(download, roster)
    assert [(s.student, s.lms_id) for s in subs] == [("bob", None), ("jane", "123456")]
    assert warnings == [
        f"Zed Roe_999_assignsubmission_file_/{NB}.ipynb: LMS id '999' is not in the roster "
        "roster.csv; not graded",
        f"carol/{NB}.ipynb: folder name 'carol' is neither a student nor an LMS id in the roster "
        "roster.csv; not graded",
    ]


def test_roster_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no roster at"):
        Roster.read(tmp_path / "missing.csv")
    (tmp_path / "r.csv").write_text("id,name\n1,jane\n")
    with pytest.raises(ValueError, match="no 'lms_id' or 'student' column"):
        Roster.read(tmp_path / "r.csv")
    (tmp_path / "r.csv").write_text("lms_id,student\n1,Jane Doe\n")
    with pytest.raises(ValueError, match="row 2: student id 'Jane Doe' may hold letters"):
        Roster.read(tmp_path / "r.csv")
    (tmp_path / "r.csv").write_text("lms_id,student\n1,\n")
    with pytest.raises(ValueError, match="row 2 needs both"):
        Roster.read(tmp_path / "r.csv")


def _course_with_grades(root: Path, lms_ids: dict[str, str]) -> Path:
    """A course whose gradebook holds task1 points for the students of ``lms_ids`` (10 and 20)
    and the LMS ids intake keeps, written through the grader's own calls."""
    from nbgrader.api import Gradebook

    root.mkdir()
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        gradebook.add_assignment(NB)
        gradebook.add_notebook(NB, NB)
        gradebook.add_grade_cell("test_linear", NB, NB, max_score=30, cell_type="code")
        for points, student in zip((10, 20), lms_ids, strict=True):
            gradebook.add_student(student)
            gradebook.add_submission(NB, student)
            gradebook.find_grade("test_linear", NB, NB, student).auto_score = points
        gradebook.db.commit()
    Course(root).record_lms_ids(lms_ids)
    return root


@pytest.mark.filterwarnings("ignore:Object of type")  # nbgrader's own SQLAlchemy autoflush
def test_moodle_export_matches_the_grading_worksheet_by_participant_id(tmp_path, monkeypatch):
    """Moodle's grading worksheet, as downloaded (no column added): its Identifier is the
    participant id that intake kept from the folder name."""
    # a new gradebook runs nbgrader's `alembic` script from PATH: this Python's scripts first
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    course = _course_with_grades(tmp_path / "course", {"Jane_Doe_123456": "123456",
                                                      "jane": "234567"})
    (tmp_path / "worksheet.csv").write_text(
        "Identifier,Full name,Email address,Status,Grade,Maximum Grade\n"
        "Participant 234567,Jane Roe,jroe@uni.example,Submitted,,30\n"
        "Participant 123456,Jane Doe,jdoe@uni.example,Submitted,,30\n"
        "Participant 345678,Dave Poe,dave@uni.example,No submission,,30\n"
    )
    done = export("moodle", course, tmp_path / "worksheet.csv")
    assert list(csv.reader(io.StringIO(done.csv))) == [
        ["email", "task1"],
        ["jroe@uni.example", "20"],
        ["jdoe@uni.example", "10"],
        ["dave@uni.example", ""],
    ]
    assert done.unmatched_students == []
    assert done.ungraded_roster == ["dave@uni.example"]


@pytest.mark.slow
def test_dlci_grade_a_canvas_download_with_a_roster(tmp_path):
    """Two students in Canvas's flat zip (one resubmitted), a roster, one grading run: grades.csv
    holds the roster's ids, the output names every skipped file, and Canvas's own gradebook
    export is the export's roster as downloaded."""
    made = dlci("sample-class", str(tmp_path / "sample"), "--tasks", "task1")
    assert made.returncode == 0, made.stderr
    solution = (tmp_path / "sample" / "solution" / f"{NB}.ipynb").read_bytes()
    blank = (tmp_path / "sample" / "blank" / f"{NB}.ipynb").read_bytes()
    download = _zip(tmp_path / "submissions.zip", {
        f"doejane_123456_7890123_{NB}.ipynb": blank,
        f"doejane_123456_7890200_{NB}-1.ipynb": solution,
        f"roebob_LATE_234567_7890300_{NB}.ipynb": blank,
        f"poecarl_345678_7890400_{NB}.ipynb": solution,
        "doejane_123456_7890123_notes.txt": "my notes",
    })
    (tmp_path / "roster.csv").write_text("lms_id,student\n123456,jane\n234567,bob\n")
    run = grade_folder(download, tmp_path / "course", "--tasks", "task1", "--roster",
                       str(tmp_path / "roster.csv"), "--cell-timeout", str(CELL_TIMEOUT),
                       timeout=900)
    out = run.run.stdout + run.run.stderr
    assert run.run.returncode == 0, out
    rows = read_grades(tmp_path / "course")
    totals: dict[str, float] = {}
    for row in rows:
        totals[row["student"]] = totals.get(row["student"], 0.0) + float(row["points"] or 0)
    assert sorted(totals) == ["bob", "jane"]
    assert totals["jane"] > totals["bob"]  # jane's resubmission (the solution) was graded
    assert (
        f"warning: jane: doejane_123456_7890123_{NB}.ipynb is superseded by the later submission "
        f"doejane_123456_7890200_{NB}-1.ipynb for task1; skipped"
    ) in out
    assert (
        f"warning: poecarl_345678_7890400_{NB}.ipynb: LMS id '345678' is not in the roster "
        "roster.csv; not graded"
    ) in out
    assert (
        "warning: doejane_123456_7890123_notes.txt: a file at the top level that is no notebook"
    ) in out
    (tmp_path / "canvas.csv").write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        "    Points Possible,,,,\n"
        '"Doe, Jane",123456,J001,jane@uni.example,S1\n'
        '"Roe, Bob",234567,B002,bob@uni.example,S1\n'
    )
    done = export("canvas", tmp_path / "course", tmp_path / "canvas.csv", key="id")
    lines = list(csv.reader(io.StringIO(done.csv)))
    assert [line[1] for line in lines[2:]] == ["123456", "234567"]
    assert all(line[-1] for line in lines[2:]), lines  # both graded, matched by Canvas user id
    assert done.unmatched_students == []
