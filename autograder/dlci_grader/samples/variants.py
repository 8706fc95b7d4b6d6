"""Sample submissions for each task, right and deliberately wrong, with the scores they must get.

A submission is built from the nbgrader source notebook (``solutions/<name>.ipynb``) and its
student release (``notebooks/<name>.ipynb``): start from the release (what a student gets),
fill every answer cell with the solution (markers removed), then apply the variant's edits,
each an exact text substitution in one answer cell that must match exactly once (so a variant
fails loudly when the solution it edits changes). The blank variant is the release as is.

Each variant lists the autograded cells it must fail; every other autograded cell must get full
points. The tests grade every variant with the real nbgrader and compare (see
``tests/test_task1_grading.py``); a later sample class reuses the same definitions.

Example:
    >>> subs = submissions("task1", "solutions", "notebooks")  # doctest: +SKIP
    >>> sorted(subs)  # doctest: +SKIP
    ['bias_unsummed', 'blank', 'relu_mask_wrong_sign', 'solution', 'transposed_grad_weight',
     'update_wrong_sign']
"""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from dlci_grader.nbgrader.template import NBFORMAT_VERSION
from dlci_grader.tasks import load_tasks
from starter.mistakes import MISTAKES, Mistake
from starter.nbgrader_cells import is_answer, nbgrader_meta

_MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` (exactly one occurrence) by ``new`` in answer cell ``cell`` (its id)."""

    cell: str
    old: str
    new: str


@dataclass(frozen=True)
class Variant:
    """One sample submission of a task.

    Attributes:
        name: short identifier, also the nbgrader student id.
        description: what a student did, in words.
        edits: applied to the full solution; ignored when ``blank``.
        blank: the unmodified release (every answer still ``raise NotImplementedError()``).
        fails: autograded cells (grade ids) expected to score 0; all others score full points.
            For a blank submission every autograded cell fails, whatever is listed.
        mistakes: the named mistakes (:mod:`starter.mistakes`) the edits plant: exactly those
            the grader must record for this submission (``grades.csv``'s ``mistakes``), and the
            class report must count it under.
    """

    name: str
    description: str
    edits: tuple[Edit, ...] = ()
    blank: bool = False
    fails: frozenset[str] = field(default_factory=frozenset)
    mistakes: tuple[Mistake, ...] = ()

    def __post_init__(self) -> None:
        unknown = [m.id for m in self.mistakes if MISTAKES.get(m.id) is not m]
        if unknown:
            raise ValueError(f"variant {self.name!r} plants unnamed mistakes {unknown}")

    def expected_scores(self, max_points: Mapping[str, float]) -> dict[str, float]:
        """Expected score of every autograded cell, given each cell's points."""
        unknown = set(self.fails) - set(max_points)
        if unknown:
            raise ValueError(f"variant {self.name!r} names unknown cells {sorted(unknown)}")
        return {
            c: 0.0 if self.blank or c in self.fails else float(p) for c, p in max_points.items()
        }




def by_name(*variants: Variant) -> dict[str, Variant]:
    """A task's ``VARIANTS``: its variants by name (a name used twice is an error)."""
    found: dict[str, Variant] = {}
    for variant in variants:
        if variant.name in found:
            raise ValueError(f"two sample variants named {variant.name!r}")
        found[variant.name] = variant
    return found


def _read(notebook: str | Path | NotebookNode) -> NotebookNode:
    if isinstance(notebook, NotebookNode):
        return notebook
    return nbformat.read(str(notebook), as_version=NBFORMAT_VERSION)


def solved(source: str | Path | NotebookNode, release: str | Path | NotebookNode) -> NotebookNode:
    """The release with every answer cell replaced by the solution's (markers removed)."""
    source, release = _read(source), copy.deepcopy(_read(release))
    answers = {c.get("id"): c.source for c in source.cells if is_answer(c)}
    for cell in release.cells:
        if is_answer(cell):
            if cell.get("id") not in answers:
                raise ValueError(
                    f"answer cell {cell.get('id')!r} of the release is not in the source"
                )
            cell.source = _MARKER_LINE.sub("", answers[cell.get("id")])
    return release


def make_submission(
    variant: Variant, source: str | Path | NotebookNode, release: str | Path | NotebookNode
) -> NotebookNode:
    """Build ``variant``'s notebook from the source notebook and its release."""
    if variant.blank:
        return copy.deepcopy(_read(release))
    notebook = solved(source, release)
    cells = {c.get("id"): c for c in notebook.cells}
    for edit in variant.edits:
        cell = cells.get(edit.cell)
        if cell is None or not is_answer(cell):
            raise ValueError(f"variant {variant.name!r}: no answer cell {edit.cell!r}")
        count = cell.source.count(edit.old)
        if count != 1:
            raise ValueError(
                f"variant {variant.name!r}: {edit.old!r} occurs {count} times in cell "
                f"{edit.cell!r}, expected once; update the variant to the solution"
            )
        cell.source = cell.source.replace(edit.old, edit.new)
    return notebook


def submissions(
    task: str, solutions_dir: str | Path = "solutions", notebooks_dir: str | Path = "notebooks"
) -> dict[str, NotebookNode]:
    """Every variant of ``task`` (``samples/task_variants/<task>.py``) as a notebook, by variant
    name."""
    found = load_tasks(solutions_dir, [task])[task]
    variants = task_variants(task)
    if not variants:
        raise ValueError(
            f"task {task!r} registers no sample variants "
            f"(dlci_grader/samples/task_variants/{task}.py)"
        )
    source, release = _read(found.source), _read(found.release(notebooks_dir))
    return {v.name: make_submission(v, source, release) for v in variants.values()}


def task_variants(key: str) -> dict[str, Variant]:
    """The sample variants registered for task ``key`` (``samples/task_variants/<key>.py``'s
    ``VARIANTS``; empty if none)."""
    name = f"{__package__}.task_variants.{key}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return {}
    return dict(getattr(module, "VARIANTS", {}))


def grade_points(source: str | Path | NotebookNode) -> tuple[dict[str, float], dict[str, float]]:
    """(autograded cells, manually graded cells) of a source notebook -> their points."""
    auto: dict[str, float] = {}
    manual: dict[str, float] = {}
    for cell in _read(source).cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            (manual if meta.get("solution") else auto)[meta["grade_id"]] = float(meta["points"])
    return auto, manual
