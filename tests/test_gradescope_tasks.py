"""Gradescope for Tasks 2 and 3: each task's zip, run as Gradescope runs it, grades as ``dlci
grade`` does.

``test_task_grading.test_variants_get_their_expected_scores`` holds ``dlci grade``'s worker to
every variant's expected points per cell; the zip's ``run_autograder`` (Gradescope's layout,
``tests/test_gradescope.py`` has the Task 1 side, the blank release and the attacks) runs that
same worker behind its own intake and results, so here it grades two notebooks of each task, one
round of the suite's two cores: the solution (full marks) and the first wrong variant that names
a mistake. It must give exactly the expected points per cell and the variant's named mistakes, a
valid ``results.json``, the written answers as 0-point manual entries, and no hidden test's code
in anything it writes. Every variant through the zip would cost the suite about 200 s more and
test the same worker again.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import nbformat
import pytest

pytest.importorskip("dlci_grader")
from test_grader_class import ROOT, dlci, hidden_lines  # noqa: E402
from test_gradescope import RESULTS_SCHEMA  # noqa: E402

from dlci_grader.gradescope.local import LocalRun, run_local  # noqa: E402
from dlci_grader.gradescope.results import ERROR_TEST  # noqa: E402
from dlci_grader.samples.variants import grade_points, make_submission, task_variants  # noqa: E402
from dlci_grader.tasks import load_tasks  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.slow, pytest.mark.realdata]

TASKS = [pytest.param(t, marks=getattr(pytest.mark, t), id=t) for t in ("task2", "task3")]


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> Path:
    """The Task 2 and Task 3 zips, built once."""
    out = tmp_path_factory.mktemp("zips")
    # --user "": the test machine's Python lives under /root: no other user may run it
    built = dlci("gradescope", "build", "--tasks", "task2", "task3", "--out", str(out),
                 "--user", "")
    assert built.returncode == 0, built.stderr
    return out


@pytest.mark.parametrize("task", TASKS)
def test_the_zip_grades_as_dlci_grade_grades_it(task, zips, data_root, tmp_path):
    spec = load_tasks(ROOT / "solutions", [task])[task]
    auto, manual = grade_points(spec.source)
    release = spec.release(ROOT / "notebooks")
    variants = task_variants(task)
    wrong = next(n for n, v in variants.items() if v.mistakes)
    notebooks = {}
    for name in ("solution", wrong):
        variant = variants[name]
        path = tmp_path / name / f"{spec.notebook}.ipynb"
        path.parent.mkdir()
        nbformat.write(make_submission(variant, spec.source, release), str(path))
        notebooks[name] = path

    def grade(path: Path) -> LocalRun:
        return run_local(zips / f"{spec.notebook}.zip", [path], data_root=data_root, timeout=1200)

    with ThreadPoolExecutor(2) as pool:  # two at a time, as `dlci grade --workers 2`
        runs = dict(zip(notebooks, pool.map(grade, notebooks.values()), strict=True))

    hidden = hidden_lines(spec.notebook)
    assert hidden
    for name, run in runs.items():
        results = run.results
        assert run.returncode == 0, (name, run.stdout[-3000:])
        jsonschema.validate(results, RESULTS_SCHEMA)
        tests = {t["name"]: t for t in results["tests"]}
        assert ERROR_TEST not in tests, (name, tests[ERROR_TEST]["output"])
        got = {n: t["score"] for n, t in tests.items() if "manual" not in t.get("tags", [])}
        expected = variants[name].expected_scores(auto)
        assert got == expected, (
            name, {n: t["output"] for n, t in tests.items() if got.get(n) != expected.get(n)}
        )
        assert results["score"] == sum(expected.values()), name
        named = {m for ids in results.get("extra_data", {}).get("mistakes", {}).values()
                 for m in ids}
        assert named == {m.id for m in variants[name].mistakes}, (name, named)
        written = [t for t in results["tests"] if "manual" in t.get("tags", [])]
        assert sorted(t["name"].split()[0] for t in written) == sorted(manual), name
        assert all(t["max_score"] == 0 and "graded by hand" in t["output"] for t in written), name
        text = json.dumps(results) + run.stdout
        leaked = [line for line in hidden if line in text]
        assert not leaked, (name, leaked[:3])
    assert runs["solution"].results["score"] == sum(auto.values())
    assert runs[wrong].results["score"] < sum(auto.values())
