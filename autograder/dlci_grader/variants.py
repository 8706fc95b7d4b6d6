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
    ['blank', 'relu_mask_wrong_sign', 'solution', 'transposed_grad_weight', 'update_wrong_sign']
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

from dlci_grader.nbgrader_course import NBFORMAT_VERSION

TASK_NOTEBOOKS = {"task1": "task1_backprop_inpainting"}
"""Task key -> notebook name (the same stem in ``solutions/`` and ``notebooks/``)."""

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
    """

    name: str
    description: str
    edits: tuple[Edit, ...] = ()
    blank: bool = False
    fails: frozenset[str] = field(default_factory=frozenset)

    def expected_scores(self, max_points: Mapping[str, float]) -> dict[str, float]:
        """Expected score of every autograded cell, given each cell's points."""
        unknown = set(self.fails) - set(max_points)
        if unknown:
            raise ValueError(f"variant {self.name!r} names unknown cells {sorted(unknown)}")
        return {
            c: 0.0 if self.blank or c in self.fails else float(p) for c, p in max_points.items()
        }


_TASK1_LINEAR = frozenset({"test_linear", "test_linear_hidden"})
_TASK1_RELU = frozenset({"test_relu", "test_relu_hidden"})
_TASK1_NETWORK = frozenset({"test_network", "test_network_hidden"})
_TASK1_SGD = frozenset({"test_sgd", "test_sgd_hidden"})
_TASK1_TRAINING = frozenset({"test_training", "test_training_hidden"})

VARIANTS: dict[str, dict[str, Variant]] = {
    "task1": {
        v.name: v
        for v in [
            Variant("solution", "the instructor's solution, markers removed"),
            Variant("blank", "the release handed in untouched", blank=True),
            Variant(
                "transposed_grad_weight",
                "LinearFunction returns xᵀ·dL/dg, the transpose of dL/dW; training then "
                "fails on autograd's shape check",
                edits=(Edit("linear_function", "grad_output.T @ x", "x.T @ grad_output"),),
                fails=_TASK1_LINEAR | _TASK1_NETWORK | _TASK1_TRAINING,
            ),
            Variant(
                "relu_mask_wrong_sign",
                "ReLUFunction passes the gradient where its input is negative; training diverges",
                edits=(Edit("relu_function", "(g > 0)", "(g < 0)"),),
                fails=_TASK1_RELU | _TASK1_NETWORK | _TASK1_TRAINING,
            ),
            Variant(
                "update_wrong_sign",
                "sgd_step climbs the gradient (p += lr * grad); training diverges",
                edits=(Edit("sgd_step", "p -= lr * p.grad", "p += lr * p.grad"),),
                fails=_TASK1_SGD | _TASK1_TRAINING,
            ),
        ]
    }
}
"""Task key -> variant name -> :class:`Variant`."""


def _read(notebook: str | Path | NotebookNode) -> NotebookNode:
    if isinstance(notebook, NotebookNode):
        return notebook
    return nbformat.read(str(notebook), as_version=NBFORMAT_VERSION)


def _is_answer(cell: NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def solved(source: str | Path | NotebookNode, release: str | Path | NotebookNode) -> NotebookNode:
    """The release with every answer cell replaced by the solution's (markers removed)."""
    source, release = _read(source), copy.deepcopy(_read(release))
    answers = {c.get("id"): c.source for c in source.cells if _is_answer(c)}
    for cell in release.cells:
        if _is_answer(cell):
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
        if cell is None or not _is_answer(cell):
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
    """Every variant of ``task`` as a notebook, keyed by variant name."""
    if task not in VARIANTS:
        raise ValueError(f"unknown task {task!r}; known: {sorted(VARIANTS)}")
    name = TASK_NOTEBOOKS[task]
    source = _read(Path(solutions_dir) / f"{name}.ipynb")
    release = _read(Path(notebooks_dir) / f"{name}.ipynb")
    return {v.name: make_submission(v, source, release) for v in VARIANTS[task].values()}


def grade_points(source: str | Path | NotebookNode) -> tuple[dict[str, float], dict[str, float]]:
    """(autograded cells, manually graded cells) of a source notebook -> their points."""
    auto: dict[str, float] = {}
    manual: dict[str, float] = {}
    for cell in _read(source).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            (manual if meta.get("solution") else auto)[meta["grade_id"]] = float(meta["points"])
    return auto, manual


def _register_task_module(key: str) -> None:
    """Add the task whose variants live in ``dlci_grader.variants_<key>`` to the registries.

    Imported here, after :class:`Edit` and :class:`Variant` exist, because those modules build
    their variants from them.
    """
    module = importlib.import_module(f"dlci_grader.variants_{key}")
    TASK_NOTEBOOKS[key] = module.NOTEBOOK
    VARIANTS[key] = getattr(module, f"{key.upper()}_VARIANTS")


for _key in ("task2", "task3"):
    _register_task_module(_key)
