"""No catalogued wrong answer passes Task 1's judged tests, on any of many secret seeds.

The grader's own drawing and judging code (:mod:`dlci_grader.offline.false_pass`); the
benchmark ``bench/bench_false_pass.py`` runs the same over 10,000 seeds.
"""

from __future__ import annotations

import pytest

from dlci_grader.offline.false_pass import WRONG_ANSWERS, false_passes

pytestmark = [pytest.mark.grader, pytest.mark.task1]


def test_every_formula_test_has_wrong_answers_to_measure():
    counts = false_passes([1])
    tests = {test for test, _ in counts}
    assert tests == set(WRONG_ANSWERS)
    assert len(counts) >= 40, sorted(counts)


@pytest.mark.slow
def test_no_catalogued_mistake_passes_on_300_secret_seeds():
    counts = false_passes(range(1, 301))
    passed = {key: n for key, (n, _) in counts.items() if n}
    assert not passed, passed
