"""Hidden-test checks of Task 3 (Wiener + U-Net): the inputs drawn and the answers judged.

The grader builds the inputs (images made from test images the kernel's data lacks,
:func:`kernel_data`; seeds the student does not know), the
test cells run the student's functions on them (:mod:`dlci_grader.kernel.task3`), and
:data:`JUDGED` compares what came back with the grader's own reference computations
(:mod:`dlci_grader.tasks.task3.reference`) through the checks of an answer against them
(:mod:`dlci_grader.tasks.task3.comparisons`, where their tolerances are documented), raising
``AssertionError`` with a message that says what is wrong: where an answer matches a typical
wrong one (the conjugate missing, SNR where 1/SNR belongs, a network fed the wrong input, a table
entry summed instead of averaged, ...), the message names that mistake in words.

With fewer test images than a test draws (the embedded stand-in holds 3, not 100), the images are
drawn with replacement, and a warning says so once; with the real data nothing changes.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlci_grader.tasks.contract import Case, Context, JudgedTest, each_case, no_inputs

# The checks of an answer against the reference, also reached as checks.<name> (tests).
from dlci_grader.tasks.task3.comparisons import (
    NOISE_MAX_LAG_CORRELATION as NOISE_MAX_LAG_CORRELATION,
)
from dlci_grader.tasks.task3.comparisons import (
    NOISE_STD_RTOL as NOISE_STD_RTOL,
)
from dlci_grader.tasks.task3.comparisons import (
    OUTPUT_ATOL,
    _array,
    _matching,
    _to_numpy,
    check_noise,
    check_output,
    check_table_column,
    check_table_function,
    named_in,
    words,
    wrong_table_entries,
)
from dlci_grader.tasks.task3.comparisons import (
    TABLE_TOL_DB as TABLE_TOL_DB,
)
from starter import mistakes as named
from starter.grading_budget import DEBLURRING_TEST_IMAGES
from starter.mistakes import Mistake, WrongAnswer

METHODS = ("wiener", "unet", "wiener_unet")
"""Keys of the PSNR table, one per method."""



_REMEMBERED: dict[tuple[str, bytes], Any] = {}


def _once(key: str, y: object, compute: Callable[[], Any]) -> Any:
    """``compute()`` for the measurement ``y``, remembered (the reference and candidate outputs of
    one test's inputs are computed once, however many answers are judged on them)."""
    digest = hashlib.sha256(np.ascontiguousarray(_to_numpy(y)).tobytes()).digest()
    if (key, digest) not in _REMEMBERED:
        if len(_REMEMBERED) > 64:
            _REMEMBERED.clear()
        _REMEMBERED[(key, digest)] = compute()
    return _REMEMBERED[(key, digest)]



# --- judged outside the kernel: inputs made by the grader, answers judged by the grader ------

GAIN_DB = 1.0
"""The visible methods test: each method must gain this much over the measurement (dB), on four
of the grader's images at σ = 0.005. Over 40 secret seeds the solution's smallest gains were
Wiener 6.4, U-Net 3.0, Wiener + U-Net 4.5 dB (``tests/test_grader_trust.py`` re-checks 5)."""
MIX = 0.1
"""Share of secret uniform noise in the grader's images (a lookup of the clean image on disk
misses it; more of it would make the images unlike the photographs the U-Nets were trained on)."""
TABLE_SEED = 3501
"""Noise seed of the grader's reference for the notebook's table (other noise than the
notebook's)."""
TABLE_SIGMAS = (0.005, 0.01, 0.02)
"""The notebook's noise levels (``SIGMAS``)."""
GRADING_IMAGES = DEBLURRING_TEST_IMAGES
"""The test images the notebook's table averages over in grading mode (``DLCI_GRADING=1``,
``starter.grading_budget``, where ``BlurredBSDS300.table_images`` picks them): every 17th of
those the kernel has (five of the 80 it gets under the grader, six of 100 outside it, one of the
embedded stand-in's 3). Otherwise it uses all of them."""
WIENER_SNR = 100.0
"""The SNR of the methods (``method_wiener`` and the input of ``method_wiener_unet``)."""
HELDOUT_IMAGES = 20
"""Test images the grader draws secretly for each notebook and removes from the data the
student's kernel gets (:func:`kernel_data`): the images of the method tests are made from these
only, so no search of the files the kernel can read (flips, shifts, a fitted gain) finds them."""


def _kernel() -> Any:
    """The task's 7x7 blur kernel, as the notebook's ``kernel``."""
    from starter.kernels import task3_kernel

    return task3_kernel()


@functools.lru_cache(maxsize=2)
def _test_images(data_root: Path | None) -> Any:
    """The BSDS300 test images of a data root (100, 3, 320, 480), loaded once per grading run."""
    from starter.data import BlurredBSDS300

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BlurredBSDS300(root=data_root, split="test").clean_images()


@functools.lru_cache(maxsize=2)
def _models() -> Any:
    from starter.pretrained import load_models

    return load_models("cpu")


SIMULATE_MISTAKES = (named.NOISE_BEFORE_BLUR, named.NOISE_SIGMA_SQUARED,
                     named.NOISE_SIGMA_AS_VARIANCE)
"""Typical wrong simulations that change the table's PSNRs beyond its tolerance."""
WIENER_MISTAKES = (named.WIENER_NO_CONJUGATE, named.WIENER_PLUS_SNR, named.WIENER_UNCENTRED,
                   named.WIENER_INVERSE_FILTER, named.WIENER_SNR_DB)
"""Typical wrong Wiener filters (:func:`wrong_wieners`): they show in the Wiener row and, as
the U-Net's input, in the Wiener + U-Net row."""


def row_mistakes(method: str) -> list[tuple[Mistake, str]]:
    """The catalogued mistakes of other parts that show in the table's row of ``method``, each
    with the test that charges it. A notebook row that is the method's PSNRs under one of them
    is the table's right composition on a wrong part: the table tests pass it, with a note, and
    the part's own test takes the points, once."""
    rows = [(m, "test_simulate") for m in SIMULATE_MISTAKES]
    if method in ("wiener", "wiener_unet"):
        rows += [(m, "test_wiener") for m in WIENER_MISTAKES]
    rows += [(m, f"test_methods and test_{method}_hidden")
             for m in named.WRONG_NETWORK_OR_INPUT.get(method, {})]
    return rows


def _simulation(mistake: str | None) -> Any:
    """The measurement model ``(x, kernel, σ, noise) -> y`` of a :data:`SIMULATE_MISTAKES` id
    (None: the right one, ``blur(x) + σ·noise``)."""
    from starter.imaging import blur

    if mistake is None:
        return None
    return {
        named.NOISE_BEFORE_BLUR.id: lambda x, k, s, n: blur(x + s * n, k),
        named.NOISE_SIGMA_SQUARED.id: lambda x, k, s, n: blur(x, k) + s**2 * n,
        named.NOISE_SIGMA_AS_VARIANCE.id: lambda x, k, s, n: blur(x, k) + s**0.5 * n,
    }[mistake]


def _table_images(data_root: Path | None, held_seed: int | None, grading: bool) -> Any:
    """The images the notebook's table averages over: the test split of ``data_root`` less the
    held-out images of ``held_seed`` (None: none held out, the kernel reads ``data_root``), as
    :func:`kernel_data` writes the kernel's id list (same order), then in grading mode
    :data:`GRADING_IMAGES` of them."""
    clean = _test_images(data_root)
    if held_seed is not None:
        clean = clean[np.setdiff1d(np.arange(len(clean)), heldout_indices(len(clean), held_seed))]
    return clean[GRADING_IMAGES] if grading else clean


def _precision(grading: bool) -> Any:
    """The context the reference evaluates in: float32 in grading mode; outside it bf16
    autocast where the CPU has it natively, as the notebook's own table runs."""
    import contextlib

    import torch

    from starter.training import resolve_precision

    bf16 = not grading and resolve_precision("auto", torch.device("cpu")) == "bf16"
    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


@functools.lru_cache(maxsize=16)
def _reference_table(
    data_root: Path | None, held_seed: int | None, grading: bool, mistake: str | None = None,
) -> dict[str, dict[float, float]]:
    """The grader's evaluation of the three methods on the notebook's images
    (:func:`_table_images`), once per grading run (one secret seed for the class); with
    ``mistake`` (an id of :data:`SIMULATE_MISTAKES`), on measurements simulated that way.

    In grading mode (always, under the grader) in float32 on six images. Outside it (an
    instructor running the solution notebook as a student would) on all the test images, with
    the networks in bf16 where the CPU has it natively, as the notebook's table runs them (within
    0.02 dB of float32; the tolerance is :data:`TABLE_TOL_DB`).
    """
    from dlci_grader.tasks.task3.reference import evaluate_methods

    clean = _table_images(data_root, held_seed, grading)
    with _precision(grading):
        return evaluate_methods(clean, _kernel(), _models(), TABLE_SIGMAS, seed=TABLE_SEED,
                                measure=_simulation(mistake))


@functools.lru_cache(maxsize=64)
def _wrong_row(
    data_root: Path | None, held_seed: int | None, grading: bool, method: str, mistake: str,
) -> dict[float, float]:
    """The row of ``method`` when ``mistake`` (an id of :func:`row_mistakes`) is made, on the
    notebook's images, as :func:`_reference_table` evaluates the right one: the wrong method is
    the one the methods' judges build (:func:`on_wrong_wiener`, :func:`wrong_methods`)."""
    if mistake in {m.id for m in SIMULATE_MISTAKES}:
        return _reference_table(data_root, held_seed, grading, mistake)[method]
    from dlci_grader.tasks.task3.reference import evaluate

    wrong = next(m for m, _ in row_mistakes(method) if m.id == mistake)

    def run(y: Any) -> Any:
        return {**on_wrong_wiener(method, y), **wrong_methods(method, y)}[wrong]()

    clean = _table_images(data_root, held_seed, grading)
    with _precision(grading):
        return evaluate({method: run}, clean, _kernel(), TABLE_SIGMAS, seed=TABLE_SEED)[method]


def _held_seed(context: Context) -> int | None:
    """The seed whose held-out images the kernel's data lacks (None: it reads the data root)."""
    return context.seed if context.kernel_root is not None else None


def heldout_indices(count: int, seed: int) -> np.ndarray:
    """The :data:`HELDOUT_IMAGES` test images (indices into the sorted test split of ``count``)
    a grading run with secret ``seed`` keeps from the kernel, sorted."""
    rng = np.random.default_rng([seed, 3])
    return np.sort(rng.choice(count, size=min(HELDOUT_IMAGES, count), replace=False))


def kernel_data(context: Context, folder: Path) -> Path | None:
    """The student's kernel gets the data root without the held-out BSDS300 test images.

    Everything else of the grader's data root is linked (or copied) in; the test split's id list
    names the remaining images, so the notebook's own table averages over those. None when the
    grader itself has only the embedded stand-in (its photographs ship in a package the kernel
    can read).
    """
    from starter.data.root import locate_data_root

    root = locate_data_root(None if context.data_root is None else str(context.data_root)).path
    bsds = root / "BSDS300"
    if not (bsds / "images" / "test").is_dir():
        return None
    ids = _test_ids(root)
    held = {ids[i] for i in heldout_indices(len(ids), context.seed)}
    for source in sorted(root.rglob("*")):
        relative = source.relative_to(root)
        target = folder / relative
        held_image = relative.parts[:3] == ("BSDS300", "images", "test") and source.stem in held
        if source.is_dir() or held_image:
            continue
        if relative == Path("BSDS300", "iids_test.txt"):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:  # another file system, or links not allowed: a copy
            shutil.copyfile(source, target)
    (folder / "BSDS300").mkdir(parents=True, exist_ok=True)
    kept = "".join(f"{i}\n" for i in ids if i not in held)
    (folder / "BSDS300" / "iids_test.txt").write_text(kept)
    return folder


@functools.lru_cache(maxsize=2)
def _test_ids(root: Path) -> list[str]:
    from starter.data.bsds300 import image_ids

    return image_ids(root / "BSDS300", "test")


def _unseen_images(rng: np.random.Generator, context: Context, count: int) -> np.ndarray:
    """``count`` 160x240 images no file the kernel can read holds: held-out test images, flipped,
    rolled and mixed with :data:`MIX` uniform noise, all from the secret ``rng``; float32
    (count, 3, 160, 240) in [0, 1].

    Under the grader the images come from the :data:`HELDOUT_IMAGES` the kernel's data lacks;
    outside it (a solution judging itself) from all test images. With fewer images than
    ``count`` (the embedded stand-in) they are drawn with replacement, which a warning says once.
    """
    clean_all = _test_images(context.data_root).numpy()
    pool = np.arange(len(clean_all))
    if context.kernel_root is not None and context.held_out:
        pool = heldout_indices(len(clean_all), context.seed)
    replace = len(pool) < count
    if replace:
        warnings.warn(
            f"only {len(clean_all)} test images (the embedded stand-in?): Task 3's hidden tests "
            f"draw {count} with replacement (each is flipped, shifted and mixed with noise anyway)",
            stacklevel=2,
        )
    pick = rng.choice(pool, size=count, replace=replace)
    x = clean_all[pick]
    if rng.random() < 0.5:
        x = x[..., ::-1]
    shift = (int(rng.integers(0, 320)), int(rng.integers(0, 480)))
    x = np.roll(x, shift=shift, axis=(-2, -1))[..., :160, :240]
    return ((1 - MIX) * x + MIX * rng.random(x.shape)).astype(np.float32)


def _measure(rng: np.random.Generator, x: np.ndarray, kernel: Any, sigma: float) -> np.ndarray:
    import torch

    from starter.imaging import blur

    y = blur(torch.from_numpy(x), kernel).numpy()
    return (y + sigma * rng.standard_normal(y.shape)).astype(np.float32)


def _simulate_make(rng: np.random.Generator, context: Context) -> list[Case]:
    kernel = _kernel()
    h, w = int(rng.integers(48, 128)), int(rng.integers(48, 160))
    x = rng.random((2, 3, h, w)).astype(np.float32)
    k5 = rng.random((5, 5)).astype(np.float32)
    k5 /= k5.sum()
    sigmas = (0.004, 0.02, 0.05, 0.1)
    kernels = (kernel.numpy(), kernel.numpy(), k5, kernel.numpy())
    return [
        {"x": x, "kernel": k, "sigma": np.array(s), "seed": np.array(int(rng.integers(2**31)))}
        for k, s in zip(kernels, sigmas, strict=True)
    ]


def _simulate_judge(cases: list[Case], answers: list[Case]) -> None:
    import torch

    from starter.imaging import blur

    def check(i: int, case: Case, answer: Case) -> None:
        if "y" not in answer:
            raise AssertionError("simulate returned nothing")
        blurred = blur(torch.from_numpy(case["x"]), torch.from_numpy(case["kernel"]))
        check_noise(blurred, answer["y"], float(case["sigma"]))

    each_case(cases, answers, check)


def _wiener_make(rng: np.random.Generator, context: Context) -> list[Case]:
    kernel = _kernel()
    y = rng.random((2, 3, int(rng.integers(40, 90)), int(rng.integers(40, 110)))).astype(np.float32)
    k5 = rng.random((5, 5)).astype(np.float32)
    k5 /= k5.sum()
    cases = [
        {"y": y, "kernel": k, "snr": np.array(snr)}
        for k, snr in ((kernel.numpy(), 100.0), (k5, 100.0), (kernel.numpy(), 10.0), (k5, 1000.0))
    ]
    cases.append({"y": y[0, 0], "kernel": kernel.numpy(), "snr": np.array(0.0)})  # 0: the default
    return cases


def wrong_wieners(y: Any, kernel: Any, snr: float) -> dict[str | Mistake, Callable[[], Any]]:
    """Typical wrong Wiener filters of ``y`` (torch tensors): the mistake (named, or in words)
    -> its output."""
    import torch

    from dlci_grader.tasks.task3.reference import wiener_deconv
    from starter.imaging import psf2otf

    def apply(filt: Callable[[Any], Any], otf: Any = None) -> Any:
        otf = psf2otf(kernel, y.shape[-2:]) if otf is None else otf
        return torch.fft.ifft2(torch.fft.fft2(y) * filt(otf)).real

    def uncentred() -> Any:
        padded = kernel.new_zeros(y.shape[-2:])
        padded[: kernel.shape[0], : kernel.shape[1]] = kernel
        return torch.fft.fft2(padded)

    candidates: dict[str | Mistake, Callable[[], Any]] = {
        named.WIENER_NO_CONJUGATE: lambda: apply(lambda h: h / (h.abs() ** 2 + 1 / snr)),
        named.WIENER_PLUS_SNR: lambda: apply(lambda h: h.conj() / (h.abs() ** 2 + snr)),
        named.WIENER_UNCENTRED:
            lambda: apply(lambda h: h.conj() / (h.abs() ** 2 + 1 / snr), uncentred()),
        named.WIENER_INVERSE_FILTER: lambda: apply(lambda h: h.conj() / (h.abs() ** 2 + 1e-12)),
        named.WIENER_SNR_DB: lambda: wiener_deconv(y, kernel, snr=10 ** (snr / 10)),
    }
    for other in (1.0, 10.0, 1000.0, 0.01):
        if other != snr:
            candidates[f"Wiener with SNR {other:g} instead of {snr:g}"] = functools.partial(
                wiener_deconv, y, kernel, snr=other)
    return candidates


def _wiener_judge(cases: list[Case], answers: list[Case]) -> None:
    import torch

    from dlci_grader.tasks.task3.reference import wiener_deconv

    def check(i: int, case: Case, answer: Case) -> None:
        snr = float(case["snr"]) or WIENER_SNR
        y, kernel = torch.from_numpy(case["y"]).double(), torch.from_numpy(case["kernel"]).double()
        reference = wiener_deconv(y, kernel, snr=snr)
        what = "wiener" + ("" if float(case["snr"]) else f" with its default SNR ({WIENER_SNR:g})")
        check_output(what, answer.get("x_hat", np.zeros(0)), reference,
                     candidates=wrong_wieners(y, kernel, snr))

    each_case(cases, answers, check)


def _methods_make(rng: np.random.Generator, context: Context) -> list[Case]:
    kernel = _kernel()
    x = _unseen_images(rng, context, 4)
    return [{"y": _measure(rng, x, kernel, 0.005), "_clean": x}]


def wrong_methods(role: str, y: Any) -> dict[str | Mistake, Callable[[], Any]]:
    """Typical wrong versions of method ``role`` ("wiener", "unet", "wiener_unet") on the
    measurement ``y``: the mistake (named, or in words) -> its output."""
    import torch

    from dlci_grader.tasks.task3.reference import wiener_deconv

    models, kernel = _models(), _kernel()

    def w(snr: float = WIENER_SNR) -> Any:
        return _once(f"wiener {snr}", y, lambda: wiener_deconv(y, kernel, snr=snr))

    def net(model: Any, x: Any) -> Any:
        name = "deblur_denoise" if model is models.deblur_denoise else "wiener_denoise"
        with torch.no_grad():
            return _once(f"{name} of {'y' if x is y else 'wiener'}", y, lambda: model(x))

    same: dict[str | Mistake, Callable[[], Any]] = {named.METHOD_UNCHANGED: lambda: y}
    if role == "wiener":
        return {**same, "Wiener with SNR 0.01 (1/SNR given as the SNR)": lambda: w(0.01),
                "Wiener with SNR 1": lambda: w(1.0), "Wiener with SNR 1e4": lambda: w(1e4)}
    def wrong(network: str, given: str) -> Callable[[], Any]:
        return lambda: net(getattr(models, network), y if given == "measurement" else w())

    table = named.WRONG_NETWORK_OR_INPUT[role]
    return {**same, **{mistake: wrong(*how) for mistake, how in table.items()},
            **({named.WIENER_UNET_NO_NETWORK: w} if role == "wiener_unet" else {})}


def on_wrong_wiener(role: str, y: Any) -> dict[str | Mistake, Callable[[], Any]]:
    """Method ``role`` composed right on a catalogued wrong Wiener filter (:data:`WIENER_MISTAKES`)
    of the measurement ``y``: the mistake -> that output. A method that gives one is right; its
    Wiener filter is ``test_wiener``'s to charge, once."""
    if role not in ("wiener", "wiener_unet"):
        return {}
    import torch

    kernel, models = _kernel(), _models()

    def composed(mistake: Mistake) -> Callable[[], Any]:
        def make() -> Any:
            x_hat = _once(f"wrong wiener {mistake.id}", y,
                          lambda: wrong_wieners(y, kernel, WIENER_SNR)[mistake]())
            if role == "wiener":
                return x_hat
            with torch.no_grad():
                return models.wiener_denoise(x_hat)

        return make

    made: dict[str | Mistake, Callable[[], Any]] = {m: composed(m) for m in WIENER_MISTAKES}
    return made


def _wiener_note(name: str, mistake: Mistake) -> str:
    return (f"method_{name} is composed right on your wiener, which is wrong ({mistake.says}): "
            "test_wiener takes those points, this test does not")


def _methods_judge(cases: list[Case], answers: list[Case]) -> str | None:
    """Each method gains more than :data:`GAIN_DB` and is none of the typical wrong ones (those
    are looked for only when the output differs from the reference method's); a method that is
    composed right on a catalogued wrong Wiener filter passes, with a note."""
    import torch

    from dlci_grader.tasks.task3.reference import task3_methods
    from starter.metrics import psnr

    reference = task3_methods(_kernel(), _models(), WIENER_SNR)
    notes: list[str] = []

    def check(i: int, case: Case, answer: Case) -> None:
        clean = torch.from_numpy(case["_clean"])
        y = torch.from_numpy(case["y"])
        base = psnr(y, clean).item()
        for name in METHODS:
            if name not in answer:
                raise AssertionError(f"method {name!r} returned nothing")
            out = _array(answer[name], f"the output of {name}")
            if out.shape != case["y"].shape:
                raise AssertionError(
                    f"{name} returned shape {out.shape}, expected {case['y'].shape}"
                )
            gain = psnr(torch.from_numpy(out), clean.double()).item() - base
            expected = _to_numpy(
                _once(f"reference {name}", y, functools.partial(reference[name], y))
            )
            right = np.abs(out - expected).max() <= OUTPUT_ATOL
            part = None if right else _matching(out, on_wrong_wiener(name, y), OUTPUT_ATOL)
            if isinstance(part, Mistake):
                notes.append(_wiener_note(name, part))
                continue
            mistake = None if right else _matching(out, wrong_methods(name, y), OUTPUT_ATOL)
            if mistake is not None:
                raise WrongAnswer(
                    f"method_{name}'s output on the grader's images is {words(mistake)} "
                    f"(it gains {gain:.2f} dB over the measurement)", named_in(mistake),
                )
            if gain <= GAIN_DB:
                raise AssertionError(
                    f"{name} gains {gain:.2f} dB over the measurement on the grader's images; "
                    f"expected more than {GAIN_DB} dB"
                )

    each_case(cases, answers, check)
    return "; ".join(notes) or None


def _network_make(sigma: float) -> Any:
    def make(rng: np.random.Generator, context: Context) -> list[Case]:
        return [{"y": _measure(rng, _unseen_images(rng, context, 2), _kernel(), sigma)}]

    return make


def _network_judge(method: str) -> Any:
    """A method's output on the grader's measurements against the reference method's; one
    composed right on a catalogued wrong Wiener filter passes, with a note."""

    def judge(cases: list[Case], answers: list[Case]) -> str | None:
        import torch

        from dlci_grader.tasks.task3.reference import wiener_deconv

        models = _models()
        notes: list[str] = []

        def check(i: int, case: Case, answer: Case) -> None:
            y = torch.from_numpy(case["y"])
            with torch.no_grad():
                if method == "method_unet":
                    reference = models.deblur_denoise(y)
                else:
                    reference = models.wiener_denoise(wiener_deconv(y, _kernel(), snr=WIENER_SNR))
            role = method.removeprefix("method_")
            out = answer.get("x_hat", np.zeros(0))
            try:
                check_output(method, out, reference, candidates=wrong_methods(role, y))
            except AssertionError:
                part = _matching(_array(out, f"the output of {method}"),
                                 on_wrong_wiener(role, y), OUTPUT_ATOL)
                if not isinstance(part, Mistake):
                    raise
                notes.append(_wiener_note(role, part))

        each_case(cases, answers, check)
        return "; ".join(notes) or None

    return judge


def _measurement(y: Any) -> Any:
    """The table function test's first method: the measurement itself (no restoration)."""
    return y


def _table_function_make(rng: np.random.Generator, context: Context) -> list[Case]:
    """The student's psnr_table on the grader's images, noise levels and seed, with two methods
    the harness supplies: the measurement itself ("m") and the shipped U-Net ("u")."""
    import torch

    from dlci_grader.tasks.task3.reference import psnr_per_image
    from starter.pretrained import predict

    kernel = _kernel()
    x = _unseen_images(rng, context, 3)
    sigmas = (0.012, 0.03)
    seed = int(rng.integers(2**31))
    models = _models()
    methods = {"m": _measurement, "u": lambda y: predict(models.deblur_denoise, y)}
    each = psnr_per_image(methods, torch.from_numpy(x), kernel, sigmas, seed=seed + 1)
    return [{
        "clean": x, "kernel": kernel.numpy(), "sigmas": np.array(sigmas), "seed": np.array(seed),
        **{f"_{m}": np.array([[float(v) for v in each[m][s]] for s in sigmas]) for m in methods},
    }]


def _table_from(answer: Case, methods: Sequence[str]) -> dict[str, dict[float, float]]:
    """The ``{method: {σ: dB}}`` table a harness flattened to ``<method>_sigmas``/``_values``."""
    table = {}
    for m in methods:
        if f"{m}_sigmas" not in answer or f"{m}_values" not in answer:
            raise AssertionError(f"the table has no method {m!r}")
        keys, values = np.ravel(answer[f"{m}_sigmas"]), np.ravel(answer[f"{m}_values"])
        table[m] = {float(k): float(v) for k, v in zip(keys, values, strict=True)}
    return table


def _table_function_judge(cases: list[Case], answers: list[Case]) -> None:
    def check(i: int, case: Case, answer: Case) -> None:
        sigmas = [float(s) for s in case["sigmas"]]
        methods = ("m", "u")
        reference = {
            m: {s: float(np.mean(row)) for s, row in zip(sigmas, case[f"_{m}"], strict=True)}
            for m in methods
        }
        wrong = {
            m: {s: wrong_table_entries(row) for s, row in zip(sigmas, case[f"_{m}"], strict=True)}
            for m in methods
        }
        check_table_function(_table_from(answer, methods), reference, wrong=wrong)

    each_case(cases, answers, check)


def _notebook_table_make(rng: np.random.Generator, context: Context) -> list[Case]:
    """The notebook's own table is checked against the grader's evaluation of the same images
    (the test images the kernel has; :data:`GRADING_IMAGES` of them in grading mode) at its
    noise levels, other noise. Which images those are (the data root, the held-out seed, the
    mode) stays in the case for the judge, which evaluates a wrong simulation only when a row
    needs it."""
    held = _held_seed(context)
    reference = _reference_table(context.data_root, held, context.grading)
    return [{"sigmas": np.array(TABLE_SIGMAS),
             **{f"_{m}": np.array([reference[m][s] for s in TABLE_SIGMAS]) for m in METHODS},
             "_root": np.array("" if context.data_root is None else str(context.data_root)),
             "_held": np.array(-1 if held is None else held),
             "_grading": np.array(context.grading)}]


def _notebook_table_judge(method: str) -> Any:
    """The notebook's row of ``method`` against the grader's evaluation; a row that is instead
    the method's under one of :func:`row_mistakes` (a wrong simulation, Wiener filter or network
    input) passes, with a note: that mistake is its own test's to charge, once."""

    def judge(cases: list[Case], answers: list[Case]) -> str | None:
        notes: list[str] = []

        def check(i: int, case: Case, answer: Case) -> None:
            sigmas = [float(s) for s in case["sigmas"]]
            column = _table_from(answer, (method,))[method]
            try:
                check_table_column(method, column,
                                   dict(zip(sigmas, case[f"_{method}"].tolist(), strict=True)))
                return
            except AssertionError as error:
                found = _part_mistake(case, method, column, sigmas)
                if found is None:
                    raise error from None
            wrong, test = found
            notes.append(
                f"table[{method!r}] is what the method gives when {wrong.says}: {test} "
                f"{'take' if ' and ' in test else 'takes'} those points, this test does not"
            )

        each_case(cases, answers, check)
        return "; ".join(notes) or None

    return judge


def _part_mistake(
    case: Case, method: str, column: dict[float, float], sigmas: list[float],
) -> tuple[Mistake, str] | None:
    """The mistake of :func:`row_mistakes` (and the test that charges it) under which the
    method's row on the case's images is ``column`` (within the table's tolerance), if one is;
    each is evaluated only when a row needs it, once per grading run."""
    if "_root" not in case:
        return None
    root, held = str(case["_root"]), int(case["_held"])
    where = (Path(root) if root else None, None if held < 0 else held, bool(case["_grading"]))
    for mistake, test in row_mistakes(method):
        row = _wrong_row(*where, method, mistake.id)
        try:
            check_table_column(method, column, {s: row[s] for s in sigmas})
        except AssertionError:
            continue
        return mistake, test
    return None


def _table_layout_judge(cases: list[Case], answers: list[Case]) -> None:
    """The visible table test again: every method, every noise level, finite PSNRs (not their
    values: a row is what its method gives, and the methods have their own tests)."""
    (answer,) = answers
    for method, column in _table_from(answer, METHODS).items():
        values = [column.get(s, float("nan")) for s in TABLE_SIGMAS]
        if not np.all(np.isfinite(values)):
            raise AssertionError(f"{method}: non-finite or missing PSNR {values}")


_SIMULATE = JudgedTest(_simulate_make, _simulate_judge, definitions_only=True)
_WIENER = JudgedTest(_wiener_make, _wiener_judge, definitions_only=True)
JUDGED: dict[str, JudgedTest] = {
    "test_simulate": _SIMULATE,
    "test_simulate_hidden": _SIMULATE,
    "test_wiener": _WIENER,
    "test_wiener_hidden": _WIENER,
    "test_methods": JudgedTest(_methods_make, _methods_judge),
    "test_unet_hidden": JudgedTest(_network_make(0.015), _network_judge("method_unet")),
    "test_wiener_unet_hidden": JudgedTest(
        _network_make(0.008), _network_judge("method_wiener_unet")
    ),
    "test_table": JudgedTest(no_inputs, _table_layout_judge),
    "test_table_function_hidden": JudgedTest(
        _table_function_make, _table_function_judge, definitions_only=True
    ),
    "test_table_hidden": JudgedTest(_notebook_table_make, _notebook_table_judge("wiener")),
    "test_table_unet_hidden": JudgedTest(_notebook_table_make, _notebook_table_judge("unet")),
    "test_table_wiener_unet_hidden": JudgedTest(
        _notebook_table_make, _notebook_table_judge("wiener_unet")
    ),
}
"""Task 3's test cells, all judged outside the student's process."""
