"""No catalogued wrong answer passes Task 1's judged tests, on any of many secret seeds.

The grader's own drawing and judging code (:mod:`dlci_grader.offline.false_pass`); the
benchmark ``bench/bench_false_pass.py`` runs the same over 10,000 seeds.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from dlci_grader.offline.false_pass import WRONG_ANSWERS, false_passes

pytestmark = [pytest.mark.grader, pytest.mark.task1]


def test_every_formula_test_has_wrong_answers_to_measure():
    counts = false_passes([1])
    tests = {test for test, _ in counts}
    assert tests == set(WRONG_ANSWERS)
    assert len(counts) >= 40, sorted(counts)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.mark.slow
def test_no_catalogued_mistake_passes_on_300_secret_seeds():
    # two processes, one per core (the judging is single-threaded work): half the wall time;
    # spawned, not forked (a fork of a process where torch started its threads can hang)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_thread) as pool:
        halves = list(pool.map(false_passes, [range(1, 151), range(151, 301)]))
    tried = {key: a[1] + b[1] for key, a in halves[0].items() for b in [halves[1][key]]}
    assert set(tried) == set(halves[1]) and set(tried.values()) == {300}, tried
    passed = {key: n for half in halves for key, (n, _) in half.items() if n}
    assert not passed, passed
