"""Task 3's typical mistakes (Wiener + U-Net) and the hint each visible test must give.

Every row edits the full solution the way students really get it wrong, names the visible test
that must fail, what its failure text must say (the mistake in words: noise before the blur, σ
squared, the conjugate missing, + SNR where + 1/SNR belongs, a network fed the wrong input, a sum
instead of a mean) and what must never appear in ``dlci check``'s output: the solution's code
(:data:`SOLUTION`), whichever row it is. The hints come from ``starter.deblur_checks``, which
diagnoses from the student's own outputs and never computes the right answer.
"""

from __future__ import annotations

from mistakes import Edit, Mistake, with_named

SOLUTION = (
    # simulate
    "add_noise(blur(x, kernel), sigma, generator=generator)",
    # wiener
    "otf = psf2otf(kernel, y.shape[-2:])",
    "otf.conj() / (otf.abs() ** 2 + 1.0 / snr)",
    "torch.fft.ifft2(torch.fft.fft2(y) *",
    # the methods
    "predict(models.deblur_denoise, y)",
    "predict(models.wiener_denoise, wiener(y, kernel, snr=100.0))",
    # psnr_table
    "psnr(method(y).float().cpu(), clean).item()",
    "simulate(clean, kernel, sigma, generator=generator)",
)
"""Fragments of the solution's code that no hint may show."""

_SIMULATE = "simulate"
_WIENER = "wiener"
_METHODS = "methods"
_TABLE = "psnr_table"
_SIM = "return add_noise(blur(x, kernel), sigma, generator=generator)"
_FILTER = "otf.conj() / (otf.abs() ** 2 + 1.0 / snr)"


def _row(
    name: str, description: str, edits: tuple[Edit, ...], test: str, *says: str,
    fails: tuple[str, ...],
) -> Mistake:
    return Mistake("task3", name, description, edits, test, says, SOLUTION, fails)


MISTAKES: list[Mistake] = [
    _row(
        "noise_before_blur",
        "simulate adds the noise to the scene, then blurs: the noise is blurred too",
        (Edit(_SIMULATE, _SIM, "return blur(add_noise(x, sigma, generator=generator), kernel)"),),
        "test_simulate",
        r"std 3\.\d+e-03 = σ·‖k‖₂",
        r"correlated",
        r"added before the blur",
        fails=("test_simulate",),
    ),
    _row(
        "sigma_squared",
        "simulate draws noise of standard deviation σ² (it squares σ, as for a variance)",
        (Edit(_SIMULATE, _SIM,
              "return add_noise(blur(x, kernel), sigma**2, generator=generator)"),),
        "test_simulate",
        r"std 1\.00e-04 = σ² instead of σ = 0\.01",
        r"do not square it",
        fails=("test_simulate",),
    ),
    _row(
        "sigma_as_variance",
        "simulate treats σ as a variance: noise of standard deviation √σ",
        (Edit(_SIMULATE, _SIM,
              "return add_noise(blur(x, kernel), sigma**0.5, generator=generator)"),),
        "test_simulate",
        r"= √σ instead of σ = 0\.01",
        r"used as a\s+variance",
        fails=("test_simulate",),
    ),
    _row(
        "noise_one_pattern",
        "simulate draws one (H, W) noise pattern and broadcasts it over images and channels",
        (Edit(_SIMULATE, _SIM,
              "return blur(x, kernel) + sigma * torch.randn(x.shape[-2:], generator=generator)"),),
        "test_simulate",
        r"same noise",
        r"full shape \(N, 3, H, W\)",
        fails=("test_simulate",),
    ),
    _row(
        "noise_ignores_generator",
        "simulate draws the noise from the global random state, not from the generator it gets",
        (Edit(_SIMULATE, _SIM, "return add_noise(blur(x, kernel), sigma)"),),
        "test_simulate",
        r"different measurements for generators with the same seed",
        r"draw the\s+noise from the generator",
        fails=("test_simulate",),
    ),
    _row(
        "wiener_conjugate_dropped",
        "wiener multiplies by H instead of conj(H)",
        (Edit(_WIENER, _FILTER, "otf / (otf.abs() ** 2 + 1.0 / snr)"),),
        "test_wiener",
        r"got \d+\.\d dB",
        r"complex conjugate of H is missing",
        r"flipped",
        fails=("test_wiener",),
    ),
    _row(
        "wiener_plus_snr",
        "wiener adds snr to |H|² where 1/snr belongs",
        (Edit(_WIENER, _FILTER, "otf.conj() / (otf.abs() ** 2 + snr)"),),
        "test_wiener",
        r"got 6\.\d dB",
        r"adds SNR to \|H\|² where 1/SNR belongs",
        fails=("test_wiener",),
    ),
    _row(
        "wiener_kernel_not_centred",
        "wiener takes the DFT of the zero-padded kernel instead of psf2otf (its centre not at the "
        "origin)",
        (Edit(_WIENER, "otf = psf2otf(kernel, y.shape[-2:])",
              "otf = torch.fft.fft2(kernel, s=y.shape[-2:])"),),
        "test_wiener",
        r"shifted by \(-3, -3\) pixels",
        r"centre must\s+sit at the origin",
        fails=("test_wiener",),
    ),
    _row(
        "method_wiener_snr_inverted",
        "method_wiener passes SNR 0.01 (the noise-to-signal ratio) instead of 100",
        (Edit(_METHODS, "return wiener(y, kernel, snr=100.0)",
              "return wiener(y, kernel, snr=0.01)"),),
        "test_methods",
        r"method_wiener scales the image's mean by 0\.0099",
        r"SNR\s+≈ 0\.01",
        fails=("test_methods",),
    ),
    _row(
        "wiener_unet_fed_measurement",
        "method_wiener_unet feeds the raw measurement to models.wiener_denoise",
        (Edit(_METHODS, "predict(models.wiener_denoise, wiener(y, kernel, snr=100.0))",
              "predict(models.wiener_denoise, y)"),),
        "test_methods",
        r"method_wiener_unet's output is models\.wiener_denoise applied to the raw measurement",
        r"apply your wiener \(SNR 100\) first",
        fails=("test_methods",),
    ),
    _row(
        "unet_fed_wiener_output",
        "method_unet feeds Wiener's output to models.deblur_denoise",
        (Edit(_METHODS, "predict(models.deblur_denoise, y)",
              "predict(models.deblur_denoise, wiener(y, kernel, snr=100.0))"),),
        "test_methods",
        r"method_unet's output is models\.deblur_denoise applied to Wiener's output",
        r"trained on\s+the blurred, noisy measurement",
        fails=("test_methods",),
    ),
    _row(
        "table_sums_images",
        "psnr_table sums the per-image PSNRs instead of averaging them",
        (Edit(_TABLE, "psnr(method(y).float().cpu(), clean).item()",
              "psnr(method(y).float().cpu(), clean, reduction=\"none\").sum().item()"),),
        "test_table",
        r"it looks like their sum",
        r"mean over the images",
        fails=("test_table",),
    ),
    _row(
        "table_ignores_seed",
        "psnr_table's generator is never seeded with seed (the same noise whatever the seed)",
        (Edit(_TABLE, "generator = torch.Generator().manual_seed(seed)",
              "generator = torch.Generator()"),),
        "test_table",
        r"same table for seeds 0 and 1",
        r"generator\s+seeded with seed",
        fails=("test_table",),
    ),
]
"""Task 3's catalogue: 13 rows, each a visible test that names the mistake."""

MISTAKES = with_named(MISTAKES, {
    "noise_before_blur": ("noise.before_blur",),
    "sigma_squared": ("noise.sigma_squared",),
    "sigma_as_variance": ("noise.sigma_as_variance",),
    "noise_one_pattern": ("noise.broadcast",),
    "wiener_unet_fed_measurement": ("methods.wiener_unet_on_measurement",),
    "unet_fed_wiener_output": ("methods.unet_on_wiener",),
})
"""Each row with the ids of the named mistakes (:mod:`starter.mistakes`) its hint names."""
