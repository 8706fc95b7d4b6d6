"""Hidden-test checks of Task 3 (Wiener + U-Net): pure functions of arrays and numbers.

The hidden test cells build the inputs (images the student's code has never seen, seeds
the student does not know), run the student's functions and the reference ones from
``starter``, and hand both results to these functions, which raise ``AssertionError``
with a message that says what is wrong.

Tolerances (see ``tests/test_task3_checks.py`` for the numbers they rest on):

- noise statistics: on a 3x320x480 measurement the sample std of the noise is within 0.3 %
  of σ (1/sqrt(2n)); :data:`NOISE_STD_RTOL` = 3 % is ten standard errors. Noise added
  *before* the blur has std σ·‖k‖₂ ≈ 0.37σ and lag-one correlation ≈ 0.3; σ used as a
  variance gives std √σ ≥ 10σ for σ ≤ 0.01. Both fail by far.
- method outputs: float32 FFTs and convolutions agree to ~1e-6; :data:`OUTPUT_ATOL` = 1e-3.
- PSNR table: with the shipped networks, the mean over the notebook's six test images
  changes with the noise draw by at most 0.006 dB (std over 5 seeds; range 0.015 dB), the
  mean over the hidden test's three 160x240 crops by at most 0.02 dB (std over 8 seeds;
  range 0.064 dB); :data:`TABLE_TOL_DB` = 0.15 dB. The wrong pipelines (noise before the
  blur, swapped network inputs, σ as a variance) are off by 1 dB or more.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

NOISE_STD_RTOL = 0.03
"""Relative tolerance on the standard deviation of the simulated noise."""

NOISE_MAX_LAG_CORRELATION = 0.05
"""Largest |correlation| of horizontally or vertically adjacent noise values (white noise: 0)."""

OUTPUT_ATOL = 1e-3
"""Largest absolute difference of a method's output from the reference (images in [0, 1])."""

TABLE_TOL_DB = 0.15
"""Largest difference (dB) of a table entry from the reference computed with other noise."""

METHODS = ("wiener", "unet", "wiener_unet")
"""Keys of the PSNR table, one per method."""


def _array(x: object, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()  # a torch tensor
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise AssertionError(f"{name} contains NaN or inf")
    return a


def check_noise(blurred: object, measured: object, sigma: float) -> float:
    """Check ``measured = blurred + σ n`` with white standard-normal ``n``, added after the blur.

    Args:
        blurred: the reference blur of the clean image, ``(..., H, W)``.
        measured: the student's simulated measurement of the same clean image, same shape.
        sigma: the noise standard deviation asked for (> 0).

    Returns:
        the measured noise standard deviation.
    """
    b, y = _array(blurred, "the blurred image"), _array(measured, "the measurement")
    if b.shape != y.shape:
        raise AssertionError(f"the measurement has shape {y.shape}, expected {b.shape}")
    r = y - b
    n = r.size
    mean, std = r.mean(), r.std()
    if abs(std / sigma - 1) > NOISE_STD_RTOL:
        hint = ""
        if abs(std / np.sqrt(sigma) - 1) < 0.1:
            hint = " (it looks like σ was used as a variance, not a standard deviation)"
        elif std < 0.6 * sigma:
            hint = " (too little: was the noise blurred, i.e. added before the blur?)"
        raise AssertionError(f"the noise has std {std:.5f}, expected σ = {sigma}{hint}")
    if abs(mean) > 6 * sigma / np.sqrt(n):
        raise AssertionError(f"the noise has mean {mean:.2e}; zero-mean noise was expected")
    centred = r - mean
    for axis, label in ((-1, "horizontally"), (-2, "vertically")):
        a = np.moveaxis(centred, axis, -1)
        rho = (a[..., 1:] * a[..., :-1]).mean() / centred.var()
        if abs(rho) > NOISE_MAX_LAG_CORRELATION:
            raise AssertionError(
                f"noise values {label} adjacent are correlated ({rho:.2f}); white noise added "
                f"after the blur has none (noise added before the blur is blurred with the image)"
            )
    return float(std)


def check_output(name: str, student: object, reference: object, atol: float = OUTPUT_ATOL) -> float:
    """Check a method's output against the reference output on the same measurement.

    Returns:
        the largest absolute difference.
    """
    s, r = _array(student, f"the output of {name}"), _array(reference, "the reference")
    if s.shape != r.shape:
        raise AssertionError(f"{name} returned shape {s.shape}, expected {r.shape}")
    err = float(np.abs(s - r).max())
    if err > atol:
        raise AssertionError(
            f"{name} differs from the reference by up to {err:.3g} (tolerance {atol}); "
            f"check what it is applied to and that it uses only the measurement it is given"
        )
    return err


def check_table_column(
    method: str,
    student: Mapping[float, float],
    reference: Mapping[float, float],
    tol_db: float = TABLE_TOL_DB,
) -> None:
    """Check one method's PSNRs ``{σ: dB}`` against the reference computed with other noise."""
    if not isinstance(student, Mapping):
        raise AssertionError(
            f"table[{method!r}] must be a dict {{sigma: PSNR}}, got {type(student).__name__}"
        )
    for sigma, ref in reference.items():
        match = [v for k, v in student.items() if np.isclose(float(k), sigma)]
        if not match:
            raise AssertionError(f"table[{method!r}] has no entry for sigma = {sigma}")
        value = float(np.asarray(_array(match[0], f"table[{method!r}][{sigma}]")))
        if abs(value - ref) > tol_db:
            raise AssertionError(
                f"table[{method!r}][{sigma}] = {value:.2f} dB, but the method gives "
                f"{ref:.2f} dB on these images (tolerance {tol_db} dB)"
            )


def check_table_function(
    student: Mapping[str, Mapping[float, float]],
    reference: Mapping[str, Mapping[float, float]],
    tol_db: float = TABLE_TOL_DB,
) -> None:
    """Check a whole table (every method of ``reference``), e.g. on the grader's own images."""
    if not isinstance(student, Mapping):
        raise AssertionError(f"the table must be a dict, got {type(student).__name__}")
    for method, column in reference.items():
        if method not in student:
            raise AssertionError(f"the table has no method {method!r} (keys: {list(student)})")
        check_table_column(method, student[method], column, tol_db)
