"""Train the Task 3 pretrained U-Nets: the reproducible recipe behind ``starter/assets/``.

Instructor side (it builds on the reference Wiener filter, :mod:`dlci_grader.tasks.task3.reference`,
which the student package must not hold); the weights it writes ship in ``starter``.

Two models, both ``UNet(3, 3, base_features=16, depth=4)`` (residual, about 1.9 M
parameters), trained on the 200 BSDS300 *training* images with the Task 3 kernel:

- ``deblur_denoise``: input ``y = k ⊛ x + σn`` (blurred and noisy), target ``x``;
- ``wiener_denoise``: input :func:`~dlci_grader.tasks.task3.reference.wiener_deconv` ``(y, k,
snr=100)``, target ``x``.

One training step draws, for each of ``batch_size`` images: a training image, a random
horizontal/vertical flip of the *clean* image (the blur is applied after the flip, so the
physics is unchanged), a noise level ``σ`` (log-uniform in ``[sigma_min, sigma_max]`` by
default), the circular blur of the whole 320x480 image, fresh Gaussian noise, Wiener
deconvolution of the whole image (second model only), and then a random ``crop``x``crop``
window. Blurring and deconvolving the whole image before cropping makes the training
inputs look exactly like windows of the test-time inputs, borders included. Loss: MSE;
optimiser: Adam with a cosine learning-rate decay over the whole run (a few warm-up steps).

Everything random comes from one seeded ``torch.Generator`` (plus the seeded weight
initialisation); checkpoints hold the model, the optimiser, that generator's state and the
step, so ``--resume`` continues the very same run.

Usage::

    python -m dlci_grader.offline.train_pretrained --model deblur_denoise --minutes 55 --out runs/dd
    python -m dlci_grader.offline.train_pretrained --model deblur_denoise --out runs/dd --resume

``--minutes`` fixes the number of steps from the speed measured over the first steps (the
number is stored in the checkpoint and in ``config.json``; ``--steps`` fixes it directly).
At the end the run writes ``<model>.pt`` (fp16 state dict, loadable with
``torch.load(..., weights_only=True)``) and ``<model>.json`` (configuration, training time,
sha256 of the weights) into ``--out``; :func:`install_weights` copies them into the
``starter`` package's ``assets/`` folder and updates its manifest, which
:mod:`starter.pretrained` reads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from dlci_grader.tasks.task3.reference import wiener_deconv
from starter.data import CLEAN_SHAPE, load_bsds300
from starter.hashing import sha256_file
from starter.imaging import psf2otf
from starter.kernels import task3_kernel
from starter.models import UNet
from starter.pretrained import MANIFEST, MODEL_NAMES, assets_dir


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored with the checkpoint and the weights)."""

    model: str = "deblur_denoise"
    seed: int = 0
    steps: int = 0  # 0: decided from --minutes after the speed measurement
    batch_size: int = 8
    crop: int = 128
    lr: float = 1e-3
    lr_min: float = 1e-5
    warmup_steps: int = 50
    sigma_min: float = 0.003
    sigma_max: float = 0.03
    sigma_sampling: str = "loguniform"
    wiener_snr: float = 100.0
    flips: bool = True
    base_features: int = 16
    depth: int = 4
    data_split: str = "train"
    init_from: str = ""  # weights (a state dict file) to start from instead of random ones
    init_sha256: str = ""  # their sha256, filled in when the run starts


def make_model(config: TrainConfig) -> UNet:
    """The residual U-Net of ``config`` (weights from the global torch RNG)."""
    return UNet(3, 3, base_features=config.base_features, depth=config.depth, residual=True)


def network_input(
    y: torch.Tensor, model: str, kernel: torch.Tensor, snr: float = 100.0
) -> torch.Tensor:
    """What model ``model`` sees for the blurred, noisy images ``y`` ``(N, 3, H, W)``.

    ``"deblur_denoise"``: ``y`` itself; ``"wiener_denoise"``: ``wiener_deconv(y, kernel, snr)``.
    """
    if model == "deblur_denoise":
        return y
    if model == "wiener_denoise":
        return wiener_deconv(y, kernel, snr=snr)
    raise ValueError(f"model must be one of {MODEL_NAMES}, got {model!r}")


def sample_sigmas(config: TrainConfig, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` noise standard deviations in ``[sigma_min, sigma_max]``, shape ``(n,)``."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    lo, hi = config.sigma_min, config.sigma_max
    if config.sigma_sampling == "uniform":
        s = lo + (hi - lo) * u
    elif config.sigma_sampling == "loguniform":
        s = torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * u)
    else:
        raise ValueError(
            f"sigma_sampling must be 'uniform' or 'loguniform', got {config.sigma_sampling!r}"
        )
    return s.float()


def half_spectrum_filters(
    kernel: torch.Tensor, shape: tuple[int, int], snr: float = 100.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blur and Wiener filters on the ``rfft2`` half spectrum, each complex ``(H, W // 2 + 1)``.

    ``irfft2(rfft2(x) * blur_f)`` equals :func:`starter.imaging.blur` and
    ``irfft2(rfft2(y) * wiener_f)`` equals
    :func:`~dlci_grader.tasks.task3.reference.wiener_deconv` (same OTF,
    half the work, which matters when the data pipeline shares one CPU core with training).
    """
    otf = psf2otf(kernel.to(torch.float32), shape)[:, : shape[1] // 2 + 1]
    return otf, otf.conj() / (otf.abs() ** 2 + 1.0 / snr)


def make_batch(
    images: torch.Tensor,
    config: TrainConfig,
    kernel: torch.Tensor,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training batch ``(inputs, targets)``, each float32 ``(B, 3, crop, crop)``.

    The inputs are windows of what the test-time pipeline computes on whole images:
    ``blur(x, kernel) + σn`` for ``deblur_denoise`` (i.i.d. noise, so it is drawn on the
    window only) and ``wiener_deconv(blur(x, kernel) + σn, kernel, snr)`` for
    ``wiener_denoise`` (noise drawn on the whole image, since Wiener mixes pixels).

    Args:
        images: uint8 ``(N, 3, 321, 481)`` training images (trimmed to 320x480 here).
        config: the run's configuration (batch size, crop, noise range, model kind).
        kernel: the ``(7, 7)`` blur kernel.
        generator: the run's data generator (CPU); all randomness comes from it.
    """
    if config.model not in MODEL_NAMES:
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {config.model!r}")
    b, c = config.batch_size, config.crop
    h, w = CLEAN_SHAPE
    idx = torch.randint(len(images), (b,), generator=generator)
    clean = images[idx, :, :h, :w].float().div_(255.0)
    if config.flips:
        flips = torch.randint(2, (b, 2), generator=generator).tolist()
        for i, (fv, fh) in enumerate(flips):
            dims = [d for d, f in ((-2, fv), (-1, fh)) if f]
            if dims:
                clean[i] = clean[i].flip(dims)
    sigma = sample_sigmas(config, b, generator).view(b, 1, 1, 1)
    blur_f, wiener_f = half_spectrum_filters(kernel, (h, w), config.wiener_snr)
    spectrum = torch.fft.rfft2(clean) * blur_f
    if config.model == "wiener_denoise":
        noise = torch.randn(clean.shape, generator=generator)
        spectrum = (spectrum + torch.fft.rfft2(noise) * sigma) * wiener_f
    full = torch.fft.irfft2(spectrum, s=(h, w))
    top = torch.randint(h - c + 1, (b,), generator=generator).tolist()
    left = torch.randint(w - c + 1, (b,), generator=generator).tolist()
    windows = list(zip(top, left, strict=True))
    inputs = torch.stack([full[i, :, t : t + c, s : s + c] for i, (t, s) in enumerate(windows)])
    targets = torch.stack([clean[i, :, t : t + c, s : s + c] for i, (t, s) in enumerate(windows)])
    if config.model == "deblur_denoise":
        inputs = inputs + sigma * torch.randn(inputs.shape, generator=generator)
    return inputs, targets


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr_min`` at ``config.steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr_min + 0.5 * (config.lr - config.lr_min) * (
        1 + math.cos(math.pi * min(1.0, progress))
    )


def _save_atomic(obj: object, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_pretrained(
    config: TrainConfig,
    out: str | os.PathLike[str],
    *,
    minutes: float | None = None,
    resume: bool = False,
    root: str | os.PathLike[str] | None = None,
    device: torch.device | str = "cpu",
    checkpoint_minutes: float = 3.0,
    calibration_steps: int = 20,
    stop_after: int | None = None,
    progress: bool = True,
) -> Path | None:
    """Run (or resume) one training run; returns the path of the fp16 weights it wrote.

    Args:
        config: the run; ``config.steps == 0`` needs ``minutes`` (steps are then fixed from
            the speed of the first ``calibration_steps`` steps).
        out: folder for ``checkpoint.pt``, ``config.json``, ``loss.txt`` and the results.
        minutes: training-time budget used to fix ``steps`` (ignored when resuming).
        resume: continue from ``out/checkpoint.pt`` (its configuration wins).
        root: data root (see :func:`starter.data.resolve_data_root`); the real BSDS300
            training split is required.
        device: where to train.
        checkpoint_minutes: wall-clock minutes between checkpoints.
        stop_after: stop (with a checkpoint) after this many steps of this call, to be
            resumed later; returns None then.
        progress: show a tqdm progress bar.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"
    device = torch.device(device)
    images, ids, source = load_bsds300(root, config.data_split, embedded_ok=False)
    kernel = task3_kernel()

    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        state = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        config = TrainConfig(**state["config"])
        torch.manual_seed(config.seed)
        model = make_model(config)
        model.load_state_dict(state["model"])
        model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit to(device, memory_format=), which it accepts
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        optimizer.load_state_dict(state["optimizer"])
        generator = torch.Generator().manual_seed(config.seed)
        generator.set_state(state["generator"])
        step, elapsed, losses = state["step"], state["elapsed"], state["losses"]
    else:
        if config.model not in MODEL_NAMES:
            raise ValueError(f"model must be one of {MODEL_NAMES}, got {config.model!r}")
        if config.steps <= 0 and not minutes:
            raise ValueError("give --steps or --minutes")
        torch.manual_seed(config.seed)
        model = make_model(config)
        if config.init_from:
            config.init_sha256 = sha256_file(config.init_from)
            init = torch.load(config.init_from, map_location="cpu", weights_only=True)
            model.load_state_dict({k: v.float() for k, v in init.items()})
        model = model.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit to(device, memory_format=), which it accepts
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        generator = torch.Generator().manual_seed(config.seed)
        step, elapsed, losses = 0, 0.0, []
    model.train()

    def checkpoint() -> None:
        _save_atomic(
            {
                "config": asdict(config),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(),
                "step": step,
                "elapsed": elapsed,
                "losses": losses,
            },
            ckpt_path,
        )

    start = time.perf_counter() - elapsed
    last_ckpt = time.perf_counter()
    bar = None
    calib_start = time.perf_counter()
    first_step = step
    while config.steps <= 0 or step < config.steps:
        if stop_after is not None and step - first_step >= stop_after:
            if bar is not None:
                bar.close()
            checkpoint()
            return None
        if config.steps <= 0 and step == calibration_steps:
            if minutes is None:  # resumed from a checkpoint made before the steps were fixed
                raise ValueError(
                    "the run's number of steps is not fixed yet (its checkpoint predates the "
                    "speed measurement): give --minutes"
                )
            per_step = (time.perf_counter() - calib_start) / (calibration_steps - 5)
            config.steps = max(calibration_steps + 1, int(minutes * 60 / per_step))
            print(f"calibrated: {per_step:.3f} s/step -> {config.steps} steps", flush=True)
        if config.steps <= 0 and step == 5:
            calib_start = time.perf_counter()
        if bar is None and config.steps > 0:
            (out / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
            bar = tqdm(
                total=config.steps,
                initial=step,
                desc=config.model,
                unit="step",
                disable=not progress,
                mininterval=10.0,
                file=sys.stdout,
            )
        inputs, targets = make_batch(images, config, kernel, generator)
        inputs = inputs.to(device).contiguous(memory_format=torch.channels_last)
        targets = targets.to(device).contiguous(memory_format=torch.channels_last)
        for group in optimizer.param_groups:
            group["lr"] = (
                learning_rate(config, step)
                if config.steps > 0
                else config.lr * (step + 1) / config.warmup_steps
            )
        loss = nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        optimizer.step()
        losses.append(loss.item())
        step += 1
        elapsed = time.perf_counter() - start
        if bar is not None:
            bar.update(1)
            if step % 25 == 0:
                recent = losses[-25:]
                bar.set_postfix(
                    loss=f"{sum(recent) / len(recent):.2e}",
                    lr=f"{optimizer.param_groups[0]['lr']:.1e}",
                )
        if time.perf_counter() - last_ckpt > 60 * checkpoint_minutes:
            checkpoint()
            last_ckpt = time.perf_counter()
    if bar is not None:
        bar.close()
    checkpoint()
    (out / "loss.txt").write_text("\n".join(f"{v:.6e}" for v in losses) + "\n")

    weights_path = out / f"{config.model}.pt"
    half = {k: v.detach().cpu().to(torch.float16) for k, v in model.state_dict().items()}
    _save_atomic(half, weights_path)
    info = {
        "model": config.model,
        "file": weights_path.name,
        "sha256": sha256_file(weights_path),
        "dtype": "float16",
        "architecture": {
            "class": "starter.models.UNet",
            "in_channels": 3,
            "out_channels": 3,
            "base_features": config.base_features,
            "depth": config.depth,
            "residual": True,
        },
        "input": (
            "blurred + noisy image y = k * x + sigma n"
            if config.model == "deblur_denoise"
            else f"wiener_deconv(y, k, snr={config.wiener_snr}) of the blurred + noisy image"
        ),
        "config": asdict(config),
        "training": {
            "data": f"BSDS300 {config.data_split} split, {len(ids)} images ({source})",
            "kernel": "starter.kernels.task3_kernel()",
            "seconds": round(elapsed, 1),
            "final_loss_mean_last_100": sum(losses[-100:]) / max(1, len(losses[-100:])),
            "device": str(device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": platform.processor() or platform.machine(),
            "command": "python -m dlci_grader.offline.train_pretrained " + " ".join(sys.argv[1:]),
        },
    }
    (out / f"{config.model}.json").write_text(json.dumps(info, indent=2) + "\n")
    return weights_path


def install_weights(
    run_dirs: list[str | os.PathLike[str]], assets: str | os.PathLike[str] | None = None
) -> Path:
    """Copy finished runs' ``<model>.pt`` into ``assets`` and write its manifest.

    Args:
        run_dirs: ``--out`` folders of finished runs (each holds ``<model>.pt`` and ``.json``).
        assets: destination; default the ``assets/`` folder of the ``starter`` package.

    Returns:
        the manifest path (``pretrained.json``: per model its file, sha256 and configuration).
    """
    assets = Path(assets) if assets is not None else assets_dir()
    assets.mkdir(parents=True, exist_ok=True)
    manifest_path = assets / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    for run in map(Path, run_dirs):
        infos = [p for p in run.glob("*.json") if p.stem in MODEL_NAMES]
        if not infos:
            raise FileNotFoundError(f"no finished run in {run} (expected <model>.json)")
        for info_path in infos:
            info = json.loads(info_path.read_text())
            src = run / info["file"]
            if sha256_file(src) != info["sha256"]:
                raise ValueError(f"{src} does not match the sha256 in {info_path}")
            shutil.copyfile(src, assets / info["file"])
            manifest[info["model"]] = info
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest_path


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(
        prog="python -m dlci_grader.offline.train_pretrained", description=__doc__.split("\n")[0]
    )
    p.add_argument("--model", choices=MODEL_NAMES, default="deblur_denoise")
    p.add_argument("--out", help="run folder (checkpoint, config, results); required to train")
    p.add_argument("--minutes", type=float, default=None, help="time budget that fixes --steps")
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--crop", type=int, default=TrainConfig.crop)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--lr-min", type=float, default=TrainConfig.lr_min)
    p.add_argument("--warmup-steps", type=int, default=TrainConfig.warmup_steps)
    p.add_argument(
        "--init-from", default="", help="state dict to start from instead of random weights",
    )
    p.add_argument("--sigma-min", type=float, default=TrainConfig.sigma_min)
    p.add_argument("--sigma-max", type=float, default=TrainConfig.sigma_max)
    p.add_argument(
        "--sigma-sampling", choices=("uniform", "loguniform"), default=TrainConfig.sigma_sampling
    )
    p.add_argument("--root", default=None, help="data root (default: DLCI_DATA, then data/)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--checkpoint-minutes", type=float, default=3.0)
    p.add_argument("--stop-after", type=int, default=None, help="pause after N steps (resumable)")
    p.add_argument(
        "--install",
        nargs="+",
        metavar="RUN_DIR",
        default=None,
        help="only copy finished runs' weights into starter/assets and exit",
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.install:
        print(install_weights(args.install))
        return 0
    if not args.out:
        p.error("--out is required to train")
    if args.crop % 2**TrainConfig.depth:
        p.error(f"--crop must be divisible by {2**TrainConfig.depth}")
    config = TrainConfig(
        model=args.model,
        seed=args.seed,
        steps=args.steps,
        batch_size=args.batch_size,
        crop=args.crop,
        lr=args.lr,
        sigma_min=args.sigma_min,
        sigma_max=args.sigma_max,
        sigma_sampling=args.sigma_sampling,
        init_from=args.init_from,
        warmup_steps=args.warmup_steps,
        lr_min=args.lr_min,
    )
    path = train_pretrained(
        config,
        args.out,
        minutes=args.minutes,
        resume=args.resume,
        root=args.root,
        device=args.device,
        checkpoint_minutes=args.checkpoint_minutes,
        stop_after=args.stop_after,
    )
    print(f"wrote {path}" if path else f"paused; resume with --out {args.out} --resume")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
