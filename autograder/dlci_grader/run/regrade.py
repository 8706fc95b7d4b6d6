"""Regrade named tests of a graded course after their check was corrected (``dlci regrade``).

A test found wrong mid-term (a threshold in ``dlci_grader/tasks/<task>/checks.py``, or a test
cell in ``solutions/``) is fixed, then :func:`regrade` judges only that test again on every
graded notebook of its task, and changes nothing else about a submission:

- a test judged outside the kernel is judged again on the answers the student's code handed back
  when it was graded (the grader's record, :mod:`dlci_grader.verdicts.records`): its cases are
  drawn again from the same seed, and when their public part is unchanged (the student's code
  would compute the same) the corrected check judges the kept answers. No notebook runs;
- a notebook is run again only where it must: the test is scored in the kernel (an nbgrader
  test cell), its cases changed, or no record was kept. It is graded as ``dlci grade`` grades it
  (the same worker, sandbox and limits), and only the named tests' scores are taken from it.

Each notebook's new cell score comes from the same function a fresh grade uses
(:func:`~dlci_grader.verdicts.records.judged_cell`). A notebook whose regrade fails (its run
timed out, its record is unreadable) keeps its old score and is named. The gradebook, the
ledger, the autograded notebook's verdict (for feedback) and the record are updated, and one
entry is appended to ``COURSE/regrade-log.jsonl``: when, the tests with the old and new digest
of the code that judges them (:func:`dlci_grader.tasks.code_digest`), every changed score with
its old and new points and reason, and the notebooks that failed. The log is only ever appended
to; ``dry_run`` computes the same and writes nothing.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from dlci_grader.files import atomic_write
from dlci_grader.isolation.limits import Limits
from dlci_grader.nbgrader.course import Course
from dlci_grader.nbgrader.gradebook import write_result
from dlci_grader.nbgrader.template import NBFORMAT_VERSION, Template
from dlci_grader.run.class_run import lock
from dlci_grader.run.executor import Executor, LocalExecutor
from dlci_grader.run.intake import check_notebook
from dlci_grader.run.job import Job, JobResult, resolve_data_root, threads_per_worker, worker_count
from dlci_grader.tasks import Task, code_digest, judged_tests, load_tasks
from dlci_grader.tasks.contract import Case
from dlci_grader.verdicts import judging
from dlci_grader.verdicts.judging import Verdict
from dlci_grader.verdicts.rebuild import WHY
from dlci_grader.verdicts.records import NotebookRecord, TestRecord, judged_cell
from dlci_grader.verdicts.results import CellResult, CellStatus, NotebookResult, NotebookStatus
from starter.nbgrader_cells import grade_id
from starter.progress import progress_bar

LOG = "regrade-log.jsonl"
"""The append-only log, in the course folder."""
JUDGED_AGAIN, RUN_AGAIN = "judged again", "run again"


@dataclass(frozen=True)
class Change:
    """One test of one notebook whose score changed."""

    student: str
    task: str
    test: str
    old_points: float
    new_points: float
    old_reason: str
    new_reason: str
    how: str
    """:data:`JUDGED_AGAIN` (the kept answers) or :data:`RUN_AGAIN` (the notebook)."""


@dataclass(frozen=True)
class TestCode:
    """A named test and the code that judges it, before and now."""

    task: str
    old: tuple[str, ...]
    """the digests the graded notebooks' records hold (one, unless the code already changed
    between grading runs; empty when no record kept one)."""
    new: str


@dataclass
class Regrade:
    """What one :func:`regrade` did (or, with ``dry_run``, would do)."""

    tests: dict[str, TestCode]
    changes: list[Change] = field(default_factory=list)
    judged: int = 0
    """(notebook, test) pairs judged again from the kept answers."""
    rerun: int = 0
    """notebooks run again."""
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    """(student, task, why): kept their old scores."""
    untouched: list[tuple[str, str, str]] = field(default_factory=list)
    """(student, task, why): not graded (rejected, timed out) or the test deleted: nothing to
    judge again, score kept."""
    log: Path | None = None
    seconds: float = 0.0


def _owners(templates: Mapping[str, Template], tests: Sequence[str]) -> dict[str, str]:
    """Test -> its task's key; a ValueError naming the known tests for an unknown one."""
    autograded = {
        name: key for key, template in templates.items()
        for name, (_, manual) in template.points().items() if not manual
    }
    unknown = [t for t in tests if t not in autograded]
    if unknown:
        raise ValueError(
            f"no autograded test cell named {', '.join(unknown)}; the tests are: "
            + ", ".join(sorted(autograded))
        )
    return {t: autograded[t] for t in tests}


class _Cases:
    """Cases drawn again, once per (task, data root, seed): a grading run draws one seed for
    the whole class, so a class costs one draw per test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.drawn: dict[tuple[str, str, int, str], tuple[list[Case], str]] = {}

    def get(self, task: str, data_root: str, seed: int, test: str) -> tuple[list[Case], str]:
        key = (task, data_root, seed, test)
        if key not in self.drawn:
            scratch = Path(tempfile.mkdtemp(dir=self.folder))
            cases, _ = judging.draw_cases(task, [test], scratch, Path(data_root), seed)
            shutil.rmtree(scratch, ignore_errors=True)
            self.drawn[key] = (cases[test], judging.cases_digest(cases[test]))
        return self.drawn[key]


def _judge_again(
    cases: _Cases, result: NotebookResult, record: NotebookRecord, test: str,
) -> TestRecord | None:
    """The test's record judged again by today's check on the kept answers; None when the
    notebook must run again (its cases changed, or the course data it drew them from is gone)."""
    kept = record.tests[test]
    if not Path(record.data_root).is_dir():
        return None
    drawn, digest = cases.get(result.task, record.data_root, kept.seed, test)
    if digest != kept.cases:
        return None
    channel = judging.Channel(result.task, cases.folder, "", {test: drawn}, None, kept.seed)

    def again(verdict: Verdict, alone: bool) -> Verdict:
        if verdict.answer is None:
            return verdict  # no answer was judged (the cell did not finish...): nothing to redo
        fresh = judging.judge_answer(channel, test, verdict.answer)
        if alone and not fresh.passed:  # as rebuild words a failure of that run
            fresh = dataclasses.replace(fresh, reason=f"{WHY}: {fresh.reason}")
        return dataclasses.replace(fresh, observed=verdict.observed)

    return dataclasses.replace(
        kept, kernel=again(kept.kernel, False),
        alone=None if kept.alone is None else again(kept.alone, True),
    )


def regrade(
    course: str | os.PathLike[str],
    tests: Sequence[str],
    solutions: str | os.PathLike[str] = "solutions",
    *,
    workers: int | None = None,
    limits: Limits | None = None,
    data_root: Path | None = None,
    executor: Executor | None = None,
    dry_run: bool = False,
    progress: bool = False,
) -> Regrade:
    """Judge the test cells ``tests`` again on every graded notebook of their tasks.

    Args:
        course: the course folder ``dlci grade`` graded into.
        tests: grade ids of autograded test cells (``test_linear_hidden``).
        solutions: the source notebooks (a corrected test cell is read from here).
        workers, limits, data_root, executor: for the notebooks that must run again, as
            :func:`~dlci_grader.run.class_run.grade_class` takes them.
        dry_run: compute the changes, write nothing.
        progress: show a progress bar on stderr.
    """
    start = time.perf_counter()
    state = Course(course)
    if not (state.root / "gradebook.db").is_file():
        raise FileNotFoundError(f"{state.root} holds no graded course (no gradebook.db)")
    held = lock(state)
    try:
        results = state.ledger.results()
        graded_tasks = sorted({r.task for r in results})
        loaded = load_tasks(solutions, graded_tasks)
        if not dry_run:
            state.prepare(loaded)  # a corrected test cell reaches the template
        templates = {key: state.task_template(t.notebook) for key, t in loaded.items()}
        owners = _owners(templates, list(dict.fromkeys(tests)))
        sources = {
            key: {grade_id(c): str(c.source) for c in t.read_source().cells}
            for key, t in templates.items()
        }
        run = Regrade({})
        records = {
            (r.student, r.task): state.ledger.record(r.student, r.task)
            for r in results if r.task in owners.values()
        }
        for test, key in owners.items():
            old = sorted({
                rec.tests[test].code for rec in records.values()
                if rec is not None and test in rec.tests
            })
            run.tests[test] = TestCode(key, tuple(old), code_digest(key, test, sources[key][test]))
        work = state.state / "regrade-work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            updated = _plan_and_judge(state, results, records, owners, run, work, progress)
            if any(u.must_run for u in updated.values()):
                _run_again(
                    state, loaded, updated, run, work, workers, limits, data_root, executor,
                    progress,
                )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        run.changes.sort(key=lambda c: (c.task, c.test, c.student))
        if not dry_run:
            _commit(state, updated, run)
        run.seconds = time.perf_counter() - start
        return run
    finally:
        held.close()


@dataclass
class _Update:
    """One notebook being regraded."""

    result: NotebookResult
    """its result, the named tests' cells replaced as they are judged."""
    must_run: list[str]
    """the named tests only a run of the notebook can judge again."""
    record: NotebookRecord | None
    """its record, the named tests' entries replaced."""
    autograded: bytes | None = None
    """the autograded notebook of its run again, if it ran."""
    ran: list[str] = field(default_factory=list)
    """the tests whose scores and outputs were taken from that run."""
    judged: dict[str, Verdict] = field(default_factory=dict)
    """the verdicts of the tests judged again on the kept answers (for its feedback)."""


def _plan_and_judge(
    state: Course, results: Iterable[NotebookResult],
    records: Mapping[tuple[str, str], NotebookRecord | None], owners: Mapping[str, str],
    run: Regrade, work: Path, progress: bool,
) -> dict[tuple[str, str], _Update]:
    """Judge again what the kept answers allow; the notebooks that must run again, named."""
    cases = _Cases(work)
    updated: dict[tuple[str, str], _Update] = {}
    todo = [r for r in results if r.task in owners.values()]
    bar = progress_bar(len(todo), "judging again", enabled=progress, unit="nb")
    try:
        for result in todo:
            bar.update(1)
            named = [t for t, key in owners.items() if key == result.task]
            if result.status is not NotebookStatus.GRADED:
                run.untouched.append((result.student, result.task, f"{result.status.value}: "
                                      "nothing was graded"))
                continue
            record = records.get((result.student, result.task))
            new = dataclasses.replace(result, cells=[dataclasses.replace(c) for c in result.cells])
            must_run: list[str] = []
            verdicts: dict[str, Verdict] = {}
            new_record = dataclasses.replace(record, tests=dict(record.tests)) if record else None
            for test in named:
                cell = new.by_cell.get(test)
                if cell is None or cell.status is CellStatus.DELETED:
                    run.untouched.append((result.student, result.task, f"{test}: cell deleted"))
                    continue
                if record is None or test not in record.tests:
                    if test in judged_tests(result.task) and record is not None:
                        run.untouched.append((result.student, result.task,
                                              f"{test}: no answer reached the grader"))
                        continue
                    must_run.append(test)
                    continue
                try:
                    again = _judge_again(cases, result, record, test)
                except Exception as error:  # noqa: BLE001 - named, old score kept
                    run.failed.append((result.student, result.task,
                                       f"{test}: {type(error).__name__}: {error}"))
                    continue
                if again is None:
                    must_run.append(test)
                    continue
                run.judged += 1
                assert new_record is not None
                new_record.tests[test] = dataclasses.replace(
                    again, code=run.tests[test].new,
                )
                fresh = judged_cell(
                    test, cell.max_points, again.verdict, again.error, record.problems,
                    cell.needs_manual_grade,
                )
                _replace(new, run, cell, fresh, JUDGED_AGAIN)
                verdicts[test] = again.verdict
            updated[(result.student, result.task)] = _Update(
                new, must_run, new_record, judged=verdicts,
            )
    finally:
        bar.close()
    return updated


def _replace(
    result: NotebookResult, run: Regrade, old: CellResult, new: CellResult, how: str,
) -> None:
    """Put ``new`` in place of ``old`` in ``result``; a :class:`Change` when its score moved."""
    result.cells = [new if c.cell == old.cell else c for c in result.cells]
    if abs(new.points - old.points) > 1e-9:
        run.changes.append(Change(
            result.student, result.task, old.cell, old.points, new.points, old.reason,
            new.reason, how,
        ))


def _run_again(
    state: Course, loaded: Mapping[str, Task], updated: Mapping[tuple[str, str], _Update],
    run: Regrade, work: Path, workers: int | None, limits: Limits | None,
    data_root: Path | None, executor: Executor | None, progress: bool,
) -> None:
    """Grade the notebooks with tests that must run again as ``dlci grade`` does; take only
    those tests' scores (and records) from it."""
    workers = worker_count(workers)
    limits = limits or Limits(threads=threads_per_worker(workers))
    data_root = resolve_data_root(data_root)
    executor = executor or LocalExecutor(workers, work)
    digests = {key: state.task_template(t.notebook).digest() for key, t in loaded.items()}
    release_ids = state.release_ids(loaded)
    jobs = []
    for update in (u for u in updated.values() if u.must_run):
        result = update.result
        path = state.submitted_path(result.student, result.notebook)
        if not path.is_file():
            run.failed.append((result.student, result.task, f"{path} is gone: cannot run again"))
            continue
        handed_in = path.read_bytes()  # as handed in: intake repairs it as `dlci grade` did
        problem, notes, repaired = check_notebook(handed_in, loaded[result.task], release_ids)
        if problem is not None:
            run.failed.append((result.student, result.task, f"cannot run again: {problem}"))
            continue
        jobs.append(Job(
            result.student, result.task, result.notebook, repaired or handed_in, state.template,
            digests[result.task], limits, data_root, notes=notes,
        ))
    bar = progress_bar(len(jobs), "running again", enabled=progress, unit="nb")
    try:
        for done in executor.run(jobs):
            bar.update(1)
            run.rerun += 1
            _take(done, updated[done.job.key], run)
    finally:
        bar.close()


def _take(done: JobResult, update: _Update, run: Regrade) -> None:
    """The scores (and records) of the tests that had to run again, from the notebook's run."""
    new, fresh = update.result, done.result
    names = update.must_run
    if fresh.status is not NotebookStatus.GRADED:
        run.failed.append((new.student, new.task, f"run again: {fresh.status.value}: "
                           f"{fresh.reason or 'no scores'}"))
        return
    for test in names:
        if test not in fresh.by_cell:
            run.failed.append((new.student, new.task, f"{test}: not in the notebook run again"))
            continue
        _replace(new, run, new.by_cell[test], fresh.by_cell[test], RUN_AGAIN)
        if done.record is not None and test in done.record.tests:
            if update.record is None:
                update.record = dataclasses.replace(done.record, tests={})
            update.record.tests[test] = done.record.tests[test]
    update.autograded = done.autograded
    update.ran = [t for t in names if t in fresh.by_cell]


def _commit(state: Course, updated: Mapping[tuple[str, str], _Update], run: Regrade) -> None:
    """Write what changed (gradebook, autograded notebook, record, ledger), then the log."""
    changed = {(c.student, c.task) for c in run.changes}
    for key, update in updated.items():
        result = update.result
        path = state.autograded_path(result.student, result.notebook)
        if path.is_file() and (update.judged or update.autograded is not None):
            notebook = nbformat.read(str(path), NBFORMAT_VERSION)
            judging.annotate(notebook, update.judged)
            if update.autograded is not None:
                _take_outputs(notebook, nbformat.reads(
                    update.autograded.decode(), NBFORMAT_VERSION,
                ), update.ran)
            atomic_write(path, nbformat.writes(notebook).encode())
        if key in changed:
            write_result(state.db, result)
        state.ledger.keep_record(result.student, result.task, update.record)
        state.ledger.mark(result)
    entry = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "who": _user(),
        "tests": {
            name: {"task": code.task, "old_code": list(code.old), "new_code": code.new}
            for name, code in run.tests.items()
        },
        "changed": [dataclasses.asdict(c) for c in run.changes],
        "judged_again": run.judged,
        "run_again": run.rerun,
        "failed": [list(f) for f in run.failed],
    }
    run.log = state.root / LOG
    with open(run.log, "a") as log:  # appended, never rewritten
        log.write(json.dumps(entry) + "\n")
        log.flush()
        os.fsync(log.fileno())


def _take_outputs(
    notebook: nbformat.NotebookNode, ran: nbformat.NotebookNode, tests: Sequence[str],
) -> None:
    """The outputs of cells ``tests`` of ``ran`` into the same cells of ``notebook``."""
    outputs = {grade_id(c): c.get("outputs", []) for c in ran.cells if grade_id(c) in tests}
    for cell in notebook.cells:
        if grade_id(cell) in outputs:
            cell.outputs = outputs[grade_id(cell)]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def read_log(course: str | os.PathLike[str]) -> list[dict[str, object]]:
    """Every entry of the course's regrade log, oldest first."""
    path = Path(course) / LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
