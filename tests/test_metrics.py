"""PSNR agrees with scikit-image and rejects mismatched inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from starter.metrics import psnr

pytestmark = pytest.mark.foundation


def test_psnr_matches_scikit_image_per_image():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 20, 30, generator=g)
    y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    ours = psnr(x, y, reduction="none")
    ref = [peak_signal_noise_ratio(x[i].numpy(), y[i].numpy(), data_range=1) for i in range(4)]
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6)
    assert math.isclose(psnr(x, y).item(), float(np.mean(ref)), rel_tol=1e-6)


def test_psnr_known_value_and_identical_images():
    x = torch.zeros(2, 1, 4, 4)
    assert psnr(x, x + 0.1).item() == pytest.approx(20.0)
    assert math.isinf(psnr(x, x).item())


def test_psnr_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\) and \(1, 3, 8, 9\)"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match="reduction"):
        psnr(torch.zeros(1, 3), torch.zeros(1, 3), reduction="sum")
