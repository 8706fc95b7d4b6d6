"""The models have the structure the course describes."""

from __future__ import annotations

import pytest
import torch

from starter.models import DnCNN, UNet

pytestmark = pytest.mark.foundation


@pytest.mark.parametrize("use_bias", [True, False])
def test_dncnn_structure_and_residual(use_bias):
    net = DnCNN(hidden_channels=8, hidden_layers=2, use_bias=use_bias)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4
    assert all((c.bias is not None) == use_bias for c in convs)
    assert all(c.kernel_size == (3, 3) for c in convs)
    # residual: zero the last conv and the network is the identity
    torch.nn.init.zeros_(convs[-1].weight)
    if use_bias:
        torch.nn.init.zeros_(convs[-1].bias)
    x = torch.rand(2, 3, 10, 12)
    torch.testing.assert_close(net(x), x)


def test_bias_free_dncnn_is_positively_homogeneous():
    torch.manual_seed(0)
    net = DnCNN(hidden_channels=8, hidden_layers=2, use_bias=False).double()
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(net(3.0 * x), 3.0 * net(x))
    biased = DnCNN(hidden_channels=8, hidden_layers=2, use_bias=True).double()
    assert not torch.allclose(biased(3.0 * x), 3.0 * biased(x))


def test_unet_reference_size_shapes_and_residual():
    net = UNet()  # depth 4, 16 base features
    assert 1.5e6 < sum(p.numel() for p in net.parameters()) < 2.5e6
    x = torch.rand(1, 3, 32, 48)
    assert net(x).shape == x.shape
    torch.nn.init.zeros_(net.head.weight)
    torch.nn.init.zeros_(net.head.bias)
    torch.testing.assert_close(net(x), x)


def test_unet_rejects_sizes_not_divisible_by_16():
    with pytest.raises(ValueError, match=r"divisible by 16.*\(321, 481\)"):
        UNet()(torch.rand(1, 3, 321, 481))
    with pytest.raises(ValueError, match=r"\(1, 1, 32, 32\)"):
        UNet()(torch.rand(1, 1, 32, 32))


def test_dncnn_default_depth_is_the_course_starter_code():
    """``DnCNN()`` is the course's network: five 3×3 convolutions (three hidden blocks)."""
    from starter.models.dncnn import COURSE_HIDDEN_LAYERS

    net = DnCNN(hidden_channels=8)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert COURSE_HIDDEN_LAYERS == net.hidden_layers == 3 and len(convs) == 5
    relus = [m for m in net.net if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 4 and isinstance(net.net[-1], torch.nn.Conv2d)  # no ReLU at the end
