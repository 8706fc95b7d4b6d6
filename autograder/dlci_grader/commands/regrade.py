"""``dlci regrade``: judge named tests again after their check was corrected
(:mod:`dlci_grader.run.regrade`), print each changed score, log it, re-export on request."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dlci_grader.commands import add_course_option, add_solutions_option


def _run(args: argparse.Namespace) -> int:
    from dlci_grader.run import report
    from dlci_grader.run.job import resolve_data_root
    from dlci_grader.run.regrade import regrade

    try:
        run = regrade(
            args.course, args.tests, args.solutions, workers=args.workers,
            data_root=resolve_data_root(args.root), dry_run=args.dry_run,
            progress=not args.quiet,
        )
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for test, code in run.tests.items():
        old = ", ".join(d[:12] for d in code.old) or "not recorded"
        same = " (unchanged)" if code.old == (code.new,) else ""
        print(f"{test} ({code.task}): code {old} -> {code.new[:12]}{same}")
    for c in run.changes:
        print(f"  {c.student} {c.test}: {c.old_points:g} -> {c.new_points:g} ({c.how})"
              + (f": {c.new_reason}" if c.new_reason else ""))
    for student, task, why in run.failed:
        print(f"  KEPT {student} {task}: the regrade failed, the old score stands: {why}",
              file=sys.stderr)
    print(
        f"{len(run.changes)} scores changed; judged again from the kept answers: {run.judged}, "
        f"notebooks run again: {run.rerun}, failed (old score kept): {len(run.failed)}, in "
        f"{run.seconds:.1f} s"
        + (" (dry run: nothing written)" if args.dry_run else f"; logged in {run.log}")
    )
    if args.dry_run:
        return 1 if run.failed else 0
    from dlci_grader.nbgrader.course import Course

    course = Course(args.course)
    table = report.rows(course.results(), course.db)
    csv_path = report.write_csv(args.csv or course.root / "grades.csv", table)
    print(f"table in {csv_path}")
    if args.export:
        from dlci_grader.lms import export

        if not args.roster:
            print("error: --export needs --roster", file=sys.stderr)
            return 2
        done = export(args.export, args.course, args.roster, None, {})
        out = Path(args.out or f"{args.export}_grades.csv")
        out.write_text(done.csv)
        print(f"wrote {done.rows} students to {out} (import it in {args.export.capitalize()})")
    return 1 if run.failed else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci regrade`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "regrade",
        help="judge named tests again on every graded notebook after a check was corrected; "
             "logged (instructors)",
        description=(
            "After a test's check (dlci_grader/tasks/<task>/checks.py) or test cell "
            "(solutions/) was corrected: judge only the named tests again on every graded "
            "notebook of their task, from the answers the grader kept where it can, running a "
            "notebook again only where it must. Prints every changed score, appends the "
            "change to COURSE/regrade-log.jsonl (with the old and new digest of the code that "
            "judges each test), updates the gradebook, the feedback's verdicts and grades.csv. "
            "A notebook whose regrade fails keeps its score and is named (exit 1)."
        ),
    )
    p.add_argument("tests", nargs="+", metavar="TEST", help="grade ids of test cells")
    add_course_option(p)
    add_solutions_option(p, "the source notebooks' folder")
    p.add_argument("--workers", type=int, help="notebooks run again at once (default: cores)")
    p.add_argument("--root", help="course data for notebooks run again (default: $DLCI_DATA)")
    p.add_argument("--csv", help="where to write grades.csv (default: COURSE/grades.csv)")
    p.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    p.add_argument("--export", choices=("canvas", "moodle"), help="re-export to this LMS")
    p.add_argument("--roster", help="the LMS roster CSV, for --export (see dlci export)")
    p.add_argument("--out", help="where --export writes (default: LMS_grades.csv)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
