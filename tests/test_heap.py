"""Training steps reuse the memory the last step freed instead of faulting fresh pages in."""

from __future__ import annotations

import resource

import pytest
import torch

from starter.heap import _glibc, warm_heap
from starter.models import DnCNN
from starter.training import train

pytestmark = [
    pytest.mark.foundation,
    pytest.mark.skipif(_glibc() is None, reason="warm_heap sets glibc's malloc; not glibc here"),
]


def minor_faults() -> int:
    """Page faults this process has taken so far (all threads): each a fresh 4 KiB page."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def churn(rounds: int) -> int:
    """Faults of ``rounds`` rounds of allocating, touching and freeing 32 MB in 4 MB tensors.

    A training step does this with its activations and gradients.
    """
    before = minor_faults()
    for _ in range(rounds):
        blocks = [torch.ones(1024, 1024) for _ in range(8)]
        del blocks
    return minor_faults() - before


def resident_mib() -> float:
    """This process's resident memory now, MiB (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def test_freed_blocks_are_reused_inside_and_given_back_after():
    with warm_heap():  # afterwards glibc's defaults hold, whatever earlier tests did
        pass
    outside = churn(20)
    with warm_heap():
        churn(1)  # the heap grows to the working set once
        inside = churn(20)
        held = resident_mib()
    given_back = held - resident_mib()
    # 20 rounds of 32 MB are 164,000 fresh 4 KiB pages when every block goes back to the OS
    assert outside > 50_000, f"{outside} faults outside warm_heap: the churn does not fault"
    # measured: 3,000-6,000 inside (a block now and then lands on fresh pages)
    assert inside < outside / 10, f"{inside} faults inside warm_heap against {outside} outside"
    # the 32 MB the churn kept in the heap are the kernel's again once warm_heap is left
    assert given_back > 24, f"{given_back:.1f} MiB given back when warm_heap was left"


def test_nested_uses_restore_only_when_the_last_one_leaves():
    with warm_heap():
        with warm_heap():
            churn(1)
        inside = churn(10)  # the outer block still holds the setting
    # 10 rounds of 32 MB are 81,920 fresh pages when the inner block restored the defaults
    assert inside < 16_000, f"{inside} faults after an inner warm_heap left, inside the outer"


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
