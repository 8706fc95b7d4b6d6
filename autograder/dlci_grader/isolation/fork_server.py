"""Fork servers: a process that imports its heavy modules once, then forks one child per job.

Starting Python and importing PyTorch or nbgrader costs seconds; a class run would pay that for
every notebook. A fork server (``python -m MODULE --serve``, the module calling :func:`serve`)
pays it once: it imports, then for each request line on its stdin forks a child that applies
the job's own limits and sandbox before it runs anything of the job
(the module's ``child`` function), and it relays what the child writes down its pipe to its
stdout, between a ``{"pid"}`` line and a ``{"done"}`` line (exit status, CPU seconds).

The server itself runs no job's code and stays single-threaded, so every child starts from the
same clean state; it is not dumpable, so no child can open ``/proc/<server>/fd``; it dies with
the grader (``PR_SET_PDEATHSIG``) and exits when its stdin closes.

The grader's side is :class:`ForkServers`: the servers of one grading run, one per module and
per notebook graded at once, handed out to the grading threads (:meth:`ForkServers.take`).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from dlci_grader.isolation.limits import apply_limits, join_cgroup, release_cgroup

_PR_SET_DUMPABLE = 4
STARTUP_ENV = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONPATH", "PATH", "LD_LIBRARY_PATH",
    "LANG", "LC_ALL", "LC_CTYPE", "PYTHONHASHSEED", "PYTHONUTF8", "PYTHONDONTWRITEBYTECODE",
    "MPLBACKEND",
)
"""Variables a Python process reads when it starts or imports its libraries: a server is
started with these alone (each child sets its job's whole environment), and servers started
with different values are kept apart."""
STOPPED = "the grader's fork server stopped"
""":attr:`Outcome.stopped` of a job whose server ended before the job did."""


def not_dumpable() -> None:
    """Make /proc/<this process> unreadable to processes without ``CAP_SYS_PTRACE``; children
    forked later inherit it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the sandbox is rlimits only there anyway
        pass


def import_trusted(modules: Sequence[str]) -> None:
    """Import ``modules`` in the server (names the grader chose, never a student), so that each
    child starts with them; one that fails is left for the child to meet."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001, S112 - the child imports it again and meets the error
            continue


def serve(preload: Callable[[], None], child: Callable[[dict[str, Any], int], NoReturn]) -> int:
    """The server's loop: ``preload()`` once, then per request line fork ``child(request, fd)``
    (``fd``: the pipe whose lines the server relays) and relay; returns when stdin closes."""
    home = tempfile.mkdtemp(prefix="dlci-fork-server-")
    os.environ.update({"HOME": home, "TMPDIR": home, "MPLCONFIGDIR": home})
    apply_limits(None)  # die with the grader
    not_dumpable()
    preload()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDWR), 1)
    try:
        for line in sys.stdin.buffer:
            request = json.loads(line)
            import_trusted([str(m) for m in request.get("warm", [])])
            read, write = os.pipe()
            request["server_pid"] = os.getpid()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                replies.close()
                child(request, write)
            os.close(write)
            replies.write(json.dumps({"pid": pid}).encode() + b"\n")
            replies.flush()
            while chunk := os.read(read, 1 << 20):
                replies.write(chunk)
                replies.flush()
            os.close(read)
            _, status, usage = os.wait4(pid, 0)
            done = {"done": os.waitstatus_to_exitcode(status),
                    "cpu": usage.ru_utime + usage.ru_stime}
            replies.write(json.dumps(done).encode() + b"\n")
            replies.flush()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


def serve_command(
    module: str, preload: Callable[[], None], child: Callable[[dict[str, Any], int], NoReturn],
) -> int:
    """``python -m MODULE --serve``: :func:`serve`, then the process ends at once (``os._exit``:
    the interpreter's teardown of PyTorch and nbgrader is a second a server, paid at the end of
    every Gradescope submission); anything else is a usage error (exit 2)."""
    if sys.argv[1:] != ["--serve"]:
        print(f"usage: python -m {module} --serve (started by the grader)", file=sys.stderr)
        return 2
    code = serve(preload, child)
    sys.stderr.flush()
    os._exit(code)


def enter_job(request: Mapping[str, Any], keep_fd: int) -> None:
    """In a fresh child: a process group of its own (killed whole on timeout), stdin and stdout
    on /dev/null and stderr on the request's ``log`` file, no descriptor of the server's but
    ``keep_fd``, then the request's cgroup (``max_pids``) and memory cap (``memory_bytes``)."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    log = os.open(str(request["log"]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 2)
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, 1 << 16)
    if request.get("max_pids"):
        join_cgroup(int(request["max_pids"]))
    apply_limits(request.get("memory_bytes"))  # and die with the server
    if os.getppid() != request.get("server_pid", os.getppid()):
        os._exit(1)  # the server died before this child could follow it: nothing to run for


def become(request: Mapping[str, Any]) -> None:
    """In the child, after its limits and sandbox: the job's folder, environment and path."""
    cwd = str(request["cwd"])
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in request["env"].items()})
    sys.path[0] = cwd  # as ``python -m`` started in cwd would have it
    tempfile.tempdir = None  # the job's TMPDIR, not the server's


@dataclass
class Outcome:
    """How one job ended: the JSON lines its child sent, its exit status (None: killed or never
    reported), its CPU seconds (with the descendants it waited for), why it was stopped
    ('' when it ended by itself) and whether that was its time running out."""

    lines: list[dict[str, object]] = field(default_factory=list)
    exit: int | None = None
    cpu: float = 0.0
    stopped: str = ""
    timed_out: bool = False


class ForkServer:
    """One fork server of ``module``: one job at a time."""

    def __init__(self, module: str, env: Mapping[str, str]) -> None:
        self.key = server_key(module, env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={k: env[k] for k in STARTUP_ENV if k in env},  # nothing of the first job's own
        )
        self._buffer = b""
        self._ended = False  # its output reached its end: the server is gone

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(
        self, request: Mapping[str, object], timeout: float, cap: int | None = None,
        started: Callable[[int], None] | None = None, stop: Callable[[int], None] | None = None,
    ) -> Outcome:
        """Run one job: ``started(pid)`` once its child is forked; after ``timeout`` s, or once
        it sent more than ``cap`` bytes, ``stop(pid)`` (default: kill its process group). A
        server that stops answering is killed; the pool then starts another."""
        assert self.proc.stdin is not None
        outcome = Outcome()
        deadline = time.monotonic() + timeout
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            self.close()
            outcome.stopped = STOPPED
            return outcome
        first = self._line(time.monotonic() + 120)
        pid = first.get("pid") if first is not None else None
        if not isinstance(pid, int):
            self.close()
            outcome.stopped = STOPPED
            return outcome
        if started is not None:
            started(pid)
        try:
            return self._follow(outcome, pid, deadline, timeout, cap, stop)
        finally:
            if request.get("max_pids"):
                release_cgroup(pid)  # whatever the job left in its cgroup

    def _follow(
        self, outcome: Outcome, pid: int, deadline: float, timeout: float, cap: int | None,
        stop: Callable[[int], None] | None,
    ) -> Outcome:
        size = 0
        while True:
            line = self._line(deadline)
            if line is None:
                outcome.timed_out = not self._ended
                outcome.stopped = (
                    f"the run took longer than {timeout:g} s" if outcome.timed_out else STOPPED
                )
                break
            if "done" in line and "test" not in line:
                return _done(outcome, line)
            size += len(json.dumps(line))
            if cap is not None and size > cap:
                outcome.stopped = f"the run sent more than {cap} bytes"
                break
            outcome.lines.append(line)
        (stop or kill_group)(pid)
        while (line := self._line(time.monotonic() + 30)) is not None:
            if "done" in line and "test" not in line:
                return _done(outcome, line, killed=True)
        self.close()
        return outcome

    def _line(self, deadline: float) -> dict[str, object] | None:
        """The next JSON object line from the server, or None at the deadline or its end."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                self._ended = True
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            value = json.loads(line)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def close(self) -> None:
        """Stop the server (closing its input ends it; killed if it does not)."""
        self.hang_up()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def hang_up(self) -> None:
        """Close the server's input and output: it ends once its current job is done."""
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


def _done(outcome: Outcome, line: Mapping[str, object], killed: bool = False) -> Outcome:
    code, cpu = line.get("done"), line.get("cpu")
    outcome.exit = None if killed or not isinstance(code, int) else code
    outcome.cpu = float(cpu) if isinstance(cpu, (int, float)) else 0.0
    return outcome


class ForkServers:
    """The fork servers of one grading run: a thread takes an idle server of a module (or starts
    one) for a job and gives it back. Close it when the run ends (``with ForkServers() as s:``).

    Servers are kept apart by module and by what a process fixes when it starts
    (:data:`STARTUP_ENV`, the Python, the user); everything else is set per job."""

    def __init__(self) -> None:
        self._idle: list[ForkServer] = []
        self._lock = threading.Lock()

    def take(self, module: str, env: Mapping[str, str]) -> ForkServer:
        key = server_key(module, env)
        with self._lock:
            for server in self._idle:
                if server.key == key and server.alive():
                    self._idle.remove(server)
                    return server
        return ForkServer(module, env)

    def start_ahead(self, module: str, env: Mapping[str, str]) -> None:
        """Start a server of ``module`` now, unless one is idle: its imports then overlap the
        caller's work until it takes the server (:meth:`take`)."""
        key = server_key(module, env)
        with self._lock:
            if any(server.key == key and server.alive() for server in self._idle):
                return
        self.give_back(ForkServer(module, env))

    def give_back(self, server: ForkServer) -> None:
        if not server.alive():
            return
        with self._lock:
            self._idle.append(server)

    def idle(self) -> list[ForkServer]:
        """The servers waiting for a job now."""
        with self._lock:
            return list(self._idle)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for server in idle:  # all told first: they end side by side
            server.hang_up()
        for server in idle:
            server.close()

    def __enter__(self) -> ForkServers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def run_on(
    servers: ForkServers | None, module: str, env: Mapping[str, str],
    request: Mapping[str, object], timeout: float, **options: Any,
) -> Outcome:
    """:meth:`ForkServer.run` on a server of ``servers`` (None: one started for this job)."""
    pool = servers if servers is not None else ForkServers()
    server = pool.take(module, env)
    try:
        return server.run(request, timeout, **options)
    finally:
        pool.give_back(server)
        if servers is None:
            pool.close()


def server_key(module: str, env: Mapping[str, str]) -> tuple[str, ...]:
    return (module, sys.executable, str(os.getuid()), *(env.get(v, "") for v in STARTUP_ENV))


def kill_group(pid: int) -> None:
    """SIGKILL the process group ``pid`` leads (a job's child and what it started), and ``pid``
    itself: a child stopped at once (a deadline that passed while its server was starting) may
    not lead its group yet (:func:`enter_job`'s ``setsid``), and it has started nothing then.
    The server has not reaped ``pid`` before it reports the job done, so it is still the job's."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass
