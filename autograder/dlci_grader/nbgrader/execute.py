"""nbgrader's ``Execute`` preprocessor, made to survive a kernel that dies.

nbgrader stops grading a notebook when its kernel dies (``os._exit``, a segfault, the OOM
killer): nothing is saved, so cells that ran and passed before the crash would score 0 with no
trace of why. :class:`ResilientExecute` records the death as an error output of the cell that
was running (``KernelDied``) and marks every later code cell as not run (``NotRun``); nbgrader
then scores the notebook as usual: tests before the crash keep their points, the rest get 0.
A cell that swallows the timeout's interrupt (nbclient then gives up waiting for the kernel to
go idle) is handled the same way: the kernel is killed (``KernelStopped``), the rest not run.
With ``timings_file`` set, it also writes the slowest cell that ran to its end (grade or cell id
and seconds, JSON): the margin a cell timeout leaves honest work (``dlci grade`` prints it).

Used through the worker's nbgrader config (see :mod:`dlci_grader.run.worker`)::

    c.Autograde.autograde_preprocessors = [ResilientExecute, ...]   # instead of Execute
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Unicode

KERNEL_DIED = "KernelDied"
KERNEL_STOPPED = "KernelStopped"
"""``ename`` of a cell whose timeout interrupt the student's code swallowed (a bare ``except:``
around a loop): the kernel is stopped, the cells that ran keep their points."""
NOT_RUN = "NotRun"
TIMED_OUT = CellTimeoutError.__name__
"""``ename`` nbgrader's ``Execute`` writes for a cell interrupted at its timeout."""
_UNFINISHED = (TIMED_OUT, KERNEL_DIED, KERNEL_STOPPED, NOT_RUN)
"""``ename`` of a cell that did not run to its end (not counted as the slowest cell)."""


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"],
    )


class ResilientExecute(Execute):  # type: ignore[misc]  # nbgrader has no type information
    """``Execute`` that turns a dead kernel into error outputs instead of a failed notebook."""

    timings_file = Unicode(
        "", help="JSON file for the slowest cell that ran to its end ({cell, seconds}); '': none",
    ).tag(config=True)

    def preprocess(
        self, nb: NotebookNode, resources: dict[str, Any] | None = None, km: object = None
    ) -> tuple[NotebookNode, dict[str, Any]]:
        self._died_in: str | None = None
        self._why = "the kernel died"
        self._slowest: tuple[str, float] = ("", 0.0)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self.timings_file:
                cell, seconds = self._slowest
                Path(self.timings_file).write_text(
                    json.dumps({"cell": cell, "seconds": round(seconds, 3)}) + "\n"
                )

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        start = time.monotonic()
        done = self._run_cell(cell, resources, index)
        seconds = time.monotonic() - start
        unfinished = any(o.get("ename") in _UNFINISHED for o in cell.get("outputs", []))
        if cell.cell_type == "code" and not unfinished and seconds > self._slowest[1]:
            name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            self._slowest = (str(name or cell.get("id") or index), seconds)
        return done

    def _run_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if self._died_in is not None:
            if cell.cell_type == "code":
                cell.outputs = [_error(NOT_RUN, f"not run: {self._why} in cell {self._died_in}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except CellTimeoutError:
            # The cell outlived its timeout and the interrupt did not stop it within the IOPub
            # wait (its code caught KeyboardInterrupt): stop the kernel, keep what ran.
            self._stop_kernel()
            self._died_in = str(cell.get("id") or index)
            self._why = "the kernel was stopped"
            cell.outputs.append(
                _error(
                    KERNEL_STOPPED,
                    f"timed out after {self.timeout} s and did not stop when interrupted (does it "
                    "catch KeyboardInterrupt, e.g. a bare except:?): the kernel was stopped",
                )
            )
            return cell, resources
        except DeadKernelError:
            self._died_in = str(cell.get("id") or index)
            cell.outputs.append(
                _error(
                    KERNEL_DIED,
                    "the kernel died while running this cell (os._exit, a crash, or killed "
                    "for memory)",
                )
            )
            return cell, resources

    def _stop_kernel(self) -> None:
        """Kill the kernel's process (the cells after this one are then not run)."""
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        if pid:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
