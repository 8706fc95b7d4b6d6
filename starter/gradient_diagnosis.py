"""Diagnosis of a wrong gradient: what is wrong with it, in words, and which typical mistake it is.

Shared by Task 1's visible tests (:mod:`starter.autograd_checks`, run in the student's notebook)
and the instructor's hidden tests, so a student reads the same hint in ``dlci check`` and in
their feedback. :func:`explain` describes how a gradient differs
from the right one: its shape against the variable's layout, then, trying the :data:`Suspect`
mistakes of :func:`linear_suspects`, :func:`relu_suspects` and :func:`analytic_suspects`, the
mistake it equals, else how far off it is; :func:`sgd_mistake` does the same for one update.
The messages name mistakes; they never give the code.

Every suspect is a named mistake of :mod:`starter.mistakes`: :func:`diagnose` returns the
words and the ids of the mistakes it recognised (the grader records the ids in its verdict).

Row-vector convention: ``g = x Wᵀ + b`` with ``x`` (N, in), ``W`` (out, in), ``b`` (out,).

Example:
    >>> import torch
    >>> from starter.mistakes import LINEAR_BIAS_MEAN
    >>> found = diagnose("grad_bias", torch.ones(3) / 4, torch.ones(3),
    ...                  suspects=[Suspect((LINEAR_BIAS_MEAN,), lambda: torch.ones(3) / 4)])
    >>> found.says.endswith("wrong values: it is the batch mean, not the sum over the batch")
    True
    >>> found.mistakes
    ('linear.grad_bias.mean',)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from starter import mistakes as m
from starter.mistakes import Mistake


@dataclass(frozen=True)
class Suspect:
    """A typical wrong answer: the named mistakes it makes (one, or a combination of slips) and a
    function computing what it would return (called only when it is tried). ``says`` replaces
    the mistakes' own words where the context needs others."""

    mistakes: tuple[Mistake, ...]
    make: Callable[[], Any]
    says: str = ""

    @property
    def words(self) -> str:
        return self.says or "; ".join(mistake.says for mistake in self.mistakes)


@dataclass(frozen=True)
class Diagnosis:
    """What is wrong with a result, in words (``says``), and the ids of the named mistakes it
    was recognised as (``mistakes``; empty when it matches none)."""

    says: str
    mistakes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.says

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


def _suspected(
    got: torch.Tensor, expected: torch.Tensor, suspects: Iterable[Suspect]
) -> Suspect | None:
    """The first suspect ``got`` equals (and the right answer does not); None when none."""
    for suspect in suspects:
        try:
            value = as_float64(suspect.make())
        except (RuntimeError, ValueError, IndexError, TypeError):
            continue  # that mistake is impossible with these shapes
        if value is None or value.shape != got.shape or _close(value, expected):
            continue
        if _close(got, value):
            return suspect
    return None


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


def _found(says: str, suspect: Suspect | None) -> Diagnosis:
    return Diagnosis(says, tuple(x.id for x in suspect.mistakes) if suspect else ())


def diagnose(
    name: str,
    got: Any,
    expected: Any,
    *,
    variable: str = "",
    suspects: Iterable[Suspect] = (),
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> Diagnosis | None:
    """What is wrong with ``got`` as ``name`` and which named mistake it is; None when it equals
    ``expected``.

    Checks, in order: a tensor at all, its shape (against ``variable``, e.g. "the weight is
    (out, in)"), finiteness, its values (``rtol``, ``atol``). A wrong result is compared with
    every suspect of the same shape; the first it equals is named, otherwise the message says
    how far off it is.
    """
    expected = as_float64(expected)
    value = as_float64(got)
    want = shape_of(expected)
    if value is None:
        what = "None" if got is None else f"a {type(got).__name__}"
        return Diagnosis(f"{name} is {what}; expected a tensor of shape {want}")
    have = shape_of(value)
    suspects = list(suspects)
    if have != want:
        because = f"; {variable}, so expected {want}" if variable else f", expected {want}"
        suspect = _suspected(value, expected, suspects)
        says = suspect.words if suspect else ""
        if not says and len(have) == 2 and have == want[::-1]:
            says = "the transposed shape"
        return _found(f"{name} has shape {have}{because}" + (f": {says}" if says else ""), suspect)
    if not bool(torch.isfinite(value).all()):
        return Diagnosis(f"{name} contains NaN or infinite values")
    if torch.allclose(value, expected, rtol=rtol, atol=atol):
        return None
    suspect = _suspected(value, expected, suspects)
    says = suspect.words if suspect else _how_values_differ(value, expected, rtol, atol)
    return _found(f"{name} has the right shape {want} but wrong values: {says}", suspect)


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
    """:func:`diagnose`'s words only: what is wrong with ``got`` as ``name``; None when right.

    Example:
        >>> explain("grad_bias", torch.ones(3), torch.ones(3)) is None
        True
        >>> explain("grad_bias", torch.ones(2), torch.ones(3))
        'grad_bias has shape (2,), expected (3,)'
    """
    found = diagnose(
        name, got, expected, variable=variable, suspects=suspects, rtol=rtol, atol=atol
    )
    return None if found is None else found.says


def linear_suspects(x: Any, weight: Any, grad_output: Any) -> dict[str, list[Suspect]]:
    """Typical wrong results of ``LinearFunction.backward``, keyed like :data:`LINEAR_VARIABLES`."""
    x, w, go = _required(x, "x"), _required(weight, "weight"), _required(grad_output, "grad_output")
    return {
        "grad_input": [
            Suspect((m.LINEAR_INPUT_TRANSPOSED,), lambda: (go @ w).T),
            Suspect((m.LINEAR_INPUT_UPSTREAM,), lambda: go),
        ],
        "grad_weight": [
            Suspect((m.LINEAR_WEIGHT_TRANSPOSED,), lambda: (go.T @ x).T),
            Suspect((m.LINEAR_WEIGHT_MEAN,), lambda: go.T @ x / x.shape[0]),
        ],
        "grad_bias": [
            Suspect((m.LINEAR_BIAS_MEAN,), lambda: go.mean(0)),
            Suspect((m.LINEAR_BIAS_UNSUMMED,), lambda: go),
            Suspect((m.LINEAR_BIAS_SUMMED_OVER_OUTPUTS,), lambda: go.sum(1)),
        ],
    }


def relu_suspects(g: Any, grad_output: Any) -> list[Suspect]:
    """Typical wrong results of ``ReLUFunction.backward`` for input ``g``."""
    g, go = _required(g, "g"), _required(grad_output, "grad_output")
    return [
        Suspect((m.RELU_WRONG_SIDE,), lambda: go * (g < 0)),
        Suspect((m.RELU_MASK_ALONE,), lambda: (g > 0) * 1.0),
        Suspect((m.RELU_UNMASKED,), lambda: go),
        Suspect((m.RELU_UPSTREAM_SIGN,), lambda: go * (go > 0)),
        Suspect((m.RELU_TIMES_INPUT,), lambda: go * g),
        Suspect((m.RELU_TIMES_OUTPUT,), lambda: go * g.clamp(min=0)),
    ]


def _delta1(
    error: torch.Tensor, W3: torch.Tensor, mask2: Any, W2: torch.Tensor, mask1: Any
) -> torch.Tensor:
    """dL/dg1 from dL/dŷ = ``error`` back through layer 3, a mask, layer 2, a mask."""
    return (((error @ W3) * mask2) @ W2) * mask1


_Form = tuple[list[Mistake], Callable[[torch.Tensor], torch.Tensor]]
"""How dL/dW1 or dL/db1 follows from dL/dg1: (the slips it makes; the function)."""


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
    masks: list[tuple[Mistake | None, Any, Any]] = [
        (None, m2, m1),
        (m.ANALYTIC_MASK1_MISSING, m2, 1.0),
        (m.ANALYTIC_MASK2_MISSING, 1.0, m1),
        (m.ANALYTIC_MASKS_MISSING, 1.0, 1.0),
        (m.ANALYTIC_MASKS_SWAPPED, m1, m2),
        (m.ANALYTIC_MASKS_WRONG_SIDE, 1.0 - m2, 1.0 - m1),
    ]
    w2s = [(None, W2), (m.ANALYTIC_W2_TRANSPOSED, W2.T)]
    signs = [(None, 1.0), (m.ANALYTIC_SIGN, -1.0)]
    scales = [(None, 1.0), (m.ANALYTIC_AVERAGED, 1.0 / x.shape[0]), (m.ANALYTIC_TWICE, 2.0)]
    deltas: list[tuple[list[Mistake], Callable[[], torch.Tensor]]] = []
    for (a, mask2, mask1), (b, w2), (c, sign), (d, scale) in itertools.product(
        masks, w2s, signs, scales
    ):
        slips = [s for s in (a, b, c, d) if s is not None]
        error = sign * scale * (y_hat - y)
        deltas.append((slips, functools.partial(_delta1, error, W3, mask2, w2, mask1)))
    weight_forms: list[_Form] = [
        ([], lambda d: d.T @ x), ([m.ANALYTIC_W1_TRANSPOSED], lambda d: x.T @ d)
    ]
    bias_forms: list[_Form] = [
        ([], lambda d: d.sum(0)),
        ([m.ANALYTIC_B1_MEAN], lambda d: d.mean(0)),
        ([m.ANALYTIC_B1_UNSUMMED], lambda d: d),
        ([m.ANALYTIC_B1_SUMMED_OVER_UNITS], lambda d: d.sum(1)),
    ]

    def ranked(forms: list[_Form]) -> list[Suspect]:
        found: list[Suspect] = []
        for (slips, delta1), (more, form) in itertools.product(deltas, forms):
            if slips or more:
                found.append(
                    Suspect(tuple(slips + more), functools.partial(_apply_form, form, delta1))
                )
        found.sort(key=lambda suspect: len(suspect.mistakes))
        return found

    return ranked(weight_forms), ranked(bias_forms)


def sgd_mistake(
    name: str, before: Any, grad: Any, after: Any, lr: float, grad_after: Any = None
) -> Diagnosis | None:
    """What one gradient-descent step did to a parameter, if not ``before − lr·grad``.

    Args:
        name: the parameter, for the message.
        before, grad, after: the parameter before the step, its gradient, the parameter after.
        lr: the learning rate.
        grad_after: the parameter's ``.grad`` after the step, when known.

    Returns:
        None when ``after`` is exactly ``before − lr·grad``, else the mistake (its words are
        ``str()`` of it).
    """
    p0, g, p1 = _required(before, "before"), _required(grad, "grad"), as_float64(after)
    if p1 is None or p1.shape != p0.shape:
        return Diagnosis(
            f"{name} changed from shape {shape_of(p0)} to {None if p1 is None else shape_of(p1)}"
        )
    if torch.equal(p1, p0 - lr * g):
        return None

    def named(mistake: Mistake) -> Diagnosis:
        return Diagnosis(mistake.words(name=name, lr=lr), (mistake.id,))

    if torch.equal(p1, p0):
        cleared = as_float64(grad_after)
        if cleared is not None and bool(g.any()) and not bool(cleared.any()):
            return named(m.SGD_GRAD_CLEARED)
        return named(m.SGD_NOT_IN_PLACE)
    candidates = [
        (p0 + lr * g, m.SGD_UPHILL),
        (p0 - g, m.SGD_UNSCALED),
        (p0 - lr * p0, m.SGD_USES_PARAMETER),
        (-lr * g, m.SGD_REPLACED),
    ]
    for value, mistake in candidates:
        if _close(p1, value, rtol=1e-6):
            return named(mistake)
    err = float((p1 - (p0 - lr * g)).abs().max())
    return Diagnosis(f"{name} did not move by −lr·grad (lr = {lr:g}): largest error {err:.3g}")
