"""Autograde notebooks with the real nbgrader: a whole class (``dlci grade``), or a few notebooks.

:func:`grade_class` grades a folder or zip of submissions into the instructor's course folder
(:mod:`dlci_grader.course`): every (student, task) notebook in its own worker
(:mod:`dlci_grader.worker`: private nbgrader course, fresh kernel, time limits, memory cap),
``--workers`` at a time; the parent merges each result into nbgrader's gradebook, marks it done,
and finally writes ``grades.csv`` and prints a summary (:mod:`dlci_grader.report`). A re-run
skips what is already graded (same file), unless ``--force``.

:func:`grade_submissions` (used by the per-task tests) sets up a temporary nbgrader course from one source notebook (with its
solutions and hidden tests), generates the assignment (which stores the hidden tests in the
gradebook), submits each notebook under its own student id, runs ``nbgrader autograde`` once
for all of them (hidden tests are put back into each notebook, which is then executed), and
reads every graded cell's score from the gradebook.

Example:
    >>> from dlci_grader.variants import submissions
    >>> grades = grade_submissions("solutions/task1_backprop_inpainting.ipynb",
    ...                            submissions("task1"))  # doctest: +SKIP
    >>> grades["solution"].auto_scores  # doctest: +SKIP
    {'test_linear': 2.0, 'test_linear_hidden': 3.0, ...}
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from dlci_grader import report, verify
from dlci_grader.course import Course
from dlci_grader.intake import Submission, collect, opened
from dlci_grader.limits import sweep_cgroups
from dlci_grader.nbgrader_course import NbgraderCourse, NotebookGrade
from dlci_grader.tasks import load_tasks, task_key
from dlci_grader.worker import Limits, NotebookResult, grade_isolated, graded_cells, zero_result
from starter.progress import progress_bar

GRADING_ENV = {"DLCI_GRADING": "1"}
"""Environment the notebooks are graded in: the notebooks' grading mode."""

_STUDENT_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def grade_submissions(
    source: str | os.PathLike[str],
    submissions: Mapping[str, str | os.PathLike[str] | NotebookNode],
    *,
    grading_mode: bool = True,
    timeout: int = 300,
    env: Mapping[str, str] | None = None,
    keep_dir: str | os.PathLike[str] | None = None,
) -> dict[str, NotebookGrade]:
    """Autograde each submission of one notebook with nbgrader.

    Args:
        source: the nbgrader source notebook (``solutions/<name>.ipynb``); the assignment and
            notebook are named after its stem.
        submissions: student id -> that student's notebook (path or NotebookNode).
        grading_mode: run the notebooks with ``DLCI_GRADING=1``.
        timeout: seconds each cell may run.
        env: more environment variables for nbgrader and its kernels.
        keep_dir: copy the whole course folder (autograded notebooks with outputs, gradebook)
            here, for a look at what happened.

    Returns:
        student id -> :class:`~dlci_grader.nbgrader_course.NotebookGrade`.
    """
    bad = [s for s in submissions if not _STUDENT_ID.match(s)]
    if bad:
        raise ValueError(f"student ids may hold letters, digits, '_', '.', '-' only: {bad}")
    if not submissions:
        raise ValueError("no submissions to grade")
    name = Path(source).stem
    full_env = dict(GRADING_ENV if grading_mode else {})
    full_env.update(env or {})
    with NbgraderCourse.temporary(timeout=timeout) as course:
        course.add_source(source, assignment=name, name=name)
        course.generate_assignment(name)
        for student, notebook in submissions.items():
            course.submit(name, student, notebook, name)
        data_root = full_env.get("DLCI_DATA", os.environ.get("DLCI_DATA"))
        channel = verify.prepare(task_key(name), course.root / "grader", data_root)
        full_env.update(channel.env if channel is not None else {})
        try:
            course.autograde(name, env=full_env)
            grades = {}
            for student in submissions:
                grades[student] = course.grades(name, student, name)
                if channel is not None:
                    grades[student] = _judge_outside(course, channel, grades[student])
        finally:
            if keep_dir is not None:
                shutil.copytree(course.root, keep_dir, dirs_exist_ok=True)
        return grades


def _judge_outside(
    course: NbgraderCourse, channel: verify.Channel, grade: NotebookGrade
) -> NotebookGrade:
    """``grade`` with the hidden tests scored by the grader's verdicts (notebook annotated)."""
    path = course.root / "autograded" / grade.student / grade.assignment / f"{grade.notebook}.ipynb"
    verdicts = verify.judge_executed(channel, nbformat.read(str(path), 4), path)
    cells = dict(grade.cells)
    for test, verdict in verdicts.items():
        if test in cells:
            score = cells[test].max_score if verdict.passed else 0.0
            cells[test] = replace(cells[test], score=score, auto_score=score)
    return replace(grade, cells=cells)


# --- a whole class ----------------------------------------------------------------------------


@dataclass
class ClassRun:
    """What one :func:`grade_class` run did.

    Attributes:
        results: every recorded result of the course (this run's and earlier ones).
        graded: results of notebooks graded in this run (rejected ones included).
        skipped: (student, task) already graded with the same file, not graded again.
        warnings: files that matched no task, duplicates.
        seconds: wall-clock time of the run.
    """

    results: list[NotebookResult]
    graded: list[NotebookResult]
    skipped: list[tuple[str, str]]
    warnings: list[str]
    seconds: float

    @property
    def failed(self) -> list[NotebookResult]:
        return [r for r in self.graded if r.status != "graded" or r.reason]


class _Progress:
    """A progress bar of notebooks done, with running and failed counts (thread-safe)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.lock = threading.Lock()
        self.running = self.failed = 0
        self.bar = progress_bar(total, "grading", enabled=enabled, unit="nb")

    def _show(self) -> None:
        self.bar.set_postfix_str(f"running {self.running}, failed {self.failed}", refresh=True)

    def started(self) -> None:
        with self.lock:
            self.running += 1
            self._show()

    def stopped(self) -> None:
        with self.lock:
            self.running -= 1
            self._show()

    def finished(self, result: NotebookResult) -> None:
        with self.lock:
            self.failed += result.status != "graded" or bool(result.reason)
            self.bar.update(1)
            self._show()

    def close(self) -> None:
        self.bar.close()


def _lock(course: Course) -> object:
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
    env: Mapping[str, str] | None = None,
    progress: bool = False,
) -> ClassRun:
    """Grade every submission in ``submissions`` into the course folder ``course``.

    Args:
        submissions: a folder with one subfolder per student, or a zip of it (see
            :mod:`dlci_grader.intake`).
        course: the nbgrader course folder (created if needed).
        solutions: the source notebooks, one per task.
        tasks: only these task keys (default: every notebook in ``solutions``).
        workers: notebooks graded at once (default: the number of cores).
        limits: per-notebook time and memory limits (default :class:`Limits`, with the cores
            shared out between the workers as threads).
        force: grade again what is already graded.
        env: extra environment for the kernels (``DLCI_GRADING=1`` is always set).
        progress: show a progress bar on stderr.
    """
    start = time.perf_counter()
    cores = os.cpu_count() or 1
    workers = max(1, int(workers or cores))
    limits = limits or Limits(threads=max(1, cores // workers))
    loaded = load_tasks(solutions, tasks)
    state = Course(course)
    held = _lock(state)
    sweep_cgroups()
    try:
        state.prepare(loaded)
        release_ids = state.release_ids(loaded)
        work_root = state.state / "work"
        shutil.rmtree(work_root, ignore_errors=True)  # left by a run that was killed
        work_root.mkdir(parents=True)
        full_env = {**GRADING_ENV, **(env or {})}
        graded: list[NotebookResult] = []
        skipped: list[tuple[str, str]] = []
        with opened(submissions) as folder:
            found, warnings = collect(folder, loaded, release_ids)
            todo: list[Submission] = []
            for sub in found:
                if not force and state.done(sub.student, sub.task, sub.digest) is not None:
                    skipped.append((sub.student, sub.task))
                elif sub.problem is not None:
                    result = zero_result(
                        sub.student, sub.task, loaded[sub.task].notebook,
                        _points(state, loaded[sub.task].notebook), "rejected", sub.problem,
                        cell_status="rejected",
                    )
                    result.digest = sub.digest
                    state.record(result, None, None)
                    graded.append(result)
                else:
                    todo.append(sub)
            bar = _Progress(len(todo), progress)

            def run(sub: Submission) -> tuple[Submission, NotebookResult, Path | None, Path]:
                bar.started()
                workdir = Path(tempfile.mkdtemp(prefix=f"{sub.student}-{sub.task}-", dir=work_root))
                notebook = loaded[sub.task].notebook
                try:
                    result, autograded = grade_isolated(
                        state.template, notebook, sub.student, sub.task, sub.path,
                        workdir / "course", limits, full_env,
                    )
                finally:
                    bar.stopped()
                result.digest = sub.digest
                for note in sub.notes:
                    if note not in result.reason:
                        result.reason = "; ".join(filter(None, [note, result.reason]))
                return sub, result, autograded, workdir

            try:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    pending = {pool.submit(run, sub) for sub in todo}
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in finished:
                            sub, result, autograded, workdir = future.result()
                            state.record(result, sub.path, autograded)  # serial: one writer
                            shutil.rmtree(workdir, ignore_errors=True)
                            graded.append(result)
                            bar.finished(result)
            finally:
                bar.close()
        return ClassRun(state.results(), graded, skipped, warnings, time.perf_counter() - start)
    finally:
        held.close()


def _points(course: Course, notebook: str) -> dict[str, tuple[float, bool]]:
    source = nbformat.read(str(course.template / "source" / notebook / f"{notebook}.ipynb"), 4)
    return graded_cells(source)


# --- the command line -------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    limits = Limits(
        cell_timeout=args.cell_timeout,
        notebook_timeout=args.notebook_timeout,
        memory_bytes=None if args.memory_gb <= 0 else int(args.memory_gb * 2**30),
        threads=max(1, (os.cpu_count() or 1) // max(1, args.workers or os.cpu_count() or 1)),
        sandbox=not args.no_sandbox,
    )
    from dlci_grader.sandbox import support

    print(support().describe() if limits.sandbox else "sandbox: off (--no-sandbox)", file=sys.stderr)
    env = {"DLCI_DATA": str(Path(args.root).resolve())} if args.root else None
    run = grade_class(
        args.submissions, args.course, args.solutions, args.tasks or None, args.workers, limits,
        args.force, env, progress=not args.quiet,
    )
    course = Course(args.course)
    for warning in run.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    table = report.rows(run.results, course.db_url)
    csv_path = report.write_csv(args.csv or course.root / "grades.csv", table)
    expected = report.read_expected(args.expected) if args.expected else None
    task_keys = sorted({r.task for r in run.results})
    print(report.summary(run.results, table, task_keys, expected))
    timed = [r for r in run.graded if r.seconds]
    per_nb = sum(r.seconds for r in timed) / len(timed) if timed else 0.0
    print(
        f"graded {len(run.graded)} notebooks ({len(run.failed)} with problems), skipped "
        f"{len(run.skipped)} already graded, in {run.seconds:.0f} s "
        f"({per_nb:.0f} s per notebook in its worker); scores in {course.root / 'gradebook.db'}, "
        f"table in {csv_path}"
    )
    if expected is not None:
        problems = report.compare(expected, table)
        for problem in problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        return 1 if problems else 0
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dlci grade`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "grade",
        help="autograde a class's submissions with nbgrader; gradebook, grades.csv (instructors)",
        description=(
            "Autograde every submission (a folder with one subfolder per student, nbgrader's "
            "submitted/ or a plain/LMS zip) into an nbgrader course folder: scores in its "
            "gradebook.db, a CSV of points per student, task and question, and a summary. "
            "Notebooks already graded (same file) are skipped unless --force."
        ),
    )
    p.add_argument("submissions", help="folder or .zip with one subfolder per student")
    p.add_argument("--course", default="course", help="nbgrader course folder (default: course)")
    p.add_argument("--solutions", default="solutions", help="source notebooks (default: solutions)")
    p.add_argument("--tasks", nargs="*", metavar="TASK", help="grade only these tasks, e.g. task1")
    p.add_argument("--workers", type=int, default=None, help="notebooks at once (default: cores)")
    p.add_argument("--cell-timeout", type=int, default=300, help="seconds per cell (default 300)")
    p.add_argument(
        "--notebook-timeout", type=int, default=1200,
        help="seconds per notebook before its processes are killed (default 1200)",
    )
    p.add_argument(
        "--memory-gb", type=float, default=6.0,
        help="memory cap per kernel process, GiB (RLIMIT_DATA; 0: none; default 6)",
    )
    p.add_argument("--root", help="course data root for the kernels (default: $DLCI_DATA, ...)")
    p.add_argument(
        "--no-sandbox", action="store_true",
        help="run kernels without the sandbox (dlci_grader.sandbox: files, network, signals, processes)",
    )
    p.add_argument("--csv", help="where to write the CSV (default: COURSE/grades.csv)")
    p.add_argument("--expected", help="expected.csv from `dlci sample-class`: compare, exit 1 on any difference")
    p.add_argument("--force", action="store_true", help="grade again what is already graded")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
