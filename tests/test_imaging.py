"""The imaging operators obey their maths: blur is circular convolution, Wiener inverts it.

``blur``, ``psf2otf`` and ``add_noise`` are the student package's; Wiener deconvolution is the
instructor's reference (``dlci_grader.tasks.task3.reference``: it answers a graded part of
Task 3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from starter.imaging import add_noise, blur, psf2otf
from starter.kernels import task3_kernel
from starter.metrics import psnr

pytestmark = pytest.mark.foundation


@pytest.fixture
def wiener_deconv():
    """The reference Wiener filter (instructor side; skipped without the autograder)."""
    return pytest.importorskip("dlci_grader.tasks.task3.reference").wiener_deconv


def direct_circular_conv(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Textbook circular convolution centred on the kernel's middle element."""
    H, W = x.shape
    kh, kw = k.shape
    out = np.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            out += k[i, j] * np.roll(x, shift=(i - kh // 2, j - kw // 2), axis=(0, 1))
    return out


@pytest.mark.parametrize("kshape", [(3, 3), (7, 7), (4, 5)])
def test_blur_equals_direct_circular_convolution(kshape):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 17, 23, generator=g, dtype=torch.float64)
    k = torch.rand(kshape, generator=g, dtype=torch.float64)
    got = blur(x, k)
    want = np.stack(
        [[direct_circular_conv(x[n, c].numpy(), k.numpy()) for c in range(3)] for n in range(2)]
    )
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)


def test_psf2otf_of_delta_is_flat():
    k = torch.zeros(5, 5, dtype=torch.float64)
    k[2, 2] = 1.0
    otf = psf2otf(k, (16, 20))
    assert otf.shape == (16, 20)
    torch.testing.assert_close(otf, torch.ones(16, 20, dtype=torch.complex128))


def test_wiener_inverts_invertible_blur_without_noise(wiener_deconv):
    # A kernel whose OTF never vanishes: 0.6 delta + 0.4 neighbour average.
    k = torch.tensor([[0.0, 0.1, 0.0], [0.1, 0.6, 0.1], [0.0, 0.1, 0.0]], dtype=torch.float64)
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    restored = wiener_deconv(blur(x, k), k, snr=1e12)
    torch.testing.assert_close(restored, x, atol=1e-8, rtol=0)


def test_wiener_regularisation_damps_noise(wiener_deconv):
    k = task3_kernel(torch.float64)
    coarse = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bicubic").clamp(0, 1)
    y = add_noise(blur(x, k), 0.01, generator=torch.Generator().manual_seed(3))
    assert psnr(wiener_deconv(y, k, snr=100), x) > psnr(wiener_deconv(y, k, snr=1e8), x) + 5


def test_add_noise_uses_sigma_as_standard_deviation():
    x = torch.zeros(1, 1, 256, 256)
    y = add_noise(x, 0.2, generator=torch.Generator().manual_seed(0))
    assert abs(y.std().item() - 0.2) < 0.005
    same = add_noise(x, 0.2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(y, same)
    with pytest.raises(ValueError, match="standard deviation"):
        add_noise(x, -0.1)


def test_bad_shapes_raise_value_error_naming_the_shapes(wiener_deconv):
    with pytest.raises(ValueError, match=r"\(1, 2, 3\)"):
        wiener_deconv(torch.zeros(4, 4), torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="larger than the image"):
        wiener_deconv(torch.zeros(1, 1, 4, 4), torch.ones(7, 7))
    with pytest.raises(ValueError, match=r"\(5,\)"):
        wiener_deconv(torch.zeros(5), torch.ones(3, 3))
    with pytest.raises(ValueError, match="snr"):
        wiener_deconv(torch.zeros(1, 1, 8, 8), torch.ones(3, 3), snr=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_operators_run_on_cuda(wiener_deconv):
    x = torch.rand(1, 3, 32, 32, device="cuda")
    k = task3_kernel(device="cuda")
    y = wiener_deconv(add_noise(blur(x, k), 0.01), k)
    assert y.device.type == "cuda"
