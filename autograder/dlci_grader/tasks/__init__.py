"""The course's tasks: the one place the grader learns which tasks exist and what each brings.

A task is a notebook pair (``solutions/<key>_<name>.ipynb``, its release in ``notebooks/``) and a
folder here, ``tasks/<key>/``, holding what grading needs and nothing else:

- ``checks.py``: ``JUDGED`` (test cell id -> :class:`~dlci_grader.tasks.contract.JudgedTest`,
  the hidden tests judged outside the student's kernel) and, optionally, ``kernel_data`` (the data
  root the kernel gets, held-out items removed);
- anything else the task's checks need (Task 3's reference filter).

A task's sample variants live off the grading path, in ``samples/task_variants/<key>.py``
(:mod:`dlci_grader.samples.task_variants`); so do the studies and scripts run about a task
(:mod:`dlci_grader.offline`).

What the task's test cells run in the student's kernel lives in ``kernel/<key>.py`` instead,
because the sandbox lets the kernel read exactly one folder of the grader
(:mod:`dlci_grader.kernel`).

Tasks are discovered once, here, from the subpackages of this package
(:func:`registered`); a notebook whose key has no folder is still graded (no hidden tests judged
outside). A task's key is its notebook's name up to the first ``_``
(``task1_backprop_inpainting`` is ``task1``).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlci_grader.tasks.contract import Context, JudgedTest


@dataclass(frozen=True)
class Task:
    """One graded notebook of the course.

    Attributes:
        key: short name, e.g. ``task1``.
        notebook: the notebook's stem, also nbgrader's assignment and notebook id.
        source: ``solutions/<notebook>.ipynb``.
    """

    key: str
    notebook: str
    source: Path

    def release(self, notebooks_dir: str | Path = "notebooks") -> Path:
        """The student release of this task's notebook in ``notebooks_dir``."""
        return Path(notebooks_dir) / f"{self.notebook}.ipynb"


def task_key(notebook: str) -> str:
    """``task1_backprop_inpainting`` -> ``task1``."""
    return notebook.split("_", 1)[0]


@cache
def registered() -> tuple[str, ...]:
    """The keys of every task folder of this package (``tasks/task1/``, ...), sorted."""
    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg))


def _part(key: str, part: str) -> ModuleType | None:
    """``dlci_grader.tasks.<key>.<part>``, or None when the task has no such module."""
    if key not in registered():
        return None
    name = f"{__name__}.{key}.{part}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return None


def judged_tests(key: str) -> Mapping[str, JudgedTest]:
    """Task key -> its test cells judged outside the kernel (empty if none)."""
    checks = _part(key, "checks")
    return dict(getattr(checks, "JUDGED", {})) if checks is not None else {}


def grading_code(key: str) -> list[Path]:
    """The grader's code that judges task ``key``'s hidden tests outside the kernel: the
    task's folder (``tasks/<key>/**.py``) and the contract; none for a task without one."""
    if key not in registered():
        return []
    here = Path(__file__).parent
    return [*sorted((here / key).rglob("*.py")), here / "contract.py"]


def code_digest(key: str, test: str, cell_source: str) -> str:
    """sha256 of the code that judges test cell ``test`` of task ``key``: the instructor's
    test cell (``cell_source``, as in the source notebook) and, for a test judged outside the
    kernel, the task's :func:`grading_code`. What ``dlci regrade``'s log names as the old and
    new code of a test."""
    digest = hashlib.sha256(cell_source.encode())
    if test in judged_tests(key):
        here = Path(__file__).parent
        for path in grading_code(key):
            name = path.relative_to(here).as_posix().encode()
            digest.update(b"\0" + name + b"\0" + path.read_bytes())
    return digest.hexdigest()


def kernel_data(key: str, context: Context, folder: Path) -> Path | None:
    """Write the data root the student's kernel gets for task ``key`` under ``folder`` (held-out
    items removed) and return it; None: the kernel reads the grader's data root as is."""
    checks = _part(key, "checks")
    writer = getattr(checks, "kernel_data", None) if checks is not None else None
    return writer(context, folder) if writer is not None else None


def load_tasks(
    solutions_dir: str | os.PathLike[str] = "solutions", only: list[str] | None = None
) -> dict[str, Task]:
    """Every ``solutions_dir/*.ipynb`` as a :class:`Task`, by key (or only the keys ``only``)."""
    solutions_dir = Path(solutions_dir)
    sources = sorted(solutions_dir.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no source notebooks (*.ipynb) in {solutions_dir.resolve()}")
    tasks: dict[str, Task] = {}
    for source in sources:
        key = task_key(source.stem)
        if key in tasks:
            raise ValueError(f"two source notebooks for {key}: {tasks[key].source} and {source}")
        tasks[key] = Task(key, source.stem, source)
    if only:
        unknown = set(only) - set(tasks)
        if unknown:
            raise ValueError(
                f"unknown tasks {sorted(unknown)}; found {sorted(tasks)} in {solutions_dir}"
            )
        tasks = {k: t for k, t in tasks.items() if k in only}
    return tasks
