"""Task 1's reference answers in numpy, and the checks of an answer against them.

Each check is a pure function of plain arrays: it recomputes the gradient (or the update) with
the instructor's own numpy reference and raises ``AssertionError`` with a message that names the
likely mistake in words, never the code (the words come from the visible checks' diagnosis,
:func:`starter.gradient_diagnosis.diagnose` and its suspects, so students read the same hint in
``dlci check`` and in their feedback). The hidden tests that draw the inputs and call these
checks are :mod:`dlci_grader.tasks.task1.checks`.

Row-vector convention throughout: ``g = x Wᵀ + b`` with ``x`` (N, in), ``W`` (out, in),
``b`` (out,).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from starter import mistakes as m
from starter.gradient_diagnosis import (
    LINEAR_VARIABLES,
    Suspect,
    analytic_suspects,
    diagnose,
    linear_suspects,
    relu_suspects,
    sgd_mistake,
)
from starter.mistakes import Mistake, WrongAnswer


def _array(value: Any) -> np.ndarray:
    """A numpy copy of a tensor (any device, with or without grad) or array-like."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.array(value, copy=True)


def _tolerances(dtype: np.dtype) -> tuple[float, float]:
    """(rtol, atol relative to the reference's scale) for a floating dtype."""
    return (1e-9, 1e-9) if dtype == np.float64 else (1e-4, 1e-5)


def _check_close(
    name: str,
    got: Any,
    expected: np.ndarray,
    dtype: np.dtype,
    variable: str = "",
    suspects: Sequence[Suspect] = (),
) -> None:
    """Assert ``got`` has the expected shape, dtype and values (within dtype tolerances).

    A failure (:class:`~starter.mistakes.WrongAnswer`) says what is wrong in words
    (:func:`starter.gradient_diagnosis.diagnose`): the shape against ``variable``'s layout, and
    which of ``suspects`` (typical mistakes) it equals, whose ids it carries.
    """
    rtol, atol = _tolerances(dtype)
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    if got is not None:
        got = _array(got)
        if got.shape == expected.shape:
            close = np.all(np.isfinite(got)) and np.allclose(
                got, expected, rtol=rtol, atol=atol * scale
            )
            if got.dtype != dtype:
                values = None if close else diagnose(
                    name, got, expected, suspects=suspects, rtol=rtol, atol=atol * scale
                )
                raise WrongAnswer(
                    f"{name} has dtype {got.dtype}, expected {dtype} (the inputs' dtype)"
                    + (f"; and {values}" if values else ""),
                    values.mistakes if values else (),
                )
            if close:
                return
    found = diagnose(
        name, got, expected, variable=variable, suspects=suspects, rtol=rtol, atol=atol * scale
    )
    if found is None:  # within diagnose's tolerance, not within ours
        err = float(np.abs(got - expected).max())
        raise AssertionError(f"{name} is wrong: largest error {err:.3g} (scale {scale:.3g})")
    raise WrongAnswer(found.says, found.mistakes)


def linear_backward(
    x: np.ndarray, weight: np.ndarray, grad_output: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference: (dL/dx (N, in), dL/dW (out, in), dL/db (out,)) for g = x Wᵀ + b."""
    return grad_output @ weight, grad_output.T @ x, grad_output.sum(axis=0)


def check_linear_gradients(
    x: Any, weight: Any, grad_output: Any, grad_x: Any, grad_weight: Any, grad_bias: Any
) -> None:
    """Check the gradients a LinearFunction.backward returned for ``g = x Wᵀ + b``.

    Args:
        x: (N, in); weight: (out, in); grad_output: dL/dg, (N, out).
        grad_x, grad_weight, grad_bias: what the student's backward returned.
    """
    x, weight, grad_output = _array(x), _array(weight), _array(grad_output)
    suspects = linear_suspects(x, weight, grad_output)
    for (key, variable), letter, got, expected in zip(
        LINEAR_VARIABLES.items(), "xWb", (grad_x, grad_weight, grad_bias),
        linear_backward(x, weight, grad_output), strict=True,
    ):
        _check_close(f"{key} (dL/d{letter})", got, expected, x.dtype, variable, suspects[key])


def relu_backward(x: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
    """Reference: dL/dx = dL/dh where x > 0, else 0."""
    return grad_output * (x > 0)


def check_relu_gradient(x: Any, grad_output: Any, grad_x: Any) -> None:
    """Check ReLUFunction.backward's gradient for input ``x`` and upstream ``grad_output``."""
    x, grad_output = _array(x), _array(grad_output)
    ref = relu_backward(x, grad_output).astype(x.dtype)
    _check_close(
        "ReLU grad_input (dL/dg)", grad_x, ref, x.dtype, f"the input g is {x.shape}",
        relu_suspects(x, grad_output),
    )


def network_backward(
    x: np.ndarray,
    params: dict[str, np.ndarray],
    grad_y: np.ndarray,
    linear: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]] = linear_backward,
    relu: Callable[[np.ndarray, np.ndarray], np.ndarray] = relu_backward,
) -> dict[str, np.ndarray]:
    """Reference backprop through Linear-ReLU-Linear-ReLU-Linear.

    Args:
        x: (N, din); params: W1 (n, din), b1, W2 (n, n), b2, W3 (dout, n), b3;
        grad_y: dL/dŷ, (N, dout).
        linear, relu: the layers' backward rules (another one models a student's mistake).

    Returns:
        dL/d of ``x`` and of every parameter, keyed like ``params`` plus ``"x"``.
    """
    g1 = x @ params["W1"].T + params["b1"]
    h1 = np.maximum(g1, 0)
    g2 = h1 @ params["W2"].T + params["b2"]
    h2 = np.maximum(g2, 0)
    grads = {}
    grad_h2, grads["W3"], grads["b3"] = linear(h2, params["W3"], grad_y)
    grad_h1, grads["W2"], grads["b2"] = linear(h1, params["W2"], relu(g2, grad_h2))
    grads["x"], grads["W1"], grads["b1"] = linear(x, params["W1"], relu(g1, grad_h1))
    return grads


def check_network_gradients(
    x: Any, params: dict[str, Any], grad_y: Any, grads: dict[str, Any]
) -> None:
    """Check dL/dx and dL/dparameters of FullyConnectedNet for an upstream ``grad_y``.

    Args:
        x: (N, din); params: W1, b1, W2, b2, W3, b3 as the network holds them;
        grad_y: dL/dŷ (N, dout); grads: the gradients autograd produced, same keys plus "x".
    """
    x, grad_y = _array(x), _array(grad_y)
    params = {k: _array(v) for k, v in params.items()}
    ref = network_backward(x, params, grad_y)
    wrong = [  # each computed once, when a gradient is wrong
        (mistake, f"as if {words} ({test} checks it alone)", functools.cache(
            functools.partial(network_backward, x, params, grad_y, **{layer: rule})
        ))
        for mistake, words, test, layer, rule in _NETWORK_MISTAKES
    ]
    for name in ("W3", "b3", "W2", "b2", "W1", "b1", "x"):
        suspects = [
            Suspect((mistake,), functools.partial(_entry, of, name), words)
            for mistake, words, of in wrong
        ]
        _check_close(
            f"dL/d{name} of the network", grads.get(name), ref[name], x.dtype, "", suspects,
        )


def _entry(grads: Callable[[], dict[str, np.ndarray]], name: str) -> np.ndarray:
    return grads()[name]


_NETWORK_MISTAKES: list[tuple[Mistake, str, str, str, Callable[..., Any]]] = [
    (
        m.RELU_WRONG_SIDE,
        "ReLUFunction passed the gradient where its input is negative (the mask on the wrong side)",
        "test_relu", "relu", lambda g, go: go * (g < 0),
    ),
    (
        m.RELU_UNMASKED, "ReLUFunction passed the gradient unmasked",
        "test_relu", "relu", lambda g, go: go,
    ),
    (
        m.RELU_MASK_ALONE, "ReLUFunction returned its mask alone, without the upstream gradient",
        "test_relu", "relu", lambda g, go: (g > 0) * 1.0,
    ),
    (
        m.RELU_UPSTREAM_SIGN,
        "ReLUFunction's mask followed the sign of the upstream gradient, not of its input",
        "test_relu", "relu", lambda g, go: go * (go > 0),
    ),
    (
        m.LINEAR_BIAS_MEAN,
        "LinearFunction's bias gradient were the batch mean, not the sum over the batch",
        "test_linear", "linear", lambda x, w, go: (go @ w, go.T @ x, go.mean(axis=0)),
    ),
]
"""Mistakes in the Functions that show in the network's gradients: (the named mistake, the words
for it as the network shows it, the test that checks that Function alone, which rule of
:func:`network_backward` it replaces, the wrong rule). Their ids are the Functions' own: one
mistake, one id, whichever test sees it."""


def analytic_gradients(
    y_hat: np.ndarray,
    y: np.ndarray,
    W3: np.ndarray,
    g2: np.ndarray,
    W2: np.ndarray,
    g1: np.ndarray,
    x: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Reference (dL/dW1, dL/db1) for L = ½‖ŷ − y‖² (summed over the batch)."""
    delta2 = ((y_hat - y) @ W3) * (g2 > 0)
    delta1 = (delta2 @ W2) * (g1 > 0)
    return delta1.T @ x, delta1.sum(axis=0)


def check_analytic_gradients(
    y_hat: Any,
    y: Any,
    W3: Any,
    g2: Any,
    W2: Any,
    g1: Any,
    x: Any,
    grad_W1: Any,
    grad_b1: Any,
) -> None:
    """Check the student's analytic dL/dW1 (n, din) and dL/db1 (n,) for the given forward values."""
    arrays = [_array(a) for a in (y_hat, y, W3, g2, W2, g1, x)]
    ref_w, ref_b = analytic_gradients(*arrays)
    dtype = arrays[-1].dtype
    weight_suspects, bias_suspects = analytic_suspects(*arrays)
    _check_close("analytic dL/dW1", grad_W1, ref_w, dtype, "W1 is (n, din)", weight_suspects)
    _check_close("analytic dL/db1", grad_b1, ref_b, dtype, "b1 is (n,)", bias_suspects)


def check_sgd_step(
    before: Sequence[Any],
    grads: Sequence[Any],
    after: Sequence[Any],
    lr: float,
    grads_after: Sequence[Any] | None = None,
) -> None:
    """Check one gradient-descent step moved every parameter by exactly ``-lr * grad``.

    Use a power-of-two ``lr`` and float64 so that ``p - lr * g`` is exact in any order.
    ``grads_after`` (the parameters' ``.grad`` after the step, when known) only sharpens the
    message.
    """
    if not (len(before) == len(grads) == len(after)):
        raise AssertionError(
            f"got {len(before)} parameters before, {len(grads)} gradients, {len(after)} after"
        )
    for i, (p0, g, p1) in enumerate(zip(before, grads, after, strict=True)):
        p0, g, p1 = _array(p0), _array(g), _array(p1)
        if p1.shape == p0.shape and np.array_equal(p1, p0 - lr * g):
            continue
        grad_after = grads_after[i] if grads_after is not None else None
        found = sgd_mistake(f"parameter {i}", p0, g, p1, lr, grad_after)
        raise WrongAnswer(str(found), found.mistakes if found else ())
