"""False-pass rate of Task 1's judged tests: catalogued wrong answers over many secret seeds.

For each test that checks a formula and each typical mistake the kit catalogues
(:mod:`dlci_grader.offline.false_pass`), the grader draws the test's inputs with a secret
seed and judges the wrong answer with its own judge; a pass is a false pass. The goal is 0 of
every mistake over at least 10,000 seeds.

Usage::

    # 10,000 seeds, about 17 minutes on one core:
    OMP_NUM_THREADS=1 python -m bench.bench_false_pass
    python -m bench.bench_false_pass --seeds 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from dlci_grader.offline.false_pass import false_passes
from starter.progress import progress_bar

SEEDS = 10_000


def run(data_root: str | None = None, seeds: int = SEEDS) -> list[dict]:
    """Rows: one per (test, mistake), with its false passes out of ``seeds`` secret seeds."""
    start = time.perf_counter()
    totals: dict[tuple[str, str], list[int]] = {}
    chunk = 250
    with progress_bar(seeds, "seeds", unit="seed") as bar:
        for first in range(0, seeds, chunk):
            block = range(first + 1, min(seeds, first + chunk) + 1)  # seed 0 is nobody's secret
            for key, (passed, tried) in false_passes(block).items():
                tally = totals.setdefault(key, [0, 0])
                tally[0] += passed
                tally[1] += tried
            bar.update(len(block))
    rows = [
        {"test": test, "mistake": mistake, "false passes": passed, "seeds": tried,
         "rate %": 100.0 * passed / tried if tried else 0.0}
        for (test, mistake), (passed, tried) in sorted(totals.items())
    ]
    worst = max((r["false passes"] for r in rows), default=0)
    rows.append({"test": "all", "mistake": f"{len(rows)} (test, mistake) pairs",
                 "false passes": sum(r["false passes"] for r in rows), "seeds": seeds,
                 "rate %": float(worst), "s": time.perf_counter() - start})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    from bench.figures import machine, publish

    parser = argparse.ArgumentParser(prog="python -m bench.bench_false_pass", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=SEEDS, help=f"secret seeds (default {SEEDS})")
    args = parser.parse_args(argv)
    started = machine()
    rows = run(seeds=args.seeds)
    publish("bench_false_pass", rows, argv=sys.argv[1:] if argv is None else argv,
            started=started, uses_data=False)
    return 1 if rows[-1]["false passes"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
