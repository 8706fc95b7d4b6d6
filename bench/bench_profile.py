"""Where one submission's seconds go when the grader grades it, task by task.

For each task's solution (as a student hands it in): first the notebook run plainly, by
nbclient in grading mode with the grader's thread setting and nothing else (the floor); then
:func:`~dlci_grader.run.class_run.grade_submissions` of a class of two copies of it, one worker,
with the worker's phases timed (the phase functions of :mod:`dlci_grader.run.worker` wrapped in
timers). The phases are the second notebook's, what each notebook of a class pays; ``first s``
is the first notebook's worker seconds (it also starts the run's fork server):

- **draw inputs**: :func:`~dlci_grader.verdicts.judging.prepare`, the hidden tests' secret cases
  (Task 3's reference table is made once per grading run: a class pays it once);
- **autograde**: ``nbgrader autograde`` in the sandbox (forked from the run's nbgrader server:
  the kernel, the student's cells and the harness);
- **alone**: :func:`~dlci_grader.verdicts.rebuild.run_alone`, the definitions-alone re-runs;
- **judge**: judging the answers and reading the scores;
- **setup**: the rest (the course template, nbgrader's generate step: once per class).

    python -m bench profile
    python -m bench.bench_profile --tasks task1
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.plain import handed_in, run_plainly
from dlci_grader.run import worker
from dlci_grader.run.class_run import grade_submissions
from dlci_grader.run.job import resolve_data_root, threads_per_worker
from dlci_grader.tasks import load_tasks
from dlci_grader.verdicts import judging, rebuild

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("task1", "task2", "task3")
PHASES = {
    "draw inputs": (judging, "prepare"),
    "autograde": (worker, "_autograde"),
    "alone": (rebuild, "run_alone"),
    "judge": (worker, "_read_scores"),
}


def _timed(
    seconds: dict[str, list[float]], label: str, f: Callable[..., Any],
) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            seconds[label].append(time.perf_counter() - start)

    return run


def run(data_root: str | None = None, tasks: tuple[str, ...] = TASKS) -> list[dict[str, Any]]:
    """One row per task: plain seconds, the worker's seconds and each phase's."""
    import tempfile

    root = resolve_data_root(data_root)
    rows = []
    for task in tasks:
        spec = load_tasks(ROOT / "solutions", [task])[task]
        notebook = handed_in(task)
        with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
            plain = run_plainly(notebook, root, Path(tmp), threads_per_worker(1))
        seconds: dict[str, list[float]] = collections.defaultdict(list)
        originals = {label: getattr(m, name) for label, (m, name) in PHASES.items()}
        for label, (module, name) in PHASES.items():
            setattr(module, name, _timed(seconds, label, originals[label]))
        try:
            start = time.perf_counter()
            both = grade_submissions(spec.source, {"first": notebook, "second": notebook},
                                     data_root=root, workers=1)
            total = time.perf_counter() - start
        finally:
            for label, (module, name) in PHASES.items():
                setattr(module, name, originals[label])
        graded = both["second"]
        row: dict[str, Any] = {"task": task, "points": f"{graded.points:g}",
                               "plain s": plain, "first s": both["first"].seconds,
                               "worker s": graded.seconds, "worker / plain": graded.seconds / plain}
        row.update({f"{label} s": (seconds[label] or [0.0])[-1] for label in PHASES})
        row["setup s"] = total - graded.seconds - both["first"].seconds
        rows.append(row)
    return rows


def main() -> None:
    from bench.figures import machine, publish

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", default=None)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    args = parser.parse_args()
    started = machine()
    publish("bench_profile", run(args.root, tuple(args.tasks)), argv=sys.argv[1:],
            data_root=args.root, started=started)


if __name__ == "__main__":
    main()
