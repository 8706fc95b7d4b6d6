"""Autograde a class with the real nbgrader: every (student, task) notebook, one grading path.

:func:`grade_class` grades a folder or zip of submissions into the instructor's course folder
(:class:`~dlci_grader.nbgrader.course.Course`): intake checks and names every notebook
(:mod:`dlci_grader.run.intake`), each one to grade becomes a plain-data
:class:`~dlci_grader.run.executor.Job` for an executor (default: this machine's
:class:`~dlci_grader.run.executor.LocalExecutor`, ``workers`` at a time, each notebook in its own
sandboxed worker), and this process alone merges each result into nbgrader's gradebook and marks
it done. A re-run skips what is already graded (same file), unless ``force``.

:func:`grade_submissions` grades a few notebooks of one task (the per-task tests): a thin call of
:func:`grade_class` on a temporary course, so every score in the tests comes through the same
worker, sandbox and limits as ``dlci grade``.

Example:
    >>> from dlci_grader.samples.variants import submissions
    >>> grades = grade_submissions("solutions/task1_backprop_inpainting.ipynb",
    ...                            submissions("task1"))  # doctest: +SKIP
    >>> grades["solution"].auto_points  # doctest: +SKIP
    {'test_linear': 2.0, 'test_linear_hidden': 3.0, ...}
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import nbformat
from nbformat import NotebookNode

from dlci_grader.isolation.limits import Limits, sweep_cgroups
from dlci_grader.nbgrader.course import Course, read_notebook
from dlci_grader.run.executor import Executor, LocalExecutor
from dlci_grader.run.intake import Submission, collect, opened
from dlci_grader.run.job import Job, resolve_data_root, threads_per_worker, worker_count
from dlci_grader.run.roster import Roster
from dlci_grader.tasks import load_tasks, task_key
from dlci_grader.verdicts import judging
from dlci_grader.verdicts.records import NotebookRecord
from dlci_grader.verdicts.results import (
    CellStatus,
    NotebookResult,
    NotebookStatus,
    zero_result,
)
from starter.progress import progress_bar

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def grade_submissions(
    source: str | os.PathLike[str],
    submissions: Mapping[str, str | os.PathLike[str] | NotebookNode],
    *,
    data_root: Path | None = None,
    limits: Limits | None = None,
    workers: int | None = None,
    keep_dir: str | os.PathLike[str] | None = None,
) -> dict[str, NotebookResult]:
    """Grade each submission of one task exactly as ``dlci grade`` would, in a temporary course.

    Args:
        source: the nbgrader source notebook (``solutions/<name>.ipynb``).
        submissions: student id -> that student's notebook (path or NotebookNode).
        data_root: the course data (default: ``$DLCI_DATA``, else the kit's default).
        limits: per-notebook limits (default :class:`Limits`, sandbox on).
        workers: notebooks at once (default: the number of cores).
        keep_dir: copy the whole course folder (autograded notebooks, gradebook) here.

    Returns:
        student id -> :class:`~dlci_grader.verdicts.results.NotebookResult`.
    """
    bad = [s for s in submissions if not _STUDENT_ID.match(s)]
    if bad:
        raise ValueError(f"student ids may hold letters, digits, '_', '.', '-' only: {bad}")
    if not submissions:
        raise ValueError("no submissions to grade")
    source = Path(source)
    with tempfile.TemporaryDirectory(prefix="dlci-grade-") as tmp:
        folder = Path(tmp) / "submissions"
        for student, notebook in submissions.items():
            path = folder / student / f"{source.stem}.ipynb"
            path.parent.mkdir(parents=True)
            nbformat.write(read_notebook(notebook), str(path))
        course = Path(tmp) / "course"
        try:
            run = grade_class(
                folder, course, source.parent, [task_key(source.stem)], workers, limits,
                data_root=data_root,
            )
        finally:
            if keep_dir is not None and course.is_dir():
                shutil.copytree(course, keep_dir, dirs_exist_ok=True)
        return {r.student: r for r in run.results}


@dataclass
class ClassRun:
    """What one :func:`grade_class` run did.

    Attributes:
        results: every recorded result of the course (this run's and earlier ones).
        graded: results of notebooks graded in this run (rejected ones included).
        skipped: (student, task) already graded with the same file, not graded again.
        warnings: files skipped and why (no task, an older or duplicate notebook, not in the
            roster, ambiguous).
        seconds: wall-clock time of the run.
    """

    results: list[NotebookResult]
    graded: list[NotebookResult]
    skipped: list[tuple[str, str]]
    warnings: list[str]
    seconds: float

    @property
    def failed(self) -> list[NotebookResult]:
        return [r for r in self.graded if not r.ok]


class _Progress:
    """A progress bar of notebooks done, with the running ones and those with problems, or with
    ``expected`` points by (student, task) (a sample class), those that differ (thread-safe)."""

    def __init__(
        self, total: int, enabled: bool,
        expected: Mapping[tuple[str, str], float] | None = None,
    ) -> None:
        self.lock = threading.Lock()
        self.running = self.counted = 0
        self.expected = expected
        self.bar = progress_bar(total, "grading", enabled=enabled, unit="nb")

    def _show(self) -> None:
        what = "with problems" if self.expected is None else "unexpected"
        self.bar.set_postfix_str(f"running {self.running}, {what} {self.counted}", refresh=True)

    def _counts(self, result: NotebookResult) -> bool:
        if self.expected is None:
            return not result.ok
        points = sum(result.auto_points.values())
        return abs(points - self.expected.get((result.student, result.task), points)) > 1e-9

    def started(self, job: Job) -> None:
        with self.lock:
            self.running += 1
            self._show()

    def finished(self, result: NotebookResult) -> None:
        with self.lock:
            self.running = max(0, self.running - 1)
            self.counted += self._counts(result)
            self.bar.update(1)
            self._show()

    def close(self) -> None:
        self.bar.close()


def lock(course: Course) -> IO[str]:
    """Hold an exclusive lock on the course for this process (one grading run at a time)."""
    course.state.mkdir(parents=True, exist_ok=True)
    handle = open(course.state / "lock", "w")  # noqa: SIM115 - held until the process ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RuntimeError(f"another `dlci grade` is running on {course.root}") from None
    return handle


def grade_class(
    submissions: str | os.PathLike[str],
    course: str | os.PathLike[str] = "course",
    solutions: str | os.PathLike[str] = "solutions",
    tasks: list[str] | None = None,
    workers: int | None = None,
    limits: Limits | None = None,
    force: bool = False,
    *,
    data_root: Path | None = None,
    executor: Executor | None = None,
    progress: bool = False,
    expected: Mapping[tuple[str, str], float] | None = None,
    roster: Roster | None = None,
) -> ClassRun:
    """Grade every submission in ``submissions`` into the course folder ``course``.

    Args:
        submissions: a folder with one subfolder per student, or a zip of it (see
            :mod:`dlci_grader.run.intake`).
        course: the nbgrader course folder (created if needed), or an instructor's own
            nbgrader course, graded into without writing its configuration, sources or
            release (:class:`~dlci_grader.nbgrader.course.Course`).
        solutions: the source notebooks, one per task.
        tasks: only these task keys (default: every notebook in ``solutions``).
        workers: notebooks graded at once by the default executor (default: the cores).
        limits: per-notebook time and memory limits (default :class:`Limits`, with the cores
            shared out between the workers as threads).
        force: grade again what is already graded.
        data_root: the course data (resolved; default :func:`resolve_data_root` of nothing).
        executor: where the jobs run (default: a :class:`LocalExecutor` of ``workers``).
        progress: show a progress bar on stderr.
        expected: autograded points by (student, task) (``expected.csv`` of a sample class):
            the progress bar counts the notebooks that differ, not those with problems.
        roster: LMS ids -> the course's student ids (:mod:`dlci_grader.run.roster`); with one,
            a submission it does not match is not graded (a warning names it).
    """
    start = time.perf_counter()
    workers = worker_count(workers)
    limits = limits or Limits(threads=threads_per_worker(workers))
    data_root = resolve_data_root(data_root)
    state = Course(course)
    loaded = state.gradable(load_tasks(solutions, tasks), chosen=tasks is not None)
    held = lock(state)
    sweep_cgroups()
    try:
        state.prepare(loaded)
        release_ids = state.release_ids(loaded)
        work_root = state.state / "work"
        shutil.rmtree(work_root, ignore_errors=True)  # left by a run that was killed
        work_root.mkdir(parents=True)
        executor = executor or LocalExecutor(workers, work_root)
        templates = {key: state.task_template(task.notebook) for key, task in loaded.items()}
        points = {key: template.points() for key, template in templates.items()}
        digests = {key: template.digest() for key, template in templates.items()}
        graded: list[NotebookResult] = []
        skipped: list[tuple[str, str]] = []
        with opened(submissions) as folder:
            found, warnings = collect(folder, loaded, release_ids, roster)
            state.record_lms_ids({s.student: s.lms_id for s in found if s.lms_id is not None})
            todo: list[Submission] = []
            for sub in found:
                if not force and state.ledger.done(sub.student, sub.task, sub.digest) is not None:
                    skipped.append((sub.student, sub.task))
                elif sub.problem is not None:
                    result = _rejected(sub, loaded[sub.task].notebook, points[sub.task])
                    _record(state, result, None, None, None)
                    graded.append(result)
                else:
                    todo.append(sub)

            seed = secrets.randbits(63)  # the run's hidden inputs: secret, drawn once
            ahead: threading.Thread | None = None

            def job(sub: Submission) -> Job:  # made when an executor takes it: bytes in memory
                return Job(                   # only for the notebooks in flight
                    sub.student, sub.task, loaded[sub.task].notebook, sub.content(),
                    state.template, digests[sub.task], limits, data_root, notes=tuple(sub.notes),
                    seed=seed,
                )

            if executor.shares_process and todo:  # its jobs read this process's caches: fill
                tasks_ahead = list(dict.fromkeys(s.task for s in todo))  # them now, once
                ahead = judging.draw_ahead(tasks_ahead, data_root, seed, work_root)
            bar = _Progress(len(todo), progress, expected)
            files = {(s.student, s.task): s for s in todo}
            digest_of = {key: s.digest for key, s in files.items()}
            try:
                for done in executor.run(map(job, todo), bar.started):
                    result = done.result
                    result.digest = digest_of[done.job.key]
                    handed_in = files[done.job.key].path.read_bytes()  # as handed in, unrepaired
                    _record(state, result, handed_in, done.autograded, done.record)  # one writer
                    graded.append(result)
                    bar.finished(result)
            finally:
                bar.close()
                if ahead is not None:
                    ahead.join()
        return ClassRun(
            state.ledger.results(), graded, skipped, warnings, time.perf_counter() - start,
        )
    finally:
        held.close()


def _rejected(
    sub: Submission, notebook: str, points: Mapping[str, tuple[float, bool]],
) -> NotebookResult:
    result = zero_result(
        sub.student, sub.task, notebook, points, NotebookStatus.REJECTED, sub.problem or "",
        cell_status=CellStatus.REJECTED,
    )
    result.digest = sub.digest
    return result


def _record(
    state: Course, result: NotebookResult, submission: bytes | None, autograded: bytes | None,
    record: NotebookRecord | None,
) -> None:
    """Store the notebooks, commit the scores to the gradebook and keep the record of its judged
    tests, then mark the result done in the ledger: only then, so that a run killed in between
    grades that notebook again."""
    state.store(result, submission, autograded)
    state.ledger.keep_record(result.student, result.task, record)
    state.ledger.mark(result)
