"""The grades as a CSV (one row per student, task and graded cell) and as a summary table.

``grades.csv`` columns: ``student, task, question, points, max_points, status, reason, kind,
host, flags, mistakes``.
``question`` is the cell's nbgrader ``grade_id``; ``points`` is the gradebook's score (a manual
score from formgrader, else the automatic one); ``status`` is ``passed``, ``failed``,
``not run``, ``deleted``, ``rejected``, ``needs manual grade``, ``graded`` (a written answer
scored, automatically 0 when untouched) or ``manually graded``; ``reason`` says why points were
lost (the error a test raised, a timeout, the kernel dying, an invalid file...); ``kind`` is
``auto`` (a test) or ``manual`` (a written answer, graded by a person in formgrader); ``host``
is the machine (or cluster worker) that graded the notebook; ``flags`` lists, on every row of a
notebook, code the instructor should look at (``cell 5 (linear_function), line 12: rebinds
torch.allclose``, joined by `` | ``; :mod:`dlci_grader.verdicts.flags`): it never changed a score;
``mistakes`` names, on a failed test's row, the ids of the named mistakes the grader recognised
in its answer (:mod:`starter.mistakes`, joined by spaces; ``linear.grad_bias.mean``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dlci_grader.nbgrader.gradebook import recorded_scores
from dlci_grader.verdicts.results import CellStatus, NotebookResult, NotebookStatus

COLUMNS = (
    "student", "task", "question", "points", "max_points", "status", "reason", "kind", "host",
    "flags", "mistakes",
)


@dataclass(frozen=True)
class Row:
    student: str
    task: str
    question: str
    points: float
    max_points: float
    status: str
    reason: str
    kind: str = "auto"
    host: str = ""
    flags: str = ""
    mistakes: str = ""
    """Space-separated ids of :mod:`starter.mistakes`."""


def rows(results: Iterable[NotebookResult], db: Path | None = None) -> list[Row]:
    """One :class:`Row` per graded cell; scores from the gradebook ``db`` when given (so manual
    grades given in formgrader count), else from the results."""
    results = list(results)
    recorded = recorded_scores(db, results) if db is not None else {}
    out = []
    for r in results:
        for c in r.cells:
            held = recorded.get((r.student, r.notebook, c.cell))
            status = c.status
            if held is not None and held.manual_score is not None:
                status = CellStatus.MANUALLY_GRADED
            out.append(
                Row(
                    r.student, r.task, c.cell, held.score if held is not None else c.points,
                    c.max_points, status.value, c.reason, "manual" if c.manual else "auto",
                    r.host, " | ".join(r.flags), " ".join(c.mistakes),
                )
            )
    return out


def write_csv(path: str | Path, table: Sequence[Row]) -> Path:
    """Write ``grades.csv``; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for r in table:
        writer.writerow([
            r.student, r.task, r.question, f"{r.points:g}", f"{r.max_points:g}", r.status, r.reason,
            r.kind, r.host, r.flags, r.mistakes,
        ])
    path.write_text(buffer.getvalue())
    return path


def read_csv(path: str | Path) -> list[Row]:
    """The rows of a ``grades.csv`` written by :func:`write_csv`."""
    with open(path, newline="") as f:
        return [
            Row(
                r["student"], r["task"], r["question"], float(r["points"]),
                float(r["max_points"]), r["status"], r["reason"], r["kind"], r["host"],
                r["flags"], r.get("mistakes") or "",
            ) for r in csv.DictReader(f)
        ]


def read_expected(path: str | Path) -> dict[tuple[str, str], float]:
    """``expected.csv`` (student, task, auto_points, ...) -> {(student, task): points}."""
    with open(path, newline="") as f:
        return {(r["student"], r["task"]): float(r["auto_points"]) for r in csv.DictReader(f)}


def totals(
    table: Sequence[Row], auto_only: bool = False,
) -> dict[tuple[str, str], tuple[float, float]]:
    """(student, task) -> (points, max points), all cells or only autograded ones."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for r in table:
        if auto_only and r.kind == "manual":
            continue
        p, m = out.get((r.student, r.task), (0.0, 0.0))
        out[(r.student, r.task)] = (p + r.points, m + r.max_points)
    return out


def summary(
    results: Sequence[NotebookResult],
    table: Sequence[Row],
    tasks: Sequence[str],
    expected: Mapping[tuple[str, str], float] | None = None,
) -> str:
    """A plain-text table: one line per student, ``points/max`` per task (autograded cells;
    ``+m`` when written answers still await a grader), and what went wrong.

    With ``expected`` (from ``dlci sample-class``), each task cell also shows the expected
    autograded points and ``MISMATCH`` marks a difference.
    """
    auto = totals(table, auto_only=True)
    pending = {
        (r.student, r.task) for r in table if r.status == CellStatus.NEEDS_MANUAL_GRADE.value
    }
    reasons: dict[str, list[str]] = {}
    for r in results:
        if r.reason:
            graded = r.status is NotebookStatus.GRADED
            reasons.setdefault(r.student, []).append(
                f"{r.task}: {r.reason}" if graded else f"{r.task}: {r.status}, {r.reason}"
            )
    students = sorted({r.student for r in results})
    width = max([len("student"), *map(len, students)])
    header = f"{'student':<{width}}  " + "  ".join(f"{t:>14}" for t in tasks) + "  notes"
    lines = [header, "-" * len(header)]
    mismatches = 0
    for s in students:
        cells = []
        for t in tasks:
            if (s, t) not in auto:
                cells.append(f"{'—':>14}")
                continue
            p, m = auto[(s, t)]
            text = f"{p:g}/{m:g}" + ("+m" if (s, t) in pending else "")
            if expected is not None and (s, t) in expected:
                if abs(expected[(s, t)] - p) > 1e-9:
                    mismatches += 1
                    text += f" ≠{expected[(s, t)]:g}!"
                else:
                    text += " ✓"
            cells.append(f"{text:>14}")
        note = "; ".join(reasons.get(s, []))
        lines.append(f"{s:<{width}}  " + "  ".join(cells) + ("  " + note if note else ""))
    if expected is not None:
        lines.append(
            f"{len(expected) - mismatches}/{len(expected)} as expected"
            + (f", {mismatches} MISMATCH" if mismatches else "")
        )
    lines.append("+m: written answers still to grade by hand (nbgrader formgrader)")
    return "\n".join(lines)


def compare(expected: Mapping[tuple[str, str], float], table: Sequence[Row]) -> list[str]:
    """Every (student, task) whose autograded points differ from ``expected`` (empty: all as
    expected), described."""
    auto = totals(table, auto_only=True)
    problems = []
    for key, points in sorted(expected.items()):
        got = auto.get(key)
        if got is None:
            problems.append(f"{key[0]} {key[1]}: not graded, expected {points:g}")
        elif abs(got[0] - points) > 1e-9:
            problems.append(f"{key[0]} {key[1]}: {got[0]:g} points, expected {points:g}")
    return problems


def timeout_margin(results: Sequence[NotebookResult], cell_timeout: float) -> str:
    """A line naming the slowest cell that ran to its end and how far inside the cell timeout it
    stayed (empty when no cell finished): a shorter timeout is fair only with a wide margin."""
    timed = [r for r in results if r.slowest_cell_seconds > 0]
    if not timed:
        return ""
    top = max(timed, key=lambda r: r.slowest_cell_seconds)
    seconds = top.slowest_cell_seconds
    return (
        f"slowest cell that ran to its end: {seconds:.1f} s ({top.student}, {top.task}, cell "
        f"{top.slowest_cell}); the cell timeout, {cell_timeout:g} s, is "
        f"{cell_timeout / seconds:.1f}x that"
    )
