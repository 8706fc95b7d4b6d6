"""Checks for hand-written ``torch.autograd.Function`` backward passes (Task 1's visible tests).

Each ``check_*`` function runs your code on small float64 inputs whose sizes all differ (so a
forgotten transpose shows in a shape), compares the result with PyTorch's own operations and
raises ``AssertionError`` saying what is wrong: which gradient, its shape against the expected
one, and, when your result equals a typical mistake (a transpose, a batch mean instead of a
sum, a ReLU mask on the wrong side, a step uphill), that mistake in words. The messages name
mistakes; they never give the code.

The diagnosis (what is wrong with a gradient, which typical mistake it is) is
:mod:`starter.gradient_diagnosis`, shared with the grader, whose hidden tests judge the same
functions. :func:`call_backward` runs a Function's ``forward`` and ``backward`` by hand (the
grader's kernel side calls it too).

Row-vector convention: ``g = x Wᵀ + b`` with ``x`` (N, in), ``W`` (out, in), ``b`` (out,).

Example:
    >>> from starter.autograd_checks import check_linear_function
    >>> check_linear_function(LinearFunction)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from starter.gradient_diagnosis import (
    LINEAR_VARIABLES,
    Diagnosis,
    Suspect,
    analytic_suspects,
    diagnose,
    linear_suspects,
    relu_suspects,
    sgd_mistake,
    shape_of,
)
from starter.mistakes import LINEAR_BIAS_MEAN, WrongAnswer


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


def _fail(title: str, problems: Sequence[str | Diagnosis | None]) -> None:
    """Raise one AssertionError listing every problem found (title, then one line each); a
    :class:`~starter.mistakes.WrongAnswer` naming the mistakes the diagnoses recognised."""
    found = [p for p in problems if p]
    if found:
        named = [i for p in found if isinstance(p, Diagnosis) for i in p.mistakes]
        raise WrongAnswer("\n".join([title, *(f"  {p}" for p in found)]), named)


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
            diagnose(
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
            diagnose(
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
    checked on their own, and a wrong one is named. This check fails only for what it is about:
    the network's own gradients, compared with the same network built from PyTorch's own
    operations, then gradcheck. A wrong Function is its own test's failure; when its mistake
    also makes the network's gradients wrong, the message names it. (A bias gradient left
    unsummed over the batch, which autograd sums for you, leaves the network's gradients right:
    this check then passes, with a note.)

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
    wrong = []
    for function, check, test in ((linear, check_linear_function, "test_linear"),
                                  (relu, check_relu_function, "test_relu")):
        if function is None:
            continue
        try:
            check(function)
        except AssertionError:
            wrong.append(f"{function.__name__}, whose backward is wrong ({test} says how)")
    parts = " and ".join(wrong)

    din = params["W1"].shape[1]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, din, generator=gen, dtype=torch.float64, requires_grad=True)
    names = list(params)

    def run(x: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(net, dict(zip(names, values, strict=True)), (x,))

    inputs = (x, *(p.detach().clone().requires_grad_() for p in params.values()))
    try:
        with _their_code(f"backward through {type(net).__name__}", x=x):
            y_hat = run(*inputs)
            grad_y = torch.randn(y_hat.shape, generator=gen, dtype=torch.float64)
            got = torch.autograd.grad(y_hat, inputs, grad_y, allow_unused=True)
        ref_inputs = tuple(t.detach().clone().requires_grad_() for t in inputs)
        y_ref = _reference_network(ref_inputs[0], dict(zip(names, ref_inputs[1:], strict=True)))
        expected = torch.autograd.grad(y_ref, ref_inputs, grad_y)
        problems = []
        for name, g, e in zip(["x", *names], got, expected, strict=True):
            suspects = [Suspect((LINEAR_BIAS_MEAN,), functools.partial(torch.div, e, batch))]
            problems.append(
                diagnose(f"dL/d{name}", g, e, suspects=suspects if name[0] == "b" else ())
            )
        _fail(
            f"gradients through {type(net).__name__} are wrong (x {shape_of(x)}, "
            f"{', '.join(f'{n} {shape_of(p)}' for n, p in params.items())}):",
            problems,
        )
        _gradcheck(run, inputs, f"{type(net).__name__} (input and {', '.join(names)})")
    except AssertionError as error:
        if not wrong:
            raise
        raise AssertionError(f"{error}\n  the network is built from {parts}") from error.__cause__
    if wrong:
        print(f"note: {type(net).__name__}'s gradients are right, though it is built from {parts}")


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
            diagnose(
                "dL/dW1", got[0], W1.grad, variable="W1 is (n, din)", suspects=weight_suspects
            ),
            diagnose("dL/db1", got[1], b1.grad, variable="b1 is (n,)", suspects=bias_suspects),
        ],
    )


def check_sgd_step(step: Callable[[Iterable[torch.Tensor], float], None], lr: float = 0.5) -> None:
    """Check ``step(parameters, lr)`` moves every parameter by exactly ``-lr * p.grad``, in
    place."""
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
        problems = [diagnose("Conv2d output" + where, out, ref)]
        if problems[0] is None:
            got = torch.autograd.grad(out, (x, w, b), grad_out)
            expected = torch.autograd.grad(ref, (x, w, b), grad_out)
            problems = [
                diagnose(f"Conv2d {name}{where}", g, e)
                for name, g, e in zip(
                    ("grad_input", "grad_weight", "grad_bias"), got, expected, strict=True
                )
            ]
        _fail(f"{function.__name__} differs from F.conv2d:", problems)
    x = torch.randn(1, 2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    _gradcheck(lambda x, w, b: function.apply(x, w, b, 2, 1), (x, w, b), function.__name__)
