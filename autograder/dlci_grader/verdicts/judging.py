"""Verdicts outside the student's process: the grader's side of :mod:`dlci_grader.kernel.answers`.

Before a notebook runs, :func:`prepare` draws the inputs of every hidden test the task registers
(``JUDGED`` in ``dlci_grader/tasks/<task>/checks.py``) from a secret seed, writes the part the
kernel may see to
a folder (``$DLCI_ANSWERS``: ``cases/<task>/<test>.npz`` and a one-time ``nonce``) and keeps the
whole cases, secret held-out targets included, in the grader's memory. After nbgrader executed
the notebook, :func:`verify` reads each hidden cell's answer from that cell's own outputs in the
executed notebook (nowhere else), checks the nonce, decodes the arrays (``np.load`` with
``allow_pickle=False``) and judges them with the instructor's checks in this process. The
student's code never sees a check, a reference or a held-out target, and nothing it prints or
patches decides a verdict: all it can change is the arrays it hands back, which are judged as
its answer. :func:`annotate` then replaces the answer outputs with the verdict, for feedback.

Example::

    channel = prepare("task1", workdir / "grader", data_root)
    ...  # nbgrader autograde with DLCI_ANSWERS=str(channel.folder)
    verdicts = verify(channel, nbformat.read(autograded, 4))
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import shutil
import tempfile
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from nbformat import NotebookNode

from dlci_grader.files import atomic_write
from dlci_grader.kernel.answers import MIME, decode, write_cases
from dlci_grader.tasks import judged_tests, kernel_data
from dlci_grader.tasks.contract import Case, Context, public
from starter.mistakes import mistakes_of
from starter.nbgrader_cells import grade_id

VERDICT_NAME = "GraderVerdict"
"""``ename`` of the error output :func:`annotate` writes for a failed hidden test."""


@dataclass(frozen=True)
class Channel:
    """What the grader prepared for one notebook's run.

    Attributes:
        task: the task key.
        folder: the folder the kernel reads (``$DLCI_ANSWERS``).
        nonce: stamped on every answer of this run.
        cases: test id -> the full cases (secret entries included); kept by the grader.
        kernel_data_root: the data root the kernel gets instead of the grader's (held-out
            items removed), or None: the grader's own.
        seed: the seed the cases were drawn from (kept in the grader's records).
    """

    task: str
    folder: Path
    nonce: str
    cases: Mapping[str, list[Case]]
    kernel_data_root: Path | None = None
    seed: int = 0


@dataclass(frozen=True)
class Verdict:
    """One test's outcome: ``reason`` says why it failed (or summarises a pass); ``answered``
    is False when no usable answer came back."""

    passed: bool
    reason: str = ""
    answered: bool = True
    observed: tuple[str, ...] = ()
    """What the harness observed while the student's code ran (hints for flags, no score)."""
    mistakes: tuple[str, ...] = ()
    """The ids of the named mistakes (:mod:`starter.mistakes`) the check recognised in the
    answer; decided here, on plain data, never in the student's process."""
    answer: str | None = None
    """The answer judged (base64 ``.npz`` text), None when none could be judged: kept in the
    grader's records (:mod:`dlci_grader.verdicts.records`) so that a corrected check can judge
    it again without running the notebook."""


def prepare(
    task: str, folder: Path, data_root: Path | None = None, seed: int | None = None
) -> Channel | None:
    """Draw the hidden tests' inputs of ``task`` and write their public part to ``folder``.

    Args:
        task: task key; None is returned for a task with no hidden tests judged outside.
        folder: a new folder for the kernel to read (created).
        data_root: the course data the inputs are drawn from (None: the kit's default).
        seed: None for a secret one (``secrets.randbits``); an int to reproduce a run.

    When the task keeps held-out data from the kernel (``kernel_data`` in its checks module),
    the kernel's own data root is written to ``folder/data`` (``Channel.kernel_data_root``).
    """
    tests = judged_tests(task)
    if not tests:
        return None
    seed = secrets.randbits(63) if seed is None else int(seed)
    folder = Path(folder)
    all_cases, kernel_root = draw_cases(task, tests, folder, data_root, seed)
    for test, cases in all_cases.items():
        write_cases(cases_path(folder, task, test), [public(c) for c in cases])
    nonce = secrets.token_hex(16)
    (folder / "nonce").write_text(nonce + "\n")
    return Channel(task, folder, nonce, all_cases, kernel_root, seed)


def draw_cases(
    task: str, tests: Iterable[str], folder: Path, data_root: Path | None, seed: int,
) -> tuple[dict[str, list[Case]], Path | None]:
    """The cases of ``tests`` drawn from ``seed`` (each test from its own stream, so one test's
    cases do not depend on which others are drawn), and the kernel's data root the task wrote
    to ``folder / "data"`` (None: the grader's own)."""
    judged = judged_tests(task)
    context = Context(data_root, seed)
    with _drawing(task):  # one draw of a task at a time: the next reuses the first's caches
        kernel_root = kernel_data(task, context, folder / "data")  # before the inputs use it
        context = dataclasses.replace(context, kernel_root=kernel_root)
        cases = {}
        for test in tests:
            rng = np.random.default_rng([seed, zlib.crc32(test.encode())])
            cases[test] = judged[test].make(rng, context)
    return cases, kernel_root


_DRAW_LOCKS: dict[str, threading.Lock] = {}
_DRAW_LOCKS_GUARD = threading.Lock()


def _drawing(task: str) -> threading.Lock:
    """The lock of ``task``'s draws in this process. A task's first draw fills caches the next
    ones reuse (Task 2's data, Task 3's reference table, a few seconds); two workers that drew
    at once would each compute them."""
    with _DRAW_LOCKS_GUARD:
        return _DRAW_LOCKS.setdefault(task, threading.Lock())


def draw_ahead(
    tasks: Sequence[str], data_root: Path | None, seed: int, scratch: Path | None = None,
) -> threading.Thread:
    """Draw each task's hidden inputs once, in a background thread of this process, and throw
    them away: the caches they fill (the same ``data_root`` and ``seed`` as the run's jobs) are
    then ready when a job of that task draws its own (:func:`prepare`), which waits for a draw
    in flight instead of repeating it. Started with a class run, so that the one-off seconds of
    Tasks 2 and 3 overlap the first notebooks instead of adding to them. A failed draw is left
    to the job that makes it again and reports it. ``scratch``: where the throwaway draws are
    written (the run's work folder, on the jobs' file system, so the kernel's data is linked,
    not copied; None: the system's temporary folder). Returns the started thread."""

    def draw_all() -> None:
        for task in tasks:
            tests = list(judged_tests(task))
            if not tests:
                continue
            folder = Path(tempfile.mkdtemp(prefix=f"dlci-ahead-{task}-", dir=scratch))
            try:
                draw_cases(task, tests, folder, data_root, seed)
            except Exception:  # noqa: BLE001 - the job's own draw reports it
                continue
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    thread = threading.Thread(target=draw_all, name="dlci-draw-ahead", daemon=True)
    thread.start()
    return thread


def cases_digest(cases: Sequence[Case]) -> str:
    """sha256 of the cases' public part (names, dtypes, shapes, values): what the student's
    code computed on. Equal digests: an answer kept from one draw answers the other."""
    digest = hashlib.sha256()
    for case in cases:
        for name, value in sorted(public(case).items()):
            array = np.ascontiguousarray(value)
            digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def cases_path(folder: Path, task: str, test: str) -> Path:
    """Where :func:`prepare` writes the public part of one test's cases for the kernel."""
    return folder / "cases" / task / f"{test}.npz"


def _records(cell: NotebookNode) -> list[object]:
    return [
        out["data"][MIME]
        for out in cell.get("outputs", [])
        if out.get("output_type") in (
            "display_data", "execute_result"
        ) and MIME in out.get("data", {})
    ]


def observations(notebook: NotebookNode) -> dict[str, list[str]]:
    """test -> what the hidden tests' harness observed while the student's code ran (each answer
    record's ``observed``: :mod:`dlci_grader.kernel.answers`); read before :func:`annotate`
    replaces the records by verdicts."""
    seen: dict[str, list[str]] = {}
    for cell in notebook.cells:
        for record in _records(cell):
            lines = record.get("observed") if isinstance(record, dict) else None
            test = record.get("test") if isinstance(record, dict) else None
            if isinstance(lines, list) and isinstance(test, str):
                seen.setdefault(test, []).extend(str(line) for line in lines[:20])
    return seen


def observed(
    kernel: Mapping[str, Sequence[str]], alone: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Flags, one per thing observed with the tests that observed it, from the kernel's run
    (:func:`observations`) and the run of the definitions alone (``alone``: test -> lines).
    Hints for a person, never part of a score: the student's code could forge or suppress them;
    the spelling rules are the second net."""
    tests: dict[str, list[str]] = {}  # what was observed -> the tests that observed it
    for where, seen in (("", kernel), (" (definitions alone)", alone or {})):
        for test, lines in seen.items():
            for line in lines[:20]:
                tests.setdefault(first_line(line, 200) + where, []).append(test)
    flags = []
    for line, names in tests.items():
        names = list(dict.fromkeys(names))
        more = f", +{len(names) - 2} more" if len(names) > 2 else ""
        flags.append(f"the grader observed ({', '.join(names[:2])}{more}): {line}")
    return flags


def first_line(text: object, limit: int = 240) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters (for reasons in a CSV)."""
    line = next((s for s in str(text).strip().splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def judge_cell(channel: Channel, test: str, cell: NotebookNode) -> Verdict:
    """The verdict on one executed hidden test cell."""
    records = _records(cell)
    if not records:
        return Verdict(
            False, "no answer reached the grader (the cell did not finish)", answered=False,
        )
    if len(records) > 1:
        return Verdict(False, f"{len(records)} answers in one cell; the grader takes exactly one")
    record = records[0]
    if not isinstance(
        record, dict,
    ) or record.get("test") != test or record.get("task") != channel.task:
        return Verdict(False, "the answer in this cell is not this test's")
    if record.get("nonce") != channel.nonce:
        return Verdict(False, "the answer was not made in this grading run (wrong nonce)")
    return judge_answer(channel, test, record.get("npz"))


def judge_answer(channel: Channel, test: str, npz: object) -> Verdict:
    """Decode one answer (base64 ``.npz`` text, :func:`~dlci_grader.kernel.answers.encode`)
    and judge it with the task's check against the channel's cases."""
    try:
        answers = decode(npz)
    except Exception as error:  # noqa: BLE001 - any malformed answer is the student's 0
        return Verdict(
            False,
            f"the answer could not be read ({type(error).__name__}: {first_line(error, 400)})",
        )
    try:
        summary = judged_tests(channel.task)[test].judge(channel.cases[test], answers)
    except AssertionError as error:
        return Verdict(
            False, f"AssertionError: {first_line(error, 400)}", mistakes=mistakes_of(error),
            answer=str(npz),
        )
    except Exception as error:  # noqa: BLE001 - e.g. an answer of the wrong kind
        return Verdict(
            False,
            f"the answer could not be checked ({type(error).__name__}: {first_line(error, 400)})",
            answer=str(npz),
        )
    return Verdict(True, summary or "", answer=str(npz))


def verify(channel: Channel, notebook: NotebookNode) -> dict[str, Verdict]:
    """Grade id -> verdict for every judged test cell of the channel's task in ``notebook``."""
    verdicts = {}
    for cell in notebook.cells:
        test = grade_id(cell)
        if test is not None and test in channel.cases and test not in verdicts:
            verdicts[test] = judge_cell(channel, test, cell)
    return verdicts


def combined(kernel: Verdict, alone: Verdict | None) -> Verdict:
    """A definitions-only test's verdict: the kernel's, unless it passed and the run on the
    definitions alone (:mod:`dlci_grader.verdicts.rebuild`) did not."""
    return alone if kernel.passed and alone is not None and not alone.passed else kernel


def judge_executed(
    channel: Channel, notebook: NotebookNode, path: str | Path,
    alone: Mapping[str, Verdict] | None = None
) -> tuple[dict[str, Verdict], dict[str, Verdict]]:
    """:func:`verify` the executed ``notebook``, fail the tests whose run on the definitions
    alone (``alone``) failed (:func:`combined`), :func:`annotate` it, and save it to ``path``:
    as a new file, since nbgrader leaves the autograded notebook read-only (0444), which only
    root writes through (the Gradescope worker runs unprivileged). Returns (the combined
    verdicts, the kernel's own)."""
    kernel = verify(channel, notebook)
    verdicts = {test: combined(v, (alone or {}).get(test)) for test, v in kernel.items()}
    annotate(notebook, verdicts)
    atomic_write(Path(path), nbformat.writes(notebook).encode())
    return verdicts, kernel


def _is_verdict(output: NotebookNode) -> bool:
    """An answer record, or a verdict :func:`annotate` wrote in its place."""
    return MIME in output.get("data", {}) or output.get("ename") == VERDICT_NAME or (
        output.get("output_type") == "stream"
        and str(output.get("text", "")).startswith("checked by the grader: passed")
    )


def annotate(notebook: NotebookNode, verdicts: Mapping[str, Verdict]) -> None:
    """Replace each judged cell's answer outputs (or an earlier verdict, when a regrade judges
    again) by the grader's verdict (in place)."""
    for cell in notebook.cells:
        test = grade_id(cell)
        if test is None or test not in verdicts:
            continue
        verdict = verdicts[test]
        outputs = [o for o in cell.get("outputs", []) if not _is_verdict(o)]
        if verdict.passed:
            detail = f" ({verdict.reason})" if verdict.reason else ""
            outputs.append(NotebookNode(
                output_type="stream", name="stdout", text=f"checked by the grader: passed{detail}\n"
            ))
        elif verdict.answered:
            outputs.append(NotebookNode(
                output_type="error", ename=VERDICT_NAME, evalue=verdict.reason,
                traceback=[f"checked by the grader: {verdict.reason}"],
            ))
        cell.outputs = outputs
