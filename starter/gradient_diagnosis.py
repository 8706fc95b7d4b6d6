"""Diagnosis of a wrong gradient: what is wrong with it, in words, and which typical mistake it is.

Shared by Task 1's visible tests (:mod:`starter.autograd_checks`, run in the student's notebook)
and the instructor's hidden tests, so a student reads the same hint in ``dlci check`` and in
their feedback. :func:`explain` describes how a gradient differs
from the right one: its shape against the variable's layout, then, trying the :data:`Suspect`
mistakes of :func:`linear_suspects`, :func:`relu_suspects` and :func:`analytic_suspects`, the
mistake it equals, else how far off it is; :func:`sgd_mistake` does the same for one update.
The messages name mistakes; they never give the code.

Row-vector convention: ``g = x Wᵀ + b`` with ``x`` (N, in), ``W`` (out, in), ``b`` (out,).

Example:
    >>> import torch
    >>> explain("grad_bias", torch.ones(3) / 4, torch.ones(3),
    ...         suspects=[("the batch mean", lambda: torch.ones(3) / 4)])
    'grad_bias has the right shape (3,) but wrong values: the batch mean'
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable
from typing import Any

import torch

Suspect = tuple[str, Callable[[], Any]]
"""A typical mistake: (what it is, in words; a function computing what it would return)."""

LINEAR_VARIABLES = {
    "grad_input": "the input x is (N, in)",
    "grad_weight": "the weight is (out, in)",
    "grad_bias": "the bias is (out,)",
}
"""What each gradient of ``LinearFunction`` is the gradient of, with that variable's layout."""


def as_float64(value: Any) -> torch.Tensor | None:
    """A float64 CPU copy of a tensor, numpy array or number; None for anything else."""
    if value is None:
        return None
    try:
        tensor = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        return tensor.cpu().to(torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def _required(value: Any, name: str) -> torch.Tensor:
    """:func:`as_float64` of an input that must be a tensor, numpy array or number."""
    tensor = as_float64(value)
    if tensor is None:
        raise TypeError(
            f"{name} must be a tensor, a numpy array or a number, not {type(value).__name__}"
        )
    return tensor


def shape_of(value: Any) -> tuple[int, ...]:
    """A tensor's or array's shape as a plain tuple, printed like ``(16, 32)``."""
    return tuple(int(s) for s in value.shape)


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4) -> bool:
    """Loose equality, for recognising a mistake (also in float32 answers)."""
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(b.abs().max())) if b.numel() else 1.0
    return bool(torch.isfinite(a).all()) and torch.allclose(a, b, rtol=rtol, atol=1e-6 * scale)


def _suspected(got: torch.Tensor, expected: torch.Tensor, suspects: Iterable[Suspect]) -> str:
    """The first suspect ``got`` equals (and the right answer does not); '' when none."""
    for says, make in suspects:
        try:
            value = as_float64(make())
        except (RuntimeError, ValueError, IndexError, TypeError):
            continue  # that mistake is impossible with these shapes
        if value is None or value.shape != got.shape or _close(value, expected):
            continue
        if _close(got, value):
            return says
    return ""


def _how_values_differ(got: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float) -> str:
    """Words for a wrong result of the right shape that matches no known mistake."""
    if not bool(got.any()):
        return "it is zero everywhere"
    norm = float((expected * expected).sum())
    if norm > 0:
        factor = float((got * expected).sum()) / norm
        if float((got - factor * expected).norm()) <= 1e-6 * float(got.norm()):
            if abs(factor + 1) < 1e-6:
                return "it has the opposite sign"
            return f"it is {factor:.4g} × the right values (a constant factor too many)"
    diff = (got - expected).abs()
    off = int((diff > atol + rtol * expected.abs()).sum())
    relative = float(diff.norm()) / max(float(expected.norm()), 1e-300)
    return (
        f"{off} of {got.numel()} entries are off (largest error {float(diff.max()):.3g}, "
        f"relative error {relative:.2g})"
    )


def explain(
    name: str,
    got: Any,
    expected: Any,
    *,
    variable: str = "",
    suspects: Iterable[Suspect] = (),
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> str | None:
    """What is wrong with ``got`` as ``name``, in words; None when it equals ``expected``.

    Checks, in order: a tensor at all, its shape (against ``variable``, e.g. "the weight is
    (out, in)"), finiteness, its values (``rtol``, ``atol``). A wrong result is compared with
    every suspect of the same shape; the first it equals is named, otherwise the message says
    how far off it is.

    Example:
        >>> explain("grad_bias", torch.ones(3) / 4, torch.ones(3),
        ...         suspects=[("the batch mean", lambda: torch.ones(3) / 4)])
        'grad_bias has the right shape (3,) but wrong values: the batch mean'
    """
    expected = as_float64(expected)
    value = as_float64(got)
    want = shape_of(expected)
    if value is None:
        what = "None" if got is None else f"a {type(got).__name__}"
        return f"{name} is {what}; expected a tensor of shape {want}"
    have = shape_of(value)
    suspects = list(suspects)
    if have != want:
        because = f"; {variable}, so expected {want}" if variable else f", expected {want}"
        says = _suspected(value, expected, suspects)
        if not says and len(have) == 2 and have == want[::-1]:
            says = "the transposed shape"
        return f"{name} has shape {have}{because}" + (f": {says}" if says else "")
    if not bool(torch.isfinite(value).all()):
        return f"{name} contains NaN or infinite values"
    if torch.allclose(value, expected, rtol=rtol, atol=atol):
        return None
    says = _suspected(value, expected, suspects) or _how_values_differ(value, expected, rtol, atol)
    return f"{name} has the right shape {want} but wrong values: {says}"


def linear_suspects(x: Any, weight: Any, grad_output: Any) -> dict[str, list[Suspect]]:
    """Typical wrong results of ``LinearFunction.backward``, keyed like :data:`LINEAR_VARIABLES`."""
    x, w, go = _required(x, "x"), _required(weight, "weight"), _required(grad_output, "grad_output")
    return {
        "grad_input": [
            ("it is the transpose of dL/dx", lambda: (go @ w).T),
            ("it is the upstream gradient itself, not taken back through the weight", lambda: go),
        ],
        "grad_weight": [
            ("it is the transpose of dL/dW", lambda: (go.T @ x).T),
            (
                "it is the batch mean; the loss adds up the examples, so its gradient sums over "
                "the batch",
                lambda: go.T @ x / x.shape[0],
            ),
        ],
        "grad_bias": [
            ("it is the batch mean, not the sum over the batch", lambda: go.mean(0)),
            (
                "it still has the batch dimension: the bias is shared by every row, so its "
                "gradient adds up the rows' contributions",
                lambda: go,
            ),
            ("it is summed over the outputs, not over the batch", lambda: go.sum(1)),
        ],
    }


def relu_suspects(g: Any, grad_output: Any) -> list[Suspect]:
    """Typical wrong results of ``ReLUFunction.backward`` for input ``g``."""
    g, go = _required(g, "g"), _required(grad_output, "grad_output")
    return [
        (
            "it passes the gradient where g < 0 and blocks it where g > 0: the mask is on the "
            "wrong side",
            lambda: go * (g < 0),
        ),
        ("it is the mask alone: the upstream gradient is not multiplied in", lambda: (g > 0) * 1.0),
        ("it is the upstream gradient unmasked: it does not stop where g ≤ 0", lambda: go),
        (
            "the mask follows the sign of the upstream gradient; it must follow the sign of the "
            "input g",
            lambda: go * (go > 0),
        ),
        (
            "it multiplies the upstream gradient by the input itself; the ReLU's derivative is "
            "0 or 1",
            lambda: go * g,
        ),
        (
            "it multiplies the upstream gradient by the ReLU's output; the ReLU's derivative is "
            "0 or 1",
            lambda: go * g.clamp(min=0),
        ),
    ]


def _delta1(
    error: torch.Tensor, W3: torch.Tensor, mask2: Any, W2: torch.Tensor, mask1: Any
) -> torch.Tensor:
    """dL/dg1 from dL/dŷ = ``error`` back through layer 3, a mask, layer 2, a mask."""
    return (((error @ W3) * mask2) @ W2) * mask1


_Form = tuple[list[str], Callable[[torch.Tensor], torch.Tensor]]
"""How dL/dW1 or dL/db1 follows from dL/dg1: (the slips it makes, in words; the function)."""


def _apply_form(
    form: Callable[[torch.Tensor], torch.Tensor], delta1: Callable[[], torch.Tensor]
) -> torch.Tensor:
    """``form(delta1())``: a suspect computed only when it is tried."""
    return form(delta1())


def analytic_suspects(
    y_hat: Any, y: Any, W3: Any, g2: Any, W2: Any, g1: Any, x: Any
) -> tuple[list[Suspect], list[Suspect]]:
    """Typical wrong (dL/dW1, dL/db1) of the MLP for these forward values, fewest slips first.

    A slip is one of: a ReLU mask missing, swapped or on the wrong side; W2 transposed; the sign
    of dL/dŷ flipped; a factor 1/N or 2; then dL/dW1 transposed, dL/db1 averaged or unsummed.
    """
    y_hat, y, W3, g2, W2, g1, x = (
        _required(a, name)
        for a, name in zip(
            (y_hat, y, W3, g2, W2, g1, x), ("y_hat", "y", "W3", "g2", "W2", "g1", "x"), strict=True
        )
    )
    m1, m2 = (g1 > 0) * 1.0, (g2 > 0) * 1.0
    masks = [
        ("", m2, m1),
        ("the gradient does not stop where g1 ≤ 0", m2, 1.0),
        ("the gradient does not stop where g2 ≤ 0", 1.0, m1),
        ("the gradient stops at neither ReLU (not where g1 ≤ 0, not where g2 ≤ 0)", 1.0, 1.0),
        ("the two ReLU masks are swapped (g1's where g2's belongs)", m1, m2),
        (
            "the ReLU masks are on the wrong side: the gradient passes where g < 0 and stops "
            "where g > 0",
            1.0 - m2,
            1.0 - m1,
        ),
    ]
    w2s = [
        ("", W2),
        (
            "W2 enters transposed (it is square, so the shapes cannot tell; check which index "
            "of W2 the chain rule sums over)",
            W2.T,
        ),
    ]
    signs = [("", 1.0), ("it has the opposite sign (check dL/dŷ)", -1.0)]
    scales = [
        ("", 1.0),
        (
            "it is 1/N of the right value: the loss sums over the batch, it does not average",
            1.0 / x.shape[0],
        ),
        ("it is twice the right value: the ½ in the loss cancels the 2 of the square", 2.0),
    ]
    deltas: list[tuple[list[str], Callable[[], torch.Tensor]]] = []
    for (a, mask2, mask1), (b, w2), (c, sign), (d, scale) in itertools.product(
        masks, w2s, signs, scales
    ):
        slips = [s for s in (a, b, c, d) if s]
        error = sign * scale * (y_hat - y)
        deltas.append((slips, functools.partial(_delta1, error, W3, mask2, w2, mask1)))
    weight_forms: list[_Form] = [
        ([], lambda d: d.T @ x), (["it is the transpose of dL/dW1"], lambda d: x.T @ d)
    ]
    bias_forms: list[_Form] = [
        ([], lambda d: d.sum(0)),
        (["it is the batch mean, not the sum over the batch"], lambda d: d.mean(0)),
        (["it still has the batch dimension: sum over the batch"], lambda d: d),
        (["it is summed over the hidden units, not over the batch"], lambda d: d.sum(1)),
    ]

    def ranked(forms: list[_Form]) -> list[Suspect]:
        found: list[tuple[list[str], Callable[[], torch.Tensor]]] = []
        for (slips, delta1), (more, form) in itertools.product(deltas, forms):
            words = slips + more
            if words:
                found.append((words, functools.partial(_apply_form, form, delta1)))
        found.sort(key=lambda item: len(item[0]))
        return [("; ".join(words), make) for words, make in found]

    return ranked(weight_forms), ranked(bias_forms)


def sgd_mistake(
    name: str, before: Any, grad: Any, after: Any, lr: float, grad_after: Any = None
) -> str | None:
    """What one gradient-descent step did to a parameter, if not ``before − lr·grad``.

    Args:
        name: the parameter, for the message.
        before, grad, after: the parameter before the step, its gradient, the parameter after.
        lr: the learning rate.
        grad_after: the parameter's ``.grad`` after the step, when known.

    Returns:
        None when ``after`` is exactly ``before − lr·grad``, else the mistake in words.
    """
    p0, g, p1 = _required(before, "before"), _required(grad, "grad"), as_float64(after)
    if p1 is None or p1.shape != p0.shape:
        return f"{name} changed from shape {shape_of(p0)} to {None if p1 is None else shape_of(p1)}"
    if torch.equal(p1, p0 - lr * g):
        return None
    if torch.equal(p1, p0):
        cleared = as_float64(grad_after)
        if cleared is not None and bool(g.any()) and not bool(cleared.any()):
            return (
                f"{name} did not move and its gradient is now zero: the gradient was cleared "
                f"before the step used it"
            )
        return (
            f"{name} did not move: a step that computes a new tensor and gives it the loop "
            f"variable's name leaves the model's tensor as it was; change the parameter itself, "
            f"in place"
        )
    candidates = [
        (
            p0 + lr * g,
            f"{name} moved by +lr·grad, uphill: gradient descent moves against the gradient"
        ),
        (
            p0 - g,
            f"{name} moved by −grad: the step is not scaled by the learning rate (lr = {lr:g})"
        ),
        (
            p0 - lr * p0,
            f"{name} moved by −lr·{name}: the step uses the parameter, not its gradient"
        ),
        (-lr * g, f"{name} was replaced by −lr·grad instead of moved by it"),
    ]
    for value, says in candidates:
        if _close(p1, value, rtol=1e-6):
            return says
    err = float((p1 - (p0 - lr * g)).abs().max())
    return f"{name} did not move by −lr·grad (lr = {lr:g}): largest error {err:.3g}"
