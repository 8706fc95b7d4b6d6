"""The Task 2 ablation: the kit's training engine against a plain reference loop.

Both sides run the same experiment, the whole four-model ablation (DnCNN biases on/off × 32/64
hidden channels, trained at σ = 0.1 with batch 32 and Adam 1e-3, then evaluated at
σ = 0.05, 0.1, 0.2), with the same seeds, the same shuffling order and the same training and
test noise (the ``DataLoader`` draws one extra permutation per epoch, so from the second
epoch on its order differs, equally random), so their PSNRs agree within the seed-to-seed
spread and only the time may differ:

- **reference**: what a student writes first (:func:`reference_train`,
  :func:`reference_evaluate`): a shuffling ``DataLoader``, float32, NCHW, ``loss.item()``
  every step, evaluation with autograd on and one ``.item()`` per batch.
- **kit**: ``starter.training.train`` and ``evaluate_model`` with their defaults (patches
  prepared once, no host syncs, ``inference_mode``, channels-last, bf16 only where the CPU or
  GPU has native bf16 units).

Each side runs in its own fresh process (so peak memory is its own), back to back, alternating
the order over ``--repeats`` rounds; the table reports medians. Times exclude loading the data
(the same for both). Modes:

- full (default): the course schedule, 2 epochs (1,876 steps per model) and all 100 test
  images; on an idle 2-core CPU about 20 minutes for the reference and 10 for the kit
  (measured with the former 4 hidden layers; the course's 3 do a quarter less convolution
  work), an hour or more each when other jobs share the cores.
- ``--quick``: the first ``--steps`` steps of the same schedule per model and the first
  ``--images`` test images, keeping the full run's ratio of evaluation to training work
  (100 images per 1,876 steps, about one image per 19 steps).

Next to the measured times the table prints the **hardware floor**: the ablation's
floating-point work (counted from the layer shapes, :func:`dncnn_flops_per_pixel`) divided by
the best matrix-multiply rate this CPU reaches in the same run (:func:`matmul_rate`, float32
for the reference, the kit's resolved precision for the kit). No engine that computes the same
convolutions can beat it, so ``floor kit / measured reference`` is the best ratio this machine
allows, and ``floor / measured`` says how much of the peak each loop uses.

Usage::

    python -m bench.bench_training --quick            # a few minutes
    python -m bench.bench_training                    # the whole ablation, twice
    python -m bench.bench_training --quick --compile  # the kit with torch.compile
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from starter.data import bsds300_images, bsds300_patches
from starter.device import cpu_has_native_bf16, default_device, device_name
from starter.metrics import psnr
from starter.models import DnCNN
from starter.models.dncnn import COURSE_HIDDEN_LAYERS
from starter.training import evaluate_model, image_noise, resolve_precision, train

CONFIGS = (
    ("bias, 32 ch", True, 32),
    ("bias-free, 32 ch", False, 32),
    ("bias, 64 ch", True, 64),
    ("bias-free, 64 ch", False, 64),
)
SIGMA, EPOCHS, BATCH_SIZE, LR, SEED = 0.1, 2, 32, 1e-3, 0
SIGMAS_TEST = (0.05, 0.1, 0.2)
CPU = torch.device("cpu")
QUICK_STEPS, QUICK_IMAGES = 40, 2


# --- how much work the ablation is, and how fast this CPU can do it ---------------------


def dncnn_flops_per_pixel(
    hidden_channels: int, in_channels: int = 3, hidden_layers: int = COURSE_HIDDEN_LAYERS
) -> tuple[int, int]:
    """FLOPs per pixel of a ``DnCNN`` (2 per multiply-add): one forward pass, one training step.

    A training step is the forward pass, the gradient of every layer's input but the first's
    (the noisy image needs none) and the gradient of every weight: each as much work as the
    forward convolution. Biases, ReLUs, the loss and Adam are a few per pixel and left out.
    """
    first = 2 * 9 * in_channels * hidden_channels
    hidden = 2 * 9 * hidden_channels * hidden_channels
    forward = 2 * first + hidden_layers * hidden  # the last conv is as big as the first
    return forward, 3 * forward - first


def trained_samples(n: int, batch_size: int, epochs: int, max_steps: int | None) -> int:
    """Patches that ``epochs`` passes over ``n`` patches (at most ``max_steps`` batches) use."""
    per_epoch = [min(batch_size, n - first) for first in range(0, n, batch_size)] * epochs
    return sum(per_epoch[:max_steps] if max_steps else per_epoch)


def matmul_rate(
    dtype: torch.dtype, seconds: float = 2.0, device: torch.device = CPU,
) -> float:
    """Best GFLOP/s of ``torch.matmul`` in ``dtype`` on ``device``, over square and conv-like
    shapes.

    The conv-like shape is a 64-channel 3×3 convolution of a training batch as one GEMM
    (32·32·32 pixels × 576 → 64); each shape is timed for about ``seconds / 3``.
    """
    best = 0.0
    for m, k, n in ((2048, 2048, 2048), (4096, 4096, 4096), (32768, 576, 64)):
        a = torch.randn(m, k, dtype=dtype, device=device)
        b = torch.randn(k, n, dtype=dtype, device=device)
        a @ b  # warm-up
        _sync(device)
        runs, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3 or runs < 2:
            a @ b
            runs += 1
            _sync(device)
        best = max(best, 2 * m * k * n * runs / elapsed / 1e9)
    return best


def _sync(device: torch.device) -> None:
    """Wait for ``device``'s queued work (CUDA runs asynchronously), so a time measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def engine_precision(engine: str, device: torch.device = CPU) -> str:
    """The precision an engine computes in on ``device``: fp32 for the reference, what
    ``precision="auto"`` resolves to for the kit."""
    return resolve_precision("fp32" if engine == "reference" else "auto", device)


def ablation_flops(train_pixels: int, eval_pixels: int) -> tuple[float, float]:
    """FLOPs of the four models' training and evaluation, given pixels trained on and tested.

    ``train_pixels``: patch pixels per model over the whole schedule; ``eval_pixels``: test
    image pixels per model, summed over the noise levels.
    """
    train_flops = eval_flops = 0.0
    for _, _, channels in CONFIGS:
        forward, step = dncnn_flops_per_pixel(channels)
        train_flops += step * train_pixels
        eval_flops += forward * eval_pixels
    return train_flops, eval_flops


# --- the plain reference loop -----------------------------------------------------------


def reference_train(
    model: nn.Module,
    patches: torch.Tensor,
    sigma: float,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    max_steps: int | None = None,
    device: torch.device = CPU,
) -> list[float]:
    """The first training loop everyone writes; same shuffling order and noise as ``train``
    (the noise drawn on the CPU, then moved to ``device`` with the batch)."""
    loader = DataLoader(
        TensorDataset(patches),
        batch_size=batch_size,
        # shuffle=True with the shuffling generator on the sampler: the same order as `train`
        sampler=RandomSampler(patches, generator=torch.Generator().manual_seed(seed)),
    )
    noise_generator = torch.Generator().manual_seed(seed + 1)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    model.train()
    for _ in range(epochs):
        for (clean,) in loader:
            noisy = clean + sigma * torch.randn(clean.shape, generator=noise_generator)
            clean, noisy = clean.to(device), noisy.to(device)
            loss = nn.functional.mse_loss(model(noisy), clean)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if max_steps is not None and len(losses) >= max_steps:
                return losses
    return losses


def reference_evaluate(
    model: nn.Module, images: torch.Tensor, sigmas: Sequence[float], seed: int, batch_size: int = 8,
    device: torch.device = CPU,
) -> dict[float, float]:
    """Mean PSNR with autograd on (as without ``torch.no_grad``); same noise as
    ``evaluate_model``."""
    model.to(device).eval()
    results = {}
    for sigma in sigmas:
        total = 0.0
        for first in range(0, len(images), batch_size):
            clean = images[first : first + batch_size]
            noise = torch.stack(
                [image_noise(clean.shape[1:], i, seed) for i in range(first, first + len(clean))]
            )
            clean, noisy = clean.to(device), (clean + sigma * noise).to(device)
            denoised = model(noisy)
            total += psnr(denoised, clean, reduction="none").sum().item()
        results[float(sigma)] = total / len(images)
    return results


# --- one side of the comparison, in its own process ---------------------------------------


def ablation(
    engine: str, root: str | None, max_steps: int | None, images: int | None, compile: bool,
    device: torch.device = CPU,
) -> dict:
    """Run the four-model ablation with ``engine`` ("kit" or "reference") on ``device``; times
    and PSNRs."""
    t0 = time.perf_counter()
    patches = bsds300_patches(root, "train")  # prepared once, reused for all four models
    test = bsds300_images(root, "test")
    test = test[:images] if images else test
    load_seconds = time.perf_counter() - t0
    out: dict = {
        "engine": engine,
        "load_s": load_seconds,
        "train_pixels": trained_samples(len(patches), BATCH_SIZE, EPOCHS, max_steps)
        * patches[0, 0].numel(),
        "eval_pixels": test[:, 0].numel() * len(SIGMAS_TEST),
        "models": {},
    }
    for name, use_bias, channels in CONFIGS:
        torch.manual_seed(SEED)
        model = DnCNN(hidden_channels=channels, use_bias=use_bias)
        t = time.perf_counter()
        if engine == "reference":
            losses = reference_train(
                model, patches, SIGMA, EPOCHS, BATCH_SIZE, LR, SEED, max_steps=max_steps,
                device=device,
            )
        else:
            losses = train(
                model,
                patches,
                sigma=SIGMA,
                epochs=EPOCHS,
                batch_size=BATCH_SIZE,
                lr=LR,
                seed=SEED,
                device=device,
                max_steps=max_steps,
                progress=False,
                compile=compile,
            ).step_loss
        _sync(device)
        train_s = time.perf_counter() - t
        t = time.perf_counter()
        if engine == "reference":
            results = reference_evaluate(model, test, SIGMAS_TEST, seed=0, device=device)
        else:
            results = evaluate_model(model, test, SIGMAS_TEST, seed=0, device=device)
        _sync(device)
        out["models"][name] = {
            "train_s": train_s,
            "eval_s": time.perf_counter() - t,
            "steps": len(losses),
            "final_loss": sum(losses[-50:]) / len(losses[-50:]),
            "psnr": results,
        }
    out["total_s"] = sum(m["train_s"] + m["eval_s"] for m in out["models"].values())
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def peak_rss_mib() -> float:
    """This process's peak resident memory since it started its program (MiB): ``VmHWM``, which
    exec resets, where ``ru_maxrss`` keeps the parent's peak when the parent was larger."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(engine: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "bench.bench_training", "--worker", engine]
    command += ["--steps", str(args.steps or 0), "--images", str(args.images or 0)]
    command += ["--compile"] if args.compile else []
    command += ["--device", str(args.device)]
    command += ["--root", args.root] if args.root else []
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(args: argparse.Namespace) -> list[dict]:
    """Alternate reference and kit runs ``args.repeats`` times; rows of medians and the floor."""
    device = torch.device(args.device)
    precision = {engine: engine_precision(engine, device) for engine in ("reference", "kit")}
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    rates = {p: matmul_rate(dtypes[p], device=device) for p in sorted(set(precision.values()))}
    print(
        "best matmul rate: " + ", ".join(f"{p} {r:.0f} GFLOP/s" for p, r in rates.items()),
        file=sys.stderr,
        flush=True,
    )
    runs: dict[str, list[dict]] = {"reference": [], "kit": []}
    for r in range(args.repeats):
        order = ("reference", "kit") if r % 2 == 0 else ("kit", "reference")
        for engine in order:
            run = _worker(engine, args)
            runs[engine].append(run)
            print(
                f"round {r + 1}: {engine:9s} {run['total_s']:7.1f} s, "
                f"peak RSS {run['peak_rss_mib']:.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
    ratios = [
        k["total_s"] / ref["total_s"] for k, ref in zip(runs["kit"], runs["reference"], strict=True)
    ]
    rows = []
    mode = f"{'quick' if args.steps else 'full'}, {device_name(device)}"
    for name, *_ in CONFIGS:
        row: dict = {"mode": mode, "model": name}
        for engine in ("reference", "kit"):
            first = runs[engine][0]["models"][name]
            row[f"{engine} train s"] = statistics.median(
                r["models"][name]["train_s"] for r in runs[engine]
            )
            row[f"{engine} eval s"] = statistics.median(
                r["models"][name]["eval_s"] for r in runs[engine]
            )
            row[f"{engine} PSNR (dB)"] = " / ".join(
                f"{first['psnr'][str(s)]:.2f}" for s in SIGMAS_TEST
            )
        rows.append(row)
    total = {"mode": mode, "model": "all four (train + eval)"}
    for engine in ("reference", "kit"):
        total[f"{engine} train s"] = statistics.median(
            sum(m["train_s"] for m in r["models"].values()) for r in runs[engine]
        )
        total[f"{engine} eval s"] = statistics.median(
            sum(m["eval_s"] for m in r["models"].values()) for r in runs[engine]
        )
        total[f"{engine} PSNR (dB)"] = (
            f"peak RSS {max(r['peak_rss_mib'] for r in runs[engine]):.0f} MiB"
        )
    rows.append(total)
    rows.append(
        {
            "mode": mode,
            "model": f"kit / reference time (median of {len(ratios)})",
            "reference train s": statistics.median(ratios),
            "kit train s": ", ".join(f"{x:.3f}" for x in ratios),
        }
    )
    floor: dict = {"mode": mode, "model": "hardware floor (every FLOP at the best matmul rate)"}
    floor_total = {}
    for engine in ("reference", "kit"):
        run, p = runs[engine][0], precision[engine]
        train_flops, eval_flops = ablation_flops(run["train_pixels"], run["eval_pixels"])
        floor[f"{engine} train s"] = train_flops / (rates[p] * 1e9)
        floor[f"{engine} eval s"] = eval_flops / (rates[p] * 1e9)
        floor_total[engine] = floor[f"{engine} train s"] + floor[f"{engine} eval s"]
        measured = total[f"{engine} train s"] + total[f"{engine} eval s"]
        floor[f"{engine} PSNR (dB)"] = (
            f"{(train_flops + eval_flops) / 1e12:.1f} TFLOP at {p} {rates[p]:.0f} GFLOP/s: "
            f"floor / measured {floor_total[engine] / measured:.2f}"
        )
    rows.append(floor)
    reference_s = total["reference train s"] + total["reference eval s"]
    rows.append(
        {
            "mode": mode,
            "model": "best possible kit / reference (kit floor / measured reference)",
            "reference train s": f"{floor_total['kit'] / reference_s:.3f}",
        }
    )
    return rows


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.bench_training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_STEPS} steps per model and {QUICK_IMAGES} test images",
    )
    p.add_argument("--steps", type=int, default=None, help="steps per model (0: full epochs)")
    p.add_argument("--images", type=int, default=None, help="test images (0: all 100)")
    p.add_argument("--repeats", type=int, default=None, help="rounds (default 3 quick, 1 full)")
    p.add_argument("--compile", action="store_true", help="the kit side uses torch.compile")
    p.add_argument("--root", default=None, help="data root (default: DLCI_DATA, data/, ...)")
    p.add_argument("--device", default=None,
                   help="cpu or cuda (default: CUDA when a GPU is visible, else the CPU)")
    p.add_argument("--worker", choices=("kit", "reference"), help=argparse.SUPPRESS)
    return p


def _resolve(args: argparse.Namespace) -> argparse.Namespace:
    if args.quick:
        args.steps = QUICK_STEPS if args.steps is None else args.steps
        args.images = QUICK_IMAGES if args.images is None else args.images
    args.steps = args.steps or None
    args.images = args.images or None
    if args.repeats is None:
        args.repeats = 3 if args.steps else 1
    args.device = str(torch.device(args.device) if args.device else default_device())
    return args


def run(data_root: str | None = None, quick: bool = False) -> list[dict]:
    """For ``python -m bench``: the full comparison (``python -m bench --quick``: the quick one)."""
    args = _resolve(_parser().parse_args(["--quick"] if quick else []))
    args.root = str(data_root) if data_root else None
    return compare(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = _resolve(_parser().parse_args(argv))
    if args.worker:
        print(json.dumps(ablation(args.worker, args.root, args.steps, args.images, args.compile,
                                  torch.device(args.device))))
        return 0
    from bench.figures import machine, publish

    started = machine()
    publish("bench_training", compare(args), argv=sys.argv[1:] if argv is None else argv,
            data_root=args.root, started=started,
            notes=[f"{torch.get_num_threads()} threads, native bf16: {cpu_has_native_bf16()}"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
