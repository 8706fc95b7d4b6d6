"""What the instructor runs in their own account on the hub: the deploy guide's course round.

Run as the instructor Unix user (``runuser -u dlci-instructor -- python -m hub.instructor ...``
with ``tests/`` on PYTHONPATH), with the instructor's Jupyter config on JUPYTER_CONFIG_PATH
(which names the shared exchange, refuses plain ``nbgrader autograde`` and hides hidden tests
in feedback) and DLCI_COURSE_ROOT, as the instructor image sets them. The course is the
instructor's own nbgrader course (no ``nbgrader_config.py`` of the kit's), command for command
as ``autograder/deploy/README.md`` gives it:

    python -m hub.instructor release COURSE_ROOT solutions/task1_backprop_inpainting.ipynb
        # nbgrader generate_assignment, release_assignment
    python -m hub.instructor grade COURSE_ROOT task1_backprop_inpainting
        # nbgrader collect; nbgrader autograde (must be refused); dlci grade
    # ... the written answers are scored in the formgrader (the test does it in a browser) ...
    python -m hub.instructor feedback COURSE_ROOT task1_backprop_inpainting STUDENT [STUDENT ...]
        # nbgrader generate_feedback, release_feedback

``grade`` prints one JSON object: ``refused``: what plain ``nbgrader autograde`` said,
``graded``: what ``dlci grade`` printed; ``feedback`` prints student -> {cell grade_id:
[score, max_score, manual]} from the gradebook.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

from dlci_grader.nbgrader.course import NbgraderCourse
from dlci_grader.nbgrader.gradebook import read_submission
from dlci_grader.verdicts.results import graded_cells


def release(root: Path, solution: Path) -> None:
    """Put the source notebook in the course, generate the student version, release it."""
    course = NbgraderCourse(root, create=False)  # the hub's configuration, none of the kit's
    name = solution.stem
    course.add_source(solution, assignment=name, name=name)
    course.run("generate_assignment", name)
    course.run("release_assignment", name)


def grade(root: Path, assignment: str) -> dict[str, Any]:
    """Collect; try plain autograde (refused); grade with ``dlci grade``."""
    course = NbgraderCourse(root, create=False)
    course.run("collect", assignment)
    untrusted = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", assignment],
        cwd=root, capture_output=True, text=True,
    )
    if untrusted.returncode == 0:
        raise SystemExit("plain nbgrader autograde ran on the course: it must be refused")
    trusted = subprocess.run([sys.executable, "-m", "starter.cli", "grade", "--quiet"],
                             capture_output=True, text=True)  # --course: $DLCI_COURSE_ROOT
    if trusted.returncode != 0:
        raise SystemExit(f"dlci grade failed:\n{trusted.stdout}\n{trusted.stderr}")
    return {"refused": untrusted.stdout + untrusted.stderr, "graded": trusted.stdout}


def feedback(root: Path, assignment: str, students: Sequence[str]) -> dict[str, Any]:
    """Generate and release feedback; return the gradebook's scores (manual ones included)."""
    course = NbgraderCourse(root, create=False)
    course.run("generate_feedback", assignment)
    course.run("release_feedback", assignment)
    source = nbformat.read(str(course.source_path(assignment)), 4)
    manual = {name for name, (_, by_hand) in graded_cells(source).items() if by_hand}
    scores: dict[str, Any] = {}
    for student in students:
        cells = read_submission(course.db, assignment, assignment, student)
        scores[student] = {
            name: [cell.score, cell.max_score, name in manual] for name, cell in cells.items()
        }
    return scores


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub.instructor")
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("release")
    p.add_argument("root", type=Path)
    p.add_argument("solution", type=Path)
    p = sub.add_parser("grade")
    p.add_argument("root", type=Path)
    p.add_argument("assignment")
    p = sub.add_parser("feedback")
    p.add_argument("root", type=Path)
    p.add_argument("assignment")
    p.add_argument("students", nargs="+")
    args = parser.parse_args(argv)
    if args.verb == "release":
        release(args.root, args.solution)
    elif args.verb == "grade":
        json.dump(grade(args.root, args.assignment), sys.stdout)
    else:
        json.dump(feedback(args.root, args.assignment, args.students), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
