"""Checks for hand-written ``torch.autograd.Function`` backward passes (Task 1's visible tests).

Each ``check_*`` function runs your code on small float64 inputs whose sizes all differ (so a
forgotten transpose shows in a shape), compares the result with PyTorch's own operations and
raises ``AssertionError`` saying what is wrong: which gradient, its shape against the expected
one, and, when your result equals a typical mistake (a transpose, a batch mean instead of a
sum, a ReLU mask on the wrong side, a step uphill), that mistake in words. The messages name
mistakes; they never give the code.

The diagnosis is shared with the grader, whose hidden tests judge the same functions:
:func:`explain` describes how a gradient differs from the right one, trying the
:data:`Suspect` mistakes of :func:`linear_suspects`, :func:`relu_suspects` and
:func:`analytic_suspects`; :func:`sgd_mistake` does the same for one update.

Row-vector convention: ``g = x Wᵀ + b`` with ``x`` (N, in), ``W`` (out, in), ``b`` (out,).

Example:
    >>> from starter.autograd_checks import check_linear_function
    >>> check_linear_function(LinearFunction)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

Suspect = tuple[str, Callable[[], Any]]
"""A typical mistake: (what it is, in words; a function computing what it would return)."""

LINEAR_VARIABLES = {
    "grad_input": "the input x is (N, in)",
    "grad_weight": "the weight is (out, in)",
    "grad_bias": "the bias is (out,)",
}
"""What each gradient of ``LinearFunction`` is the gradient of, with that variable's layout."""


class RecordingContext:
    """A stand-in for autograd's ``ctx``: lets a test call ``forward``/``backward`` directly.

    Autograd quietly sums a gradient whose shape can be broadcast to its input's, which would
    hide a bias gradient left unsummed over the batch; calling ``backward`` directly shows the
    raw shapes.
    """

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.saved_tensors: tuple[torch.Tensor, ...] = ()

    def save_for_backward(self, *tensors: torch.Tensor) -> None:
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *tensors: torch.Tensor) -> None:
        """Accepted and ignored (no graph is recorded here)."""


def call_backward(
    function: type[torch.autograd.Function], inputs: Sequence[Any], grad_output: torch.Tensor
) -> tuple[Any, ...]:
    """Run ``function.forward`` then ``function.backward`` by hand; return backward's raw outputs.

    Args:
        function: a ``torch.autograd.Function`` subclass with static forward/backward.
        inputs: the positional arguments of ``forward`` after ``ctx``.
        grad_output: dL/d(output), the output's shape.

    Returns:
        what ``backward`` returned, always as a tuple, shapes untouched.
    """
    ctx = RecordingContext(tuple(isinstance(a, torch.Tensor) for a in inputs))
    with torch.no_grad():
        output = function.forward(ctx, *inputs)
        if output.shape != grad_output.shape:
            raise ValueError(
                f"grad_output has shape {tuple(grad_output.shape)} but forward returned "
                f"{tuple(output.shape)}"
            )
        grads = function.backward(ctx, grad_output)
    return grads if isinstance(grads, tuple) else (grads,)


# --- describing a wrong gradient ------------------------------------------------------------


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
        (p0 + lr * g, f"{name} moved by +lr·grad, uphill: gradient descent moves against the gradient"),
        (p0 - g, f"{name} moved by −grad: the step is not scaled by the learning rate (lr = {lr:g})"),
        (p0 - lr * p0, f"{name} moved by −lr·{name}: the step uses the parameter, not its gradient"),
        (-lr * g, f"{name} was replaced by −lr·grad instead of moved by it"),
    ]
    for value, says in candidates:
        if _close(p1, value, rtol=1e-6):
            return says
    err = float((p1 - (p0 - lr * g)).abs().max())
    return f"{name} did not move by −lr·grad (lr = {lr:g}): largest error {err:.3g}"


# --- running the student's code ---------------------------------------------------------------


def _shapes(**tensors: torch.Tensor) -> str:
    return ", ".join(f"{k} {shape_of(v)}" for k, v in tensors.items())


@contextlib.contextmanager
def _their_code(what: str, **inputs: torch.Tensor) -> Iterator[None]:
    """Turn an error in the student's code into an AssertionError naming the inputs' shapes
    (the original error stays attached); NotImplementedError (a blank exercise) passes."""
    try:
        yield
    except NotImplementedError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise AssertionError(
            f"{what} raised {type(error).__name__}: {error}\n"
            f"  its inputs: {_shapes(**inputs)}; follow the shapes through each product"
        ) from error


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one CPU thread, then restore: these tensors are tiny, and several threads
    waiting on each other make gradcheck many times slower on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _gradcheck(
    fn: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], what: str, fast: bool = False
) -> None:
    """gradcheck, turning a failure into an AssertionError that says what was checked.

    ``fast`` checks random projections of the Jacobian instead of all of it (much quicker for
    large inputs; used where the values were already compared entry by entry).
    """
    try:
        with _one_thread():
            ok = gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=fast)
    except NotImplementedError:
        raise
    except RuntimeError as error:  # gradcheck raises with the mismatching Jacobians
        raise AssertionError(
            f"gradcheck failed for {what}: the gradients through autograd differ from finite "
            f"differences\n{error}"
        ) from None
    if not ok:
        raise AssertionError(f"gradcheck failed for {what}")


def _fail(title: str, problems: Sequence[str | None]) -> None:
    """Raise one AssertionError listing every problem found (title, then one line each)."""
    found = [p for p in problems if p]
    if found:
        raise AssertionError("\n".join([title, *(f"  {p}" for p in found)]))


# --- the checks -------------------------------------------------------------------------------


def check_linear_function(
    function: type[torch.autograd.Function],
    batch: int = 64,
    in_features: int = 16,
    out_features: int = 32,
    seed: int = 0,
) -> None:
    """Check ``function.backward`` for ``g = x Wᵀ + b``: raw shapes, values, then gradcheck.

    Args:
        function: e.g. ``LinearFunction``, called as ``function.apply(x, weight, bias)``.
        batch, in_features, out_features: sizes of the float64 test inputs (keep them
            different, so that a transpose changes a shape).
        seed: seeds the inputs.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_features, generator=gen, dtype=torch.float64)
    weight = torch.randn(out_features, in_features, generator=gen, dtype=torch.float64)
    bias = torch.randn(out_features, generator=gen, dtype=torch.float64)
    grad_out = torch.randn(batch, out_features, generator=gen, dtype=torch.float64)
    shapes = _shapes(x=x, weight=weight, grad_output=grad_out)

    with _their_code(f"{function.__name__}.backward", x=x, weight=weight, grad_output=grad_out):
        grads = call_backward(function, (x, weight, bias), grad_out)
    if len(grads) != 3:
        raise AssertionError(
            f"backward returned {len(grads)} values; return one gradient per input of forward "
            f"(x, weight, bias), in that order"
        )
    expected = (grad_out @ weight, grad_out.T @ x, grad_out.sum(0))
    suspects = linear_suspects(x, weight, grad_out)
    _fail(
        f"{function.__name__}.backward returns wrong gradients ({shapes}):",
        [
            explain(
                f"{key} (dL/d{letter})", got, want, variable=LINEAR_VARIABLES[key],
                suspects=suspects[key],
            )
            for key, letter, got, want in zip(
                LINEAR_VARIABLES, ("x", "W", "b"), grads, expected, strict=True
            )
        ],
    )
    inputs = (x.requires_grad_(), weight.requires_grad_(), bias.requires_grad_())
    what = f"{function.__name__} (batch {batch}, {in_features}→{out_features})"
    _gradcheck(function.apply, inputs, what, fast=True)


def check_relu_function(
    function: type[torch.autograd.Function], size: int = 100, seed: int = 0
) -> None:
    """Check ``function.backward`` for ``h = max(g, 0)``: values, then gradcheck in float64."""
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(size, 7, generator=gen, dtype=torch.float64)
    grad_out = torch.randn(size, 7, generator=gen, dtype=torch.float64)
    with _their_code(f"{function.__name__}.backward", g=g, grad_output=grad_out):
        (grad_g, *extra) = call_backward(function, (g,), grad_out)
    if extra:
        raise AssertionError(f"backward returned {1 + len(extra)} values; forward has one input")
    _fail(
        f"{function.__name__}.backward returns a wrong gradient (g {shape_of(g)}):",
        [
            explain(
                "grad_input (dL/dg)", grad_g, grad_out * (g > 0),
                variable=f"the input g is {shape_of(g)}", suspects=relu_suspects(g, grad_out),
            )
        ],
    )
    # Keep gradcheck's finite differences away from the kink at 0.
    g_safe = torch.where(g.abs() < 1e-3, torch.full_like(g, 0.5), g).requires_grad_()
    _gradcheck(function.apply, (g_safe,), function.__name__, fast=True)


def _reference_network(
    x: torch.Tensor, params: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Linear-ReLU-Linear-ReLU-Linear from PyTorch's own operations."""
    h = F.relu(F.linear(x, params["W1"], params["b1"]))
    h = F.relu(F.linear(h, params["W2"], params["b2"]))
    return F.linear(h, params["W3"], params["b3"])


def check_network_gradients(
    net: torch.nn.Module,
    linear: type[torch.autograd.Function] | None = None,
    relu: type[torch.autograd.Function] | None = None,
    batch: int = 5,
    seed: int = 0,
) -> None:
    """Check the gradients through a whole float64 network, of its input and every parameter.

    First ``linear`` and ``relu``, the Functions the network is built from (when given), are
    checked on their own, so a wrong one is named; then every gradient is compared with the
    same network built from PyTorch's own operations; then gradcheck runs.

    Args:
        net: a module with float64 parameters ``W1, b1, W2, b2, W3, b3`` (Linear-ReLU-Linear-
            ReLU-Linear) whose forward takes ``x`` (N, din).
        linear, relu: e.g. ``LinearFunction``, ``ReLUFunction``.
        batch: rows of the test input.
        seed: seeds the input and the upstream gradient.
    """
    params = dict(net.named_parameters())
    if any(p.dtype != torch.float64 for p in params.values()):
        raise ValueError("build the network in float64 for gradcheck (dtype=torch.float64)")
    for function, check, test in ((linear, check_linear_function, "test_linear"),
                                  (relu, check_relu_function, "test_relu")):
        if function is None:
            continue
        try:
            check(function)
        except AssertionError as error:
            raise AssertionError(
                f"the network is built from {function.__name__}, whose backward is wrong "
                f"({test} says the same):\n{textwrap.indent(str(error), '  ')}"
            ) from None

    din = params["W1"].shape[1]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, din, generator=gen, dtype=torch.float64, requires_grad=True)
    names = list(params)

    def run(x: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(net, dict(zip(names, values, strict=True)), (x,))

    inputs = (x, *(p.detach().clone().requires_grad_() for p in params.values()))
    with _their_code(f"backward through {type(net).__name__}", x=x):
        y_hat = run(*inputs)
        grad_y = torch.randn(y_hat.shape, generator=gen, dtype=torch.float64)
        got = torch.autograd.grad(y_hat, inputs, grad_y, allow_unused=True)
    ref_inputs = tuple(t.detach().clone().requires_grad_() for t in inputs)
    y_ref = _reference_network(ref_inputs[0], dict(zip(names, ref_inputs[1:], strict=True)))
    expected = torch.autograd.grad(y_ref, ref_inputs, grad_y)
    problems = []
    for name, g, e in zip(["x", *names], got, expected, strict=True):
        suspects = [("the batch mean, not the sum over the batch", lambda e=e: e / batch)]
        problems.append(explain(f"dL/d{name}", g, e, suspects=suspects if name[0] == "b" else ()))
    _fail(
        f"gradients through {type(net).__name__} are wrong (x {shape_of(x)}, "
        f"{', '.join(f'{n} {shape_of(p)}' for n, p in params.items())}):",
        problems,
    )
    _gradcheck(run, inputs, f"{type(net).__name__} (input and {', '.join(names)})")


def check_analytic_gradients(
    analytic: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    din: int = 4,
    n: int = 8,
    dout: int = 3,
    batch: int = 6,
    seed: int = 0,
) -> None:
    """Compare ``analytic(y_hat, y, W3, g2, W2, g1, x) -> (dL/dW1, dL/db1)`` with autograd.

    The network (Linear-ReLU-Linear-ReLU-Linear) and the loss ``L = ½‖ŷ − y‖²`` (summed over
    the batch) are built here from PyTorch's own operations, in float64. A wrong answer is
    compared with typical slips (:func:`analytic_suspects`) and the one it matches is named.
    """
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    x, y = rand(batch, din), rand(batch, dout)
    W1, b1 = rand(n, din).requires_grad_(), rand(n).requires_grad_()
    W2, b2, W3, b3 = rand(n, n), rand(n), rand(dout, n), rand(dout)
    g1 = F.linear(x, W1, b1)
    g2 = F.linear(F.relu(g1), W2, b2)
    y_hat = F.linear(F.relu(g2), W3, b3)
    (0.5 * ((y_hat - y) ** 2).sum()).backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
    args = {"y_hat": y_hat.detach(), "y": y, "W3": W3, "g2": g2.detach(), "W2": W2,
            "g1": g1.detach(), "x": x}
    with _their_code("analytic_gradients", **args):
        got = analytic(*args.values())
    if not isinstance(got, tuple) or len(got) != 2:
        raise AssertionError("return a pair (dL/dW1, dL/db1)")
    weight_suspects, bias_suspects = analytic_suspects(*args.values())
    _fail(
        f"analytic_gradients is wrong (N = {batch}, din = {din}, n = {n}, dout = {dout}; "
        f"{_shapes(**args)}):",
        [
            explain("dL/dW1", got[0], W1.grad, variable="W1 is (n, din)", suspects=weight_suspects),
            explain("dL/db1", got[1], b1.grad, variable="b1 is (n,)", suspects=bias_suspects),
        ],
    )


def check_sgd_step(step: Callable[[Iterable[torch.Tensor], float], None], lr: float = 0.5) -> None:
    """Check ``step(parameters, lr)`` moves every parameter by exactly ``-lr * p.grad``, in place."""
    gen = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(3, 2, dtype=torch.float64)
    grads: list[torch.Tensor] = []
    with torch.no_grad():
        for p in layer.parameters():  # multiples of 1/8: every update below is exact
            p.copy_(torch.randint(-8, 8, p.shape, generator=gen) / 8)
            grad = torch.randint(-8, 8, p.shape, generator=gen, dtype=torch.float64) / 8
            p.grad = grad
            grads.append(grad.clone())
    before = [p.detach().clone() for p in layer.parameters()]
    step(layer.parameters(), lr)
    _fail(
        f"sgd_step (lr = {lr:g}) on a Linear(3, 2) layer's weight and bias:",
        [
            sgd_mistake(name, p0, g, p, lr, grad_after=p.grad)
            for (name, p), p0, g in zip(layer.named_parameters(), before, grads, strict=True)
        ],
    )


def check_loss_decreased(losses: Sequence[float], factor: float = 0.9) -> None:
    """Check a training history is finite and its last value is below ``factor`` × its first."""
    values = [float(v) for v in losses]
    if len(values) < 2:
        raise AssertionError(
            "the history holds only the loss before training: training stopped in its first "
            "epoch; the error is in the training cell's output above"
        )
    if not all(v == v and abs(v) != float("inf") for v in values):
        raise AssertionError(
            "the loss became NaN or infinite: training diverged (the tests of your gradients "
            "and of sgd_step above say which part is wrong)"
        )
    if values[-1] == values[0]:
        raise AssertionError(
            f"the loss stayed at {values[0]:.1f}: the parameters never moved (test_sgd says why)"
        )
    if not values[-1] < factor * values[0]:
        raise AssertionError(
            f"the loss went from {values[0]:.1f} to {values[-1]:.1f}; expected it to fall below "
            f"{factor:g} × the start"
        )


def check_conv2d_function(function: type[torch.autograd.Function], seed: int = 0) -> None:
    """Check ``function.apply(x, weight, bias, stride, padding)`` against ``F.conv2d``.

    Forward values and all three gradients are compared for a few strides and paddings; then
    gradcheck runs in float64 on a small case.
    """
    gen = torch.Generator().manual_seed(seed)
    for stride, padding in [(1, 0), (1, 1), (2, 1)]:
        x = torch.randn(2, 3, 7, 6, generator=gen, dtype=torch.float64, requires_grad=True)
        w = torch.randn(4, 3, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
        b = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
        out = function.apply(x, w, b, stride, padding)
        ref = F.conv2d(x, w, b, stride=stride, padding=padding)
        where = f" (stride {stride}, padding {padding})"
        grad_out = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
        problems = [explain("Conv2d output" + where, out, ref)]
        if problems[0] is None:
            got = torch.autograd.grad(out, (x, w, b), grad_out)
            expected = torch.autograd.grad(ref, (x, w, b), grad_out)
            problems = [
                explain(f"Conv2d {name}{where}", g, e)
                for name, g, e in zip(
                    ("grad_input", "grad_weight", "grad_bias"), got, expected, strict=True
                )
            ]
        _fail(f"{function.__name__} differs from F.conv2d:", problems)
    x = torch.randn(1, 2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    _gradcheck(lambda x, w, b: function.apply(x, w, b, 2, 1), (x, w, b), function.__name__)
