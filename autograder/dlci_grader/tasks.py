"""The course's tasks: each a source notebook in ``solutions/`` and its sample variants.

A task's key is its notebook's name up to the first ``_`` (``task1_backprop_inpainting`` is
``task1``). Its variants come from :data:`dlci_grader.variants.VARIANTS` (Task 1's defined there,
the others' in ``dlci_grader.variants_<key>``); a task without variants is still graded, it just
has no sample submissions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dlci_grader.variants import VARIANTS, Variant


@dataclass(frozen=True)
class Task:
    """One graded notebook of the course.

    Attributes:
        key: short name, e.g. ``task1``.
        notebook: the notebook's stem, also nbgrader's assignment and notebook id.
        source: ``solutions/<notebook>.ipynb``.
        variants: sample submissions by name (may be empty).
    """

    key: str
    notebook: str
    source: Path
    variants: Mapping[str, Variant] = field(default_factory=dict)


def task_key(notebook: str) -> str:
    """``task1_backprop_inpainting`` -> ``task1``."""
    return notebook.split("_", 1)[0]


def task_variants(key: str) -> dict[str, Variant]:
    """The sample variants registered for task ``key`` (empty if none)."""
    return dict(VARIANTS.get(key, {}))


def load_tasks(solutions_dir: str | Path = "solutions", only: list[str] | None = None) -> dict[str, Task]:
    """Every ``solutions_dir/*.ipynb`` as a :class:`Task`, by key (or only the keys ``only``)."""
    solutions_dir = Path(solutions_dir)
    sources = sorted(solutions_dir.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no source notebooks (*.ipynb) in {solutions_dir.resolve()}")
    tasks = {}
    for source in sources:
        key = task_key(source.stem)
        if key in tasks:
            raise ValueError(f"two source notebooks for {key}: {tasks[key].source} and {source}")
        tasks[key] = Task(key, source.stem, source, task_variants(key))
    if only:
        unknown = set(only) - set(tasks)
        if unknown:
            raise ValueError(f"unknown tasks {sorted(unknown)}; found {sorted(tasks)} in {solutions_dir}")
        tasks = {k: t for k, t in tasks.items() if k in only}
    return tasks
