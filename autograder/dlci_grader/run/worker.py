"""Grade one student's notebook in isolation: its own process tree, private nbgrader course,
fresh sandboxed kernel, time limits and memory cap; plain data in, plain data out.

:func:`run_job` takes a :class:`~dlci_grader.run.executor.Job` (submission bytes, the task's
template course, limits, data root) and returns a :class:`~dlci_grader.run.executor.JobResult`.
:func:`grade_isolated` does the work: it copies the template (the assignment's source and a
gradebook that knows it) into a fresh folder, puts the notebook in ``submitted/``, draws the
hidden tests' inputs with a secret seed (:mod:`dlci_grader.verdicts.judging`), and runs the real
``nbgrader autograde`` there in a child process under the job's limits
(:mod:`dlci_grader.isolation.limits`), forked from a server that has nbgrader imported
(:mod:`dlci_grader.nbgrader.autograde_server`). Each
cell may run ``cell_timeout`` seconds (nbgrader interrupts it and goes on); the whole process
tree is killed after ``notebook_timeout`` seconds. The scores are then read from that private
gradebook, the judged cells scored by the grader's verdicts, into a
:class:`~dlci_grader.verdicts.results.NotebookResult`. Nothing here shares state with another job.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import nbformat
import psutil

from dlci_grader.isolation import sandbox
from dlci_grader.isolation.fork_server import ForkServers, run_on
from dlci_grader.isolation.limits import Limits
from dlci_grader.isolation.warm_kernel import PROCESS_NAME as KERNEL_PROCESS_NAME
from dlci_grader.kernel.answers import ENV as ANSWERS_ENV_VAR
from dlci_grader.kernel.rebuilt import MODULE as REBUILT
from dlci_grader.nbgrader.autograde_server import MODULE as AUTOGRADE
from dlci_grader.nbgrader.config import write_worker_config
from dlci_grader.nbgrader.course import NbgraderCourse
from dlci_grader.nbgrader.execute import KERNEL_DIED, KERNEL_STOPPED, NOT_RUN, TIMED_OUT
from dlci_grader.nbgrader.gradebook import read_submission
from dlci_grader.run.job import Job, JobResult
from dlci_grader.tasks import code_digest
from dlci_grader.verdicts import flags, judging, rebuild
from dlci_grader.verdicts.judging import first_line
from dlci_grader.verdicts.records import NotebookRecord, TestRecord, judged_cell
from dlci_grader.verdicts.results import (
    CellResult,
    CellStatus,
    NotebookResult,
    NotebookStatus,
    graded_cells,
    zero_result,
)
from starter.env_vars import DATA_ENV_VAR, GRADING_ENV_VAR
from starter.nbgrader_cells import grade_id

DISK_POLL_S = 1.0
"""Seconds between two checks of a notebook's disk use."""


def _cell_errors(notebook: nbformat.NotebookNode) -> dict[str, list[tuple[str, str]]]:
    """grade/cell id -> [(ename, evalue)] of its error outputs."""
    errors = {}
    for cell in notebook.cells:
        name = grade_id(cell) or cell.get("id")
        errors[name] = [
            (o.get("ename", ""), o.get("evalue", ""))
            for o in cell.get("outputs", [])
            if o.get("output_type") == "error"
        ]
    return errors


def explain(
    autograded: nbformat.NotebookNode, limits: Limits
) -> tuple[dict[str, tuple[CellStatus, str]], list[str]]:
    """(cell -> (status, why it failed), notebook-level problems) from an autograded notebook."""
    reasons: dict[str, tuple[CellStatus, str]] = {}
    problems: list[str] = []
    memory = (
        "" if limits.memory_bytes is None
        else f" (memory cap {limits.memory_bytes / 2**30:.3g} GiB)"
    )
    for name, errors in _cell_errors(autograded).items():
        if not errors:
            continue
        enames = [e for e, _ in errors]
        status = CellStatus.FAILED
        if TIMED_OUT in enames:
            reason = f"timed out after {limits.cell_timeout} s (interrupted)"
            problems.append(f"cell {name} {reason}")
        elif KERNEL_STOPPED in enames:
            reason = first_line(dict(errors)[KERNEL_STOPPED])
            problems.append(f"cell {name} ignored the timeout's interrupt; the kernel was stopped")
        elif KERNEL_DIED in enames:
            status, reason = (
                CellStatus.NOT_RUN,
                "the kernel died in this cell (os._exit, a crash, or killed for memory)",
            )
            problems.append(f"kernel died in cell {name}")
        elif NOT_RUN in enames:
            status, reason = CellStatus.NOT_RUN, first_line(dict(errors)[NOT_RUN])
        else:
            ename, evalue = errors[-1]
            reason = f"{ename}: {first_line(evalue)}" if evalue else ename
            if ename == "MemoryError" or "can't allocate memory" in evalue:
                reason += memory
                problems.append(f"out of memory in cell {name}{memory}")
        reasons[name] = (status, reason)
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


def _autograde(
    argv: list[str], cwd: Path, env: Mapping[str, str], limits: Limits, log: Path,
    servers: ForkServers | None,
) -> tuple[int | None, float, list[str]]:
    """``nbgrader ARGV`` in ``cwd`` under the limits, forked from a server of ``servers`` that has
    nbgrader imported (:mod:`dlci_grader.nbgrader.autograde_server`), its output in ``log``;
    (exit status or None if killed for time, CPU seconds of it and the descendants it waited
    for, i.e. nbgrader and its kernel, what was stopped)."""
    notes: list[str] = []
    done = threading.Event()

    def _watch_disk(pid: int) -> None:  # the kernel may write only beneath cwd (the sandbox)
        while not done.wait(DISK_POLL_S):
            if limits.disk_bytes is not None and _size(cwd) > limits.disk_bytes:
                notes.append(f"the kernel was stopped: the notebook wrote more than "
                             f"{limits.disk_bytes / 2**30:.3g} GiB to disk")
                _kill_kernels(pid)
                return

    def _started(pid: int) -> None:
        threading.Thread(target=_watch_disk, args=(pid,), daemon=True).start()

    request = {
        "argv": argv, "cwd": str(cwd), "env": dict(env), "log": str(log),
        "memory_bytes": limits.memory_bytes,
        "max_pids": limits.processes if limits.sandbox else None,
    }
    try:
        outcome = run_on(
            servers, AUTOGRADE, env, request, limits.notebook_timeout,
            started=_started, stop=_kill_tree,
        )
    finally:
        done.set()
    if outcome.timed_out:
        return None, outcome.cpu, notes
    if outcome.exit is None:  # the server itself failed: say so where the worker looks
        with open(log, "a") as out:
            out.write(f"\n{outcome.stopped or 'the autograde run was stopped'}\n")
        return 1, outcome.cpu, notes
    return outcome.exit, outcome.cpu, notes


_EXCEPTION = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception|Timeout|Exit)\b.*")


def _failure(log: str) -> str:
    """Why nbgrader failed, from its log: the last exception raised (type and message; nbgrader
    itself ends with a generic "error processing assignment"), then its last lines."""
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()]
    raised = [line for line in lines if _EXCEPTION.match(line)]
    shown = [*raised[-1:], *(line for line in lines[-2:] if line not in raised[-1:])]
    return " | ".join(first_line(line, 200) for line in shown)


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
            if proc.name() == KERNEL_PROCESS_NAME or any(  # forked, or started
                "ipykernel" in part or "dlci_grader.isolation.sandbox" in part
                for part in proc.cmdline()
            ):
                proc.kill()
        except psutil.Error:
            pass


def run_job(job: Job, workdir: Path, servers: ForkServers | None = None) -> JobResult:
    """Grade one :class:`~dlci_grader.run.job.Job` in ``workdir`` (an empty folder the
    caller removes afterwards); the result and the autograded notebook's bytes. ``servers``:
    the grading run's fork servers, nbgrader's and the definitions-alone run's (None: started
    for this job alone)."""
    workdir.mkdir(parents=True, exist_ok=True)
    submission = workdir / "submission.ipynb"
    submission.write_bytes(job.submission)
    env = {GRADING_ENV_VAR: "1"} if job.grading else {}
    result, autograded, record = grade_isolated(job, submission, workdir / "course", env, servers)
    for note in job.notes:
        if note not in result.reason:
            result.reason = "; ".join(filter(None, [note, result.reason]))
    result.host = platform.node()
    return JobResult(
        job, result, autograded.read_bytes() if autograded is not None else None, record,
    )


def grade_isolated(
    job: Job, submission: Path, workdir: Path, env: Mapping[str, str] | None = None,
    servers: ForkServers | None = None,
) -> tuple[NotebookResult, Path | None, NotebookRecord | None]:
    """Autograde one notebook in a private nbgrader course under ``workdir``.

    Args:
        job: what to grade: the student and task, the template course (``source/<notebook>/``
            and a ``gradebook.db`` in which ``nbgrader generate_assignment <notebook>`` was run),
            the limits, and the course data (resolved): the hidden tests' inputs are drawn from
            it, and the kernel reads it, or the task's copy without held-out items.
        submission: the student's ``.ipynb`` (the job's bytes, written to a file).
        workdir: an empty folder for the private course (the caller removes it).
        env: extra environment for nbgrader and the kernel (e.g. ``DLCI_GRADING=1``).
        servers: the fork servers of nbgrader's autograde and of the definitions-alone run
            (None: started for this notebook alone).

    Returns:
        (the result, the autograded notebook's path inside ``workdir``, or None when nbgrader
        wrote none, the record of its judged tests, or None when none was judged).
    """
    if servers is not None:
        return _grade_isolated(job, submission, workdir, env, servers)
    with ForkServers() as own:  # this notebook's own, started ahead as a run's are
        return _grade_isolated(job, submission, workdir, env, own)


def _grade_isolated(
    job: Job, submission: Path, workdir: Path, env: Mapping[str, str] | None,
    servers: ForkServers,
) -> tuple[NotebookResult, Path | None, NotebookRecord | None]:
    template, notebook, student, task = job.task_template, job.notebook, job.student, job.task
    limits, data_root = job.limits, job.data_root
    course = NbgraderCourse(workdir, create=False)
    source_nb = template.read_source()
    points = graded_cells(source_nb)
    workdir.mkdir(parents=True, exist_ok=True)
    template.copy_into(workdir)
    target = course.submitted_path(student, notebook)
    target.parent.mkdir(parents=True)
    shutil.copyfile(submission, target)
    full_env = dict(os.environ)
    full_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), full_env.get("PATH", "")])
    threads = str(max(1, int(limits.threads)))
    full_env.update({"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "MPLBACKEND": "Agg"})
    full_env.update(env or {})
    start = time.perf_counter()
    # nbgrader's server imports (nbgrader, PyTorch) while the hidden tests' inputs are drawn
    servers.start_ahead(AUTOGRADE, full_env)
    try:
        channel = judging.prepare(task, workdir / "grader", data_root, job.seed)
    except Exception as error:  # noqa: BLE001 - the grader's problem, reported, not raised
        result = zero_result(
            student, task, notebook, points, NotebookStatus.ERROR,
            f"the grader could not draw the hidden tests' inputs ({type(error).__name__}: {error})",
        )
        return result, None, None
    kernel_root = data_root
    if channel is not None:
        if rebuild.alone_tests(task):  # the definitions-alone runner imports during autograde
            servers.start_ahead(REBUILT, full_env)
        full_env[ANSWERS_ENV_VAR] = str(channel.folder)
        kernel_root = channel.kernel_data_root or data_root
    # what the kernel reads, and all it may read of the data
    full_env[DATA_ENV_VAR] = str(kernel_root)
    kernel_name = "python3"
    read = sandbox.default_read_paths(
        kernel_root, [str(channel.folder)] if channel is not None else [],
    )
    if limits.sandbox:
        kernel_name = _sandbox_kernel(workdir, student, full_env, read, limits)
    timings = workdir / "slowest_cell.json"  # out of the sandboxed kernel's reach
    write_worker_config(workdir, limits.cell_timeout, kernel_name, timings)
    argv = ["autograde", notebook, f"--student={student}", "--force",
            f"--CourseDirectory.root={workdir}"]
    log = workdir / "autograde.log"
    code, cpu, notes = _autograde(argv, workdir, full_env, limits, log, servers)
    autograded = course.autograded_path(student, notebook)
    record = None
    if code is None:
        result = zero_result(
            student, task, notebook, points, NotebookStatus.TIMEOUT,
            f"grading took longer than {limits.notebook_timeout} s and was stopped",
        )
    elif code != 0 or not autograded.is_file():
        result = zero_result(
            student, task, notebook, points, NotebookStatus.ERROR,
            f"nbgrader failed (exit {code}): {_failure(log.read_text(errors='replace'))}",
        )
    else:
        executed = nbformat.read(str(autograded), 4)
        seen = judging.observations(executed)  # before judging replaces the answers
        alone = {}
        if channel is not None:  # the definitions-only tests again, on the definitions alone
            alone = rebuild.run_alone(
                channel, executed, source_nb, workdir / "alone", limits, full_env, read, servers,
            )
        result, record = _read_scores(
            course, student, task, notebook, points, executed, autograded, limits, channel, alone,
            source_nb, data_root,
        )
        alone_seen = {test: v.observed for test, v in alone.items() if v.observed}
        result.flags = [*flags.scan(executed, set(points)), *judging.observed(seen, alone_seen)]
        result.slowest_cell, result.slowest_cell_seconds = _slowest_cell(timings)
    result.reason = "; ".join(filter(None, [*notes, result.reason]))
    result.seconds, result.cpu_seconds = time.perf_counter() - start, cpu
    return result, (autograded if autograded.is_file() else None), record


def _slowest_cell(timings: Path) -> tuple[str, float]:
    """(cell, seconds) of the slowest cell that ran to its end, as nbgrader's run wrote it."""
    try:
        data = json.loads(timings.read_text())
        return str(data["cell"]), float(data["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return "", 0.0


def _sandbox_kernel(
    workdir: Path, student: str, env: dict[str, str], read: list[str], limits: Limits,
) -> str:
    """Write the sandboxed kernelspec for this worker and point ``env`` at it; its name.

    The kernel may read ``read`` (the system, Python, ``starter``, its data and the grader's
    public inputs: :func:`sandbox.default_read_paths`); it may write only the student's folders
    and a private
    scratch folder, which is also its home and temporary folder. Everything else in ``workdir``
    (the source notebook with the hidden tests, the gradebook) and outside is out of its reach.
    """
    scratch = workdir / "scratch"
    for sub in ("tmp", "cache", "ipython", "matplotlib"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    write = [
        str(scratch), str(workdir / "autograded" / student), str(workdir / "submitted" / student),
    ]
    (workdir / "autograded" / student).mkdir(parents=True, exist_ok=True)
    kernel_env = {
        "HOME": str(scratch), "TMPDIR": str(scratch / "tmp"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "IPYTHONDIR": str(scratch / "ipython"), "MPLCONFIGDIR": str(scratch / "matplotlib"),
    }
    folder = workdir / "jupyter"
    name = sandbox.kernelspec(folder, read, write, kernel_env, limits.processes, limits.file_bytes)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), env.get("JUPYTER_PATH", "")]))
    return name


def _read_scores(
    course: NbgraderCourse, student: str, task: str, notebook: str,
    points: Mapping[str, tuple[float, bool]], executed: nbformat.NotebookNode, autograded: Path,
    limits: Limits, channel: judging.Channel | None, alone: Mapping[str, judging.Verdict],
    source: nbformat.NotebookNode, data_root: Path,
) -> tuple[NotebookResult, NotebookRecord | None]:
    """Scores from the private gradebook; tests judged outside the kernel (``channel``) score by
    the grader's verdict instead (:func:`~dlci_grader.verdicts.records.judged_cell`), whatever
    the kernel printed, and definitions-only tests only when their run on the definitions alone
    (``alone``) passed too. With the result, the record of the judged tests (None without)."""
    present = {grade_id(c) for c in executed.cells}
    reasons, problems = explain(executed, limits)
    verdicts, kernel = judging.judge_executed(
        channel, executed, autograded, alone,
    ) if channel is not None else ({}, {})
    grades = read_submission(course.db, notebook, notebook, student)
    cells = []
    for name, (max_points, manual) in points.items():
        grade = grades[name]
        score = grade.score
        if name not in present:
            status, reason = CellStatus.DELETED, "cell deleted from the notebook"
        elif manual:
            if grade.needs_manual_grade:
                status, reason = CellStatus.NEEDS_MANUAL_GRADE, ""
            else:
                status, reason = CellStatus.GRADED, grade.comment
        elif name in verdicts:
            error = reasons.get(name)
            cells.append(judged_cell(
                name, max_points, verdicts[name],
                (error[0].value, error[1]) if error else None, problems, grade.needs_manual_grade,
            ))
            continue
        elif score >= max_points:
            status, reason = CellStatus.PASSED, ""
        else:
            status, reason = reasons.get(name, (CellStatus.FAILED, "no points"))
            if problems and status is not CellStatus.NOT_RUN:  # e.g. a NameError after a timeout
                reason += f" [{'; '.join(problems)}]"
        cells.append(CellResult(
            name, score, max_points, manual, status, reason, grade.needs_manual_grade,
        ))
    result = NotebookResult(
        student, task, notebook, NotebookStatus.GRADED, "; ".join(problems), cells,
    )
    if channel is None:
        return result, None
    sources = {grade_id(c): str(c.source) for c in source.cells}
    record = NotebookRecord(task, notebook, str(data_root), problems, {
        test: TestRecord(
            channel.seed, judging.cases_digest(channel.cases[test]),
            code_digest(task, test, sources.get(test, "")), verdict, alone.get(test),
            (reasons[test][0].value, reasons[test][1]) if test in reasons else None,
        )
        for test, verdict in kernel.items()
    })
    return result, record
