"""``dlci check``: run the visible tests of your notebook and see which pass, with points.

Runs the notebook from the top to its last test cell in a fresh kernel (your saved file, not
your open session), with nbclient, in the notebook's own folder; the cells after the last test
(the closing figures, the bonus) cannot change a test's result, so they are not run. It prints
one line per test cell:
passed or failed, its points, and the error's last line. By default it runs in the grading mode
the autograder uses (``DLCI_GRADING=1``: short training, few test images), so it takes about as
long as grading does; ``--full`` runs the notebook's full schedule instead. Hidden tests are not
in your notebook, so they are not run: the autograder adds them when grading, and the
points they are worth are not counted here.

Example, in the folder that holds the notebook (on the hub, the assignment's folder)::

    dlci check task1_backprop_inpainting.ipynb
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient.exceptions import DeadKernelError

from starter.definitions import refusals, self_contained_warnings
from starter.env_vars import GRADING_ENV_VAR
from starter.nbgrader_cells import grade_id, is_test


@dataclass(frozen=True)
class TestResult:
    """One visible test cell after running the notebook.

    Attributes:
        name: the test's grade id.
        points: what it is worth.
        passed: it ran without an error.
        checks: what it checks, in words (the first line of the cell's docstring).
        error: the error's name and whole message when it failed (``AssertionError: ...``).
    """

    name: str
    points: float
    passed: bool
    error: str = ""
    checks: str = ""


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


def _intent(source: str) -> str:
    """The first line of a cell's docstring: what the test checks, in words."""
    import ast

    try:
        body = ast.parse(source).body
    except SyntaxError:
        return ""
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        text = str(body[0].value.value).strip()
        return text.splitlines()[0] if text else ""
    return ""


_MAX_MESSAGE_LINES = 20


def _message(error: Mapping[str, object]) -> str:
    """``Ename: message``, the whole message (at most a screenful), without the traceback."""
    lines = [s.rstrip() for s in str(error.get("evalue", "")).strip().splitlines() if s.strip()]
    if error.get("ename") == "NotImplementedError" and not lines:
        lines = ["not written yet: a function this test calls still raises NotImplementedError"]
    if len(lines) > _MAX_MESSAGE_LINES:
        lines = lines[:_MAX_MESSAGE_LINES] + ["..."]
    return f"{error.get('ename', 'Error')}: " + "\n".join(lines)


def after_last_test(notebook: nbformat.NotebookNode) -> int:
    """How many code cells follow the notebook's last test cell: ``dlci check`` does not run
    them, since no test reads what they do."""
    last = max((i for i, c in enumerate(notebook.cells) if is_test(c)), default=len(notebook.cells))
    return sum(1 for c in notebook.cells[last + 1:] if c.cell_type == "code" and c.source.strip())


def run_tests(path: str | Path, grading: bool = True, timeout: int = 600) -> list[TestResult]:
    """Execute the notebook at ``path`` in a fresh kernel, from the top to its last test cell;
    the result of every visible test cell.

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
        if is_test(c)
        and not _only_docstring(c.source)  # a hidden test's cell: its code is added when grading
    ]
    if not tests:
        raise ValueError(f"{path} has no test cells; is it one of the course's notebooks?")
    last = max(i for i, c in enumerate(notebook.cells) if is_test(c))
    notebook.cells = notebook.cells[: last + 1]
    client = NotebookClient(
        notebook, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
        kernel_name="python3", resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    # The kernel's own log (e.g. ipykernel's "running over TCP" warning) is machinery, not
    # the student's results: it goes to a temporary file, shown only if the kernel dies.
    with _environ({GRADING_ENV_VAR: "1"} if grading else {}), \
            tempfile.TemporaryFile("w+") as kernel_log:
        try:
            client.execute(stderr=kernel_log)
        except DeadKernelError:
            kernel_log.seek(0)
            print(kernel_log.read()[-2000:], file=sys.stderr)
            raise
    results = []
    for cell in tests:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        meta = cell.metadata["nbgrader"]
        results.append(TestResult(
            meta["grade_id"], float(meta.get("points", 0)), not errors,
            _message(errors[-1]) if errors else "", _intent(cell.source),
        ))
    return results


def duplicated_cells(path: str | Path) -> dict[str, int]:
    """Grade ids that more than one cell of the notebook carries, with how many: a cell
    duplicated or copied and pasted in JupyterLab keeps the original's grading marks."""
    counts: dict[str, int] = {}
    for cell in nbformat.read(str(path), as_version=4).cells:
        name = grade_id(cell)
        if name:
            counts[name] = counts.get(name, 0) + 1
    return {name: n for name, n in counts.items() if n > 1}


def run_check(path: str | Path, grading: bool = True, timeout: int = 600) -> int:
    """Run the visible tests of the notebook at ``path`` and print a summary.

    Returns:
        0 when every visible test passes, 1 otherwise (a shell exit status).
    """
    start = time.perf_counter()
    print(f"running {path} in a fresh kernel{' (grading mode)' if grading else ''} ...", flush=True)
    results = run_tests(path, grading=grading, timeout=timeout)
    notebook = nbformat.read(str(path), as_version=4)
    after = after_last_test(notebook)
    if after:
        print(f"  ({after} code cell{'s' if after > 1 else ''} after the last test not run: "
              "no test reads what they do; run them in Jupyter)")
    for warning in [*self_contained_warnings(notebook), *refusals(notebook)]:
        print(f"  warning: {warning}")
    for name, count in duplicated_cells(path).items():
        print(
            f"  warning: cell {name} is in the notebook {count} times (a duplicated or pasted "
            "cell copies its grading marks); the grader grades the original and runs the copies "
            "as ordinary cells: delete the copies you do not need"
        )
    width = max(len(r.name) for r in results)
    for r in results:
        mark = "PASS" if r.passed else "FAIL"
        print(f"  {mark}  {r.name:<{width}}  {r.points if r.passed else 0:g}/{r.points:g}")
        if not r.passed:
            if r.checks:
                print(f"        checks: {r.checks}")
            print(textwrap.indent(r.error, " " * 8))
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


def register_check(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dlci check NOTEBOOK`` to the ``dlci`` command line."""
    p = subparsers.add_parser(
        "check", help="run the visible tests of your notebook in a fresh kernel and summarise"
    )
    p.add_argument("notebook", help="your notebook, e.g. notebooks/task1_backprop_inpainting.ipynb")
    p.add_argument("--full", action="store_true", help="run the full schedule, not grading mode")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.set_defaults(func=_cmd_check)
