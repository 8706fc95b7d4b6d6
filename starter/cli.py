"""``dlci``: the kit's one command-line tool.

Student verbs live here (``fetch``, ``info``, and ``check`` from :mod:`starter.check`). Instructor
verbs (``release``,
``grade``, ``feedback``, ``demo``, ...) come from the separately installed ``dlci-autograder``
distribution, which registers them under the ``dlci.commands`` entry-point group: each entry
point is a function ``register(subparsers)`` that adds its sub-command and sets ``func``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from starter import __version__
from starter.check import register_check


def _cmd_fetch(args: argparse.Namespace) -> int:
    from starter.data import fetch

    root = fetch(args.root, which=args.only or ("bsds300", "mnist"))
    print(f"course data ready in {root}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    import torch  # here, not at the top: `dlci check` and `dlci --help` start without it

    from starter.data import DATA_ENV_VAR, locate_data_root
    from starter.device import cpu_has_native_bf16, default_device

    located = locate_data_root(args.root)
    print(f"dlci-kit {__version__}, torch {torch.__version__}")
    print(f"data root: {located.describe()}; override with --root or {DATA_ENV_VAR}")
    checks = {
        "BSDS300 train": located.path / "BSDS300" / "images" / "train",
        "BSDS300 test": located.path / "BSDS300" / "images" / "test",
        "MNIST (raw IDX)": located.path / "MNIST" / "raw",
    }
    for name, path in checks.items():
        print(
            f"  {name:16s} "
            f"{'found' if path.is_dir() else 'missing (embedded stand-in will be used)'}"
        )
    print(f"device: {default_device()}; CPU native bf16: {cpu_has_native_bf16()}")
    plugins = sorted(ep.name for ep in entry_points(group="dlci.commands"))
    print(
        "instructor commands: "
        f"{', '.join(plugins) if plugins else 'not installed (pip install -e ./autograder)'}"
    )
    return 0


STUDENT_VERBS = ("fetch", "info", "check")


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    """The ``dlci`` argument parser, with any instructor plugins registered (``plugins``)."""
    parser = argparse.ArgumentParser(prog="dlci", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dlci-kit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "fetch", help="download BSDS300 and MNIST from their official sources, verified"
    )
    p.add_argument("--root", help="data root (default: $DLCI_DATA, else data/ in the kit)")
    p.add_argument(
        "--only", action="append", choices=["bsds300", "mnist"], help="fetch only this dataset"
    )
    p.set_defaults(func=_cmd_fetch)

    p = sub.add_parser("info", help="where the data is, what is missing, what the machine can do")
    p.add_argument("--root", help="data root to inspect")
    p.set_defaults(func=_cmd_info)

    register_check(sub)

    for ep in entry_points(group="dlci.commands") if plugins else ():
        try:
            ep.load()(sub)
        except Exception as exc:  # a broken plugin must not take the student verbs down
            print(f"dlci: could not load command {ep.name!r}: {exc}", file=sys.stderr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    # a student verb needs no instructor plugin: `dlci check` starts without the grader's imports
    parser = build_parser(plugins=not words or words[0] not in STUDENT_VERBS)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, ConnectionError, RuntimeError) as exc:
        print(f"dlci {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
