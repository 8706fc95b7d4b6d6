"""What a student waits for: each task notebook's wall time and the kernel's peak memory.

Each task's released notebook, completed with the solution's answers
(:func:`dlci_grader.samples.variants.solved`: what a student who solved it holds), runs top to
bottom as a student runs it (not in grading mode) in a fresh Jupyter kernel, inside a child
process of its own, so that the child's ``RUSAGE_CHILDREN`` peak RSS is the kernel's; these
peaks size the hub (``autograder/deploy/values.yaml``). ``--solutions`` runs the instructor's
solution notebooks instead, whose hidden tests re-evaluate what they judge. Short notebooks run
``repeats`` times (median, min, max); one that takes longer than ``long_s`` runs once.

    python -m bench notebooks            # all task notebooks
    python -m bench.bench_notebooks --tasks task1 task3   # only these
    python -m bench.bench_notebooks --solutions           # the solutions, hidden tests included
    python -m bench.bench_notebooks --one solutions/task1_backprop_inpainting.ipynb --save out.ipynb
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = {"task1": 120.0, "task2": None, "task3": 120.0}  # task2: as fast as its engine allows
TARGET_MIB = 2048.0


def run_one(notebook: Path, timeout: int = 3600, save: Path | None = None) -> dict:
    """Execute ``notebook`` in a fresh kernel; wall seconds and peak kernel RSS.

    ``save``: also write the executed notebook there (its tables and figures).
    """
    nb = nbformat.read(notebook, as_version=4)
    env_grading = os.environ.pop("DLCI_GRADING", None)
    start = time.perf_counter()
    error = ""
    try:
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(notebook.parent)}},
        ).execute()
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the table says what failed
        error = (
            f"{type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else ''}"
        )
    wall = time.perf_counter() - start
    if save is not None:
        nbformat.write(nb, str(save))
    if env_grading is not None:
        os.environ["DLCI_GRADING"] = env_grading
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return {"wall_s": wall, "peak_mib": peak_mib, "error": error}


def _measure(notebook: Path, data_root: str | None) -> dict:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("DLCI_GRADING", None)
    if data_root:
        env["DLCI_DATA"] = str(data_root)
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_notebooks", "--one", str(notebook)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"wall_s": float("nan"), "peak_mib": float("nan"), "error": out.stderr[-300:]}
    return json.loads(lines[-1])


def _notebooks(folder: Path, solutions: bool) -> list[Path]:
    """The notebooks to run: the solved releases, written into ``folder``, or the solutions."""
    from dlci_grader.samples.variants import solved

    sources = sorted((ROOT / "solutions").glob("task*.ipynb"))
    if solutions:
        return sources
    out = []
    for source in sources:
        path = folder / source.name
        nbformat.write(solved(source, ROOT / "notebooks" / source.name), str(path))
        out.append(path)
    return out


def run(
    data_root: str | None = None,
    repeats: int = 3,
    long_s: float = 150.0,
    tasks: Sequence[str] | None = None,
    solutions: bool = False,
) -> list[dict]:
    """One row per task notebook (or only ``tasks``, e.g. ``["task1"]``): median/min/max wall
    time, peak kernel RSS, targets; the solved releases, or with ``solutions`` the solutions."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="dlci-bench-notebooks-") as tmp:
        for notebook in _notebooks(Path(tmp), solutions):
            task = notebook.stem.split("_")[0]
            if not tasks or task in tasks:
                rows.append(_row(notebook, task, data_root, repeats, long_s, solutions))
    return rows


def _row(notebook: Path, task: str, data_root: str | None, repeats: int, long_s: float,
         solutions: bool) -> dict:
    """Run ``notebook`` up to ``repeats`` times; its row of the table."""
    runs = [_measure(notebook, data_root)]
    while len(runs) < repeats and runs[0]["wall_s"] < long_s and not runs[-1]["error"]:
        runs.append(_measure(notebook, data_root))
    walls = [r["wall_s"] for r in runs]
    target = TARGET_S.get(task)
    return {
        "notebook": notebook.name,
        "as": "solution, hidden tests" if solutions else "solved release",
        "runs": len(runs),
        "wall s (median)": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "peak kernel RSS MiB": max(r["peak_mib"] for r in runs),
        "target": (f"< {target:.0f} s, " if target else "") + f"< {TARGET_MIB:.0f} MiB",
        "error": next((r["error"] for r in runs if r["error"]), ""),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", type=Path, help="run just this notebook here and print JSON")
    parser.add_argument("--save", type=Path, help="with --one: write the executed notebook here")
    parser.add_argument("--root", default=None)
    parser.add_argument("--tasks", nargs="*", help="only these tasks, e.g. task1 task3")
    parser.add_argument("--solutions", action="store_true",
                        help="run the solution notebooks (hidden tests included) instead")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, save=args.save)))
    else:
        from bench.figures import machine, publish

        started = machine()
        rows = run(args.root, tasks=args.tasks, solutions=args.solutions)
        publish("bench_notebooks", rows, argv=sys.argv[1:], data_root=args.root, started=started)
