"""Find each student's notebooks in a folder or zip of submissions, and check them before grading.

Accepted layouts (one entry per student at the top):

- nbgrader's ``submitted/<student>/<assignment>/<notebook>.ipynb``;
- a plain folder ``<student>/<anything>/*.ipynb``;
- a ``.zip`` of either, e.g. an LMS export: a folder per student such as Moodle's
  ``Jane Doe_123456_assignsubmission_file_/task1_backprop_inpainting.ipynb``.

A notebook belongs to the task whose notebook name its file name contains (``task1_backprop_
inpainting (2).ipynb`` counts), else to the task named by its first word (``task1-final.ipynb``).
Before grading each notebook is read and checked: not JSON or not a notebook, or a notebook of
another assignment (its graded cells are another task's), is rejected with that reason and scores
0 without running; cells that were deleted are noted (nbgrader scores a deleted test 0).
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlci_grader.tasks import Task
from starter.hashing import sha256_bytes
from starter.nbgrader_cells import grade_id, grade_ids

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_LMS_SUFFIX = re.compile(r"_assignsubmission_\w*$")


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one task, as found.

    Attributes:
        student: the student id (folder name, made safe for nbgrader).
        task: the task key.
        path: the file handed in.
        digest: sha256 of its bytes (a changed file is graded again).
        problem: why it cannot be graded (then it scores 0 without running); None if it can.
        notes: what is wrong but still gradable, e.g. deleted cells.
        repaired: the notebook to grade when intake had to repair the file (duplicated cells),
            else None: the file as handed in.
    """

    student: str
    task: str
    path: Path
    digest: str
    problem: str | None = None
    notes: tuple[str, ...] = ()
    repaired: bytes | None = None

    def content(self) -> bytes:
        """What the grader runs: the repaired notebook, or the file as handed in."""
        return self.repaired if self.repaired is not None else self.path.read_bytes()


def student_id(folder_name: str) -> str:
    """A folder name as an nbgrader student id: letters, digits, ``_ . -`` only."""
    name = _LMS_SUFFIX.sub("", folder_name.strip())
    name = _UNSAFE.sub("_", name).strip("_.")
    if not name:
        raise ValueError(f"cannot make a student id from folder name {folder_name!r}")
    return name


@contextmanager
def opened(submissions: str | os.PathLike[str]) -> Iterator[Path]:
    """The submissions folder itself, or a zip extracted to a temporary folder."""
    path = Path(submissions)
    if not path.exists():
        raise FileNotFoundError(f"no submissions at {path.resolve()}")
    if path.is_dir():
        yield path
        return
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is neither a folder nor a zip file of submissions")
    with tempfile.TemporaryDirectory(prefix="dlci-submissions-") as tmp:
        with zipfile.ZipFile(path) as archive:
            archive.extractall(tmp)
        root = Path(tmp)
        entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        # a zip of one folder holding the student folders: descend into it
        if len(entries) == 1 and entries[0].is_dir() and not list(entries[0].glob("*.ipynb")):
            root = entries[0]
        yield root


def _task_for(filename: str, tasks: Mapping[str, Task]) -> str | None:
    stem = Path(filename).stem.lower()
    for key, task in tasks.items():
        if task.notebook.lower() in stem:
            return key
    first = re.split(r"[^a-z0-9]+", stem)[0]
    return first if first in tasks else None


def duplicated_cells(notebook: nbformat.NotebookNode, released: Mapping[str, str]) -> list[str]:
    """Give every nbgrader grade id back to one cell; the notes of what was repaired (in place).

    JupyterLab copies a cell's metadata when a cell is duplicated or copied and pasted, so two
    cells then claim the same test or answer, and nbgrader refuses the whole notebook. The copy
    whose cell id is the release's (``released``: grade id -> cell id) keeps the grade id (else
    the first copy); the others lose their nbgrader metadata and run as ordinary cells, in
    notebook order, so the student's code runs as they left it.
    """
    copies: dict[str, list[nbformat.NotebookNode]] = {}
    for cell in notebook.cells:
        name = grade_id(cell)
        if name:
            copies.setdefault(name, []).append(cell)
    notes = []
    for name, cells in copies.items():
        if len(cells) < 2:
            continue
        keep = next((c for c in cells if c.get("id") == released.get(name)), cells[0])
        for cell in cells:
            if cell is not keep:
                del cell.metadata["nbgrader"]
        notes.append(
            f"cell {name} was there {len(cells)} times (a duplicated or pasted cell): the "
            f"released copy is graded, {len(cells) - 1} other ran as an ordinary cell"
        )
    return notes


def check_notebook(
    data: bytes, task: Task, release_ids: Mapping[str, Mapping[str, str]]
) -> tuple[str | None, tuple[str, ...], bytes | None]:
    """(problem or None, notes, the repaired notebook or None) for a notebook's bytes handed in
    for ``task``.

    ``release_ids`` maps every task key to its release's nbgrader cells (grade id -> cell id).
    """
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the student's file, not ours
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"not a valid notebook (not readable JSON: {first[:200]})", (), None
    ids = grade_ids(notebook.cells)
    released = {key: set(cells) for key, cells in release_ids.items()}
    expected = released[task.key]

    def own(key: str) -> int:
        """Cells of the notebook that only task ``key``'s release has (``setup``, ``test_table``
        and the like appear in several tasks and say nothing about which one this is)."""
        others = set().union(*(v for k, v in released.items() if k != key))
        return len(ids & (released[key] - others))

    best = max(released, key=own)
    if own(best) > own(task.key):
        return f"wrong assignment: the notebook holds the cells of {best}, not {task.key}", (), None
    if not ids & expected:
        return (
            f"wrong assignment: no cell of {task.key} in the notebook (was the work pasted "
            "into a new notebook? "
            "nbgrader needs the cells of the released notebook)",
            (),
            None,
        )
    deleted = sorted(expected - ids)
    notes = [f"cells deleted: {', '.join(deleted)}"] if deleted else []
    repairs = duplicated_cells(notebook, release_ids[task.key])
    repaired = nbformat.writes(notebook).encode() if repairs else None
    return None, tuple(notes + repairs), repaired


def collect(
    folder: str | Path, tasks: Mapping[str, Task], release_ids: Mapping[str, Mapping[str, str]]
) -> tuple[list[Submission], list[str]]:
    """Every student's notebook in ``folder`` (see the module docstring), checked.

    Returns:
        (submissions sorted by student and task, warnings about files that were skipped).
    """
    folder = Path(folder)
    found: dict[tuple[str, str], Path] = {}
    warnings: list[str] = []
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir() or entry.name.startswith((".", "__MACOSX")):
            continue
        student = student_id(entry.name)
        notebooks = sorted(
            p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
        )
        for path in notebooks:
            key = _task_for(path.name, tasks)
            if key is None:
                warnings.append(f"{student}: {path.relative_to(folder)} matches no task; skipped")
                continue
            previous = found.get((student, key))
            if previous is not None:
                newer = max(previous, path, key=lambda p: p.stat().st_mtime)
                warnings.append(
                    f"{student}: two notebooks for {key} ({previous.name}, {path.name}); "
                    f"grading the newer, {newer.name}"
                )
                path = newer
            found[(student, key)] = path
    submissions = []
    for (student, key), path in sorted(found.items()):
        data = path.read_bytes()
        problem, notes, repaired = check_notebook(data, tasks[key], release_ids)
        submissions.append(
            Submission(student, key, path, sha256_bytes(data), problem, notes, repaired)
        )
    return submissions, warnings
