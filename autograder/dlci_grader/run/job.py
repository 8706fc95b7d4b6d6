r"""One notebook to grade and what grading it gave, as plain data (:mod:`dlci_grader.run.executor`
hands out :class:`Job`\ s; a worker, :mod:`dlci_grader.run.worker`, turns each into a
:class:`JobResult`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dlci_grader.isolation.limits import Limits
from dlci_grader.nbgrader.template import Template
from dlci_grader.verdicts.records import NotebookRecord
from dlci_grader.verdicts.results import NotebookResult
from starter.data.root import locate_data_root


@dataclass(frozen=True)
class Job:
    """One notebook to grade, as plain data.

    Attributes:
        student: nbgrader student id.
        task: the task key (``task1``).
        notebook: the task's notebook stem, also nbgrader's assignment and notebook id.
        submission: the student's ``.ipynb`` bytes.
        template: a course folder holding ``source/<notebook>/`` and a ``gradebook.db`` in
            which the assignment was generated
            (:attr:`dlci_grader.nbgrader.course.Course.template`).
        template_digest: sha256 of the template's source notebook: a remote executor ships the
            template once per digest, and refuses a worker whose copy differs.
        limits: what the notebook may use.
        data_root: the course data the hidden tests are drawn from (resolved, absolute).
        grading: run in grading mode (``DLCI_GRADING=1``), as the grader always does.
        notes: what intake noticed, added to the result's reason.
        seed: the grading run's secret seed for the hidden tests' inputs (one per run, so the
            class's inputs and references are drawn once); None: a secret one per notebook.
    """

    student: str
    task: str
    notebook: str
    submission: bytes
    template: Path
    template_digest: str
    limits: Limits
    data_root: Path
    grading: bool = True
    notes: tuple[str, ...] = field(default=())
    seed: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.student, self.task)

    @property
    def task_template(self) -> Template:
        """The task's assignment in :attr:`template`."""
        return Template(self.template, self.notebook)


@dataclass
class JobResult:
    """What grading one :class:`Job` gave: the result, the autograded notebook (None when
    nbgrader wrote none) and the record of its judged tests (None when none was judged), all
    plain data."""

    job: Job
    result: NotebookResult
    autograded: bytes | None
    record: NotebookRecord | None = None


def worker_count(workers: int | None) -> int:
    """How many notebooks a local run grades at once: ``workers``, else one per core."""
    return max(1, int(workers or os.cpu_count() or 1))


def threads_per_worker(workers: int | None) -> int:
    """The cores shared out between the workers: each kernel's torch threads
    (:attr:`Limits.threads`)."""
    return max(1, (os.cpu_count() or 1) // worker_count(workers))


def resolve_data_root(root: str | os.PathLike[str] | None) -> Path:
    """The course data root a grading run uses, resolved once (what :attr:`Job.data_root`
    holds): ``root``, else ``$DLCI_DATA``, else the kit's default
    (:func:`starter.data.root.locate_data_root`)."""
    return locate_data_root(None if root is None else str(root)).path.resolve()
