"""Hidden-test checks, one module per task; pure functions of plain arrays.

A task module that defines ``JUDGED`` (test cell id -> :class:`JudgedTest`) is graded with
verdicts outside the student's process (:mod:`dlci_grader.verify`): the grader makes each
test's inputs with a secret seed, the test cell in the student's kernel only runs the student's
code on them and hands back what came out (:mod:`dlci_grader.harness`,
:mod:`dlci_grader.answers`), and ``judge`` decides in the grader's own process. Hidden tests
are judged only there; a visible test also runs its own checks in the kernel, for the student,
and scores only when the grader's verdict on the same function agrees.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

Case = dict[str, np.ndarray]
"""One set of inputs: name -> array. Names starting with ``_`` are the grader's secret (held-out
targets): they never reach the student's kernel."""


@dataclass(frozen=True)
class Context:
    """What a test's inputs are drawn from.

    Attributes:
        data_root: the grader's course data (None: the kit's default).
        seed: the run's secret seed (every test's own ``rng`` is derived from it as well).
        grading: the notebook runs in grading mode (``DLCI_GRADING=1``), as under the grader.
    """

    data_root: str | None
    seed: int
    grading: bool = True


@dataclass(frozen=True)
class JudgedTest:
    """One test cell, judged outside the student's process.

    Attributes:
        make: ``(rng, context) -> cases``: the inputs, drawn from ``rng`` (seeded secretly at
            grading time) and the course data (:class:`Context`).
        judge: ``(cases, answers) -> summary``: raises ``AssertionError`` naming the mistake
            when the student's answers (one dict of arrays per case) are wrong; may return a
            short summary of a pass for the feedback (e.g. the loss reached), else None.
    """

    make: Callable[[np.random.Generator, Context], list[Case]]
    judge: Callable[[list[Case], list[Case]], str | None]


def each_case(cases: list[Case], answers: list[Case], check: Callable[[int, Case, Case], None]) -> None:
    """Run ``check(i, case, answer)`` for every case, naming the case (and its first input's
    dtype) in a failure when there are several."""
    if len(answers) != len(cases):
        raise AssertionError(f"expected answers for {len(cases)} cases, got {len(answers)}")
    for i, (case, answer) in enumerate(zip(cases, answers, strict=True)):
        try:
            check(i, case, answer)
        except AssertionError as error:
            if len(cases) == 1:
                raise
            dtype = next(iter(case.values())).dtype if case else ""
            raise AssertionError(f"case {i + 1} of {len(cases)} ({dtype}): {error}") from None


def no_inputs(rng: np.random.Generator, context: Context) -> list[Case]:
    """``make`` of a test that only hands back what the notebook built: one empty case."""
    return [{}]


def public(case: Case) -> Case:
    """The part of a case the student's kernel may see (no ``_secret`` entries)."""
    return {k: v for k, v in case.items() if not k.startswith("_")}


def judged_tests(task: str) -> Mapping[str, JudgedTest]:
    """Task key (``task1``) -> its test cells judged outside the kernel (empty if none)."""
    module = _module(task)
    return dict(getattr(module, "JUDGED", {})) if module is not None else {}


def kernel_data(task: str, context: Context, folder: Path) -> str | None:
    """Write the data root the student's kernel gets for ``task`` under ``folder`` (held-out
    items removed) and return it; None: the kernel reads the grader's data root as is."""
    module = _module(task)
    writer = getattr(module, "kernel_data", None) if module is not None else None
    return writer(context, folder) if writer is not None else None


def _module(task: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"dlci_grader.checks.{task}")
    except ModuleNotFoundError:
        return None
