"""The instructor's nbgrader course folder, kept across grading runs.

Layout (``--course DIR``, default ``./course``)::

    DIR/nbgrader_config.py        course root and id (formgrader reads it)
    DIR/gradebook.db              nbgrader's gradebook: every score, manual ones included
    DIR/source/<nb>/<nb>.ipynb    the solutions, one assignment per task notebook
    DIR/release/<nb>/<nb>.ipynb   what students got
    DIR/submitted/<student>/<nb>/<nb>.ipynb    what they handed in
    DIR/autograded/<student>/<nb>/<nb>.ipynb   executed and scored
    DIR/feedback/<student>/<nb>/<nb>.html      (dlci feedback)
    DIR/.dlci/template/           a clean course with only the assignments (copied per worker)
    DIR/.dlci/done/<student>/<task>.json       one marker per graded notebook (resume)

Workers never touch ``gradebook.db``: each grades in a private copy of the template, and
:meth:`Course.record` merges its result here, one at a time, through nbgrader's ``Gradebook``
API; the marker is written (atomically) only after the scores are committed. A grading run that
is killed therefore loses at most the notebooks that were running, and a re-run skips every
notebook that has a marker for the same file (same sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import nbformat

from dlci_grader.nbgrader_course import NbgraderCourse
from dlci_grader.tasks import Task
from dlci_grader.worker import NotebookResult


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Course:
    """An nbgrader course folder at ``root`` with the kit's grading state (see module doc)."""

    def __init__(self, root: str | Path = "course") -> None:
        self.root = Path(root).resolve()
        self.state = self.root / ".dlci"
        self.template = self.state / "template"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def prepare(self, tasks: Mapping[str, Task]) -> None:
        """Make the course and the worker template know every task's current source notebook.

        Runs ``nbgrader generate_assignment`` only for sources that are new or changed since the
        last run (their sha256 is kept in ``.dlci/sources.json``).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        from dlci_grader.feedback import configure

        main = NbgraderCourse(self.root)  # writes nbgrader_config.py
        configure(self)
        known_path = self.state / "sources.json"
        known = json.loads(known_path.read_text()) if known_path.is_file() else {}
        changed = [t for t in tasks.values() if known.get(t.notebook) != _digest(t.source)]
        if not (self.template / "gradebook.db").is_file():
            changed = list(tasks.values())
        template = NbgraderCourse(self.template)
        for task in changed:
            template.add_source(task.source, assignment=task.notebook, name=task.notebook)
            template.generate_assignment(task.notebook)
            known[task.notebook] = _digest(task.source)
        if not (self.root / "gradebook.db").is_file():
            for task in tasks.values():
                main.add_source(task.source, assignment=task.notebook, name=task.notebook)
                release = self.root / "release" / task.notebook
                shutil.copytree(self.template / "release" / task.notebook, release, dirs_exist_ok=True)
            shutil.copyfile(self.template / "gradebook.db", self.root / "gradebook.db")
        else:
            for task in changed:
                main.add_source(task.source, assignment=task.notebook, name=task.notebook)
                main.generate_assignment(task.notebook)
        atomic_write(known_path, json.dumps(known, indent=1).encode())

    def release_ids(self, tasks: Mapping[str, Task]) -> dict[str, set[str]]:
        """Task key -> the ids of its released notebook's nbgrader cells (tests, answers, locked)."""
        ids = {}
        for key, task in tasks.items():
            release = nbformat.read(str(self.template / "release" / task.notebook / f"{task.notebook}.ipynb"), 4)
            ids[key] = {
                c.metadata["nbgrader"]["grade_id"]
                for c in release.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            }
        return ids

    # --- resume markers --------------------------------------------------------------------

    def marker(self, student: str, task: str) -> Path:
        return self.state / "done" / student / f"{task}.json"

    def done(self, student: str, task: str, digest: str) -> NotebookResult | None:
        """The recorded result for this exact file (same sha256), or None if not graded yet."""
        path = self.marker(student, task)
        if not path.is_file():
            return None
        result = NotebookResult.from_json(path.read_text())
        return result if result.digest == digest else None

    def results(self) -> list[NotebookResult]:
        """Every recorded result, by student then task."""
        return [
            NotebookResult.from_json(p.read_text())
            for p in sorted((self.state / "done").glob("*/*.json"))
        ]

    # --- recording -------------------------------------------------------------------------

    def submitted_path(self, student: str, notebook: str) -> Path:
        return self.root / "submitted" / student / notebook / f"{notebook}.ipynb"

    def autograded_path(self, student: str, notebook: str) -> Path:
        return self.root / "autograded" / student / notebook / f"{notebook}.ipynb"

    def record(self, result: NotebookResult, submission: Path | None, autograded: Path | None) -> None:
        """Copy the notebooks in, commit the scores to the gradebook, then write the marker.

        A manual score a grader already gave in formgrader is kept (nbgrader does the same when
        it autogrades again); the cell is then flagged for review if its automatic score changed.
        """
        from nbgrader.api import Gradebook

        if submission is not None:
            atomic_write(self.submitted_path(result.student, result.notebook), submission.read_bytes())
        if autograded is not None:
            atomic_write(self.autograded_path(result.student, result.notebook), autograded.read_bytes())
        else:
            self.autograded_path(result.student, result.notebook).unlink(missing_ok=True)
        with Gradebook(self.db_url, "dlci") as gradebook, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush warnings
            gradebook.update_or_create_student(result.student)
            gradebook.update_or_create_submission(result.notebook, result.student)
            for cell in result.cells:
                grade = gradebook.find_grade(cell.cell, result.notebook, result.notebook, result.student)
                auto = None if cell.needs_manual_grade and cell.manual else cell.points
                changed = grade.auto_score is not None and grade.auto_score != auto
                grade.auto_score = auto
                grade.needs_manual_grade = bool(
                    cell.needs_manual_grade or (grade.manual_score is not None and changed)
                )
            gradebook.db.commit()
        atomic_write(self.marker(result.student, result.task), result.to_json().encode())
