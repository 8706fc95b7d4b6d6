"""What the instructor's side costs on a class of 500: ``dlci regrade`` and ``dlci report``.

A small Task 1 class (the solution and three catalogued mistakes) is graded for real by
:func:`~dlci_grader.run.class_run.grade_class`; the grading's own time per notebook is the
reference (what running a notebook again costs). Its course is then grown to 500 students, each
a copy of one of the four (ledger marker, record of the judged tests with hard-linked answers,
gradebook entry, handed-in and autograded notebooks), and on that course:

- **regrade**: the hidden training test's threshold is tightened (185 to 100: every trained
  network now fails it), as an instructor correcting a test would, and
  :func:`~dlci_grader.run.regrade.regrade` judges it again from the kept answers and writes
  every change (gradebook, autograded notebook, record, ledger, log);
- **report**: :func:`~dlci_grader.insight.class_report.build`, the similarity listing and
  :func:`~dlci_grader.insight.class_report.write` (the page, CSVs, JSON, histogram).

    python -m bench regrade
    python -m bench.bench_regrade --students 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from dlci_grader.insight import class_report
from dlci_grader.nbgrader.course import Course
from dlci_grader.nbgrader.gradebook import write_result
from dlci_grader.run.class_run import grade_class
from dlci_grader.run.job import resolve_data_root
from dlci_grader.run.regrade import regrade
from dlci_grader.run.report import read_csv, rows, write_csv
from dlci_grader.samples.variants import submissions
from dlci_grader.tasks.contract import JudgedTest
from dlci_grader.tasks.task1 import checks

ROOT = Path(__file__).resolve().parents[1]
TASK, NOTEBOOK = "task1", "task1_backprop_inpainting"
STUDENTS = 500
GRADED = ("solution", "bias_unsummed", "relu_mask_wrong_sign", "transposed_grad_weight")
TEST = "test_training_hidden"


def _grow(course: Course, students: int) -> None:
    """Copy the graded students into ``students`` synthetic ones (``s0000``...)."""
    graded = course.ledger.results()
    for i in range(students):
        source = graded[i % len(graded)]
        name = f"s{i:04d}"
        result = dataclasses.replace(source, student=name)
        result.cells = [dataclasses.replace(c) for c in source.cells]
        for folder in ("submitted", "autograded"):
            shutil.copytree(course.root / folder / source.student, course.root / folder / name)
        answers = course.state / "answers"
        shutil.copytree(answers / source.student, answers / name, copy_function=os.link)
        write_result(course.db, result)
        course.ledger.mark(result)
    for source in graded:  # only the synthetic class is left
        for folder in (course.root / "submitted", course.root / "autograded",
                       course.state / "answers", course.state / "done"):
            shutil.rmtree(folder / source.student, ignore_errors=True)


def run(data_root: str | None = None, students: int = STUDENTS) -> list[dict]:
    """Two rows: regrade and report on the grown class, with the reference beside them."""
    root = resolve_data_root(data_root)
    every = submissions(TASK, ROOT / "solutions", ROOT / "notebooks")
    picked = {name if name == "solution" else f"{TASK}-{name}": every[name] for name in GRADED}
    with tempfile.TemporaryDirectory(prefix="bench-regrade-") as tmp:
        folder = Path(tmp) / "class"
        for student, notebook in picked.items():
            path = folder / student / f"{NOTEBOOK}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(notebook, str(path))
        start = time.perf_counter()
        graded = grade_class(folder, Path(tmp) / "course", ROOT / "solutions", [TASK],
                             data_root=root)
        per_notebook = (time.perf_counter() - start) / len(picked)
        assert all(r.ok for r in graded.graded), [r.reason for r in graded.graded]
        course = Course(Path(tmp) / "course")
        _grow(course, students)
        kept = sum(f.stat().st_size for f in (course.state / "answers").rglob("*") if f.is_file())

        original = checks.JUDGED[TEST]
        checks.JUDGED[TEST] = JudgedTest(
            original.make, checks._inpainting_judge(100.0), original.definitions_only,
        )
        try:
            start = time.perf_counter()
            done = regrade(course.root, [TEST], ROOT / "solutions", data_root=root)
            regrade_s = time.perf_counter() - start
        finally:
            checks.JUDGED[TEST] = original
        write_csv(course.root / "grades.csv", rows(course.results(), course.db))

        start = time.perf_counter()
        report = class_report.build(read_csv(course.root / "grades.csv"))
        similar = class_report.similar_answers(course, report)
        class_report.write(report, Path(tmp) / "report", "bench", similar=similar)
        report_s = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [
        {
            "step": f"regrade {TEST} (threshold 185 -> 100)",
            "notebooks": students,
            "changed": len(done.changes),
            "run again": done.rerun,
            "wall s": regrade_s,
            "ms per notebook": 1000 * regrade_s / students,
            "grading a notebook, s (reference)": per_notebook,
            "ratio to running each again": regrade_s / (per_notebook * students),
            "record per notebook MiB": kept / students / 2**20,
            "max RSS MiB": rss,
        },
        {
            "step": "report (with similarity)",
            "notebooks": students,
            "wall s": report_s,
            "ms per notebook": 1000 * report_s / students,
            "max RSS MiB": rss,
        },
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=STUDENTS)
    parser.add_argument("--root", default=None)
    args = parser.parse_args()
    from bench.figures import machine, publish

    started = machine()
    publish("bench_regrade", run(args.root, students=args.students), argv=sys.argv[1:],
            data_root=args.root, started=started)
