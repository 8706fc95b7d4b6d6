"""``dlci regrade``: a corrected check judged again on a graded class (``dlci_grader.run.regrade``).

On a copy of the session's graded Task 1 sample class (conftest), as an instructor would do it:

- judged again by unchanged code, every test of every notebook scores what it scored (the kept
  answers and the scoring a fresh grade uses agree), and the log says nothing changed;
- the hidden training test's threshold is changed in a copy of the grader's task code (on
  ``PYTHONPATH``, as an edited checkout would be): the diff names exactly the students who
  passed that test, and no other score of any student moves; one student's kept record is
  removed first, so that notebook runs again, and the diff says so;
- the log is appended to, never rewritten, and names the old and new digest of the code.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import KIT, GradedClass, dlci, read_grades

pytest.importorskip("dlci_grader")
from dlci_grader.run.regrade import LOG, read_log  # noqa: E402
from starter.nbgrader_cells import grade_id  # noqa: E402

pytestmark = pytest.mark.grader

NOTEBOOK = "task1_backprop_inpainting"
TEST = "test_training_hidden"
THRESHOLD = "INPAINTING_LOSS_THRESHOLD = 185.0"


def _points(course: Path) -> dict[tuple[str, str], float]:
    return {(r["student"], r["question"]): float(r["points"]) for r in read_grades(course)}


def _patched_grader(folder: Path) -> dict[str, str]:
    """A copy of the grader's package with the hidden training threshold at 100 (the solution
    reaches about 150): the environment that puts it first on the path."""
    package = KIT / "autograder" / "dlci_grader"
    shutil.copytree(package, folder / "dlci_grader", ignore=shutil.ignore_patterns("__pycache__"))
    checks = folder / "dlci_grader" / "tasks" / "task1" / "checks.py"
    text = checks.read_text()
    assert THRESHOLD in text, "the threshold this test edits moved"
    checks.write_text(text.replace(THRESHOLD, "INPAINTING_LOSS_THRESHOLD = 100.0"))
    return {**os.environ, "PYTHONPATH": str(folder)}


@pytest.fixture
def course(task1_class: GradedClass, tmp_path: Path) -> Path:
    """A copy of the graded sample class's course."""
    assert task1_class.run.returncode == 0, task1_class.run.stdout + task1_class.run.stderr
    copy = tmp_path / "course"
    shutil.copytree(task1_class.course, copy, symlinks=True)
    return copy


def test_unchanged_code_changes_no_score(course):
    tests = sorted({r["question"] for r in read_grades(course) if r["kind"] == "auto"})
    before = _points(course)
    run = dlci("regrade", *tests, "--course", str(course), "-q")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 scores changed" in run.stdout and "notebooks run again: 0" in run.stdout, run.stdout
    assert _points(course) == before
    (entry,) = read_log(course)
    assert entry["changed"] == [] and entry["judged_again"] > 100
    assert all(t["old_code"] == [t["new_code"]] for t in entry["tests"].values())
    unknown = dlci("regrade", "test_nonexistent", "--course", str(course), "-q")
    assert unknown.returncode == 2 and "no autograded test cell named test_nonexistent" in (
        unknown.stderr
    ) and TEST in unknown.stderr


def test_a_changed_threshold_moves_exactly_the_scores_it_should(course, tmp_path):
    before = _points(course)
    passed = sorted(s for (s, q), p in before.items() if q == TEST and p > 0)
    assert len(passed) >= 3, passed
    env = _patched_grader(tmp_path / "patched")
    dry = dlci("regrade", TEST, "--course", str(course), "--dry-run", "-q", env=env)
    assert dry.returncode == 0 and "dry run" in dry.stdout, dry.stdout + dry.stderr
    assert all(f"{student} {TEST}: 3 -> 0 (judged again)" in dry.stdout for student in passed)
    assert not (course / LOG).exists() and _points(course) == before
    # removed after the dry run, which would run that notebook again too (the suite's time)
    rerun = passed[0]  # graded before the grader kept records, say: it must run again
    shutil.rmtree(course / ".dlci" / "answers" / rerun)

    run = dlci("regrade", TEST, "--course", str(course), "-q", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    after = _points(course)
    moved = {key for key in before if before[key] != after[key]}
    assert moved == {(s, TEST) for s in passed}, run.stdout
    for student in passed:
        how = "run again" if student == rerun else "judged again"
        assert f"{student} {TEST}: 3 -> 0 ({how})" in run.stdout, run.stdout
    (entry,) = read_log(course)
    assert sorted(c["student"] for c in entry["changed"]) == passed
    assert entry["run_again"] == 1 and entry["failed"] == []
    code = entry["tests"][TEST]
    assert code["old_code"] and code["new_code"] not in code["old_code"]
    reasons = {r["student"]: r["reason"] for r in read_grades(course) if r["question"] == TEST}
    assert all("is not below 100.0" in reasons[s] for s in passed), reasons
    autograded = nbformat.read(
        course / "autograded" / passed[1] / NOTEBOOK / f"{NOTEBOOK}.ipynb", as_version=4,
    )
    (cell,) = [c for c in autograded.cells if grade_id(c) == TEST]
    shown = json.dumps(cell.outputs)  # what the feedback shows: the new verdict, only
    assert "is not below 100.0" in shown and "checked by the grader: passed" not in shown

    first = (course / LOG).read_text()
    again = dlci("regrade", TEST, "--course", str(course), "-q", env=env)
    assert again.returncode == 0 and "0 scores changed" in again.stdout, again.stdout
    assert (course / LOG).read_text().startswith(first)  # appended, never rewritten
    second = json.loads((course / LOG).read_text().splitlines()[-1])
    assert second["tests"][TEST]["old_code"] == [code["new_code"]]
