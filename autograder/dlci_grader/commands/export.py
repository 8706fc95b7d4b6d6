"""``dlci export canvas|moodle``: the course's grades as the LMS's gradebook import CSV
(:mod:`dlci_grader.lms`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dlci_grader.commands import add_course_option


def _run(args: argparse.Namespace) -> int:
    from dlci_grader.lms import export

    columns = {}
    for item in args.column or []:
        task, _, title = item.partition("=")
        if not title:
            print(f"error: --column takes TASK=TITLE, got {item!r}", file=sys.stderr)
            return 2
        columns[task] = title
    done = export(args.lms, args.course, args.roster, args.key, columns)
    out = Path(args.out or f"{args.lms}_grades.csv")
    out.write_text(done.csv)
    report = done.report()
    report_path = out.with_suffix(".report.txt")
    report_path.write_text(report + ("\n" if report else ""))
    print(
        f"wrote {done.rows} students to {out} (import it in {args.lms.capitalize()}: see "
        "docs/instructors/gradescope-and-lms.md)"
    )
    if report:
        print(report, file=sys.stderr)
        print(f"(also in {report_path})", file=sys.stderr)
    return 1 if done.unmatched_students else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci export`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "export",
        help="the grades as a Canvas or Moodle gradebook import CSV (instructors)",
        description=(
            "Write the LMS's gradebook import CSV from the course's gradebook.db: one row per "
            "roster entry, one column per task. Kit students missing from the roster and roster "
            "entries without grades are listed (exit 1 when a graded student is not in the roster)."
        ),
    )
    p.add_argument("lms", choices=("canvas", "moodle"))
    add_course_option(p)
    p.add_argument(
        "--roster", required=True,
        help="roster CSV: the LMS's identity columns, as downloaded: Canvas's gradebook export "
        "(its ID is matched to the Canvas user id `dlci grade` kept), Moodle's grading worksheet "
        "(its Identifier, `Participant 123456`, to the participant id); a `student` column with "
        "the kit's student id, if there, matches first",
    )
    p.add_argument(
        "--key",
        help="Canvas: sis_user_id (default), login_id, id; Moodle: email (default), idnumber",
    )
    p.add_argument(
        "--column", action="append", metavar="TASK=TITLE", help="LMS column title of a task",
    )
    p.add_argument("--out", help="where to write (default: LMS_grades.csv)")
    p.set_defaults(func=_run)
