"""Resource limits for a grading worker: a memory cap, and death with the grader.

A worker is started as ``python -m dlci_grader.limits --memory-bytes N -- COMMAND ...``: this
module sets the limits on itself and then ``exec``s the command, which keeps them, and so does
every process it starts (nbgrader's kernel). Setting the limits in a wrapper instead of a
``preexec_fn`` keeps it safe to start workers from several threads.

The memory cap is ``RLIMIT_DATA``: the process's private writable memory (heap and anonymous
``mmap``), checked at allocation time, so an allocation beyond it fails at once with
``MemoryError`` (numpy) or ``RuntimeError: ... can't allocate memory`` (torch) instead of
pushing the machine into swap or the OOM killer. Unlike ``RLIMIT_AS`` it does not count shared
libraries, file mappings or address space reserved but not writable (CUDA builds of torch
reserve tens of GiB that way), so torch imports and runs normally under a cap of a few GiB. It
is per process, not per worker: the kernel and nbgrader each get the cap.

On Linux the worker also asks for ``SIGKILL`` when the grader dies (``PR_SET_PDEATHSIG``), so
killing the grader never leaves workers running; the kernel follows its parent by itself
(ipykernel polls its parent).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys
from collections.abc import Sequence

_PR_SET_PDEATHSIG = 1


def apply_limits(memory_bytes: int | None, die_with_parent: bool = True) -> None:
    """Cap this process's (and its future children's) private writable memory at
    ``memory_bytes`` (None: no cap), and on Linux die with the parent process."""
    if memory_bytes is not None:
        if memory_bytes <= 0:
            raise ValueError(f"memory cap must be positive, got {memory_bytes} bytes")
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    if die_with_parent and sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def wrap(command: Sequence[str], memory_bytes: int | None) -> list[str]:
    """``command`` prefixed so that it runs under :func:`apply_limits`."""
    prefix = [sys.executable, "-m", "dlci_grader.limits"]
    if memory_bytes is not None:
        prefix += ["--memory-bytes", str(int(memory_bytes))]
    return [*prefix, "--", *command]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlci_grader.limits")
    parser.add_argument("--memory-bytes", type=int, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    apply_limits(args.memory_bytes)
    os.execvp(command[0], command)
    return 127  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
