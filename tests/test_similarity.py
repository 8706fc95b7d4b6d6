"""The similarity listing of a task's class (``dlci_grader.insight.similarity``).

Fixtures (``tests/similarity/<task>/``): five students per task (Ada, Ben, Cat, Dan, Eve) who
each wrote every answer cell of Task 1 and Task 3 in their own way, each a Jupytext-style file
(``# %% <grade id>`` then the student's whole cell), filled into the released notebook's answer
cells. Three copies are planted: Fay hands in Ada's notebook verbatim; Gus hands in Ben's with
the variables renamed and independent statements reordered (``gus.py``); Cat and Dan, otherwise
independent, both paste the same unusual helper (``cheat_cell.py``) at the top of one answer
cell. Exactly those three pairs must be listed, and no pair of independent students.

The sample class is another matter: its variants are one-line edits of the solution, so every
pair shares nearly all of its code. That code is shared by the whole class, so it weighs
nothing, and each variant's edit is its own: no pair is listed. A verbatim copy of a variant is
not listed either: beyond the class's common code it shares one edited line, which is no
evidence (a copy of the canonical answer cannot be told from the canonical answer).

Nothing is graded or run: only the notebooks' code is read.
"""

from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

pytest.importorskip("copydetect")
from dlci_grader.insight import similarity  # noqa: E402
from dlci_grader.samples.variants import solved, submissions  # noqa: E402
from starter.nbgrader_cells import grade_id, is_answer  # noqa: E402

pytestmark = pytest.mark.grader

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "similarity"
NOTEBOOKS = {"task1": "task1_backprop_inpainting", "task3": "task3_wiener_unet"}
INDEPENDENT = ("ada", "ben", "cat", "dan", "eve")
PLANTED = {("ada", "fay"), ("ben", "gus"), ("cat", "dan")}
"""verbatim copy; renamed and reordered copy; a shared cheat cell."""
CHEATERS = ("cat", "dan")


def release(task: str) -> NotebookNode:
    return nbformat.read(ROOT / "notebooks" / f"{NOTEBOOKS[task]}.ipynb", as_version=4)


def cells(path: Path) -> dict[str, str]:
    """A fixture file's cells: grade id -> the cell's source."""
    parts = re.split(r"^# %% (\S+)\n", path.read_text(), flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].strip("\n") + "\n" for i in range(1, len(parts), 2)}


def fill(notebook: NotebookNode, answers: dict[str, str]) -> NotebookNode:
    """The released ``notebook`` with its answer cells replaced by ``answers`` (by grade id)."""
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if is_answer(cell) and grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return notebook


def fixture_class(task: str) -> dict[str, NotebookNode]:
    """Ada to Eve, written independently, and the planted copies (Fay, Gus, the cheat cell)."""
    folder = FIXTURES / task
    students = {name: cells(folder / f"{name}.py") for name in (*INDEPENDENT, "gus")}
    for name in CHEATERS:
        for cell, helper in cells(folder / "cheat_cell.py").items():
            students[name][cell] = helper + "\n\n" + students[name][cell]
    notebooks = {name: fill(release(task), answers) for name, answers in students.items()}
    notebooks["fay"] = copy.deepcopy(notebooks["ada"])
    return notebooks


@pytest.fixture(scope="module", params=sorted(NOTEBOOKS))
def listed(request: pytest.FixtureRequest) -> tuple[str, similarity.Listing]:
    task = request.param
    return task, similarity.compare(fixture_class(task), release(task))


def test_fixtures_answer_every_answer_cell_independently():
    """Each independent student wrote every code answer cell, no two the same."""
    for task in NOTEBOOKS:
        wanted = {
            grade_id(c) for c in release(task).cells if is_answer(c) and c.cell_type == "code"
        }
        written = {name: cells(FIXTURES / task / f"{name}.py") for name in INDEPENDENT}
        for name, answers in written.items():
            assert set(answers) == wanted, (task, name)
        for cell in wanted:
            assert len({written[name][cell] for name in INDEPENDENT}) == len(INDEPENDENT)


def test_answer_code_is_what_the_release_did_not_hold():
    """The released code (signature, docstring, the lines around the answer) is left out."""
    task = "task1"
    solution = solved(ROOT / "solutions" / f"{NOTEBOOKS[task]}.ipynb", release(task))
    code = similarity.answer_code(solution, release(task))
    assert code["linear_function"] == (
        "grad_input = grad_output @ weight\n"
        "grad_weight = grad_output.T @ x\n"
        "grad_bias = grad_output.sum(dim=0)"
    )
    assert code["sgd_step"] == "p -= lr * p.grad"
    # two answer blocks in one cell (forward and backward) stay apart
    assert similarity.BLOCK_SEPARATOR in code["conv2d_function"]
    assert "derivation_answer" not in code  # a written answer is not code
    assert similarity.answer_code(release(task), release(task)) == {}


def test_exactly_the_planted_pairs_are_listed(listed):
    task, listing = listed
    assert {(p.a, p.b) for p in listing.pairs} == PLANTED, task
    assert listing.students == 7 and listing.past == 0 and listing.unread == ()
    # no pair of independent students comes near the threshold
    scores = {
        (p.a, p.b): p.score
        for p in similarity.compare(fixture_class(task), release(task), threshold=0).pairs
    }
    independent = {
        pair: scores.get(pair, 0.0)
        for pair in itertools.combinations(sorted(INDEPENDENT), 2)
        if pair not in PLANTED
    }
    assert max(independent.values()) < similarity.THRESHOLD / 2, (task, independent)
    verbatim = next(p for p in listing.pairs if (p.a, p.b) == ("ada", "fay"))
    assert verbatim.share == pytest.approx(1.0) and verbatim.spans_a == verbatim.spans_b


def test_the_matched_code_is_the_copied_code(listed):
    task, listing = listed
    pairs = {(p.a, p.b): p for p in listing.pairs}
    helper = cells(FIXTURES / task / "cheat_cell.py")
    (cell,) = helper
    for side in "ab":
        matched = similarity.matched_code(pairs[CHEATERS], listing, side)
        for line in helper[cell].splitlines():
            if line.startswith("def ") or "return " in line:  # the helper's own lines
                assert line.strip() in matched, (task, side, line)
    renamed = pairs[("ben", "gus")]
    assert {s.cell for s in renamed.spans_a} == {s.cell for s in renamed.spans_b}


def test_the_sample_class_lists_no_pair():
    """Near-identical variants of the solution share only what the whole class shares."""
    for task in NOTEBOOKS:
        notebooks = submissions(task, ROOT / "solutions", ROOT / "notebooks")
        assert similarity.compare(notebooks, release(task)).pairs == (), task
        for name in notebooks:
            with_copy = {**notebooks, "copy": copy.deepcopy(notebooks[name])}
            assert similarity.compare(with_copy, release(task)).pairs == (), (task, name)


def test_past_terms_are_compared_with_this_term_never_with_each_other(tmp_path):
    task = "task1"
    notebooks = fixture_class(task)
    past = tmp_path / "2025"
    past.mkdir()
    for name in ("ada", "fay"):  # last year's Ada and her copy
        nbformat.write(notebooks.pop(name), past / f"{name}.ipynb")
    notebooks["zoe"] = fill(release(task), cells(FIXTURES / task / "ada.py"))  # Ada's, again
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    notebooks["broken"] = tmp_path / "broken.ipynb"
    listing = similarity.compare(notebooks, release(task), past=past)
    pairs = {(p.a, p.b) for p in listing.pairs}
    assert pairs == {
        ("ben", "gus"),
        ("cat", "dan"),
        ("zoe", "past:ada.ipynb"),
        ("zoe", "past:fay.ipynb"),
    }
    assert all(p.past == p.b.startswith("past:") for p in listing.pairs)
    assert (listing.students, listing.past, listing.unread) == (6, 2, ("broken",))


def test_html_fragment_shows_the_pair_side_by_side(listed):
    task, listing = listed
    page = similarity.html_fragment(listing)
    assert page.startswith('<section class="similarity">') and page.endswith("</section>")
    assert "<script" not in page and "src=" not in page and "href=" not in page
    cheat = next(p for p in listing.pairs if (p.a, p.b) == CHEATERS)
    table = page[page.index(f"<h4>{cheat.a} and {cheat.b}:") :]
    table = table[: table.index("</table>")]
    assert "<tr><th>cat</th><th>dan</th></tr>" in table
    (cell,) = cells(FIXTURES / task / "cheat_cell.py")
    row = next(r for r in table.split("<tr>") if f"<b>{cell}</b>" in r)
    # two columns, each with the helper highlighted
    assert row.count("<td ") == 2 and row.count("<mark") >= 2
    marked = re.findall(r"<mark[^>]*>(.*?)</mark>", row, flags=re.DOTALL)
    assert sum("def _" in m for m in marked) == 2
    # the code is escaped: comparison operators and quotes never open a tag
    assert "&gt;" in page or "&lt;" in page
    assert not re.search(r"<(?!/?(section|p|h4|table|tr|th|td|b|pre|mark)\b)", page)


def test_rows_for_csv_and_json(listed):
    task, listing = listed
    rows = similarity.rows(listing)
    assert [(r["student_a"], r["student_b"]) for r in rows] == [(p.a, p.b) for p in listing.pairs]
    for row, pair in zip(rows, listing.pairs, strict=True):
        assert row["score"] == round(pair.score, 1) and row["past_term"] is False
        assert row["matched_a"] and row["matched_b"] and row["cells_a"]
