"""``dlci check`` (students): the visible tests of a notebook, run in a fresh kernel, summarised."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from starter.check import run_check, run_tests

pytestmark = [pytest.mark.grader, pytest.mark.task1]

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_check_reports_the_failing_visible_tests(tmp_path, capsys):
    """Task 1 with the gradient step's sign flipped: the SGD and training tests fail, the rest
    pass."""
    pytest.importorskip("dlci_grader")
    from dlci_grader.samples.sample_class import sample_class

    sub = next(
        s for s in sample_class(ROOT / "solutions", ROOT / "notebooks", ["task1"])
        if s.student == "task1-update_wrong_sign"
    )
    path = tmp_path / "task1_backprop_inpainting.ipynb"
    path.write_bytes(sub.content)
    assert run_check(path) == 1
    out = capsys.readouterr().out
    failed = {line.split()[1] for line in out.splitlines() if line.strip().startswith("FAIL")}
    passed = {line.split()[1] for line in out.splitlines() if line.strip().startswith("PASS")}
    assert failed == {"test_sgd", "test_training"}, out
    assert passed == {"test_linear", "test_relu", "test_network", "test_analytic"}, out
    assert "4/6 visible tests pass, 6/8 points" in out


def test_check_runs_a_tiny_notebook_and_rejects_non_course_files(tmp_path):
    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("x = 1\nassert x == 1")
    bad = nbformat.v4.new_code_cell("assert x == 2, 'x should be 2'")
    for cell, name in ((ok, "test_ok"), (bad, "test_bad")):
        cell.metadata["nbgrader"] = {
            "grade": True, "grade_id": name, "points": 2, "solution": False,
        }
    # after the last test: a figure that would take long, here a file written as a witness
    after = nbformat.v4.new_code_cell("open('ran-after-the-tests', 'w').close()")
    nb.cells = [ok, bad, after]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, str(path))
    results = run_tests(path, timeout=60)
    assert [(r.name, r.passed) for r in results] == [("test_ok", True), ("test_bad", False)]
    assert "x should be 2" in results[1].error
    assert not (tmp_path / "ran-after-the-tests").exists(), "a cell after the last test ran"
    plain = tmp_path / "plain.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(plain))
    with pytest.raises(ValueError, match="no test cells"):
        run_tests(plain)
    (tmp_path / "broken.ipynb").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable notebook"):
        run_tests(tmp_path / "broken.ipynb")


def test_check_warns_about_a_duplicated_graded_cell(tmp_path, capsys):
    """A cell duplicated in JupyterLab keeps the original's grade id: dlci check says so."""
    nb = nbformat.v4.new_notebook()
    test = nbformat.v4.new_code_cell("assert 1 + 1 == 2")
    test.metadata["nbgrader"] = {
        "grade": True, "grade_id": "test_sum", "points": 1, "solution": False,
    }
    twin = nbformat.from_dict({**test, "id": "twin"})
    nb.cells = [test, twin]
    path = tmp_path / "twice.ipynb"
    nbformat.write(nb, str(path))
    assert run_check(path) == 0
    out = capsys.readouterr().out
    assert "warning: cell test_sum is in the notebook 2 times" in out, out


def test_check_shows_what_failed_and_nothing_of_the_machinery(tmp_path, capfd):
    """A failed test prints its intent and whole message; the kernel's own log never reaches the
    student."""
    nb = nbformat.v4.new_notebook()
    todo = nbformat.v4.new_code_cell(
        '"""Check the answer is written."""\nraise NotImplementedError()'
    )
    bad = nbformat.v4.new_code_cell(
        '"""Check the weight gradient\'s shape.\n\nMore detail."""\n'
        "raise AssertionError('grad_weight has shape (16, 32)\\n"
        "the weight is (out, in), so expected (32, 16)')"
    )
    for cell, name in ((todo, "test_todo"), (bad, "test_shape")):
        cell.metadata["nbgrader"] = {
            "grade": True, "grade_id": name, "points": 1, "solution": False,
        }
    nb.cells = [todo, bad]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, str(path))
    assert run_check(path) == 1
    out, err = capfd.readouterr()
    assert "checks: Check the weight gradient's shape." in out
    assert "More detail" not in out
    assert "grad_weight has shape (16, 32)" in out and "so expected (32, 16)" in out
    assert "not written yet" in out
    assert "IPKernelApp" not in out + err and "WARNING" not in out + err, out + err
