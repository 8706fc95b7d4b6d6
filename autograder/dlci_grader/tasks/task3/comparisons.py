"""Task 3's checks of an answer against the reference: pure functions of arrays and numbers.

Each check compares what a student's function returned with what the grader's reference
computed (:mod:`dlci_grader.tasks.task3.reference`) and raises ``AssertionError`` with a message
that says what is wrong: where an answer matches a typical wrong one (noise added before the
blur, a table entry summed instead of averaged, ...), the message names that mistake in words.
The hidden tests that draw the inputs, run the reference and call these checks are
:mod:`dlci_grader.tasks.task3.checks`.

Tolerances (see ``tests/test_task3_checks.py`` for the numbers they rest on):

- noise statistics: on a 3x320x480 measurement the sample std of the noise is within 0.3 %
  of σ (1/sqrt(2n)); :data:`NOISE_STD_RTOL` = 3 % is ten standard errors. Noise added
  *before* the blur has std σ·‖k‖₂ ≈ 0.37σ and lag-one correlation ≈ 0.3; σ used as a
  variance gives std √σ ≥ 10σ for σ ≤ 0.01. Both fail by far.
- method outputs: float32 FFTs and convolutions agree to ~1e-6; :data:`OUTPUT_ATOL` = 1e-3.
- PSNR table: with the shipped networks, the mean over the notebook's test images
  changes with the noise draw by at most 0.006 dB (std over 5 seeds; range 0.015 dB), the
  mean over the hidden test's three 160x240 crops by at most 0.02 dB (std over 8 seeds;
  range 0.064 dB); :data:`TABLE_TOL_DB` = 0.15 dB. The wrong pipelines (noise before the
  blur, swapped network inputs, σ as a variance) are off by 1 dB or more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from starter import mistakes as named
from starter.mistakes import Mistake, WrongAnswer

NOISE_STD_RTOL = 0.03
"""Relative tolerance on the standard deviation of the simulated noise."""

NOISE_MAX_LAG_CORRELATION = 0.05
"""Largest |correlation| of horizontally or vertically adjacent noise values (white noise: 0)."""

OUTPUT_ATOL = 1e-3
"""Largest absolute difference of a method's output from the reference (images in [0, 1])."""

TABLE_TOL_DB = 0.15
"""Largest difference (dB) of a table entry from the reference computed with other noise."""


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
        hint: Mistake | None = None
        if std < 1e-3 * sigma:
            hint = named.NOISE_MISSING
        elif abs(std / np.sqrt(sigma) - 1) < 0.1:
            hint = named.NOISE_SIGMA_AS_VARIANCE
        elif abs(std / sigma**2 - 1) < 0.1:
            hint = named.NOISE_SIGMA_SQUARED
        elif std < 0.6 * sigma:
            hint = named.NOISE_BEFORE_BLUR
        raise WrongAnswer(
            f"the noise has std {std:.5f}, expected σ = {sigma}"
            + (f" ({hint.says})" if hint else ""), named_in(hint),
        )
    if abs(mean) > 6 * sigma / np.sqrt(n):
        raise AssertionError(f"the noise has mean {mean:.2e}; zero-mean noise was expected")
    centred = r - mean
    for axis, label in ((-1, "horizontally"), (-2, "vertically")):
        a = np.moveaxis(centred, axis, -1)
        rho = (a[..., 1:] * a[..., :-1]).mean() / centred.var()
        if abs(rho) > NOISE_MAX_LAG_CORRELATION:
            raise WrongAnswer(
                f"noise values {label} adjacent are correlated ({rho:.2f}); white noise added "
                f"after the blur has none: {named.NOISE_BEFORE_BLUR.says}",
                [named.NOISE_BEFORE_BLUR],
            )
    axes = [(-3, "colour channels")] if centred.ndim >= 3 else []
    axes += [(0, "images")] if centred.ndim >= 4 else []
    for axis, label in axes:
        if centred.shape[axis] > 1:
            a = np.moveaxis(centred, axis, 0)
            rho = (a[1:] * a[:-1]).mean() / centred.var()
            if abs(rho) > NOISE_MAX_LAG_CORRELATION:
                raise WrongAnswer(
                    f"the noise of different {label} is correlated ({rho:.2f}): "
                    f"{named.NOISE_BROADCAST.says}", [named.NOISE_BROADCAST],
                )
    return float(std)


Wrong = str | Mistake
"""A typical wrong answer: a named mistake (:mod:`starter.mistakes`), or words only."""


def words(wrong: Wrong) -> str:
    """What a typical wrong answer is, in words."""
    return wrong.says if isinstance(wrong, Mistake) else wrong


def named_in(*wrong: Wrong | None) -> list[Mistake]:
    """The named mistakes among ``wrong`` (for :class:`~starter.mistakes.WrongAnswer`)."""
    return [w for w in wrong if isinstance(w, Mistake)]


def _matching(
    s: np.ndarray, candidates: Mapping[Wrong, Callable[[], object]], atol: float
) -> Wrong | None:
    """The first candidate wrong answer within ``atol`` of ``s`` (None: none)."""
    for wrong, make in candidates.items():
        c = np.asarray(_to_numpy(make()), dtype=np.float64)
        if c.shape == s.shape and float(np.abs(s - c).max()) <= atol:
            return wrong
    return None


def _to_numpy(x: object) -> object:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x

def check_output(
    name: str,
    student: object,
    reference: object,
    atol: float = OUTPUT_ATOL,
    candidates: Mapping[Wrong, Callable[[], object]] | None = None,
) -> float:
    """Check a method's output against the reference output on the same measurement.

    Args:
        candidates: description -> a function computing a typical wrong answer; when the
            output is wrong and matches one, the message names that mistake.

    Returns:
        the largest absolute difference.
    """
    # numpy's stub asks for ArrayLike; iscomplexobj takes any object
    if np.iscomplexobj(_to_numpy(student)):  # type: ignore[arg-type]
        raise AssertionError(f"{name} returned a complex array; the estimate is the real part")
    s, r = _array(student, f"the output of {name}"), _array(reference, "the reference")
    if s.shape != r.shape:
        raise AssertionError(f"{name} returned shape {s.shape}, expected {r.shape}")
    err = float(np.abs(s - r).max())
    if err > atol:
        mistake = _matching(s, candidates or {}, atol)
        raise WrongAnswer(
            f"{name} differs from the reference by up to {err:.3g} (tolerance {atol}); "
            + (f"it matches {words(mistake)}" if mistake is not None else
               "check what it is applied to and that it uses only the measurement it is given"),
            named_in(mistake),
        )
    return err


def check_table_column(
    method: str,
    student: Mapping[float, float],
    reference: Mapping[float, float],
    tol_db: float = TABLE_TOL_DB,
    wrong: Mapping[float, Mapping[Wrong, float]] | None = None,
) -> None:
    """Check one method's PSNRs ``{σ: dB}`` against the reference computed with other noise.

    Args:
        wrong: per σ, description -> the value a typical mistake gives (e.g. the sum of the
            per-image PSNRs); a wrong entry that matches one is named in the message.
    """
    if not isinstance(student, Mapping):
        raise AssertionError(
            f"table[{method!r}] must be a dict {{sigma: PSNR}}, got {type(student).__name__}"
        )
    values = {}
    for sigma in reference:
        match = [v for k, v in student.items() if np.isclose(float(k), sigma)]
        if not match:
            raise AssertionError(f"table[{method!r}] has no entry for sigma = {sigma}")
        values[sigma] = float(np.asarray(_array(match[0], f"table[{method!r}][{sigma}]")))
    for sigma, ref in reference.items():
        value = values[sigma]
        if abs(value - ref) > tol_db:
            matches = _column_matches(values, wrong or {}, tol_db)
            raise WrongAnswer(
                f"table[{method!r}][{sigma}] = {value:.2f} dB, but the method gives "
                f"{ref:.2f} dB on these images (tolerance {tol_db} dB)"
                + (f"; it matches {words(matches[0])}" if matches else ""),
                named_in(*matches[:1]),
            )


def _column_matches(
    values: Mapping[float, float], wrong: Mapping[float, Mapping[Wrong, float]], tol_db: float,
) -> list[Wrong]:
    """The typical mistakes whose value every entry of the column matches: one entry near a
    mistake's value is chance (the first image's PSNR lies among the others), a whole column is
    not (a mistake in the table function shows at every noise level)."""
    if not wrong or set(values) - set(wrong):
        return []
    first = next(iter(values))
    return [
        d for d in wrong[first]
        if all(d in wrong[s] and abs(v - wrong[s][d]) <= tol_db for s, v in values.items())
    ]


def check_table_function(
    student: Mapping[str, Mapping[float, float]],
    reference: Mapping[str, Mapping[float, float]],
    tol_db: float = TABLE_TOL_DB,
    wrong: Mapping[str, Mapping[float, Mapping[Wrong, float]]] | None = None,
) -> None:
    """Check a whole table (every method of ``reference``), e.g. on the grader's own images;
    ``wrong``: per method, as :func:`check_table_column` takes it."""
    if not isinstance(student, Mapping):
        raise AssertionError(f"the table must be a dict, got {type(student).__name__}")
    for method, column in reference.items():
        if method not in student:
            raise AssertionError(f"the table has no method {method!r} (keys: {list(student)})")
        check_table_column(method, student[method], column, tol_db, (wrong or {}).get(method))


def wrong_table_entries(per_image: Sequence[float]) -> dict[Wrong, float]:
    """What typical mistakes make of one table entry, from the per-image PSNRs (dB) it averages:
    the mistake -> value."""
    each = np.asarray(per_image, dtype=np.float64)
    pooled = -10 * np.log10(np.mean(10 ** (-each / 10)))  # PSNR of the mean squared error
    return {
        named.TABLE_SUM: float(each.sum()),
        named.TABLE_FIRST_IMAGE: float(each[0]),
        named.TABLE_POOLED: float(pooled),
    }
