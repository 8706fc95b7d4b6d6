"""Keeping freed memory in the process during a training loop, so each step reuses warm pages.

A training step on the CPU allocates its activations and gradients (a few MB each: a 32×32
patch batch of 64 channels is 4 MB in bf16) and frees them at the end of the step. glibc's
``malloc`` hands blocks that large to the kernel (``mmap``) or returns the top of its heap
when it frees them (``trim``), so the next step gets fresh pages and pays a page fault, and
the kernel's zeroing, for every 4 KiB of them: measured 2,000-5,200 faults per step of the
course's DnCNN on a 2-core EPYC, about a quarter of a 32-channel step's time and an eighth of
a 64-channel one's. ``warm_heap`` raises glibc's two thresholds while the loop runs, so freed
blocks stay in the heap and the next step reuses them (0 faults per step). On leaving, the
unused heap goes back to the kernel at once (``malloc_trim``), and glibc keeps the thresholds
its own dynamic rule reaches once a 32 MB block has been freed (blocks up to 32 MB from the
heap, at most 64 MB kept at its top), not the 128 KiB it starts with: glibc cannot be put back
in its dynamic mode once they are set, and those starting values would make every later block
fault in afresh.

Only glibc (Linux) has these knobs; elsewhere ``warm_heap`` does nothing. The setting is
per process, so nested or concurrent uses share one: the first to enter sets it, the last to
leave lowers it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import platform
import threading
from collections.abc import Iterator

# mallopt(3) parameters, and the values warm_heap sets them to.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MAX_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's upper limit on 64-bit systems
_TRIM_AFTER = 2 * _MAX_MMAP_THRESHOLD  # what glibc's dynamic rule sets beside that threshold
_NO_TRIM = 2**31 - 1  # the largest value mallopt's int takes: never trim while training

_lock = threading.Lock()
_depth = 0


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (whose ``mallopt`` this module sets), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _set(libc: ctypes.CDLL, trim: int, mmap: int) -> None:
    libc.mallopt(_M_TRIM_THRESHOLD, trim)
    libc.mallopt(_M_MMAP_THRESHOLD, mmap)


@contextlib.contextmanager
def warm_heap() -> Iterator[None]:
    """Keep freed blocks (up to 32 MB each) in the heap until the block ends; then give back.

    Wrap a loop that allocates and frees the same large tensors again and again (training
    steps, evaluation images). Nothing a tensor holds changes; only where its memory comes
    from.
    """
    global _depth
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _set(libc, _NO_TRIM, _MAX_MMAP_THRESHOLD)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(libc, _TRIM_AFTER, _MAX_MMAP_THRESHOLD)
                libc.malloc_trim(0)
