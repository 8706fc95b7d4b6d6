"""The kit's main job, end to end, on whatever data is there (``dlci demo`` runs it).

It runs the imaging core of the course on the BSDS300 test images (or, without the real
data, on the embedded stand-in, announced): Wiener deconvolution of the Task 3 blur at
three noise levels, and a short training of a DnCNN with and without biases (Task 2's
ablation in miniature), and writes tables and figures to ``out``. An instructor's pipeline,
off the grading path: it uses the reference Wiener filter, which the student package does not
hold.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
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


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` wrote, for the command to show.

    Attributes:
        data: where the test images came from (``test.source``: the real data or the stand-in).
        wiener: mean PSNR (dB) of the noisy input and of the Wiener filter, per noise level.
        dncnn: mean PSNR (dB) of each DnCNN, per noise level.
        steps: DnCNN training steps.
        test_images: how many test images the DnCNNs were scored on.
        out: the output folder.
    """

    data: str
    wiener: pd.DataFrame
    dncnn: pd.DataFrame
    steps: int
    test_images: int
    out: Path


def run_demo(
    out: str | Path = "demo_output",
    root: str | Path | None = None,
    steps: int = 300,
    seed: int = 0,
    test_images: int = 10,
    device: torch.device | str | None = None,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Run the demo (see the module docstring): write ``wiener_examples.png``,
    ``dncnn_training.png``, ``results.md`` and ``results.json`` to ``out``; ``say`` gets the
    progress as it goes (where it writes, the data found, each training)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(device) if device is not None else default_device()
    say(f"dlci demo: writing to {out.resolve()} (device: {device})")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmbeddedDataWarning)
        test = BlurredBSDS300(root, split="test")
        patches = bsds300_patches(root, split="train")
    for w in caught:
        say(f"\n*** NOTE: {w.message}\n")
    say(f"data: test images from {test.source}; {len(patches)} training patches")

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
        say(f"training {name} for {steps} steps at σ = 0.1")
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
    return DemoResult(test.source, table3, table2, steps, len(images), out)
