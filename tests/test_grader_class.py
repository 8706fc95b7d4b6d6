"""``dlci grade`` / ``feedback`` / ``sample-class`` end to end, on the real nbgrader and kernels.

One sample class (Task 1: the solution, the blank release, four wrong variants and nine broken
submissions) is generated and graded once through the command line (``conftest.task1_class``,
shared with the other modules that read its verdicts); the tests then check every score against
its expectation, the CSV, the gradebook, the feedback, re-runs, a grader killed mid-run, and the
pieces (intake, memory cap) on their own.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest
from conftest import CELL_TIMEOUT, DLCI, KIT, GradedClass, course_copy, dlci, read_grades  # noqa: F401

pytest.importorskip("dlci_grader")
from dlci_grader.nbgrader.course import Course  # noqa: E402
from dlci_grader.run import report  # noqa: E402
from dlci_grader.run.intake import check_notebook, collect, opened, student_id  # noqa: E402
from dlci_grader.samples.sample_class import sample_class, write_class  # noqa: E402
from dlci_grader.tasks import load_tasks  # noqa: E402
from dlci_grader.verdicts.rebuild import hidden_source  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1]

ROOT = KIT


@pytest.fixture
def graded(task1_class: GradedClass):
    """The shared graded Task 1 sample class: (folder, course, output)."""
    return task1_class.folder, task1_class.course, task1_class.run


def hidden_lines(notebook: str) -> set[str]:
    """Lines of the hidden tests of ``notebook`` that its released version does not show anyway
    (lines such as ``with torch.no_grad():`` prove nothing when they leak)."""
    source = nbformat.read(str(ROOT / "solutions" / f"{notebook}.ipynb"), 4)
    released = nbformat.read(str(ROOT / "notebooks" / f"{notebook}.ipynb"), 4)
    shown = {line.strip() for cell in released.cells for line in cell.source.splitlines()}
    hidden = {line.strip() for cell in source.cells
              for line in hidden_source(str(cell.source)).splitlines()
              if len(line.strip()) > 12}
    return hidden - shown


def _csv(course: Path) -> list[dict]:
    return read_grades(course)


@pytest.mark.slow
def test_every_sample_submission_gets_exactly_its_expected_score(graded):
    folder, course, run = graded
    assert run.returncode == 0, run.stdout + run.stderr
    expected = report.read_expected(folder / "expected.csv")
    table = [report.Row(**{**r, "points": float(r["points"]),
                           "max_points": float(r["max_points"])})
             for r in _csv(course)]
    assert report.compare(expected, table) == []
    assert len(expected) == 15 and "15/15 as expected" in run.stdout


@pytest.mark.slow
def test_the_run_names_its_slowest_cell_and_the_timeout_s_margin(graded):
    """The class's endless loops are not counted (they did not run to their end); every honest
    cell is well inside the cell timeout the suite grades with."""
    _, _, run = graded
    m = re.search(
        rf"slowest cell that ran to its end: ([\d.]+) s \((\S+), task1, cell (\S+)\); "
        rf"the cell timeout, {CELL_TIMEOUT} s, is ([\d.]+)x that", run.stdout,
    )
    assert m, run.stdout
    assert float(m.group(1)) < CELL_TIMEOUT / 2 and float(m.group(4)) >= 2, m.group(0)


def test_progress_counts_what_differs_from_the_expected_points(capsys):
    from dlci_grader.run.class_run import _Progress
    from dlci_grader.verdicts.results import CellResult, CellStatus, NotebookResult, NotebookStatus

    def result(student: str, points: float, reason: str = "") -> NotebookResult:
        cell = CellResult("t", points, 2.0, False, CellStatus.PASSED)
        return NotebookResult(student, "task1", "nb", NotebookStatus.GRADED, reason, [cell])

    broken_as_expected, wrong = result("loop", 0.0, "cell t timed out"), result("b", 1.0)
    sample = _Progress(2, True, {("loop", "task1"): 0.0, ("b", "task1"): 2.0})
    plain = _Progress(2, True)
    for bar in (sample, plain):
        bar.finished(broken_as_expected)
        bar.finished(wrong)
        bar.close()
    err = capsys.readouterr().err
    assert "unexpected 1" in err and "with problems 1" in err and "failed" not in err, err


def test_broken_submissions_get_a_clear_reason_in_the_csv(graded):
    folder, course, run = graded
    rows = _csv(course)
    for sub in sample_class(ROOT / "solutions", ROOT / "notebooks", ["task1"]):
        if not sub.reason:
            continue
        summary = [line for line in run.stdout.splitlines() if line.startswith(sub.student + " ")]
        reasons = " | ".join([r["reason"] for r in rows if r["student"] == sub.student] + summary)
        assert sub.reason in reasons, (sub.student, reasons)
        lost = [r for r in rows if r["student"] == sub.student and r["kind"] == "auto"
                and float(r["points"]) == 0]
        assert all(r["reason"] and r["status"] in ("failed", "not run", "deleted", "rejected")
                   for r in lost), lost


@pytest.mark.slow
def test_csv_and_gradebook_hold_every_cell(graded):
    from nbgrader.api import Gradebook

    _, course, _ = graded
    rows = _csv(course)
    assert list(rows[0]) == [
        "student", "task", "question", "points", "max_points", "status", "reason", "kind", "host",
        "flags", "mistakes",
    ]
    assert all(r["host"] for r in rows if r["status"] != "rejected"), (
        "every graded row names its grading host"
    )
    assert not [r for r in rows if r["flags"]], "no honest sample submission is flagged"
    solution = {r["question"]: r for r in rows if r["student"] == "solution"}
    written = {"derivation_answer", "efficiency_answer", "update_answer"}
    assert len(solution) == 15
    assert all(solution[q]["status"] == "needs manual grade" for q in written)
    assert all(r["status"] == "passed" for q, r in solution.items() if q not in written)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook("task1_backprop_inpainting", "task1_backprop_inpainting",
                                         "task1-update_wrong_sign")
        assert nb.score == 15 and nb.needs_manual_grade and not nb.flagged
        assert len(gb.students) == 15
    autograded = (course / "autograded" / "broken-kernel-dies" / "task1_backprop_inpainting"
                  / "task1_backprop_inpainting.ipynb")
    assert "KernelDied" in autograded.read_text()


@pytest.mark.slow
def test_manual_grade_from_formgrader_counts_and_survives_a_regrade(graded, tmp_path):
    """Formgrader saves a written answer's score through nbgrader's Gradebook; the CSV shows it,
    and grading again (forced) keeps it."""
    from nbgrader.api import Gradebook

    folder, shared, _ = graded
    course = course_copy(shared, tmp_path)  # the shared course stays as graded
    name = "task1_backprop_inpainting"
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grade = gb.find_grade("efficiency_answer", name, name, "solution")
        grade.manual_score = 1.5
        gb.db.commit()
    only = tmp_path / "only"
    (only / "solution").mkdir(parents=True)
    (only / "solution" / f"{name}.ipynb").write_bytes(
        (folder / "solution" / f"{name}.ipynb").read_bytes()
    )
    again = dlci("grade", str(only), "--course", str(course), "--tasks", "task1", "--quiet",
                 "--force")
    assert again.returncode == 0, again.stderr
    row = next(r for r in _csv(course)
               if r["student"] == "solution" and r["question"] == "efficiency_answer")
    assert (row["points"], row["status"]) == ("1.5", "manually graded")


@pytest.mark.slow
def test_regrading_skips_what_is_graded(graded):
    folder, course, _ = graded
    again = dlci("grade", str(folder), "--course", str(course), "--tasks", "task1", "--quiet")
    assert again.returncode == 0, again.stderr
    assert re.search(r"graded 0 notebooks .* skipped 15 already graded", again.stdout), again.stdout


@pytest.mark.slow
def test_feedback_shows_visible_tests_and_scores_not_hidden_code(graded):
    _, course, _ = graded
    done = dlci("feedback", "--course", str(course), "--students", "task1-update_wrong_sign",
                "solution")
    assert done.returncode == 0, done.stderr
    name = "task1_backprop_inpainting"
    html = (course / "feedback" / "task1-update_wrong_sign" / name / f"{name}.html").read_text()
    hidden = hidden_lines(name)
    import html as html_lib

    text = html_lib.unescape(re.sub(r"<[^>]+>", "", html))
    leaked = [line for line in hidden if line in text]
    assert not leaked, leaked[:5]
    assert "check_sgd_step" in text  # a visible test's code is shown
    assert "hidden tests: not shown" in text
    assert re.search(r"15\s*/\s*25", text) or "Score: 15" in text or "15.0" in text


def test_intake_reads_a_zip_export_with_lms_folder_names(tmp_path):
    tasks = load_tasks(ROOT / "solutions", ["task1"])
    name = tasks["task1"].notebook
    release = (ROOT / "notebooks" / f"{name}.ipynb").read_bytes()
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"Jane Doe_123_assignsubmission_file_/{name} (2).ipynb", release)
        z.writestr("bob/work/task1-final.ipynb", release)
        z.writestr("carol/notes.ipynb", release)
    ids = {"task1": _released(nbformat.reads(release.decode(), 4))}
    with opened(archive) as folder:
        subs, warnings = collect(folder, tasks, ids)
    assert [(s.student, s.task, s.problem) for s in subs] == [
        ("Jane_Doe_123", "task1", None), ("bob", "task1", None),
    ]
    assert len(warnings) == 1 and "carol" in warnings[0]
    assert student_id("Jane Doe_123_assignsubmission_file_") == "Jane_Doe_123"


def test_intake_names_the_task_a_wrong_notebook_belongs_to():
    """Tasks 2 and 3 share cell ids (``setup``, ``test_table``): a Task 2 notebook handed in as
    Task 1 is named as Task 2's, by the cells only Task 2 has."""
    tasks = load_tasks(ROOT / "solutions")
    releases = {k: nbformat.read(str(ROOT / "notebooks" / f"{t.notebook}.ipynb"), 4)
                for k, t in tasks.items()}
    ids = {k: _released(nb) for k, nb in releases.items()}
    for handed, meant in (("task2", "task1"), ("task3", "task1"), ("task2", "task3"),
                          ("task3", "task2")):
        problem, _, _ = check_notebook(
            nbformat.writes(releases[handed]).encode(), tasks[meant], ids
        )
        assert problem == f"wrong assignment: the notebook holds the cells of {handed}, not {meant}"
    assert check_notebook(
        nbformat.writes(releases["task2"]).encode(), tasks["task2"], ids
    ) == (None, (), None)


def _released(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """grade id -> cell id of a release's nbgrader cells."""
    return {
        c.metadata["nbgrader"]["grade_id"]: c.id
        for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id")
    }


def test_intake_gives_a_duplicated_cell_s_grade_back_to_the_released_copy():
    """JupyterLab's duplicate copies a cell's nbgrader metadata (with a new cell id): the released
    copy keeps the grade id, the copy runs as an ordinary cell, in its place, and it is noted."""
    tasks = load_tasks(ROOT / "solutions", ["task1"])
    release = nbformat.read(str(ROOT / "notebooks" / f"{tasks['task1'].notebook}.ipynb"), 4)
    ids = {"task1": _released(release)}
    for grade_id in ("test_relu", "relu_function"):
        nb = copy.deepcopy(release)
        index = next(i for i, c in enumerate(nb.cells) if c.id == grade_id)
        duplicate = copy.deepcopy(nb.cells[index])
        duplicate.id = "0f3c-duplicate"
        nb.cells.insert(index, duplicate)  # pasted above the original: order must not decide
        problem, notes, repaired = check_notebook(nbformat.writes(nb).encode(), tasks["task1"], ids)
        assert problem is None and repaired is not None
        assert notes == (
            f"cell {grade_id} was there 2 times (a duplicated or pasted cell): "
            "the released copy is graded, 1 other ran as an ordinary cell",
        )
        cells = nbformat.reads(repaired.decode(), 4).cells
        assert [c.id for c in cells] == [c.id for c in nb.cells]
        graded = [c.id for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
        assert graded == [grade_id]
        assert cells[index].source == duplicate.source and "nbgrader" not in cells[index].metadata


def test_memory_cap_stops_20_gib_and_lets_torch_work():
    code = (
        "import time, numpy as np, torch\n"
        "x = torch.randn(256, 1, 64, 64); net = torch.nn.Conv2d(1, 64, 3, padding=1)\n"
        "net(x).sum().backward()\n"
        "t = time.perf_counter()\n"
        "try:\n    np.ones((20, 2**30), dtype=np.uint8)\nexcept MemoryError:\n"
        "    print(f'capped in {time.perf_counter() - t:.3f} s')\n"
    )
    cap = str(6 * 2**30)
    done = subprocess.run(
        [sys.executable, "-m", "dlci_grader.isolation.limits", "--memory-bytes", cap, "--",
         sys.executable, "-c", code],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seconds = float(re.search(r"capped in ([\d.]+) s", done.stdout).group(1))
    assert seconds < 1.0


@pytest.mark.slow
def test_killed_grader_loses_nothing_and_grades_nothing_twice(tmp_path):
    """SIGKILL the grader's process group once a notebook is recorded; re-run; every notebook is
    graded exactly once over the two runs, and the scores are the expected ones."""
    keep = {"solution", "task1-update_wrong_sign", "task1-relu_mask_wrong_sign"}
    subs = [s for s in sample_class(ROOT / "solutions", ROOT / "notebooks", ["task1"])
            if s.student in keep]
    write_class(tmp_path / "class", subs, load_tasks(ROOT / "solutions", ["task1"]))
    course = tmp_path / "course"
    args = [*DLCI, "grade", str(tmp_path / "class"), "--course", str(course), "--tasks", "task1",
            "--workers", "2", "--quiet"]
    first = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    markers = course / ".dlci" / "done"
    deadline = time.monotonic() + 400
    while (not list(markers.glob("*/*.json")) and time.monotonic() < deadline
           and first.poll() is None):
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    done_before = {p.parent.name for p in markers.glob("*/*.json")}
    assert 1 <= len(done_before) < 3, done_before
    time.sleep(3)  # the kernels notice their parent is gone
    left = [
        p for p in psutil.process_iter(["cmdline", "cwd"])
        if str(course) in " ".join(p.info["cmdline"] or []) + " " + (p.info["cwd"] or "")
    ]
    assert not left, [p.info["cmdline"] for p in left]
    second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    m = re.search(r"graded (\d+) notebooks .* skipped (\d+) already graded", second.stdout)
    assert (m and int(m.group(1)) == 3 - len(done_before)
            and int(m.group(2)) == len(done_before)), second.stdout
    expected = {(s.student, s.task): s.expected for s in subs}
    table = report.rows(Course(course).results(), Course(course).db)
    assert report.compare(expected, table) == []
