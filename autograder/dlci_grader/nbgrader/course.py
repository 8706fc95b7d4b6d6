"""nbgrader course folders: a throw-away one driven from Python, and the instructor's, kept
across grading runs with the kit's grading state.

nbgrader works on a course folder (``--course DIR``, default ``./course``)::

    DIR/nbgrader_config.py        course root and id (formgrader reads it;
                                  :mod:`~dlci_grader.nbgrader.config`)
    DIR/gradebook.db              nbgrader's gradebook: every score, manual ones included
    DIR/source/<nb>/<nb>.ipynb    the solutions, one assignment per task notebook
    DIR/release/<nb>/<nb>.ipynb   what students got
    DIR/submitted/<student>/<nb>/<nb>.ipynb    what they handed in
    DIR/autograded/<student>/<nb>/<nb>.ipynb   executed and scored
    DIR/feedback/<student>/<nb>/<nb>.html      (dlci feedback)
    DIR/.dlci/template/           a clean course with only the assignments (copied per worker;
                                  :mod:`~dlci_grader.nbgrader.template`)
    DIR/.dlci/done/, sources.json the ledger (:mod:`dlci_grader.ledger`)

:class:`NbgraderCourse` lays that out and runs ``nbgrader`` as a subprocess (its own process, so
the kernel inherits exactly the environment given). :class:`Course` is the instructor's: workers
never touch its ``gradebook.db``; each grades in a private copy of the template, and
:meth:`Course.store` merges its result, one at a time (:mod:`~dlci_grader.nbgrader.gradebook`).
What was graded, from which file, is the ledger's (:attr:`Course.ledger`), written after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from nbformat import NotebookNode

from dlci_grader.files import atomic_write
from dlci_grader.isolation.limits import CELL_TIMEOUT
from dlci_grader.ledger import Ledger
from dlci_grader.nbgrader.config import write_course_config
from dlci_grader.nbgrader.gradebook import write_lms_ids, write_result
from dlci_grader.nbgrader.template import NBFORMAT_VERSION, Template
from dlci_grader.verdicts.results import NotebookResult
from starter.hashing import sha256_file

if TYPE_CHECKING:
    from dlci_grader.tasks import Task


class NbgraderError(RuntimeError):
    """nbgrader exited with an error; the message holds the command and its log."""


def read_notebook(notebook: str | os.PathLike[str] | NotebookNode) -> NotebookNode:
    """A notebook given as a path or already read."""
    if isinstance(notebook, NotebookNode):
        return notebook
    return nbformat.read(str(notebook), as_version=NBFORMAT_VERSION)


class NbgraderCourse:
    """An nbgrader course folder at ``root``, and the nbgrader commands run on it.

    Args:
        root: the course folder (created, with its ``nbgrader_config.py``, when ``create``).
        cell_timeout: seconds each cell may run when nbgrader autogrades here.
        create: make the folder and write its config (False: an existing course, or one whose
            config someone else writes).
    """

    def __init__(
        self, root: str | os.PathLike[str], cell_timeout: int = CELL_TIMEOUT, create: bool = True,
    ) -> None:
        self.root = Path(root).resolve()
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
            write_course_config(self.root, cell_timeout)

    @classmethod
    @contextmanager
    def temporary(
        cls, keep: bool = False, cell_timeout: int = CELL_TIMEOUT,
    ) -> Iterator[NbgraderCourse]:
        """A course in a fresh temporary folder, removed afterwards unless ``keep``."""
        path = Path(tempfile.mkdtemp(prefix="dlci-nbgrader-"))
        try:
            yield cls(path, cell_timeout)
        finally:
            if not keep:
                shutil.rmtree(path, ignore_errors=True)

    # --- layout ---------------------------------------------------------------------------

    @property
    def db(self) -> Path:
        return self.root / "gradebook.db"

    def source_path(self, assignment: str, name: str | None = None) -> Path:
        return self.root / "source" / assignment / f"{name or assignment}.ipynb"

    def release_path(self, assignment: str, name: str | None = None) -> Path:
        return self.root / "release" / assignment / f"{name or assignment}.ipynb"

    def submitted_path(self, student: str, assignment: str, name: str | None = None) -> Path:
        return self.root / "submitted" / student / assignment / f"{name or assignment}.ipynb"

    def autograded_path(self, student: str, assignment: str, name: str | None = None) -> Path:
        return self.root / "autograded" / student / assignment / f"{name or assignment}.ipynb"

    def feedback_path(self, student: str, assignment: str, name: str | None = None) -> Path:
        return self.root / "feedback" / student / assignment / f"{name or assignment}.html"

    # --- nbgrader -------------------------------------------------------------------------
    def add_source(
        self,
        notebook: str | os.PathLike[str] | NotebookNode,
        assignment: str | None = None,
        name: str | None = None,
    ) -> Path:
        """Put an instructor notebook in ``source/<assignment>/<name>.ipynb``.

        ``assignment`` and ``name`` default to the notebook file's stem.
        """
        if name is None:
            if isinstance(notebook, NotebookNode):
                raise ValueError("give a name for a notebook passed as a NotebookNode")
            name = Path(notebook).stem
        assignment = assignment or name
        path = self.source_path(assignment, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(read_notebook(notebook), str(path))
        return path

    def run(
        self, *args: str, env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m nbgrader ARGS`` in the course folder; raise :class:`NbgraderError`."""
        command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={self.root}"]
        full_env = dict(os.environ)
        # nbgrader runs the `alembic` script from PATH: make this Python's scripts come first
        # (a virtual environment that is used without being activated).
        scripts = str(Path(sys.executable).parent)
        full_env["PATH"] = os.pathsep.join([scripts, full_env.get("PATH", "")])
        full_env.update(env or {})
        result = subprocess.run(
            command, cwd=self.root, env=full_env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise NbgraderError(
                f"{' '.join(command)} exited with {result.returncode}:\n"
                f"{result.stdout[-4000:]}{result.stderr[-8000:]}"
            )
        return result

    def generate_assignment(self, assignment: str) -> Path:
        """nbgrader generate_assignment: strip solutions and hidden tests; return the
        release folder."""
        self.run("generate_assignment", assignment, "--force")
        return self.root / "release" / assignment

    def submit(
        self,
        assignment: str,
        student: str,
        notebook: str | os.PathLike[str] | NotebookNode,
        name: str,
    ) -> Path:
        """Place a student's notebook in ``submitted/<student>/<assignment>/<name>.ipynb``."""
        path = self.submitted_path(student, assignment, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(read_notebook(notebook), str(path))
        return path

    def autograde(
        self, assignment: str, student: str | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """nbgrader autograde every submission of ``assignment`` (or one student's).

        ``env`` is added to this process's environment for nbgrader and the kernels it starts.
        """
        args = ["autograde", assignment, "--force"]
        if student is not None:
            args.append(f"--student={student}")
        return self.run(*args, env=env)

    def autograded_notebook(self, assignment: str, student: str, name: str) -> NotebookNode:
        """The executed notebook nbgrader scored (outputs and tracebacks included)."""
        path = self.autograded_path(student, assignment, name)
        return nbformat.read(str(path), as_version=NBFORMAT_VERSION)


class Course(NbgraderCourse):
    """An nbgrader course folder at ``root`` with the kit's grading state (see module doc)."""

    def __init__(self, root: str | os.PathLike[str] = "course") -> None:
        super().__init__(root, create=False)
        self.state = self.root / ".dlci"
        self.template = self.state / "template"
        self.ledger = Ledger(self.state)

    def task_template(self, notebook: str) -> Template:
        """The task's assignment in the worker template (:attr:`template`)."""
        return Template(self.template, notebook)

    def prepare(self, tasks: Mapping[str, Task]) -> None:
        """Make the course and the worker template know every task's current source notebook.

        Runs ``nbgrader generate_assignment`` only for sources that are new or changed since the
        last run (their sha256 is kept in the ledger's template digests).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        main = NbgraderCourse(self.root)  # writes nbgrader_config.py
        known = self.ledger.template_digests()
        changed = [t for t in tasks.values() if known.get(t.notebook) != sha256_file(t.source)]
        if not (self.template / "gradebook.db").is_file():
            changed = list(tasks.values())
        template = NbgraderCourse(self.template)
        for task in changed:
            template.add_source(task.source, assignment=task.notebook, name=task.notebook)
            template.generate_assignment(task.notebook)
            known[task.notebook] = sha256_file(task.source)
        if not (self.root / "gradebook.db").is_file():
            for task in tasks.values():
                main.add_source(task.source, assignment=task.notebook, name=task.notebook)
                release = self.root / "release" / task.notebook
                shutil.copytree(
                    self.task_template(task.notebook).release_folder, release, dirs_exist_ok=True,
                )
            shutil.copyfile(self.template / "gradebook.db", self.root / "gradebook.db")
        else:
            for task in changed:
                main.add_source(task.source, assignment=task.notebook, name=task.notebook)
                main.generate_assignment(task.notebook)
        self.ledger.keep_template_digests(known)

    def release_ids(self, tasks: Mapping[str, Task]) -> dict[str, dict[str, str]]:
        """Task key -> its released notebook's nbgrader cells (tests, answers, locked): grade id
        -> cell id."""
        return {key: self.task_template(task.notebook).release_ids() for key, task in tasks.items()}

    def results(self) -> list[NotebookResult]:
        """Every result the ledger recorded, by student then task."""
        return self.ledger.results()

    def record_lms_ids(self, lms_ids: Mapping[str, str]) -> None:
        """Keep each student's LMS id in the gradebook (student id -> the id the LMS's download
        named them by), for the grades' export (:mod:`dlci_grader.lms`)."""
        write_lms_ids(self.db, lms_ids)

    def store(
        self, result: NotebookResult, submission: bytes | None, autograded: bytes | None,
    ) -> None:
        """Store the notebooks and commit the scores to the gradebook (the caller marks the
        result done in the :attr:`ledger` after, only then)."""
        if submission is not None:
            atomic_write(self.submitted_path(result.student, result.notebook), submission)
        if autograded is not None:
            atomic_write(self.autograded_path(result.student, result.notebook), autograded)
        else:
            self.autograded_path(result.student, result.notebook).unlink(missing_ok=True)
        write_result(self.db, result)
