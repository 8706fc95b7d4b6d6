"""``dlci demo``: the kit's main job, end to end, on whatever data is there: parse, run
:func:`dlci_grader.offline.demo.run_demo`, print its tables.

An instructor command (registered under the ``dlci.commands`` entry points of the
``dlci-autograder`` distribution): the demo uses the reference Wiener filter, which the student
package does not hold.
"""

from __future__ import annotations

import argparse
import time


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci demo`` (entry point ``dlci.commands``)."""
    p = subparsers.add_parser(
        "demo", help="run the kit's main job end to end and write its figures",
    )
    p.add_argument("--out", default="demo_output", help="folder for figures and tables")
    p.add_argument(
        "--root", help="data root (default: $DLCI_DATA, else data/ in the kit, else embedded)"
    )
    p.add_argument("--steps", type=int, default=300, help="DnCNN training steps")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from dlci_grader.offline.demo import run_demo

    t0 = time.perf_counter()
    done = run_demo(out=args.out, root=args.root, steps=args.steps, seed=args.seed)
    print("\nWiener deconvolution (Task 3 blur), mean PSNR (dB):")
    print(done.wiener.to_string())
    print(
        f"\nDnCNN after {done.steps} steps at σ = 0.1, mean PSNR (dB) on {done.test_images} "
        "test images:"
    )
    print(done.dncnn.to_string())
    files = sorted(p.name for p in done.out.iterdir())
    print(f"\nwrote {', '.join(files)} to {done.out}/ in {time.perf_counter() - t0:.0f} s")
    return 0
