"""Choosing where to compute, and what the CPU can do fast."""

from __future__ import annotations

import functools

import torch


def default_device() -> torch.device:
    """CUDA when a GPU is visible, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    """What ``device`` is, for a benchmark's table: ``"cpu"`` or ``"cuda (NVIDIA H100 ...)"``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU has bfloat16 matrix/vector units (AMX-BF16 or AVX512-BF16).

    Read from ``/proc/cpuinfo`` (Linux); False elsewhere. Without such units, bf16 autocast
    on the CPU is emulated and slower than float32, so the training engine keeps float32.
    """
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags
