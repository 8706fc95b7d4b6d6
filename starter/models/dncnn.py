"""DnCNN, the residual denoising CNN of Zhang et al. (2017), in a shallow form."""

from __future__ import annotations

import torch
from torch import nn

COURSE_HIDDEN_LAYERS = 3
"""Hidden conv + ReLU blocks of the course's DnCNN: five convolutions in all."""


class DnCNN(nn.Module):
    """Residual denoiser ``x̂ = y − f(y)``: the convolutions estimate the noise, not the image.

    Layers: 3×3 conv (in → hidden) + ReLU, ``hidden_layers`` × [3×3 conv (hidden → hidden) +
    ReLU], 3×3 conv (hidden → in). No batch normalisation, so with ``use_bias=False`` the
    whole network is bias-free and hence positively homogeneous: ``f(αy) = αf(y)`` for every
    input ``y`` and every α > 0 (scale the whole noisy image and the output scales with it).
    It is also piecewise linear, ``f(y) = A_y y``: locally a linear filter adapted to the
    input, whose behaviour does not depend on the input's scale. Biases, trained at one noise
    level, act like thresholds tuned to that level; Mohan et al. (ICLR 2020, "Robust and
    interpretable blind image denoising via bias-free convolutional neural networks") show
    that bias-free denoisers generalise to noise levels outside the training range where
    the same networks with biases fail.

    Args:
        in_channels: image channels (3 for RGB).
        hidden_channels: feature maps in every hidden layer.
        hidden_layers: number of hidden conv + ReLU blocks between the first and last conv.
            The default, 3 (five convolutions, an 11×11 receptive field), is the course's
            starter code. The original DnCNN (Zhang et al.) has 15 hidden layers, 64 channels
            and batch normalisation.
        use_bias: whether the convolutions have additive biases.

    Shapes: input and output ``(N, in_channels, H, W)``, any H, W (zero padding keeps size).
    """

    def __init__(
        self,
        in_channels: int = 3,
        hidden_channels: int = 64,
        hidden_layers: int = COURSE_HIDDEN_LAYERS,
        use_bias: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or hidden_channels < 1 or hidden_layers < 0:
            raise ValueError(
                "need in_channels >= 1, hidden_channels >= 1, hidden_layers >= 0; got "
                f"{in_channels}, {hidden_channels}, {hidden_layers}"
            )
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.hidden_layers = hidden_layers
        self.use_bias = use_bias
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, hidden_channels, 3, padding=1, bias=use_bias),
            nn.ReLU(inplace=True),
        ]
        for _ in range(hidden_layers):
            layers += [
                nn.Conv2d(hidden_channels, hidden_channels, 3, padding=1, bias=use_bias),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(hidden_channels, in_channels, 3, padding=1, bias=use_bias))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"DnCNN expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        return x - self.net(x)
