"""Task 1's sample submissions, right and deliberately wrong, with the cells they must fail.

Built as every task's are (see :mod:`dlci_grader.samples.variants`): the solution with one exact
text edit per mistake.
"""

from __future__ import annotations

from dlci_grader.samples.variants import Edit, Variant, by_name
from starter import mistakes as named

_TASK1_LINEAR = frozenset({"test_linear", "test_linear_hidden"})
_TASK1_RELU = frozenset({"test_relu", "test_relu_hidden"})
_TASK1_NETWORK = frozenset({"test_network", "test_network_hidden"})
_TASK1_SGD = frozenset({"test_sgd", "test_sgd_hidden"})
_TASK1_TRAINING = frozenset({"test_training", "test_training_hidden"})

VARIANTS: dict[str, Variant] = by_name(
    Variant("solution", "the instructor's solution, markers removed"),
    Variant("blank", "the release handed in untouched", blank=True),
    Variant(
        "transposed_grad_weight",
        "LinearFunction returns xᵀ·dL/dg, the transpose of dL/dW; training then "
        "fails on autograd's shape check",
        edits=(Edit("linear_function", "grad_output.T @ x", "x.T @ grad_output"),),
        fails=_TASK1_LINEAR | _TASK1_NETWORK | _TASK1_TRAINING,
        mistakes=(named.LINEAR_WEIGHT_TRANSPOSED,),
    ),
    Variant(
        "bias_unsummed",
        "LinearFunction returns dL/dg itself as dL/db, one row per example: only its own tests "
        "fail (autograd sums the rows, so the network's gradients and training are right: one "
        "mistake costs its points once)",
        edits=(Edit("linear_function", "grad_output.sum(dim=0)", "grad_output"),),
        fails=_TASK1_LINEAR,
        mistakes=(named.LINEAR_BIAS_UNSUMMED,),
    ),
    Variant(
        "relu_mask_wrong_sign",
        "ReLUFunction passes the gradient where its input is negative; training diverges",
        edits=(Edit("relu_function", "(g > 0)", "(g < 0)"),),
        fails=_TASK1_RELU | _TASK1_NETWORK | _TASK1_TRAINING,
        mistakes=(named.RELU_WRONG_SIDE,),
    ),
    Variant(
        "update_wrong_sign",
        "sgd_step climbs the gradient (p += lr * grad); training diverges",
        edits=(Edit("sgd_step", "p -= lr * p.grad", "p += lr * p.grad"),),
        fails=_TASK1_SGD | _TASK1_TRAINING,
        mistakes=(named.SGD_UPHILL,),
    ),
)
"""Variant name -> :class:`~dlci_grader.samples.variants.Variant`."""
