"""Grade one student's notebook in isolation: its own process tree, temporary nbgrader course,
fresh kernel, time limits and memory cap; the result comes back as plain data.

:func:`grade_isolated` copies a template course (the assignment's source and a gradebook that
knows it) into a fresh folder, puts the notebook in ``submitted/``, and runs the real
``nbgrader autograde`` there as a child process under :mod:`dlci_grader.limits`. Each cell may
run ``cell_timeout`` seconds (nbgrader interrupts it and goes on with the next cell); the whole
process tree is killed after ``notebook_timeout`` seconds. The scores are then read from that
private gradebook into a :class:`NotebookResult` (JSON-serialisable), which the caller merges
into the course's gradebook. Nothing here shares state with another worker, so workers run in
parallel and the hidden tests could later move to another process or machine without changing
the caller.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
import psutil

from dlci_grader import sandbox, verify
from dlci_grader.execute import KERNEL_DIED, NOT_RUN
from dlci_grader.limits import release_cgroup, wrap
from dlci_grader.verify import first_line

TIMEOUT_ENAMES = ("CellTimeoutError",)
DISK_POLL_S = 1.0
"""Seconds between two checks of a notebook's disk use."""
CONFIG = """\
# Written by dlci_grader.worker: a private course folder for one notebook.
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades)
from dlci_grader.execute import ResilientExecute

c = get_config()  # noqa: F821
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "dlci"
c.Execute.timeout = {cell_timeout}
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = {kernel_name!r}
c.Autograde.autograde_preprocessors = [
    ResilientExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata,
]
"""


@dataclass(frozen=True)
class Limits:
    """What one notebook may use.

    Attributes:
        cell_timeout: seconds one cell may run before it is interrupted (then scored as failed).
        notebook_timeout: seconds the whole grading of one notebook may take before its
            process tree is killed (every cell then scores 0).
        memory_bytes: cap on each process's private writable memory (``RLIMIT_DATA``), None
            for none.
        threads: ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` for the kernel (cores per worker).
        sandbox: start the kernel in :mod:`dlci_grader.sandbox` (files, network, signals,
            processes); False runs it as a plain ``python3`` kernel.
        processes: processes the kernel may start beyond those running (``RLIMIT_NPROC``); as
            root, the tasks (processes and threads) of the worker's pids cgroup.
        file_bytes: largest file the kernel may write (``RLIMIT_FSIZE``).
        disk_bytes: all the files of the notebook's private folder (the only place the sandboxed
            kernel may write); beyond it the kernel is killed (checked every
            :data:`DISK_POLL_S` s), so later cells score 0 and earlier ones keep their points.
    """

    cell_timeout: int = 300
    notebook_timeout: int = 1200
    memory_bytes: int | None = 6 * 2**30
    threads: int = 1
    sandbox: bool = True
    processes: int = 512
    file_bytes: int = 2**30
    disk_bytes: int | None = 2 * 2**30


@dataclass
class CellResult:
    """One graded cell: points and why."""

    cell: str
    points: float
    max_points: float
    manual: bool
    status: str
    reason: str = ""
    needs_manual_grade: bool = False


@dataclass
class NotebookResult:
    """One student's notebook for one task, graded (plain data; see :meth:`to_json`).

    ``status`` is ``graded`` (nbgrader ran it; failing cells are in ``cells``), ``rejected``
    (not run: invalid file or wrong assignment), ``timeout`` (killed after the notebook limit)
    or ``error`` (nbgrader itself failed); ``reason`` says what went wrong, if anything.
    """

    student: str
    task: str
    notebook: str
    status: str
    reason: str = ""
    cells: list[CellResult] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    digest: str = ""

    @property
    def points(self) -> float:
        return sum(c.points for c in self.cells)

    @property
    def auto_points(self) -> dict[str, float]:
        return {c.cell: c.points for c in self.cells if not c.manual}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> NotebookResult:
        data = json.loads(text)
        data["cells"] = [CellResult(**c) for c in data["cells"]]
        return cls(**data)


def graded_cells(source: nbformat.NotebookNode) -> dict[str, tuple[float, bool]]:
    """Graded cells of a source notebook -> (points, manually graded)."""
    points = {}
    for cell in source.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            points[meta["grade_id"]] = (float(meta.get("points", 0)), bool(meta.get("solution")))
    return points


def zero_result(
    student: str, task: str, notebook: str, points: Mapping[str, tuple[float, bool]],
    status: str, reason: str, cell_status: str = "not run",
) -> NotebookResult:
    """Every cell 0, for a notebook that could not run (``reason`` says why)."""
    cells = [
        CellResult(name, 0.0, p, manual, cell_status, reason) for name, (p, manual) in points.items()
    ]
    return NotebookResult(student, task, notebook, status, reason, cells)


def _cell_errors(notebook: nbformat.NotebookNode) -> dict[str, list[tuple[str, str]]]:
    """grade/cell id -> [(ename, evalue)] of its error outputs."""
    errors = {}
    for cell in notebook.cells:
        name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id")
        errors[name] = [
            (o.get("ename", ""), o.get("evalue", ""))
            for o in cell.get("outputs", [])
            if o.get("output_type") == "error"
        ]
    return errors


def explain(
    autograded: nbformat.NotebookNode, limits: Limits
) -> tuple[dict[str, str], list[str]]:
    """(cell -> reason it failed, notebook-level problems) from an autograded notebook."""
    reasons, problems = {}, []
    memory = "" if limits.memory_bytes is None else f" (memory cap {limits.memory_bytes / 2**30:.3g} GiB)"
    for name, errors in _cell_errors(autograded).items():
        if not errors:
            continue
        enames = [e for e, _ in errors]
        if any(e in TIMEOUT_ENAMES for e in enames):
            reason = f"timed out after {limits.cell_timeout} s (interrupted)"
            problems.append(f"cell {name} {reason}")
        elif KERNEL_DIED in enames:
            reason = "the kernel died in this cell (os._exit, a crash, or killed for memory)"
            problems.append(f"kernel died in cell {name}")
        elif NOT_RUN in enames:
            reason = first_line(dict(errors)[NOT_RUN])
        else:
            ename, evalue = errors[-1]
            reason = f"{ename}: {first_line(evalue)}" if evalue else ename
            if ename == "MemoryError" or "can't allocate memory" in evalue:
                reason += memory
                problems.append(f"out of memory in cell {name}{memory}")
        reasons[name] = reason
    return reasons, problems


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def _run_limited(
    command: list[str], cwd: Path, env: Mapping[str, str], limits: Limits, log: Path
) -> tuple[int | None, float, list[str]]:
    """Run ``command`` under the limits; (exit status or None if killed for time, CPU seconds
    of it and the descendants it waited for, i.e. nbgrader and its kernel, what was stopped)."""
    with open(log, "wb") as out:
        max_pids = limits.processes if limits.sandbox else None
        proc = subprocess.Popen(
            wrap(command, limits.memory_bytes, max_pids), cwd=cwd, env=dict(env), stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    timed_out, done = threading.Event(), threading.Event()
    notes: list[str] = []

    def _expire() -> None:
        timed_out.set()
        _kill_tree(proc.pid)

    def _watch_disk() -> None:  # the kernel may write only beneath cwd (the sandbox)
        while not done.wait(DISK_POLL_S):
            if limits.disk_bytes is not None and _size(cwd) > limits.disk_bytes:
                notes.append(f"the kernel was stopped: the notebook wrote more than "
                             f"{limits.disk_bytes / 2**30:.3g} GiB to disk")
                _kill_kernels(proc.pid)
                return

    timer = threading.Timer(limits.notebook_timeout, _expire)
    timer.daemon = True
    timer.start()
    watcher = threading.Thread(target=_watch_disk, daemon=True)
    watcher.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        done.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    _kill_tree(proc.pid)  # a kernel left behind by a crashed nbgrader
    release_cgroup(proc.pid)  # as root: whatever is left in the worker's cgroup
    cpu = usage.ru_utime + usage.ru_stime
    return (None if timed_out.is_set() else proc.returncode), cpu, notes


def _size(folder: Path) -> int:
    """Bytes of the files beneath ``folder`` (symbolic links not followed)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _kill_kernels(pid: int) -> None:
    """Kill the kernel(s) under process ``pid`` (nbgrader goes on: later cells score 0)."""
    try:
        procs = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            if any("ipykernel" in part or "dlci_grader.sandbox" in part for part in proc.cmdline()):
                proc.kill()
        except psutil.Error:
            pass


def grade_isolated(
    template: str | Path,
    notebook: str,
    student: str,
    task: str,
    submission: str | Path,
    workdir: str | Path,
    limits: Limits = Limits(),
    env: Mapping[str, str] | None = None,
) -> tuple[NotebookResult, Path | None]:
    """Autograde one notebook in a private nbgrader course under ``workdir``.

    Args:
        template: a course folder holding ``source/<notebook>/`` and a ``gradebook.db`` in which
            ``nbgrader generate_assignment <notebook>`` was run.
        notebook: the assignment and notebook id.
        student: nbgrader student id.
        task: the task key, stored in the result.
        submission: the student's ``.ipynb``.
        workdir: an empty folder for the private course (the caller removes it).
        limits: time and memory limits.
        env: extra environment for nbgrader and the kernel (e.g. ``DLCI_GRADING=1``).

    Returns:
        (the result, the autograded notebook's path inside ``workdir``, or None when nbgrader
        wrote none). The caller copies the notebook before removing ``workdir``.
    """
    template, workdir = Path(template), Path(workdir)
    source_nb = nbformat.read(str(template / "source" / notebook / f"{notebook}.ipynb"), 4)
    points = graded_cells(source_nb)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template / "source" / notebook, workdir / "source" / notebook)
    shutil.copyfile(template / "gradebook.db", workdir / "gradebook.db")
    target = workdir / "submitted" / student / notebook / f"{notebook}.ipynb"
    target.parent.mkdir(parents=True)
    shutil.copyfile(submission, target)
    full_env = dict(os.environ)
    full_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), full_env.get("PATH", "")])
    threads = str(max(1, int(limits.threads)))
    full_env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "MPLBACKEND": "Agg"})
    full_env.update(env or {})
    from starter.data.root import locate_data_root

    full_env["DLCI_DATA"] = str(locate_data_root(full_env.get("DLCI_DATA") or None).path.resolve())
    start = time.perf_counter()
    try:
        channel = verify.prepare(task, workdir / "grader", full_env["DLCI_DATA"])
    except Exception as error:  # noqa: BLE001 - the grader's problem, reported, not raised
        result = zero_result(
            student, task, notebook, points, "error",
            f"the grader could not draw the hidden tests' inputs ({type(error).__name__}: {error})",
        )
        return result, None
    if channel is not None:
        full_env.update(channel.env)
    kernel_name = "python3"
    if limits.sandbox:
        kernel_name = _sandbox_kernel(workdir, student, full_env, channel, limits)
    (workdir / "nbgrader_config.py").write_text(
        CONFIG.format(root=str(workdir), cell_timeout=int(limits.cell_timeout), kernel_name=kernel_name)
    )
    command = [
        sys.executable, "-m", "nbgrader", "autograde", notebook, f"--student={student}", "--force",
        f"--CourseDirectory.root={workdir}",
    ]
    log = workdir / "autograde.log"
    code, cpu, notes = _run_limited(command, workdir, full_env, limits, log)
    seconds = time.perf_counter() - start
    autograded = workdir / "autograded" / student / notebook / f"{notebook}.ipynb"
    if code is None:
        result = zero_result(
            student, task, notebook, points, "timeout",
            f"grading took longer than {limits.notebook_timeout} s and was stopped",
        )
    elif code != 0 or not autograded.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        result = zero_result(
            student, task, notebook, points, "error",
            f"nbgrader failed (exit {code}): {' | '.join(first_line(t, 160) for t in tail)}",
        )
    else:
        result = _read_scores(workdir, student, task, notebook, points, autograded, limits, channel)
    result.reason = "; ".join(filter(None, [*notes, result.reason]))
    result.seconds, result.cpu_seconds = seconds, cpu
    return result, (autograded if autograded.is_file() else None)


def _sandbox_kernel(
    workdir: Path, student: str, env: dict[str, str], channel: verify.Channel | None, limits: Limits
) -> str:
    """Write the sandboxed kernelspec for this worker and point ``env`` at it; its name.

    The kernel may read the system, Python, ``starter``, the data and the grader's public inputs
    (``channel``); it may write only the student's folders and a private scratch folder, which
    is also its home and temporary folder. Everything else in ``workdir`` (the source notebook
    with the hidden tests, the gradebook) and outside is out of its reach.
    """
    scratch = workdir / "scratch"
    for sub in ("tmp", "cache", "ipython", "matplotlib"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    write = [
        str(scratch), str(workdir / "autograded" / student), str(workdir / "submitted" / student),
    ]
    (workdir / "autograded" / student).mkdir(parents=True, exist_ok=True)
    extra = [str(channel.folder)] if channel is not None else []
    read = sandbox.default_read_paths(env.get("DLCI_DATA"), extra)
    kernel_env = {
        "HOME": str(scratch), "TMPDIR": str(scratch / "tmp"), "XDG_CACHE_HOME": str(scratch / "cache"),
        "IPYTHONDIR": str(scratch / "ipython"), "MPLCONFIGDIR": str(scratch / "matplotlib"),
    }
    folder = workdir / "jupyter"
    name = sandbox.kernelspec(folder, read, write, kernel_env, limits.processes, limits.file_bytes)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), env.get("JUPYTER_PATH", "")]))
    return name


def _read_scores(
    workdir: Path, student: str, task: str, notebook: str,
    points: Mapping[str, tuple[float, bool]], autograded: Path, limits: Limits,
    channel: verify.Channel | None,
) -> NotebookResult:
    """Scores from the private gradebook; hidden tests judged outside the kernel (``channel``)
    score by the grader's verdict instead, whatever the kernel printed."""
    from nbgrader.api import Gradebook

    executed = nbformat.read(str(autograded), 4)
    present = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in executed.cells}
    reasons, problems = explain(executed, limits)
    verdicts = verify.judge_executed(channel, executed, autograded) if channel is not None else {}
    cells = []
    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}") as gradebook:
        nb = gradebook.find_submission_notebook(notebook, notebook, student)
        grades = {g.name: g for g in nb.grades}
        comments = {c.name: c.auto_comment for c in nb.comments}
        for name, (max_points, manual) in points.items():
            grade = grades[name]
            score = float(grade.score or 0.0)
            if name not in present:
                status, reason = "deleted", "cell deleted from the notebook"
            elif manual:
                if grade.needs_manual_grade:
                    status, reason = "needs manual grade", ""
                else:
                    status, reason = "graded", comments.get(name) or ""
            elif name in verdicts and verdicts[name].passed:
                score, status, reason = max_points, "passed", ""
            elif score >= max_points and name not in verdicts:
                status, reason = "passed", ""
            else:
                if name in verdicts:  # judged outside the kernel: its reason if the kernel had none
                    score = 0.0
                    reasons.setdefault(name, verdicts[name].reason)
                died = reasons.get(name, "").startswith(("not run", "the kernel died"))
                status = "not run" if died else "failed"
                reason = reasons.get(name, "no points")
                if problems and not died:  # e.g. a NameError after an answer cell timed out
                    reason += f" [{'; '.join(problems)}]"
            cells.append(
                CellResult(name, score, max_points, manual, status, reason, bool(grade.needs_manual_grade))
            )
    return NotebookResult(student, task, notebook, "graded", "; ".join(problems), cells)
