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

The course may be the kit's (made by ``dlci grade``) or an instructor's own nbgrader course
(``~/course`` on the hub: ``nbgrader generate_assignment``, ``release_assignment``,
``collect``). Into the instructor's the kit writes only what grading writes (the gradebook's
scores, ``submitted/``, ``autograded/``, ``.dlci/``): never its ``nbgrader_config.py``, its
``source/`` or its ``release/``, and it grades only the assignments the course has, each of
which must hold the kit's graded cells (:meth:`Course.prepare`).
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
from dlci_grader.nbgrader.config import kit_owns_config, write_course_config
from dlci_grader.nbgrader.gradebook import assignment_names, write_lms_ids, write_result
from dlci_grader.nbgrader.template import NBFORMAT_VERSION, Template
from dlci_grader.verdicts.results import NotebookResult, graded_cells
from starter.hashing import sha256_file

if TYPE_CHECKING:
    from dlci_grader.tasks import Task


COLLECTED_FILES = ("timestamp.txt", "submission_secret.txt")
"""Files ``nbgrader collect`` puts beside a submission, which nbgrader's autograde copies to
``autograded/`` and its ``release_feedback`` reads from there: the kit's store copies them too."""


class CourseMismatch(ValueError):
    """An instructor's nbgrader course that the kit cannot grade as it is (the message says
    what to do); nothing was graded or written."""


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

    @property
    def instructors_own(self) -> bool:
        """An nbgrader course the instructor made (:func:`kit_owns_config` False): graded into,
        its configuration, sources and release never written."""
        return not kit_owns_config(self.root)

    def gradable(self, tasks: Mapping[str, Task], chosen: bool) -> dict[str, Task]:
        """The tasks to grade into this course: all of ``tasks`` in the kit's course; in an
        instructor's, those whose assignment it holds (every one of them when the instructor
        ``chosen`` them, else :class:`CourseMismatch` names what is missing)."""
        if not self.instructors_own:
            return dict(tasks)
        held = {k: t for k, t in tasks.items() if self.source_path(t.notebook).is_file()}
        missing = sorted(t.notebook for k, t in tasks.items() if k not in held)
        if (chosen and missing) or not held:
            raise CourseMismatch(
                f"{self.root} is an nbgrader course without the assignment "
                f"{', '.join(missing)} (no source/<assignment>/<assignment>.ipynb): add it and "
                "run `nbgrader generate_assignment` there first, or grade only the tasks it has "
                "(--tasks)"
            )
        return held

    def _check_instructors_own(self, tasks: Mapping[str, Task]) -> None:
        """Each assignment of an instructor's course holds the kit's graded cells (ids, points,
        by hand or not) and is in its gradebook: else :class:`CourseMismatch`."""
        in_gradebook = assignment_names(self.db) if self.db.is_file() else set()
        for task in tasks.values():
            ours = graded_cells(read_notebook(task.source))
            theirs = graded_cells(read_notebook(self.source_path(task.notebook)))
            if ours != theirs:
                changed = sorted(set(ours) ^ set(theirs)) or sorted(
                    n for n in ours if ours[n] != theirs[n]
                )
                raise CourseMismatch(
                    f"{self.source_path(task.notebook)} is not the kit's {task.source.name}: its "
                    f"graded cells differ ({', '.join(changed)}); the kit's grader scores the "
                    "kit's cells, so put the kit's source notebook there and run "
                    "`nbgrader generate_assignment` again"
                )
            if task.notebook not in in_gradebook:
                raise CourseMismatch(
                    f"{task.notebook} is not in {self.db}: run `nbgrader generate_assignment "
                    f"{task.notebook}` in {self.root} first"
                )

    def prepare(self, tasks: Mapping[str, Task]) -> None:
        """Make the course and the worker template know every task's current source notebook.

        Runs ``nbgrader generate_assignment`` only for sources that are new or changed since the
        last run (their sha256 is kept in the ledger's template digests). An instructor's own
        course is only checked (:meth:`_check_instructors_own`), never written.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        theirs = self.instructors_own
        if theirs:
            self._check_instructors_own(tasks)
        main = NbgraderCourse(self.root, create=not theirs)  # the kit's: writes its config
        known = self.ledger.template_digests()
        changed = [t for t in tasks.values() if known.get(t.notebook) != sha256_file(t.source)]
        if not (self.template / "gradebook.db").is_file():
            changed = list(tasks.values())
        template = NbgraderCourse(self.template)
        for task in changed:
            template.add_source(task.source, assignment=task.notebook, name=task.notebook)
            template.generate_assignment(task.notebook)
            known[task.notebook] = sha256_file(task.source)
        if not theirs:  # the instructor's sources, release and gradebook are nbgrader's
            self._write_sources(main, tasks, changed)
        self.ledger.keep_template_digests(known)

    def _write_sources(
        self, main: NbgraderCourse, tasks: Mapping[str, Task], changed: list[Task],
    ) -> None:
        """The kit's course: every task's source and release, a new gradebook from the
        template's, or the changed sources generated again."""
        if not self.db.is_file():
            for task in tasks.values():
                main.add_source(task.source, assignment=task.notebook, name=task.notebook)
                release = self.root / "release" / task.notebook
                shutil.copytree(
                    self.task_template(task.notebook).release_folder, release, dirs_exist_ok=True,
                )
            shutil.copyfile(self.template / "gradebook.db", self.db)
        else:
            for task in changed:
                main.add_source(task.source, assignment=task.notebook, name=task.notebook)
                main.generate_assignment(task.notebook)

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
            path = self.autograded_path(result.student, result.notebook)
            atomic_write(path, autograded)
            # what nbgrader collect keeps beside the notebook and release_feedback reads
            submitted = self.submitted_path(result.student, result.notebook).parent
            for name in COLLECTED_FILES:
                if (submitted / name).is_file():
                    shutil.copyfile(submitted / name, path.parent / name)
        else:
            self.autograded_path(result.student, result.notebook).unlink(missing_ok=True)
        write_result(self.db, result)
