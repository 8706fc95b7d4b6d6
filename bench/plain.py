"""The floor a grading figure is compared with: a notebook run plainly, by nbclient, in grading
mode with the grader's thread setting, and nothing of the grader (no sandbox, no nbgrader, no
hidden inputs, no definitions-alone run)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from dlci_grader.samples.variants import Variant, make_submission
from dlci_grader.tasks import load_tasks
from starter.env_vars import DATA_ENV_VAR, GRADING_ENV_VAR

ROOT = Path(__file__).resolve().parents[1]


def handed_in(task: str) -> nbformat.NotebookNode:
    """``task``'s solution as a student hands it in (the release with the answers filled in)."""
    spec = load_tasks(ROOT / "solutions", [task])[task]
    notebook = make_submission(Variant("solution", "the solution"), spec.source,
                               spec.release(ROOT / "notebooks"))
    return nbformat.from_dict(notebook)


def run_plainly(
    notebook: nbformat.NotebookNode, data_root: Path, folder: Path, threads: int,
) -> float:
    """Wall seconds nbclient takes to run ``notebook`` top to bottom in a fresh kernel started in
    ``folder``, with ``threads`` torch threads (errors allowed and the kernel killed at the end, as
    the grader does)."""
    env = {**os.environ, GRADING_ENV_VAR: "1", DATA_ENV_VAR: str(data_root), "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    client = NotebookClient(nbformat.from_dict(notebook), timeout=600, kernel_name="python3",
                            allow_errors=True, resources={"metadata": {"path": str(folder)}},
                            shutdown_kernel="immediate")  # as the grader's kernels end
    client.execute(env=env)
    return time.perf_counter() - start
