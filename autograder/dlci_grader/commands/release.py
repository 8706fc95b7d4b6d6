"""``dlci release``: the student notebooks from ``solutions/``
(:mod:`dlci_grader.nbgrader.release`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dlci_grader.commands import add_solutions_option
from dlci_grader.nbgrader.release import check_release, release_all


def _run(args: argparse.Namespace) -> int:
    if args.check:
        problems = check_release(args.solutions, args.out, args.names)
        for name, diff in problems.items():
            print(f"{name}: out of sync with {args.solutions} ({'; '.join(diff)})")
        if problems:
            print("run `dlci release` to regenerate")
            return 1
        print(f"{args.out}/ is in sync with {args.solutions}/")
        return 0
    for path in release_all(args.solutions, args.out, args.names, args.nbgrader_release):
        print(f"released {path}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci release`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "release",
        help="make the student notebooks from solutions/ with nbgrader (instructors)",
        description="Make the student notebooks from the nbgrader source notebooks (solutions/).",
    )
    p.add_argument("names", nargs="*", help="notebooks to release (default: all in --solutions)")
    add_solutions_option(p)
    p.add_argument("--out", default="notebooks", help="student notebooks (default: notebooks)")
    p.add_argument(
        "--nbgrader-release",
        metavar="DIR",
        help="also write nbgrader's release/<assignment>/ layout under DIR",
    )
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if --out is out of sync"
    )
    p.set_defaults(func=_run)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``release`` on its own (``python -m dlci_grader.nbgrader.release``)."""
    parser = argparse.ArgumentParser(prog="dlci")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["release", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
