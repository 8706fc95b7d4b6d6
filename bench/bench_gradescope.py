"""Gradescope runner against ``dlci grade``: seconds per submission, and peak memory against
Gradescope's default container.

For each task (default: all three), the solution is graded ``--repeats`` times by ``dlci grade``'s
path (:func:`~dlci_grader.run.class_run.grade_class`, one worker, a fresh course each time,
set-up outside the clock) and as many times by the task's built autograder zip run as Gradescope
runs it (:func:`~dlci_grader.gradescope.local.run_local`: Gradescope's folder layout, the zip's
own ``run_autograder``, this Python). Reported: median wall seconds of each, their ratio
(Gradescope runner / ``dlci grade``, measured in the same run), and the peak memory of the
runner's whole process tree (sampled; proportional set size, so the pages the fork servers
share with their children count once, as a container's limit counts them; the summed RSS
beside it counts them in every process) against Gradescope's default 768 MB and the 3 GB tier.

Usage::

    python -m bench.bench_gradescope [--root DATA] [--tasks task1 ...] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from dlci_grader.gradescope.build import build_zips
from dlci_grader.gradescope.local import run_local
from dlci_grader.gradescope.settings import GRADESCOPE_MEMORY_BYTES, Settings
from dlci_grader.isolation.limits import Limits
from dlci_grader.nbgrader.course import Course
from dlci_grader.run.class_run import grade_class
from dlci_grader.run.job import resolve_data_root
from dlci_grader.samples.sample_class import sample_class, write_class
from dlci_grader.tasks import load_tasks

ROOT = Path(__file__).resolve().parents[1]


class _PeakTree:
    """Peak memory of this process's descendants, sampled every ``interval`` seconds: the summed
    proportional set size (each shared page split among the processes that map it, so forked
    servers and their children are not counted twice: what a container's memory limit sees) and
    the summed RSS (shared pages counted once per process: an upper bound)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval, self.peak, self.peak_rss = interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.interval):
            pss = rss = 0
            for proc in me.children(recursive=True):
                try:
                    full = proc.memory_full_info()
                except psutil.Error:
                    continue
                pss += getattr(full, "pss", full.rss)
                rss += full.rss
            self.peak, self.peak_rss = max(self.peak, pss), max(self.peak_rss, rss)

    def __enter__(self) -> _PeakTree:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(
    data_root: str | None = None, tasks: list[str] | None = None, repeats: int = 3,
) -> list[dict]:
    """One row per task: median seconds of each grader, their ratio, the runner's peak memory."""
    root = resolve_data_root(data_root)
    loaded = load_tasks(ROOT / "solutions", tasks or None)
    tasks = list(loaded)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-gradescope-") as tmp_name:
        tmp = Path(tmp_name)
        subs = [
            s for s in sample_class(
                ROOT / "solutions", ROOT / "notebooks", tasks,
            ) if s.student == "solution"
        ]
        write_class(tmp / "class", subs, loaded)
        zips = build_zips(
            tmp / "zips", ROOT / "solutions", tasks, Settings(task="", notebook="", user=""),
        )
        cores = os.cpu_count() or 1
        for key, task in loaded.items():
            zip_path = next(z for z in zips if z.stem == task.notebook)
            notebook = tmp / "class" / "solution" / f"{task.notebook}.ipynb"
            local, gradescope, peaks, scores = [], [], [], set()
            for i in range(repeats):
                course = tmp / f"course-{key}-{i}"
                Course(course).prepare({key: task})  # set-up outside the clock
                start = time.perf_counter()
                graded = grade_class(tmp / "class", course, ROOT / "solutions", [key], workers=1,
                                     limits=Limits(threads=cores), data_root=root)
                local.append(time.perf_counter() - start)
                scores.add(("dlci grade", sum(r.points for r in graded.graded)))
                with _PeakTree() as peak:
                    done = run_local(zip_path, [notebook], data_root=root)
                gradescope.append(done.seconds)
                peaks.append((peak.peak, peak.peak_rss))
                scores.add(("gradescope", done.results["score"]))
            rows.append({
                "task": key, "dlci grade s per notebook": statistics.median(local),
                "Gradescope runner s per submission": statistics.median(gradescope),
                "ratio": statistics.median(gradescope) / statistics.median(local),
                "runner peak GiB (PSS)": max(p for p, _ in peaks) / 2**30,
                "summed RSS GiB (upper bound)": max(r for _, r in peaks) / 2**30,
                "default container GiB": GRADESCOPE_MEMORY_BYTES / 2**30,
                "scores": ", ".join(f"{path} {score}" for path, score in sorted(scores)),
                "repeats": repeats,
            })
    return rows


def main() -> None:
    from bench.figures import machine, publish

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="course data (default: $DLCI_DATA)")
    parser.add_argument("--tasks", nargs="*", help="task keys (default: every task)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    started = machine()
    rows = run(args.root, args.tasks, args.repeats)
    publish("bench_gradescope", rows, argv=sys.argv[1:], data_root=args.root, started=started)


if __name__ == "__main__":
    main()
