"""Training and evaluating denoisers: the engine behind Task 2.

``train`` fits ``model`` so that ``model(x + σn) ≈ x`` on clean patches ``x`` with fresh
Gaussian noise every step (MSE loss, Adam), and ``evaluate_model`` reports mean PSNR on
whole images at several noise levels. Both take ``device`` and ``seed`` explicitly.

Speed options, all explicit arguments (defaults in brackets):

- ``precision`` ["auto"]: ``"fp32"``, or ``"bf16"`` autocast for convolutions. ``"auto"``
  picks bf16 only where it is faster than fp32: on CUDA GPUs that support it, and on CPUs
  with native bf16 units (AMX-BF16 / AVX512-BF16, see ``starter.device``); elsewhere fp32.
- ``channels_last`` [True]: NHWC memory layout, which oneDNN/cuDNN convolutions prefer.
- The loop never calls ``.item()``: losses are stored on the device and read once at the
  end; the progress bar shows the running loss every ``log_every`` steps only.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from starter.device import cpu_has_native_bf16, default_device
from starter.imaging import add_noise
from starter.metrics import psnr


@dataclass
class History:
    """What ``train`` returns: per-step losses and per-epoch means (MSE on noisy patches)."""

    step_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    seconds: float = 0.0
    precision: str = "fp32"


def resolve_precision(precision: str, device: torch.device) -> str:
    """Turn ``"auto"`` into ``"bf16"`` or ``"fp32"`` for ``device`` (see module docstring)."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"


def _autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _image_generator(seed: int, index: int, device: torch.device) -> torch.Generator:
    """Noise generator for test image ``index``: the same noise whatever the batch size."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + index)


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def train(
    model: nn.Module,
    patches: torch.Tensor,
    *,
    sigma: float = 0.1,
    epochs: int = 2,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    precision: str = "auto",
    channels_last: bool = True,
    max_steps: int | None = None,
    progress: bool = True,
    log_every: int = 50,
) -> History:
    """Train a denoiser on clean patches with fresh noise of std ``sigma`` at every step.

    Args:
        model: maps noisy ``(B, C, h, w)`` to denoised ``(B, C, h, w)``; trained in place.
        patches: clean training patches ``(N, C, h, w)``, float32 in [0, 1]; moved to
            ``device`` once.
        sigma: noise standard deviation (images in [0, 1]).
        epochs, batch_size, lr: Adam with learning rate ``lr``; each epoch visits every
            patch once in a seeded random order (the last batch may be smaller).
        seed: seeds the model-independent randomness (shuffling and noise).
        device: where to train; default CUDA if available, else CPU.
        precision, channels_last: speed options, see the module docstring.
        max_steps: stop after this many steps in total (short schedules, e.g. grading).
        progress: show a tqdm progress bar.
        log_every: steps between progress-bar loss updates (each one is a host sync).

    Returns:
        a ``History`` with the loss of every step and the mean loss of every epoch.
    """
    if patches.ndim != 4:
        raise ValueError(f"patches must be (N, C, h, w), got {tuple(patches.shape)}")
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"need epochs >= 1 and batch_size >= 1, got {epochs}, {batch_size}")
    device = torch.device(device) if device is not None else default_device()
    precision = resolve_precision(precision, device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    model.to(device=device, memory_format=memory_format).train()
    data = patches.to(device=device, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator(device=device).manual_seed(seed + 1)

    n = data.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total = (
        steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    )
    losses = torch.zeros(total, device=device)

    start = time.perf_counter()
    step = 0
    bar = tqdm(total=total, desc="train", disable=not progress, unit="step")
    for _epoch in range(epochs):
        for idx in _batches(n, batch_size, shuffle_gen):
            if step >= total:
                break
            clean = data[idx.to(device)].contiguous(memory_format=memory_format)
            noisy = add_noise(clean, sigma, generator=noise_gen)
            with _autocast(precision, device):
                out = model(noisy)
            loss = nn.functional.mse_loss(out.float(), clean)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses[step] = loss.detach()
            step += 1
            bar.update(1)
            if progress and log_every and step % log_every == 0:
                bar.set_postfix(loss=f"{losses[step - log_every : step].mean().item():.2e}")
    bar.close()
    step_loss = losses[:step].cpu()
    epoch_loss = [
        step_loss[i : i + steps_per_epoch].mean().item() for i in range(0, step, steps_per_epoch)
    ]
    return History(
        step_loss=step_loss.tolist(),
        epoch_loss=epoch_loss,
        steps_per_epoch=steps_per_epoch,
        seconds=time.perf_counter() - start,
        precision=precision,
    )


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    images: torch.Tensor,
    sigmas: Sequence[float] = (0.05, 0.1, 0.2),
    *,
    seed: int = 0,
    batch_size: int = 8,
    device: torch.device | str | None = None,
    precision: str = "fp32",
    channels_last: bool = True,
    progress: bool = False,
) -> dict[float, float]:
    """Mean PSNR (dB) of ``model`` denoising ``images`` at each noise level.

    For each ``sigma`` the noisy inputs are ``images + sigma * n``, where the noise ``n`` of
    image ``i`` depends only on ``(seed, i)``: every model, batch size and noise level sees
    the same noise pattern (common random numbers, fair comparisons). PSNR is
    computed per image against the clean image, without clipping, and averaged.

    Args:
        model: the denoiser; put in eval mode.
        images: clean images ``(N, C, H, W)``, float32 in [0, 1].
        sigmas: noise standard deviations to test.
        seed, batch_size, device: noise seed, images per forward pass, where to compute.
        precision, channels_last: as in ``train``; fp32 by default for exact evaluation.
        progress: show a progress bar over noise levels × batches.

    Returns:
        ``{sigma: mean PSNR in dB}``.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
    device = torch.device(device) if device is not None else default_device()
    precision = resolve_precision(precision, device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format).eval()
    results: dict[float, float] = {}
    n = images.shape[0]
    bar = tqdm(total=len(sigmas) * math.ceil(n / batch_size), desc="evaluate", disable=not progress)
    for sigma in sigmas:
        scores = []
        for start in range(0, n, batch_size):
            clean = images[start : start + batch_size].to(device=device, dtype=torch.float32)
            noise = torch.stack(
                [
                    torch.randn(
                        clean.shape[1:], generator=_image_generator(seed, i, device), device=device
                    )
                    for i in range(start, start + clean.shape[0])
                ]
            )
            noisy = (clean + sigma * noise).contiguous(memory_format=memory_format)
            with _autocast(precision, device):
                out = model(noisy)
            scores.append(psnr(out.float(), clean, reduction="none"))
            bar.update(1)
        results[float(sigma)] = torch.cat(scores).mean().item()
    bar.close()
    return results
