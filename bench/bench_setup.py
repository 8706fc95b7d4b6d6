"""What a new user waits for: the README's commands on a fresh clone of this checkout's last commit.

In a temporary folder: ``git clone`` of ``HEAD``, then ``make install``, ``make demo`` (no course
data anywhere: the embedded default, as the README's main command runs) and ``make test`` (on
the real data when ``--root``/``DLCI_DATA`` names it, which the tests then require, as CI does);
and a student's install, ``pip install .`` into a fresh virtual environment of its own.
Reported per step: wall seconds, exit status, the peak resident memory of the largest process it
ran, and for the installs the virtual environment's size on disk and its number of packages;
for the tests, pytest's summary
(its log, with the forty slowest tests as CI lists them, stays in ``--keep``'s folder).
This is CI's work run one step after another (CI installs beside its lint), about half an hour
on 2 cores.

    python -m bench setup
    python -m bench.bench_setup --root DATA
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _du_gib(path: Path) -> float:
    """Size on disk of ``path`` (GiB), as ``du`` counts it."""
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 2**20


def _packages(venv: Path) -> int:
    """How many distributions the virtual environment ``venv`` holds (``pip list``)."""
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                         capture_output=True, text=True, check=True)
    return len([line for line in out.stdout.splitlines() if "==" in line or " @ " in line])


def _step(name: str, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict:
    """Run one ``make`` step with its output in ``log``; its seconds, status and peak memory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    with log.open("w") as out:
        rc = subprocess.run(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"{name}: {seconds:.0f} s, exit {rc} (log: {log})", file=sys.stderr, flush=True)
    return {
        "step": name, "s": seconds, "exit": rc,
        # the children's maximum only grows: a step below an earlier step's peak shows "<"
        "largest process peak GiB": (f"{peak / 2**20:.2f}" if peak > before
                                     else f"< {before / 2**20:.2f}"),
    }


def run(data_root: str | None = None, keep: Path | None = None) -> list[dict]:
    """Rows: install, demo and test on a fresh clone, with the venv's size and pytest's summary."""
    root = data_root or os.environ.get("DLCI_DATA")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    folder = (nullcontext(str(keep)) if keep
              else tempfile.TemporaryDirectory(prefix="dlci-bench-setup-"))
    with folder as tmp_name:
        tmp = Path(tmp_name)
        clone = tmp / "kit"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone,
                                capture_output=True, text=True, check=True).stdout.strip()
        base = {k: v for k, v in os.environ.items()
                if k not in {"DLCI_DATA", "DLCI_REQUIRE_DATA", "VIRTUAL_ENV"}}
        base["MPLBACKEND"] = "Agg"
        rows = [_step("make install", ["make", "install"], clone, base, tmp / "install.log")]
        rows[-1]["venv GiB"] = f"{_du_gib(clone / '.venv'):.2f}"
        rows[-1]["packages"] = _packages(clone / ".venv")
        student = tmp / "student-venv"
        subprocess.run([sys.executable, "-m", "venv", str(student)], check=True)
        rows.append(_step("a student's pip install .",
                          [str(student / "bin" / "python"), "-m", "pip", "install", "--quiet", "."],
                          clone, base, tmp / "student-install.log"))
        rows[-1]["venv GiB"] = f"{_du_gib(student):.2f}"
        rows[-1]["packages"] = _packages(student)
        rows.append(_step("make demo (no course data)", ["make", "demo"], clone, base,
                          tmp / "demo.log"))
        test_env = dict(base)
        if root:
            test_env.update(DLCI_DATA=str(Path(root).resolve()), DLCI_REQUIRE_DATA="1")
        rows.append(_step(f"make test ({'real data' if root else 'no course data'})",
                          ["make", "test", "PYTEST_ARGS=--durations=40"], clone, test_env,
                          tmp / "test.log"))
        log = (tmp / "test.log").read_text()
        summary = re.findall(r"=+ (.*(?:passed|failed).*) in [\d.]+s", log)
        rows[-1]["pytest"] = summary[-1] if summary else "no summary (see the log)"
        for row in rows:
            row["commit"] = commit
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None,
                        help="course data for make test (default: DLCI_DATA)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder (kept, with the logs) instead of a temporary one")
    args = parser.parse_args()
    from bench.figures import machine, publish

    started = machine()
    rows = run(args.root, args.keep)
    publish("bench_setup", rows, argv=sys.argv[1:],
            data_root=args.root, started=started)
    raise SystemExit(max(row["exit"] for row in rows))
