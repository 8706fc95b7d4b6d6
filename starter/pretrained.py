"""The Task 3 pretrained U-Nets: loading them (checksum-verified) and measuring them.

Two residual ``UNet(3, 3, base_features=16, depth=4)`` networks ship in ``starter/assets/``
as float16 state dicts, with a manifest (``pretrained.json``) that gives each file's
sha256 and the configuration that trained it (``python -m starter.train_pretrained``):

- ``deblur_denoise``: blurred + noisy image ``y = k ⊛ x + σn`` → clean image ``x``;
- ``wiener_denoise``: ``wiener_deconv(y, k, snr=100)`` → clean image ``x``.

Example:
    >>> from starter.pretrained import load_models
    >>> models = load_models(device="cpu")  # doctest: +SKIP
    >>> x_hat = models.deblur_denoise(y)  # doctest: +SKIP  (y: (N, 3, 320, 480))
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from starter.device import default_device
from starter.imaging import blur, wiener_deconv
from starter.metrics import psnr
from starter.models import UNet

MODEL_NAMES = ("deblur_denoise", "wiener_denoise")
"""The pretrained models, in the order of :class:`PretrainedModels`."""

MANIFEST = "pretrained.json"
"""The manifest in the assets folder: per model its file, sha256 and training configuration."""

METHODS = ("wiener", "unet", "wiener_unet")
"""The three Task 3 methods compared by :func:`evaluate_methods`."""

PathLike = str | os.PathLike[str]


class PretrainedModels(NamedTuple):
    """The two Task 3 networks, in eval mode (``(N, 3, H, W)`` → ``(N, 3, H, W)``, H, W % 16 == 0)."""

    deblur_denoise: UNet
    wiener_denoise: UNet


def assets_dir() -> Path:
    """The folder that holds the shipped weights and their manifest (package data)."""
    return Path(__file__).resolve().parent / "assets"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(assets: PathLike | None = None) -> dict:
    """The manifest ``{model name: {"file", "sha256", "architecture", "config", ...}}``."""
    folder = Path(assets) if assets is not None else assets_dir()
    path = folder / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"no pretrained-model manifest at {path}; reinstall the kit (pip install -e .) "
            f"or train the models with `python -m starter.train_pretrained`"
        )
    return json.loads(path.read_text())


def load_model(
    name: str, device: torch.device | str | None = None, assets: PathLike | None = None
) -> UNet:
    """One pretrained network, float32, in eval mode on ``device``.

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
    digest = _sha256(path)
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
    return model.to(device).eval()


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

    Returns:
        float32 ``(N, C, H, W)`` on the device of ``inputs``.
    """
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be (N, C, H, W), got {tuple(inputs.shape)}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    outs = [
        model(inputs[i : i + batch_size].to(device=device, dtype=torch.float32)).to(inputs.device)
        for i in range(0, inputs.shape[0], batch_size)
    ]
    return torch.cat(outs)


def image_noise(shape: Sequence[int], seed: int, index: int) -> torch.Tensor:
    """Standard normal noise ``shape`` for test image ``index``: depends only on ``(seed, index)``.

    Every method and noise level then sees the same noise pattern (common random numbers).
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
    return torch.randn(tuple(shape), generator=generator)


@torch.no_grad()
def evaluate_methods(
    clean: torch.Tensor,
    kernel: torch.Tensor,
    models: PretrainedModels,
    sigmas: Sequence[float] = (0.005, 0.01, 0.02),
    *,
    snr: float = 100.0,
    seed: int = 0,
    batch_size: int = 4,
    progress: bool = False,
) -> dict[str, dict[float, float]]:
    """Mean PSNR (dB) of Wiener, U-Net and Wiener + U-Net on ``clean`` images.

    For each ``σ`` the measurement of image ``i`` is ``blur(x_i, kernel) + σ n_i``, with
    ``n_i`` from :func:`image_noise` ``(seed, i)``. PSNR per image against the clean image,
    without clipping, then averaged.

    Args:
        clean: ``(N, 3, H, W)`` float images in [0, 1], H and W divisible by 16.
        kernel: ``(kh, kw)`` blur kernel.
        models: from :func:`load_models`; evaluated on their own device.
        sigmas: noise standard deviations.
        snr: Wiener's signal-to-noise ratio.

    Returns:
        ``{"wiener" | "unet" | "wiener_unet": {σ: PSNR}}``.
    """
    from tqdm.auto import tqdm

    if clean.ndim != 4:
        raise ValueError(f"clean must be (N, C, H, W), got {tuple(clean.shape)}")
    clean = clean.float().cpu()
    scores: dict[str, dict[float, list[torch.Tensor]]] = {
        m: {float(s): [] for s in sigmas} for m in METHODS
    }
    n = clean.shape[0]
    bar = tqdm(total=len(sigmas) * n, desc="evaluate", disable=not progress)
    for start in range(0, n, batch_size):
        x = clean[start : start + batch_size]
        noise = torch.stack([image_noise(x.shape[1:], seed, i) for i in range(start, start + len(x))])
        blurred = blur(x, kernel)
        for sigma in sigmas:
            y = blurred + sigma * noise
            w = wiener_deconv(y, kernel, snr=snr)
            outputs = {
                "wiener": w,
                "unet": predict(models.deblur_denoise, y, batch_size),
                "wiener_unet": predict(models.wiener_denoise, w, batch_size),
            }
            for method, out in outputs.items():
                scores[method][float(sigma)].append(psnr(out, x, reduction="none"))
            bar.update(len(x))
    bar.close()
    return {
        m: {s: torch.cat(v).mean().item() for s, v in per_sigma.items()}
        for m, per_sigma in scores.items()
    }
