"""Task 1 in the student's kernel: run the student's autograd Functions, network pieces and
model on the grader's inputs (:func:`dlci_grader.kernel.answers.cases`) and hand back the outputs.

Each function takes the student's object and the test cell's grade id; a test cell calls one,
e.g. ``linear(LinearFunction, "test_linear_hidden")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from dlci_grader.kernel import answers

TASK = "task1"
_LINEAR_GRADS = ("grad_x", "grad_weight", "grad_bias")


def _backward(
    function: type[torch.autograd.Function], inputs: tuple[torch.Tensor, ...],
    grad_output: torch.Tensor
) -> tuple[Any, ...]:
    from starter.autograd_checks import call_backward

    return call_backward(function, inputs, grad_output)


def _through_autograd(output: torch.Tensor, grad_output: torch.Tensor) -> None:
    """``output.backward(grad_output)``; a gradient of the wrong shape, which autograd refuses,
    leaves the inputs' ``.grad`` empty, so the grader judges the direct call and names it."""
    try:
        output.backward(grad_output)  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
    except NotImplementedError:
        raise
    except RuntimeError:
        pass


def linear(function: type[torch.autograd.Function], test: str) -> None:
    """LinearFunction's backward, called directly and through autograd."""
    out, seen = [], set()
    what = f"{getattr(function, '__name__', 'the Function')}.backward"
    for case in answers.cases(TASK, test):
        x, w, b, go = (torch.from_numpy(case[k]) for k in ("x", "weight", "bias", "grad_output"))
        with answers.watching(what) as direct:
            answer = dict(zip(_LINEAR_GRADS, _backward(function, (x, w, b), go), strict=False))
        xr, wr, br = (t.clone().requires_grad_() for t in (x, w, b))
        with answers.watching(what, harness_calls=1) as through:
            _through_autograd(function.apply(xr, wr, br), go)
        answer |= {
            f"autograd_{n}": t.grad for n, t in zip(_LINEAR_GRADS, (xr, wr, br), strict=True)
        }
        out.append(answer)
        seen.update(direct + through)
    answers.submit(TASK, test, out, sorted(seen))


def relu(function: type[torch.autograd.Function], test: str) -> None:
    """ReLUFunction's backward, called directly and through autograd."""
    out, seen = [], set()
    what = f"{getattr(function, '__name__', 'the Function')}.backward"
    for case in answers.cases(TASK, test):
        x, go = torch.from_numpy(case["x"]), torch.from_numpy(case["grad_output"])
        with answers.watching(what) as direct:
            grads = _backward(function, (x,), go)
        xr = x.clone().requires_grad_()
        with answers.watching(what, harness_calls=1) as through:
            _through_autograd(function.apply(xr), go)
        out.append({"grad_x": grads[0] if grads else None, "autograd_grad_x": xr.grad})
        seen.update(direct + through)
    answers.submit(TASK, test, out, sorted(seen))


def network(net_class: Callable[..., torch.nn.Module], test: str) -> None:
    """Gradients of x and every parameter through the student's FullyConnectedNet."""
    out, seen = [], set()
    what = getattr(net_class, "__name__", "the network")
    for case in answers.cases(TASK, test):
        (n, din), dout = case["W1"].shape, case["W3"].shape[0]
        net = net_class(din, n, dout, dtype=torch.float64)
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.copy_(torch.from_numpy(case[name]))
        x = torch.from_numpy(case["x"]).requires_grad_()
        try:
            with answers.watching(f"the backward of {what}", harness_calls=1) as through:
                net(x).backward(torch.from_numpy(case["grad_y"]))
            seen.update(through)
        except NotImplementedError:
            raise
        except RuntimeError as error:
            raise AssertionError(
                f"backward through FullyConnectedNet({din}, {n}, {dout}) failed: {error} "
                f"(test_linear and test_relu check each Function alone)"
            ) from None
        out.append({"x": x.grad, **{name: p.grad for name, p in net.named_parameters()}})
    answers.submit(TASK, test, out, sorted(seen))


def analytic(function: Callable[..., Any], test: str) -> None:
    """The student's analytic dL/dW1 and dL/db1 for the grader's forward values."""
    out, seen = [], set()
    what = getattr(function, "__name__", "the analytic gradient")
    for case in answers.cases(TASK, test):
        args = [torch.from_numpy(case[k]) for k in ("y_hat", "y", "W3", "g2", "W2", "g1", "x")]
        with answers.watching(what) as direct:
            out.append(dict(zip(("grad_W1", "grad_b1"), function(*args), strict=False)))
        seen.update(direct)
    answers.submit(TASK, test, out, sorted(seen))


def sgd(step: Callable[..., Any], test: str) -> None:
    """Parameters and their gradients after one call of the student's sgd_step (given a list,
    or an iterator)."""
    out = []
    for case in answers.cases(TASK, test):
        count = sum(k.startswith("p") for k in case)
        params = [torch.nn.Parameter(torch.from_numpy(case[f"p{i}"]).clone()) for i in range(count)]
        for i, p in enumerate(params):
            p.grad = torch.from_numpy(case[f"g{i}"]).clone()
        step(params if case["as_list"] else iter(params), float(case["lr"]))
        out.append({
            **{f"p{i}": p.detach() for i, p in enumerate(params)},
            **{f"g{i}": p.grad for i, p in enumerate(params)},  # a cleared gradient shows
        })
    answers.submit(TASK, test, out)


def inpainting(model: Callable[[torch.Tensor], torch.Tensor], test: str) -> None:
    """The trained model's reconstructions of the grader's masked digits (targets stay with it)."""
    out = []
    for case in answers.cases(TASK, test):
        with torch.no_grad():
            out.append({"reconstruction": model(torch.from_numpy(case["masked"]))})
    answers.submit(TASK, test, out)
