"""The same suite on every grading path: ``dlci grade``, ``dlci grade --cluster`` (loopback Dask)
and the Gradescope zips give each notebook the same points.

The suite (``conftest.suite``) is, in CI, every notebook whose grading goes through what differs
between the paths (intake, the worker's folders, data, limits and user, the results'
translation): each task's blank release, Task 1's solution, the broken submissions and the
attacks, less the costliest; ``make test-paths`` (``DLCI_PATHS_SUITE=full``) grades every task's
whole sample class and every attack. Each path grades it once for the session (``conftest``:
``task1_class`` and ``attack_class`` locally, ``dask_suite``, ``gradescope_suite``), and every
notebook must get, cell by cell, the points the sample class expects, which are the local run's
where the session graded it locally (Tasks 2 and 3's sample classes are held to the same points
locally by ``test_task_grading``). The same mistakes are named and the same code flagged on each
path; every ``results.json`` follows Gradescope's specification and shows no hidden test's code;
the attacks that report their tries were refused on the cluster too.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from conftest import DaskGraded, GradedClass, Suite, read_grades
from test_attacks import _attack_lines
from test_grader_class import hidden_lines
from test_gradescope import RESULTS_SCHEMA

pytest.importorskip("dlci_grader")
from dlci_grader.gradescope.results import ERROR_TEST  # noqa: E402
from dlci_grader.samples.attacks import ATTACKS  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.slow, pytest.mark.realdata]

Key = tuple[str, str]
"""(student, task)."""


def _from_csv(course: Path) -> tuple[dict[Key, dict[str, float]], dict[Key, str]]:
    """Points per autograded cell and the flags, per (student, task), from ``grades.csv``."""
    points: dict[Key, dict[str, float]] = {}
    flags: dict[Key, str] = {}
    for row in read_grades(course):
        if row["kind"] == "auto":
            key = (row["student"], row["task"])
            points.setdefault(key, {})[row["question"]] = float(row["points"])
            flags[key] = row["flags"]
    return points, flags


def _differences(
    path: str, got: dict[Key, dict[str, float]], expected: dict[Key, dict[str, float]],
    why: dict[Key, str],
) -> list[str]:
    """One line per notebook whose points differ (or that is missing), naming the cells."""
    lines = []
    for key, points in sorted(expected.items()):
        mine = got.get(key)
        if mine is None:
            lines.append(f"{key}: not graded on {path}")
        elif mine != points:
            cells = sorted(c for c in points.keys() | mine.keys() if mine.get(c) != points.get(c))
            lines.append(f"{key} on {path}: {[(c, mine.get(c), points.get(c)) for c in cells]} "
                         f"(got, expected) {why.get(key, '')[:300]}")
    return lines


@pytest.fixture(scope="module")
def local(task1_class: GradedClass, attack_class: GradedClass) -> tuple[dict, dict]:
    """Points and flags of the notebooks graded locally by ``dlci grade`` (the sample class of
    Task 1 and the adversarial suite)."""
    points: dict[Key, dict[str, float]] = {}
    flags: dict[Key, str] = {}
    for graded in (task1_class, attack_class):
        assert graded.run.returncode == 0, graded.run.stdout + graded.run.stderr
        more_points, more_flags = _from_csv(graded.course)
        points.update(more_points)
        flags.update(more_flags)
    return points, flags


def _gradescope_points(runs: dict) -> tuple[dict[Key, dict[str, float]], dict[Key, str]]:
    points = {
        key: {t["name"]: t["score"] for t in run.results["tests"]
              if "manual" not in t.get("tags", [])}
        for key, run in runs.items()
    }
    outputs = {key: " | ".join(t.get("output", "")[:200] for t in run.results["tests"]
                               if t.get("score", 0) < t.get("max_score", 0))
               for key, run in runs.items()}
    return points, outputs


def test_the_suite_holds_every_task_and_the_attacks(suite: Suite):
    tasks = {task for _, task in suite.expected}
    assert tasks == {"task1", "task2", "task3"}
    students = {student for student, _ in suite.expected}
    assert {"solution", "blank"} <= students
    assert any(s.startswith("attack-") for s in students)
    assert any(s.startswith("broken-") for s in students)


def test_local_dlci_grade_gives_the_expected_points(suite: Suite, local):
    points, _ = local
    held = {key: value for key, value in suite.expected.items() if key in points}
    missing = {key for key in suite.expected if key[1] == "task1"} - held.keys()
    assert not missing, f"Task 1 notebooks of the suite not graded locally: {sorted(missing)}"
    assert _differences("dlci grade", points, held, {}) == []


def test_dask_gives_every_notebook_the_points_dlci_grade_gives(suite: Suite, dask_suite, local):
    graded = dask_suite.graded
    assert graded.run.returncode == 0, graded.run.stdout + graded.run.stderr
    points, _ = _from_csv(graded.course)
    reasons = {(r["student"], r["task"]): r["reason"] for r in read_grades(graded.course)
               if r["reason"]}
    expected = {**suite.expected, **{k: v for k, v in local[0].items() if k in suite.expected}}
    assert _differences("Dask", points, expected, reasons) == []


def test_gradescope_gives_every_notebook_the_points_dlci_grade_gives(
    suite: Suite, gradescope_suite, local
):
    failed = {key: run.stdout[-2000:] for key, run in gradescope_suite.items()
              if run.returncode != 0}
    assert not failed, failed
    errors = {key: [t["output"] for t in run.results["tests"] if t["name"] == ERROR_TEST]
              for key, run in gradescope_suite.items()}
    assert not any(errors.values()), {k: v for k, v in errors.items() if v}
    points, outputs = _gradescope_points(gradescope_suite)
    expected = {**suite.expected, **{k: v for k, v in local[0].items() if k in suite.expected}}
    # a notebook not graded (refused at intake) has, besides its cells at 0, a 0-point
    # "notebook" test that says why: Gradescope shows no other place for the reason
    refused = {key for key, run in gradescope_suite.items()
               if any(t["name"] == "notebook" for t in run.results["tests"])}
    assert refused == {key for key in expected if key[0].startswith("broken-")
                       and key[0].endswith(("invalid-json", "wrong-assignment"))}, refused
    points = {key: {name: p for name, p in cells.items() if name != "notebook"}
              for key, cells in points.items()}
    assert _differences("Gradescope", points, expected, outputs) == []
    for key, run in gradescope_suite.items():
        assert run.results["score"] == sum(expected[key].values()), key


def test_the_same_code_is_flagged_and_the_same_mistakes_named_on_each_path(
    suite: Suite, dask_suite: DaskGraded, gradescope_suite, local,
    task1_class: GradedClass, attack_class: GradedClass,
):
    """Flags never change a score, but an instructor reads them: the cluster's are the local
    run's word for word, Gradescope's the same list (``extra_data``); mistakes likewise."""
    _, local_flags = local
    _, dask_flags = _from_csv(dask_suite.graded.course)

    def mistakes(course: Path) -> dict[Key, list[str]]:
        named: dict[Key, list[str]] = {}
        for r in read_grades(course):
            if r["kind"] == "auto":
                named.setdefault((r["student"], r["task"]), []).extend(r["mistakes"].split())
        return {key: sorted(ids) for key, ids in named.items()}

    on_dask = mistakes(dask_suite.graded.course)
    here = {key: ids for key, ids in
            {**mistakes(task1_class.course), **mistakes(attack_class.course)}.items()
            if key in suite.expected}
    assert {k: v for k, v in on_dask.items() if k in here} == here
    differ = [(key, local_flags[key], dask_flags.get(key)) for key in local_flags
              if key in suite.expected and dask_flags.get(key) != local_flags[key]]
    assert differ == []
    for key, run in gradescope_suite.items():
        extra = run.results.get("extra_data", {})
        assert " | ".join(extra.get("flags", [])) == dask_flags.get(key, ""), key
        named = sorted(m for ids in extra.get("mistakes", {}).values() for m in ids)
        assert named == on_dask.get(key, []), key
    assert any(extra for extra in dask_flags.values()), "no notebook of the suite was flagged"


def test_every_gradescope_result_follows_the_specification_and_hides_the_hidden_tests(
    gradescope_suite,
):
    hidden = {path: hidden_lines(path) for path in
              ("task1_backprop_inpainting", "task2_dncnn_ablation", "task3_wiener_unet")}
    for key, run in gradescope_suite.items():
        jsonschema.validate(run.results, RESULTS_SCHEMA)
        names = [t["name"] for t in run.results["tests"]]
        assert len(names) == len(set(names)), key
        written = [t for t in run.results["tests"] if "manual" in t.get("tags", [])]
        assert written and all(t["max_score"] == 0 and "graded by hand" in t["output"]
                               for t in written), key
        text = json.dumps(run.results) + run.stdout
        leaked = [line for lines in hidden.values() for line in lines if line in text]
        assert not leaked, (key, leaked[:3])


def test_the_attacks_that_report_their_tries_were_refused_on_the_cluster(
    suite: Suite, dask_suite: DaskGraded
):
    course = dask_suite.graded.course
    for attack in ATTACKS:
        student = f"attack-{attack.name}"
        if not attack.refused or (student, attack.task) not in suite.expected:
            continue
        lines = _attack_lines(course, student)
        assert lines, f"{student} printed no ATTACK lines on the cluster"
        assert all(": refused" in ln for ln in lines), "\n".join(lines)
