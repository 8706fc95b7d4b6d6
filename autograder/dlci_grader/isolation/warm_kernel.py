"""The student's kernel forked from nbgrader's process, PyTorch already imported.

A kernel started the usual way is a new Python that imports ipykernel, then the notebook's first
cell imports PyTorch: about two seconds of every graded notebook. nbgrader's autograde process
is itself forked from a server that imported those modules once
(:mod:`dlci_grader.nbgrader.autograde_server`), so the kernel is forked from it instead of
started: :class:`WarmKernelManager` (``c.Execute.kernel_manager_class`` in the worker's course)
launches through :class:`WarmProvisioner`, which forks where jupyter_client would ``Popen``.

The forked kernel is the kernel the sandbox's kernelspec would have started, in the same place:
a session of its own (named ``ipykernel``, killed when nbgrader's process dies), the
kernelspec's environment and folder, the same sandbox entered
(:meth:`~dlci_grader.isolation.sandbox.Launch.enter`), the same ipykernel arguments. What it
inherits from nbgrader's process it cannot use: every inherited descriptor (the gradebook, the
log, nbgrader's sockets) is replaced by ``/dev/null`` before the sandbox, and it is forked only
from a process that holds none of the grader's judging code (:func:`clean`: the worker, the
verdicts and the task specifications are never imported there); anywhere else, off Linux, and
for any command other than the sandboxed or plain ipykernel, it is started as usual.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import sys
import tempfile
import traceback
import uuid
from collections.abc import Mapping
from typing import Any, NoReturn

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from dlci_grader.isolation import sandbox

WARM_MODULES = ("numpy", "torch", "ipykernel.kernelapp", "ipykernel.ipkernel")
"""What the autograde server imports for its kernels (what every notebook imports first)."""
ALLOWED = ("dlci_grader", "dlci_grader.isolation", "dlci_grader.kernel", "dlci_grader.nbgrader")
"""The grader's modules a kernel may be forked beside: the package markers, the sandbox and fork
servers, what the kernel imports anyway, nbgrader's preprocessors and configuration; anything
else of ``dlci_grader`` (judging, the task specifications, the run) means a plain start."""
_LAUNCHER = ("-m", "ipykernel_launcher")
PROCESS_NAME = "ipykernel"
"""The forked kernel's process name (``ps -o comm``, ``psutil.Process.name``); its command line
is still the autograde server's."""
_PR_SET_PDEATHSIG, _PR_SET_NAME = 1, 15
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the forked child opens no library


def clean(modules: Mapping[str, object] | None = None) -> bool:
    """Whether this process holds none of the grader's modules but :data:`ALLOWED` (and
    those below ``dlci_grader.isolation``, ``dlci_grader.kernel`` and ``dlci_grader.nbgrader``)."""
    names = sys.modules if modules is None else modules
    below = tuple(f"{name}." for name in ALLOWED[1:])
    return all(
        name in ALLOWED or name.startswith(below)
        for name in names if name == "dlci_grader" or name.startswith("dlci_grader.")
    )


def _is_this_python(program: str) -> bool:
    found = shutil.which(program)
    return found is not None and os.path.realpath(found) == os.path.realpath(sys.executable)


def plan(cmd: list[str]) -> tuple[sandbox.Launch | None, list[str]] | None:
    """(the sandbox, or None, and ipykernel's arguments) when ``cmd`` starts this Python's
    ipykernel, in the kit's sandbox or not; None for any other command."""
    launch = None
    if cmd[1:3] == ["-m", sandbox.__name__] and _is_this_python(cmd[0]):
        launch = sandbox.parse(cmd[3:])
        cmd = list(launch.program)
    if len(cmd) < 3 or tuple(cmd[1:3]) != _LAUNCHER or not _is_this_python(cmd[0]):
        return None
    return launch, cmd[3:]


class _Forked:
    """What jupyter_client needs of a ``Popen`` for a forked child."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone, as subprocess takes it
                self.returncode = 0
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self.returncode = 0
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class WarmProvisioner(LocalProvisioner):
    """``LocalProvisioner`` that forks the kernel from this process when it may (:func:`plan`,
    :func:`clean`, Linux); otherwise it starts it as ``LocalProvisioner`` does."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        planned = plan(cmd)
        if planned is None or not clean() or not sys.platform.startswith("linux"):
            return await super().launch_kernel(cmd, **kwargs)
        launch, arguments = planned
        parent = os.getpid()
        env = {**(kwargs.get("env") or os.environ), "JPY_PARENT_PID": str(parent)}
        cwd = str(kwargs.get("cwd") or os.getcwd())
        pid = os.fork()
        if pid == 0:
            _become_kernel(launch, arguments, env, cwd, parent)
        self.process = _Forked(pid)  # type: ignore[assignment]  # the Popen methods it uses
        self.pid = self.pgid = pid
        self.cwd = cwd
        return self.connection_info


class WarmKernelManager(AsyncKernelManager):
    """The kernel manager of the worker's nbgrader: its kernels launched by
    :class:`WarmProvisioner`."""

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = WarmProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self,
            )
        return await super()._async_pre_start_kernel(**kw)


def _inherited_descriptors_to_devnull() -> None:
    """Every descriptor above stderr now reads and writes ``/dev/null`` (kept open, so that no
    object of nbgrader's that closes its descriptor later closes one of the kernel's)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd != devnull:
            try:
                os.dup2(devnull, fd)
            except OSError:
                pass
    os.dup2(devnull, 0)


def _fresh_process_state() -> None:
    """Undo what nbgrader's process set that a new Python would not have: signal handlers, the
    asyncio loop, traitlets' application singleton."""
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.set_wakeup_fd(-1)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop_policy(None)
    from traitlets.config import Application

    Application.clear_instance()


def _become_kernel(
    launch: sandbox.Launch | None, arguments: list[str], env: Mapping[str, str], cwd: str,
    parent: int,
) -> NoReturn:
    """In the forked child: the kernel, as ``python -m ipykernel_launcher ARGUMENTS`` started
    in ``cwd`` with ``env`` (in ``launch``'s sandbox) would be, dying with nbgrader's process
    ``parent``; never returns."""
    code = 1
    try:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)  # nbgrader's process is gone already: nobody to run cells for
        os.setsid()
        _LIBC.prctl(_PR_SET_NAME, PROCESS_NAME.encode(), 0, 0, 0)
        _inherited_descriptors_to_devnull()
        _fresh_process_state()
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        if launch is not None:
            launch.enter()
        sys.path[0] = cwd  # as ``python -m`` started in cwd has it
        tempfile.tempdir = None
        sys.argv = ["ipykernel_launcher", *arguments]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 - the kernel's stderr is nbgrader's log
        traceback.print_exc()
    finally:
        try:
            for stream in (sys.__stdout__, sys.__stderr__):
                if stream is not None:
                    stream.flush()
        finally:
            os._exit(code)
