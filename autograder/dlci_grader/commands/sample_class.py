"""``dlci sample-class``: a generated class with expected scores
(:mod:`dlci_grader.samples.sample_class`)."""

from __future__ import annotations

import argparse

from dlci_grader.commands import add_solutions_option
from dlci_grader.samples.sample_class import sample_class, write_class
from dlci_grader.tasks import load_tasks


def _run(args: argparse.Namespace) -> int:
    subs = sample_class(args.solutions, args.notebooks, args.tasks or None, attacks=args.attacks)
    tasks = load_tasks(args.solutions, args.tasks or None)
    out = write_class(args.out, subs, tasks, args.zip)
    students = sorted({s.student for s in subs})
    print(
        f"wrote {len(subs)} notebooks of {len(students)} students to {out}/ (expected scores: "
        f"{out / 'expected.csv'})"
    )
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci sample-class`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "sample-class",
        help="generate a sample class of submissions with expected scores (instructors)",
        description="Generate a class of submissions (right, wrong and broken) from the solutions.",
    )
    p.add_argument(
        "out", nargs="?", default="sample_class",
        help="folder to write (emptied first; default sample_class)",
    )
    add_solutions_option(p)
    p.add_argument(
        "--notebooks", default="notebooks", help="released notebooks (default: notebooks)",
    )
    p.add_argument("--tasks", nargs="*", metavar="TASK", help="only these tasks (default: all)")
    p.add_argument("--zip", help="also write the class as a zip, as an LMS exports it")
    p.add_argument(
        "--attacks", action="store_true",
        help="add the adversarial suite (attack-*: submissions that try to cheat or break the "
            "grader)",
    )
    p.set_defaults(func=_run)
