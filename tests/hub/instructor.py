"""What the instructor runs in their own account on the hub: release, then collect and grade.

Run as the instructor Unix user (``runuser -u dlci-instructor -- python -m hub.instructor ...``
with ``tests/`` on PYTHONPATH), with the instructor's Jupyter config on JUPYTER_CONFIG_PATH,
which names the shared exchange. The course folder is the one :mod:`dlci_grader` lays out.

    python -m hub.instructor release COURSE_ROOT solutions/task1_backprop_inpainting.ipynb
    python -m hub.instructor grade COURSE_ROOT task1_backprop_inpainting STUDENT [STUDENT ...]

``grade`` prints one JSON object: student -> {cell grade_id: [score, max_score, manual]}.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

from dlci_grader.nbgrader.course import NbgraderCourse
from dlci_grader.nbgrader.gradebook import read_submission
from dlci_grader.verdicts.results import graded_cells
from starter.env_vars import GRADING_ENV_VAR


def release(root: Path, solution: Path) -> None:
    """Put the source notebook in the course, generate the student version, release it."""
    course = NbgraderCourse(root)
    name = solution.stem
    course.add_source(solution, assignment=name, name=name)
    course.generate_assignment(name)
    course.run("release_assignment", name, "--force")


def grade(root: Path, assignment: str, students: Sequence[str]) -> dict[str, dict]:
    """Collect, autograde in grading mode, generate and release feedback; return the scores."""
    course = NbgraderCourse(root)
    course.run("collect", assignment)
    course.autograde(assignment, env={GRADING_ENV_VAR: "1"})
    course.run("generate_feedback", assignment, "--force")
    course.run("release_feedback", assignment)
    source = nbformat.read(str(course.source_path(assignment)), 4)
    manual = {name for name, (_, by_hand) in graded_cells(source).items() if by_hand}
    scores = {}
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
    p.add_argument("students", nargs="+")
    args = parser.parse_args(argv)
    if args.verb == "release":
        release(args.root, args.solution)
    else:
        json.dump(grade(args.root, args.assignment, args.students), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
