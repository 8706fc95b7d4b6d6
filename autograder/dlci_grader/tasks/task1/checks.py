"""Hidden-test checks for Task 1 (backpropagation and MNIST inpainting).

Each check is a pure function of plain arrays that recomputes the answer with the instructor's
own numpy reference (:mod:`dlci_grader.tasks.task1.reference`, the gradient checks; the
inpainting loss is here) and raises ``AssertionError`` with a message that names the likely
mistake in words, never the code. :data:`JUDGED` registers the test cells: ``make`` draws
each test's inputs (with the grader's secret seed at grading time; sizes that differ from each
other, so a transpose shows in a shape), ``judge`` checks the arrays the student's code returned
for them. Both run in the grader's process (:mod:`dlci_grader.verdicts.judging`), never in the
student's.

Row-vector convention throughout: ``g = x Wᵀ + b`` with ``x`` (N, in), ``W`` (out, in),
``b`` (out,).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlci_grader.tasks.contract import Case, Context, JudgedTest, each_case

# The reference and its checks, also reached as checks.<name> (tests, the false-pass study).
from dlci_grader.tasks.task1.reference import (
    _NETWORK_MISTAKES as _NETWORK_MISTAKES,
)
from dlci_grader.tasks.task1.reference import (
    _array,
    check_analytic_gradients,
    check_linear_gradients,
    check_network_gradients,
    check_relu_gradient,
    check_sgd_step,
)
from dlci_grader.tasks.task1.reference import (
    analytic_gradients as analytic_gradients,
)
from dlci_grader.tasks.task1.reference import (
    linear_backward as linear_backward,
)
from dlci_grader.tasks.task1.reference import (
    network_backward as network_backward,
)
from dlci_grader.tasks.task1.reference import (
    relu_backward as relu_backward,
)
from starter.mistakes import WrongAnswer, mistakes_of

INPAINTING_LOSS_THRESHOLD = 185.0
"""Held-out inpainting loss (½‖ŷ − y‖² per digit, normalised units) a trained model must beat.

Calibrated on the solution notebook's schedule (20 epochs, batch 50, lr 0.003, 4,000 training
digits, 1,000 held out; the batch differs from the hidden width 32 so that a transposed
gradient fails autograd's shape check): as released it reaches 150.8 on the real MNIST test
split and 150.0 on the embedded 5,000 digits; over 12 runs with split and initialisation seeds
0-5 (6 real, 6 embedded) 150.0-164.7, mean about 155.5, standard deviation about 4.6. The
threshold sits about 20 above the worst of them (4.5 standard deviations; 6.5 above the mean).
Handing back the masked input unchanged gives about 207, predicting the mean digit about 277,
the untrained network about 400,
and the sample submissions with a wrong ReLU mask or update sign diverge (NaN).
``tests/test_task1_grading.py`` re-checks the margin on two of those seeds.
"""


TRAINED_AT_ALL_LOSS = 195.0
"""The visible training test's confirmation outside the kernel: the model must do better than
handing back its masked input unchanged (about 207 on the real test split, 206.6-211.3 over
secret seeds 1-3, and 207.2 on the embedded digits) and than predicting the mean digit (about
277), with room for every honest run (at most 164.7, see :data:`INPAINTING_LOSS_THRESHOLD`)."""

def inpainting_loss(reconstruction: Any, target: Any) -> float:
    """½‖ŷ − y‖² per digit, averaged over the digits; both (N, 784) normalised."""
    r, t = _array(reconstruction).astype(np.float64), _array(target).astype(np.float64)
    if r.shape != t.shape:
        raise AssertionError(f"reconstruction has shape {r.shape}, target {t.shape}")
    return float(0.5 * ((r - t) ** 2).sum(axis=1).mean())


def check_inpainting_loss(
    reconstruction: Any, target: Any, threshold: float = INPAINTING_LOSS_THRESHOLD
) -> float:
    """Check the trained model's held-out inpainting loss is finite and below ``threshold``.

    Returns:
        the loss, for the log.
    """
    loss = inpainting_loss(reconstruction, target)
    if not np.isfinite(loss):
        raise AssertionError(
            "the held-out inpainting loss is not finite: training diverged (check the update's "
            "sign and your gradients)"
        )
    if loss >= threshold:
        raise AssertionError(
            f"held-out inpainting loss {loss:.1f} is not below {threshold:.1f}; handing back the "
            f"masked digit unchanged gives about 207 and predicting the mean digit about 277"
        )
    return loss


# --- hidden tests: inputs made by the grader, answers judged by the grader -------------------

HELDOUT_DIGITS = 1000
"""Digits in the inpainting tests, drawn with the run's secret seed and removed from the data
the student's kernel gets (:func:`kernel_data`)."""
TRAIN_DIGITS = 4000
"""The notebook trains on the first 4,000 digits of ``randperm(len(data), seed 0)``."""


def _normal(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _dims(rng: np.random.Generator, count: int, low: int, high: int) -> list[int]:
    return [int(d) for d in rng.integers(low, high, size=count)]


def _distinct(rng: np.random.Generator, count: int, low: int, high: int) -> list[int]:
    """``count`` different sizes in [low, high): a transpose then changes a shape."""
    return [int(d) for d in rng.choice(np.arange(low, high), size=count, replace=False)]


def _linear_make(rng: np.random.Generator, context: Context) -> list[Case]:
    cases = []
    for dtype, (n, din, dout) in zip(
        (np.float64, np.float32, np.float32, np.float64),
        (
            [1, *_dims(rng, 2, 1, 24)], _distinct(rng, 3, 2, 40), _distinct(rng, 3, 2, 40),
            [_dims(rng, 1, 1, 6)[0], 1, 1]
        ),
        strict=True,
    ):
        cases.append({
            "x": _normal(rng, (n, din), dtype), "weight": _normal(rng, (dout, din), dtype),
            "bias": _normal(rng, (dout,), dtype), "grad_output": _normal(rng, (n, dout), dtype),
        })
    return cases


def _linear_judge(cases: list[Case], answers: list[Case]) -> None:
    def check(i: int, case: Case, answer: Case) -> None:
        for how, prefix in (("backward called directly", ""), ("through autograd", "autograd_")):
            try:
                check_linear_gradients(
                    case["x"], case["weight"], case["grad_output"],
                    *(answer.get(prefix + k) for k in ("grad_x", "grad_weight", "grad_bias")),
                )
            except AssertionError as error:
                raise WrongAnswer(f"{how}: {error}", mistakes_of(error)) from None

    each_case(cases, answers, check)


def _relu_make(rng: np.random.Generator, context: Context) -> list[Case]:
    shapes = [
        tuple(_dims(rng, 2, 1, 12)), tuple(_dims(rng, 3, 1, 6)), (int(rng.integers(500, 1500)),)
    ]
    return [
        {"x": _normal(rng, shape, dtype), "grad_output": _normal(rng, shape, dtype)}
        for shape, dtype in zip(shapes, (np.float64, np.float32, np.float32), strict=True)
    ]


def _relu_judge(cases: list[Case], answers: list[Case]) -> None:
    def check(i: int, case: Case, answer: Case) -> None:
        for how, key in (
            ("backward called directly", "grad_x"), ("through autograd", "autograd_grad_x")
        ):
            try:
                check_relu_gradient(case["x"], case["grad_output"], answer.get(key))
            except AssertionError as error:
                raise WrongAnswer(f"{how}: {error}", mistakes_of(error)) from None

    each_case(cases, answers, check)


def _network_params(rng: np.random.Generator, din: int, n: int, dout: int, dtype: type) -> Case:
    """Parameters like FullyConnectedNet's (uniform in ±1/√in)."""
    params = {}
    for name, shape, fan_in in (
        ("W1", (n, din), din), ("b1", (n,), din), ("W2", (n, n), n), ("b2", (n,), n),
        ("W3", (dout, n), n), ("b3", (dout,), n),
    ):
        params[name] = ((2 * rng.random(shape) - 1) / np.sqrt(fan_in)).astype(dtype)
    return params


def _exposes_every_mistake(case: Case) -> bool:
    """Both signs at each ReLU and a gradient that reaches every layer: then a mask on the wrong
    side, a derivative that is not 0 or 1, or a bias gradient averaged over the batch all change
    the result (with small sizes, a draw where a ReLU layer is all off would hide them)."""
    params = {k: v for k, v in case.items() if k not in ("x", "grad_y")}
    g1 = case["x"] @ params["W1"].T + params["b1"]
    g2 = np.maximum(g1, 0) @ params["W2"].T + params["b2"]
    if not all((g > 0).any() and (g < 0).any() for g in (g1, g2)):
        return False
    grads = network_backward(case["x"], params, case["grad_y"])
    return all(float(np.abs(grads[k]).max()) > 1e-2 for k in ("W1", "b1", "W2", "b2", "x"))


def _network_make(rng: np.random.Generator, context: Context) -> list[Case]:
    cases: list[Case] = []
    while len(cases) < 2:
        din, n, dout, batch = _distinct(rng, 4, 2, 12)
        case = _network_params(rng, din, n, dout, np.float64)
        case["x"] = _normal(rng, (batch, din), np.float64)
        case["grad_y"] = _normal(rng, (batch, dout), np.float64)
        if _exposes_every_mistake(case):  # else draw again
            cases.append(case)
    return cases


def _network_judge(cases: list[Case], answers: list[Case]) -> None:
    def check(i: int, case: Case, answer: Case) -> None:
        params = {k: v for k, v in case.items() if k not in ("x", "grad_y")}
        check_network_gradients(case["x"], params, case["grad_y"], answer)

    each_case(cases, answers, check)


def _analytic_make(rng: np.random.Generator, context: Context) -> list[Case]:
    cases = []
    for dtype in (np.float64, np.float64, np.float32):
        batch, din, n, dout = _distinct(rng, 4, 2, 18)
        p = {
            k: _normal(rng, v.shape, dtype)
            for k, v in _network_params(rng, din, n, dout, dtype).items()
        }
        x, y = _normal(rng, (batch, din), dtype), _normal(rng, (batch, dout), dtype)
        g1 = x @ p["W1"].T + p["b1"]
        g2 = np.maximum(g1, 0) @ p["W2"].T + p["b2"]
        y_hat = np.maximum(g2, 0) @ p["W3"].T + p["b3"]
        cases.append(
            {"y_hat": y_hat, "y": y, "W3": p["W3"], "g2": g2, "W2": p["W2"], "g1": g1, "x": x}
        )
    return cases


def _analytic_judge(cases: list[Case], answers: list[Case]) -> None:
    def check(i: int, case: Case, answer: Case) -> None:
        y_hat, y, W3, g2, W2, g1, x = (case[k] for k in ("y_hat", "y", "W3", "g2", "W2", "g1", "x"))
        check_analytic_gradients(
            y_hat, y, W3, g2, W2, g1, x, answer.get("grad_W1"), answer.get("grad_b1")
        )

    each_case(cases, answers, check)


def _sgd_make(rng: np.random.Generator, context: Context) -> list[Case]:
    cases = []
    for dtype, as_list in ((np.float64, 0), (np.float32, 1)):
        din, n, dout = _dims(rng, 3, 1, 7)
        params = _network_params(rng, din, n, dout, dtype)
        case = {f"p{i}": v for i, v in enumerate(params.values())}
        case |= {f"g{i}": _normal(rng, v.shape, dtype) for i, v in enumerate(params.values())}
        case["lr"] = np.array(2.0 ** -int(rng.integers(1, 5)))
        case["as_list"] = np.array(as_list)
        cases.append(case)
    return cases


def _sgd_judge(cases: list[Case], answers: list[Case]) -> None:
    def check(i: int, case: Case, answer: Case) -> None:
        count = sum(k.startswith("p") for k in case)
        after = [answer.get(f"p{j}") for j in range(count)]
        if any(a is None for a in after):
            raise AssertionError("the parameters after the step are missing")
        check_sgd_step(
            [case[f"p{j}"] for j in range(count)], [case[f"g{j}"] for j in range(count)], after,
            float(case["lr"]), [answer.get(f"g{j}") for j in range(count)],
        )

    each_case(cases, answers, check)


@functools.lru_cache(maxsize=2)
def _digits(data_root: Path | None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(uint8 images (N, 28, 28), labels (N,), file prefix of the real split or None for the
    embedded digits) of the grader's data root, the split the notebook loads; read once per run
    (the kernel's data and both inpainting tests need them; callers do not modify them)."""
    from starter.data import MNISTDigits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = MNISTDigits(data_root)
    prefix = {"train": "train", "test": "t10k"}[data.split] if data.source == "real" else None
    return data.images.numpy(), data.labels.numpy(), prefix


def heldout_indices(count: int, seed: int) -> np.ndarray:
    """The digits the hidden inpainting test uses, drawn from the run's secret seed (sorted)."""
    rng = np.random.default_rng([seed, 0x7E1D])
    return np.sort(rng.choice(count, size=min(HELDOUT_DIGITS, count // 5), replace=False))


def kernel_data(context: Context, folder: Path) -> Path | None:
    """The student's kernel gets the MNIST split without the held-out digits (``folder/MNIST``).

    So a "model" that looks the masked digits up on disk finds nothing. None when the grader
    itself has only the embedded digits (they ship in a package the kernel can read).
    """
    images, labels, prefix = _digits(context.data_root)
    if prefix is None:
        return None
    keep = np.setdiff1d(np.arange(len(images)), heldout_indices(len(images), context.seed))
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for kind, array in (("images-idx3", images[keep]), ("labels-idx1", labels[keep])):
        name = f"{prefix}-{kind}-ubyte"
        header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
        (raw / name).write_bytes(header + array.astype(np.uint8).tobytes())
    return folder


def _training_make(rng: np.random.Generator, context: Context) -> list[Case]:
    """Held-out masked digits; the full digits stay with the grader (``_target``).

    Outside the grader (no secret seed, full data in the kernel) the notebook's own held-out
    digits are used instead, so the check means the same when a solution runs locally.
    """
    import torch

    from starter.data import mask_bottom_half, normalize_digits

    images, _, prefix = _digits(context.data_root)
    if prefix is not None and context.held_out:
        pick = heldout_indices(len(images), context.seed)
    else:
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0)).numpy()
        pick = order[TRAIN_DIGITS : TRAIN_DIGITS + HELDOUT_DIGITS]
    target = normalize_digits(torch.from_numpy(images[pick].copy()))
    return [{"masked": mask_bottom_half(target).numpy(), "_target": target.numpy()}]


def _inpainting_judge(threshold: float) -> Callable[[list[Case], list[Case]], str]:
    def judge(cases: list[Case], answers: list[Case]) -> str:
        losses = []

        def check(i: int, case: Case, answer: Case) -> None:
            reconstruction = answer.get("reconstruction")
            if reconstruction is None:
                raise AssertionError("no reconstruction came back")
            losses.append(check_inpainting_loss(reconstruction, case["_target"], threshold))

        each_case(cases, answers, check)
        return f"held-out inpainting loss {max(losses):.1f} < {threshold:g}"

    return judge


_LINEAR = JudgedTest(_linear_make, _linear_judge, definitions_only=True)
_RELU = JudgedTest(_relu_make, _relu_judge, definitions_only=True)
_NETWORK = JudgedTest(_network_make, _network_judge, definitions_only=True)
_ANALYTIC = JudgedTest(_analytic_make, _analytic_judge, definitions_only=True)
_SGD = JudgedTest(_sgd_make, _sgd_judge, definitions_only=True)
JUDGED: dict[str, JudgedTest] = {
    "test_linear": _LINEAR, "test_linear_hidden": _LINEAR,
    "test_relu": _RELU, "test_relu_hidden": _RELU,
    "test_network": _NETWORK, "test_network_hidden": _NETWORK,
    "test_analytic": _ANALYTIC, "test_analytic_hidden": _ANALYTIC,
    "test_sgd": _SGD, "test_sgd_hidden": _SGD,
    "test_training": JudgedTest(_training_make, _inpainting_judge(TRAINED_AT_ALL_LOSS)),
    "test_training_hidden": JudgedTest(
        _training_make, _inpainting_judge(INPAINTING_LOSS_THRESHOLD),
    ),
}
"""Task 1's test cells (grade ids), judged outside the student's process; each draws its own
inputs (the seed is mixed with the cell's id)."""
