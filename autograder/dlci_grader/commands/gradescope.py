"""``dlci gradescope``: build Gradescope autograder zips (:mod:`dlci_grader.gradescope.build`) and
run one on this machine as Gradescope would (:mod:`dlci_grader.gradescope.local`)."""

from __future__ import annotations

import argparse
import json

from dlci_grader.commands import add_solutions_option
from dlci_grader.gradescope.settings import VISIBILITIES, Settings
from dlci_grader.isolation.limits import CELL_TIMEOUT


def _build(args: argparse.Namespace) -> int:
    from dlci_grader.gradescope.build import build_zips

    settings = Settings(
        task="", notebook="", cell_timeout=args.cell_timeout,
        notebook_timeout=max(60, int(args.timeout_minutes * 60) - 120), memory_gb=args.memory_gb,
        threads=args.threads, visible=args.visible, hidden=args.hidden, user=args.user,
        data_root=args.data_root,
    )
    for path in build_zips(args.out, args.solutions, args.tasks or None, settings):
        print(f"wrote {path}")
    print(
        "Gradescope: a Programming Assignment per zip, autograder timeout "
        f"{args.timeout_minutes:g} min "
        f"and at least {args.memory_gb + 0.5:g} GB of memory (Settings -> Autograder); written "
        "answers "
        "as manually graded questions worth their points (see "
        "docs/instructors/gradescope-and-lms.md)."
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from dlci_grader.gradescope.local import run_local

    done = run_local(args.zip, args.files, data_root=args.root, keep=args.keep)
    print(done.stdout.rstrip())
    if args.json:
        print(json.dumps(done.results, indent=1))
    return 0 if done.returncode == 0 else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci gradescope build|run`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "gradescope",
        help="Gradescope autograder zips that grade as `dlci grade` does (instructors)",
        description="Build one Gradescope autograder zip per task, or run a built zip locally.",
    )
    sub = p.add_subparsers(dest="gradescope_command", required=True)
    b = sub.add_parser("build", help="write one autograder zip per task")
    b.add_argument("--out", default="gradescope", help="folder for the zips (default: gradescope)")
    add_solutions_option(b)
    b.add_argument("--tasks", nargs="*", metavar="TASK", help="only these tasks, e.g. task1")
    b.add_argument("--cell-timeout", type=int, default=CELL_TIMEOUT,
                   help=f"seconds per cell (default {CELL_TIMEOUT})")
    b.add_argument(
        "--timeout-minutes", type=float, default=40,
        help="the assignment's Gradescope autograder timeout; the notebook limit is 2 min less "
            "(default 40)",
    )
    b.add_argument(
        "--memory-gb", type=float, default=2.5, help="memory cap per process, GiB (default 2.5)",
    )
    b.add_argument("--threads", type=int, default=2, help="torch threads in the kernel (default 2)")
    b.add_argument(
        "--visible", choices=VISIBILITIES, default="visible", help="visible tests' results",
    )
    b.add_argument(
        "--hidden", choices=VISIBILITIES, default="after_published",
        help="hidden tests' results (default after_published: shown when the instructor publishes)",
    )
    b.add_argument(
        "--user", default="dlci-student",
        help="unprivileged user for the kernel (default dlci-student)"
    )
    b.add_argument(
        "--data-root", default="/autograder/data",
        help="course data on Gradescope (default /autograder/data)",
    )
    b.set_defaults(func=_build)
    r = sub.add_parser("run", help="grade files with a built zip here, laid out as on Gradescope")
    r.add_argument("zip", help="an autograder zip from `dlci gradescope build`")
    r.add_argument("files", nargs="+", help="the submission's files (usually one notebook)")
    r.add_argument("--root", help="course data root (default: $DLCI_DATA, else the zip's setting)")
    r.add_argument("--keep", help="copy the autograder folder (results, logs) here")
    r.add_argument("--json", action="store_true", help="print results.json")
    r.set_defaults(func=_run)
