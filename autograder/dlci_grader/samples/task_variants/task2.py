"""Task 2's sample submissions, right and deliberately wrong, with the cells they must fail.

Built like Task 1's (see :mod:`dlci_grader.samples.variants`): the solution with one exact text edit
per mistake. Scores out of the 15 autograded points (the 6 hand-graded points aside), in the
grading mode (``DLCI_GRADING=1``: the kit's ``train`` stops after
``starter.grading_budget.TRAIN_STEPS`` steps per model, and the test set is
``starter.grading_budget.denoising_subset`` of the test images):

| variant | what the student did | autograded score |
|---|---|---|
| solution | the instructor's solution | 15 |
| blank | the release untouched | 0 |
| wrong_sigma | trains at σ = 0.2 instead of 0.1 | 12 |
| swapped_bias | builds each model with the other configuration's bias flag | 12 |
| eval_training_sigma_only | evaluates every model at the training noise level only | 8 |
| hand_typed_results | types the course's published numbers instead of evaluating the models | 11 |

"""

from __future__ import annotations

from dlci_grader.samples.variants import Edit, Variant, by_name
from starter import mistakes as named

AUTOGRADED_POINTS = 15
MANUAL_POINTS = 6

_EVALUATE = """evaluate_model(
            model, images, SIGMAS_TEST, seed=EVAL_SEED, device=device, progress=True
        )"""

VARIANTS: dict[str, Variant] = by_name(
    Variant("solution", "the instructor's solution, markers removed"),
    Variant("blank", "the release handed in untouched", blank=True),
    Variant(
        "wrong_sigma",
        "trains every model at σ = 0.2 (the highest test level) instead of SIGMA_TRAIN = 0.1",
        edits=(Edit("train_all", "sigma=SIGMA_TRAIN", "sigma=0.2"),),
        fails=frozenset({"test_training_hidden"}),
        mistakes=(named.DNCNN_TRAINING_SIGMA,),
    ),
    Variant(
        "swapped_bias",
        "builds every model with the opposite bias flag: the 'bias' rows are bias-free "
        "networks and vice versa",
        edits=(
            Edit("build_models", 'use_bias=cfg["use_bias"]', 'use_bias=not cfg["use_bias"]'),
        ),
        fails=frozenset({"test_models_hidden"}),
        mistakes=(named.DNCNN_BIAS_SWAPPED,),
    ),
    Variant(
        "eval_training_sigma_only",
        "evaluates every model at the training noise level only, so the table has one column",
        edits=(
            Edit(
                "evaluate_all", "SIGMAS_TEST, seed=EVAL_SEED", "(SIGMA_TRAIN,), seed=EVAL_SEED"
            ),
        ),
        fails=frozenset(
            {"test_results", "test_results_hidden", "test_table", "test_table_hidden"}
        ),
        mistakes=(named.DNCNN_EVALUATED_AT_TRAINING_SIGMA_ONLY,),
    ),
    Variant(
        "hand_typed_results",
        "types the course's published numbers (bias, 32 ch, problem-session slides) into "
        "the results instead of evaluating the models; the table then shows numbers that do "
        "not come from the models",
        edits=(Edit("evaluate_all", _EVALUATE, "{0.05: 31.09, 0.1: 29.47, 0.2: 22.40}"),),
        fails=frozenset({"test_results_hidden"}),
        mistakes=(named.DNCNN_RESULTS_NOT_FROM_MODELS,),
    ),
)
"""Variant name -> :class:`~dlci_grader.samples.variants.Variant`."""
