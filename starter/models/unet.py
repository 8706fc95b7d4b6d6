"""A residual U-Net (Ronneberger et al., 2015) for image restoration."""

from __future__ import annotations

import torch
from torch import nn


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with skip connections and a residual output, ``x̂ = y + f(y)``.

    ``depth`` down-sampling stages (2×2 max-pool), each preceded by two 3×3 conv + ReLU;
    the features double at every stage from ``base_features``; the decoder up-samples with
    2×2 transposed convolutions and concatenates the encoder's features of the same scale.
    A final 1×1 conv maps to ``out_channels``; the input is added back (residual learning),
    so an untrained network starts near the identity. The course's reference size is
    ``depth=4, base_features=16`` (about 1.9 M parameters).

    Shapes: ``(N, in_channels, H, W)`` → ``(N, out_channels, H, W)``, with H and W
    divisible by ``2**depth`` (16 for the reference size), e.g. 320 × 480 test images.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        base_features: int = 16,
        depth: int = 4,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if residual and in_channels != out_channels:
            raise ValueError("a residual U-Net needs in_channels == out_channels")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.depth, self.residual = depth, residual
        feats = [base_features * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for f in feats[:-1]:
            self.down.append(_double_conv(cin, f))
            cin = f
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(feats[-2], feats[-1])
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for f_low, f in zip(reversed(feats[1:]), reversed(feats[:-1]), strict=True):
            self.up.append(nn.ConvTranspose2d(f_low, f, 2, stride=2))
            self.dec.append(_double_conv(2 * f, f))
        self.head = nn.Conv2d(feats[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.depth
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"UNet expects (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(
                f"UNet of depth {self.depth} needs H and W divisible by {factor}, "
                f"got {tuple(x.shape[-2:])}; crop or pad the image first"
            )
        skips = []
        h = x
        for block in self.down:
            h = block(h)
            skips.append(h)
            h = self.pool(h)
        h = self.bottleneck(h)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips), strict=True):
            h = dec(torch.cat([up(h), skip], dim=1))
        out = self.head(h)
        return x + out if self.residual else out
