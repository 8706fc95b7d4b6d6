"""A throw-away nbgrader course directory, driven from Python with the real nbgrader.

nbgrader works on a course folder::

    <root>/nbgrader_config.py
    <root>/gradebook.db                               (created by nbgrader)
    <root>/source/<assignment>/<notebook>.ipynb       instructor version (solutions, hidden tests)
    <root>/release/<assignment>/<notebook>.ipynb      student version (generate_assignment)
    <root>/submitted/<student>/<assignment>/...       what students handed in
    <root>/autograded/<student>/<assignment>/...      executed and scored (autograde)

:class:`NbgraderCourse` lays that out, runs ``nbgrader`` as a subprocess (its own process, so
the kernel inherits exactly the environment given, e.g. ``DLCI_GRADING=1``) and reads the
scores back from the gradebook.

Example:
    >>> with NbgraderCourse.temporary() as course:  # doctest: +SKIP
    ...     course.add_source("solutions/task1_backprop_inpainting.ipynb")
    ...     course.generate_assignment("task1_backprop_inpainting")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

NBFORMAT_VERSION = 4
CONFIG_TEMPLATE = """\
# Written by dlci_grader.nbgrader_course; a throw-away course directory.
c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}
c.Execute.timeout = {timeout}
"""


class NbgraderError(RuntimeError):
    """nbgrader exited with an error; the message holds the command and its log."""


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of a submission, as nbgrader's gradebook holds it.

    Attributes:
        name: the cell's ``grade_id``.
        score: points given (manual score if any, else the automatic score, else 0).
        max_score: the cell's points.
        auto_score: the automatic score, None for a manually graded answer nbgrader could not
            score automatically.
        needs_manual_grade: a person still has to grade it.
        manual: a manually graded answer (not an autograder test).
    """

    name: str
    score: float
    max_score: float
    auto_score: float | None
    needs_manual_grade: bool
    manual: bool


@dataclass(frozen=True)
class NotebookGrade:
    """All graded cells of one student's notebook, in the gradebook's order."""

    student: str
    assignment: str
    notebook: str
    cells: dict[str, CellGrade] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Points given so far (manual cells still to grade count 0)."""
        return sum(c.score for c in self.cells.values())

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cells.values())

    @property
    def auto_scores(self) -> dict[str, float]:
        """Score of every autograded test cell, by ``grade_id``."""
        return {n: c.score for n, c in self.cells.items() if not c.manual}

    @property
    def auto_max_score(self) -> float:
        return sum(c.max_score for c in self.cells.values() if not c.manual)


def _read(notebook: str | os.PathLike[str] | NotebookNode) -> NotebookNode:
    if isinstance(notebook, NotebookNode):
        return notebook
    return nbformat.read(str(notebook), as_version=NBFORMAT_VERSION)


@dataclass
class NbgraderCourse:
    """An nbgrader course directory at ``root`` (created if needed).

    Args:
        root: the course folder.
        course_id: nbgrader's course id (only used in the gradebook).
        timeout: seconds each cell may run when autograding.
        write_config: write ``nbgrader_config.py`` (False: use the course's own).
    """

    root: Path
    course_id: str = "dlci"
    timeout: int = 300
    write_config: bool = True

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.write_config:
            return
        config = CONFIG_TEMPLATE.format(
            root=str(self.root), course_id=self.course_id, timeout=int(self.timeout)
        )
        (self.root / "nbgrader_config.py").write_text(config)

    @classmethod
    @contextmanager
    def temporary(cls, keep: bool = False, **kwargs: object) -> Iterator[NbgraderCourse]:
        """A course in a fresh temporary folder, removed afterwards unless ``keep``."""
        path = Path(tempfile.mkdtemp(prefix="dlci-nbgrader-"))
        try:
            yield cls(path, **kwargs)  # type: ignore[arg-type]
        finally:
            if not keep:
                shutil.rmtree(path, ignore_errors=True)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

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
        path = self.root / "source" / assignment / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(_read(notebook), str(path))
        return path

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
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
        """nbgrader generate_assignment: strip solutions and hidden tests; return the release folder."""
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
        path = self.root / "submitted" / student / assignment / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(_read(notebook), str(path))
        return path

    def autograde(
        self, assignment: str, student: str | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """nbgrader autograde every submission of ``assignment`` (or one student's).

        ``env`` is added to this process's environment for nbgrader and the kernels it starts.
        """
        args = ["autograde", assignment, "--force"]
        if student is not None:
            args.append(f"--student={student}")
        return self.run(*args, env=env)

    def autograded_notebook(self, assignment: str, student: str, name: str) -> NotebookNode:
        """The executed notebook nbgrader scored (outputs and tracebacks included)."""
        path = self.root / "autograded" / student / assignment / f"{name}.ipynb"
        return nbformat.read(str(path), as_version=NBFORMAT_VERSION)

    def grades(self, assignment: str, student: str, name: str) -> NotebookGrade:
        """Read one student's scores for notebook ``name`` from the gradebook."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gradebook:
            nb = gradebook.find_submission_notebook(name, assignment, student)
            cells = {}
            for grade in nb.grades:
                manual = _has_solution_cell(gradebook, grade.name, name, assignment)
                cells[grade.name] = CellGrade(
                    name=grade.name,
                    score=float(grade.score or 0.0),
                    max_score=float(grade.max_score),
                    auto_score=None if grade.auto_score is None else float(grade.auto_score),
                    needs_manual_grade=bool(grade.needs_manual_grade),
                    manual=manual,
                )
        return NotebookGrade(student=student, assignment=assignment, notebook=name, cells=cells)


def _has_solution_cell(gradebook: object, cell: str, notebook: str, assignment: str) -> bool:
    """True when grade cell ``cell`` is also a solution cell (a manually graded answer)."""
    from nbgrader.api import MissingEntry

    try:
        gradebook.find_solution_cell(cell, notebook, assignment)  # type: ignore[attr-defined]
    except MissingEntry:
        return False
    return True
