"""The shipped Task 3 kernel is what its provenance says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from starter.kernels import TASK3_KERNEL_PIXELS, kernel_from_digit, task3_kernel

pytestmark = pytest.mark.foundation


@pytest.mark.realdata
def test_shipped_kernel_equals_derivation_from_mnist(mnist_first10_csv):
    first = np.loadtxt(mnist_first10_csv, delimiter=",", max_rows=1)
    assert first[0] == 5, "the first MNIST training digit is a 5"
    derived = kernel_from_digit(first[1:])
    torch.testing.assert_close(task3_kernel(torch.float64), derived, rtol=0, atol=1e-15)


def test_kernel_is_normalised_and_nonnegative():
    k = task3_kernel()
    assert k.shape == (7, 7) and k.dtype == torch.float32
    assert abs(k.sum().item() - 1) < 1e-6 and (k >= 0).all()
    assert np.asarray(TASK3_KERNEL_PIXELS).max() <= 255


def test_kernel_from_digit_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(1, 10, 10\)"):
        kernel_from_digit(np.ones((1, 10, 10)))
    with pytest.raises(ValueError, match="no positive"):
        kernel_from_digit(np.zeros((28, 28)))
