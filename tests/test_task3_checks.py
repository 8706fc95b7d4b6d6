"""Task 3's hidden-test checks catch each wrong pipeline and accept the right one (no data needed)."""

from __future__ import annotations

import pytest
import torch

from starter.imaging import add_noise, blur
from starter.kernels import task3_kernel

task3 = pytest.importorskip("dlci_grader.checks.task3")

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
