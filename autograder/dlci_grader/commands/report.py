"""``dlci report``: the class report of a graded course
(:mod:`dlci_grader.insight.class_report`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dlci_grader.commands import add_course_option


def _run(args: argparse.Namespace) -> int:
    from dlci_grader.insight import class_report, similarity
    from dlci_grader.nbgrader.course import Course
    from dlci_grader.run.report import read_csv

    grades = Path(args.csv) if args.csv else Path(args.course) / "grades.csv"
    if not grades.is_file():
        print(f"error: {grades} not found: grade the course first (dlci grade ... --course "
              f"{args.course}), or name the CSV it wrote (--csv)", file=sys.stderr)
        return 2
    report = class_report.build(read_csv(grades), args.tasks)
    if not report.tasks:
        print(f"error: {grades} holds no grades" + (f" for {', '.join(args.tasks)}"
              if args.tasks else ""), file=sys.stderr)
        return 2
    if args.past is not None and not Path(args.past).is_dir():
        print(f"error: --past {args.past}: no such folder", file=sys.stderr)
        return 2
    threshold = similarity.THRESHOLD if args.threshold is None else args.threshold
    similar = {} if args.no_similarity else class_report.similar_answers(
        Course(args.course), report, Path(args.past) if args.past else None, threshold,
    )
    out = Path(args.out) if args.out else Path(args.course) / "report"
    title = args.title or f"Class report: {Path(args.course).resolve().name}"
    written = class_report.write(report, out, title, anonymous=args.anonymous, similar=similar)
    for stats in report.tasks:
        low = [q.question for q in report.questions if q.task == stats.task and q.low]
        print(f"{stats.task}: {stats.students} students, mean {stats.mean:.1f}/"
              f"{stats.max_points:g}, median {stats.median:g}, SD {stats.sd:.1f}"
              + (f"; low discrimination: {', '.join(low)}" if low else ""))
        made = [m for m in report.mistakes if m.task == stats.task]
        if made:
            print("  named mistakes: " + ", ".join(f"{m.mistake} {m.count}" for m in made))
        if stats.task in similar:
            listing = similar[stats.task]
            print(f"  similar answers: {len(listing.pairs)} pairs listed (score >= "
                  f"{listing.threshold:g}) of {listing.students} submissions"
                  + (f" and {listing.past} of past terms" if listing.past else "")
                  + (f"; not readable: {', '.join(listing.unread)}" if listing.unread else ""))
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci report`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "report",
        help="the class report of a graded course: scores, each test's pass rate and "
             "discrimination, problems (instructors)",
        description=(
            "Write the class report from the course's grades.csv: report.html (self-contained, "
            "opens offline), report.csv (one row per test cell), mistakes.csv (one row per named "
            "mistake the class made), similarity.csv (pairs of students whose answer code shares "
            "rare fragments), report.json and each task's histogram as a PNG."
        ),
    )
    add_course_option(p)
    p.add_argument(
        "--csv", help="the grades.csv `dlci grade` wrote (default: COURSE/grades.csv)",
    )
    p.add_argument("--tasks", nargs="*", metavar="TASK", help="only these tasks (default: all)")
    p.add_argument("--out", help="folder for the report's files (default: COURSE/report)")
    p.add_argument("--title", help="the page's title")
    p.add_argument(
        "--anonymous", action="store_true",
        help="leave student ids out (the problems list counts, the JSON keeps no names)",
    )
    p.add_argument(
        "--past", metavar="FOLDER",
        help="past terms' notebooks to compare this term's answers with: a folder searched for "
             "<task>_*.ipynb, or a past term's nbgrader course (its submitted/ is read)",
    )
    p.add_argument(
        "--threshold", type=float,
        help="list a pair of students when their shared rare answer code scores this or more "
             "(default: dlci_grader.insight.similarity.THRESHOLD, about four or five lines of "
             "code that few others wrote)",
    )
    p.add_argument(
        "--no-similarity", action="store_true", help="leave the similar answers out",
    )
    p.set_defaults(func=_run)
