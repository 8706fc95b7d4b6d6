"""Task 3's hidden-test checks catch each wrong pipeline and accept the right one (no data
needed)."""

from __future__ import annotations

import re

import pytest
import torch

from starter import mistakes
from starter.imaging import add_noise, blur
from starter.kernels import task3_kernel

task3 = pytest.importorskip("dlci_grader.tasks.task3.checks")

pytestmark = pytest.mark.task3


@pytest.fixture(scope="module")
def scene() -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random images (2, 3, 96, 128) and the Task 3 kernel."""
    x = torch.rand(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    return blur(x, torch.ones(5, 5) / 25), task3_kernel()


@pytest.mark.parametrize("sigma", [0.004, 0.01, 0.05])
def test_check_noise_accepts_noise_after_blur(scene, sigma):
    x, k = scene
    for seed in range(5):
        y = add_noise(blur(x, k), sigma, generator=torch.Generator().manual_seed(seed))
        std = task3.check_noise(blur(x, k), y, sigma)
        assert abs(std / sigma - 1) < 0.01


@pytest.mark.parametrize("sigma", [0.004, 0.02, 0.05])
def test_check_noise_rejects_noise_before_blur(scene, sigma):
    x, k = scene
    y = blur(add_noise(x, sigma, generator=torch.Generator().manual_seed(0)), k)
    with pytest.raises(AssertionError, match="before the blur"):
        task3.check_noise(blur(x, k), y, sigma)


@pytest.mark.parametrize("sigma", [0.004, 0.02, 0.1])
def test_check_noise_rejects_sigma_as_variance(scene, sigma):
    x, k = scene
    y = add_noise(blur(x, k), sigma**0.5, generator=torch.Generator().manual_seed(0))
    with pytest.raises(AssertionError, match="variance"):
        task3.check_noise(blur(x, k), y, sigma)


def test_check_noise_rejects_no_blur_and_wrong_shape(scene):
    x, k = scene
    y = add_noise(x, 0.01, generator=torch.Generator().manual_seed(0))
    with pytest.raises(AssertionError):
        task3.check_noise(blur(x, k), y, 0.01)
    with pytest.raises(AssertionError, match="shape"):
        task3.check_noise(blur(x, k), y[:1], 0.01)


def test_check_output_tolerance():
    ref = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert task3.check_output("m", ref + 1e-5, ref) < 1e-4
    with pytest.raises(AssertionError, match="differs"):
        task3.check_output("m", ref + 0.01, ref)
    with pytest.raises(AssertionError, match="shape"):
        task3.check_output("m", ref[0], ref)
    with pytest.raises(AssertionError, match="NaN"):
        task3.check_output("m", ref * float("nan"), ref)


def test_check_table_column_and_function():
    ref = {"wiener": {0.005: 30.0, 0.01: 27.0}, "unet": {0.005: 31.0, 0.01: 29.0}}
    good = {"wiener": {0.005: 30.05, 0.01: 26.93}, "unet": {0.005: 31.1, 0.01: 28.9}}
    task3.check_table_function(good, ref)
    task3.check_table_column("wiener", {0.005: torch.tensor(30.0), 0.01: 27.0}, ref["wiener"])
    with pytest.raises(AssertionError, match="0.01"):
        task3.check_table_column("wiener", {0.005: 30.0, 0.01: 28.0}, ref["wiener"])
    with pytest.raises(AssertionError, match="no entry"):
        task3.check_table_column("wiener", {0.005: 30.0}, ref["wiener"])
    with pytest.raises(AssertionError, match="no method"):
        task3.check_table_function({"wiener": good["wiener"]}, ref)


def test_a_table_mistake_is_named_only_when_the_whole_column_shows_it():
    """One wrong entry that lands near the first image's PSNR is chance (a wrong simulate can do
    it): not named. A column that is the first image's PSNR at every noise level is the mistake."""
    from dlci_grader.tasks.task3.comparisons import wrong_table_entries

    per_image = {0.005: [33.0, 29.0, 31.0], 0.01: [29.0, 26.0, 27.5], 0.02: [24.0, 22.0, 23.0]}
    ref = {s: sum(v) / len(v) for s, v in per_image.items()}
    wrong = {s: wrong_table_entries(v) for s, v in per_image.items()}
    chance = {**ref, 0.005: 33.0}  # only σ = 0.005 is off, and it equals image 0's PSNR
    with pytest.raises(mistakes.WrongAnswer) as caught:
        task3.check_table_column("wiener", chance, ref, wrong=wrong)
    assert mistakes.mistakes_of(caught.value) == ()
    first = {s: v[0] for s, v in per_image.items()}
    with pytest.raises(mistakes.WrongAnswer) as caught:
        task3.check_table_column("wiener", first, ref, wrong=wrong)
    assert mistakes.mistakes_of(caught.value) == (mistakes.TABLE_FIRST_IMAGE.id,)


def test_check_noise_names_sigma_squared_and_shared_noise(scene):
    """σ² used as the standard deviation, and one noise pattern broadcast over the channels."""
    x, k = scene
    y = add_noise(blur(x, k), 0.01**2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(AssertionError, match=re.escape(mistakes.NOISE_SIGMA_SQUARED.says)) as err:
        task3.check_noise(blur(x, k), y, 0.01)
    assert mistakes.NOISE_SIGMA_SQUARED.id in mistakes.mistakes_of(err.value)
    shared = blur(x, k) + 0.01 * torch.randn(
        x.shape[-2:], generator=torch.Generator().manual_seed(0)
    )
    with pytest.raises(AssertionError, match="colour channels is correlated"):
        task3.check_noise(blur(x, k), shared, 0.01)


def _wrong_wiener(y, kernel, snr, mode):
    from starter.imaging import psf2otf

    otf = psf2otf(kernel, y.shape[-2:])
    if mode == "conj":
        filt = otf / (otf.abs() ** 2 + 1 / snr)
    elif mode == "plus_snr":
        filt = otf.conj() / (otf.abs() ** 2 + snr)
    else:  # the kernel zero-padded without psf2otf's shift
        padded = torch.zeros(y.shape[-2:], dtype=kernel.dtype)
        padded[: kernel.shape[0], : kernel.shape[1]] = kernel
        otf = torch.fft.fft2(padded)
        filt = otf.conj() / (otf.abs() ** 2 + 1 / snr)
    return torch.fft.ifft2(torch.fft.fft2(y) * filt).real


@pytest.mark.parametrize(("mode", "says"), [
    ("conj", "without the complex conjugate"), ("plus_snr", r"\+ SNR where \+ 1/SNR"),
    ("centre", "centre not at the origin"),
])
def test_wiener_judge_names_the_mistake(mode, says):
    """The grader's Wiener verdict names a dropped conjugate, + snr, and an uncentred kernel."""
    import numpy as np

    cases = task3._wiener_make(np.random.default_rng(0), task3.Context(None, 0))
    answers = [{"x_hat": _wrong_wiener(torch.from_numpy(c["y"]), torch.from_numpy(c["kernel"]),
                                       float(c["snr"]) or 100.0, mode)} for c in cases]
    with pytest.raises(AssertionError, match=says):
        task3._wiener_judge(cases, answers)


def test_methods_judge_names_a_network_fed_the_wrong_input():
    """Wiener + U-Net fed the raw measurement (and the U-Net alone in its place) are named."""
    import numpy as np

    from dlci_grader.tasks.task3.reference import wiener_deconv
    from starter.data.embedded import embedded_bsds300
    from starter.pretrained import load_models, predict

    models = load_models("cpu")
    x = embedded_bsds300("test")[0][:1, :, 96:192, 160:288].float() / 255  # a photograph's window
    y = add_noise(blur(x, task3_kernel()), 0.005, generator=torch.Generator().manual_seed(1))
    case = {"y": y.numpy(), "_clean": x.numpy()}
    right = {"wiener": wiener_deconv(y, task3_kernel()), "unet": predict(models.deblur_denoise, y)}
    for wrong, says in ((predict(models.wiener_denoise, y), "raw measurement"),
                        (predict(models.deblur_denoise, y), "U-Net alone")):
        with pytest.raises(AssertionError, match=says):
            task3._methods_judge([case], [{**right, "wiener_unet": wrong}])
    assert np.isfinite(task3.GAIN_DB)


def test_table_judge_names_a_sum_and_a_pooled_psnr():
    """wrong_table_entries: the sum, the first image alone, the PSNR of the pooled error."""
    per_image = [30.0, 26.0, 28.0]
    wrong = task3.wrong_table_entries(per_image)
    ref = {"m": {0.01: 28.0}}
    for value, says in ((84.0, "sum"), (30.0, "first image"), (27.70, "pooled")):
        with pytest.raises(AssertionError, match=says):
            task3.check_table_function({"m": {0.01: value}}, ref, wrong={"m": {0.01: wrong}})


def test_every_judged_test_makes_its_inputs_on_the_embedded_default(tmp_path):
    """Issue 15: with 3 embedded images instead of 100, every hidden test still draws its inputs
    (with replacement where it wants more images than there are, and says so)."""
    import warnings

    import numpy as np

    from starter.data import EmbeddedDataWarning  # noqa: F401 - the loader's own warning

    task3._test_images.cache_clear()
    context = task3.Context(str(tmp_path), 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in ("test_methods", "test_unet_hidden", "test_table_function_hidden"):
            cases = task3.JUDGED[name].make(np.random.default_rng(0), context)
            assert cases and all(np.all(np.isfinite(v)) for c in cases for v in c.values())
    assert any("with replacement" in str(w.message) for w in caught)
    task3._test_images.cache_clear()


@pytest.mark.realdata
def test_the_table_images_are_those_the_kernel_has(data_root, tmp_path):
    """The judge rebuilds the images the notebook's table averages over from the grader's data
    root and the run's seed (a row is judged again on a wrong simulation only when it needs
    it): they must be the very images the kernel's data folder holds, in its order."""
    context = task3.Context(data_root, 7)
    folder = task3.kernel_data(context, tmp_path / "kernel")
    assert folder is not None
    kernel_images = task3._test_images(folder)[task3.GRADING_IMAGES]
    assert torch.equal(kernel_images, task3._table_images(data_root, 7, True))
    assert len(task3._test_images(folder)) == 100 - task3.HELDOUT_IMAGES


@pytest.mark.realdata
def test_a_table_row_made_by_a_wrong_part_is_not_charged_again(data_root):
    """One mistake costs its points once: a notebook row that is the method's PSNRs under a
    catalogued mistake of another part (here a Wiener filter without the conjugate, which
    test_wiener charges) passes the table's test with a note naming it; a row that is no such
    thing still fails."""
    import numpy as np

    context = task3.Context(data_root, 11)
    (case,) = task3._notebook_table_make(np.random.default_rng(0), context)
    judge = task3.JUDGED["test_table_hidden"].judge
    wrong = task3._wrong_row(data_root, None, True, "wiener", mistakes.WIENER_NO_CONJUGATE.id)

    def answer(row):
        return {"wiener_sigmas": np.array(list(row)), "wiener_values": np.array(list(row.values()))}

    note = judge([case], [answer(wrong)])
    assert note and "conjugate" in note and "test_wiener takes those points" in note, note
    right = dict(zip(task3.TABLE_SIGMAS, case["_wiener"].tolist(), strict=True))
    assert judge([case], [answer(right)]) is None
    with pytest.raises(AssertionError, match="on these images"):
        judge([case], [answer({s: v + 1.0 for s, v in right.items()})])


@pytest.mark.parametrize("mode", ["conj", "plus_snr", "centre"])
def test_a_method_composed_right_on_a_wrong_wiener_is_not_charged_again(mode):
    """One mistake costs its points once: methods that call a wrong Wiener filter correctly pass
    the methods' tests (hidden and visible) with a note naming the filter; test_wiener charges
    it. A method that composes wrongly still fails."""
    import numpy as np

    from starter.data.embedded import embedded_bsds300
    from starter.deblur_checks import check_methods
    from starter.pretrained import load_models, predict

    models = load_models("cpu")
    kernel = task3_kernel()
    x = embedded_bsds300("test")[0][:1, :, 96:192, 160:288].float() / 255
    y = add_noise(blur(x, kernel), 0.005, generator=torch.Generator().manual_seed(1))

    def wiener(y, kernel, snr=100.0):
        return _wrong_wiener(y, kernel, snr, mode)

    methods = {"wiener": lambda y: wiener(y, kernel),
               "unet": lambda y: predict(models.deblur_denoise, y),
               "wiener_unet": lambda y: predict(models.wiener_denoise, wiener(y, kernel))}
    answer = {name: f(y).numpy() for name, f in methods.items()}
    note = task3._methods_judge([{"y": y.numpy(), "_clean": x.numpy()}], [answer])
    assert note and "test_wiener takes those points" in note, note
    network = task3._network_judge("method_wiener_unet")
    note = network([{"y": y.numpy()}], [{"x_hat": answer["wiener_unet"]}])
    assert note and "composed right on your wiener" in note, note
    check_methods(methods, x, kernel, models, wiener)  # the visible check agrees
    with pytest.raises(AssertionError):
        network([{"y": y.numpy()}], [{"x_hat": predict(models.wiener_denoise, y).numpy()}])
    assert np.isfinite(task3.GAIN_DB)
