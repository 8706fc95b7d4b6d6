"""Grading speed: one full submission (every task's solution) graded by ``dlci grade``, with 1
and with 2 workers.

Each case grades the same submission(s) into a fresh course folder with the real nbgrader, in
grading mode (``DLCI_GRADING=1``); the course's one-off set-up (``generate_assignment``) is done
before the clock starts. Reported: wall seconds per submission, the wall and CPU seconds of each
notebook in its worker (nbgrader and kernel), and the speed-up of 2 workers over 1 (two
submissions, so both workers have work).

Usage::

    python -m bench.bench_grading [--root DATA] [--students 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from dlci_grader.isolation.limits import Limits
from dlci_grader.nbgrader.course import Course
from dlci_grader.run.class_run import grade_class
from dlci_grader.run.job import resolve_data_root
from dlci_grader.samples.sample_class import sample_class, write_class
from dlci_grader.tasks import load_tasks

ROOT = Path(__file__).resolve().parents[1]


def _class(out: Path, students: int) -> None:
    subs = [
        s for s in sample_class(ROOT / "solutions", ROOT / "notebooks") if s.student == "solution"
    ]
    tasks = load_tasks(ROOT / "solutions")
    write_class(out, subs, tasks)
    for i in range(1, students):
        shutil.copytree(out / "solution", out / f"solution{i + 1}")


def _grade(submissions: Path, course: Path, workers: int, data_root: Path) -> tuple[float, list]:
    Course(course).prepare(load_tasks(ROOT / "solutions"))  # set-up outside the clock
    cores = os.cpu_count() or 1
    start = time.perf_counter()
    run = grade_class(
        submissions,
        course,
        ROOT / "solutions",
        workers=workers,
        limits=Limits(threads=max(1, cores // workers)),
        data_root=data_root,
    )
    return time.perf_counter() - start, run.graded


def run(data_root: str | None = None, students: int = 2) -> list[dict]:
    """Rows: one per (workers, notebook) and one total per workers setting."""
    root = resolve_data_root(data_root)
    rows, wall = [], {}
    with tempfile.TemporaryDirectory(prefix="dlci-bench-grading-") as tmp:
        tmp = Path(tmp)
        _class(tmp / "class", students)
        for workers in (1, 2):
            seconds, graded = _grade(tmp / "class", tmp / f"course{workers}", workers, root)
            wall[workers] = seconds
            bad = [r.student for r in graded if not r.ok]
            for r in sorted(graded, key=lambda r: (r.student, r.task)):
                rows.append(
                    {
                        "workers": workers,
                        "student": r.student,
                        "notebook": r.task,
                        "wall s": r.seconds,
                        "cpu s": r.cpu_seconds,
                        "points": r.points,
                    }
                )
            rows.append(
                {
                    "workers": workers,
                    "student": f"{students} submissions",
                    "notebook": "all",
                    "wall s": seconds,
                    "s per submission": seconds / students,
                    "speed-up": wall[1] / seconds,
                    "problems": ", ".join(bad) or "none",
                }
            )
    return rows


def main() -> int:
    from bench.__main__ import markdown

    parser = argparse.ArgumentParser(prog="python -m bench.bench_grading", description=__doc__)
    parser.add_argument("--root", default=os.environ.get("DLCI_DATA"), help="data root")
    parser.add_argument("--students", type=int, default=2, help="copies of the full submission")
    args = parser.parse_args()
    print(markdown(run(args.root, args.students)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
