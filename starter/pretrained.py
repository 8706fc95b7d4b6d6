"""The Task 3 pretrained U-Nets: loading them (checksum-verified) and running them in batches.

Two residual ``UNet(3, 3, base_features=16, depth=4)`` networks ship in ``starter/assets/``
as float16 state dicts, with a manifest (``pretrained.json``) that gives each file's
sha256 and the configuration that trained it (made by the instructor tools' reproducible
training script, ``train_pretrained``, which is not part of this package):

- ``deblur_denoise``: blurred + noisy image ``y = k ⊛ x + σn`` → clean image ``x``;
- ``wiener_denoise``: Wiener deconvolution (SNR 100) of ``y`` → clean image ``x``.

Example:
    >>> from starter.pretrained import load_models, predict
    >>> models = load_models(device="cpu")  # doctest: +SKIP
    >>> x_hat = predict(models.deblur_denoise, y)  # doctest: +SKIP  (y: (N, 3, 320, 480))
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from starter.device import default_device
from starter.hashing import sha256_file
from starter.models import UNet

MODEL_NAMES = ("deblur_denoise", "wiener_denoise")
"""The pretrained models, in the order of :class:`PretrainedModels`."""

MANIFEST = "pretrained.json"
"""The manifest in the assets folder: per model its file, sha256 and training configuration."""

PathLike = str | os.PathLike[str]


class PretrainedModels(NamedTuple):
    """The two Task 3 networks, in eval mode (``(N, 3, H, W)`` → ``(N, 3, H, W)``, H, W % 16 ==
    0)."""

    deblur_denoise: UNet
    wiener_denoise: UNet


def assets_dir() -> Path:
    """The folder that holds the shipped weights and their manifest (package data)."""
    return Path(__file__).resolve().parent / "assets"


def load_manifest(assets: PathLike | None = None) -> dict[str, Any]:
    """The manifest ``{model name: {"file", "sha256", "architecture", "config", ...}}``."""
    folder = Path(assets) if assets is not None else assets_dir()
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"no pretrained-model manifest at {path}; reinstall the kit (pip install -e .) "
            f"(the instructor tools' train_pretrained script writes the weights)"
        )
    return json.loads(path.read_text())


def load_model(
    name: str, device: torch.device | str | None = None, assets: PathLike | None = None
) -> UNet:
    """One pretrained network, float32, in eval mode on ``device``.

    Its weights are in the channels-last memory layout, which oneDNN and cuDNN convolutions
    prefer (measured on a 2-core CPU: 1.7x faster in float32, 1.6x in bf16 autocast, outputs
    within 1e-6 of the default layout); it takes and returns ordinary ``(N, C, H, W)`` tensors.

    Args:
        name: ``"deblur_denoise"`` or ``"wiener_denoise"``.
        device: default CUDA when available, else CPU.
        assets: folder with the weights and manifest; default the package's ``assets/``.

    Raises:
        ValueError: unknown name, or the weight file's sha256 differs from the manifest's
            (a corrupted or replaced file).
        FileNotFoundError: the manifest or the weight file is missing.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"name must be one of {MODEL_NAMES}, got {name!r}")
    folder = Path(assets) if assets is not None else assets_dir()
    manifest = load_manifest(folder)
    if name not in manifest:
        raise FileNotFoundError(f"the manifest {folder / MANIFEST} lists no model {name!r}")
    entry = manifest[name]
    path = folder / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(f"weights of {name!r} not found at {path}; reinstall the kit")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise ValueError(
            f"checksum mismatch for {path}: sha256 {digest}, the manifest expects "
            f"{entry['sha256']}; the file is corrupted or was replaced, reinstall the kit"
        )
    arch = entry["architecture"]
    model = UNet(
        arch["in_channels"],
        arch["out_channels"],
        base_features=arch["base_features"],
        depth=arch["depth"],
        residual=arch["residual"],
    )
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    device = torch.device(device) if device is not None else default_device()
    return model.to(device=device, memory_format=torch.channels_last).eval()  # type: ignore[call-overload]  # torch's stubs omit to(device=, memory_format=), which it accepts


def load_models(
    device: torch.device | str | None = None, assets: PathLike | None = None
) -> PretrainedModels:
    """Both pretrained networks (see :func:`load_model`), as a named tuple."""
    return PretrainedModels(*(load_model(name, device, assets) for name in MODEL_NAMES))


@torch.no_grad()
def predict(
    model: nn.Module,
    inputs: torch.Tensor,
    batch_size: int = 4,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Run ``model`` on ``inputs`` ``(N, C, H, W)`` in batches, without gradients.

    Each batch goes to ``device`` (default: the model's), through the model, and back. Under
    ``torch.autocast`` the model runs in that precision; the result is float32 in any case.

    Args:
        model: e.g. ``load_models(device).deblur_denoise``.
        inputs: ``(N, C, H, W)`` float images (any device).
        batch_size: images per forward pass (memory grows with it).
        device: where the model runs.

    Returns:
        float32 ``(N, C, H, W)`` on the device of ``inputs``.
    """
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be (N, C, H, W), got {tuple(inputs.shape)}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    outs = [
        model(inputs[i : i + batch_size].to(device=device, dtype=torch.float32))
        .to(device=inputs.device, dtype=torch.float32)
        for i in range(0, inputs.shape[0], batch_size)
    ]
    return torch.cat(outs).contiguous()
