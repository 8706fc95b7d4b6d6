"""Resource limits for a grading worker: a memory cap, and death with the grader.

A grading job's process takes them before it runs anything of the job: a child forked by a
fork server (:func:`dlci_grader.isolation.fork_server.enter_job` calls :func:`join_cgroup` and
:func:`apply_limits`), or a command started as
``python -m dlci_grader.isolation.limits --memory-bytes N -- COMMAND ...`` (:func:`wrap`), which
sets them on itself and then ``exec``s the command. Either way every process the job starts
(nbgrader's kernel) keeps them.

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

A cap on processes: for an unprivileged grader, :mod:`dlci_grader.isolation.sandbox` sets
``RLIMIT_NPROC`` in the kernel. The kernel ignores that for root, so a grader running as root
puts each worker in its own cgroup of the ``pids`` controller (``--max-pids``; cgroup v1 or v2,
where the hierarchy is writable), which caps processes and threads of nbgrader and its kernel
together, and lets the grader kill every process of the worker afterwards, even one that left
the process tree (:func:`release_cgroup`).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CELL_TIMEOUT = 300
"""Seconds a cell may run unless told otherwise (every default of the grader's cell timeout)."""


@dataclass(frozen=True)
class Limits:
    """What one notebook may use.

    Attributes:
        cell_timeout: seconds one cell may run before it is interrupted (then scored as failed).
        notebook_timeout: seconds the whole grading of one notebook may take before its
            process tree is killed (every cell then scores 0).
        memory_bytes: cap on each process's private writable memory (``RLIMIT_DATA``), None
            for none.
        threads: ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` for the kernel (cores per worker).
        sandbox: start the kernel in :mod:`dlci_grader.isolation.sandbox` (files, network, signals,
            processes); False runs it as a plain ``python3`` kernel.
        processes: processes the kernel may start beyond those running (``RLIMIT_NPROC``); as
            root, the tasks (processes and threads) of the worker's pids cgroup.
        file_bytes: largest file the kernel may write (``RLIMIT_FSIZE``).
        disk_bytes: all the files of the notebook's private folder (the only place the sandboxed
            kernel may write); beyond it the kernel is killed (checked every
            the worker's disk poll), so later cells score 0 and earlier ones keep their points.
    """

    cell_timeout: int = CELL_TIMEOUT
    notebook_timeout: int = 1200
    memory_bytes: int | None = 6 * 2**30
    threads: int = 1
    sandbox: bool = True
    processes: int = 512
    file_bytes: int = 2**30
    disk_bytes: int | None = 2 * 2**30


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


def pids_hierarchy() -> Path | None:
    """The writable folder under which this process may create a ``pids`` cgroup, or None
    (not root, no ``pids`` controller, read-only hierarchy)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):  # cgroup v1
            folder = Path("/sys/fs/cgroup/pids") / path.lstrip("/")
            return folder if os.access(folder, os.W_OK) else None
    for line in lines:
        if line.startswith("0::"):  # cgroup v2: pids must be enabled for the children already
            folder = Path("/sys/fs/cgroup") / line[3:].lstrip("/")
            try:
                enabled = (folder / "cgroup.subtree_control").read_text().split()
            except OSError:
                return None
            return folder if "pids" in enabled and os.access(folder, os.W_OK) else None
    return None


def cgroup_path(pid: int) -> Path | None:
    """The pids cgroup :func:`join_cgroup` makes for the worker process ``pid`` (None: none)."""
    base = pids_hierarchy()
    return None if base is None else base / f"dlci-worker-{pid}"


def join_cgroup(max_pids: int) -> Path | None:
    """Move this process into a new pids cgroup capped at ``max_pids`` tasks; its path, or None
    where there is no writable pids hierarchy (then nothing happens)."""
    folder = cgroup_path(os.getpid())
    if folder is None:
        return None
    try:
        folder.mkdir(exist_ok=True)
        (folder / "pids.max").write_text(str(int(max_pids)))
        (folder / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        return None
    return folder


def release_cgroup(pid: int) -> int:
    """Kill every process left in worker ``pid``'s cgroup and remove it; how many were killed."""
    folder = cgroup_path(pid)
    if folder is None or not folder.is_dir():
        return 0
    killed = 0
    for _ in range(50):
        try:
            pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            break
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.05)
    try:
        folder.rmdir()
    except OSError:
        pass
    return killed


def sweep_cgroups() -> int:
    """Release the cgroups of workers that no longer run (a grader killed with ``SIGKILL`` leaves
    them behind); how many were released."""
    base = pids_hierarchy()
    if base is None:
        return 0
    swept = 0
    for folder in base.glob("dlci-worker-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            release_cgroup(int(pid))
            swept += 1
    return swept


def wrap(
    command: Sequence[str], memory_bytes: int | None, max_pids: int | None = None,
) -> list[str]:
    """``command`` prefixed so that it runs under :func:`apply_limits` (and, as root, in a pids
    cgroup of ``max_pids`` tasks)."""
    prefix = [sys.executable, "-m", "dlci_grader.isolation.limits"]
    if memory_bytes is not None:
        prefix += ["--memory-bytes", str(int(memory_bytes))]
    if max_pids is not None:
        prefix += ["--max-pids", str(int(max_pids))]
    return [*prefix, "--", *command]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlci_grader.isolation.limits")
    parser.add_argument("--memory-bytes", type=int, default=None)
    parser.add_argument("--max-pids", type=int, default=None, help="root only: a pids cgroup")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    if args.max_pids is not None:
        join_cgroup(args.max_pids)
    apply_limits(args.memory_bytes)
    os.execvp(command[0], command)
    return 127  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
