"""Tests judged on the notebook's definitions alone: what the graded functions themselves compute.

A hidden test cell runs in the student's kernel, after whatever the notebook's top-level code
did: a pasted cell could replace the grader's harness, turn the visible checks into no-ops or
patch PyTorch, and every answer would come back right while the graded functions still raise
``NotImplementedError``. So for each test whose :class:`~dlci_grader.tasks.contract.JudgedTest`
is ``definitions_only`` (it calls only functions and classes the notebook defines), the grader
runs it a second time in a fresh process (:mod:`dlci_grader.kernel.rebuilt`), in the kernel's
sandbox and under its limits, holding only the definitions of the cells above the test
(:mod:`starter.definitions`), and judges those answers here too. The test passes only when both
runs pass; a failure of the second run names the error and the cell and line it came from.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from nbformat import NotebookNode

from dlci_grader.isolation.fork_server import ForkServers, run_on
from dlci_grader.isolation.limits import Limits
from dlci_grader.kernel.rebuilt import MAX_MESSAGE_BYTES, STDERR_LOG
from dlci_grader.kernel.rebuilt import MODULE as REBUILT
from dlci_grader.tasks import judged_tests
from dlci_grader.verdicts.judging import Channel, Verdict, first_line, judge_answer
from starter.definitions import GRADED_ALONE_KEY
from starter.nbgrader_cells import grade_id, is_test

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
METADATA_KEY = GRADED_ALONE_KEY
"""Key, under the release notebook's ``metadata.dlci``, of :func:`graded_alone`'s names."""
STARTUP_S = 60
"""Seconds the run may take beyond one cell timeout per test (Python and PyTorch starting)."""
WHY = (
    "run on your definitions alone (the imports, def, class and constants of the cells above, "
    "no other top-level code)"
)


def alone_tests(task: str) -> list[str]:
    """The task's tests judged on the definitions alone, in registry order."""
    return [name for name, judged in judged_tests(task).items() if judged.definitions_only]


def hidden_source(cell_source: str) -> str:
    """The hidden-test block of an instructor's test cell (the harness call), as code."""
    lines, inside = [], False
    for line in cell_source.splitlines():
        if line.strip() == HIDDEN_BEGIN:
            inside = True
        elif line.strip() == HIDDEN_END:
            inside = False
        elif inside:
            lines.append(line)
    return "\n".join(lines) + "\n"


def graded_alone(source: NotebookNode, task: str) -> list[str]:
    """The names the definitions-only tests of ``task`` call (``LinearFunction``, ``wiener``):
    the functions and classes a student must define self-contained. The release records them
    in its metadata (:data:`METADATA_KEY`) for ``dlci check``'s warning; nothing secret."""

    tests = set(alone_tests(task))
    names: set[str] = set()
    for cell in source.cells:
        if _grade_id(cell) in tests:
            tree = ast.parse(hidden_source(str(cell.source)))
            imported = {
                a.asname or a.name for n in ast.walk(tree) if isinstance(
                    n, (ast.Import, ast.ImportFrom),
                ) for a in n.names
            }
            names |= {
                n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in imported
            }
    return sorted(names)


def _grade_id(cell: NotebookNode) -> str | None:
    value = grade_id(cell)
    return str(value) if value else None


def cell_label(index: int, cell: NotebookNode) -> str:
    """``cell 5 (linear_function)``: 1-based position among all cells, and the grade id."""
    name = _grade_id(cell)
    return f"cell {index + 1}" + (f" ({name})" if name else "")


def spec(
    executed: NotebookNode, source: NotebookNode, tests: Sequence[str], timeout: float,
) -> dict[str, object]:
    """What :mod:`dlci_grader.kernel.rebuilt` reads: the student's code cells (not the
    instructor's test cells) and, per test present, how many of them precede it and its hidden
    source, taken from the instructor's notebook ``source``."""
    instructor = {
        _grade_id(c): c for c in source.cells
        if c.cell_type == "code" and is_test(c)
    }
    cells: list[dict[str, str]] = []
    before: dict[str, int] = {}
    for index, cell in enumerate(executed.cells):
        if cell.cell_type != "code":
            continue
        name = _grade_id(cell)
        if name is not None and name in instructor:
            if name in tests and name not in before:
                before[name] = len(cells)
            continue
        cells.append({"label": cell_label(index, cell), "source": str(cell.source)})
    entries = [
        {"test": t, "before": before[t], "source": hidden_source(str(instructor[t].source))}
        for t in tests if t in before
    ]
    return {"cells": cells, "tests": entries, "timeout": timeout}


def trusted_imports(source: NotebookNode) -> list[str]:
    """The modules the instructor's notebook imports: what a fork server imports before it forks
    (never a module a student's cell names: that would run in the server, outside the sandbox)."""
    modules: list[str] = []
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(str(cell.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.append(node.module)
    return list(dict.fromkeys(modules))


def run_alone(
    channel: Channel, executed: NotebookNode, source: NotebookNode, folder: Path, limits: Limits,
    env: Mapping[str, str], read: Sequence[str], servers: ForkServers | None = None,
) -> dict[str, Verdict]:
    """Run the task's definitions-only tests on ``executed``'s definitions; test -> verdict.

    Args:
        channel: the grading run's inputs (the same cases as the kernel's).
        executed: the autograded notebook (the student's cells).
        source: the instructor's notebook (the tests' hidden source).
        folder: a new folder for the run's scratch (its home and temporary folder).
        limits: the kernel's limits: its sandbox, memory cap and cell timeout per test.
        env: the kernel's environment (``DLCI_ANSWERS``, ``DLCI_DATA``, grading mode).
        read: what the kernel may read (the run may read the same, and write only ``folder``).
        servers: the grading run's fork servers; None starts one for this notebook alone.
    """
    tests = alone_tests(channel.task)
    payload = spec(executed, source, tests, float(limits.cell_timeout))
    entries = payload["tests"]
    assert isinstance(entries, list)
    if not entries:
        return {}
    folder.mkdir(parents=True, exist_ok=True)
    run_env = {**env, "HOME": str(folder), "TMPDIR": str(folder), "MPLCONFIGDIR": str(folder)}
    request: dict[str, object] = {
        "spec": payload, "env": run_env, "cwd": str(folder), "log": str(folder / STDERR_LOG),
        "warm": trusted_imports(source),
        "memory_bytes": limits.memory_bytes,
        "max_pids": limits.processes if limits.sandbox else None,
        "sandbox": {
            "read": [str(p) for p in read], "write": [str(folder)],
            "nproc": limits.processes, "fsize": limits.file_bytes,
        } if limits.sandbox else None,
    }
    timeout = STARTUP_S + limits.cell_timeout * len(entries)
    outcome = run_on(
        servers, REBUILT, env, request, timeout, cap=(MAX_MESSAGE_BYTES + 4096) * len(entries),
    )
    raw, stopped = outcome.lines, outcome.stopped
    records: dict[str, dict[str, object]] = {}
    for line in raw:
        if isinstance(line.get("test"), str):
            records.setdefault(str(line["test"]), line)
    if not stopped:
        log = folder / STDERR_LOG
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
        stopped = first_line(tail or ["the run ended early"])
    verdicts = {}
    for entry in entries:
        test = str(entry["test"])
        record = records.get(test)
        if record is None:
            verdicts[test] = Verdict(False, f"{WHY}: the run stopped before this test ({stopped})")
        elif "error" in record:
            verdicts[test] = Verdict(False, f"{WHY}: {first_line(str(record['error']), 400)}")
        else:
            seen = record.get("observed")
            verdicts[test] = dataclasses.replace(
                _judge(channel, test, record.get("npz")),
                observed=tuple(map(str, seen)) if isinstance(seen, list) else (),
            )
    return verdicts


def _judge(channel: Channel, test: str, npz: object) -> Verdict:
    verdict = judge_answer(channel, test, npz)
    if verdict.passed:
        return verdict
    return dataclasses.replace(verdict, reason=f"{WHY}: {verdict.reason}")
