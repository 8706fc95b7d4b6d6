"""``dlci release``: make the student notebooks from the nbgrader source notebooks.

Each ``solutions/<name>.ipynb`` (solutions between ``### BEGIN/END SOLUTION``, hidden tests
between ``### BEGIN/END HIDDEN TESTS``) goes through the real ``nbgrader generate_assignment``
in a temporary course directory; the result is written to ``notebooks/<name>.ipynb``. Output
is deterministic, so ``dlci release --check`` (and the tests) can regenerate it and compare.
After generating, every release is checked for leaks: no nbgrader marker, no mention of the
instructor package, and no line that only the solutions or hidden tests contain.

Example::

    dlci release                       # solutions/*.ipynb -> notebooks/
    dlci release --check               # exit 1 if notebooks/ is out of date
    dlci release --nbgrader-release release/   # also write an nbgrader release/ tree
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from dlci_grader.nbgrader.course import NbgraderCourse
from dlci_grader.nbgrader.template import NBFORMAT_VERSION
from dlci_grader.tasks import task_key
from dlci_grader.verdicts.rebuild import METADATA_KEY, graded_alone
from starter.nbgrader_cells import nbgrader_meta

LEAK_MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "BEGIN MARK SCHEME",
    "END MARK SCHEME",
    "dlci_grader",
)
"""Strings that must never appear in a student notebook."""

_REGION = re.compile(
    r"^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS|MARK SCHEME)[ \t]*\n(.*?)^[ \t]*### END \1[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
VOLATILE_CELL_KEYS = ("outputs", "execution_count")
"""Cell fields ignored when comparing two releases."""


class ReleaseLeakError(RuntimeError):
    """A student notebook contains solution code, hidden tests or instructor markers."""


def _secret_and_public_text(source: NotebookNode) -> tuple[list[str], str]:
    """(stripped lines only solutions/hidden tests contain, all other text of the notebook)."""
    secret: list[str] = []
    public: list[str] = []
    for cell in source.cells:
        meta = nbgrader_meta(cell)
        text = cell.source
        regions = list(_REGION.finditer(text))
        if meta.get("solution") and cell.cell_type == "markdown" and not regions:
            secret.extend(text.splitlines())  # the whole answer is replaced by a stub
            continue
        for match in regions:
            secret.extend(match.group(2).splitlines())
        public.append(_REGION.sub("", text))
    public_text = "\n".join(public)
    public_lines = {line.strip() for line in public_text.splitlines()}
    distinctive = [
        line.strip()
        for line in secret
        if len(line.strip()) >= 6
        and line.strip() not in public_lines
        and not line.strip().startswith("#")
    ]
    return distinctive, public_text


def find_leaks(source: NotebookNode, release: NotebookNode) -> list[str]:
    """Describe every leak of ``source``'s secrets into ``release`` (empty list: none).

    A leak is a marker of :data:`LEAK_MARKERS`, or a line (stripped, at least 6 characters,
    not a comment) that appears in a solution or hidden-test region of ``source`` and nowhere
    else in it.
    """
    leaks = []
    secret_lines, _ = _secret_and_public_text(source)
    secret = set(secret_lines)
    for index, cell in enumerate(release.cells):
        for marker in LEAK_MARKERS:
            if marker in cell.source:
                leaks.append(f"cell {index} ({cell.get('id', '?')}) contains {marker!r}")
        for line in cell.source.splitlines():
            if line.strip() in secret:
                leaks.append(
                    f"cell {index} ({cell.get('id', '?')}) contains secret line {line.strip()!r}"
                )
    return leaks


def comparable(notebook: NotebookNode) -> list[dict[str, Any]]:
    """The parts of a notebook that matter for a release: every cell's type, id, source,
    metadata."""
    cells = []
    for cell in notebook.cells:
        cells.append(
            {
                "cell_type": cell.cell_type,
                "id": cell.get("id"),
                "source": cell.source,
                "metadata": dict(cell.get("metadata", {})),
            }
        )
    return cells


def diff_notebooks(expected: NotebookNode, actual: NotebookNode) -> list[str]:
    """Human-readable differences between two releases (empty: in sync); outputs are ignored."""
    a, b = comparable(expected), comparable(actual)
    problems = []
    if len(a) != len(b):
        problems.append(f"{len(a)} cells expected, found {len(b)}")
    for index, (ca, cb) in enumerate(zip(a, b, strict=False)):
        for key in ("cell_type", "id", "source", "metadata"):
            if ca[key] != cb[key]:
                problems.append(f"cell {index} ({ca['id']}): {key} differs")
    for key in ("kernelspec", "dlci"):
        if expected.metadata.get(key) != actual.metadata.get(key):
            problems.append(f"notebook metadata {key} differs")
    return problems


def release_notebook(
    solution: str | Path, out_dir: str | Path, nbgrader_release: str | Path | None = None
) -> Path:
    """Generate the student version of one source notebook with nbgrader.

    Args:
        solution: ``solutions/<name>.ipynb``, the nbgrader source notebook.
        out_dir: folder for ``<name>.ipynb`` (e.g. ``notebooks/``); created if needed.
        nbgrader_release: if given, also copy to ``<nbgrader_release>/<name>/<name>.ipynb``
            (nbgrader's ``release/<assignment>/`` layout, one assignment per notebook).

    Returns:
        the written student notebook.

    Raises:
        ReleaseLeakError: the generated notebook leaks solutions or hidden tests.
        NbgraderError: nbgrader rejected the source notebook (its log is in the message).
    """
    solution = Path(solution)
    name = solution.stem
    source = nbformat.read(str(solution), as_version=NBFORMAT_VERSION)
    with NbgraderCourse.temporary() as course:
        course.add_source(source, assignment=name, name=name)
        released = course.generate_assignment(name) / f"{name}.ipynb"
        student = nbformat.read(str(released), as_version=NBFORMAT_VERSION)
    leaks = find_leaks(source, student)
    if leaks:
        raise ReleaseLeakError(f"release of {solution} leaks:\n  " + "\n  ".join(leaks))
    alone = graded_alone(source, task_key(name))
    if alone:  # what `dlci check` warns about when it uses names only top-level code sets
        student.metadata["dlci"] = {METADATA_KEY: alone}
    out = Path(out_dir) / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student, str(out))
    if nbgrader_release is not None:
        target = Path(nbgrader_release) / name / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, target)
    return out


def release_all(
    solutions_dir: str | Path = "solutions",
    out_dir: str | Path = "notebooks",
    names: Iterable[str] | None = None,
    nbgrader_release: str | Path | None = None,
) -> list[Path]:
    """Release every ``solutions_dir/*.ipynb`` (or only ``names``, stems or file names)."""
    sources = _sources(Path(solutions_dir), names)
    return [release_notebook(s, out_dir, nbgrader_release) for s in sources]


def check_release(
    solutions_dir: str | Path = "solutions",
    notebooks_dir: str | Path = "notebooks",
    names: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """Regenerate in a temporary folder and compare with ``notebooks_dir``.

    Returns:
        notebook name -> list of differences, only for notebooks out of sync (empty: all good).
    """
    import tempfile

    problems: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="dlci-release-") as tmp:
        for source in _sources(Path(solutions_dir), names):
            fresh = release_notebook(source, tmp)
            committed = Path(notebooks_dir) / fresh.name
            if not committed.is_file():
                problems[source.stem] = [f"{committed} does not exist; run `dlci release`"]
                continue
            diff = diff_notebooks(
                nbformat.read(str(fresh), as_version=NBFORMAT_VERSION),
                nbformat.read(str(committed), as_version=NBFORMAT_VERSION),
            )
            if diff:
                problems[source.stem] = diff
    return problems


def _sources(solutions_dir: Path, names: Iterable[str] | None) -> list[Path]:
    if names:
        sources = [solutions_dir / (n if n.endswith(".ipynb") else f"{n}.ipynb") for n in names]
    else:
        sources = sorted(solutions_dir.glob("*.ipynb"))
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise FileNotFoundError(f"source notebooks not found: {', '.join(missing)}")
    if not sources:
        raise FileNotFoundError(f"no source notebooks (*.ipynb) in {solutions_dir}")
    return sources
