"""DnCNN, the residual denoising CNN of Zhang et al. (2017), in a shallow form."""

from __future__ import annotations

import torch
from torch import nn


class DnCNN(nn.Module):
    """Residual denoiser ``x̂ = y − f(y)``: the convolutions estimate the noise, not the image.

    Layers: 3×3 conv (in → hidden) + ReLU, ``hidden_layers`` × [3×3 conv (hidden → hidden) +
    ReLU], 3×3 conv (hidden → in). No batch normalisation, so with ``use_bias=False`` the
    whole network is bias-free and hence positively homogeneous, ``f(αy) = αf(y)`` for α > 0
    (Mohan et al., ICLR 2020): the property that lets it generalise across noise levels.

    Args:
        in_channels: image channels (3 for RGB).
        hidden_channels: feature maps in every hidden layer.
        hidden_layers: number of hidden conv + ReLU blocks between the first and last conv.
            The default, 4 (six convolutions, a 13×13 receptive field), is the course's
            configuration: with biases, 32 channels, 2 epochs at σ = 0.1 (batch 32, Adam 1e-3,
            ``starter.training.train``) it gives 31.36 / 29.78 / 21.72 dB at σ = 0.05 / 0.1 /
            0.2 on the 100 BSDS300 test images, near the course reference script's
            31.5 / 29.6 / 22.2 dB. The original DnCNN has 15 hidden layers and 64 channels.
        use_bias: whether the convolutions have additive biases.

    Shapes: input and output ``(N, in_channels, H, W)``, any H, W (zero padding keeps size).
    """

    def __init__(
        self,
        in_channels: int = 3,
        hidden_channels: int = 64,
        hidden_layers: int = 4,
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
