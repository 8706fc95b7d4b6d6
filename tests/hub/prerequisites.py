"""System pieces the hub tests need, installed from the package registries when missing.

Each ``ensure_*`` returns what it found or installed, and calls :func:`pytest.skip` with the
reason only when the install itself fails (no registry, no root). The versions are pinned
here; keep them in step with the ``hub`` extra asked for in autograder/deploy/README.md.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

JUPYTERHUB_VERSION = "6.1.1"
PLAYWRIGHT_VERSION = "1.65.2"
PROXY_VERSION = "5.3.0"  # configurable-http-proxy, from npm
CHROMIUM = Path("/usr/bin/chromium")
CACHE_ENV_VAR = "DLCI_HUB_CACHE"


def cache_dir() -> Path:
    """Where the test keeps configurable-http-proxy: $DLCI_HUB_CACHE, else
    ~/.cache/dlci-hub-test."""
    value = os.environ.get(CACHE_ENV_VAR)
    path = Path(value) if value else Path.home() / ".cache" / "dlci-hub-test"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(command: list[str], what: str, timeout: float = 600) -> None:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot install {what}: {' '.join(command)} failed: {error}")
    if result.returncode != 0:
        pytest.skip(
            f"cannot install {what}: {' '.join(command)} exited {result.returncode}: "
            f"{(result.stderr or result.stdout)[-600:]}"
        )


def require_root() -> None:
    """The hub tests create Unix users and run servers as them: that needs root."""
    if os.geteuid() != 0:
        pytest.skip(
            "the hub tests create Unix users (useradd) and spawn servers as them: run as root"
        )
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "runuser"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found (Debian package passwd/util-linux)")


def ensure_python_package(module: str, requirement: str) -> None:
    """Import ``module`` or pip-install ``requirement`` into this interpreter's environment."""
    if importlib.util.find_spec(module) is None:
        _run([sys.executable, "-m", "pip", "install", "--quiet", requirement], requirement)
        importlib.invalidate_caches()
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{requirement} installed but {module} still does not import")


def ensure_jupyterhub() -> Path:
    """JupyterHub in this environment; returns the path of ``jupyterhub``."""
    ensure_python_package("jupyterhub", f"jupyterhub=={JUPYTERHUB_VERSION}")
    return Path(sys.executable).parent / "jupyterhub"


def _apt_install(*packages: str) -> None:
    if shutil.which("apt-get") is None:
        pytest.skip(f"{', '.join(packages)} missing and no apt-get to install it")
    _run(["apt-get", "update"], "the Debian package lists", timeout=300)
    _run(["apt-get", "install", "-y", "--no-install-recommends", *packages], " ".join(packages))


def ensure_proxy() -> Path:
    """configurable-http-proxy from npm, in the cache folder; returns its executable."""
    prefix = cache_dir() / f"configurable-http-proxy-{PROXY_VERSION}"
    executable = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if executable.is_file():
        return executable
    if shutil.which("npm") is None:
        _apt_install("nodejs", "npm")
    _run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
         f"configurable-http-proxy@{PROXY_VERSION}"],
        f"configurable-http-proxy@{PROXY_VERSION} (npm)",
    )
    if not executable.is_file():
        pytest.skip(f"npm installed configurable-http-proxy but {executable} is missing")
    return executable


def ensure_chromium() -> Path:
    """Debian's headless-capable Chromium at /usr/bin/chromium."""
    if not CHROMIUM.is_file():
        _apt_install("chromium")
    if not CHROMIUM.is_file():
        pytest.skip(f"apt-get installed chromium but {CHROMIUM} is missing")
    return CHROMIUM


def ensure_playwright() -> None:
    """The Playwright Python package (drives /usr/bin/chromium; never downloads a browser)."""
    ensure_python_package("playwright", f"playwright=={PLAYWRIGHT_VERSION}")


def _usable_by_everyone(path: Path) -> bool:
    """Every folder on the way to ``path`` can be entered by other users (mode o+x)."""
    path = path.resolve()
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents] if p.is_dir())


@dataclass(frozen=True)
class UserPython:
    """The interpreter for the course users' servers, kernels and nbgrader commands.

    ``env`` must be added to their environment (it holds PATH, and LD_LIBRARY_PATH when the
    interpreter is a copy).
    """

    python: Path
    env: dict[str, str]


def ensure_user_python(folder: Path) -> UserPython:
    """An interpreter the course users may run, seeing this environment's packages.

    The users' servers run as other Unix users. When this environment's interpreter lives
    where they cannot go (here: a pyenv build under /root, mode 0700), this copies that same
    interpreter (binary, libpython, standard library without site-packages, about 100 MB) into
    ``folder`` and makes a venv from the copy whose ``.pth`` adds this environment's
    site-packages, whose ``share``/``etc`` point at this environment's (JupyterLab extensions,
    server-extension switches), and whose ``bin`` has this environment's console scripts
    (``alembic``, ``jupyter``, ``nbgrader``...) re-pointed at it. Nothing outside ``folder``
    changes. Otherwise it returns this interpreter.
    """
    import starter

    for needed in (Path(sys.prefix), Path(starter.__file__).parent):
        if not _usable_by_everyone(needed):
            pytest.skip(
                f"the course users cannot read {needed} (a folder above it lacks o+x): "
                "check out the kit and its .venv where other users can read them"
            )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    home = Path(sys.base_prefix)
    system_path = "/usr/local/bin:/usr/bin:/bin"
    if _usable_by_everyone(Path(sys.executable)) and _usable_by_everyone(home / "lib" / version):
        python = Path(sys.executable)
        return UserPython(python, {"PATH": f"{python.parent}:{system_path}"})
    runtime = Path(folder) / "python-runtime"
    shutil.copytree(
        home / "lib" / version, runtime / "lib" / version, symlinks=True,
        ignore=shutil.ignore_patterns("site-packages", "test", "idlelib", "turtledemo"),
    )
    (runtime / "lib" / version / "site-packages").mkdir()
    for library in (home / "lib").glob("libpython*.so*"):
        shutil.copy2(library, runtime / "lib" / library.name, follow_symlinks=False)
    (runtime / "bin").mkdir()
    shutil.copy2(home / "bin" / version, runtime / "bin" / version)
    env = {"LD_LIBRARY_PATH": str(runtime / "lib")}
    venv = Path(folder) / "user-python"
    result = subprocess.run(
        [str(runtime / "bin" / version), "-m", "venv", "--without-pip", str(venv)],
        capture_output=True, text=True, check=False, env={**os.environ, **env},
    )
    if result.returncode != 0:
        pytest.skip(f"cannot make a venv from a copy of {home}: {result.stderr[-600:]}")
    site_packages = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    (venv / "lib" / version / "site-packages" / "dlci_kit_env.pth").write_text(
        f"import site; site.addsitedir({str(site_packages)!r})\n"
    )
    for name in ("share", "etc"):
        if (Path(sys.prefix) / name).is_dir():
            (venv / name).symlink_to(Path(sys.prefix) / name)
    python = venv / "bin" / "python"
    _copy_console_scripts(Path(sys.prefix) / "bin", venv / "bin", python)
    env["PATH"] = f"{venv / 'bin'}:{system_path}"
    check = subprocess.run(
        [str(python), "-c", "import jupyterhub.singleuser, nbgrader, starter"],
        capture_output=True, text=True, check=False, env={**os.environ, **env},
    )
    if check.returncode != 0:
        pytest.skip(f"the copied interpreter {python} cannot import the kit: {check.stderr[-600:]}")
    return UserPython(python, env)


def _copy_console_scripts(source: Path, target: Path, python: Path) -> None:
    """Copy every script of ``source`` that runs this interpreter, with ``python`` as its #!."""
    for script in source.iterdir():
        destination = target / script.name
        if destination.exists() or not script.is_file():
            continue
        try:
            first, rest = script.read_bytes().split(b"\n", 1)
        except (OSError, ValueError):
            continue
        if first.startswith(b"#!") and b"python" in first:
            destination.write_bytes(b"#!" + str(python).encode() + b"\n" + rest)
            destination.chmod(0o755)
