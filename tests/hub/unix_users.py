"""Real Unix users for the hub tests, created with useradd and removed afterwards.

Every user the tests make carries :data:`MARKER` and the creating process id in its GECOS
field, so a run that was killed half-way is cleaned up by the next one (its process is gone),
while a run going on at the same time keeps its users, and no other account is touched.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

MARKER = "dlci hub test user"


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def pids_of(uid: int) -> list[int]:
    """Process ids whose real user id is ``uid`` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("Uid:"):
                    if int(line.split()[1]) == uid:
                        pids.append(int(entry.name))
                    break
        except (OSError, ValueError):
            continue
    return pids


def kill_processes_of(uid: int, grace: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process of ``uid`` (a test user's, started by the tests)."""
    pids = pids_of(uid)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while pids_of(uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids_of(uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def _owner_alive(gecos: str) -> bool:
    match = re.search(r"pid=(\d+)", gecos)
    if not match:
        return False
    try:
        os.kill(int(match[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_users() -> list[str]:
    """Remove test users whose creating process has ended (a killed run's leftovers)."""
    stale = [e.pw_name for e in pwd.getpwall()
             if MARKER in e.pw_gecos and not _owner_alive(e.pw_gecos)]
    for name in stale:
        remove_user(name)
    return stale


def remove_user(name: str) -> None:
    """Stop the user's processes and delete the account with its home (only test users)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    if MARKER not in entry.pw_gecos:
        raise RuntimeError(f"refusing to remove {name}: not a test user (GECOS {entry.pw_gecos!r})")
    kill_processes_of(entry.pw_uid)
    _run("userdel", "--remove", name)


class UnixUsers:
    """Create ``names`` (each with its own group) with private homes under ``home_base``; remove
    on close.

    Example:
        >>> with UnixUsers(["dlci-student1"], Path("/tmp/x")) as users:  # doctest: +SKIP
        ...     users.home("dlci-student1")
    """

    def __init__(self, names: Iterable[str], home_base: Path) -> None:
        self.names = list(names)
        self.home_base = Path(home_base)

    def __enter__(self) -> UnixUsers:
        remove_stale_users()
        taken = [n for n in self.names if _run("getent", "passwd", n).returncode == 0]
        if taken:
            raise RuntimeError(f"users already exist: {taken}")
        self.home_base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home_base, 0o755)
        try:
            for name in self.names:
                result = _run(
                    "useradd", "--create-home", "--home-dir", str(self.home_base / name),
                    "--user-group", "--shell", "/bin/bash",
                    "--comment", f"{MARKER} pid={os.getpid()}", name,
                )
                if result.returncode != 0:
                    raise RuntimeError(f"useradd {name} failed: {result.stderr.strip()}")
                # private homes: Debian's useradd makes them 0755, which would let students read
                # the instructor's course folder (solutions, hidden tests, gradebook)
                os.chmod(self.home_base / name, 0o700)
        except BaseException:
            self.close()
            raise
        return self

    def home(self, name: str) -> Path:
        return Path(pwd.getpwnam(name).pw_dir)

    def uid(self, name: str) -> int:
        return pwd.getpwnam(name).pw_uid

    def run_as(
        self, name: str, *command: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 600,
    ) -> subprocess.CompletedProcess:
        """Run ``command`` as user ``name`` (runuser) with a clean environment plus ``env``."""
        home = self.home(name)
        base = {
            "HOME": str(home), "USER": name, "LOGNAME": name,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
        }
        pairs = [f"{k}={v}" for k, v in {**base, **(env or {})}.items()]
        full = ["runuser", "-u", name, "--", "env", "-i", *pairs, *command]
        return subprocess.run(
            full, cwd=cwd or home, capture_output=True, text=True, timeout=timeout, check=False
        )

    def close(self) -> None:
        for name in self.names:
            remove_user(name)

    def __exit__(self, *exc: object) -> None:
        self.close()
