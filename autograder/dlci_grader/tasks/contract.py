"""The contract between a task's checks and the grader: cases, context, judged tests.

A task whose ``checks`` module (``dlci_grader/tasks/<key>/checks.py``) defines ``JUDGED`` (test
cell id -> :class:`JudgedTest`) is graded with
verdicts outside the student's process (:mod:`dlci_grader.verdicts.judging`): the grader makes each
test's inputs with a secret seed, the test cell in the student's kernel only runs the student's
code on them and hands back what came out (:mod:`dlci_grader.kernel`,
:mod:`dlci_grader.kernel.answers`), and ``judge`` decides in the grader's own process. Hidden tests
are judged only there; a visible test also runs its own checks in the kernel, for the student,
and scores only when the grader's verdict on the same function agrees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from starter.mistakes import WrongAnswer, mistakes_of

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
        held_out: the grader keeps held-out items out of the kernel's data (a task's
            ``kernel_data``) and judges on them; False when a solution notebook judges itself
            in its own kernel, outside the grader, and the kernel's data is the whole data.
        kernel_root: the data root the student's kernel reads when the task's ``kernel_data``
            wrote one (held-out items removed), else None: the kernel reads ``data_root``.
    """

    data_root: Path | None
    seed: int
    grading: bool = True
    held_out: bool = True
    kernel_root: Path | None = None

    @property
    def notebook_root(self) -> Path | None:
        """The data the notebook computes on (what its own tables and figures average over)."""
        return self.kernel_root if self.kernel_root is not None else self.data_root


@dataclass(frozen=True)
class JudgedTest:
    """One test cell, judged outside the student's process.

    Attributes:
        make: ``(rng, context) -> cases``: the inputs, drawn from ``rng`` (seeded secretly at
            grading time) and the course data (:class:`Context`).
        judge: ``(cases, answers) -> summary``: raises ``AssertionError`` naming the mistake
            when the student's answers (one dict of arrays per case) are wrong; may return a
            short summary of a pass for the feedback (e.g. the loss reached), else None.
        definitions_only: the test calls only functions and classes the notebook defines
            (not what its top-level code built or trained): the grader also runs it on the
            notebook's definitions alone, apart from the kernel
            (:mod:`dlci_grader.verdicts.rebuild`), and it passes only when both runs do.
    """

    make: Callable[[np.random.Generator, Context], list[Case]]
    judge: Callable[[list[Case], list[Case]], str | None]
    definitions_only: bool = False


def each_case(
    cases: list[Case], answers: list[Case], check: Callable[[int, Case, Case], None],
) -> None:
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
            raise WrongAnswer(
                f"case {i + 1} of {len(cases)} ({dtype}): {error}", mistakes_of(error)
            ) from None


def no_inputs(rng: np.random.Generator, context: Context) -> list[Case]:
    """``make`` of a test that only hands back what the notebook built: one empty case."""
    return [{}]


def public(case: Case) -> Case:
    """The part of a case the student's kernel may see (no ``_secret`` entries)."""
    return {k: v for k, v in case.items() if not k.startswith("_")}
