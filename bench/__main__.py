"""Run every ``bench/bench_*.py`` module's ``run(data_root)`` and print markdown tables.

Usage: ``python -m bench [--root DATA] [NAME ...]`` (names like ``training`` select modules).
The data root is found as everywhere in the kit (``--root``, ``DLCI_DATA``, ``data/``, cache).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import bench


def discover() -> list[str]:
    """Names of the benchmark modules, ``bench_<topic>``, sorted."""
    path = Path(bench.__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(path)]) if m.name.startswith("bench_"))


def markdown(rows: Sequence[dict]) -> str:
    """Rows of dicts as a GitHub markdown table (columns in order of first appearance)."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c, "")
            cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="modules to run, e.g. training (default: all)")
    parser.add_argument("--root", default=None, help="data root (default: DLCI_DATA, data/, ...)")
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
    for name in modules:
        module = importlib.import_module(f"bench.{name}")
        start = time.perf_counter()
        rows = module.run(args.root)
        print(f"\n## {name} ({time.perf_counter() - start:.0f} s)\n")
        print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
