"""A sample class of submissions, generated from the solutions, with the score each must get.

Students (folder names):

- ``solution``: every task's full solution;
- ``blank``: every task's release, untouched;
- ``<task>-<variant>``: one deliberately wrong notebook per variant the task registers
  (:mod:`dlci_grader.samples.task_variants`, one module per task);
- ``broken-*``: Task 1 handed in broken in the ways a grader must survive: ``invalid-json``
  (a truncated file), ``wrong-assignment`` (another task's notebook under Task 1's name),
  ``cells-deleted`` (a test and an answer cell deleted), ``infinite-loop`` (``while True``),
  ``swallows-interrupt`` (a loop whose bare ``except:`` catches the timeout's interrupt),
  ``memory-hog`` (allocates 20 GiB), ``kernel-dies`` (``os._exit(1)``), ``duplicated-test-cell``
  and ``duplicated-answer-cell`` (a cell duplicated in JupyterLab, its grading metadata copied);
- ``attack-*`` (with ``--attacks``): submissions that try to cheat the grader or break out of
  the sandbox (:mod:`dlci_grader.samples.attacks`).

:func:`write_class` writes ``<out>/<student>/<notebook>.ipynb`` and ``<out>/expected.csv``
(``student, task, auto_points, auto_max, description``: the autograded points each notebook
must get; written answers are graded by hand and not part of it). ``dlci grade --expected``
compares with it.
"""

from __future__ import annotations

import copy
import csv
import io
import shutil
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from dlci_grader.samples.attacks import attack_submissions
from dlci_grader.samples.variants import (
    Variant,
    grade_points,
    make_submission,
    solved,
    task_variants,
)
from dlci_grader.tasks import Task, load_tasks

BROKEN_TASK = "task1"
"""The task the broken submissions are built from (its cell ids are named below)."""


@dataclass(frozen=True)
class SampleSubmission:
    """One notebook of the sample class.

    Attributes:
        student: folder name / student id.
        task: task key.
        content: the file's bytes (not always valid JSON).
        auto_points: expected points per autograded cell.
        description: what the student did.
        reason: a word the grader's reason must contain ('' for a plain wrong answer).
    """

    student: str
    task: str
    content: bytes
    auto_points: Mapping[str, float]
    description: str
    reason: str = ""

    @property
    def expected(self) -> float:
        return float(sum(self.auto_points.values()))


@dataclass(frozen=True)
class Broken:
    """A broken Task 1 submission: how to break the solution, and the cells it must fail."""

    name: str
    description: str
    reason: str
    breaks: Callable[[NotebookNode, Mapping[str, Task], Path], bytes]
    fails: frozenset[str] = field(default_factory=frozenset)
    all_fail: bool = False


def _dump(notebook: NotebookNode) -> bytes:
    return nbformat.writes(notebook).encode()


def _prepend(cell: str, code: str) -> Callable[[NotebookNode, Mapping[str, Task], Path], bytes]:
    def apply(nb: NotebookNode, tasks: Mapping[str, Task], notebooks: Path) -> bytes:
        nb = copy.deepcopy(nb)
        target = next(c for c in nb.cells if c.get("id") == cell)
        target.source = code + target.source
        return _dump(nb)

    return apply


def _delete(*cells: str) -> Callable[[NotebookNode, Mapping[str, Task], Path], bytes]:
    def apply(nb: NotebookNode, tasks: Mapping[str, Task], notebooks: Path) -> bytes:
        nb = copy.deepcopy(nb)
        nb.cells = [c for c in nb.cells if c.get("id") not in cells]
        return _dump(nb)

    return apply


def _duplicate(cell: str) -> Callable[[NotebookNode, Mapping[str, Task], Path], bytes]:
    """Duplicate a cell as JupyterLab does (metadata copied, a new cell id), the copy first."""

    def apply(nb: NotebookNode, tasks: Mapping[str, Task], notebooks: Path) -> bytes:
        nb = copy.deepcopy(nb)
        index = next(i for i, c in enumerate(nb.cells) if c.get("id") == cell)
        twin = copy.deepcopy(nb.cells[index])
        twin.id = f"{cell}-copy"
        nb.cells.insert(index, twin)
        return _dump(nb)

    return apply


def _truncated(nb: NotebookNode, tasks: Mapping[str, Task], notebooks: Path) -> bytes:
    return _dump(nb)[:2000]


def _other_task(nb: NotebookNode, tasks: Mapping[str, Task], notebooks: Path) -> bytes:
    others = [t for k, t in tasks.items() if k != BROKEN_TASK]
    if not others:  # only Task 1 known: a notebook with no nbgrader cells at all
        return _dump(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')")]))
    return (notebooks / f"{others[-1].notebook}.ipynb").read_bytes()


_SGD = frozenset({"test_sgd", "test_sgd_hidden", "test_training", "test_training_hidden"})
BROKEN = [
    Broken(
        "invalid-json", "the file was cut off while uploading (not valid JSON)",
        "not a valid notebook",
        _truncated, all_fail=True,
    ),
    Broken(
        "wrong-assignment", "handed in another task's notebook under Task 1's file name",
        "wrong assignment", _other_task, all_fail=True,
    ),
    Broken(
        "cells-deleted", "deleted the test cell test_relu and the answer cell sgd_step",
        "deleted", _delete("test_relu", "sgd_step"), fails=frozenset({"test_relu"}) | _SGD,
    ),
    Broken(
        "infinite-loop", "an endless loop at the top of analytic_gradients",
        "timed out", _prepend("analytic_gradients", "while True:  # never ends\n    pass\n"),
        fails=frozenset({"test_analytic", "test_analytic_hidden"}),
    ),
    Broken(
        "swallows-interrupt",
        "an endless loop whose bare except: swallows the timeout's interrupt, "
        "at the top of analytic_gradients (after six tests)",
        "ignored the timeout's interrupt",
        _prepend(
            "analytic_gradients",
            "import time\n\nwhile True:  # never ends\n    try:\n        time.sleep(0.1)\n"
            "    except:  # noqa: E722 - swallows KeyboardInterrupt too\n        pass\n",
        ),
        fails=frozenset({"test_analytic", "test_analytic_hidden"}) | _SGD,
    ),
    Broken(
        "memory-hog", "allocates 20 GiB at the top of the ReLU cell",
        "memory",
        _prepend(
            "relu_function",
            "import numpy as np\n\n_big = np.ones((20, 2**30), dtype=np.uint8)  # 20 GiB\n",
        ),
        fails=frozenset({"test_relu", "test_relu_hidden", "test_network", "test_network_hidden",
                         "test_training", "test_training_hidden"}),
    ),
    Broken(
        "kernel-dies", "calls os._exit(1) at the top of sgd_step: the kernel dies",
        "kernel died", _prepend("sgd_step", "import os\n\nos._exit(1)\n"), fails=_SGD,
    ),
    Broken(
        "duplicated-test-cell",
        "duplicated the test cell test_relu in JupyterLab (its metadata copied)",
        "cell test_relu was there 2 times", _duplicate("test_relu"),
    ),
    Broken(
        "duplicated-answer-cell", "duplicated the answer cell linear_function in JupyterLab",
        "cell linear_function was there 2 times", _duplicate("linear_function"),
    ),
]
"""The broken submissions, built on Task 1."""


def sample_class(
    solutions: str | Path = "solutions", notebooks: str | Path = "notebooks",
    tasks: list[str] | None = None,
    attacks: bool = False,
) -> list[SampleSubmission]:
    """Every notebook of the sample class (see the module docstring), generated now; with
    ``attacks``, also the adversarial suite (:mod:`dlci_grader.samples.attacks`) as ``attack-*``."""
    loaded = load_tasks(solutions, tasks)
    notebooks = Path(notebooks)
    out = []
    for key, task in loaded.items():
        release = notebooks / f"{task.notebook}.ipynb"
        if not release.is_file():
            raise FileNotFoundError(f"{release} not found; run `dlci release` first")
        auto, _ = grade_points(task.source)
        variants = task_variants(key)
        if not variants:  # a task without registered variants: its solution and blank release
            variants = {"solution": Variant("solution", "the solution"),
                        "blank": Variant("blank", "the release untouched", blank=True)}
        made = {}
        for name, variant in variants.items():
            student = name if name in ("solution", "blank") else f"{key}-{name}"
            made[name] = (
                make_submission(variant, task.source, release), variant.expected_scores(auto)
            )
            out.append(
                SampleSubmission(
                    student, key, _dump(made[name][0]), made[name][1], variant.description,
                )
            )
        if attacks:
            bases = {name: nb for name, (nb, _) in made.items()}
            base_points = {name: points for name, (_, points) in made.items()}
            for attack, notebook, points in attack_submissions(key, bases, base_points):
                out.append(
                    SampleSubmission(
                        f"attack-{attack.name}", key, _dump(notebook), points, attack.vector,
                    )
                )
        if key == BROKEN_TASK:
            full = solved(task.source, release)
            for broken in BROKEN:
                unknown = broken.fails - set(auto)
                if unknown:
                    raise ValueError(
                        f"broken submission {broken.name!r} names unknown cells {sorted(unknown)}"
                    )
                points = {
                    c: 0.0 if broken.all_fail or c in broken.fails else p for c, p in auto.items()
                }
                content = broken.breaks(full, loaded, notebooks)
                out.append(
                    SampleSubmission(
                        f"broken-{broken.name}", key, content, points, broken.description,
                        broken.reason,
                    )
                )
    return out


def write_class(
    out: str | Path, submissions: list[SampleSubmission], tasks: Mapping[str, Task],
    zip_path: str | Path | None = None
) -> Path:
    """Write each notebook to ``out/<student>/<notebook>.ipynb`` and ``out/expected.csv``
    (``out`` is emptied first); optionally also zip the student folders, as an LMS exports them."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "task", "auto_points", "auto_max", "reason", "description"])
    for s in submissions:
        path = out / s.student / f"{tasks[s.task].notebook}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s.content)
        auto_max = sum(grade_points(tasks[s.task].source)[0].values())
        writer.writerow(
            [s.student, s.task, f"{s.expected:g}", f"{auto_max:g}", s.reason, s.description]
        )
    (out / "expected.csv").write_text(buffer.getvalue())
    if zip_path is not None:
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.rglob("*.ipynb")):
                archive.write(path, path.relative_to(out))
    return out
