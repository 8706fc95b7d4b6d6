"""Task 1's typical mistakes (backprop and inpainting) and the hint each visible test must give.

Every row edits the full solution the way students really get it wrong, names the visible test
that must fail, what its failure text must say (the mistake in words: which gradient, its shape
against the expected one, which factor is missing) and what must never appear in ``dlci check``'s
output: the solution's code (:data:`SOLUTION`), whichever row it is.
"""

from __future__ import annotations

from mistakes import Edit, Mistake, with_named

SOLUTION = (
    # LinearFunction.backward
    "grad_output @ weight",
    "grad_output.T @ x",
    "grad_output.sum(dim=0)",
    # ReLUFunction.backward
    "grad_output * (g > 0)",
    # analytic_gradients
    "((y_hat - y) @ W3) * (g2 > 0)",
    "(delta2 @ W2) * (g1 > 0)",
    "delta1.T @ x",
    "delta1.sum(dim=0)",
    # sgd_step
    "p -= lr * p.grad",
    # the same answers as formulas (the hints of an earlier version gave them away)
    "(dL/dg)ᵀ x",
    "dL/dg · W",
    "δ1 =",
    "⊙ 1[g",
)
"""Fragments of the solution, as code or formula, that no hint may show."""

_LINEAR = "linear_function"
_RELU = "relu_function"
_ANALYTIC = "analytic_gradients"
_SGD = "sgd_step"


def _row(
    name: str, description: str, edits: tuple[Edit, ...], test: str, *says: str,
    fails: tuple[str, ...],
) -> Mistake:
    return Mistake("task1", name, description, edits, test, says, SOLUTION, fails)


_GRAD_INPUT_TRANSPOSED = (
    Edit(_LINEAR, "grad_input = grad_output @ weight", "grad_input = weight.T @ grad_output.T"),
)
_BIAS_MEAN = (Edit(_LINEAR, "grad_output.sum(dim=0)", "grad_output.mean(dim=0)"),)
_RELU_WRONG_SIDE = (Edit(_RELU, "(g > 0)", "(g < 0)"),)

MISTAKES: list[Mistake] = [
    _row(
        "grad_input_transposed",
        "LinearFunction returns Wᵀ·(dL/dg)ᵀ, the transpose of dL/dx",
        _GRAD_INPUT_TRANSPOSED,
        "test_linear",
        r"grad_input \(dL/dx\) has shape \(16, 64\); "
        r"the input x is \(N, in\), so expected \(64, 16\)",
        r"transpose of dL/dx",
        fails=("test_linear", "test_network", "test_training"),
    ),
    _row(
        "grad_input_transposed_in_training",
        "the same transposed dL/dx: training (batch 50, hidden width 32) stops at autograd's "
        "shape check instead of training quietly on wrong numbers",
        _GRAD_INPUT_TRANSPOSED,
        "test_training",
        r"training stopped in its first epoch",
        r"the error is in the training cell",
        fails=("test_linear", "test_network", "test_training"),
    ),
    _row(
        "grad_weight_transposed",
        "LinearFunction returns xᵀ·dL/dg, the transpose of dL/dW",
        (Edit(_LINEAR, "grad_weight = grad_output.T @ x", "grad_weight = x.T @ grad_output"),),
        "test_linear",
        r"grad_weight \(dL/dW\) has shape \(16, 32\); the weight is \(out, in\), so expected "
        r"\(32, 16\)",
        r"transpose of dL/dW",
        fails=("test_linear", "test_network", "test_training"),
    ),
    _row(
        "bias_averaged",
        "LinearFunction's bias gradient is the mean over the batch",
        _BIAS_MEAN,
        "test_linear",
        r"grad_bias \(dL/db\) has the right shape \(32,\) but wrong values",
        r"batch mean, not the sum over the batch",
        fails=("test_linear", "test_network"),
    ),
    _row(
        "bias_averaged_in_network",
        "the same averaged bias gradient, seen by the network's test (autograd accepts its shape)",
        _BIAS_MEAN,
        "test_network",
        r"dL/db\d has the right shape .* batch mean, not the sum over the batch",
        r"built from LinearFunction, whose backward is wrong \(test_linear says how\)",
        fails=("test_linear", "test_network"),
    ),
    _row(
        "bias_unsummed",
        "LinearFunction returns dL/dg itself as the bias gradient, one row per example (autograd "
        "sums it, so the network's gradients are right: test_network passes, with a note)",
        (Edit(_LINEAR, "grad_bias = grad_output.sum(dim=0)", "grad_bias = grad_output"),),
        "test_linear",
        r"grad_bias \(dL/db\) has shape \(64, 32\); the bias is \(out,\), so expected \(32,\)",
        r"still has the batch dimension",
        fails=("test_linear",),
    ),
    _row(
        "relu_mask_wrong_side",
        "ReLUFunction passes the gradient where its input is negative",
        _RELU_WRONG_SIDE,
        "test_relu",
        r"passes the gradient where g < 0 and blocks it where g > 0",
        r"mask is on the wrong side",
        fails=("test_network", "test_relu", "test_training"),
    ),
    _row(
        "relu_mask_wrong_side_in_network",
        "the same wrong-side mask, seen by the network's test",
        _RELU_WRONG_SIDE,
        "test_network",
        r"dL/dW1 has the right shape .* entries are off",
        r"built from ReLUFunction, whose backward is wrong \(test_relu says how\)",
        fails=("test_network", "test_relu", "test_training"),
    ),
    _row(
        "relu_mask_on_grad_output",
        "ReLUFunction masks by the sign of the upstream gradient instead of its input",
        (Edit(_RELU, "(g > 0)", "(grad_output > 0)"),),
        "test_relu",
        r"the mask follows the sign of the upstream gradient",
        r"sign of the input g",
        fails=("test_network", "test_relu", "test_training"),
    ),
    _row(
        "relu_unmasked",
        "ReLUFunction passes the upstream gradient through unchanged",
        (Edit(_RELU, "grad_input = grad_output * (g > 0)", "grad_input = grad_output"),),
        "test_relu",
        r"upstream gradient unmasked",
        r"does not stop where g ≤ 0",
        fails=("test_network", "test_relu", "test_training"),
    ),
    _row(
        "relu_mask_alone",
        "ReLUFunction returns the mask, forgetting the upstream gradient",
        (Edit(_RELU, "grad_input = grad_output * (g > 0)", "grad_input = (g > 0) * 1.0"),),
        "test_relu",
        r"mask alone",
        r"upstream gradient is not multiplied in",
        fails=("test_network", "test_relu", "test_training"),
    ),
    _row(
        "analytic_no_mask_layer1",
        "dL/dW1 without the first ReLU's mask",
        (Edit(_ANALYTIC, "delta1 = (delta2 @ W2) * (g1 > 0)", "delta1 = delta2 @ W2"),),
        "test_analytic",
        r"dL/dW1 has the right shape \(8, 4\) but wrong values",
        r"the gradient does not stop where g1 ≤ 0",
        fails=("test_analytic",),
    ),
    _row(
        "analytic_no_mask_layer2",
        "dL/dW1 without the second ReLU's mask",
        (Edit(_ANALYTIC, "delta2 = ((y_hat - y) @ W3) * (g2 > 0)", "delta2 = (y_hat - y) @ W3"),),
        "test_analytic",
        r"the gradient does not stop where g2 ≤ 0",
        fails=("test_analytic",),
    ),
    _row(
        "analytic_grad_W1_transposed",
        "dL/dW1 computed as xᵀ·δ1, the transpose",
        (Edit(_ANALYTIC, "grad_W1 = delta1.T @ x", "grad_W1 = x.T @ delta1"),),
        "test_analytic",
        r"dL/dW1 has shape \(4, 8\); W1 is \(n, din\), so expected \(8, 4\)",
        r"transpose of dL/dW1",
        fails=("test_analytic",),
    ),
    _row(
        "analytic_bias_averaged",
        "dL/db1 averaged over the batch",
        (Edit(_ANALYTIC, "grad_b1 = delta1.sum(dim=0)", "grad_b1 = delta1.mean(dim=0)"),),
        "test_analytic",
        r"dL/db1 has the right shape \(8,\) but wrong values: it is the batch mean",
        fails=("test_analytic",),
    ),
    _row(
        "analytic_sign_flipped",
        "dL/dŷ taken as y − ŷ",
        (Edit(_ANALYTIC, "(y_hat - y)", "(y - y_hat)"),),
        "test_analytic",
        r"dL/dW1 .* opposite sign",
        fails=("test_analytic",),
    ),
    _row(
        "analytic_W2_transposed",
        "going back through the second layer with W2ᵀ (square, so the shapes still fit)",
        (Edit(_ANALYTIC, "(delta2 @ W2)", "(delta2 @ W2.T)"),),
        "test_analytic",
        r"W2 enters transposed",
        fails=("test_analytic",),
    ),
    _row(
        "sgd_wrong_sign",
        "sgd_step climbs the gradient",
        (Edit(_SGD, "p -= lr * p.grad", "p += lr * p.grad"),),
        "test_sgd",
        r"weight moved by \+lr·grad, uphill",
        fails=("test_sgd", "test_training"),
    ),
    _row(
        "sgd_rebinds",
        "sgd_step computes a new tensor and binds it to the loop variable: the model never changes",
        (Edit(_SGD, "p -= lr * p.grad", "p = p - lr * p.grad"),),
        "test_sgd",
        r"weight did not move",
        r"change the parameter itself, in place",
        fails=("test_sgd", "test_training"),
    ),
    _row(
        "sgd_without_lr",
        "sgd_step forgets the learning rate",
        (Edit(_SGD, "p -= lr * p.grad", "p -= p.grad"),),
        "test_sgd",
        r"not scaled by the learning rate",
        fails=("test_sgd", "test_training"),
    ),
    _row(
        "sgd_zeroes_grad_first",
        "sgd_step clears the gradient before using it",
        (Edit(_SGD, "p -= lr * p.grad", "p.grad.zero_()\n            p -= lr * p.grad"),),
        "test_sgd",
        r"gradient was cleared before the step used it",
        fails=("test_sgd", "test_training"),
    ),
]
"""Task 1's rows of the catalogue."""

MISTAKES = with_named(MISTAKES, {
    "grad_input_transposed": ("linear.grad_input.transposed",),
    "grad_weight_transposed": ("linear.grad_weight.transposed",),
    "bias_averaged": ("linear.grad_bias.mean",),
    "bias_averaged_in_network": ("linear.grad_bias.mean",),
    "bias_unsummed": ("linear.grad_bias.unsummed",),
    "relu_mask_wrong_side": ("relu.wrong_side",),
    "relu_mask_on_grad_output": ("relu.upstream_sign",),
    "relu_unmasked": ("relu.unmasked",),
    "relu_mask_alone": ("relu.mask_alone",),
    "analytic_no_mask_layer1": ("analytic.mask1_missing",),
    "analytic_no_mask_layer2": ("analytic.mask2_missing",),
    "analytic_grad_W1_transposed": ("analytic.grad_w1.transposed",),
    "analytic_bias_averaged": ("analytic.grad_b1.mean",),
    "analytic_sign_flipped": ("analytic.sign",),
    "analytic_W2_transposed": ("analytic.w2_transposed",),
    "sgd_wrong_sign": ("sgd.uphill",),
    "sgd_rebinds": ("sgd.not_in_place",),
    "sgd_without_lr": ("sgd.unscaled",),
    "sgd_zeroes_grad_first": ("sgd.grad_cleared_first",),
})
"""Each row with the ids of the named mistakes (:mod:`starter.mistakes`) its hint names."""
