"""``dlci report``: the class report of a graded course (``dlci_grader.insight.class_report``).

The numbers are checked against a small table computed by hand and against the session's graded
Task 1 sample class (conftest): the students' totals are those of ``grades.csv``, the planted
endless loops are counted as timeouts and the file that is not JSON as rejected, and every planted
variant is counted once, under the id of the mistake it plants and no other. The page is opened
in a real browser (Chromium): it renders its figures, with no console error.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest
from conftest import GradedClass, dlci, read_grades
from test_similarity import FIXTURES, cells, fill
from test_similarity import release as released

pytest.importorskip("dlci_grader")
from dlci_grader.insight import class_report, similarity  # noqa: E402
from dlci_grader.nbgrader.course import Course  # noqa: E402
from dlci_grader.run.report import Row  # noqa: E402


def _rows() -> list[Row]:
    """Four students, two tests (a: 2 points, b: 1 point), one written answer."""
    points = {"ann": (2, 1), "bob": (2, 0), "cyd": (0, 0), "dee": (2, 1)}
    rows = []
    for student, (a, b) in points.items():
        rows.append(Row(student, "task1", "a", a, 2, "passed" if a == 2 else "failed", "", "auto"))
        reason = "timed out after 20 s (interrupted)" if student == "cyd" else ""
        rows.append(Row(student, "task1", "b", b, 1, "passed" if b else "failed", reason, "auto",
                        flags="cell 3, line 1: rebinds torch.allclose" if student == "bob" else ""))
        rows.append(Row(student, "task1", "w", 1, 3, "graded", "", "manual"))
    return rows


def test_numbers_of_a_small_class():
    report = class_report.build(_rows())
    (task,) = report.tasks
    assert task.totals == {"ann": 3, "bob": 2, "cyd": 0, "dee": 3}
    assert (task.students, task.max_points, task.mean, task.median) == (4, 3, 2, 2.5)
    assert task.sd == pytest.approx(np.std([3, 2, 0, 3], ddof=1))
    assert task.problems == {"flagged": ["bob"], "timed out": ["cyd"]}
    a, b = report.questions
    assert (a.question, a.pass_rate, a.mean_points) == ("a", 0.75, 1.5)
    assert (b.question, b.pass_rate, b.mean_points) == ("b", 0.5, 0.5)
    # discrimination: the item against the rest of the automatic points
    assert a.discrimination == pytest.approx(np.corrcoef([2, 2, 0, 2], [1, 0, 0, 1])[0, 1])
    assert b.discrimination == pytest.approx(np.corrcoef([1, 0, 0, 1], [2, 2, 0, 2])[0, 1])
    same = class_report.build([r for r in _rows() if r.student != "cyd"])
    assert same.questions[0].discrimination is None  # every student scored 2 on a


def test_a_mistake_seen_by_two_tests_counts_its_submission_once():
    rows = [
        Row("ann", "task1", "a", 0, 2, "failed", "x", mistakes="relu.wrong_side"),
        Row("ann", "task1", "b", 0, 1, "failed", "x", mistakes="relu.wrong_side"),
        Row("bob", "task1", "a", 0, 2, "failed", "x", mistakes="relu.wrong_side sgd.uphill"),
        Row("bob", "task1", "b", 1, 1, "passed", ""),
        Row("cyd", "task1", "a", 2, 2, "passed", ""),
    ]
    made = {m.mistake: m for m in class_report.build(rows).mistakes}
    assert list(made) == ["relu.wrong_side", "sgd.uphill"]  # most common first
    assert (made["relu.wrong_side"].students, made["relu.wrong_side"].tests) == (
        ["ann", "bob"], ["a", "b"]
    )
    assert made["sgd.uphill"].count == 1 and "uphill" in made["sgd.uphill"].says


def test_anonymous_report_names_no_student(tmp_path):
    written = class_report.write(class_report.build(_rows()), tmp_path, "t", anonymous=True)
    assert {p.name for p in written} == {
        "report.html", "report.csv", "mistakes.csv", "report.json", "task1-scores.png"
    }
    for path in (p for p in written if p.suffix != ".png"):
        text = path.read_text()
        assert not any(name in text for name in ("ann", "bob", "cyd", "dee")), path.name


@pytest.fixture(scope="module")
def report(task1_class: GradedClass, tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert task1_class.run.returncode == 0, task1_class.run.stdout + task1_class.run.stderr
    out = tmp_path_factory.mktemp("report")
    run = dlci("report", "--course", str(task1_class.course), "--out", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "task1:" in run.stdout and "report.html" in run.stdout
    return out


def test_report_of_the_sample_class_agrees_with_grades_csv(report, task1_class):
    data = json.loads((report / "report.json").read_text())
    (task,) = data["tasks"]
    totals: dict[str, float] = {}
    for row in read_grades(task1_class.course):
        if row["kind"] == "auto":
            totals[row["student"]] = totals.get(row["student"], 0.0) + float(row["points"])
    assert task["totals"] == totals
    assert task["mean"] == pytest.approx(sum(totals.values()) / len(totals))
    assert task["max_points"] == 23
    assert "broken-infinite-loop" in task["problems"]["timed out"]
    assert "broken-swallows-interrupt" in task["problems"]["kernel stopped"]
    assert task["problems"]["rejected"] == ["broken-invalid-json", "broken-wrong-assignment"]
    assert "broken-kernel-dies" in task["problems"]["kernel died"]
    rows = (report / "report.csv").read_text().splitlines()
    assert rows[0].startswith("task,question,max_points") and len(rows) == 1 + 12
    for q in data["questions"]:
        assert 0 <= q["pass_rate"] <= 1 and q["mean_points"] <= q["max_points"]
        assert q["discrimination"] is None or -1 <= q["discrimination"] <= 1
        assert not (q["discrimination"] is not None and math.isnan(q["discrimination"]))


def test_report_counts_every_planted_mistake_once_under_its_id(report, task1_class):
    """The sample class's variants each plant named mistakes (``Variant.mistakes``): the report
    counts each variant's submission under exactly those ids, and grades.csv says the same."""
    from dlci_grader.samples.variants import task_variants

    planted: dict[str, set[str]] = {}
    for name, variant in task_variants("task1").items():
        student = name if name in ("solution", "blank") else f"task1-{name}"
        for mistake in variant.mistakes:
            planted.setdefault(mistake.id, set()).add(student)
    assert len(planted) >= 4, planted
    data = json.loads((report / "report.json").read_text())
    counted = {m["mistake"]: set(m["students"]) for m in data["mistakes"]}
    variants = {f"task1-{n}" for n in task_variants("task1")} | {"solution", "blank"}
    assert {m: who & variants for m, who in counted.items() if who & variants} == planted
    assert all(m["count"] == len(m["students"]) for m in data["mistakes"])
    in_csv: dict[str, set[str]] = {}
    for row in read_grades(task1_class.course):
        for mistake in row["mistakes"].split():
            in_csv.setdefault(mistake, set()).add(row["student"])
    assert in_csv == counted
    page = (report / "report.html").read_text()
    assert all(f"<code>{m}</code>" in page for m in planted)


def test_report_lists_the_similar_answers_the_engine_lists(report, task1_class, tmp_path):
    """The sample class's variants are edits of one solution, so no pair is listed (see
    test_similarity); the report says so, as the engine does on the handed-in notebooks. A past
    term's copy of one student's answers, given with --past, is listed with that student."""
    course = Course(task1_class.course)
    notebook = "task1_backprop_inpainting"
    handed_in = {
        s: p for s in {r["student"] for r in read_grades(task1_class.course)}
        if (p := course.submitted_path(s, notebook)).is_file()
    }
    direct = similarity.compare(handed_in, course.task_template(notebook).release)
    listed = json.loads((report / "report.json").read_text())["similarity"]["task1"]
    assert (listed["students"], listed["listed"]) == (direct.students, len(direct.pairs))
    assert direct.students >= 10 and direct.pairs == ()
    assert "<h3>Similar answers</h3>" in (report / "report.html").read_text()

    # a small course with the same grades and handed-in notebooks, but "blank" handed in Ada's
    # answers (tests/similarity), which a past term's student handed in too
    (tmp_path / "course").mkdir()
    copy = Course(tmp_path / "course")
    shutil.copyfile(task1_class.course / "grades.csv", copy.root / "grades.csv")
    release = copy.task_template(notebook).release
    release.parent.mkdir(parents=True)
    shutil.copyfile(course.task_template(notebook).release, release)
    ada = nbformat.writes(fill(released("task1"), cells(FIXTURES / "task1" / "ada.py")))
    for student, path in handed_in.items():
        target = copy.submitted_path(student, notebook)
        target.parent.mkdir(parents=True)
        target.write_text(ada) if student == "blank" else shutil.copyfile(path, target)
    past = tmp_path / "past" / "2025"
    past.mkdir(parents=True)
    (past / f"{notebook}.ipynb").write_text(ada)
    out = tmp_path / "out"
    run = dlci("report", "--course", str(copy.root), "--out", str(out),
               "--past", str(tmp_path / "past"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "similar answers: 1 pairs listed" in run.stdout, run.stdout
    (pair,) = json.loads((out / "report.json").read_text())["similarity"]["task1"]["pairs"]
    assert (pair["student_a"], pair["student_b"], pair["past_term"]) == (
        "blank", f"{similarity.PAST}2025/{notebook}.ipynb", True
    )
    assert pair["share"] == pytest.approx(1.0)
    with open(out / "similarity.csv", newline="") as f:
        assert [(r["task"], r["student_a"]) for r in csv.DictReader(f)] == [("task1", "blank")]
    assert "(a past term)" in (out / "report.html").read_text()
    hidden = tmp_path / "hidden"
    run = dlci("report", "--course", str(copy.root), "--out", str(hidden), "--anonymous",
               "--past", str(tmp_path / "past"))
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (hidden / "similarity.csv").exists()
    for name in ("report.html", "report.json"):
        assert "blank" not in (hidden / name).read_text(), name


def test_report_page_renders_in_a_browser(report):
    from hub.prerequisites import ensure_chromium, ensure_playwright

    chromium = ensure_chromium()
    ensure_playwright()
    from playwright.sync_api import sync_playwright

    page_file = report / "report.html"
    text = page_file.read_text()
    assert "http://" not in text and "https://" not in text, "the page loads something online"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_file.as_uri())
            images = page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth)")
            headings = page.locator("h2").all_inner_texts()
        finally:
            browser.close()
    assert images and all(width and width > 100 for width in images), images
    assert headings == ["task1"] and problems == []
