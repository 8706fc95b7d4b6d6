"""Run every ``bench/bench_*.py`` module, each in its own process, and print its markdown table.

Usage: ``python -m bench [--root DATA] [--quick] [NAME ...]`` (names like ``training`` select
modules). The data root is found as everywhere in the kit (``--root``, ``DLCI_DATA``, ``data/``,
cache). Each module's table is also written to its section of ``docs/maintainers/figures.md``
(:mod:`bench.figures`), the file the docs quote figures from. ``--quick`` runs the short version
of the modules that have one (the training benchmark: a few minutes instead of about half an hour).
"""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import bench

NO_DATA = {"bench_false_pass", "bench_similarity"}
"""Benchmarks that read no course data (their figures name none)."""

QUICK = {"bench_training"}
"""Benchmarks with a short version, ``--quick``."""


def discover() -> list[str]:
    """Names of the benchmark modules, ``bench_<topic>``, sorted."""
    path = Path(bench.__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(path)]) if m.name.startswith("bench_"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="modules to run, e.g. training (default: all)")
    parser.add_argument("--root", default=None, help="data root (default: DLCI_DATA, data/, ...)")
    parser.add_argument("--quick", action="store_true",
                        help="the short version of the modules that have one (training)")
    args = parser.parse_args(argv)
    modules = discover()
    if args.names:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in args.names}
        unknown = wanted - set(modules)
        if unknown:
            parser.error(f"unknown benchmarks {sorted(unknown)}; found {modules}")
        modules = [m for m in modules if m in wanted]
    if not modules:
        print("no bench/bench_*.py modules found", file=sys.stderr)
        return 1
    failed = []
    for name in modules:
        # each in a fresh process, forked from this small one: its memory figures are its own
        # (a child's peak RSS starts at its parent's, and Linux keeps it across exec)
        command = [sys.executable, "-m", f"bench.{name}"]
        if args.root and name not in NO_DATA:
            command += ["--root", args.root]
        if args.quick and name in QUICK:
            command.append("--quick")
        start = time.perf_counter()
        rc = subprocess.run(command, check=False).returncode
        print(f"\n{name}: {time.perf_counter() - start:.0f} s, exit {rc}\n", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0

if __name__ == "__main__":
    raise SystemExit(main())
