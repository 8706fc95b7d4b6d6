"""``dlci feedback``: per-student HTML feedback (:mod:`dlci_grader.nbgrader.feedback`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dlci_grader.commands import add_course_option
from dlci_grader.nbgrader.feedback import generate_feedback


def _run(args: argparse.Namespace) -> int:
    written = generate_feedback(args.course, args.students or None)
    print(f"wrote {len(written)} feedback files under {Path(args.course).resolve() / 'feedback'}/")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci feedback`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "feedback",
        help="per-student HTML feedback (scores, visible tests; hidden tests not shown) "
            "(instructors)",
        description=(
            "Write HTML feedback for every graded notebook with nbgrader generate_feedback."
        ),
    )
    add_course_option(p)
    p.add_argument("--students", nargs="*", metavar="STUDENT", help="only these students")
    p.set_defaults(func=_run)
