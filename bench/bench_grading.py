"""Grading speed: full submissions (every task's solution, as handed in) graded by ``dlci grade``'s
class run on 1 worker, on 2 workers and on a loopback Dask cluster, against the same three
notebooks run plainly (nbclient, grading mode, no grader) in the same run.

Each configuration is given all the cores: 1 worker with every core's torch threads, 2 workers
with half each, one ``dask worker`` on 127.0.0.1 with every core. Each grades ``--students``
copies of the full submission into a fresh course folder with the real nbgrader; the course's
one-off set-up (``generate_assignment``) is done before the clock starts, and the run's fork
servers start inside it (the first notebook of each grading thread pays them). Reported per
configuration: seconds per full submission and its ratio to the plain run, notebooks per minute,
and the per-notebook seconds in the worker; the target is a full submission in under 25 s.

Usage::

    python -m bench.bench_grading [--root DATA] [--students 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bench_dask import LoopbackCluster
from bench.plain import handed_in, run_plainly
from dlci_grader.isolation.limits import Limits
from dlci_grader.nbgrader.course import Course
from dlci_grader.run.class_run import grade_class
from dlci_grader.run.dask_executor import DaskExecutor
from dlci_grader.run.executor import Executor
from dlci_grader.run.job import resolve_data_root
from dlci_grader.samples.sample_class import sample_class, write_class
from dlci_grader.tasks import load_tasks
from starter.device import default_device, device_name

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("task1", "task2", "task3")
TARGET_S = 25.0
"""Seconds one full submission may take through ``dlci grade`` (issue 32)."""


def _class(out: Path, students: int) -> None:
    subs = [
        s for s in sample_class(ROOT / "solutions", ROOT / "notebooks") if s.student == "solution"
    ]
    write_class(out, subs, load_tasks(ROOT / "solutions"))
    for i in range(1, students):
        shutil.copytree(out / "solution", out / f"solution{i + 1}")


def _grade(
    submissions: Path, course: Path, workers: int, threads: int, data_root: Path,
    executor: Executor | None = None,
) -> tuple[float, list[Any]]:
    Course(course).prepare(load_tasks(ROOT / "solutions"))  # set-up outside the clock
    start = time.perf_counter()
    run = grade_class(
        submissions, course, ROOT / "solutions", workers=workers,
        limits=Limits(threads=threads), data_root=data_root, executor=executor,
    )
    return time.perf_counter() - start, run.graded


def _plain(root: Path, folder: Path, threads: int) -> dict[str, float]:
    """Task -> seconds of its handed-in solution run plainly."""
    seconds = {}
    for task in TASKS:
        work = folder / task
        work.mkdir(parents=True)
        seconds[task] = run_plainly(handed_in(task), root, work, threads)
    return seconds


def run(data_root: str | None = None, students: int = 2) -> list[dict[str, Any]]:
    """One row for the plain run, one per configuration."""
    root = resolve_data_root(data_root)
    cores = os.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dlci-bench-grading-") as tmp_name:
        tmp = Path(tmp_name)
        plain = _plain(root, tmp / "plain", cores)
        floor = sum(plain.values())
        rows.append({
            "configuration": f"plain nbclient, {cores} threads", "s per submission": floor,
            "ratio to plain": 1.0, "notebooks/min": len(TASKS) / floor * 60,
            **{f"{t} s": plain[t] for t in TASKS}, "problems": "",
        })
        _class(tmp / "class", students)
        for label, workers in (("1 worker", 1), ("2 workers", 2), ("Dask, 1 worker", 1)):
            folder = tmp / label.replace(" ", "_").replace(",", "")
            folder.mkdir()
            threads = max(1, cores // workers)
            if label.startswith("Dask"):
                with LoopbackCluster(folder, root) as cluster:
                    cluster.add_worker("w1")
                    seconds, graded = _grade(
                        tmp / "class", folder / "course", 1, threads, root,
                        DaskExecutor(cluster.address, wait_s=60),
                    )
            else:
                seconds, graded = _grade(tmp / "class", folder / "course", workers, threads, root)
            per = seconds / students
            rows.append({
                "configuration": f"{label}, {threads} thread{'s' if threads > 1 else ''} each",
                "s per submission": per, "ratio to plain": per / floor,
                "notebooks/min": len(graded) / seconds * 60,
                **{
                    f"{t} s": statistics.median(r.seconds for r in graded if r.task == t)
                    for t in TASKS
                },
                "problems": ", ".join(f"{r.student}/{r.task}" for r in graded if not r.ok)
                or "none",
            })
    device = device_name(default_device())  # what the notebooks' kernels compute on
    for row in rows[1:]:
        met = "met" if row["s per submission"] < TARGET_S else "not met"
        row["target"] = f"< {TARGET_S:g} s: {met}"
    for row in rows:
        row["device"] = device
    return rows


def main() -> int:
    from bench.figures import machine, publish

    parser = argparse.ArgumentParser(prog="python -m bench.bench_grading", description=__doc__)
    parser.add_argument("--root", default=os.environ.get("DLCI_DATA"), help="data root")
    parser.add_argument("--students", type=int, default=2, help="copies of the full submission")
    args = parser.parse_args()
    started = machine()
    publish("bench_grading", run(args.root, args.students), argv=sys.argv[1:],
            data_root=args.root, started=started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
