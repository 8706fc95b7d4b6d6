"""The Task 3 pretrained U-Nets: shipped, checksum-verified, reproducibly trained, and good enough.

The training script and the evaluation are the instructor's (``dlci_grader``); loading and
running the shipped networks is the student package's (``starter.pretrained``)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from starter.data import BlurredBSDS300
from starter.imaging import blur
from starter.kernels import task3_kernel
from starter.models import UNet
from starter.pretrained import (
    MANIFEST,
    MODEL_NAMES,
    assets_dir,
    load_manifest,
    load_model,
    load_models,
    predict,
)

pytest.importorskip("dlci_grader")
from dlci_grader.offline.train_pretrained import (  # noqa: E402
    TrainConfig,
    half_spectrum_filters,
    install_weights,
    main,
    train_pretrained,
)
from dlci_grader.tasks.task3.reference import evaluate_methods, wiener_deconv  # noqa: E402

pytestmark = pytest.mark.task3

COURSE_ORIGINAL = {
    "unet": {0.005: 29.17, 0.01: 28.54, 0.02: 25.33},
    "wiener_unet": {0.005: 30.89, 0.01: 30.28, 0.02: 27.60},
}
"""Mean PSNR (dB) of the course's original pretrained networks on the 100 BSDS300 test images."""


def test_load_models_gives_two_float32_unets_in_eval_mode():
    models = load_models(device="cpu")
    assert models._fields == MODEL_NAMES
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    for model in models:
        assert isinstance(model, UNet) and not model.training
        assert all(p.dtype == torch.float32 for p in model.parameters())
        with torch.no_grad():
            assert model(x).shape == x.shape
    assert not torch.equal(models.deblur_denoise.head.weight, models.wiener_denoise.head.weight)


def test_manifest_records_checksums_and_training_configuration():
    manifest = load_manifest()
    assert set(manifest) == set(MODEL_NAMES)
    for name, entry in manifest.items():
        assert (assets_dir() / entry["file"]).stat().st_size < 5_000_000  # fp16, ~3.7 MB
        assert len(entry["sha256"]) == 64
        config = entry["config"]
        assert config["model"] == name and config["steps"] > 0 and config["seed"] == 0
        assert config["sigma_min"] <= 0.005 and config["sigma_max"] >= 0.02
        assert entry["training"]["seconds"] > 0


def test_corrupted_weights_raise_a_checksum_error(tmp_path):
    shutil.copytree(assets_dir(), tmp_path, dirs_exist_ok=True)
    path = tmp_path / load_manifest()["wiener_denoise"]["file"]
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    load_model("deblur_denoise", "cpu", assets=tmp_path)  # the other file is intact
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_model("wiener_denoise", "cpu", assets=tmp_path)


def test_missing_manifest_or_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest"):
        load_models("cpu", assets=tmp_path)
    with pytest.raises(ValueError, match="deblur_denoise"):
        load_model("denoise", "cpu")


def test_predict_runs_in_batches_and_matches_one_pass():
    """predict: the same as one forward pass, float32 on the input's device, also under bf16
    autocast."""
    model = load_models("cpu").deblur_denoise
    x = torch.rand(5, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = model(x)
    out = predict(model, x, batch_size=2)
    assert out.dtype == torch.float32 and out.is_contiguous()
    torch.testing.assert_close(out, whole, atol=1e-5, rtol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = predict(model, x, batch_size=2)
    assert low.dtype == torch.float32 and (low - whole).abs().max() < 0.05


def test_training_script_parses_every_config_option(monkeypatch, tmp_path):
    """python -m dlci_grader.offline.train_pretrained passes every option on to TrainConfig."""
    seen = {}

    def fake(config, out, **kwargs):
        seen["config"] = config
        return tmp_path / "w.pt"

    monkeypatch.setattr("dlci_grader.offline.train_pretrained.train_pretrained", fake)
    assert main(["--out", str(tmp_path), "--steps", "3", "--lr-min", "1e-6", "--warmup-steps", "7",
                 "--init-from", "w0.pt"]) == 0
    config = seen["config"]
    assert (config.steps, config.lr_min, config.warmup_steps, config.init_from) == (
        3, 1e-6, 7, "w0.pt"
    )


def test_half_spectrum_filters_match_blur_and_wiener():
    x = torch.rand(2, 3, 64, 80, generator=torch.Generator().manual_seed(0))
    k = task3_kernel()
    blur_f, wiener_f = half_spectrum_filters(k, (64, 80), snr=100.0)
    torch.testing.assert_close(torch.fft.irfft2(torch.fft.rfft2(x) * blur_f, s=(64, 80)),
                               blur(x, k))
    torch.testing.assert_close(
        torch.fft.irfft2(torch.fft.rfft2(x) * wiener_f, s=(64, 80)), wiener_deconv(x, k, snr=100.0)
    )


@pytest.mark.realdata
def test_training_resumes_exactly(data_root, tmp_path):
    """A run paused after 2 steps and resumed ends with the same weights as an uninterrupted one."""
    config = dict(model="wiener_denoise", steps=4, batch_size=2, crop=32, warmup_steps=2)
    whole = train_pretrained(TrainConfig(**config), tmp_path / "a", root=data_root, progress=False)
    assert train_pretrained(
        TrainConfig(**config), tmp_path / "b", root=data_root, stop_after=2, progress=False
    ) is None
    resumed = train_pretrained(
        TrainConfig(), tmp_path / "b", resume=True, root=data_root, progress=False
    )
    a, b = (torch.load(p, weights_only=True) for p in (whole, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float16 for v in a.values())
    info = json.loads((tmp_path / "b" / "wiener_denoise.json").read_text())
    assert info["config"]["steps"] == 4
    manifest = tmp_path / "assets"
    install_weights([tmp_path / "b"], manifest)
    assert set(json.loads((manifest / MANIFEST).read_text())) == {"wiener_denoise"}
    load_model("wiener_denoise", "cpu", assets=manifest)


@pytest.mark.realdata
@pytest.mark.slow
def test_pretrained_networks_beat_the_course_originals(data_root):
    """Every PSNR cell beats the course's original networks by at least 0.5 dB.

    On every 5th test image (20 of 100, about a minute on 2 CPU cores); the figures on all 100
    images are in docs/instructors/results.md and in starter/assets/pretrained.json.
    """
    _, clean = BlurredBSDS300(data_root, split="test", embedded_ok=False).as_tensors()
    table = evaluate_methods(clean[::5], task3_kernel(), load_models("cpu"), seed=0)
    for method, row in COURSE_ORIGINAL.items():
        for sigma, course in row.items():
            assert table[method][sigma] >= course + 0.5, (method, sigma, table[method][sigma])
