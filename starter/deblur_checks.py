"""Checks for Task 3's visible tests: ``simulate``, ``wiener``, the methods and ``psnr_table``.

Each ``check_*`` function runs your code on a test image, checks what must hold, and raises
``AssertionError`` with a message that names the likely mistake (noise added before the blur,
σ squared, the complex conjugate missing, the kernel not centred, a network fed the wrong
input, ...). The diagnoses come from properties of your own functions' outputs (their mean,
a shift, what they do with a flipped kernel), never from a reference answer.

Example:
    >>> from starter.deblur_checks import check_wiener
    >>> check_wiener(wiener, clean[:1], kernel)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from starter import mistakes as named
from starter.imaging import blur
from starter.metrics import psnr

Method = Callable[[torch.Tensor], torch.Tensor]


def _lag_correlation(noise: torch.Tensor) -> float:
    """Mean correlation of horizontally and vertically adjacent values (white noise: about 0)."""
    c = noise - noise.mean()
    var = c.pow(2).mean()
    h = (c[..., :, 1:] * c[..., :, :-1]).mean() / var
    v = (c[..., 1:, :] * c[..., :-1, :]).mean() / var
    return float((h + v) / 2)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm() + 1e-30))


def _near(value: float, target: float, rel: float = 0.1) -> bool:
    return abs(value - target) <= rel * abs(target)


def diagnose_noise(x: torch.Tensor, y: torch.Tensor, kernel: torch.Tensor, sigma: float) -> str:
    """What is wrong with a measurement ``y`` of the clean ``x`` (``""``: nothing seen).

    Expected: ``y - blur(x, kernel)`` is white Gaussian noise of standard deviation ``sigma``,
    zero mean, independent from pixel to pixel, channel to channel and image to image.
    """
    noise = (y - blur(x, kernel)).double()
    std, mean = noise.std().item(), noise.mean().item()
    knorm = kernel.double().norm().item()
    if std < 1e-3 * sigma:
        return "no noise was added: y equals blur(x, kernel)"
    if _correlation(noise, (x - blur(x, kernel)).double()) > 0.5:
        return ("y - blur(x, kernel) looks like the image's edges, not noise: the image was not "
                "blurred (or blurred differently), so the measurement lacks the blur")
    if abs(mean) > 0.2 * sigma:
        return (f"the noise has mean {mean:.2e}, not 0 (std {std:.2e}): zero-mean Gaussian noise "
                f"was expected (uniform noise in [0, 1), as torch.rand draws, has mean 1/2)")
    lag = _lag_correlation(noise)
    if lag > 0.2 and _near(std / sigma, knorm, 0.25):
        return (f"the noise has std {std:.2e} = σ·‖k‖₂ ({sigma}·{knorm:.2f}) and neighbouring "
                f"noise values are correlated ({lag:.2f}): {named.NOISE_BEFORE_BLUR.says}")
    if _near(std, sigma**2, 0.2):
        return (f"the noise has std {std:.2e} = σ² instead of σ = {sigma}: "
                f"{named.NOISE_SIGMA_SQUARED.says}")
    if _near(std, sigma**0.5, 0.2):
        return (f"the noise has std {std:.2e} = √σ instead of σ = {sigma}: "
                f"{named.NOISE_SIGMA_AS_VARIANCE.says}")
    if not _near(std, sigma, 0.05):
        return f"the noise has std {std:.2e}, expected σ = {sigma} (σ is the standard deviation)"
    if noise.ndim >= 3 and noise.shape[-3] > 1:
        across = _correlation(noise[..., 0, :, :], noise[..., 1, :, :])
        if across > 0.5:
            return (f"the first two colour channels got the same noise (correlation {across:.2f}): "
                    f"{named.NOISE_BROADCAST.says} (N, 3, H, W)")
    if lag > 0.1:
        return (f"neighbouring noise values are correlated ({lag:.2f}); white noise added after "
                f"the blur has none")
    return ""


def check_simulate(
    simulate: Callable[..., torch.Tensor],
    x: torch.Tensor,
    kernel: torch.Tensor,
    sigma: float = 0.01,
    seed: int = 0,
) -> None:
    """Check ``simulate(x, kernel, sigma, generator=...)``: shape, noise statistics,
    reproducibility.

    Args:
        simulate: your function.
        x: clean images ``(N, 3, H, W)`` in [0, 1] (one image is enough).
        kernel: the ``(kh, kw)`` blur.
        sigma: the noise standard deviation to ask for.
        seed: seeds the ``torch.Generator`` handed to ``simulate``.
    """
    y = simulate(x, kernel, sigma, generator=torch.Generator().manual_seed(seed))
    assert isinstance(y, torch.Tensor), f"simulate returned {type(y).__name__}, expected a tensor"
    assert y.shape == x.shape, (
        f"simulate returned shape {tuple(y.shape)}, expected {tuple(x.shape)}"
    )
    problem = diagnose_noise(x, y, kernel, sigma)
    assert not problem, f"simulate: {problem}"
    again = simulate(x, kernel, sigma, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(y, again), (
        "simulate gave two different measurements for generators with the same seed: draw the "
        "noise from the generator it is given (add_noise(..., generator=generator)), not from "
        "the global random state"
    )
    other = simulate(x, kernel, sigma, generator=torch.Generator().manual_seed(seed + 1))
    assert not torch.equal(y, other), (
        "simulate gave the same measurement for generators with different seeds: the noise must "
        "come from the generator it is given"
    )


def _dc_gain(out: torch.Tensor, y: torch.Tensor) -> float:
    """Ratio of the output's mean to the input's: a filter's gain at frequency 0."""
    return float(out.double().mean() / y.double().mean())


def _shift(out: torch.Tensor, x: torch.Tensor) -> tuple[int, int]:
    """The circular shift (rows, columns) that best aligns ``x`` with ``out``
    (cross-correlation)."""
    a, b = out.double() - out.double().mean(), x.double() - x.double().mean()
    corr = torch.fft.ifft2(torch.fft.fft2(a) * torch.fft.fft2(b).conj()).real
    corr = corr.reshape(-1, *corr.shape[-2:]).sum(0)
    h, w = corr.shape
    i = int(corr.argmax())
    dy, dx = divmod(i, w)
    return (dy - h if dy > h // 2 else dy, dx - w if dx > w // 2 else dx)


def diagnose_wiener(
    wiener: Callable[..., torch.Tensor], x: torch.Tensor, kernel: torch.Tensor,
) -> str:
    """Why ``wiener`` does not undo the noise-free blur of ``x`` at a huge SNR (``""``: it does)."""
    y = blur(x, kernel)
    out = wiener(y, kernel, snr=1e6)
    if psnr(out, x).item() > 60:
        return ""
    snr = 100.0
    gain = _dc_gain(wiener(y, kernel, snr=snr), y)  # the kernel sums to 1: H(0) = 1
    if _near(gain, 1 / (1 + snr), 0.05):
        return (f"at SNR {snr:g} your filter scales the image's mean by {gain:.4f} ≈ 1/(1 + SNR): "
                f"it adds SNR to |H|² where 1/SNR belongs (SNR is the signal-to-noise power ratio; "
                f"the regularising term is the noise-to-signal ratio 1/SNR)")
    if not 0.5 < gain < 2:
        return (f"at SNR {snr:g} your filter scales the image's mean by {gain:.3g}; Wiener's gain "
                f"at frequency 0 is 1/(1 + 1/SNR) ≈ 0.99 for a kernel that sums to 1")
    flipped = wiener(y, torch.flip(kernel, dims=(-2, -1)), snr=1e6)
    if psnr(flipped, x).item() > 50:
        return ("your filter undoes the blur when given the kernel flipped (rotated by 180°), not "
                "the kernel itself: the complex conjugate of H is missing in the numerator (for a "
                "real kernel, conj(H) is the OTF of the flipped kernel), so the blur's phase "
                "doubles instead of cancelling")
    dy, dx = _shift(out, x)
    if (dy, dx) != (0, 0) and psnr(out, torch.roll(x, (dy, dx), dims=(-2, -1))).item() > 40:
        return (f"your output is the image shifted by ({dy}, {dx}) pixels: the kernel's centre "
                f"must sit at the origin of its transfer function; psf2otf(kernel, (H, W)) pads "
                f"and shifts it so (the DFT of the zero-padded kernel alone does not)")
    return ("it does not undo the blur: check that the filter divides conj(H)·Y by |H|² + 1/SNR "
            "with H = psf2otf(kernel, (H, W)), and that the result is the real part of ifft2")


def check_wiener(wiener: Callable[..., torch.Tensor], x: torch.Tensor, kernel: torch.Tensor,
                 sigma: float = 0.01, seed: int = 0) -> tuple[float, float, float]:
    """Check ``wiener(y, kernel, snr)``: real output of ``y``'s shape, undoes the blur without
    noise, damps the noise with it.

    Returns:
        ``(PSNR without noise at SNR 1e6, PSNR of the noisy measurement, PSNR of its Wiener
        estimate at SNR 100)`` in dB.
    """
    y = blur(x, kernel) + sigma * torch.randn(
        x.shape, generator=torch.Generator().manual_seed(seed),
    )
    out = wiener(y, kernel, snr=100.0)
    assert isinstance(out, torch.Tensor), f"wiener returned {type(out).__name__}, expected a tensor"
    assert not out.is_complex(), (
        "wiener returned a complex tensor: the estimate is the real part of the inverse FFT"
    )
    assert out.shape == y.shape, (
        f"wiener returned shape {tuple(out.shape)}, expected {tuple(y.shape)}"
    )
    sharp = psnr(wiener(blur(x, kernel), kernel, snr=1e6), x).item()
    problem = diagnose_wiener(wiener, x, kernel)
    assert not problem, (
        f"without noise, Wiener with SNR 1e6 should undo the blur (PSNR > 60 dB), got "
        f"{sharp:.1f} dB: {problem}"
    )
    measured, restored = psnr(y, x).item(), psnr(out, x).item()
    unregularised = psnr(wiener(y, kernel, snr=1e8), x).item()
    assert restored > unregularised + 3, (
        f"at σ = {sigma}, your Wiener estimate with SNR 100 ({restored:.2f} dB) is no better than "
        f"with SNR 1e8 ({unregularised:.2f} dB), which is almost the plain inverse filter and "
        f"amplifies the noise: the term 1/SNR in the denominator, which damps the frequencies "
        f"the blur erased, is missing or has no effect"
    )
    return sharp, measured, restored


def _matches(out: torch.Tensor, candidate: torch.Tensor, atol: float = 1e-3) -> bool:
    return out.shape == candidate.shape and float((out - candidate).abs().max()) < atol


def _net(model: torch.nn.Module, inp: torch.Tensor) -> torch.Tensor:
    """``model`` of ``inp`` on the model's own device, back on the CPU in float32."""
    device = next(model.parameters()).device
    return model(inp.to(device)).float().cpu()


@torch.no_grad()
def diagnose_method(
    role: str,
    out: torch.Tensor,
    y: torch.Tensor,
    kernel: torch.Tensor,
    models: Any,
    wiener: Callable[..., torch.Tensor],
) -> str:
    """Which wrong input or network the output ``out`` of the method for ``role`` (``"wiener"``,
    ``"unet"`` or ``"wiener_unet"``) matches (``""``: none).

    Compares ``out`` with typical wrong answers built from the measurement ``y``, your ``wiener``
    and the pretrained ``models``: the other network, or the right network on the other input.
    """
    out = out.detach().float().cpu()
    w = wiener(y, kernel, snr=100.0).float()
    name = f"method_{role}"
    if _matches(out, y):
        return f"{name}'s output is {named.METHOD_UNCHANGED.says}"
    if role == "wiener":
        gain = _dc_gain(out, y)
        if abs(gain - 100 / 101) > 0.002:
            eps = 1 / gain - 1
            return (f"method_wiener scales the image's mean by {gain:.4f}, as Wiener with SNR "
                    f"≈ {1 / eps if eps > 0 else float('inf'):.3g} would; it should be your wiener "
                    f"with SNR 100 (a power ratio, not its inverse and not in dB), and wiener must "
                    f"pass its own test first")
        return ""
    inputs = {"measurement": y, "wiener": w}
    if role == "wiener_unet" and _matches(out, w):
        return f"{name}'s output is {named.WIENER_UNET_NO_NETWORK.says}"
    for mistake, (network, given) in named.WRONG_NETWORK_OR_INPUT.get(role, {}).items():
        if _matches(out, _net(getattr(models, network), inputs[given])):
            return f"{name}'s output is {mistake.says}"
    return ""


@torch.no_grad()
def _on_your_wiener(
    role: str, out: torch.Tensor, y: torch.Tensor, kernel: torch.Tensor, models: Any,
    wiener: Callable[..., torch.Tensor],
) -> bool:
    """Whether the method for ``role`` gave what its composition gives on your own ``wiener``
    (SNR 100): Wiener's output, or ``models.wiener_denoise`` of it. Then a poor result is the
    filter's mistake, not the method's."""
    if role not in ("wiener", "wiener_unet"):
        return False
    w = wiener(y, kernel, snr=100.0).float()
    if _matches(w, y):  # a "filter" that does nothing: the method's test says so itself
        return False
    return _matches(out, w if role == "wiener" else _net(models.wiener_denoise, w))


def check_methods(
    methods: Mapping[str, Method],
    x: torch.Tensor,
    kernel: torch.Tensor,
    models: Any,
    wiener: Callable[..., torch.Tensor],
    sigma: float = 0.005,
    seed: int = 1,
    min_gain_db: float = 1.0,
) -> dict[str, float]:
    """Check each method on a measurement of ``x``: shape, input and network, and a PSNR gain.

    A method that gains too little but is composed right on your own ``wiener`` passes with a
    note: the filter is wrong, and its own test charges that, once.

    Returns:
        ``{name: PSNR gain in dB over the measurement}``; prints one line per method.
    """
    y = blur(x, kernel) + sigma * torch.randn(
        x.shape, generator=torch.Generator().manual_seed(seed),
    )
    base = psnr(y, x).item()
    gains = {}
    for name, method in methods.items():
        out = method(y.clone())
        assert isinstance(
            out, torch.Tensor,
        ), f"{name} returned {type(out).__name__}, expected a tensor"
        assert out.shape == y.shape, (
            f"{name} returned shape {tuple(out.shape)}, expected {tuple(y.shape)}"
        )
        out = out.detach().float().cpu()
        gains[name] = psnr(out, x).item() - base
        print(f"{name:12s} {base:.2f} dB (measurement) -> {base + gains[name]:.2f} dB")
        if gains[name] <= min_gain_db and _on_your_wiener(name, out, y, kernel, models, wiener):
            print(f"note: {name} is composed right on your wiener, but gains only "
                  f"{gains[name]:.2f} dB: wiener is wrong (test_wiener says how), and that "
                  "costs test_wiener's points, not this test's")
            continue
        problem = diagnose_method(name, out, y, kernel, models, wiener)
        assert not problem, f"{problem} (it gains {gains[name]:.2f} dB over the measurement)"
        assert gains[name] > min_gain_db, (
            f"{name} gains only {gains[name]:.2f} dB over the measurement; expected more than "
            f"{min_gain_db} dB"
        )
    return gains


def check_psnr_table(
    psnr_table: Callable[..., Mapping[str, Mapping[float, float]]],
    x: torch.Tensor,
    kernel: torch.Tensor,
    sigma: float = 0.005,
    simulate: Callable[..., torch.Tensor] | None = None,
) -> None:
    """Check ``psnr_table`` on two images with the measurement itself as the only method: each
    noise level is simulated with its own σ, the entry for two images is the mean of the entries
    for each alone, and the seed fixes the noise.

    Args:
        x: at least two clean images ``(N, 3, H, W)``; the first two are used (one is repeated
            when there is only one).
        simulate: the ``simulate`` that ``psnr_table`` calls, when given: if it does not follow
            its generator, ``psnr_table`` cannot follow its seed, and that is ``simulate``'s
            mistake (its own test fails), so the seed is not checked here.
    """
    pair = x[:2] if len(x) >= 2 else torch.cat([x[:1], x[:1].flip(-1)])
    same = {"measurement": lambda y: y}

    def entry(images: torch.Tensor, seed: int) -> float:
        table = psnr_table(same, images, kernel, (sigma,), seed=seed)
        assert isinstance(table, Mapping) and "measurement" in table, (
            f"psnr_table must return {{method name: {{sigma: PSNR}}}}, got {table!r:.200}"
        )
        value = table["measurement"][sigma]
        return float(value.item() if hasattr(value, "item") else value)

    levels = psnr_table(same, pair, kernel, (sigma, 10 * sigma), seed=0)["measurement"]
    low, high = (float(levels[s]) for s in (sigma, 10 * sigma))
    assert low > high, (
        f"psnr_table gives the measurement {low:.2f} dB at σ = {sigma:g} and {high:.2f} dB at "
        f"σ = {10 * sigma:g}: the measurements of each noise level must be simulated with that σ"
    )
    both, first, second = entry(pair, 0), entry(pair[:1], 0), entry(pair[1:], 0)
    mean = (first + second) / 2
    if abs(both - (first + second)) < 0.1:
        looks = "their sum"
    elif abs(both - first) < 0.01 or abs(both - second) < 0.01:
        looks = "one image's PSNR only"
    else:
        looks = "the PSNR of the images' pooled squared error"
    assert abs(both - mean) < 0.05, (
        f"psnr_table on two images gives {both:.2f} dB, but the two images alone give {first:.2f} "
        f"and {second:.2f} dB (mean {mean:.2f}); it looks like {looks}. The entry must be the "
        f"mean over the images of each image's PSNR, as psnr(estimate, clean) computes it"
    )
    if simulate is not None and not _follows_generator(simulate, pair, kernel, sigma):
        print("note: psnr_table's seed is not checked: simulate does not draw its noise from the "
              "generator it gets (test_simulate says how), so no table can follow its seed")
        return
    assert entry(pair, 0) == both, (
        "psnr_table(..., seed=0) gave a different table when called again: seed one "
        "torch.Generator with seed and draw all the noise from it"
    )
    assert entry(pair, 1) != both, (
        "psnr_table gave the same table for seeds 0 and 1: the noise must come from a generator "
        "seeded with seed"
    )


def _follows_generator(
    simulate: Callable[..., torch.Tensor], x: torch.Tensor, kernel: torch.Tensor, sigma: float,
) -> bool:
    """Whether ``simulate`` gives the same measurements for two generators of the same seed."""
    try:
        with torch.no_grad():
            first, again = (simulate(x, kernel, sigma, generator=torch.Generator().manual_seed(0))
                            for _ in range(2))
    except Exception:  # noqa: BLE001 - its own test says why; psnr_table's seed is checked
        return True
    return isinstance(first, torch.Tensor) and isinstance(again, torch.Tensor) and (
        first.shape == again.shape and bool(torch.equal(first, again))
    )


def check_table(table: Mapping[str, Mapping[float, float]], names: Sequence[str],
                sigmas: Sequence[float]) -> None:
    """Check a PSNR table's layout: every method, every noise level, finite PSNRs.

    Not their values: a row is what its method gives (a wrong method, e.g. a Wiener filter that
    barely restores anything, makes a flat row), and each method has its own tests."""
    assert set(table) == set(names), f"table keys {sorted(table)}, expected {sorted(names)}"
    for name, row in table.items():
        missing = [s for s in sigmas if s not in row]
        assert not missing, f"{name}: no entry for σ = {missing}"
        values = [float(row[s]) for s in sigmas]
        assert all(math.isfinite(v) for v in values), f"{name}: non-finite PSNR {values}"
