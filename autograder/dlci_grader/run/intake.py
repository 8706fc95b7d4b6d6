"""Find each student's notebooks in a folder or zip of submissions, and check them before grading.

Accepted layouts (:mod:`dlci_grader.run.lms_intake` knows whose each notebook is):

- nbgrader's ``submitted/<student>/<assignment>/<notebook>.ipynb``;
- a plain folder ``<student>/<anything>/*.ipynb``;
- Moodle's folder per participant, ``Jane Doe_123456_assignsubmission_file_/...``;
- Canvas's flat download, ``doejane_123456_7890123_task1_backprop_inpainting.ipynb`` (the latest
  resubmission counts, ``...-1.ipynb``, ``...-2.ipynb``; the older ones are named as superseded);
- Gradescope's export, ``submission_metadata.yml`` and ``submission_<id>/``;
- a ``.zip`` of any of these (a zip of one folder holding them is opened into it).

With a roster (:class:`~dlci_grader.run.roster.Roster`) the LMS's ids of the student (Canvas user
id, Moodle participant id, Gradescope SID or email; for a plain folder, its name) give the course
student id; a submission whose ids the roster does not hold, or holds for two students, is not
graded. Without one the student id is the folder name made safe, the Canvas user id, or the
Gradescope SID (else the email's local part); one id standing for two LMS students is not graded.
Every file skipped is named in a warning.

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

from dlci_grader.run.lms_intake import IGNORED, MOODLE_SUFFIX, HandIn, handed_in
from dlci_grader.run.roster import Roster
from dlci_grader.tasks import Task
from starter.hashing import sha256_bytes
from starter.nbgrader_cells import grade_id, grade_ids

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


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
        lms_id: the LMS's id of the student (Canvas user id, Moodle participant id, Gradescope
            SID or email), kept in the gradebook for the grades' export; None for a plain folder.
    """

    student: str
    task: str
    path: Path
    digest: str
    problem: str | None = None
    notes: tuple[str, ...] = ()
    repaired: bytes | None = None
    lms_id: str | None = None

    def content(self) -> bytes:
        """What the grader runs: the repaired notebook, or the file as handed in."""
        return self.repaired if self.repaired is not None else self.path.read_bytes()


def student_id(folder_name: str) -> str:
    """A folder name as an nbgrader student id: letters, digits, ``_ . -`` only."""
    name = MOODLE_SUFFIX.sub("", folder_name.strip())
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
        entries = [p for p in root.iterdir() if not p.name.startswith(IGNORED)]
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


def _owner(handin: HandIn, roster: Roster | None) -> tuple[str | None, str | None, str | None]:
    """(course student id, LMS id, why it is not graded) of a notebook handed in."""
    lms_id = handin.lms_ids[0] if handin.lms_ids else None
    try:
        student = student_id(handin.owner)
    except ValueError as exc:
        return None, lms_id, str(exc)
    if roster is None:
        return student, lms_id, None
    if handin.lms_ids:
        found = roster.match(handin.lms_ids)
    elif student in roster.students:
        return student, None, None  # a plain folder named by the course's student id
    else:
        found = roster.match((handin.owner,))
        if found.student is None and found.lms_id is None:
            return None, None, (
                f"folder name {handin.owner!r} is neither a student nor an LMS id in the roster "
                f"{roster.path.name}"
            )
    if found.student is None:
        return None, found.lms_id, found.problem
    return found.student, lms_id or found.lms_id, None


def _latest(student: str, key: str, handins: list[HandIn], warnings: list[str]) -> HandIn:
    """The notebook that counts of several for one student and task (the others are named)."""
    versions = [h.version for h in handins]
    if all(v is not None for v in versions):  # Canvas: the highest resubmission, then attempt
        latest = max(handins, key=lambda h: h.version or (0, 0))
        warnings += [
            f"{student}: {h.where} is superseded by the later submission {latest.where} for "
            f"{key}; skipped"
            for h in handins if h is not latest
        ]
        return latest
    latest = handins[0]
    for handin in handins[1:]:
        newer = max(latest, handin, key=lambda h: h.path.stat().st_mtime)
        warnings.append(
            f"{student}: two notebooks for {key} ({latest.path.name}, {handin.path.name}); "
            f"grading the newer, {newer.path.name}"
        )
        latest = newer
    return latest


def collect(
    folder: str | Path,
    tasks: Mapping[str, Task],
    release_ids: Mapping[str, Mapping[str, str]],
    roster: Roster | None = None,
) -> tuple[list[Submission], list[str]]:
    """Every student's notebook in ``folder`` (see the module docstring), checked.

    Args:
        folder: the submissions (opened: see :func:`opened`).
        tasks: the tasks to find, by key.
        release_ids: every task key's released nbgrader cells (grade id -> cell id).
        roster: LMS ids -> course student ids; with one, a submission it does not match is not
            graded.

    Returns:
        (submissions sorted by student and task, warnings about files that were skipped).
    """
    folder = Path(folder)
    handins, warnings = handed_in(folder)
    owners: dict[str, set[str]] = {}  # student id -> the LMS ids it was made of (no roster)
    found: dict[tuple[str, str], list[HandIn]] = {}
    lms_id_of: dict[tuple[str, Path], str | None] = {}  # (student, file) -> LMS id
    for handin in handins:
        student, lms_id, problem = _owner(handin, roster)
        if student is None:
            warnings.append(f"{handin.where}: {problem}; not graded")
            continue
        key = _task_for(handin.filename, tasks)
        if key is None:
            warnings.append(f"{student}: {handin.where} matches no task; skipped")
            continue
        if roster is None and handin.lms_ids:
            owners.setdefault(student, set()).add(handin.lms_ids[0])
        found.setdefault((student, key), []).append(handin)
        lms_id_of[(student, handin.path)] = lms_id
    submissions = []
    for (student, key), candidates in sorted(found.items()):
        if len(owners.get(student, ())) > 1:
            warnings += [
                f"{h.where}: student id {student!r} stands for several LMS students (ids "
                f"{', '.join(sorted(owners[student]))}): ambiguous, not graded (a roster tells "
                "them apart)"
                for h in candidates
            ]
            continue
        path = _latest(student, key, candidates, warnings).path
        data = path.read_bytes()
        problem, notes, repaired = check_notebook(data, tasks[key], release_ids)
        submissions.append(Submission(
            student, key, path, sha256_bytes(data), problem, notes, repaired,
            lms_id_of[(student, path)],
        ))
    return submissions, warnings
