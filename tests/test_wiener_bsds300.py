"""Acceptance: Wiener deconvolution on the real BSDS300 test set gives the course's figures."""

from __future__ import annotations

import pytest
import torch

from starter.data import BlurredBSDS300
from starter.imaging import add_noise
from starter.kernels import task3_kernel
from starter.metrics import psnr

wiener_deconv = pytest.importorskip("dlci_grader.tasks.task3.reference").wiener_deconv

pytestmark = [pytest.mark.foundation, pytest.mark.task3, pytest.mark.realdata]

# Published in shared/data/README.md: mean PSNR over the 100 test images, SNR = 100.
COURSE_WIENER_PSNR = {0.005: 32.17, 0.01: 28.15, 0.02: 22.86}


@pytest.fixture(scope="module")
def blurred_test_set(data_root):
    data = BlurredBSDS300(data_root, split="test", embedded_ok=False)
    assert len(data) == 100 and data.source == "real"
    return data.as_tensors()


@pytest.mark.parametrize("sigma", sorted(COURSE_WIENER_PSNR))
def test_wiener_matches_course_figures(blurred_test_set, sigma):
    blurred, clean = blurred_test_set
    assert clean.shape == (100, 3, 320, 480)
    noisy = add_noise(blurred, sigma, generator=torch.Generator().manual_seed(0))
    got = psnr(wiener_deconv(noisy, task3_kernel(), snr=100.0), clean).item()
    assert got == pytest.approx(COURSE_WIENER_PSNR[sigma], abs=0.02), f"σ={sigma}: {got:.3f} dB"

