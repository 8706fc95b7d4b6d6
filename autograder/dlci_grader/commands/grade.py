"""``dlci grade``: autograde a class (:func:`dlci_grader.run.class_run.grade_class`), print the
summary, write ``grades.csv``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from dlci_grader.commands import add_course_option, add_solutions_option
from dlci_grader.isolation.limits import CELL_TIMEOUT, Limits
from dlci_grader.nbgrader.config import REFUSE_IN_KERNEL
from dlci_grader.nbgrader.course import Course, CourseMismatch
from dlci_grader.nbgrader.untrusted import refused_in
from dlci_grader.run import report
from dlci_grader.run.class_run import grade_class
from dlci_grader.run.job import resolve_data_root, threads_per_worker
from dlci_grader.run.roster import LMS_ID_COLUMN, STUDENT_COLUMN, Roster

if TYPE_CHECKING:
    from dlci_grader.run.dask_executor import DaskExecutor


def _cluster(args: argparse.Namespace) -> DaskExecutor | None:
    """The Dask executor ``--cluster``/``--scheduler-file`` ask for (None: grade on this
    machine)."""
    if args.cluster is None and args.scheduler_file is None:
        return None
    if args.cluster is not None and args.scheduler_file is not None:
        raise SystemExit("dlci grade: give --cluster or --scheduler-file, not both")
    tls = [args.tls_ca_file, args.tls_cert, args.tls_key]
    security = None
    if any(tls):
        if not all(tls):
            raise SystemExit(
                "dlci grade: mutual TLS needs all of --tls-ca-file, --tls-cert and --tls-key"
            )
        from distributed.security import Security

        security = Security(
            tls_ca_file=args.tls_ca_file, tls_client_cert=args.tls_cert,
            tls_client_key=args.tls_key,
            require_encryption=True,
        )
    from dlci_grader.run.dask_executor import DaskExecutor  # Dask loads only for a cluster run

    return DaskExecutor(
        args.cluster, scheduler_file=args.scheduler_file, security=security,
        max_in_flight=args.workers, data_root=args.worker_root,
    )


def _run(args: argparse.Namespace) -> int:
    limits = Limits(
        cell_timeout=args.cell_timeout,
        notebook_timeout=args.notebook_timeout,
        memory_bytes=None if args.memory_gb <= 0 else int(args.memory_gb * 2**30),
        threads=threads_per_worker(args.workers),
        sandbox=not args.no_sandbox,
    )
    from dlci_grader.isolation.sandbox import support

    executor = _cluster(args)
    if executor is None:
        print(
            support().describe() if limits.sandbox else "sandbox: off (--no-sandbox)",
            file=sys.stderr,
        )
    elif not limits.sandbox:
        print("sandbox: off on every worker (--no-sandbox)", file=sys.stderr)
    data_root = resolve_data_root(args.root)
    expected = report.read_expected(args.expected) if args.expected else None
    try:
        roster = Roster.read(args.roster) if args.roster else None
    except (OSError, ValueError) as exc:
        raise SystemExit(f"dlci grade: {exc}") from exc
    submissions = args.submissions or str(Path(args.course) / "submitted")
    if not Path(submissions).exists():
        raise SystemExit(f"dlci grade: {submissions} not found (nothing collected to grade)")
    try:
        run = grade_class(
            submissions, args.course, args.solutions, args.tasks or None, args.workers, limits,
            args.force, data_root=data_root, progress=not args.quiet, executor=executor,
            expected=expected, roster=roster,
        )
    except CourseMismatch as exc:
        raise SystemExit(f"dlci grade: {exc}; nothing was graded") from exc
    if executor is not None:
        for worker in executor.workers.values():
            print(f"worker {worker['host']}: {worker['sandbox']}", file=sys.stderr)
        used = Counter(r.host for r in run.graded if r.host)
        print(
            "graded by: " + ", ".join(f"{host} {n}" for host, n in sorted(used.items())),
            file=sys.stderr
        )
    course = Course(args.course)
    for warning in run.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if course.instructors_own and not refused_in(course.root):
        print(
            f"note: plain `nbgrader autograde` still runs the tests inside the student's kernel "
            f"in {course.root} (the untrusted path); to refuse it there, add "
            f"`c.Autograde.exporter_class = {REFUSE_IN_KERNEL!r}` to its nbgrader_config.py "
            "(the hub's instructor image sets it)",
            file=sys.stderr,
        )
    table = report.rows(run.results, course.db)
    csv_path = report.write_csv(args.csv or course.root / "grades.csv", table)
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
    margin = report.timeout_margin(run.graded, limits.cell_timeout)
    if margin:
        print(margin)
    if expected is not None:
        problems = report.compare(expected, table)
        for problem in problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        return 1 if problems else 0
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci grade`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "grade",
        help="autograde a class's submissions with nbgrader; gradebook, grades.csv (instructors)",
        description=(
            "Autograde every submission (a folder with one subfolder per student, nbgrader's "
            "submitted/, Moodle's folders per participant, Canvas's flat download, Gradescope's "
            "export, or a zip of any) into an nbgrader course folder, the kit's or the "
            "instructor's own (its configuration, sources and release are left as they are): "
            "scores in its gradebook.db, a CSV of points per student, task and question, and a "
            "summary. "
            "Notebooks already graded (same file) are skipped unless --force; every file "
            "skipped is named in a warning."
        ),
    )
    p.add_argument(
        "submissions", nargs="?",
        help="folder or .zip: one subfolder per student, or an LMS download (Moodle, Canvas, "
        "Gradescope) (default: the course's submitted/, what `nbgrader collect` gathered)",
    )
    p.add_argument(
        "--roster", metavar="CSV",
        help=f"CSV with columns {LMS_ID_COLUMN},{STUDENT_COLUMN}: an id the LMS names a student "
        "by (Canvas user id, Moodle participant id, Gradescope SID or email) and the course's "
        "student id; a submission whose id is not in it, or is there for two students, is not "
        "graded (warned)",
    )
    add_course_option(p)
    add_solutions_option(p)
    p.add_argument("--tasks", nargs="*", metavar="TASK", help="grade only these tasks, e.g. task1")
    p.add_argument(
        "--workers", type=int, default=None,
        help="notebooks at once (default: cores); with --cluster, notebooks handed to the cluster "
        "at once (default: twice its worker threads)",
    )
    p.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT,
                   help=f"seconds per cell (default {CELL_TIMEOUT})")
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
        help="run kernels without the sandbox (files, network, signals, processes)",
    )
    p.add_argument("--csv", help="where to write the CSV (default: COURSE/grades.csv)")
    p.add_argument(
        "--expected",
        help="expected.csv from `dlci sample-class`: compare, exit 1 on any difference",
    )
    p.add_argument("--force", action="store_true", help="grade again what is already graded")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    cluster = p.add_argument_group(
        "grading on a Dask cluster",
        "Grade on the workers of a Dask scheduler (dask worker ... --nthreads 1 --resources "
        "notebook=1, started from the instructor image) instead of this machine; this machine "
        "writes the course. See autograder/deploy/dask.md.",
    )
    cluster.add_argument(
        "--cluster", metavar="ADDRESS", help="the scheduler, e.g. tcp://10.0.0.5:8786 or tls://...",
    )
    cluster.add_argument(
        "--scheduler-file", metavar="FILE",
        help="the scheduler's --scheduler-file (instead of --cluster)",
    )
    cluster.add_argument("--tls-ca-file", metavar="PEM", help="CA of the scheduler's mutual TLS")
    cluster.add_argument("--tls-cert", metavar="PEM", help="this client's TLS certificate")
    cluster.add_argument("--tls-key", metavar="PEM", help="this client's TLS private key")
    cluster.add_argument(
        "--worker-root", metavar="DIR",
        help=(
            "course data root on the workers (default: each worker's $DLCI_DATA, else its default)"
        ),
    )
    p.set_defaults(func=_run)
