"""``dlci check``: run the visible tests of your notebook and see which pass, with points.

Runs the whole notebook top to bottom in a fresh kernel (your saved file, not your open
session), with nbclient, in the notebook's own folder, and prints one line per test cell:
passed or failed, its points, and the error's last line. By default it runs in the grading mode
the autograder uses (``DLCI_GRADING=1``: short training, few test images), so it takes about as
long as grading does; ``--full`` runs the notebook's full schedule instead. Hidden tests are not
in your notebook, so they are not run: the autograder adds them when grading, and the
points they are worth are not counted here.

Example::

    dlci check notebooks/task1_backprop_inpainting.ipynb
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat


@dataclass(frozen=True)
class TestResult:
    """One visible test cell after running the notebook."""

    name: str
    points: float
    passed: bool
    error: str = ""


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _only_docstring(source: str) -> bool:
    """True for a cell holding nothing but a docstring and comments (a hidden test's place)."""
    import ast

    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
    )


def _last_line(text: str) -> str:
    lines = [s for s in str(text).strip().splitlines() if s.strip()]
    return lines[-1][:200] if lines else ""


def run_tests(path: str | Path, grading: bool = True, timeout: int = 600) -> list[TestResult]:
    """Execute the notebook at ``path`` in a fresh kernel; the result of every visible test cell.

    Args:
        path: the student's ``.ipynb``.
        grading: run in the autograder's grading mode (``DLCI_GRADING=1``).
        timeout: seconds one cell may run (then it fails with a timeout).

    Raises:
        FileNotFoundError: no notebook at ``path``.
        ValueError: the file is not a notebook, or has no test cells (not a course notebook).
    """
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path.resolve()}")
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # noqa: BLE001 - report any unreadable file the same way
        raise ValueError(f"{path} is not a readable notebook: {exc}") from exc
    tests = [
        c for c in notebook.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
        and not c.metadata["nbgrader"].get("solution")
        and not _only_docstring(c.source)  # a hidden test's cell: its code is added when grading
    ]
    if not tests:
        raise ValueError(f"{path} has no test cells; is it one of the course's notebooks?")
    client = NotebookClient(
        notebook, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
        kernel_name="python3", resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    with _environ({"DLCI_GRADING": "1"} if grading else {}):
        client.execute()
    results = []
    for cell in tests:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        meta = cell.metadata["nbgrader"]
        error = ""
        if errors:
            error = f"{errors[-1].get('ename', 'Error')}: {_last_line(errors[-1].get('evalue', ''))}"
        results.append(TestResult(meta["grade_id"], float(meta.get("points", 0)), not errors, error))
    return results


def run_check(path: str | Path, grading: bool = True, timeout: int = 600) -> int:
    """Run the visible tests of the notebook at ``path`` and print a summary.

    Returns:
        0 when every visible test passes, 1 otherwise (a shell exit status).
    """
    start = time.perf_counter()
    print(f"running {path} in a fresh kernel{' (grading mode)' if grading else ''} ...", flush=True)
    results = run_tests(path, grading=grading, timeout=timeout)
    width = max(len(r.name) for r in results)
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        line = f"  {mark}  {r.name:<{width}}  {r.points if r.passed else 0:g}/{r.points:g}"
        print(line + (f"  {r.error}" if r.error else ""))
    got = sum(r.points for r in results if r.passed)
    total = sum(r.points for r in results)
    passed = sum(r.passed for r in results)
    print(
        f"{passed}/{len(results)} visible tests pass, {got:g}/{total:g} points "
        f"({time.perf_counter() - start:.0f} s). Hidden tests and written answers are graded "
        "after you hand in."
    )
    return 0 if passed == len(results) else 1


def _cmd_check(args: argparse.Namespace) -> int:
    return run_check(args.notebook, grading=not args.full, timeout=args.timeout)


def register_check(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dlci check NOTEBOOK`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "check", help="run the visible tests of your notebook in a fresh kernel and summarise"
    )
    p.add_argument("notebook", help="your notebook, e.g. notebooks/task1_backprop_inpainting.ipynb")
    p.add_argument("--full", action="store_true", help="run the full schedule, not grading mode")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.set_defaults(func=_cmd_check)
