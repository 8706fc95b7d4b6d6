r"""Peak memory and wall time of running one notebook, to size the hub's per-user guarantees.

Runs the notebook top to bottom with ``jupyter nbconvert --execute`` in a child process and
reports the largest resident set size among the processes it waited for (the kernel is the
largest), from ``getrusage(RUSAGE_CHILDREN)``. Run it once per task notebook on the image's
software and the real data, and put the numbers in values.yaml (see README.md, "Sizing").

    DLCI_DATA=/path/to/data python autograder/deploy/peak_memory.py \
        solutions/task1_backprop_inpainting.ipynb
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path


def peak_memory(notebook: str | Path, timeout: int = 3600) -> tuple[float, float, int]:
    """Run ``notebook``; return (peak RSS of the largest child in MiB, wall seconds, exit code)."""
    with tempfile.TemporaryDirectory(prefix="dlci-peak-") as out:
        start = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
             f"--ExecutePreprocessor.timeout={timeout}", "--output-dir", out, str(notebook)],
            env={**os.environ, "MPLBACKEND": "Agg"}, capture_output=True, text=True, check=False,
        )
        wall = time.monotonic() - start
    if result.returncode != 0:
        print(result.stderr[-2000:], file=sys.stderr)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    return peak_mib, wall, result.returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        parser.error(f"{args.notebook} not found")
    peak, wall, code = peak_memory(args.notebook, args.timeout)
    status = "ran to the end" if code == 0 else f"STOPPED EARLY (exit {code}): a lower bound"
    print(f"{args.notebook}: peak RSS {peak:.0f} MiB, wall {wall:.1f} s, {status}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
