"""The adversarial suite (issue: grading you can trust), graded end to end with ``dlci grade``.

Every attack of :mod:`dlci_grader.samples.attacks` is a submission (most of Task 1) that tries
to cheat the grader or break out of its sandbox. One grading run of all of them (real nbgrader,
sandboxed kernels; ``conftest.attack_class``, shared with the Dask tests) must give each exactly
the score of the honest work it contains, say "refused" for every try of the attacks that
report them, and leave the grader running. An attack whose defence needs a sandbox feature this
machine lacks (Landlock, see ``dlci_grader.isolation.sandbox``) is
skipped with that reason.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from conftest import GradedClass, sandbox_features

pytest.importorskip("dlci_grader")
from dlci_grader.isolation.sandbox import support  # noqa: E402
from dlci_grader.samples.attacks import ATTACK_PREFIX, ATTACKS  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = support()
FEATURES = sandbox_features(SUPPORT)


@pytest.fixture
def attacked(attack_class: GradedClass):
    """Every attack this machine can defend against, graded once for the session (the Dask tests
    read it too): (expected points by student, course, the command's output)."""
    run = attack_class.run
    print(run.stdout, run.stderr)
    assert "sandbox:" in run.stderr, "dlci grade must say what its sandbox enforces"
    return attack_class.expected, attack_class.course, run


def _attack_lines(course: Path, student: str) -> list[str]:
    (path,) = (course / "autograded" / student).glob("*/*.ipynb")
    lines = []
    for cell in nbformat.read(str(path), 4).cells:
        if str(cell.get("id", "")).startswith("attack-"):
            for out in cell.get("outputs", []):
                text = out.get("text", "")
                lines += [ln for ln in text.splitlines() if ln.startswith(ATTACK_PREFIX)]
    return lines


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_gets_the_score_of_its_honest_work(attack, attacked):
    if not FEATURES[attack.needs]:
        pytest.skip(f"the sandbox cannot restrict {attack.needs} here ({SUPPORT.describe()})")
    expected, course, run = attacked
    student = f"attack-{attack.name}"
    with open(course / "grades.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f)
                if r["student"] == student and r["task"] == attack.task and r["kind"] == "auto"]
    assert rows, f"{student} is missing from grades.csv:\n{run.stdout}\n{run.stderr}"
    got = {r["question"]: float(r["points"]) for r in rows}
    why = "\n".join(f"{r['question']} {r['points']}/{r['max_points']} {r['reason']}" for r in rows)
    assert got == expected[student], why
    flags = {r["flags"] for r in rows}
    assert len(flags) == 1, "a notebook's flags are the same on each of its rows"
    if attack.flagged:
        text = flags.pop()
        assert text, f"{student}'s code is not flagged for the instructor"
        for says in attack.flag_says:
            assert says in text, f"{student}: no flag says {says!r}: {text}"
    if attack.refused:
        lines = _attack_lines(course, student)
        assert lines, f"{student} printed no ATTACK lines"
        assert all(": refused" in ln for ln in lines), "\n".join(lines)


def test_a_notebook_filling_the_disk_has_its_kernel_stopped(attacked):
    """The worker watches the notebook's folder and kills its kernel past the disk cap (the
    kernel forked from nbgrader's process is found by its name, a started one by its command)."""
    (fill,) = [a for a in ATTACKS if a.name == "fill-disk"]
    if not FEATURES[fill.needs]:
        pytest.skip(f"the sandbox cannot restrict {fill.needs} here ({SUPPORT.describe()})")
    _, course, run = attacked
    student = "attack-fill-disk"
    lines = _attack_lines(course, student)
    assert not any(ln.endswith("SUCCEEDED") for ln in lines), lines
    said = run.stdout + (course / "grades.csv").read_text()
    assert "the kernel was stopped: the notebook wrote more than 2 GiB" in said, said[-3000:]


def test_the_whole_suite_graded_as_expected(attacked):
    _, _, run = attacked
    assert run.returncode == 0, run.stdout + run.stderr


def test_lookup_finds_no_clean_digits(attacked):
    if not SUPPORT.files:
        pytest.skip(SUPPORT.describe())
    _, course, _ = attacked
    lines = _attack_lines(course, "attack-lookup-clean")
    assert lines == ["ATTACK look up the clean digits on disk: 0 more MNIST files readable"], lines


def test_a_huge_print_is_stored_cut_to_the_output_cap(attacked):
    """80 MB printed (60 MB of it in one line, which nbgrader's cap on lines lets through) is
    stored as at most about 1 MiB of text in the autograded notebook, and says it was cut."""
    _, course, _ = attacked
    (path,) = (course / "autograded" / "attack-huge-output").glob("*/*.ipynb")
    assert path.stat().st_size < 3 * 2**20, f"{path.stat().st_size / 2**20:.1f} MiB stored"
    assert "[output cut by the grader:" in path.read_text()
