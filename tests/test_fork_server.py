"""The grader's fork servers (``dlci_grader.isolation.fork_server``) when a job goes wrong: a job
past its time, a server that dies under a job, a notebook past the whole-notebook timeout.
Real servers (``python -m MODULE --serve``), real forks, the real nbgrader."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import nbformat
import psutil
import pytest

pytest.importorskip("dlci_grader")
from dlci_grader.isolation.fork_server import STOPPED, ForkServers, run_on  # noqa: E402
from dlci_grader.isolation.limits import Limits  # noqa: E402
from dlci_grader.kernel.rebuilt import MODULE as REBUILT  # noqa: E402
from dlci_grader.nbgrader.autograde_server import MODULE as AUTOGRADE  # noqa: E402
from dlci_grader.run.class_run import grade_submissions  # noqa: E402
from dlci_grader.verdicts.results import NotebookStatus  # noqa: E402

pytestmark = [pytest.mark.grader]
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SLEEP = "import time\ntime.sleep(600)"


def _request(folder: Path, test_source: str) -> dict[str, object]:
    """A definitions-alone request of one test, ``t``, running ``test_source`` (no notebook)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"cells": [], "tests": [{"test": "t", "before": 0, "source": test_source}],
            "timeout": 600}
    return {"spec": spec, "env": {**ENV, "HOME": str(folder)}, "cwd": str(folder),
            "log": str(folder / "stderr.log")}


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_a_job_past_its_time_is_stopped_and_its_server_serves_the_next(tmp_path):
    pids: list[int] = []
    with ForkServers() as servers:
        slow = run_on(servers, REBUILT, ENV, _request(tmp_path / "a", SLEEP), 3,
                      started=pids.append)
        assert slow.timed_out and slow.stopped == "the run took longer than 3 s", slow
        assert _gone(pids[0]), "the stopped job's process is still running"
        (server,) = servers.idle()
        assert server.alive()
        quick = run_on(servers, REBUILT, ENV, _request(tmp_path / "b", "x = 1"), 60)
        assert quick.exit == 0 and not quick.stopped, quick
        assert [line.get("test") for line in quick.lines] == ["t"]
        assert servers.idle() == [server], "the server was not reused"


def test_a_job_stopped_the_moment_it_is_forked_is_stopped_and_its_server_kept(tmp_path):
    # A deadline that passed while the server was starting stops the job as soon as its pid is
    # known, maybe before the child leads its own process group: killing the group alone then
    # missed it, the server relayed a sleeping job and was thrown away 40 s later (measured:
    # 4 of the first 15 such jobs before the fix, a CI failure on a loaded 2-core VM).
    with ForkServers() as servers:
        servers.start_ahead(REBUILT, ENV)
        for i in range(30):
            start = time.monotonic()
            outcome = run_on(servers, REBUILT, ENV, _request(tmp_path / str(i), SLEEP), 0)
            assert outcome.timed_out, outcome
            took = time.monotonic() - start
            assert took < 10, f"job {i}: stopping it took {took:.1f} s"
            assert len(servers.idle()) == 1, f"job {i}: its server was not kept"


def test_a_server_started_ahead_is_the_one_the_next_job_takes(tmp_path):
    with ForkServers() as servers:
        servers.start_ahead(REBUILT, ENV)  # imports while the caller does other work
        (ahead,) = servers.idle()
        servers.start_ahead(REBUILT, ENV)
        assert servers.idle() == [ahead], "a second server was started beside an idle one"
        outcome = run_on(servers, REBUILT, ENV, _request(tmp_path / "a", "x = 1"), 60)
        assert outcome.exit == 0, outcome
        assert servers.idle() == [ahead], "the job did not run on the server started ahead"


def test_a_server_that_dies_under_a_job_is_named_and_replaced(tmp_path):
    with ForkServers() as servers:
        server = servers.take(REBUILT, ENV)
        pids: list[int] = []

        def _kill_server(pid: int) -> None:
            pids.append(pid)
            os.kill(server.proc.pid, signal.SIGKILL)

        outcome = server.run(_request(tmp_path / "a", SLEEP), 60,
                             started=_kill_server)
        assert outcome.stopped == STOPPED and not outcome.timed_out, outcome
        assert _gone(pids[0]), "the job outlived its server"
        servers.give_back(server)
        assert servers.idle() == [], "a dead server was kept"
        again = run_on(servers, REBUILT, ENV, _request(tmp_path / "b", "x = 1"), 60)
        assert again.exit == 0, again


def test_nbgrader_runs_forked_from_its_server_and_its_failure_comes_back(tmp_path):
    with ForkServers() as servers:
        ok = run_on(servers, AUTOGRADE, ENV, {
            "argv": ["--version"], "cwd": str(tmp_path), "env": ENV,
            "log": str(tmp_path / "ok.log"),
        }, 60)
        text = (tmp_path / "ok.log").read_text()
        assert ok.exit == 0 and any(c.isdigit() for c in text), text
        failed = run_on(servers, AUTOGRADE, ENV, {
            "argv": ["autograde", "nope", "--student=s", f"--CourseDirectory.root={tmp_path}"],
            "cwd": str(tmp_path), "env": ENV, "log": str(tmp_path / "bad.log"),
        }, 60)
        text = (tmp_path / "bad.log").read_text()
        assert failed.exit == 1 and "No notebooks were matched" in text, (failed, text)
        assert len(servers.idle()) == 1


def _kernels() -> set[int]:
    """Kernels started (``python -m ipykernel_launcher``) or forked (named ``ipykernel``)."""
    return {p.pid for p in psutil.process_iter(["name", "cmdline"])
            if "ipykernel" in " ".join([p.info["name"] or "", *(p.info["cmdline"] or [])])}


def test_a_notebook_past_the_whole_notebook_timeout_scores_zero_with_the_reason():
    before = _kernels()
    release = nbformat.read(str(ROOT / "notebooks" / "task1_backprop_inpainting.ipynb"), 4)
    release.cells.insert(1, nbformat.v4.new_code_cell(SLEEP))
    results = grade_submissions(
        ROOT / "solutions" / "task1_backprop_inpainting.ipynb", {"stuck": release},
        limits=Limits(notebook_timeout=8), workers=1,
    )
    result = results["stuck"]
    assert result.status == NotebookStatus.TIMEOUT, (result.status, result.reason)
    assert "grading took longer than 8 s" in result.reason, result.reason
    left = [pid for pid in _kernels() - before if not _gone(pid)]
    assert not left, f"the stopped notebook's kernel is still running: {left}"


def test_an_nbgrader_failure_is_reported_by_the_exception_it_raised():
    """nbgrader ends every failure with the same generic line; the CSV's reason must carry the
    exception that caused it (a dead kernel, a timeout at start), or a failure cannot be told
    from another."""
    from dlci_grader.run.worker import _failure

    log = "\n".join([
        "[AutogradeApp | INFO] Autograding submitted/solution/task9_tiny",
        "Traceback (most recent call last):",
        '  File "nbclient/client.py", line 600, in async_start_new_kernel',
        "RuntimeError: Kernel didn't respond in 60 seconds",
        "[AutogradeApp | ERROR] There was an error processing assignment: submitted/solution",
        "[AutogradeApp | ERROR] Please see the error log (.nbgrader.log) for details",
    ])
    reason = _failure(log)
    assert reason.startswith("RuntimeError: Kernel didn't respond in 60 seconds"), reason
    assert "There was an error processing assignment" in reason, reason
    assert _failure("only one line") == "only one line"
