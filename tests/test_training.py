"""The training engine learns, is reproducible, and evaluates fairly."""

from __future__ import annotations

import pytest
import torch

from starter.models import DnCNN
from starter.training import evaluate_model, resolve_precision, train

pytestmark = pytest.mark.foundation


def smooth_patches(n: int, seed: int) -> torch.Tensor:
    """Piecewise-smooth synthetic patches: low-pass noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(low, size=(16, 16), mode="bilinear", align_corners=False)


def test_training_reduces_loss_and_beats_the_noisy_input():
    torch.manual_seed(0)
    model = DnCNN(hidden_channels=16, hidden_layers=2)
    hist = train(
        model,
        smooth_patches(512, 0),
        sigma=0.1,
        epochs=4,
        lr=3e-3,
        batch_size=32,
        device="cpu",
        progress=False,
    )
    assert len(hist.step_loss) == 4 * 16 and len(hist.epoch_loss) == 4
    # an untrained residual net returns its input: loss = sigma^2 = 0.01
    assert hist.epoch_loss[-1] < 0.7 * 0.1**2
    test = smooth_patches(16, 1)
    res = evaluate_model(model, test, sigmas=(0.1,), device="cpu")
    noisy_psnr = 20.0  # PSNR of the noisy input at sigma = 0.1
    assert res[0.1] > noisy_psnr + 1.5


def test_training_is_reproducible_with_a_seed():
    runs = []
    for _ in range(2):
        torch.manual_seed(1)
        model = DnCNN(hidden_channels=8, hidden_layers=1)
        runs.append(
            train(
                model,
                smooth_patches(64, 0),
                epochs=1,
                batch_size=16,
                seed=5,
                device="cpu",
                progress=False,
            ).step_loss
        )
    assert runs[0] == runs[1]


def test_evaluation_does_not_depend_on_batch_size():
    model = DnCNN(hidden_channels=8, hidden_layers=1)
    images = smooth_patches(5, 2)
    a = evaluate_model(model, images, sigmas=(0.05, 0.2), batch_size=1, device="cpu")
    b = evaluate_model(model, images, sigmas=(0.05, 0.2), batch_size=4, device="cpu")
    assert a == pytest.approx(b, abs=1e-4)


def test_precision_auto_and_bad_input():
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cpu")) in ("fp32", "bf16")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(ValueError, match=r"\(3, 16, 16\)"):
        train(DnCNN(), torch.rand(3, 16, 16), progress=False)
