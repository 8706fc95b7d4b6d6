"""Checks for hand-written ``torch.autograd.Function`` backward passes (Task 1's visible tests).

Each ``check_*`` function runs your code on small inputs, compares it with PyTorch's own
operations, finishes with :func:`torch.autograd.gradcheck` in double precision, and raises
``AssertionError`` with a message that names the likely mistake (a transpose, a missing sum
over the batch, a mask on the wrong side, an update with the wrong sign).

Row-vector convention: ``g = x Wᵀ + b`` with ``x`` (N, in), ``W`` (out, in), ``b`` (out,).

Example:
    >>> from starter.autograd_checks import check_linear_function
    >>> check_linear_function(LinearFunction)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.autograd import gradcheck


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


def _shape(t: Any) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def _expect_close(name: str, got: Any, expected: torch.Tensor, hint: str = "") -> None:
    if not isinstance(got, torch.Tensor):
        raise AssertionError(
            f"{name} should be a tensor of shape {tuple(expected.shape)}, got {got!r}"
        )
    if got.shape != expected.shape:
        raise AssertionError(
            f"{name} has shape {tuple(got.shape)}, expected {tuple(expected.shape)} "
            f"(a gradient has the shape of its variable){hint}"
        )
    if not torch.allclose(got.to(expected.dtype), expected, rtol=1e-6, atol=1e-8):
        err = (got.to(expected.dtype) - expected).abs().max().item()
        raise AssertionError(
            f"{name} has the right shape but wrong values (largest error {err:.3g}){hint}"
        )


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
        raise AssertionError(f"gradcheck failed for {what}:\n{error}") from None
    if not ok:
        raise AssertionError(f"gradcheck failed for {what}")


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
        batch, in_features, out_features: sizes of the float64 test inputs.
        seed: seeds the inputs.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, in_features, generator=gen, dtype=torch.float64)
    weight = torch.randn(out_features, in_features, generator=gen, dtype=torch.float64)
    bias = torch.randn(out_features, generator=gen, dtype=torch.float64)
    grad_out = torch.randn(batch, out_features, generator=gen, dtype=torch.float64)

    grads = call_backward(function, (x, weight, bias), grad_out)
    if len(grads) != 3:
        raise AssertionError(
            f"backward returned {len(grads)} values; return one gradient per forward input: "
            f"(grad_input, grad_weight, grad_bias)"
        )
    grad_x, grad_w, grad_b = grads
    ref_x, ref_w, ref_b = grad_out @ weight, grad_out.T @ x, grad_out.sum(0)

    hint_x = "; dL/dx = dL/dg · W, shape (N, in)"
    if isinstance(grad_x, torch.Tensor) and grad_x.shape == (in_features, batch):
        hint_x += " (yours looks transposed)"
    _expect_close("grad_input (dL/dx)", grad_x, ref_x, hint_x)

    hint_w = f"; the weight is (out, in), so dL/dW = (dL/dg)ᵀ x has shape {tuple(weight.shape)}"
    if isinstance(grad_w, torch.Tensor) and grad_w.shape == ref_w.T.shape:
        hint_w = (
            f"; the weight is (out, in) = {tuple(weight.shape)}: you computed xᵀ · dL/dg, the "
            f"transpose; use (dL/dg)ᵀ x"
        )
    _expect_close("grad_weight (dL/dW)", grad_w, ref_w, hint_w)

    hint_b = "; dL/db sums dL/dg over the batch (dim 0)"
    if isinstance(grad_b, torch.Tensor) and grad_b.shape == grad_out.shape:
        hint_b = (
            f"; it still has the batch dimension {_shape(grad_b)}: the bias is shared by all "
            f"rows, so sum dL/dg over the batch (dim 0)"
        )
    elif isinstance(grad_b, torch.Tensor) and torch.allclose(grad_b, grad_out.mean(0)):
        hint_b = "; you averaged over the batch: dL/db is the sum over the batch"
    _expect_close("grad_bias (dL/db)", grad_b, ref_b, hint_b)

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
    (grad_g, *extra) = call_backward(function, (g,), grad_out)
    if extra:
        raise AssertionError(f"backward returned {1 + len(extra)} values; forward has one input")
    ref = grad_out * (g > 0)
    hint = "; pass the upstream gradient where the input g is positive, 0 elsewhere"
    if isinstance(grad_g, torch.Tensor) and grad_g.shape == ref.shape:
        if torch.allclose(grad_g.to(ref.dtype), grad_out * (g < 0)) or torch.allclose(
            grad_g.to(ref.dtype), grad_out * (g <= 0)
        ):
            hint = "; you pass it where g is negative: the mask is on the wrong side (use g > 0)"
        elif torch.allclose(grad_g.to(ref.dtype), (g > 0).to(ref.dtype)):
            hint = "; that is the mask alone: multiply it by the upstream gradient"
        elif torch.allclose(grad_g.to(ref.dtype), grad_out):
            hint = "; that is the upstream gradient unmasked: zero it where g ≤ 0"
    _expect_close("ReLU grad_input", grad_g, ref, hint)
    # Keep gradcheck's finite differences away from the kink at 0.
    g_safe = torch.where(g.abs() < 1e-3, torch.full_like(g, 0.5), g).requires_grad_()
    _gradcheck(function.apply, (g_safe,), function.__name__, fast=True)


def check_network_gradients(net: torch.nn.Module, batch: int = 5, seed: int = 0) -> None:
    """gradcheck a whole float64 network with respect to its input and every parameter.

    Args:
        net: a module whose parameters are float64 and whose forward takes ``x`` (N, din);
            ``net.W1`` gives din.
    """
    params = dict(net.named_parameters())
    if any(p.dtype != torch.float64 for p in params.values()):
        raise ValueError("build the network in float64 for gradcheck (dtype=torch.float64)")
    din = params["W1"].shape[1]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, din, generator=gen, dtype=torch.float64, requires_grad=True)
    names = list(params)

    def run(x: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(net, dict(zip(names, values, strict=True)), (x,))

    inputs = (x, *(p.detach().clone().requires_grad_() for p in params.values()))
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
    the batch) are built here from PyTorch's own operations, in float64.
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
    (0.5 * ((y_hat - y) ** 2).sum()).backward()
    got = analytic(y_hat.detach(), y, W3, g2.detach(), W2, g1.detach(), x)
    if not isinstance(got, tuple) or len(got) != 2:
        raise AssertionError("return a pair (dL/dW1, dL/db1)")
    grad_W1, grad_b1 = got
    _expect_close(
        "analytic dL/dW1",
        grad_W1,
        W1.grad,
        "; dL/dW1 = δ1ᵀ x with δ1 = dL/dg1 = ((ŷ − y) W3 ⊙ 1[g2 > 0]) W2 ⊙ 1[g1 > 0]",
    )
    _expect_close("analytic dL/db1", grad_b1, b1.grad, "; dL/db1 sums δ1 over the batch")


def check_sgd_step(step: Callable[[Iterable[torch.Tensor], float], None], lr: float = 0.5) -> None:
    """Check ``step(parameters, lr)`` moves every parameter by exactly ``-lr * p.grad``, in place."""
    gen = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(3, 2, dtype=torch.float64)
    with torch.no_grad():
        for p in layer.parameters():  # multiples of 1/8: every update below is exact
            p.copy_(torch.randint(-8, 8, p.shape, generator=gen) / 8)
            p.grad = torch.randint(-8, 8, p.shape, generator=gen, dtype=torch.float64) / 8
    before = [p.detach().clone() for p in layer.parameters()]
    grads = [p.grad.clone() for p in layer.parameters()]
    step(layer.parameters(), lr)
    for (name, p), p0, g in zip(layer.named_parameters(), before, grads, strict=True):
        p1 = p.detach()
        if torch.equal(p1, p0 - lr * g):
            continue
        if torch.equal(p1, p0):
            raise AssertionError(
                f"{name} did not change: update the tensors in place (p -= lr * p.grad), "
                f"not a local copy"
            )
        if torch.allclose(p1, p0 + lr * g):
            raise AssertionError(
                f"{name} moved by +lr·grad, uphill: gradient descent is p ← p − lr·grad"
            )
        if torch.allclose(p1, p0 - g):
            raise AssertionError(f"{name} moved by −grad: scale the step by lr")
        raise AssertionError(f"{name} did not move by −lr·grad (lr={lr})")


def check_loss_decreased(losses: Sequence[float], factor: float = 0.9) -> None:
    """Check a training history is finite and its last value is below ``factor`` × its first."""
    values = [float(v) for v in losses]
    if len(values) < 2:
        raise AssertionError(
            "the history holds only the loss before training: did training run to the end?"
        )
    if not all(v == v and abs(v) != float("inf") for v in values):
        raise AssertionError("the loss became NaN or infinite: training diverged")
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
        _expect_close("Conv2d output" + where, out, ref)
        grad_out = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
        got = torch.autograd.grad(out, (x, w, b), grad_out)
        expected = torch.autograd.grad(ref, (x, w, b), grad_out)
        for name, g, e in zip(
            ("grad_input", "grad_weight", "grad_bias"), got, expected, strict=True
        ):
            _expect_close(f"Conv2d {name}{where}", g, e)
    x = torch.randn(1, 2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    _gradcheck(lambda x, w, b: function.apply(x, w, b, 2, 1), (x, w, b), function.__name__)
