"""A task's template: what a notebook is graded from (the glossary's *template*).

A template folder is an nbgrader course holding each task's source notebook and a
``gradebook.db`` in which its assignment was generated::

    FOLDER/source/<notebook>/<notebook>.ipynb    the task's source notebook (solutions, tests)
    FOLDER/release/<notebook>/<notebook>.ipynb   what students got (in the class's template only)
    FOLDER/gradebook.db                          nbgrader's, with the assignment generated

The class's is ``COURSE/.dlci/template`` (:attr:`dlci_grader.nbgrader.course.Course.template`);
a worker grades in a private copy (:meth:`Template.copy_into`), a Gradescope zip carries one
under ``template/``, a Dask worker unpacks one per digest. :class:`Template` is one task's
assignment in such a folder, and the only code that knows those paths.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from dlci_grader.verdicts.results import graded_cells
from starter.hashing import sha256_file
from starter.nbgrader_cells import grade_id

NBFORMAT_VERSION = 4


@dataclass(frozen=True)
class Template:
    """One task's assignment in the template folder ``folder``.

    Attributes:
        folder: the template folder (an nbgrader course root).
        notebook: the task's notebook stem, also nbgrader's assignment and notebook id.
    """

    folder: Path
    notebook: str

    @property
    def source_folder(self) -> Path:
        """``source/<notebook>/``: the assignment's folder, copied whole into a private course."""
        return self.folder / "source" / self.notebook

    @property
    def source(self) -> Path:
        """The task's source notebook: its solutions, hidden tests and graded cells' points."""
        return self.source_folder / f"{self.notebook}.ipynb"

    @property
    def release_folder(self) -> Path:
        return self.folder / "release" / self.notebook

    @property
    def release(self) -> Path:
        """The released notebook nbgrader generated (what students got)."""
        return self.release_folder / f"{self.notebook}.ipynb"

    @property
    def db(self) -> Path:
        """The gradebook in which the assignment was generated."""
        return self.folder / "gradebook.db"

    def digest(self) -> str:
        """sha256 of the source notebook: the template's identity (the *template digest*)."""
        return sha256_file(self.source)

    def read_source(self) -> NotebookNode:
        return nbformat.read(str(self.source), NBFORMAT_VERSION)

    def points(self) -> dict[str, tuple[float, bool]]:
        """Its graded cells, from the source notebook's metadata: grade id -> (points, graded
        by hand)."""
        return graded_cells(self.read_source())

    def release_ids(self) -> dict[str, str]:
        """The released notebook's nbgrader cells (tests, answers, locked): grade id -> cell id."""
        release = nbformat.read(str(self.release), NBFORMAT_VERSION)
        return {name: c.get("id", "") for c in release.cells if (name := grade_id(c))}

    def copy_into(self, folder: Path) -> Template:
        """Copy the assignment's source folder and the gradebook into ``folder`` (whose
        ``source/<notebook>/`` must not exist yet); the copy."""
        copy = Template(folder, self.notebook)
        shutil.copytree(self.source_folder, copy.source_folder)
        shutil.copyfile(self.db, copy.db)
        return copy
