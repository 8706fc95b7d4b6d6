"""Every catalogued student mistake gets a visible hint that names it, and never the solution.

Each row of ``tests/mistakes/task*.py`` is applied to the full solution, the notebook is run by
the real ``dlci check`` (a fresh kernel, grading mode, as a student runs it; each distinct
notebook once, two at a time), and the failure
text of the row's visible test must match what the row ``says``; nothing in the output may
contain the row's ``never`` fragments of solution code. Every test's points must be the row's:
0 for the tests it ``fails``, full for the others. In Task 1 the notebook run is the edited
solution itself, hidden tests included (judged in the kernel by the task's checks, as a solution
notebook judges itself outside the grader), so a hidden test must score as its visible twin
does (``test_linear_hidden`` as ``test_linear``): one mistake costs its points once per test it
is about, and the visible and hidden tests agree. Task 3's release runs alone: its solution's
hidden tests evaluate the 100 test images, minutes per notebook.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from mistakes import Mistake

from starter.mistakes import MISTAKES as MISTAKE_WORDS

pytestmark = [pytest.mark.grader, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE_TASKS = ("task1", "task3")
WITH_HIDDEN = ("task1",)
"""Tasks whose rows run on the edited solution, hidden tests included (see above)."""


def _catalogue() -> list[Mistake]:
    rows = []
    for task in CATALOGUE_TASKS:
        try:
            module = importlib.import_module(f"mistakes.{task}")
        except ModuleNotFoundError:
            continue
        rows += module.MISTAKES
    return rows


MISTAKES = _catalogue()


def test_the_catalogue_covers_tasks_1_and_3():
    names = [(m.task, m.name) for m in MISTAKES]
    assert len(names) == len(set(names)), "duplicate mistake names"
    assert len(MISTAKES) >= 12, f"only {len(MISTAKES)} catalogued mistakes"
    assert {m.task for m in MISTAKES} == set(CATALOGUE_TASKS)
    for m in MISTAKES:
        assert m.says, f"{m.name}: says nothing to check"
        assert m.test in m.fails, f"{m.name}: fails does not list its own test {m.test}"
    unnamed = [(m.name, i) for m in MISTAKES for i in m.named if i not in MISTAKE_WORDS]
    assert not unnamed, f"catalogue rows name ids starter.mistakes does not have: {unnamed}"
    for a in MISTAKES:  # one notebook, one set of points
        assert all(a.fails == b.fails for b in MISTAKES if (b.task, b.edits) == (a.task, a.edits))


def failure_text(output: str, test: str) -> str:
    """The lines ``dlci check`` printed for ``test``: its FAIL line and the indented ones below."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.split()[:2] == ["FAIL", test]:
            block = [line]
            for more in lines[i + 1:]:
                if not more.startswith(" " * 8):
                    break
                block.append(more)
            return "\n".join(block)
    raise AssertionError(f"{test} did not fail:\n{output}")


def _check(notebook: Path) -> subprocess.CompletedProcess:
    """``dlci check NOTEBOOK`` in the notebook's folder, as a student runs it (one torch thread:
    two run at a time on the suite's cores)."""
    return subprocess.run(
        [sys.executable, "-m", "starter.cli", "check", str(notebook)],
        capture_output=True, text=True, timeout=900, cwd=notebook.parent,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict[tuple[str, tuple], subprocess.CompletedProcess]:
    """(task, edits) -> ``dlci check`` of the solution with those edits: once per distinct
    notebook, two at a time."""
    pytest.importorskip("dlci_grader")
    from dlci_grader.samples.variants import Variant, make_submission
    from dlci_grader.tasks import load_tasks

    notebooks: dict[tuple[str, tuple], Path] = {}
    for mistake in MISTAKES:
        key = (mistake.task, mistake.edits)
        if key in notebooks:
            continue
        task = load_tasks(ROOT / "solutions", [mistake.task])[mistake.task]
        variant = Variant(mistake.name, mistake.description, edits=mistake.edits)
        release = (
            task.source if mistake.task in WITH_HIDDEN
            else ROOT / "notebooks" / f"{task.notebook}.ipynb"
        )
        path = tmp_path_factory.mktemp(f"{mistake.task}-{mistake.name}") / f"{task.notebook}.ipynb"
        nbformat.write(make_submission(variant, task.source, release), str(path))
        notebooks[key] = path
    with ThreadPoolExecutor(2) as pool:
        return dict(zip(notebooks, pool.map(_check, notebooks.values()), strict=True))


@pytest.mark.parametrize("mistake", MISTAKES, ids=[f"{m.task}-{m.name}" for m in MISTAKES])
def test_dlci_check_names_the_mistake(mistake: Mistake, checked):
    run = checked[(mistake.task, mistake.edits)]
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    text = failure_text(run.stdout, mistake.test)
    for pattern in mistake.says:
        assert re.search(pattern, text, re.IGNORECASE), (
            f"{mistake.name}: the hint for {mistake.test} does not say /{pattern}/:\n{text}"
        )
    for named in mistake.named:  # the hint uses the named mistake's own words
        words = re.escape(MISTAKE_WORDS[named].says)
        words = re.sub(r"\\\{[^}]*\\\}", ".*", words).replace(r"\ ", r"\s+")
        assert re.search(words, text), (
            f"{mistake.name}: the hint for {mistake.test} lacks the words of {named}:\n{text}"
        )
    for fragment in mistake.never:
        assert fragment not in output, f"{mistake.name}: the output shows {fragment!r}:\n{output}"
    # each test's points: 0 for the tests the mistake makes wrong (a hidden test with its
    # visible twin), full for the others
    scored = re.findall(r"^  (PASS|FAIL)  (\S+) +([\d.]+)/([\d.]+)$", run.stdout, re.M)
    assert scored, output
    hidden = [test for _, test, _, _ in scored if test.endswith("_hidden")]
    assert bool(hidden) == (mistake.task in WITH_HIDDEN), f"{mistake.name}: hidden {hidden}"
    expected = {
        test: 0.0 if test.removesuffix("_hidden") in mistake.fails else float(full)
        for _, test, _, full in scored
    }
    assert {test: float(got) for _, test, got, _ in scored} == expected, (
        f"{mistake.name}: points per test differ (expected to fail: "
        f"{sorted(mistake.fails)}, and their hidden twins):\n{output}"
    )
