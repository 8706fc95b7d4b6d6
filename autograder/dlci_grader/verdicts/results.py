"""The one result model of a grading run: what a worker returns and the parent records.

Plain data (JSON round trip: :meth:`NotebookResult.to_json`, :meth:`NotebookResult.from_json`),
so a result can come back from another process or machine. Statuses are enums, never parsed
from messages; their values are what ``grades.csv`` shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum

import nbformat

from starter.nbgrader_cells import nbgrader_meta


class _Status(str, Enum):
    def __str__(self) -> str:  # the value, as the CSV and the summary show it
        return str(self.value)


class NotebookStatus(_Status):
    """What happened to one (student, task) notebook."""

    GRADED = "graded"
    """nbgrader ran it; failing cells are in the cells."""
    REJECTED = "rejected"
    """not run: not a notebook, or another assignment's."""
    TIMEOUT = "timeout"
    """killed after the notebook time limit."""
    ERROR = "error"
    """the grader itself failed (nbgrader, drawing the hidden tests' inputs)."""


class CellStatus(_Status):
    """What happened to one graded cell."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_RUN = "not run"
    """the kernel died before or in it, or the notebook never ran."""
    DELETED = "deleted"
    REJECTED = "rejected"
    NEEDS_MANUAL_GRADE = "needs manual grade"
    GRADED = "graded"
    """a written answer graded (automatically, when nbgrader could)."""
    MANUALLY_GRADED = "manually graded"
    """a person's score from formgrader (only in the CSV: the gradebook holds it)."""


@dataclass
class CellResult:
    """One graded cell: points and why."""

    cell: str
    points: float
    max_points: float
    manual: bool
    status: CellStatus
    reason: str = ""
    needs_manual_grade: bool = False
    mistakes: list[str] = field(default_factory=list)
    """Ids of the named mistakes (:mod:`starter.mistakes`) the grader's verdict recognised."""

    def __post_init__(self) -> None:
        self.status = CellStatus(self.status)


@dataclass
class NotebookResult:
    """One student's notebook for one task, graded; ``reason`` says what went wrong, if anything."""

    student: str
    task: str
    notebook: str
    status: NotebookStatus
    reason: str = ""
    cells: list[CellResult] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    digest: str = ""
    host: str = ""
    flags: list[str] = field(default_factory=list)
    """What the instructor should look at, whatever the score
    (:mod:`dlci_grader.verdicts.flags`)."""
    slowest_cell: str = ""
    slowest_cell_seconds: float = 0.0
    """The slowest cell that ran to its end and its seconds: the margin the cell timeout left."""

    def __post_init__(self) -> None:
        self.status = NotebookStatus(self.status)

    @property
    def points(self) -> float:
        return sum(c.points for c in self.cells)

    @property
    def auto_points(self) -> dict[str, float]:
        """Points of every autograded test cell, by grade id."""
        return {c.cell: c.points for c in self.cells if not c.manual}

    @property
    def by_cell(self) -> dict[str, CellResult]:
        """The cells by grade id."""
        return {c.cell: c for c in self.cells}

    @property
    def auto_max_points(self) -> float:
        return sum(c.max_points for c in self.cells if not c.manual)

    @property
    def ok(self) -> bool:
        """Graded, with nothing that went wrong on the notebook's level."""
        return self.status is NotebookStatus.GRADED and not self.reason

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        for cell in data["cells"]:
            cell["status"] = CellStatus(cell["status"]).value
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> NotebookResult:
        data = json.loads(text)
        data["cells"] = [CellResult(**c) for c in data["cells"]]
        return cls(**data)


def graded_cells(source: nbformat.NotebookNode) -> dict[str, tuple[float, bool]]:
    """Graded cells of a source notebook -> (points, manually graded)."""
    points = {}
    for cell in source.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            points[meta["grade_id"]] = (float(meta.get("points", 0)), bool(meta.get("solution")))
    return points


def zero_result(
    student: str, task: str, notebook: str, points: Mapping[str, tuple[float, bool]],
    status: NotebookStatus, reason: str, cell_status: CellStatus = CellStatus.NOT_RUN,
) -> NotebookResult:
    """Every cell 0, for a notebook that could not run (``reason`` says why)."""
    cells = [
        CellResult(name, 0.0, p, manual, cell_status, reason)
        for name, (p, manual) in points.items()
    ]
    return NotebookResult(student, task, notebook, status, reason, cells)
