"""Task 1 notebook: the release matches the solutions, the solution runs, the visible checks help.

The visible-test helpers (``starter.autograd_checks``) are unit-tested directly on right and
wrong implementations written here, so a broken message shows up in a fraction of a second.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from starter import autograd_checks as ac

pytestmark = pytest.mark.task1

ROOT = Path(__file__).resolve().parents[1]
NAME = "task1_backprop_inpainting"
SOURCE = ROOT / "solutions" / f"{NAME}.ipynb"
RELEASE = ROOT / "notebooks" / f"{NAME}.ipynb"
TIME_LIMIT_S = 120


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


# --- the notebooks ---------------------------------------------------------------------------


@pytest.mark.grader
def test_release_is_in_sync_with_solution():
    """`dlci release --check` regenerates the release with nbgrader and finds no difference."""
    from starter.cli import main

    code = main(
        [
            "release",
            "--check",
            "--solutions",
            str(SOURCE.parent),
            "--out",
            str(RELEASE.parent),
            NAME,
        ]
    )
    assert code == 0, "notebooks/ is out of sync with solutions/: run `dlci release`"


@pytest.mark.grader
def test_release_leaks_nothing_and_leak_check_can_fail():
    """No marker or solution line is in the release; a planted solution line is caught."""
    from dlci_grader.nbgrader.release import find_leaks

    source, release = _read(SOURCE), _read(RELEASE)
    assert find_leaks(source, release) == []
    planted = nbformat.from_dict(release)
    cell = next(c for c in planted.cells if c.get("id") == "linear_function")
    cell.source += "\ngrad_weight = grad_output.T @ x"
    assert any("grad_output.T @ x" in leak for leak in find_leaks(source, planted))
    cell.source += "\n### BEGIN HIDDEN TESTS"
    assert any("BEGIN HIDDEN TESTS" in leak for leak in find_leaks(source, planted))


def test_header_total_matches_cell_points():
    """The header's point table and total agree with the points in the cell metadata."""
    source = _read(SOURCE)
    auto = sum(
        _nbgrader(c)["points"]
        for c in source.cells
        if _nbgrader(c).get("grade") and not _nbgrader(c).get("solution")
    )
    manual = sum(
        _nbgrader(c)["points"]
        for c in source.cells
        if _nbgrader(c).get("grade") and _nbgrader(c).get("solution")
    )
    header = source.cells[0].source
    match = re.search(
        r"\*\*Total: (\d+) points\*\* \((\d+) autograded, (\d+) graded by hand\)", header
    )
    assert match, "the header must state '**Total: N points** (A autograded, M graded by hand)'"
    assert tuple(int(g) for g in match.groups()) == (auto + manual, auto, manual)
    parts = [int(p) for p in re.findall(r"^\| \d \| [^|]* \| (\d+) \|", header, re.MULTILINE)]
    assert sum(parts) == auto + manual, f"part points {parts} do not add up to {auto + manual}"


def test_every_test_cell_states_its_intent():
    """Each visible and hidden test cell starts with a one-line docstring."""
    for cell in _read(SOURCE).cells:
        meta = _nbgrader(cell)
        if meta.get("grade") and not meta.get("solution"):
            first = cell.source.splitlines()[0]
            assert re.fullmatch(r'""".+"""', first), f"{meta['grade_id']}: starts with {first!r}"


@pytest.mark.slow
def test_solution_runs_end_to_end_under_two_minutes(monkeypatch):
    """The solution notebook runs under a real Jupyter kernel, error-free, in under 2 minutes."""
    from nbclient import NotebookClient

    # A student's Jupyter kernel uses the inline backend; CI exports MPLBACKEND=Agg for the
    # in-process tests, which the kernel would inherit and then show no figures at all.
    monkeypatch.delenv("MPLBACKEND", raising=False)

    notebook = _read(SOURCE)
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=TIME_LIMIT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(SOURCE.parent)}},
    ).execute()
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_LIMIT_S, f"the solution took {elapsed:.0f} s"
    outputs = {c.get("id"): c.get("outputs", []) for c in notebook.cells if c.cell_type == "code"}
    text = "".join(o.get("text", "") for o in outputs["test_training_hidden"])
    loss = float(re.search(r"held-out inpainting loss ([\d.]+)", text).group(1))
    assert 100 < loss < 185, f"held-out loss {loss}"
    for cell in ("train", "show_results"):
        assert any("image/png" in o.get("data", {}) for o in outputs[cell]), (
            f"{cell} shows no figure"
        )
    assert "matches F.conv2d" in "".join(o.get("text", "") for o in outputs["check_conv2d"])


# --- visible-test helpers on right and wrong implementations ----------------------------------


def _linear(backward):
    """A LinearFunction whose backward is ``backward(x, weight, grad_output)``."""

    class Linear(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, bias):
            ctx.save_for_backward(x, weight)
            return x @ weight.T + bias

        @staticmethod
        def backward(ctx, grad_output):
            x, weight = ctx.saved_tensors
            return backward(x, weight, grad_output)

    return Linear


def _relu(backward):
    class ReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, g):
            ctx.save_for_backward(g)
            return g.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            (g,) = ctx.saved_tensors
            return backward(g, grad_output)

    return ReLU


RIGHT_LINEAR = _linear(lambda x, w, go: (go @ w, go.T @ x, go.sum(0)))
RIGHT_RELU = _relu(lambda g, go: go * (g > 0))


def test_linear_check_passes_a_right_backward():
    ac.check_linear_function(RIGHT_LINEAR)


@pytest.mark.parametrize(
    ("backward", "message"),
    [
        (
            lambda x, w, go: (go @ w, x.T @ go, go.sum(0)),
            "grad_weight (dL/dW) has shape (16, 32); the weight is (out, in), so expected "
            "(32, 16): it is the transpose of dL/dW",
        ),
        (lambda x, w, go: (go @ w, go.T @ x, go), "still has the batch dimension"),
        (lambda x, w, go: (go @ w, go.T @ x, go.mean(0)), "the batch mean, not the sum"),
        (lambda x, w, go: (go @ w, go.T @ x, None), "grad_bias (dL/db) is None"),
        (
            lambda x, w, go: ((go @ w).T, go.T @ x, go.sum(0)),
            "grad_input (dL/dx) has shape (16, 64); the input x is (N, in), so expected (64, 16)",
        ),
        (lambda x, w, go: (go @ w, go.T @ x), "one gradient per input of forward"),
        (lambda x, w, go: (2 * go @ w, go.T @ x, go.sum(0)), "2 × the right values"),
        (lambda x, w, go: (go @ w.T, go.T @ x, go.sum(0)), "follow the shapes"),
    ],
    ids=[
        "grad_weight transposed",
        "bias unsummed",
        "bias averaged",
        "bias missing",
        "grad_input transposed",
        "two outputs",
        "grad_input scaled",
        "grad_input shapes do not multiply",
    ],
)
def test_linear_check_names_the_mistake(backward, message):
    with pytest.raises(AssertionError, match=re.escape(message)) as error:
        ac.check_linear_function(_linear(backward))
    _reveals_no_code(str(error.value))


def _reveals_no_code(message: str) -> None:
    """A hint names the mistake in words; it never shows a formula in code."""
    for fragment in ("@", ".T", ".sum(", ".mean(", "grad_output *", "p -=", "δ1 ="):
        assert fragment not in message, f"{fragment!r} in {message!r}"


def test_unsummed_bias_passes_autograd_but_not_the_check():
    """Why the check calls backward directly: autograd quietly sums a (N, out) bias gradient."""
    unsummed = _linear(lambda x, w, go: (go @ w, go.T @ x, go))
    b = torch.zeros(3, requires_grad=True)
    unsummed.apply(torch.ones(4, 2), torch.ones(3, 2), b).sum().backward()
    assert torch.equal(b.grad, torch.full((3,), 4.0))
    with pytest.raises(AssertionError, match="batch"):
        ac.check_linear_function(unsummed)


def test_relu_check_passes_a_right_backward():
    ac.check_relu_function(RIGHT_RELU)


@pytest.mark.parametrize(
    ("backward", "message"),
    [
        (lambda g, go: go * (g < 0), "wrong side"),
        (lambda g, go: go * (g <= 0), "wrong side"),
        (lambda g, go: go, "unmasked: it does not stop where g ≤ 0"),
        (lambda g, go: (g > 0).to(go.dtype), "mask alone"),
        (lambda g, go: go * (go > 0), "sign of the upstream gradient"),
        (lambda g, go: go * g, "by the input itself"),
    ],
    ids=["mask g<0", "mask g<=0", "no mask", "mask only", "mask on grad_output", "times g"],
)
def test_relu_check_names_the_mistake(backward, message):
    with pytest.raises(AssertionError, match=message) as error:
        ac.check_relu_function(_relu(backward))
    _reveals_no_code(str(error.value))


def test_not_implemented_stays_not_implemented():
    """A blank exercise raises NotImplementedError, not a confusing gradcheck failure."""

    def blank(*args):
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        ac.check_linear_function(_linear(blank))
    with pytest.raises(NotImplementedError):
        ac.check_network_gradients(_Net(RIGHT_LINEAR, _relu(blank)))


class _Net(torch.nn.Module):
    """The notebook's Linear-ReLU-Linear-ReLU-Linear (4 → 8 → 8 → 3), in float64."""

    def __init__(self, linear, relu):
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.linear, self.relu = linear, relu
        for i, (o, n) in enumerate([(8, 4), (8, 8), (3, 8)], start=1):
            setattr(
                self,
                f"W{i}",
                torch.nn.Parameter(torch.randn(o, n, generator=gen, dtype=torch.float64)),
            )
            setattr(
                self,
                f"b{i}",
                torch.nn.Parameter(torch.randn(o, generator=gen, dtype=torch.float64)),
            )

    def forward(self, x):
        h = self.relu.apply(self.linear.apply(x, self.W1, self.b1))
        h = self.relu.apply(self.linear.apply(h, self.W2, self.b2))
        return self.linear.apply(h, self.W3, self.b3)


def test_network_check_passes_right_and_fails_wrong_relu():
    ac.check_network_gradients(_Net(RIGHT_LINEAR, RIGHT_RELU))
    ac.check_network_gradients(_Net(RIGHT_LINEAR, RIGHT_RELU), RIGHT_LINEAR, RIGHT_RELU)
    wrong_relu = _relu(lambda g, go: go * (g < 0))
    with pytest.raises(AssertionError, match=r"(?s)dL/dW1 has the right shape .* entries are off"):
        ac.check_network_gradients(_Net(RIGHT_LINEAR, wrong_relu))
    with pytest.raises(AssertionError,
                       match=r"(?s)entries are off.*built from ReLU, whose backward is wrong "
                             r"\(test_relu says how\)"):
        ac.check_network_gradients(_Net(RIGHT_LINEAR, wrong_relu), RIGHT_LINEAR, wrong_relu)
    with pytest.raises(ValueError, match="float64"):
        ac.check_network_gradients(_Net(RIGHT_LINEAR, RIGHT_RELU).float())


def test_network_check_names_a_bias_averaged_over_the_batch():
    """Autograd accepts a bias gradient of the right shape; only its size is off (1/N)."""
    averaged = _linear(lambda x, w, go: (go @ w, go.T @ x, go.mean(0)))
    with pytest.raises(AssertionError, match="dL/db3 has the right shape .* the batch mean"):
        ac.check_network_gradients(_Net(averaged, RIGHT_RELU))
    with pytest.raises(AssertionError,
                       match=r"(?s)batch mean.*whose backward is wrong \(test_linear says how\)"):
        ac.check_network_gradients(_Net(averaged, RIGHT_RELU), averaged, RIGHT_RELU)


def test_network_check_fails_only_for_the_network(capsys):
    """A bias gradient left unsummed over the batch is LinearFunction's own mistake: autograd
    sums it, the network's gradients are right, so the network's check passes and says so."""
    unsummed = _linear(lambda x, w, go: (go @ w, go.T @ x, go))
    with pytest.raises(AssertionError, match="still has the batch dimension"):
        ac.check_linear_function(unsummed)
    ac.check_network_gradients(_Net(unsummed, RIGHT_RELU), unsummed, RIGHT_RELU)
    assert re.search(r"note: _Net's gradients are right, though it is built from \w+, whose "
                     r"backward is wrong \(test_linear says how\)", capsys.readouterr().out)


def _analytic(mask1=True, mask2=True, bias=lambda d: d.sum(0), weight=lambda d, x: d.T @ x,
              sign=1, w2t=False):
    def analytic(y_hat, y, W3, g2, W2, g1, x):
        d2 = (sign * (y_hat - y)) @ W3 * ((g2 > 0) if mask2 else 1)
        d1 = d2 @ (W2.T if w2t else W2) * ((g1 > 0) if mask1 else 1)
        return weight(d1, x), bias(d1)

    return analytic


@pytest.mark.parametrize(
    ("analytic", "message"),
    [
        (_analytic(mask1=False), "dL/dW1 has the right shape (8, 4) but wrong values: "
                                 "the gradient does not stop where g1 ≤ 0"),
        (_analytic(mask2=False), "the gradient does not stop where g2 ≤ 0"),
        (_analytic(mask1=False, mask2=False), "stops at neither ReLU"),
        (_analytic(weight=lambda d, x: x.T @ d),
         "dL/dW1 has shape (4, 8); W1 is (n, din), so expected (8, 4): it is the transpose"),
        (_analytic(bias=lambda d: d.mean(0)),
         "dL/db1 has the right shape (8,) but wrong values: it is the batch mean"),
        (_analytic(bias=lambda d: d),
         "dL/db1 has shape (6, 8); b1 is (n,), so expected (8,): it still has the batch dimension"),
        (_analytic(sign=-1), "opposite sign"),
        (_analytic(w2t=True), "W2 enters transposed"),
        (_analytic(mask1=False, bias=lambda d: d.mean(0)),
         "does not stop where g1 ≤ 0; it is the batch mean"),
    ],
    ids=["no mask 1", "no mask 2", "no masks", "W1 transposed", "bias mean", "bias unsummed",
         "sign", "W2 transposed", "mask and mean"],
)
def test_analytic_check_names_the_mistake(analytic, message):
    with pytest.raises(AssertionError, match=re.escape(message)) as error:
        ac.check_analytic_gradients(analytic)
    _reveals_no_code(str(error.value))
    assert "1[g" not in str(error.value), "the hint must not give the formula"


def test_analytic_check():
    ac.check_analytic_gradients(_analytic())
    with pytest.raises(AssertionError, match="follow the shapes"):
        ac.check_analytic_gradients(lambda y_hat, y, W3, g2, W2, g1, x: ((y_hat - y) @ W3.T, 0))
    with pytest.raises(AssertionError, match="pair"):
        ac.check_analytic_gradients(lambda *args: args[0])


def _step(update):
    def step(parameters, lr):
        with torch.no_grad():
            for p in parameters:
                update(p, lr)

    return step


def _zero_then_step(p, lr):
    p.grad.zero_()
    p.sub_(lr * p.grad)


def test_sgd_check():
    ac.check_sgd_step(_step(lambda p, lr: p.sub_(lr * p.grad)))
    ac.check_sgd_step(_step(lambda p, lr: p.add_(p.grad, alpha=-lr)))
    for update, message in [
        (lambda p, lr: p.add_(lr * p.grad), r"weight moved by \+lr·grad, uphill"),
        (lambda p, lr: p - lr * p.grad, "weight did not move: .* in place"),
        (lambda p, lr: p.sub_(p.grad), "not scaled by the learning rate"),
        (_zero_then_step, "gradient was cleared before the step used it"),
        (lambda p, lr: p.sub_(lr * p), "uses the parameter, not its gradient"),
    ]:
        with pytest.raises(AssertionError, match=message) as error:
            ac.check_sgd_step(_step(update))
        _reveals_no_code(str(error.value))


def test_loss_check():
    ac.check_loss_decreased([400.0, 200.0, 150.0])
    with pytest.raises(AssertionError, match="diverged"):
        ac.check_loss_decreased([400.0, float("nan")])
    with pytest.raises(AssertionError, match="expected it to fall"):
        ac.check_loss_decreased([400.0, 390.0])
    with pytest.raises(AssertionError, match="never moved"):
        ac.check_loss_decreased([400.0, 400.0, 400.0])
    with pytest.raises(AssertionError, match="stopped in its first epoch"):
        ac.check_loss_decreased([400.0])


class _TorchConv(torch.autograd.Function):
    """A reference Conv2dFunction from PyTorch's own convolution gradients."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride=1, padding=0):
        ctx.save_for_backward(x, weight)
        ctx.args = (stride, padding)
        return F.conv2d(x, weight, bias, stride=stride, padding=padding)

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        stride, padding = ctx.args
        gx = torch.nn.grad.conv2d_input(
            x.shape, weight, grad_output, stride=stride, padding=padding
        )
        gw = torch.nn.grad.conv2d_weight(
            x, weight.shape, grad_output, stride=stride, padding=padding
        )
        return gx, gw, ctx.bias_scale * grad_output.sum((0, 2, 3)), None, None


def test_conv2d_check():
    class Right(_TorchConv):
        @staticmethod
        def forward(ctx, *args):
            ctx.bias_scale = 1.0
            return _TorchConv.forward(ctx, *args)

    class WrongBias(_TorchConv):
        @staticmethod
        def forward(ctx, *args):
            ctx.bias_scale = 0.5
            return _TorchConv.forward(ctx, *args)

    ac.check_conv2d_function(Right)
    with pytest.raises(AssertionError, match="grad_bias"):
        ac.check_conv2d_function(WrongBias)
