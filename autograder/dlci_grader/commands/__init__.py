"""The ``dlci`` verbs of the instructor tools (entry-point group ``dlci.commands``): argument
parsing and printing only; the work is in the other packages."""

from __future__ import annotations

import argparse
import os

from starter.env_vars import COURSE_ENV_VAR, SOLUTIONS_ENV_VAR


def add_course_option(parser: argparse.ArgumentParser) -> None:
    """``--course``: the nbgrader course folder, by default ``$DLCI_COURSE_ROOT`` (the hub's
    instructor image sets it to ``~/course``), else ``./course``."""
    default = os.environ.get(COURSE_ENV_VAR) or "course"
    parser.add_argument(
        "--course", default=default,
        help=f"nbgrader course folder (default: ${COURSE_ENV_VAR}, else course; now {default})",
    )


def add_solutions_option(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--solutions``: the source notebooks' folder, by default ``$DLCI_SOLUTIONS`` (the
    instructor image's copy of the kit's), else ``./solutions``."""
    default = os.environ.get(SOLUTIONS_ENV_VAR) or "solutions"
    parser.add_argument(
        "--solutions", default=default,
        help=(help or "source notebooks")
        + f" (default: ${SOLUTIONS_ENV_VAR}, else solutions; now {default})",
    )
