"""Hidden-test checks for Task 2 (the DnCNN ablation).

Each check is a pure function of plain numbers, strings and arrays: what the student's
experiment produced (the models' layer shapes, the training histories' settings and losses, the
results, the table), handed back by the hidden cells (:mod:`dlci_grader.kernel.task2`), and
what the grader recomputes from the returned weights. A check raises ``AssertionError`` with a
message that names the likely mistake. :data:`JUDGED` runs them in the grader's process.

The experiment: four DnCNNs of the course's depth (biases on/off × 32/64 hidden channels),
trained with the kit's ``train`` at σ = 0.1 for 2 epochs, batch 32, Adam 1e-3, and evaluated
with ``evaluate_model`` at σ = 0.05, 0.1, 0.2.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlci_grader.tasks.contract import Case, Context, JudgedTest, no_inputs
from starter import mistakes as named
from starter.grading_budget import TRAIN_STEPS, denoising_subset
from starter.mistakes import WrongAnswer

CONFIGS: dict[str, tuple[bool, int]] = {
    "bias, 32 ch": (True, 32),
    "bias-free, 32 ch": (False, 32),
    "bias, 64 ch": (True, 64),
    "bias-free, 64 ch": (False, 64),
}
"""Model name -> (use_bias, hidden_channels), as the notebook's ``CONFIGS`` names them."""

HIDDEN_LAYERS = 3
"""Hidden conv + ReLU blocks of the course's DnCNN, five convolutions in all: what the kit's
``DnCNN(...)`` builds by default (``starter.models.dncnn.COURSE_HIDDEN_LAYERS``; a test keeps
the two equal)."""

SIGMA_TRAIN = 0.1
SIGMAS_TEST = (0.05, 0.1, 0.2)
EPOCHS = 2
BATCH_SIZE = 32
LR = 1e-3

PSNR_TOLERANCE = 0.02
"""dB between a reported PSNR and the grader's fp32 re-evaluation of the same model on the same
images and noise. The student's ``evaluate_model`` may have run in bf16 (``precision="auto"`` on
a CPU or GPU with native bf16): measured at most 0.008 dB from fp32 for the four fully trained
models and 0.003 dB for grading mode's 5-step models (3 seeds × 3 noise seeds)."""


def _sigma_key(value: Any) -> float:
    return round(float(value), 6)


def check_names(names: Sequence[str], what: str) -> None:
    """``what`` (e.g. "models") is keyed by exactly the four configuration names."""
    got, expected = sorted(names), sorted(CONFIGS)
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        raise AssertionError(
            f"{what} must have the keys {expected}; missing {missing}, unexpected {extra}"
        )


def check_architecture(
    name: str, conv_has_bias: Sequence[bool], conv_out_channels: Sequence[int], in_channels: int = 3
) -> None:
    """The convolutions of model ``name`` have the course's depth and the configuration's
    biases and widths.

    Args:
        name: one of :data:`CONFIGS`.
        conv_has_bias: for every convolution, in order, whether it has a bias.
        conv_out_channels: for every convolution, in order, its output channels.
        in_channels: image channels (the last convolution's output).
    """
    use_bias, hidden = CONFIGS[name]
    if len(conv_has_bias) < 2 or len(conv_has_bias) != len(conv_out_channels):
        raise AssertionError(f"{name}: expected a DnCNN with at least two convolutions")
    if any(conv_has_bias) and not all(conv_has_bias):
        raise AssertionError(f"{name}: some convolutions have biases and some do not")
    if all(conv_has_bias) != use_bias:
        state = "has" if all(conv_has_bias) else "has no"
        raise WrongAnswer(
            f"{name}: the model {state} biases, but this configuration is "
            f"{'with' if use_bias else 'without'} biases (use_bias={use_bias}): "
            f"{named.DNCNN_BIAS_SWAPPED.says}", [named.DNCNN_BIAS_SWAPPED],
        )
    if len(conv_has_bias) != HIDDEN_LAYERS + 2:
        raise AssertionError(
            f"{name}: {len(conv_has_bias)} convolutions, expected {HIDDEN_LAYERS + 2}: "
            f"the course's DnCNN has {HIDDEN_LAYERS} hidden layers, the default of DnCNN(...); "
            "leave hidden_layers"
        )
    widths = list(conv_out_channels[:-1])
    if any(w != hidden for w in widths) or conv_out_channels[-1] != in_channels:
        raise AssertionError(
            f"{name}: hidden convolutions have {widths} output channels, expected {hidden} each "
            f"(and {in_channels} at the end, got {conv_out_channels[-1]})"
        )


def expected_steps(num_patches: int, batch_size: int, epochs: int, max_steps: int | None) -> int:
    """Optimizer steps of ``epochs`` passes over ``num_patches`` (capped by ``max_steps``)."""
    total = math.ceil(num_patches / batch_size) * epochs
    return total if max_steps is None else min(total, max_steps)


def check_training(
    name: str,
    *,
    sigma: float,
    epochs: int,
    batch_size: int,
    lr: float,
    num_patches: int,
    max_steps: int | None,
    step_loss: Sequence[float] | np.ndarray,
    expected_num_patches: int,
    expected_max_steps: int | None,
) -> None:
    """Model ``name`` was trained with the course settings, on every patch, for the schedule.

    The settings are those the kit's ``train`` recorded in its ``History``; ``expected_*``
    are the notebook's (all patches; the grading mode's step cap, or None for full epochs).
    """
    if not math.isclose(sigma, SIGMA_TRAIN, rel_tol=1e-6):
        raise WrongAnswer(
            f"{name}: trained at σ = {sigma:g}, expected σ = {SIGMA_TRAIN} (a standard deviation "
            f"in [0, 1] units): {named.DNCNN_TRAINING_SIGMA.says}", [named.DNCNN_TRAINING_SIGMA],
        )
    if (epochs, batch_size) != (EPOCHS, BATCH_SIZE) or not math.isclose(lr, LR, rel_tol=1e-6):
        raise AssertionError(
            f"{name}: trained with epochs={epochs}, batch_size={batch_size}, lr={lr:g}; the "
            f"course defaults are epochs={EPOCHS}, batch_size={BATCH_SIZE}, lr={LR:g}"
        )
    if num_patches != expected_num_patches:
        raise AssertionError(
            f"{name}: trained on {num_patches} patches, expected all {expected_num_patches}"
        )
    if max_steps != expected_max_steps:
        raise AssertionError(
            f"{name}: trained with max_steps={max_steps}, expected {expected_max_steps}: train "
            "every model for the whole schedule (do not pass max_steps)"
        )
    steps = expected_steps(expected_num_patches, BATCH_SIZE, EPOCHS, expected_max_steps)
    losses = np.asarray(step_loss, dtype=float)
    if losses.shape != (steps,):
        raise AssertionError(f"{name}: {losses.size} recorded steps, expected {steps}")
    if not np.all(np.isfinite(losses)):
        raise AssertionError(f"{name}: the training loss is not finite (diverged?)")


def check_results_row(name: str, row: Mapping[Any, float]) -> None:
    """``row`` maps exactly the test noise levels to finite PSNRs (dB)."""
    keys = sorted(_sigma_key(s) for s in row)
    if keys != sorted(SIGMAS_TEST):
        only = keys == [_sigma_key(SIGMA_TRAIN)]
        raise WrongAnswer(
            f"{name}: results at σ = {keys}, expected exactly {list(SIGMAS_TEST)}: "
            + (named.DNCNN_EVALUATED_AT_TRAINING_SIGMA_ONLY.says if only else
               "evaluate every model at every test noise level"),
            [named.DNCNN_EVALUATED_AT_TRAINING_SIGMA_ONLY] if only else [],
        )
    values = [float(v) for v in row.values()]
    if not all(math.isfinite(v) for v in values):
        raise AssertionError(f"{name}: non-finite PSNR in {values}")


def check_results_match(
    name: str,
    reported: Mapping[Any, float],
    recomputed: Mapping[Any, float],
    tolerance: float = PSNR_TOLERANCE,
) -> None:
    """Each reported PSNR is what the model gives when the kit re-evaluates it.

    Args:
        reported: the student's ``{σ: PSNR}`` for model ``name``.
        recomputed: ``evaluate_model`` on the same model, images, noise levels and seed.
    """
    check_results_row(name, reported)
    got = {_sigma_key(s): float(v) for s, v in reported.items()}
    ref = {_sigma_key(s): float(v) for s, v in recomputed.items()}
    for sigma in SIGMAS_TEST:
        if abs(got[sigma] - ref[sigma]) > tolerance:
            raise WrongAnswer(
                f"{name}: at σ = {sigma} you report {got[sigma]:.2f} dB but the model gives "
                f"{ref[sigma]:.2f} dB on these images; "
                f"{named.DNCNN_RESULTS_NOT_FROM_MODELS.says}",
                [named.DNCNN_RESULTS_NOT_FROM_MODELS],
            )


def check_table(
    values: Any,
    row_names: Sequence[str],
    column_sigmas: Sequence[float],
    results: Mapping[str, Mapping[Any, float]],
) -> None:
    """The displayed table holds the results: one row per model, one column per noise level.

    Args:
        values: the table's numbers, ``(rows, columns)``.
        row_names: its row labels (model names).
        column_sigmas: the noise level of each column.
        results: the student's ``{name: {σ: PSNR}}``.
    """
    table = np.asarray(values, dtype=float)
    check_names(list(row_names), "the table's rows")
    sigmas = [_sigma_key(s) for s in column_sigmas]
    if sorted(sigmas) != sorted(SIGMAS_TEST):
        only = sigmas == [_sigma_key(SIGMA_TRAIN)]
        raise WrongAnswer(
            f"the table's columns are σ = {sigmas}, expected {list(SIGMAS_TEST)}"
            + (f": {named.DNCNN_EVALUATED_AT_TRAINING_SIGMA_ONLY.says}" if only else ""),
            [named.DNCNN_EVALUATED_AT_TRAINING_SIGMA_ONLY] if only else [],
        )
    if table.shape != (len(row_names), len(sigmas)):
        raise AssertionError(
            f"the table is {table.shape}, expected {(len(row_names), len(sigmas))}"
        )
    for i, name in enumerate(row_names):
        row = {_sigma_key(s): float(v) for s, v in results[name].items()}
        for j, sigma in enumerate(sigmas):
            if sigma not in row or abs(table[i, j] - row[sigma]) > 0.006:
                raise AssertionError(
                    f"table[{name!r}, σ = {sigma}] = {table[i, j]:.2f} is not the result "
                    f"{row.get(sigma, float('nan')):.2f}; build the table from `results`"
                )


# --- judged outside the kernel -----------------------------------------------------------------
# The hidden cells hand back plain data about the experiment (layer structure, recorded training
# settings, the trained weights, the results and the table); the grader rebuilds each model from
# its weights with its own copy of the kit's DnCNN and re-evaluates it itself.

GRADING_MAX_STEPS = TRAIN_STEPS
"""The steps the kit's ``train`` stops after in grading mode (``starter.grading_budget``)."""
EVAL_SEED = 0
"""The notebook's ``EVAL_SEED``: the test noise of ``evaluate_model``."""


@functools.lru_cache(maxsize=2)
def _data(data_root: Path | str | None, grading: bool) -> tuple[int, Any]:
    """(number of training patches, the notebook's test images) on the grader's side."""
    from starter.data import bsds300_images, bsds300_patches

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        patches = len(bsds300_patches(data_root, split="train"))
        test_all = bsds300_images(data_root, split="test")
    test_images = denoising_subset(test_all) if grading else test_all
    return patches, test_images


def _with_data(rng: np.random.Generator, context: Context) -> list[Case]:
    """No inputs; the grader's expectations (secret) ride along with the case."""
    num_patches, _ = _data(context.data_root, context.grading)
    return [{
        "_num_patches": np.array(num_patches),
        "_max_steps": np.array(GRADING_MAX_STEPS if context.grading else -1),
        "_data_root": np.array(str(context.data_root or "")),
        "_grading": np.array(context.grading),
    }]


def _text(value: Any) -> str:
    return str(np.asarray(value).item())


def _by_name(answers: list[Case], what: str) -> dict[str, Case]:
    named = {_text(a["name"]): a for a in answers if "name" in a}
    check_names(list(named), what)
    return named


def _psnr_row(sigmas: Any, psnrs: Any) -> dict[float, float]:
    """``{σ: PSNR}`` from the two arrays an answer carries for one model's results."""
    return dict(zip(np.ravel(sigmas).tolist(), np.ravel(psnrs).tolist(), strict=True))


def _models_judge(cases: list[Case], answers: list[Case]) -> None:
    for name, a in _by_name(answers, "models").items():
        check_architecture(name, [bool(b) for b in np.ravel(a["conv_bias"])],
                           [int(c) for c in np.ravel(a["conv_out"])])


def _training_judge(cases: list[Case], answers: list[Case]) -> None:
    (case,) = cases
    expected_max = int(case["_max_steps"])
    for name, a in _by_name(answers, "histories").items():
        max_steps = int(a["max_steps"])
        check_training(
            name, sigma=float(a["sigma"]), epochs=int(a["epochs"]), batch_size=int(a["batch_size"]),
            lr=float(a["lr"]), num_patches=int(a["num_patches"]),
            max_steps=None if max_steps < 0 else max_steps, step_loss=np.ravel(a["step_loss"]),
            expected_num_patches=int(case["_num_patches"]),
            expected_max_steps=None if expected_max < 0 else expected_max,
        )


def rebuild(answer: Case) -> Any:
    """The student's trained DnCNN, rebuilt from its weights with the kit's class (grader side)."""
    import torch

    from starter.models import DnCNN

    weights = {
        k[2:]: torch.from_numpy(np.array(v)) for k, v in answer.items() if k.startswith("w:")
    }
    model = DnCNN(
        in_channels=int(answer["in_channels"]), hidden_channels=int(answer["hidden_channels"]),
        hidden_layers=int(answer["hidden_layers"]), use_bias=bool(answer["use_bias"]),
    )
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise AssertionError(
            f"the model's weights do not fit a DnCNN: {str(error)[:200]}"
        ) from None
    return model.eval()


def _results_judge(cases: list[Case], answers: list[Case]) -> None:
    from starter.training import evaluate_model

    (case,) = cases
    _, images = _data(_text(case["_data_root"]) or None, bool(case["_grading"]))
    for name, a in _by_name(answers, "results").items():
        reported = _psnr_row(a["sigmas"], a["psnr"])
        check_results_row(name, reported)
        # fp32 whatever the grading machine has: the tolerance covers a student's bf16 run; a
        # progress bar on the 100 whole images (minutes), not on grading mode's four crops
        again = evaluate_model(
            rebuild(a), images, SIGMAS_TEST, seed=EVAL_SEED, device="cpu", precision="fp32",
            progress=not bool(case["_grading"]),
        )  # fmt: skip
        check_results_match(name, reported, again)


def _table_judge(cases: list[Case], answers: list[Case]) -> None:
    (answer,) = answers
    results = {}
    for key in answer:
        if key.startswith("results:") and key.endswith(":sigmas"):
            name = key[len("results:") : -len(":sigmas")]
            results[name] = _psnr_row(answer[key], answer[f"results:{name}:psnr"])
    check_table(answer["values"], [str(s) for s in np.ravel(answer["rows"])],
                [float(s) for s in np.ravel(answer["columns"])], results)


def _models_visible_judge(cases: list[Case], answers: list[Case]) -> None:
    _by_name(answers, "models")


def _training_visible_judge(cases: list[Case], answers: list[Case]) -> None:
    for name, a in _by_name(answers, "histories").items():
        losses = np.ravel(a["step_loss"])
        if losses.size == 0 or not np.all(np.isfinite(losses)):
            raise AssertionError(f"{name}: no finite training losses")


def _results_visible_judge(cases: list[Case], answers: list[Case]) -> None:
    for name, a in _by_name(answers, "results").items():
        row = _psnr_row(a["sigmas"], a["psnr"])
        check_results_row(name, row)
        values = [row[s] for s in sorted(row)]
        if not values[0] > values[1] > values[2]:
            raise AssertionError(f"{name}: PSNR should fall as σ grows, got {values}")


def _table_visible_judge(cases: list[Case], answers: list[Case]) -> None:
    (answer,) = answers
    shape = np.shape(answer["values"])
    if shape != (len(CONFIGS), len(SIGMAS_TEST)):
        raise AssertionError(
            f"the table has shape {shape}, expected {(len(CONFIGS), len(SIGMAS_TEST))}"
        )


JUDGED: dict[str, JudgedTest] = {
    "test_models": JudgedTest(no_inputs, _models_visible_judge),
    "test_models_hidden": JudgedTest(no_inputs, _models_judge),
    "test_training": JudgedTest(no_inputs, _training_visible_judge),
    "test_training_hidden": JudgedTest(_with_data, _training_judge),
    "test_results": JudgedTest(no_inputs, _results_visible_judge),
    "test_results_hidden": JudgedTest(_with_data, _results_judge),
    "test_table": JudgedTest(no_inputs, _table_visible_judge),
    "test_table_hidden": JudgedTest(no_inputs, _table_judge),
}
"""Task 2's test cells, judged outside the student's process: the visible tests' checks of keys,
losses, results and the table's shape again on what comes back, the hidden ones in full."""
