"""What a Gradescope autograder zip is told (``dlci_gradescope.json`` at the zip's root)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dlci_grader.isolation.limits import CELL_TIMEOUT, Limits

CONFIG_NAME = "dlci_gradescope.json"
"""The settings file at the root of the zip (``/autograder/source/`` on Gradescope)."""

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
"""Gradescope's visibility values (results.json ``visibility`` of a test)."""

GRADESCOPE_TIMEOUT_S = 10 * 60
"""Gradescope's default autograder timeout (10 minutes; raised per assignment in its settings)."""
GRADESCOPE_MEMORY_BYTES = 768 * 2**20
"""Memory of Gradescope's default autograder container (1 CPU, 768 MB); larger tiers (2 CPUs
with 3 GB, 4 CPUs with 6 GB) are chosen per assignment. PyTorch needs a larger tier: see
docs/instructors/gradescope-and-lms.md."""


@dataclass
class Settings:
    """The grading settings one zip carries.

    Attributes:
        task: the task key (``task1``).
        notebook: the task's notebook stem (nbgrader assignment and notebook id).
        release_ids: every task's released nbgrader cells (grade id -> cell id), so that intake
            names the task a wrong notebook belongs to.
        cell_timeout, notebook_timeout, memory_gb, threads, processes: the worker's
            :class:`~dlci_grader.isolation.limits.Limits`.
        visible: Gradescope visibility of the visible tests' results.
        hidden: Gradescope visibility of the hidden tests' results (default: after the
            instructor publishes the grades).
        user: the unprivileged user the grading child (nbgrader and the kernel) runs as when
            ``run_autograder`` runs as root; empty: the current user.
        data_root: the course data on the autograder machine.
    """

    task: str
    notebook: str
    release_ids: dict[str, dict[str, str]] = field(default_factory=dict)
    cell_timeout: int = CELL_TIMEOUT
    notebook_timeout: int = 1200
    memory_gb: float = 4.0
    threads: int = 2
    processes: int = 512
    visible: str = "visible"
    hidden: str = "after_published"
    user: str = "dlci-student"
    data_root: str = "/autograder/data"

    def __post_init__(self) -> None:
        for name in ("visible", "hidden"):
            if getattr(self, name) not in VISIBILITIES:
                raise ValueError(
                    f"{name} visibility must be one of {VISIBILITIES}, got {getattr(self, name)!r}"
                )

    def limits(self) -> Limits:
        """The worker's limits (sandbox always on)."""
        memory = None if self.memory_gb <= 0 else int(self.memory_gb * 2**30)
        return Limits(
            cell_timeout=self.cell_timeout, notebook_timeout=self.notebook_timeout,
            memory_bytes=memory, threads=max(1, self.threads), sandbox=True,
            processes=self.processes,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def read(cls, path: Path) -> Settings:
        """Read ``dlci_gradescope.json``; a clear error when it is missing or malformed."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path}: not found; is this a zip from `dlci gradescope build`?"
            ) from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
        return cls(**data)
