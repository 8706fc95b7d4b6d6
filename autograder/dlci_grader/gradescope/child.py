"""The Gradescope runner's child (``python -m dlci_grader.gradescope.child WORK``): grade
``WORK/submission.ipynb`` with :func:`~dlci_grader.run.worker.run_job`, as the zip's unprivileged
user when the runner is root, and write ``WORK/result.json`` for the runner
(:mod:`dlci_grader.gradescope.run`), which alone writes ``results.json``.

Its own module so that the runner never imports nbgrader and PyTorch: only this process needs
them, and it ends with ``os._exit`` once its result is written (their teardown would only delay
the runner).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from dlci_grader.files import atomic_write
from dlci_grader.gradescope.run import STUDENT
from dlci_grader.gradescope.settings import Settings
from dlci_grader.nbgrader.template import Template
from dlci_grader.run.job import Job
from dlci_grader.run.worker import run_job


def grade(work: Path) -> int:
    """Grade ``work/submission.ipynb`` as ``work/job.json`` says; write ``work/result.json``."""
    job_data = json.loads((work / "job.json").read_text())
    settings = Settings(**job_data["settings"])
    template = work / "template"
    job = Job(
        STUDENT, settings.task, settings.notebook, (work / "submission.ipynb").read_bytes(),
        template,
        Template(template, settings.notebook).digest(),
        settings.limits(), Path(job_data["data_root"]), notes=tuple(job_data["notes"]),
    )
    done = run_job(job, work / "job")
    atomic_write(work / "result.json", done.result.to_json().encode())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m dlci_grader.gradescope.child WORK (started by the runner)",
              file=sys.stderr)
        return 2
    return grade(Path(args[0]))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
