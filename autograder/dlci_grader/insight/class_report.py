"""The class report (``dlci report``): what a graded class found hard, per task and per test cell.

It reads the course's ``grades.csv`` (:mod:`dlci_grader.run.report`: what the gradebook held
when it was written) and writes three files with the same numbers:

- ``report.html``: one self-contained page (its figures are embedded PNGs; it opens offline);
- ``report.csv``: one row per test cell;
- ``mistakes.csv``: one row per named mistake the class made;
- ``similarity.csv``: one row per pair of students whose answer code is listed as similar;
- ``report.json``: everything, per task, per test cell, per named mistake and per listed pair.

Per task: the distribution of the students' automatic points (a histogram; mean, median and
standard deviation), and the notebooks that timed out, whose kernel died or was stopped, that
were rejected, or that carry flags, by student (``anonymous`` leaves the ids out). Per test cell:
its pass rate, its mean points and its *discrimination*: the correlation, across the task's
students, of the cell's points with the rest of their automatic points (the corrected item-total
correlation). A test that the strong students pass and the weak ones fail has a clearly positive
one; near 0 or negative, the test measures something the rest does not (or is broken); none when
every student scored the same on it. Per named mistake (:mod:`starter.mistakes`: the grader
recognised it in a failed test's answer, outside the student's process; ``grades.csv``'s
``mistakes``): how many submissions made it and whose, each submission counted once however many
tests saw it. Per task, the pairs of students whose answer code shares fragments that few others
wrote (:mod:`dlci_grader.insight.similarity`, read from the course's ``submitted/`` notebooks and,
when given, past terms' notebooks of the task): the matched code side by side, never a score.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dlci_grader.insight import similarity
from dlci_grader.insight.similarity import Listing
from dlci_grader.nbgrader.course import Course
from dlci_grader.run.report import Row
from dlci_grader.tasks import task_key
from dlci_grader.verdicts.results import CellStatus
from starter.mistakes import MISTAKES

PROBLEMS = {
    "timed out": ("timed out", "grading took longer than"),
    "kernel died": ("kernel died",),
    "kernel stopped": ("kernel was stopped",),
}
"""A notebook problem -> what a cell's reason says when it happened."""
LOW_DISCRIMINATION = 0.1
"""Below this, a test's discrimination is shown as one to look at."""


@dataclass(frozen=True)
class QuestionStats:
    """One autograded test cell across the task's students."""

    task: str
    question: str
    max_points: float
    students: int
    pass_rate: float
    """fraction of the students whose cell passed (0 to 1)."""
    mean_points: float
    discrimination: float | None
    """corrected item-total correlation (-1 to 1); None when it is undefined."""

    @property
    def low(self) -> bool:
        """Its discrimination is below :data:`LOW_DISCRIMINATION`: look at the test."""
        return self.discrimination is not None and self.discrimination < LOW_DISCRIMINATION


@dataclass(frozen=True)
class TaskStats:
    """One task's automatic points across its students, and the notebooks with problems."""

    task: str
    students: int
    max_points: float
    mean: float
    median: float
    sd: float
    """sample standard deviation (0 for a single student)."""
    totals: dict[str, float] = field(default_factory=dict)
    """student -> automatic points."""
    problems: dict[str, list[str]] = field(default_factory=dict)
    """``timed out``, ``kernel died``, ``kernel stopped``, ``rejected``, ``flagged`` -> the
    students (sorted)."""


@dataclass(frozen=True)
class MistakeCount:
    """One named mistake: the submissions of its task that made it."""

    task: str
    mistake: str
    """its stable id (:data:`starter.mistakes.MISTAKES`)."""
    says: str
    """what it is, in the words the students' hints use."""
    students: list[str]
    """who made it (sorted), each once."""
    tests: list[str]
    """the test cells that recognised it."""

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass(frozen=True)
class ClassReport:
    tasks: list[TaskStats]
    questions: list[QuestionStats]
    mistakes: list[MistakeCount] = field(default_factory=list)


def _correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r, or None when either side does not vary (or fewer than 3 students)."""
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sxy / math.sqrt(sxx * syy)


def build(rows: Iterable[Row], tasks: Sequence[str] | None = None) -> ClassReport:
    """The report's numbers from ``grades.csv``'s rows (only ``tasks``, when given)."""
    by_task: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if tasks is None or row.task in tasks:
            by_task[row.task].append(row)
    task_stats, question_stats = [], []
    for task in sorted(by_task):
        auto = [r for r in by_task[task] if r.kind == "auto"]
        students = sorted({r.student for r in by_task[task]})
        totals = {s: 0.0 for s in students}
        item: dict[str, dict[str, Row]] = defaultdict(dict)
        for r in auto:
            totals[r.student] += r.points
            item[r.question][r.student] = r
        maxima = {q: max(r.max_points for r in cells.values()) for q, cells in item.items()}
        values = [totals[s] for s in students]
        problems: dict[str, set[str]] = defaultdict(set)
        for r in by_task[task]:
            for name, says in PROBLEMS.items():
                if any(text in r.reason for text in says):
                    problems[name].add(r.student)
            if r.status == CellStatus.REJECTED.value:
                problems["rejected"].add(r.student)
            if r.flags:
                problems["flagged"].add(r.student)
        task_stats.append(TaskStats(
            task, len(students), sum(maxima.values()), statistics.fmean(values) if values else 0.0,
            statistics.median(values) if values else 0.0,
            statistics.stdev(values) if len(values) > 1 else 0.0, totals,
            {name: sorted(who) for name, who in sorted(problems.items())},
        ))
        for question, cells in item.items():
            points = [cells[s].points if s in cells else 0.0 for s in students]
            rest = [totals[s] - p for s, p in zip(students, points, strict=True)]
            passed = sum(
                1 for s in students if s in cells and cells[s].status == CellStatus.PASSED.value
            )
            question_stats.append(QuestionStats(
                task, question, maxima[question], len(students),
                passed / len(students) if students else 0.0,
                statistics.fmean(points) if points else 0.0, _correlation(points, rest),
            ))
    return ClassReport(task_stats, question_stats, _mistakes(by_task))


def _mistakes(by_task: dict[str, list[Row]]) -> list[MistakeCount]:
    """Every named mistake recorded in the rows, most common first."""
    made: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
    for task, rows in by_task.items():
        for r in rows:
            for mistake in r.mistakes.split():
                who, tests = made.setdefault((task, mistake), (set(), set()))
                who.add(r.student)
                tests.add(r.question)
    counts = [
        MistakeCount(
            task, mistake, MISTAKES[mistake].says if mistake in MISTAKES else "(not in this kit)",
            sorted(who), sorted(tests),
        )
        for (task, mistake), (who, tests) in made.items()
    ]
    return sorted(counts, key=lambda c: (c.task, -c.count, c.mistake))


def _task_notebook(course: Course, task: str) -> str | None:
    """The notebook stem of ``task`` in the course's template (None: not graded here)."""
    releases = course.template / "release"
    found = sorted(
        p.name for p in releases.iterdir() if p.is_dir() and task_key(p.name) == task
    ) if releases.is_dir() else []
    return found[0] if found else None


def past_notebooks(past: Path, task: str) -> dict[str, Path]:
    """Past terms' notebooks of ``task`` under ``past`` (id: the path below it).

    ``past`` is a folder of notebooks, searched for ``<task>_*.ipynb`` at any depth, or a past
    term's nbgrader course, of which only ``submitted/`` is read (its ``autograded/`` copies
    would count each student twice, its ``source/`` holds the solutions).
    """
    root = past / "submitted" if (past / "submitted").is_dir() else past
    return {
        path.relative_to(past).as_posix(): path
        for path in sorted(root.rglob("*.ipynb"))
        if task_key(path.stem) == task and ".ipynb_checkpoints" not in path.parts
    }


def similar_answers(
    course: Course, report: ClassReport, past: Path | None = None,
    threshold: float = similarity.THRESHOLD,
) -> dict[str, Listing]:
    """Each task's similarity listing: its students' handed-in notebooks
    (``COURSE/submitted/``) compared with each other and with ``past`` (see
    :func:`past_notebooks`), the boilerplate being the release the class got. A task whose
    template the course lacks (graded elsewhere) has none."""
    listings = {}
    for stats in report.tasks:
        notebook = _task_notebook(course, stats.task)
        if notebook is None:
            continue
        handed_in = {
            student: path for student in stats.totals
            if (path := course.submitted_path(student, notebook)).is_file()
        }
        listings[stats.task] = similarity.compare(
            handed_in, course.task_template(notebook).release,
            past_notebooks(past, stats.task) if past is not None else None, threshold,
        )
    return listings


def _histogram(stats: TaskStats) -> str:
    """The task's automatic points as a histogram, a base64 PNG (Agg, no pyplot state)."""
    return base64.b64encode(histogram_png(stats)).decode("ascii")


def histogram_png(stats: TaskStats) -> bytes:
    """The task's automatic points as a histogram: PNG bytes (Agg, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(5.5, 2.6), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    top = max(stats.max_points, 1.0)
    edges = [x - 0.5 for x in range(int(math.ceil(top)) + 2)]
    ax.hist(list(stats.totals.values()), bins=edges, color="#4c72b0", edgecolor="white")
    ax.axvline(stats.mean, color="#c44e52", linewidth=1.5, label=f"mean {stats.mean:.1f}")
    ax.set_xlim(-0.5, top + 0.5)
    ax.set_xlabel(f"automatic points (of {stats.max_points:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _similarity_html(listing: Listing, anonymous: bool) -> str:
    if anonymous:  # names and code would say who; the count alone is safe to share
        return (
            f"<p>{len(listing.pairs)} pairs of submissions are listed as similar (score "
            f"{listing.threshold:g} or more); the report written without --anonymous shows "
            "them.</p>"
        )
    if not listing.pairs:
        return (
            f"<p>No pair of the {listing.students} submissions"
            + (f" (and {listing.past} of past terms)" if listing.past else "")
            + f" shares rare answer code scoring {listing.threshold:g} or more.</p>"
        )
    return similarity.html_fragment(listing)


def to_html(
    report: ClassReport, title: str, anonymous: bool = False,
    similar: Mapping[str, Listing] | None = None,
) -> str:
    """The report as one self-contained HTML page; ``similar``: each task's similarity
    listing (:func:`similar_answers`), shown when given."""
    similar = similar or {}
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
        "padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
        "th,td{border-bottom:1px solid #ddd;padding:.25rem .75rem;text-align:right}"
        "th:first-child,td:first-child{text-align:left}.low{color:#b00}</style>",
        "</head><body>", f"<h1>{e(title)}</h1>",
        "<p>Discrimination: the correlation across students of a test's points with the rest of "
        "their automatic points. Clearly positive is what a test should have; near 0 or "
        "negative (in red), look at the test.</p>",
    ]
    for stats in report.tasks:
        parts += [
            f"<h2>{e(stats.task)}</h2>",
            f"<p>{stats.students} students; automatic points: mean {stats.mean:.2f}, median "
            f"{stats.median:.2f}, SD {stats.sd:.2f} (of {stats.max_points:g}).</p>",
            f'<img alt="histogram of {e(stats.task)} automatic points" '
            f'src="data:image/png;base64,{_histogram(stats)}">',
            "<table><tr><th>test cell</th><th>points</th><th>pass rate</th>"
            "<th>mean points</th><th>discrimination</th></tr>",
        ]
        for q in (q for q in report.questions if q.task == stats.task):
            parts.append(
                f"<tr><td>{e(q.question)}</td><td>{q.max_points:g}</td>"
                f"<td>{q.pass_rate:.0%}</td><td>{q.mean_points:.2f}</td>"
                f"<td{' class=low' if q.low else ''}>{_number(q.discrimination)}</td></tr>"
            )
        parts.append("</table>")
        if stats.problems:
            parts.append("<table><tr><th>problem</th><th>notebooks</th><th>students</th></tr>")
            for name, who in stats.problems.items():
                names = "(hidden)" if anonymous else ", ".join(who)
                parts.append(f"<tr><td>{e(name)}</td><td>{len(who)}</td><td>{e(names)}</td></tr>")
            parts.append("</table>")
        else:
            parts.append("<p>No notebook timed out, lost its kernel, was rejected or flagged.</p>")
        made = [m for m in report.mistakes if m.task == stats.task]
        if made:
            parts.append(
                "<h3>Named mistakes</h3><table><tr><th>mistake</th><th>what it is</th>"
                "<th>submissions</th><th>seen by</th><th>students</th></tr>"
            )
            for m in made:
                names = "(hidden)" if anonymous else ", ".join(m.students)
                parts.append(
                    f"<tr><td><code>{e(m.mistake)}</code></td><td>{e(m.says)}</td>"
                    f"<td>{m.count}</td><td>{e(', '.join(m.tests))}</td><td>{e(names)}</td></tr>"
                )
            parts.append("</table>")
        else:
            parts.append("<p>No named mistake was recognised in this task's answers.</p>")
        if stats.task in similar:
            parts += ["<h3>Similar answers</h3>", _similarity_html(similar[stats.task], anonymous)]
    parts.append("</body></html>")
    return "\n".join(parts)


def write(
    report: ClassReport, out: Path, title: str, anonymous: bool = False,
    similar: Mapping[str, Listing] | None = None,
) -> list[Path]:
    """Write ``report.html``, ``report.csv``, ``mistakes.csv``, ``report.json`` and each task's
    histogram (``<task>-scores.png``, the page's figure) into ``out``, and ``similarity.csv``
    when ``similar`` is given and not ``anonymous``; their paths."""
    similar = similar or {}
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    for stats in report.tasks:
        figures.append(out / f"{stats.task}-scores.png")
        figures[-1].write_bytes(histogram_png(stats))
    page = out / "report.html"
    page.write_text(to_html(report, title, anonymous, similar))
    table = out / "report.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([
            "task", "question", "max_points", "students", "pass_rate", "mean_points",
            "discrimination",
        ])
        for q in report.questions:
            writer.writerow([
                q.task, q.question, f"{q.max_points:g}", q.students, f"{q.pass_rate:.4f}",
                f"{q.mean_points:.4f}",
                "" if q.discrimination is None else f"{q.discrimination:.4f}",
            ])
    made = out / "mistakes.csv"
    with open(made, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "mistake", "submissions", "tests", "students", "says"])
        for m in report.mistakes:
            writer.writerow([
                m.task, m.mistake, m.count, " ".join(m.tests),
                "" if anonymous else " ".join(m.students), m.says,
            ])
    data = asdict(report)
    for mistake, counted in zip(data["mistakes"], report.mistakes, strict=True):
        mistake["count"] = counted.count
    if anonymous:
        for task in data["tasks"]:
            task["totals"] = sorted(task["totals"].values())
            task["problems"] = {name: len(who) for name, who in task["problems"].items()}
        for mistake in data["mistakes"]:
            del mistake["students"]
    data["similarity"] = {
        task: {
            "students": listing.students, "past": listing.past, "scored": listing.scored,
            "threshold": listing.threshold, "listed": len(listing.pairs),
            **({} if anonymous else {
                "pairs": similarity.rows(listing), "unread": list(listing.unread),
            }),
        }
        for task, listing in similar.items()
    }
    numbers = out / "report.json"
    numbers.write_text(json.dumps(data, indent=1) + "\n")
    written = [page, table, made, numbers, *figures]
    if similar and not anonymous:
        pairs = out / "similarity.csv"
        with open(pairs, "w", newline="") as f:
            writer = csv.writer(f)
            fields = ["task", "student_a", "student_b", "past_term", "score", "share", "cells_a",
                      "cells_b", "matched_a", "matched_b"]
            writer.writerow(fields)
            for task, listing in similar.items():
                for row in similarity.rows(listing):
                    writer.writerow([task, *(row[name] for name in fields[1:])])
        written.append(pairs)
    return written
