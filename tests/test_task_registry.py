"""The task registry: the grader learns its tasks in one place, and a new task is one folder.

``dlci_grader/tasks/<key>/`` (checks, sample variants) plus what its test cells run in the
student's kernel (``dlci_grader/kernel/<key>.py``, the one folder the sandbox lets the kernel
read) and its two notebooks: that is all a task is. The last test shows it for real: a copy of
the grader with a tiny test-only task added (those files and nothing else) releases, makes its
sample class and grades it with ``dlci grade`` (sandbox, secret inputs, verdicts outside the
kernel), every score as expected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

import dlci_grader
from dlci_grader import tasks
from dlci_grader.samples.variants import task_variants

pytestmark = pytest.mark.grader

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(dlci_grader.__file__).resolve().parent


def test_the_registry_finds_every_task_folder_and_nothing_else():
    assert tasks.registered() == ("task1", "task2", "task3")
    loaded = tasks.load_tasks(ROOT / "solutions")
    assert set(loaded) == set(tasks.registered()), (
        "a notebook without a task folder, or the reverse"
    )
    for key, task in loaded.items():
        assert task_variants(key), f"{key} registers no sample variants"
        assert tasks.judged_tests(key), f"{key} judges nothing outside the kernel"
        assert (PACKAGE / "kernel" / f"{key}.py").is_file(), f"{key} has no kernel-side module"
        assert task.release(ROOT / "notebooks").is_file()


def test_an_unknown_key_has_nothing_registered():
    assert tasks.judged_tests("task99") == {}
    assert task_variants("task99") == {}


# --- a new task, end to end ---------------------------------------------------------------

CHECKS = '''
"""Task 9 (test-only): the student doubles an array."""

import numpy as np

from dlci_grader.tasks.contract import Case, Context, JudgedTest, each_case


def _make(rng: np.random.Generator, context: Context) -> list[Case]:
    return [{"x": rng.normal(size=int(rng.integers(2, 9)))} for _ in range(2)]


def _judge(cases: list[Case], answers: list[Case]) -> None:
    def check(i: int, case: Case, answer: Case) -> None:
        if not np.allclose(answer["y"], 2 * case["x"]):
            raise AssertionError("double(x) is not 2·x")

    each_case(cases, answers, check)


JUDGED = {"test_double_hidden": JudgedTest(_make, _judge)}
'''

VARIANTS = '''
from dlci_grader.samples.variants import Edit, Variant, by_name

VARIANTS = by_name(
    Variant("solution", "the solution"),
    Variant("blank", "the release", blank=True),
    Variant("triple", "triples instead", edits=(Edit("double", "2 * x", "3 * x"),),
            fails=frozenset({"test_double", "test_double_hidden"})),
)
'''

KERNEL = '''
"""Task 9 in the student's kernel: the student's double on the grader's inputs."""

import numpy as np

from dlci_grader.kernel import answers


def double(function, test):
    cases = answers.cases("task9", test)
    answers.submit("task9", test, [{"y": np.asarray(function(c["x"]))} for c in cases])
'''


def _cell(kind: str, source: str, grade_id: str, points: int = 0) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(textwrap.dedent(source).strip() + "\n")
    cell.id = grade_id
    cell.metadata["nbgrader"] = {
        "grade": kind == "test", "solution": kind == "answer", "locked": kind == "test",
        "grade_id": grade_id, "schema_version": 3, **({"points": points} if kind == "test" else {}),
    }
    return cell


def _tiny_solution() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3", "language": "python",
    }
    nb.cells = [
        _cell("answer", """
            def double(x):
                ### BEGIN SOLUTION
                return 2 * x
                ### END SOLUTION
            """, "double"),
        _cell("test", 'assert double(2) == 4, "double(2) should be 4"', "test_double", 1),
        _cell("test", """
            ### BEGIN HIDDEN TESTS
            from dlci_grader.kernel import task9 as _harness
            _harness.double(double, "test_double_hidden")
            ### END HIDDEN TESTS
            """, "test_double_hidden", 2),
    ]
    return nb


@pytest.mark.slow
def test_a_new_task_is_one_folder_a_kernel_module_and_two_notebooks(tmp_path):
    grader = tmp_path / "pkg" / "dlci_grader"
    shutil.copytree(PACKAGE, grader, ignore=shutil.ignore_patterns("__pycache__"))
    (grader / "tasks" / "task9").mkdir()
    (grader / "tasks" / "task9" / "__init__.py").write_text('"""Task 9 (test-only)."""\n')
    (grader / "tasks" / "task9" / "checks.py").write_text(CHECKS)
    (grader / "samples" / "task_variants" / "task9.py").write_text(VARIANTS)
    (grader / "kernel" / "task9.py").write_text(KERNEL)
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(_tiny_solution(), str(solutions / "task9_tiny.ipynb"))

    pythonpath = os.pathsep.join(
        filter(None, [str(tmp_path / "pkg"), os.environ.get("PYTHONPATH")])
    )
    env = {**os.environ, "PYTHONPATH": pythonpath}
    dlci = str(Path(sys.executable).parent / "dlci")

    def run(*args: str) -> str:
        done = subprocess.run([dlci, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, (
            f"dlci {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done.stdout

    probe = subprocess.run(
        [sys.executable, "-c", "import dlci_grader; print(dlci_grader.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    )
    assert Path(probe.stdout.strip()).parent == grader, (
        "the copy with task9 is not the one imported"
    )
    run("release", "--solutions", "solutions", "--out", "notebooks")
    assert "dlci_grader" not in (tmp_path / "notebooks" / "task9_tiny.ipynb").read_text()
    run("sample-class", "class", "--solutions", "solutions", "--notebooks", "notebooks")
    out = run("grade", "class", "--course", "course", "--solutions", "solutions",
              "--expected", "class/expected.csv", "--workers", "2")
    assert "MISMATCH" not in out
    csv = (tmp_path / "course" / "grades.csv").read_text()
    assert "solution,task9,test_double_hidden,2,2,passed" in csv, csv
    assert ("task9-triple,task9,test_double_hidden,0,2,failed,"
            "AssertionError: case 1 of 2 (float64): double(x) is not 2·x") in csv, csv
