"""The student's kernel in a sandbox: what it may read, write and connect to, and how much.

The grader starts every kernel through this module (a kernelspec whose ``argv`` is
``python -m dlci_grader.isolation.sandbox [options] -- python -m ipykernel_launcher -f FILE``,
written by
:func:`kernelspec`); it restricts itself, then ``exec``s the kernel, which keeps the
restrictions, as does every process the kernel starts. Where nbgrader forks the kernel instead
(:mod:`dlci_grader.isolation.warm_kernel`), the child enters the same sandbox from the same
``argv`` (:func:`parse`, :meth:`Launch.enter`) before it runs ipykernel:

- **Files** (Linux Landlock, kernel 5.13+, no privileges needed): read only beneath the
  ``--read`` paths (the system, Python and its packages, the course data, the kit's ``starter``,
  the grader's inputs for this notebook); write only beneath the ``--write`` paths (the
  notebook's folder and a private scratch folder). The hidden tests' source, the gradebook,
  the grader's reference files, the instructor's home and other students' submissions are
  outside both, so opening them fails with ``PermissionError``.
- **Network** (Landlock ABI 4+, kernel 6.7+): no TCP connection anywhere, and binding only the
  kernel's own ports from its connection file. UDP is not covered by Landlock; on JupyterHub
  the pod's network policy is the layer for that (see ``autograder/deploy/README.md``).
- **Signals and abstract sockets** (Landlock ABI 6+, kernel 6.12+): the kernel cannot signal
  or connect to processes outside its sandbox, e.g. kill the grader or nbgrader.
- **Resources** (rlimits): ``--nproc`` processes and threads (fork bombs; not enforced for
  root, see :mod:`dlci_grader.isolation.limits` for the cgroup used then), ``--fsize`` bytes per
  file
  written, no core dumps. Memory and time are capped by the worker
  (:mod:`dlci_grader.isolation.limits`).

Where Landlock is missing (an older kernel, macOS) the kernel still runs, with the rlimits only;
:func:`support` says what this machine enforces and ``dlci grade`` prints it.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dlci_grader.isolation.limits import pids_hierarchy

# Linux syscall numbers (the same on x86_64 and aarch64) and Landlock constants
# (uapi/linux/landlock.h).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV

GRADER_PACKAGE = Path(__file__).resolve().parents[1]
"""The instructor package (``dlci_grader``): the kernel may read none of it but its marker
(``__init__.py``, a docstring and a version) and :data:`KERNEL_PACKAGE`."""
KERNEL_PACKAGE = GRADER_PACKAGE / "kernel"
"""Everything of the grader the student's kernel may import (:mod:`dlci_grader.kernel`)."""
SYSTEM_READ = (
    "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/opt", "/proc", "/sys",
    "/dev"
)
"""System folders the kernel may read (those that exist)."""
DEVICE_WRITE = ("/dev/null", "/dev/zero", "/dev/full", "/dev/tty")
"""Devices the kernel may write to. Not ``/dev/shm`` (memory no cap sees): a ``DataLoader``
with worker processes therefore fails under the grader; the kit's notebooks use none."""
ACCELERATORS = ("/dev/nvidia*", "/dev/nvidia-caps/*")
"""NVIDIA's device files: where they exist the kernel may open them (and call their ioctls), so
that a notebook graded on a CUDA machine computes on its GPU, as the student's did."""


def accelerator_devices() -> list[str]:
    """The :data:`ACCELERATORS` device files this machine has (none without a GPU)."""
    import glob

    return sorted(path for pattern in ACCELERATORS for path in glob.glob(pattern))


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none)."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(
        _SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION),
    )
    return max(0, int(version))


def _fs_rights(abi: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: execute ... make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


@dataclass(frozen=True)
class Support:
    """What this machine enforces for a sandboxed kernel."""

    abi: int
    root: bool
    pids_cgroup: bool = False

    @property
    def processes(self) -> bool:
        """A cap on processes: ``RLIMIT_NPROC``, or as root a pids cgroup."""
        return not self.root or self.pids_cgroup

    @property
    def files(self) -> bool:
        return self.abi >= 1

    @property
    def network(self) -> bool:
        return self.abi >= 4

    @property
    def signals(self) -> bool:
        return self.abi >= 6

    def describe(self) -> str:
        """One line, e.g. for ``dlci grade``'s log."""
        how = "a pids cgroup" if self.root else "RLIMIT_NPROC"
        procs = (
            f"processes capped ({how})"
            if self.processes
            else "processes NOT capped (root, no pids cgroup)"
        )
        if not self.files:
            return (f"sandbox: no Landlock on this system; files, network and signals are NOT "
                    f"restricted; {procs}")
        parts = ["files"]
        parts += ["TCP network"] if self.network else []
        parts += ["signals"] if self.signals else []
        missing = [
            n for n, ok in (("TCP network", self.network), ("signals", self.signals)) if not ok
        ]
        text = f"sandbox: Landlock ABI {self.abi} restricts {', '.join(parts)}"
        return text + (
            f"; NOT restricted here: {', '.join(missing)}" if missing else ""
        ) + f"; {procs}"


def support() -> Support:
    """What :func:`restrict` (and, for processes, :mod:`dlci_grader.isolation.limits`) can
    enforce here."""
    root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    return Support(landlock_abi(), root, pids_hierarchy() is not None)


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def restrict(
    read: Sequence[str], write: Sequence[str], bind_ports: Sequence[int] = (),
    list_only: Sequence[str] = ()
) -> int:
    """Restrict this process (and its future children) with Landlock; returns the ABI used (0:
    none).

    Args:
        read: paths beneath which files may be read and executed.
        write: paths beneath which anything may be done (read, write, create, remove).
        bind_ports: TCP ports the process may bind (its kernel ports); no TCP connect at all.
        list_only: folders that may be listed but whose files may not be read (a package of
            which only some files are readable, so that Python can import those).
    """
    abi = landlock_abi()
    if abi < 1:
        return 0
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    fs = _fs_rights(abi)
    attr = _RulesetAttr(fs, _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0,
                        _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _check(
        libc.syscall(
            _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0),
        ),
        "landlock_create_ruleset",
    )
    try:
        for paths, rights in ((read, _READ), (write, fs), (list_only, _FS_READ_DIR)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # absent: nothing to allow
                try:
                    allowed = rights & _FILE_ONLY if not os.path.isdir(path) else rights
                    rule = _PathBeneathAttr(allowed & fs, fd)
                    _check(
                        libc.syscall(
                            _SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0
                        ),
                        f"landlock_add_rule {path}",
                    )
                finally:
                    os.close(fd)
        if abi >= 4:
            for port in bind_ports:
                port_rule = _NetPortAttr(_NET_BIND_TCP, int(port))
                _check(
                    libc.syscall(
                        _SYS_ADD_RULE, ruleset, _RULE_NET_PORT, ctypes.byref(port_rule), 0
                    ),
                    f"landlock_add_rule port {port}",
                )
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
        _check(libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def set_rlimits(nproc: int | None, fsize: int | None) -> None:
    """Cap processes of this user (``nproc`` more than now; ignored by the kernel for root),
    bytes per written file, and turn core dumps off."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if fsize is not None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    if nproc is not None and os.geteuid() != 0:
        cap = _tasks_of_this_user() + nproc
        _, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        cap = cap if hard == resource.RLIM_INFINITY else min(cap, hard)
        resource.setrlimit(resource.RLIMIT_NPROC, (cap, cap))


def _tasks_of_this_user() -> int:
    """Processes and threads this user runs now (what ``RLIMIT_NPROC`` counts)."""
    import psutil

    uid, count = os.getuid(), 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        info = proc.info
        if info.get("uids") is not None and info["uids"].real == uid:
            count += info.get("num_threads") or 1
    return count


def default_read_paths(data_root: Path | None, extra: Sequence[str] = ()) -> list[str]:
    """System folders, Python and its packages, the kit's ``starter``, the data, ``extra``.

    Of the instructor package only its ``__init__.py`` and the folder :data:`KERNEL_PACKAGE`
    (what the test cells run in the kernel) are readable: not the checks, not the grader. When it is
    installed inside a packages folder (not editable), that folder is granted entry by entry,
    without the package (:func:`list_only_paths` lets Python list it).
    """
    import importlib.util

    paths = [p for p in SYSTEM_READ if os.path.exists(p)]
    prefixes = sorted(
        {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parent)}
    )
    packages = [p for p in sys.path if p and os.path.isdir(p) and _is_packages_dir(p)]
    holder = next((p for p in packages if _inside(GRADER_PACKAGE, Path(p))), None)
    if holder is None:
        paths += prefixes + packages
    else:  # the prefixes hold the packages folder too: grant around it
        paths += _around(holder, prefixes + packages)
    starter = importlib.util.find_spec("starter")
    if starter is not None and starter.submodule_search_locations:
        paths += list(starter.submodule_search_locations)
    paths += [str(GRADER_PACKAGE / "__init__.py"), str(KERNEL_PACKAGE)]
    if data_root is not None:
        paths.append(str(Path(data_root).resolve()))
    return [*paths, *extra]


def list_only_paths() -> list[str]:
    """Folders the kernel may list but not read: the instructor package and what holds it."""
    return [str(GRADER_PACKAGE), str(GRADER_PACKAGE.parent)]


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _around(holder: str, roots: Sequence[str]) -> list[str]:
    """Every entry of each root, recursively splitting the folders on the way to ``holder``'s
    copy of the instructor package, leaving that package out."""
    out: list[str] = []
    target = GRADER_PACKAGE.resolve()

    def grant(folder: Path) -> None:
        if not _inside(target, folder):
            out.append(str(folder))
            return
        if folder.resolve() == target:
            return
        for child in folder.iterdir():
            grant(child)

    for root in dict.fromkeys(roots):
        grant(Path(root))
    return out


def _is_packages_dir(path: str) -> bool:
    """A site-packages-like folder (not a source checkout that holds solutions or tests)."""
    name = Path(path).name
    return name in ("site-packages", "dist-packages") or name.startswith(("python3", "lib-dynload"))


def command(
    read: Sequence[str], write: Sequence[str], nproc: int | None, fsize: int | None,
    program: Sequence[str], connection_file: str | None = None,
) -> list[str]:
    """The argv that runs ``program`` in the sandbox (as :func:`kernelspec`'s kernel runs)."""
    argv = [sys.executable, "-m", "dlci_grader.isolation.sandbox"]
    argv += ["--connection-file", connection_file] if connection_file else []
    argv += [a for p in read for a in ("--read", str(p))]
    argv += [a for p in write for a in ("--write", str(p))]
    argv += ["--nproc", str(nproc or 0), "--fsize", str(fsize or 0)]
    return [*argv, "--", *program]


def kernelspec(folder: Path, read: Sequence[str], write: Sequence[str], env: dict[str, str],
               nproc: int | None, fsize: int | None) -> str:
    """Write a kernelspec that starts ipykernel in the sandbox under ``folder/kernels/``; its name.

    ``folder`` goes first on ``JUPYTER_PATH``; ``env`` is set in the kernel (scratch folders);
    ``nproc`` and ``fsize`` as :func:`set_rlimits` takes them (None: no cap).
    """
    name = "dlci-sandbox"
    argv = command(
        read, write, nproc, fsize,
        [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        connection_file="{connection_file}",
    )
    spec = {
        "argv": argv, "display_name": "Python 3 (dlci sandbox)", "language": "python", "env": env
    }
    target = folder / "kernels" / name / "kernel.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(spec, indent=1))
    return name


def _ports(connection_file: str | None) -> list[int]:
    if not connection_file:
        return []
    info = json.loads(Path(connection_file).read_text())
    return [
        int(info[k]) for k in (
            "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"
        ) if info.get(k)
    ]


def enter(
    read: Sequence[str], write: Sequence[str], nproc: int | None, fsize: int | None,
    ports: Sequence[int] = (),
) -> None:
    """Put this process (and what it starts) in the sandbox: the rlimits of :func:`set_rlimits`,
    then :func:`restrict` to ``read``, ``write`` (and the devices a kernel writes, a GPU's
    included) and ``ports``.
    The sandboxed kernel's launcher and the definitions-alone child both enter it this way."""
    set_rlimits(nproc, fsize)
    restrict(read, [*write, *DEVICE_WRITE, *accelerator_devices()], ports, list_only_paths())


@dataclass(frozen=True)
class Launch:
    """A sandboxed command as :func:`command` spells it: the sandbox's options and the program."""

    read: tuple[str, ...]
    write: tuple[str, ...]
    nproc: int | None
    fsize: int | None
    connection_file: str | None
    program: tuple[str, ...]

    def enter(self) -> None:
        """Put this process in the sandbox (:func:`enter`, the kernel's own ports allowed)."""
        read = [*self.read, *([self.connection_file] if self.connection_file else [])]
        enter(read, self.write, self.nproc, self.fsize, _ports(self.connection_file))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dlci_grader.isolation.sandbox")
    parser.add_argument("--read", action="append", default=[])
    parser.add_argument("--write", action="append", default=[])
    parser.add_argument("--connection-file")
    parser.add_argument(
        "--nproc", type=int, default=0, help="processes beyond those running (0: no cap)",
    )
    parser.add_argument("--fsize", type=int, default=0, help="bytes per written file (0: no cap)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    return parser


def parse(argv: Sequence[str]) -> Launch:
    """The options and program of ``python -m dlci_grader.isolation.sandbox ARGV``."""
    args = _parser().parse_args(list(argv))
    program = args.command[1:] if args.command[:1] == ["--"] else args.command
    return Launch(tuple(args.read), tuple(args.write), args.nproc or None, args.fsize or None,
                  args.connection_file, tuple(program))


def main(argv: Sequence[str] | None = None) -> int:
    launch = parse(sys.argv[1:] if argv is None else argv)
    if not launch.program:
        _parser().error("no command to run")
    launch.enter()
    os.execvp(launch.program[0], launch.program)
    return 127  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
