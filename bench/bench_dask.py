"""Cluster grading throughput: the same Task 1 notebooks graded on this machine
(``LocalExecutor``, 1 worker) and on a real Dask scheduler with 1 and 2 ``dask worker``
processes on 127.0.0.1, in one run; and a projection for a class on N workers.

Each case grades ``--students`` copies of the Task 1 solution into a fresh course folder (its
one-off set-up, ``generate_assignment``, before the clock starts). Reported: notebooks per minute
and the ratio to the local run measured in the same run. The Dask cases include what the cluster
adds: connecting, checking the workers, building and shipping the template once. Every kernel
gets the cores of its worker (``cores // nthreads``): on one machine the 2-worker case shares
the cores the 1-worker cases have alone, so it measures the overhead, not a cluster's speed-up.

Usage::

    python -m bench.bench_dask [--root DATA] [--students 4] [--class-size 500] [--nodes 10 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dlci_grader.isolation.limits import Limits
from dlci_grader.nbgrader.course import Course
from dlci_grader.run.class_run import grade_class
from dlci_grader.run.dask_executor import DaskExecutor
from dlci_grader.run.executor import Executor, LocalExecutor
from dlci_grader.run.job import resolve_data_root
from dlci_grader.samples.sample_class import sample_class, write_class
from dlci_grader.tasks import load_tasks
from starter.env_vars import DATA_ENV_VAR

ROOT = Path(__file__).resolve().parents[1]
DASK = str(Path(sys.executable).parent / "dask")
NOTEBOOKS_PER_STUDENT = 3


def _class(out: Path, students: int) -> None:
    subs = [
        s for s in sample_class(
            ROOT / "solutions", ROOT / "notebooks", ["task1"],
        ) if s.student == "solution"
    ]
    write_class(out, subs, load_tasks(ROOT / "solutions", ["task1"]))
    for i in range(1, students):
        shutil.copytree(out / "solution", out / f"solution{i + 1}")


def _grade(
    submissions: Path, course: Path, executor: Executor, data_root: Path,
) -> tuple[float, int, list[str]]:
    Course(course).prepare(load_tasks(ROOT / "solutions", ["task1"]))  # set-up outside the clock
    start = time.perf_counter()
    run = grade_class(
        submissions, course, ROOT / "solutions", ["task1"], 1, Limits(threads=os.cpu_count() or 1),
        data_root=data_root, executor=executor,
    )
    return time.perf_counter() - start, len(run.graded), [r.student for r in run.graded if not r.ok]


class LoopbackCluster:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (a free port), each one
    logging to ``folder/<name>.log``, with ``data_root`` as the workers' course data; every
    process is stopped by its pid (SIGTERM, then SIGKILL). Also used by
    ``tests/test_dask_grading.py``."""

    def __init__(self, folder: Path, data_root: Path) -> None:
        self.folder = folder
        self.env = {**os.environ, DATA_ENV_VAR: str(data_root)}
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self._start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1",
                                  "--port", self.address.rsplit(":", 1)[1], "--no-dashboard"])

    def _start(
        self, name: str, command: list[str], cpus: set[int] | None = None
    ) -> subprocess.Popen[bytes]:
        pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
        with open(self.folder / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.folder, preexec_fn=pin)
        self.procs.append(proc)
        return proc

    def add_worker(self, name: str, nanny: bool = True, cpus: set[int] | None = None) -> None:
        """Start ``dask worker ... --nthreads 1 --resources notebook=1`` named ``name``, its
        private folder ``folder/name``, and wait until it registered. ``nanny=False``: no nanny,
        so that SIGKILL of its pid is the death of the worker. ``cpus``: the cores it may run on
        (a machine of that many cores: a notebook there gets one torch thread per core), so that
        two workers on one machine do not each take all of it."""
        self.workers[name] = self._start(name, [
            DASK, "worker", self.address, "--name", name, "--nthreads", "1",
            *([] if nanny else ["--no-nanny"]),
            "--resources", "notebook=1", "--local-directory", str(self.folder / name),
            "--no-dashboard",
        ], cpus)
        log = self.folder / f"{name}.log"
        deadline = time.monotonic() + 60
        while "Registered to" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.workers[name].poll() is not None:
                raise RuntimeError(
                    f"dask worker {name} did not register:\n{log.read_text(errors='replace')}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()

    def __enter__(self) -> LoopbackCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(data_root: str | None = None, students: int = 4, class_size: int = 500,
        nodes: tuple[int, ...] = (10, 50)) -> list[dict]:
    """Rows: one per executor (notebooks per minute, ratio to local) and one projection per N."""
    root = resolve_data_root(data_root)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="dlci-bench-dask-") as tmp_name:
        tmp = Path(tmp_name)
        _class(tmp / "class", students)
        cases: list[tuple[str, int]] = [("local", 1), ("dask", 1), ("dask", 2)]
        rate: dict[tuple[str, int], float] = {}
        for kind, workers in cases:
            folder = tmp / f"{kind}{workers}"
            folder.mkdir()
            if kind == "local":
                seconds, graded, bad = _grade(
                    tmp / "class", folder / "course", LocalExecutor(1, folder), root,
                )
            else:
                with LoopbackCluster(folder, root) as cluster:
                    for i in range(workers):
                        cluster.add_worker(f"w{i + 1}")
                    executor = DaskExecutor(cluster.address, wait_s=60)
                    seconds, graded, bad = _grade(tmp / "class", folder / "course", executor, root)
            rate[kind, workers] = graded / seconds * 60
            rows.append({
                "executor": f"{kind}, {workers} worker{'s' if workers > 1 else ''}",
                "notebooks": graded, "wall s": seconds, "notebooks/min": rate[kind, workers],
                "ratio to local": rate[kind, workers] / rate["local", 1],
                "problems": ", ".join(bad) or "none",
            })
        per_worker = rate["dask", 1]
        total = class_size * NOTEBOOKS_PER_STUDENT
        for n in nodes:
            rows.append({
                "executor": (
                    f"projection: {class_size} students x {NOTEBOOKS_PER_STUDENT} notebooks "
                    f"on {n} workers"
                ),
                "notebooks": total, "wall s": total / (per_worker * n) * 60,
                "notebooks/min": per_worker * n,
                "ratio to local": per_worker * n / rate["local", 1],
                "problems": "Task 1 speed per notebook; Tasks 2-3 take 1-2x longer",
            })
    return rows


def main() -> int:
    from bench.figures import machine, publish

    parser = argparse.ArgumentParser(prog="python -m bench.bench_dask", description=__doc__)
    parser.add_argument("--root", default=os.environ.get("DLCI_DATA"), help="data root")
    parser.add_argument("--students", type=int, default=4, help="copies of the Task 1 solution")
    parser.add_argument("--class-size", type=int, default=500, help="students in the projection")
    parser.add_argument(
        "--nodes", type=int, nargs="*", default=[10, 50], help="workers in the projection",
    )
    args = parser.parse_args()
    started = machine()
    publish("bench_dask", run(args.root, args.students, args.class_size, tuple(args.nodes)),
            argv=sys.argv[1:], data_root=args.root, started=started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
