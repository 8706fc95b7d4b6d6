"""``dlci demo``: the kit's main job, end to end, on whatever data is there.

It runs the imaging core of the course on the BSDS300 test images (or, without the real
data, on the embedded stand-in, announced): Wiener deconvolution of the Task 3 blur at
three noise levels, and a short training of a DnCNN with and without biases (Task 2's
ablation in miniature), then writes tables and figures to ``out`` and prints the tables.

An instructor command (registered under the ``dlci.commands`` entry points of the
``dlci-autograder`` distribution): it uses the reference Wiener filter, which the student
package does not hold.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from dlci_grader.tasks.task3.reference import wiener_deconv  # noqa: E402
from starter.data import BlurredBSDS300, EmbeddedDataWarning, bsds300_patches  # noqa: E402
from starter.device import default_device  # noqa: E402
from starter.imaging import add_noise  # noqa: E402
from starter.metrics import psnr  # noqa: E402
from starter.models import DnCNN  # noqa: E402
from starter.plotting import markdown_table, plot_curves, results_table, show_images  # noqa: E402
from starter.training import evaluate_model, train  # noqa: E402

WIENER_SIGMAS = (0.005, 0.01, 0.02)
DENOISE_SIGMAS = (0.05, 0.1, 0.2)


def run_demo(
    out: str | Path = "demo_output",
    root: str | Path | None = None,
    steps: int = 300,
    seed: int = 0,
    test_images: int = 10,
    device: torch.device | str | None = None,
) -> int:
    """Run the demo; returns 0 (an exit code). See the module docstring."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(device) if device is not None else default_device()
    t0 = time.perf_counter()
    print(f"dlci demo: writing to {out.resolve()} (device: {device})")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmbeddedDataWarning)
        test = BlurredBSDS300(root, split="test")
        patches = bsds300_patches(root, split="train")
    for w in caught:
        print(f"\n*** NOTE: {w.message}\n")
    print(f"data: test images from {test.source}; {len(patches)} training patches")

    # Task 3 in miniature: Wiener deconvolution (SNR 100) at three noise levels.
    blurred, clean = test.as_tensors(device)
    wiener: dict[float, float] = {}
    noisy_psnr: dict[float, float] = {}
    noisy_examples, wiener_examples = [], []
    for sigma in WIENER_SIGMAS:
        gen = torch.Generator(device=device).manual_seed(seed)
        noisy = add_noise(blurred, sigma, generator=gen)
        restored = wiener_deconv(noisy, test.kernel, snr=100.0)
        noisy_psnr[sigma] = psnr(noisy, clean).item()
        wiener[sigma] = psnr(restored, clean).item()
        noisy_examples.append(noisy[0])
        wiener_examples.append(restored[0])
    fig = show_images(
        [clean[0], *noisy_examples, clean[0], *wiener_examples],
        ["clean"]
        + [f"blurred + noise σ={s:g}" for s in WIENER_SIGMAS]
        + ["clean"]
        + [f"Wiener, σ={s:g}" for s in WIENER_SIGMAS],
        ncols=4,
        size=2.5,
    )
    fig.savefig(out / "wiener_examples.png", dpi=110)
    table3 = results_table({"blurred + noisy input": noisy_psnr, "Wiener (SNR 100)": wiener})

    # Task 2 in miniature: DnCNN with and without biases, a short training at sigma = 0.1.
    images = clean[:test_images]
    curves, denoise = {}, {}
    for use_bias in (True, False):
        name = f"DnCNN 32 ch, {'bias' if use_bias else 'bias-free'}"
        torch.manual_seed(seed)
        model = DnCNN(hidden_channels=32, use_bias=use_bias)
        print(f"training {name} for {steps} steps at σ = 0.1")
        epochs = max(1, -(-steps * 32 // len(patches)))  # enough epochs for `steps` batches of 32
        hist = train(
            model, patches, sigma=0.1, epochs=epochs, max_steps=steps, seed=seed, device=device
        )
        curves[name] = hist.step_loss
        denoise[name] = evaluate_model(model, images, DENOISE_SIGMAS, seed=seed, device=device)
    plot_curves(curves, smooth=20).savefig(out / "dncnn_training.png", dpi=110)
    table2 = results_table(denoise)

    (out / "results.md").write_text(
        f"# dlci demo\n\ndata: {test.source}\n\n## Wiener deconvolution, mean PSNR over "
        f"{len(clean)} test images\n\n{markdown_table(table3)}\n\n## DnCNN after {steps} steps, "
        f"mean PSNR over {len(images)} test images\n\n{markdown_table(table2)}\n"
    )
    (out / "results.json").write_text(
        json.dumps({"data": test.source, "wiener": wiener, "dncnn": denoise}, indent=2)
    )
    print("\nWiener deconvolution (Task 3 blur), mean PSNR (dB):")
    print(table3.to_string())
    print(f"\nDnCNN after {steps} steps at σ = 0.1, mean PSNR (dB) on {len(images)} test images:")
    print(table2.to_string())
    files = sorted(p.name for p in out.iterdir())
    print(f"\nwrote {', '.join(files)} to {out}/ in {time.perf_counter() - t0:.0f} s")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci demo`` (entry point ``dlci.commands``)."""
    p = subparsers.add_parser("demo", help="run the kit's main job end to end and write its figures")
    p.add_argument("--out", default="demo_output", help="folder for figures and tables")
    p.add_argument(
        "--root", help="data root (default: $DLCI_DATA, else data/ in the kit, else embedded)"
    )
    p.add_argument("--steps", type=int, default=300, help="DnCNN training steps")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(out=args.out, root=args.root, steps=args.steps, seed=args.seed)
