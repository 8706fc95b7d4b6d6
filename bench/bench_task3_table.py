"""Task 3's results table: mean PSNR of Wiener, the kit's U-Net and Wiener + U-Net on all 100
BSDS300 test images at each noise level (seed 0, float32), as the instructors' results page
quotes it (:func:`dlci_grader.tasks.task3.reference.evaluate_methods`).

    python -m bench task3_table
    python -m bench.bench_task3_table --root DATA
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from starter.data import BlurredBSDS300
from starter.kernels import task3_kernel
from starter.pretrained import load_models

SIGMAS = (0.005, 0.01, 0.02)
NAMES = {"wiener": "Wiener (SNR 100)", "unet": "U-Net, the kit's",
         "wiener_unet": "Wiener + U-Net, the kit's"}


def run(data_root: str | None = None) -> list[dict]:
    """One row per method: its mean PSNR (dB) at each σ, and the seconds the table took."""
    from dlci_grader.tasks.task3.reference import evaluate_methods

    _, clean = BlurredBSDS300(data_root, split="test").as_tensors()
    start = time.perf_counter()
    with torch.inference_mode():
        table = evaluate_methods(clean, task3_kernel(), load_models("cpu"), SIGMAS, seed=0)
    seconds = time.perf_counter() - start
    rows: list[dict] = [
        {"method": NAMES[method], "images": len(clean),
         **{f"σ = {sigma} (dB)": f"{table[method][sigma]:.2f}" for sigma in SIGMAS}}
        for method in NAMES
    ]
    rows.append({"method": f"evaluation time: {seconds:.0f} s"})
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None)
    args = parser.parse_args()
    from bench.figures import machine, publish

    started = machine()
    publish("bench_task3_table", run(args.root), argv=sys.argv[1:], data_root=args.root,
            started=started)
