"""A judged test's score, and the grader's record of it: what a corrected check needs to judge a
graded notebook again without running it (``dlci regrade``, :mod:`dlci_grader.run.regrade`).

For each test judged outside the kernel (:mod:`dlci_grader.verdicts.judging`) the worker keeps a
:class:`TestRecord`: the seed its cases were drawn from and the digest of their public part (what
the student's code computed on), the digest of the code that judged it
(:func:`dlci_grader.tasks.code_digest`), the verdicts with the answers they judged (the kernel's
and, for a definitions-only test, the run on the definitions alone: base64 ``.npz`` text as the
student's code handed it back), and the error the cell itself ended with. The course's ledger
keeps one :class:`NotebookRecord` per graded notebook (``COURSE/.dlci/answers/``): grader-private
state, never part of feedback or of anything a student gets.

:func:`judged_cell` turns a verdict into the cell's score; grading and regrading both use it, so
a regrade scores a test exactly as a fresh grade of the same answers would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from dlci_grader.files import atomic_write
from dlci_grader.verdicts.judging import Verdict, combined
from dlci_grader.verdicts.results import CellResult, CellStatus


@dataclass(frozen=True)
class TestRecord:
    """What the grader kept of one judged test of one notebook."""

    seed: int
    """the seed the test's cases were drawn from."""
    cases: str
    """sha256 of the cases' public part (:func:`dlci_grader.verdicts.judging.cases_digest`)."""
    code: str
    """sha256 of the code that judged it (:func:`dlci_grader.tasks.code_digest`)."""
    kernel: Verdict
    """the verdict on the kernel's answer (its ``answer``: what was judged, if any)."""
    alone: Verdict | None = None
    """the verdict on the run on the definitions alone (definitions-only tests)."""
    error: tuple[str, str] | None = None
    """(status, reason) of the error the cell itself ended with in the kernel, if any."""

    @property
    def verdict(self) -> Verdict:
        """The test's verdict: the kernel's, failed by a failed run on the definitions alone."""
        return combined(self.kernel, self.alone)


_BLOB = "sha256:"
"""An answer kept beside the record: ``sha256:<digest>`` names ``<digest>.npz``."""


@dataclass
class NotebookRecord:
    """What the grader kept of one graded notebook's judged tests."""

    task: str
    notebook: str
    data_root: str
    """the course data the cases were drawn from."""
    problems: list[str] = field(default_factory=list)
    """the notebook's problems (a timeout elsewhere, a kernel death), as its cells' reasons
    name them."""
    tests: dict[str, TestRecord] = field(default_factory=dict)

    def write(self, folder: Path) -> None:
        """Keep the record in ``folder`` (replaced): ``record.json``, and each distinct answer
        once as ``<sha256>.npz`` (two tests often judge the same answer: Task 1's training tests
        judge the same 1,000 reconstructed digits, about 3 MB)."""
        tmp = folder.with_name(folder.name + ".new")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)

        def kept(verdict: Verdict) -> Verdict:
            if verdict.answer is None:
                return verdict
            data = base64.b64decode(verdict.answer)
            digest = hashlib.sha256(data).hexdigest()
            if not (tmp / f"{digest}.npz").is_file():
                (tmp / f"{digest}.npz").write_bytes(data)
            return replace(verdict, answer=f"{_BLOB}{digest}")

        tests = {
            name: replace(t, kernel=kept(t.kernel), alone=t.alone and kept(t.alone))
            for name, t in self.tests.items()
        }
        atomic_write(tmp / "record.json", json.dumps(asdict(replace(self, tests=tests))).encode())
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def read(cls, folder: Path) -> NotebookRecord:
        """The record :meth:`write` kept in ``folder``, its answers read back."""
        data = json.loads((folder / "record.json").read_text())

        def answer(text: str | None) -> str | None:
            if text is None or not text.startswith(_BLOB):
                return text
            return base64.b64encode((folder / f"{text[len(_BLOB):]}.npz").read_bytes()).decode()

        def verdict(v: dict[str, object] | None) -> Verdict | None:
            if v is None:
                return None
            fields = {k: tuple(x) if isinstance(x, list) else x for k, x in v.items()}
            fields["answer"] = answer(v.get("answer"))  # type: ignore[arg-type]
            return Verdict(**fields)  # type: ignore[arg-type]

        tests = {}
        for name, t in data.pop("tests").items():
            kernel = verdict(t.pop("kernel"))
            assert kernel is not None
            error = t["error"]
            tests[name] = TestRecord(
                int(t["seed"]), str(t["cases"]), str(t["code"]), kernel, verdict(t["alone"]),
                (str(error[0]), str(error[1])) if error else None,
            )
        return cls(tests=tests, **data)


def judged_cell(
    name: str, max_points: float, verdict: Verdict, error: tuple[str, str] | None,
    problems: Sequence[str], needs_manual_grade: bool = False,
) -> CellResult:
    """The score of a test cell judged outside the kernel: all its points when ``verdict``
    passed, else none, with the cell's own error as the reason when it raised one (else the
    verdict's) and the notebook's ``problems`` appended (a NameError after a timeout)."""
    if verdict.passed:
        return CellResult(
            name, max_points, max_points, False, CellStatus.PASSED, "", needs_manual_grade,
        )
    status, reason = (CellStatus(error[0]), error[1]) if error else (
        CellStatus.FAILED, verdict.reason,
    )
    if problems and status is not CellStatus.NOT_RUN:
        reason += f" [{'; '.join(problems)}]"
    return CellResult(
        name, 0.0, max_points, False, status, reason, needs_manual_grade, list(verdict.mistakes),
    )
