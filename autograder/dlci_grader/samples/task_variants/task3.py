"""Task 3's sample submissions, right and deliberately wrong, with the cells they must fail.

Built like Task 1's (see :mod:`dlci_grader.samples.variants`): the solution with one exact text edit
per mistake. Scores out of the 19 autograded points (the 6 hand-graded points aside). A wrong
``simulate`` or method costs its own tests' points only: the table tests judge the table's
composition on it (``tasks/task3/checks.row_mistakes``; ``psnr_table`` runs on the grader's own
simulation in its hidden test), one mistake, its points once:

| variant | what the student did | autograded score |
|---|---|---|
| solution | the instructor's solution | 19 |
| blank | the release untouched | 0 |
| noise_before_blur | ``blur(add_noise(x))``: the scene is noisy, not the sensor | 14 |
| swapped_inputs | the U-Net gets Wiener's output; Wiener + U-Net, the raw measurement | 14 |
| sigma_as_variance | noise of standard deviation √σ | 14 |

"""

from __future__ import annotations

from dlci_grader.samples.variants import Edit, Variant, by_name
from starter import mistakes as named

_SIMULATE = frozenset({"test_simulate", "test_simulate_hidden"})
_SOLUTION_SIMULATE = "return add_noise(blur(x, kernel), sigma, generator=generator)"

VARIANTS: dict[str, Variant] = by_name(
    Variant("solution", "the instructor's solution, markers removed"),
    Variant("blank", "the release handed in untouched", blank=True),
    Variant(
        "noise_before_blur",
        "simulate adds the noise before the blur, so the noise is blurred too (std ≈ 0.34σ, "
        "correlated); every table entry is then off, but as the methods give it on such "
        "measurements: the table tests pass",
        edits=(
            Edit(
                "simulate",
                _SOLUTION_SIMULATE,
                "return blur(add_noise(x, sigma, generator=generator), kernel)",
            ),
        ),
        fails=_SIMULATE,
        mistakes=(named.NOISE_BEFORE_BLUR,),
    ),
    Variant(
        "swapped_inputs",
        "the networks' inputs are swapped: deblur_denoise gets Wiener's output and "
        "wiener_denoise the raw measurement",
        edits=(
            Edit(
                "methods",
                "predict(models.deblur_denoise, y)",
                "predict(models.deblur_denoise, wiener(y, kernel, snr=100.0))",
            ),
            Edit(
                "methods",
                "predict(models.wiener_denoise, wiener(y, kernel, snr=100.0))",
                "predict(models.wiener_denoise, y)",
            ),
        ),
        fails=frozenset(
            {
                "test_methods",
                "test_unet_hidden",
                "test_wiener_unet_hidden",
            }
        ),
        mistakes=(named.UNET_ON_WIENER, named.WIENER_UNET_ON_MEASUREMENT),
    ),
    Variant(
        "sigma_as_variance",
        "simulate treats σ as a variance: noise of standard deviation √σ (10× too much "
        "at σ = 0.01)",
        edits=(
            Edit(
                "simulate",
                _SOLUTION_SIMULATE,
                "return add_noise(blur(x, kernel), sigma**0.5, generator=generator)",
            ),
        ),
        fails=_SIMULATE,
        mistakes=(named.NOISE_SIGMA_AS_VARIANCE,),
    ),
)
"""Variant name -> :class:`~dlci_grader.samples.variants.Variant` for Task 3."""
