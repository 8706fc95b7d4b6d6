"""A real JupyterHub on loopback, started from autograder/deploy/jupyterhub_config.py.

:class:`LocalHub` runs ``jupyterhub`` (which starts configurable-http-proxy and, through
LocalProcessSpawner, one single-user server per user, as that Unix user) on free ports of
127.0.0.1, in its own process group, and stops all of it on :meth:`LocalHub.stop`.
Users log in through the hub's login form; the tests drive the servers through the proxy.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import requests

from hub.prerequisites import UserPython

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "autograder" / "deploy" / "jupyterhub_config.py"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now.

    All sockets stay bound until every port is chosen: asked one at a time, the kernel may hand
    the same port back twice (it did in CI: the proxy took the hub's port and the hub failed
    with "Address already in use").
    """
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class HubError(RuntimeError):
    """The hub did not do what was asked; the message ends with the tail of its log."""


class LocalHub:
    """JupyterHub + proxy + single-user servers for ``instructors`` and ``students``.

    Args:
        jupyterhub: the ``jupyterhub`` executable.
        proxy: the ``configurable-http-proxy`` executable.
        user_python: the interpreter for users' servers and kernels (see
            :func:`hub.prerequisites.ensure_user_python`).
        state: an empty folder for the hub's database, secrets, pid files and log.
        exchange: the shared nbgrader exchange folder (mode 0777).
        instructors, students: Unix user names that exist.
        data_root: passed on as DLCI_DATA when given.
    """

    def __init__(
        self, jupyterhub: Path, proxy: Path, user_python: UserPython, state: Path, exchange: Path,
        instructors: Iterable[str], students: Iterable[str], data_root: Path | None = None,
    ) -> None:
        self.jupyterhub = Path(jupyterhub)
        self.proxy = Path(proxy)
        self.user_python = user_python
        self.state = Path(state)
        self.exchange = Path(exchange)
        self.instructors = list(instructors)
        self.students = list(students)
        self.data_root = data_root
        self.password = secrets.token_urlsafe(12)
        self.service_token = secrets.token_hex(24)
        self.port, self.api_port, self.proxy_api_port = free_ports(3)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = self.state / "hub.log"

    # --- life cycle -------------------------------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        """Start the hub and wait until its API answers through the proxy."""
        env = {
            # users' servers inherit PATH (and LD_LIBRARY_PATH): the user interpreter's scripts
            **self.user_python.env,
            "VIRTUAL_ENV": str(self.user_python.python.parent.parent),
            "LANG": "C.UTF-8",
            "HOME": str(self.state),
            "DLCI_HUB_STATE": str(self.state),
            "DLCI_HUB_PASSWORD": self.password,
            "DLCI_HUB_INSTRUCTORS": ",".join(self.instructors),
            "DLCI_HUB_STUDENTS": ",".join(self.students),
            "DLCI_HUB_PORT": str(self.port),
            "DLCI_HUB_API_PORT": str(self.api_port),
            "DLCI_HUB_PROXY_API_PORT": str(self.proxy_api_port),
            "DLCI_HUB_PROXY_COMMAND": str(self.proxy),
            "DLCI_HUB_USER_PYTHON": str(self.user_python.python),
            "DLCI_HUB_SERVICE_TOKEN": self.service_token,
            "NBGRADER_EXCHANGE": str(self.exchange),
        }
        if self.data_root is not None:
            env["DLCI_DATA"] = str(self.data_root)
        self.state.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self._log = log
        self.process = subprocess.Popen(
            [str(self.jupyterhub), "-f", str(CONFIG)], cwd=self.state, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HubError(f"jupyterhub exited with {self.process.returncode}{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise HubError(
            f"the hub did not answer on {self.url} within {timeout:.0f} s{self.log_tail()}"
        )

    def stop(self, grace: float = 20) -> None:
        """Stop the hub, which stops every server and its proxy; SIGKILL what is left after
        ``grace``."""
        if self.process is None:
            return
        if self.process.poll() is None:  # cleanup_servers: the hub stops every server first
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        try:  # the hub's own group is gone; the proxy may have its own session
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._kill_proxy()
        self._log.close()
        self.process = None

    def _kill_proxy(self) -> None:
        pid_file = self.state / "proxy.pid"
        if not pid_file.is_file():
            return
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"configurable-http-proxy" in cmdline:
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> LocalHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return f"\n--- tail of {self.log_path} ---\n{text[-chars:]}"

    # --- the hub's REST API (as the test's service) ------------------------------------------

    def api(
        self, method: str, path: str, timeout: float = 30, **kwargs: object
    ) -> requests.Response:
        """Call ``/hub/api<path>`` with the service token; raise :class:`HubError` on an error
        status."""
        response = requests.request(
            method, f"{self.url}/hub/api{path}", timeout=timeout,
            headers={"Authorization": f"token {self.service_token}"}, **kwargs,
        )
        if response.status_code >= 400:
            raise HubError(
                f"{method} /hub/api{path}: {response.status_code} {response.text[:500]}"
                f"{self.log_tail()}"
            )
        return response

    def user_token(self, name: str) -> str:
        """A new API token owned by ``name`` (it may use that user's own server)."""
        response = self.api("POST", f"/users/{name}/tokens", json={"note": "dlci hub test"})
        return response.json()["token"]

    def wait_for_server(self, name: str, timeout: float = 120) -> str:
        """Wait until ``name``'s default server is ready; return its URL through the proxy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.api("GET", f"/users/{name}").json().get("servers", {}).get("")
            if server and server.get("ready"):
                return f"{self.url}{server['url']}"
            time.sleep(0.5)
        raise HubError(f"{name}'s server was not ready within {timeout:.0f} s{self.log_tail()}")

    def start_server(self, name: str) -> str:
        """Ask the hub to spawn ``name``'s server (as an admin would); return its URL when ready."""
        self.api("POST", f"/users/{name}/server")
        return self.wait_for_server(name)

    # --- a person at the login form ---------------------------------------------------------

    def login(self, name: str) -> requests.Session:
        """Log in through /hub/login with the shared password, as a browser would.

        The hub redirects a fresh login to /hub/spawn, which starts the user's server; this
        returns the logged-in session once that server is ready.
        """
        session = requests.Session()
        session.get(f"{self.url}/hub/login", timeout=30).raise_for_status()
        xsrf = session.cookies.get("_xsrf")
        response = session.post(
            f"{self.url}/hub/login", timeout=120,
            data={"username": name, "password": self.password, "_xsrf": xsrf},
        )
        if response.status_code >= 400 or "jupyterhub-session-id" not in session.cookies:
            raise HubError(f"login of {name} failed: {response.status_code}{self.log_tail()}")
        self.wait_for_server(name)
        return session

    def user_session(self, name: str) -> tuple[str, requests.Session]:
        """(base URL of ``name``'s server, a session carrying a token of ``name``)."""
        base = self.wait_for_server(name)
        session = requests.Session()
        session.headers["Authorization"] = f"token {self.user_token(name)}"
        return base, session
