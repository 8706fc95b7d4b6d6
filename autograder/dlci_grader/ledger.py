"""The course's ledger: the grading state a course keeps between runs, under ``COURSE/.dlci/``::

    done/<student>/<task>.json   one marker per graded notebook: its result, with the sha256 of
                                 the file graded (``NotebookResult.digest``)
    answers/<student>/<task>/    the record of its judged tests: seeds, verdicts, and the
                                 answers judged (:mod:`dlci_grader.verdicts.records`), for
                                 ``dlci regrade``
    sources.json                 notebook -> sha256 of the source notebook its template was
                                 generated from (the template digests)

A marker is written (atomically) only after the scores are committed to the gradebook
(:func:`dlci_grader.run.class_run.grade_class` does both, in that order): a grading run that is
killed loses at most the notebooks that were running, and a re-run skips every notebook that
has a marker for the same file. Nothing here knows nbgrader.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dlci_grader.files import atomic_write
from dlci_grader.verdicts.records import NotebookRecord
from dlci_grader.verdicts.results import NotebookResult


class Ledger:
    """The ledger kept in ``state`` (a course's ``.dlci`` folder)."""

    def __init__(self, state: Path) -> None:
        self.state = state

    def marker(self, student: str, task: str) -> Path:
        return self.state / "done" / student / f"{task}.json"

    def done(self, student: str, task: str, digest: str) -> NotebookResult | None:
        """The recorded result for this exact file (same sha256), or None if not graded yet."""
        path = self.marker(student, task)
        if not path.is_file():
            return None
        result = NotebookResult.from_json(path.read_text())
        return result if result.digest == digest else None

    def results(self) -> list[NotebookResult]:
        """Every recorded result, by student then task."""
        return [
            NotebookResult.from_json(p.read_text())
            for p in sorted((self.state / "done").glob("*/*.json"))
        ]

    def mark(self, result: NotebookResult) -> None:
        """Write the result's marker (once its scores are in the gradebook)."""
        atomic_write(self.marker(result.student, result.task), result.to_json().encode())

    def _record_path(self, student: str, task: str) -> Path:
        return self.state / "answers" / student / task

    def record(self, student: str, task: str) -> NotebookRecord | None:
        """The record of the notebook's judged tests, or None (none judged, or graded before
        the grader kept records)."""
        path = self._record_path(student, task)
        return NotebookRecord.read(path) if (path / "record.json").is_file() else None

    def keep_record(self, student: str, task: str, record: NotebookRecord | None) -> None:
        """Keep (or, with None, drop) the record of the notebook's judged tests: written before
        its marker, so a marker never points at another grading's record."""
        path = self._record_path(student, task)
        if record is None:
            shutil.rmtree(path, ignore_errors=True)
        else:
            record.write(path)

    @property
    def _sources(self) -> Path:
        return self.state / "sources.json"

    def template_digests(self) -> dict[str, str]:
        """Notebook -> sha256 of the source notebook its template was last generated from."""
        if not self._sources.is_file():
            return {}
        known: dict[str, str] = json.loads(self._sources.read_text())
        return known

    def keep_template_digests(self, known: dict[str, str]) -> None:
        atomic_write(self._sources, json.dumps(known, indent=1).encode())
