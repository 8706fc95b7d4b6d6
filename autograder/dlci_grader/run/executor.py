"""The executor seam: where a class run hands out notebooks to grade and gets results back.

A class run (:mod:`dlci_grader.run.class_run`) turns each (student, task) submission into a
:class:`~dlci_grader.run.job.Job`, plain data: the submission's bytes, the task's course template,
the limits, the
data root. An executor grades jobs somewhere and yields one :class:`~dlci_grader.run.job.JobResult`
per job, plain
data again: the :class:`~dlci_grader.verdicts.results.NotebookResult` and the autograded notebook's
bytes. Only the class run's own process writes the course (gradebook, CSV, done markers), so an
executor never needs the course folder.

:class:`LocalExecutor` is this machine's: ``workers`` threads, each running one job at a time in
its own process tree (:func:`dlci_grader.run.worker.run_job`), and sharing the run's fork
servers (:class:`~dlci_grader.isolation.fork_server.ForkServers`: nbgrader, and PyTorch for the
definitions-alone runs, imported once per thread, not once per notebook). Another executor (a
cluster, a one-submission runner) is a class with the same :meth:`~Executor.run`, shipping the
template once by its :attr:`~dlci_grader.run.job.Job.template_digest`.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Protocol

from dlci_grader.isolation.fork_server import ForkServers
from dlci_grader.run.job import Job, JobResult
from dlci_grader.run.worker import run_job


class Executor(Protocol):
    """Grades jobs and yields their results as they finish (in any order).

    ``shares_process`` is True when the jobs run in the class run's own process (threads), so
    what the run computes ahead in its caches (each task's hidden inputs,
    :func:`~dlci_grader.verdicts.judging.draw_ahead`) serves them; a cluster's workers draw
    their own.
    """

    shares_process: bool

    def run(
        self, jobs: Iterable[Job], started: Callable[[Job], None] | None = None
    ) -> Iterator[JobResult]:
        """Grade every job; ``started(job)`` is called when one begins (for progress)."""
        ...


class LocalExecutor:
    """Grades jobs on this machine, ``workers`` at a time, each in its own process tree.

    Args:
        workers: notebooks graded at once.
        work_root: where each job gets a private folder (removed when it is done).
    """

    shares_process = True  # threads of this process: a draw ahead fills their caches

    def __init__(self, workers: int, work_root: Path | None = None) -> None:
        self.workers = max(1, int(workers))
        self.work_root = work_root

    def run(
        self, jobs: Iterable[Job], started: Callable[[Job], None] | None = None
    ) -> Iterator[JobResult]:
        def one(job: Job) -> JobResult:
            if started is not None:
                started(job)
            folder = Path(tempfile.mkdtemp(prefix=f"{job.student}-{job.task}-", dir=self.work_root))
            try:
                return run_job(job, folder, servers)
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        queue = iter(jobs)  # taken lazily: only the jobs in flight are in memory
        with ForkServers() as servers, ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending = {pool.submit(one, job) for job in itertools.islice(queue, self.workers)}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                pending |= {pool.submit(one, job) for job in itertools.islice(queue, len(finished))}
                for future in finished:
                    yield future.result()
