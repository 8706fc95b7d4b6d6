"""Training steps reuse the memory the last step freed instead of faulting fresh pages in."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from starter.heap import _glibc
from starter.models import DnCNN
from starter.training import train

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.foundation,
    pytest.mark.skipif(_glibc() is None, reason="warm_heap sets glibc's malloc; not glibc here"),
]


def minor_faults() -> int:
    """Page faults this process has taken so far (all threads): each a fresh 4 KiB page."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# Run in a fresh process: in a long one (the test session) the churn may find earlier tests'
# freed memory, or a thread inside its own warm_heap, and "outside" would not be outside.
CHURN = """
import json, resource, torch
from starter.heap import warm_heap

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20

def churn(rounds, blocks=8):
    # a training step's pattern: allocate, touch and free 4 MB tensors, 32 MB a round
    before = faults()
    for _ in range(rounds):
        held = [torch.ones(1024, 1024) for _ in range(blocks)]
        del held
    return faults() - before

outside = churn(20)  # glibc as a process starts: its dynamic thresholds
with warm_heap():
    churn(1, 32)  # the heap grows to the working set once
    inside = churn(20)
    held = resident_mib()
given_back = held - resident_mib()
print(json.dumps({"outside": outside, "inside": inside, "given_back": given_back}))
"""


@pytest.fixture(scope="module")
def churned() -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHURN], capture_output=True, text=True, check=True, cwd=REPO,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freed_blocks_are_reused_inside_and_given_back_after(churned):
    outside, inside = churned["outside"], churned["inside"]
    # measured in a fresh process: 17,000-163,000 faults outside, 0 inside
    assert outside > 5_000, f"{outside} faults outside warm_heap: the churn does not fault"
    assert inside < outside / 10, f"{inside} faults inside warm_heap against {outside} outside"
    # the 128 MB the heap grew to are the kernel's again once warm_heap is left (measured
    # 130-150 MiB given back)
    given_back = churned["given_back"]
    assert given_back > 96, f"{given_back:.1f} MiB given back when warm_heap was left"


def test_training_steps_do_not_fault_their_activations_in_again():
    torch.manual_seed(0)
    model = DnCNN(hidden_channels=32, use_bias=True)
    patches = torch.rand(2048, 3, 32, 32)
    seen: list[int] = []  # faults so far, every 10 steps (the first 10 grow the heap once)
    train(
        model, patches, max_steps=40, device="cpu", precision="fp32", progress=False,
        log_every=10, callback=lambda history: seen.append(minor_faults()),
    )
    per_step = (seen[-1] - seen[0]) / 30
    # measured: about 2,000-3,500 faults per step of this model without warm_heap, under 100
    # with it
    assert per_step < 500, f"{per_step:.0f} page faults per training step after the first ten"
