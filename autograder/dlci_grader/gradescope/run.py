"""What a Gradescope autograder zip's ``run_autograder`` runs: grade ``/autograder/submission``
exactly as ``dlci grade`` grades one notebook, and write ``/autograder/results/results.json``.

``python -m dlci_grader.gradescope.run [--autograder-dir /autograder]``:

1. reads the zip's settings (:mod:`~dlci_grader.gradescope.settings`) and the task's course
   template (``source/template/``: the source notebook, a gradebook in which the assignment was
   generated), finds the one notebook handed in and checks it as intake does (wrong task,
   duplicated cells);
2. grades it in a child process (:mod:`~dlci_grader.gradescope.child`, which alone loads
   nbgrader and PyTorch) with :func:`dlci_grader.run.worker.run_job`: a
   private nbgrader course in a fresh temporary folder, the sandboxed kernel, secret inputs,
   the verdicts judged outside the kernel. As root (Gradescope) the child runs as the zip's
   unprivileged user, so that neither the kernel nor nbgrader can write ``results/`` or read
   ``source/``, whatever the sandbox enforces on that machine;
3. writes ``results.json`` atomically from this process only (never from the child): one test
   per autograded cell, or an ``autograder error`` test when anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlci_grader.gradescope.results import error_results, hidden_cells, to_gradescope, write_results
from dlci_grader.gradescope.settings import CONFIG_NAME, Settings
from dlci_grader.nbgrader.template import Template
from dlci_grader.run.intake import check_notebook
from dlci_grader.tasks import Task
from dlci_grader.verdicts.results import (
    CellStatus,
    NotebookResult,
    NotebookStatus,
    graded_cells,
    zero_result,
)
from starter.env_vars import DATA_ENV_VAR

STUDENT = "submission"
"""The nbgrader student id of the one submission an autograder run grades."""
MARGIN_S = 120
"""Seconds the worker process may take beyond the notebook limit (nbgrader's start and end)."""


class SubmissionProblem(Exception):
    """The submission cannot be graded (no notebook, several): the student's, not the grader's."""


@dataclass(frozen=True)
class Layout:
    """Gradescope's folders under the autograder directory (``/autograder``)."""

    root: Path

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def submission(self) -> Path:
        return self.root / "submission"

    @property
    def results(self) -> Path:
        return self.root / "results" / "results.json"

    @property
    def template(self) -> Path:
        return self.source / "template"


def find_notebook(folder: Path, notebook: str) -> Path:
    """The notebook handed in under ``folder``: the only ``.ipynb``, or the one named
    ``<notebook>.ipynb`` when there are several."""
    found = sorted(
        p for p in folder.rglob("*.ipynb")
        if p.is_file() and ".ipynb_checkpoints" not in p.parts and "__MACOSX" not in p.parts
    )
    if not found:
        raise SubmissionProblem(f"no notebook (.ipynb) in the submission; upload {notebook}.ipynb")
    if len(found) == 1:
        return found[0]
    named = [p for p in found if p.stem == notebook]
    if len(named) == 1:
        return named[0]
    names = ", ".join(str(p.relative_to(folder)) for p in found)
    raise SubmissionProblem(
        f"several notebooks in the submission ({names}) and not exactly one {notebook}.ipynb"
    )


def grade_submission(root: Path, data_root: Path | None = None) -> dict[str, Any]:
    """Grade Gradescope's submission under ``root`` and write ``results.json``; the results.

    Never raises for a problem of the submission or of the grader: both end in the results
    (an ``autograder error`` test with the reason for the latter).
    """
    layout = Layout(Path(root))
    start = time.perf_counter()
    points: dict[str, tuple[float, bool]] | None = None
    try:
        settings = Settings.read(layout.source / CONFIG_NAME)
        template = Template(layout.template, settings.notebook)
        if not template.source.is_file():
            raise FileNotFoundError(
                f"{template.source}: the task's source notebook is missing from the zip"
            )
        source_nb = template.read_source()
        points = graded_cells(source_nb)
        try:
            path = find_notebook(layout.submission, settings.notebook)
            result = _grade(settings, layout, path, data_root)
        except SubmissionProblem as problem:
            result = zero_result(
                STUDENT, settings.task, settings.notebook, points, NotebookStatus.REJECTED,
                str(problem),
                cell_status=CellStatus.REJECTED,
            )
        results = to_gradescope(
            result, hidden_cells(source_nb), settings.visible, settings.hidden,
            execution_time=time.perf_counter() - start,
        )
    except BaseException as error:  # noqa: BLE001 - whatever failed, results.json is written
        results = error_results(f"the autograder failed ({type(error).__name__}: {error})", points)
        results["execution_time"] = round(time.perf_counter() - start, 1)
    write_results(layout.results, results)
    return results


def _grade(
    settings: Settings, layout: Layout, notebook: Path, data_root: Path | None,
) -> NotebookResult:
    """Check the notebook as intake does, then grade it in the worker child."""
    template = Template(layout.template, settings.notebook)
    task = Task(settings.task, settings.notebook, template.source)
    content = notebook.read_bytes()
    problem, notes, repaired = check_notebook(content, task, settings.release_ids or {})
    if problem is not None:
        return zero_result(
            STUDENT, settings.task, settings.notebook, template.points(), NotebookStatus.REJECTED,
            problem, cell_status=CellStatus.REJECTED,
        )
    # Not run/job.resolve_data_root: here the fallback is the zip's data root (where setup.sh
    # fetched the data), not the kit's default, and neither a "~" nor a blank $DLCI_DATA is
    # read the way starter.data.root reads them; routing it there would change where a zip looks.
    root = data_root or Path(os.environ.get(DATA_ENV_VAR) or settings.data_root)
    return run_worker(settings, layout.template, repaired or content, tuple(notes), root.resolve())


def _user(name: str) -> pwd.struct_passwd | None:
    """The unprivileged user to grade as: only when this process is root and the user exists."""
    if not name or os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(name)
    except KeyError:
        return None
    return user if user.pw_uid != 0 else None


def _chown_tree(folder: Path, uid: int, gid: int) -> None:
    for dirpath, _dirnames, filenames in os.walk(folder):
        os.chown(dirpath, uid, gid)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def run_worker(
    settings: Settings, template: Path, submission: bytes, notes: tuple[str, ...], data_root: Path
) -> NotebookResult:
    """Grade ``submission`` in a child process (as the settings' user when root); its result.

    The child gets a private copy of the template in a fresh temporary folder, never this
    process's folders; it hands its result back as JSON in that folder.
    """
    user = _user(settings.user)
    work = Path(tempfile.mkdtemp(prefix="dlci-gradescope-"))
    try:
        Template(template, settings.notebook).copy_into(work / "template")
        (work / "submission.ipynb").write_bytes(submission)
        (work / "home").mkdir()
        job = {
            "settings": json.loads(settings.to_json()), "notes": list(notes),
            "data_root": str(data_root)
        }
        (work / "job.json").write_text(json.dumps(job))
        env = {k: v for k, v in os.environ.items() if k not in (DATA_ENV_VAR,)}
        env.update(
            {
                "HOME": str(work / "home"), "TMPDIR": str(work / "home"),
                "PYTHONDONTWRITEBYTECODE": "1"
            }
        )
        if user is not None:
            _chown_tree(work, user.pw_uid, user.pw_gid)
            env.update({"USER": user.pw_name, "LOGNAME": user.pw_name})
        elif os.geteuid() == 0:
            why = (
                f"no user {settings.user!r} on this machine (setup.sh creates it)"
                if settings.user
                else "no --user in the zip"
            )
            notes = (
                *notes,
                f"graded as root ({why}); the sandbox alone kept the kernel from the "
                "autograder's folders"
            )
        command = [sys.executable, "-m", "dlci_grader.gradescope.child", str(work)]
        with open(work / "worker.log", "wb") as log:
            try:
                proc = subprocess.Popen(
                    command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True, user=None if user is None else user.pw_uid,
                    group=None if user is None else user.pw_gid,
                    extra_groups=None if user is None else [],
                )
            except PermissionError as error:
                who = f"the user {settings.user!r}" if user is not None else "this user"
                raise RuntimeError(
                    f"{who} cannot run {sys.executable} ({error.strerror}): install the kit "
                    "where that user "
                    "can read it (setup.sh puts it in /opt/dlci-venv), or build the zip with "
                    "another --user"
                ) from None
        try:
            code = proc.wait(timeout=settings.notebook_timeout + MARGIN_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        out = work / "result.json"
        if out.is_file() and code == 0:
            result = NotebookResult.from_json(out.read_text())
        else:
            tail = (work / "worker.log").read_text(errors="replace").strip().splitlines()[-3:]
            why = "did not finish in time" if code is None else f"exited with {code}"
            points = Template(template, settings.notebook).points()
            result = zero_result(
                STUDENT, settings.task, settings.notebook, points, NotebookStatus.ERROR,
                f"the grading process {why}: {' | '.join(tail)[-600:]}",
            )
        for note in notes:
            if note not in result.reason:
                result.reason = "; ".join(filter(None, [result.reason, note]))
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _summary(results: dict[str, Any]) -> str:
    lines = [f"score {results.get('score', 0):g}"]
    for test in results.get("tests", []):
        lines.append(
            f"  {test['name']}: {test.get('score', 0):g}/{test.get('max_score', 0):g}  "
            f"{test.get('output', '')[:160]}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: grade the submission under ``--autograder-dir``."""
    parser = argparse.ArgumentParser(
        prog="python -m dlci_grader.gradescope.run", description=__doc__.splitlines()[0],
    )
    parser.add_argument(
        "--autograder-dir", default="/autograder", help="Gradescope's folder (default /autograder)",
    )
    parser.add_argument(
        "--data-root", help="course data (default: $DLCI_DATA, else the zip's setting)",
    )
    args = parser.parse_args(argv)
    results = grade_submission(
        Path(args.autograder_dir), Path(args.data_root) if args.data_root else None,
    )
    print(_summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
