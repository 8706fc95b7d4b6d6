"""Task 2's hidden-test checks pass the right experiment and fail each wrong one, with a message
that names the mistake (pure functions of plain numbers: fast, no notebook, no data)."""

from __future__ import annotations

import pytest

pytest.importorskip("dlci_grader")
from dlci_grader.tasks.task2 import checks as task2  # noqa: E402

pytestmark = [pytest.mark.task2, pytest.mark.grader]

NAMES = list(task2.CONFIGS)
ROW = {0.05: 31.09, 0.1: 29.47, 0.2: 22.40}  # the course's published bias, 32 ch


def dncnn_convs(use_bias: bool, hidden: int, layers: int = task2.HIDDEN_LAYERS):
    """(has_bias, out_channels) of every convolution of a DnCNN."""
    return [use_bias] * (layers + 2), [hidden] * (layers + 1) + [3]


def training(**changes):
    settings = dict(
        sigma=0.1, epochs=2, batch_size=32, lr=1e-3, num_patches=30000, max_steps=5,
        step_loss=[0.01] * 5, expected_num_patches=30000, expected_max_steps=5,
    )  # fmt: skip
    settings.update(changes)
    return settings


def test_names():
    task2.check_names(reversed(NAMES), "models")
    with pytest.raises(AssertionError, match="missing"):
        task2.check_names(NAMES[:3], "models")


@pytest.mark.parametrize("name", NAMES)
def test_architecture_accepts_each_configuration(name):
    task2.check_architecture(name, *dncnn_convs(*task2.CONFIGS[name]))


def test_architecture_catches_swapped_bias_and_wrong_width():
    with pytest.raises(AssertionError, match="swapped"):
        task2.check_architecture("bias, 32 ch", *dncnn_convs(False, 32))
    with pytest.raises(AssertionError, match="swapped"):
        task2.check_architecture("bias-free, 64 ch", *dncnn_convs(True, 64))
    with pytest.raises(AssertionError, match="expected 64"):
        task2.check_architecture("bias, 64 ch", *dncnn_convs(True, 32))
    with pytest.raises(AssertionError, match="some convolutions"):
        task2.check_architecture("bias, 32 ch", [True, False, True], [32, 32, 3])
    with pytest.raises(AssertionError, match="6 convolutions, expected 5"):
        task2.check_architecture("bias, 32 ch", *dncnn_convs(True, 32, layers=4))


def test_the_course_depth_is_the_kits_default():
    """A student who builds ``DnCNN(hidden_channels=..., use_bias=...)`` passes the depth check."""
    import torch

    from starter.models import DnCNN

    for name, (use_bias, hidden) in task2.CONFIGS.items():
        convs = [m for m in DnCNN(hidden_channels=hidden, use_bias=use_bias).modules()
                 if isinstance(m, torch.nn.Conv2d)]  # fmt: skip
        task2.check_architecture(
            name, [c.bias is not None for c in convs], [c.out_channels for c in convs]
        )


def test_training_settings():
    task2.check_training("bias, 32 ch", **training())
    full = training(max_steps=None, expected_max_steps=None, step_loss=[0.01] * 1876)
    task2.check_training("bias, 32 ch", **full)
    for change, message in [
        (dict(sigma=0.2), "σ = 0.2"),
        (dict(sigma=0.01), "standard deviation"),
        (dict(batch_size=64), "batch_size=64"),
        (dict(lr=1e-2), "lr=0.01"),
        (dict(epochs=1), "epochs=1"),
        (dict(num_patches=1000), "1000 patches"),
        (dict(max_steps=None), "max_steps=None"),
        (dict(step_loss=[0.01] * 4), "4 recorded steps"),
        (dict(step_loss=[0.01] * 4 + [float("nan")]), "not finite"),
    ]:
        with pytest.raises(AssertionError, match=message):
            task2.check_training("bias, 32 ch", **training(**change))


def test_results_must_match_the_reevaluation():
    task2.check_results_match("bias, 32 ch", ROW, {0.05: 31.095, 0.1: 29.47, 0.2: 22.39})
    with pytest.raises(AssertionError, match="σ = 0.2"):
        task2.check_results_match("bias, 32 ch", ROW, {0.05: 31.09, 0.1: 29.47, 0.2: 25.0})
    with pytest.raises(AssertionError, match="expected exactly"):
        task2.check_results_match("bias, 32 ch", {0.1: 29.6}, {0.1: 29.6})
    with pytest.raises(AssertionError, match="expected exactly"):  # variance instead of std
        task2.check_results_match("bias, 32 ch", {0.0025: 1.0, 0.01: 1.0, 0.04: 1.0}, ROW)


def test_table_must_show_the_results():
    results = {name: dict(ROW) for name in NAMES}
    values = [list(ROW.values())] * 4
    columns = [0.05, 0.1, 0.2]
    task2.check_table(values, NAMES, columns, results)
    with pytest.raises(AssertionError, match="is not the result"):
        task2.check_table(values[:3] + [[1.0, 2.0, 3.0]], NAMES, columns, results)
    with pytest.raises(AssertionError, match="columns"):
        task2.check_table([[29.47]] * 4, NAMES, [0.1], results)
    with pytest.raises(AssertionError, match="rows"):
        task2.check_table(values, ["a", "b", "c", "d"], columns, results)
