"""``nbgrader autograde`` from a fork server: nbgrader imported once per grading thread.

``python -m dlci_grader.nbgrader.autograde_server --serve`` (a fork server, started by
:mod:`dlci_grader.run.worker` through :class:`~dlci_grader.isolation.fork_server.ForkServers`)
imports nbgrader (about 1.3 s of every notebook otherwise) and what every kernel imports first
(PyTorch, ipykernel: the kernel is forked from the child, :mod:`dlci_grader.isolation.warm_kernel`),
then per notebook forks a child that
takes the notebook's limits (its cgroup and memory cap:
:func:`~dlci_grader.isolation.fork_server.enter_job`), moves to the private course
and runs the real ``nbgrader autograde`` in it with the request's arguments, its output in the
request's log. nbgrader starts the student's kernel in the sandbox from there.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, NoReturn

from dlci_grader.isolation.fork_server import become, enter_job, import_trusted, serve_command
from dlci_grader.isolation.warm_kernel import WARM_MODULES

MODULE = "dlci_grader.nbgrader.autograde_server"


def _preload() -> None:
    import nbgrader.apps.nbgraderapp  # noqa: F401 - what every child would import again
    import nbgrader.converters.autograde  # noqa: F401

    import_trusted(WARM_MODULES)


def _child(request: dict[str, Any], fd: int) -> NoReturn:
    """One notebook's ``nbgrader autograde ARGS`` (``request["argv"]``); exits with its status."""
    code = 1
    try:
        enter_job(request, fd)
        os.close(fd)  # nothing to relay: the scores are in the private gradebook
        os.dup2(2, 1)  # nbgrader's output and errors, both in the log
        become(request)
        from nbgrader.apps.nbgraderapp import NbGraderApp

        sys.argv = ["nbgrader", *map(str, request["argv"])]
        try:
            NbGraderApp.launch_instance()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported in the log, which the worker reads
        traceback.print_exc()
    finally:
        _end_descendants()  # a kernel nbgrader left behind (it crashed, or was stopped)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _end_descendants() -> None:
    try:
        import psutil

        for proc in psutil.Process().children(recursive=True):
            try:
                proc.kill()
            except psutil.Error:
                pass
    except Exception:  # noqa: BLE001, S110 - the job's cgroup and its kernel's parent check remain
        pass


if __name__ == "__main__":
    raise SystemExit(serve_command(MODULE, _preload, _child))
