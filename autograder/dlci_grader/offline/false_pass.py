"""How often a catalogued wrong answer would pass Task 1's judged tests: the false-pass rate.

Every typical mistake the visible checks diagnose
(:func:`starter.gradient_diagnosis.linear_suspects`,
``relu_suspects``, ``analytic_suspects``, and the Functions' mistakes as they show in the network,
:data:`~dlci_grader.tasks.task1.reference._NETWORK_MISTAKES`) is computed on the inputs the grader
draws for a secret seed and handed to the grader's own judge, exactly as a student's answer
would be. A pass is a false pass: the hidden test gave points to a wrong answer. The inputs must
expose every mistake on every draw (batches of two or more, sizes that differ, both signs at
every ReLU), so the rate must be 0; ``tests/test_false_pass.py`` and ``bench/bench_false_pass.py``
measure it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from dlci_grader.tasks.contract import Case, Context
from dlci_grader.tasks.task1 import checks, reference
from starter.gradient_diagnosis import analytic_suspects, linear_suspects, relu_suspects

Answer = dict[str, Any]
WrongAnswers = Callable[[Case], Iterator[tuple[str, Answer]]]
"""A case -> (mistake in words, the answer a student making it hands back), for each mistake."""


def _numpy(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def _linear(case: Case) -> Iterator[tuple[str, Answer]]:
    right = dict(zip(
        ("grad_x", "grad_weight", "grad_bias"),
        reference.linear_backward(case["x"], case["weight"], case["grad_output"]),
        strict=True,
    ))
    names = {"grad_input": "grad_x", "grad_weight": "grad_weight", "grad_bias": "grad_bias"}
    for key, suspects in linear_suspects(case["x"], case["weight"], case["grad_output"]).items():
        for suspect in suspects:
            answer = {**right, names[key]: _numpy(suspect.make())}
            yield f"LinearFunction: {names[key]}: {suspect.words}", answer | {
                f"autograd_{k}": v for k, v in answer.items()
            }


def _relu(case: Case) -> Iterator[tuple[str, Answer]]:
    for suspect in relu_suspects(case["x"], case["grad_output"]):
        value = _numpy(suspect.make())
        yield f"ReLUFunction: {suspect.words}", {"grad_x": value, "autograd_grad_x": value}


def _network(case: Case) -> Iterator[tuple[str, Answer]]:
    params = {k: v for k, v in case.items() if k not in ("x", "grad_y")}
    for _mistake, words, _test, layer, rule in reference._NETWORK_MISTAKES:
        yield f"network: {words}", reference.network_backward(
            case["x"], params, case["grad_y"], **{layer: rule},
        )


def _analytic(case: Case) -> Iterator[tuple[str, Answer]]:
    keys = ("y_hat", "y", "W3", "g2", "W2", "g1", "x")
    right_w, right_b = reference.analytic_gradients(*(case[k] for k in keys))
    weight, bias = analytic_suspects(*(case[k] for k in keys))
    # one typical slip each (the diagnosis also tries every combination of them, hundreds, which
    # a student's answer is not likely to be and which a single slip's test already exposes)
    for s in weight:
        if len(s.mistakes) == 1:
            yield f"analytic dL/dW1: {s.words}", {"grad_W1": _numpy(s.make()), "grad_b1": right_b}
    for s in bias:
        if len(s.mistakes) == 1:
            yield f"analytic dL/db1: {s.words}", {"grad_W1": right_w, "grad_b1": _numpy(s.make())}


def _sgd(case: Case) -> Iterator[tuple[str, Answer]]:
    count = sum(k.startswith("p") for k in case)
    lr = float(case["lr"])
    grads = {f"g{j}": case[f"g{j}"] for j in range(count)}
    steps: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
        "climbs the gradient (p += lr * grad)": lambda p, g: p + lr * g,
        "forgets the learning rate (p -= grad)": lambda p, g: p - g,
        "never moves the parameters": lambda p, g: p,
        "steps half as far (p -= lr * grad / 2)": lambda p, g: p - lr * g / 2,
    }
    for words, step in steps.items():
        yield f"sgd_step {words}", {
            f"p{j}": step(case[f"p{j}"], case[f"g{j}"]) for j in range(count)
        } | grads


WRONG_ANSWERS: dict[str, WrongAnswers] = {
    "test_linear": _linear, "test_linear_hidden": _linear,
    "test_relu": _relu, "test_relu_hidden": _relu,
    "test_network": _network, "test_network_hidden": _network,
    "test_analytic": _analytic, "test_analytic_hidden": _analytic,
    "test_sgd": _sgd, "test_sgd_hidden": _sgd,
}
"""The judged tests of Task 1 that check a formula, and the catalogued wrong answers to each."""


def false_passes(seeds: Iterable[int]) -> dict[tuple[str, str], tuple[int, int]]:
    """(test, mistake) -> (secret seeds on which the grader's judge passed it, seeds tried).

    Each seed draws the test's cases as :func:`dlci_grader.verdicts.judging.prepare` does; a
    mistake is made on every case of the draw (the student's function is wrong everywhere) and
    the answers go through the test's own judge.
    """
    counts: dict[tuple[str, str], list[int]] = {}
    for seed in seeds:
        context = Context(None, seed)
        for test, wrong_answers in WRONG_ANSWERS.items():
            judged = checks.JUDGED[test]
            cases = judged.make(np.random.default_rng([seed, zlib.crc32(test.encode())]), context)
            by_mistake: dict[str, list[Answer]] = {}
            for case in cases:
                for words, answer in wrong_answers(case):
                    by_mistake.setdefault(words, []).append(answer)
            for words, answers in by_mistake.items():
                tally = counts.setdefault((test, words), [0, 0])
                tally[1] += 1
                try:
                    judged.judge(cases, answers)
                except AssertionError:
                    continue
                tally[0] += 1
    return {key: (passed, tried) for key, (passed, tried) in counts.items()}
