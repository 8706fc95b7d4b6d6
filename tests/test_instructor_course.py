"""``dlci grade`` into an instructor's own nbgrader course, under the hub's instructor settings.

The course is made as an instructor makes it on the hub: their ``nbgrader_config.py`` (their own
course id), the kit's source notebook in ``source/``, ``nbgrader generate_assignment``, and a
student's notebook in ``submitted/`` as ``nbgrader collect`` leaves it; every nbgrader and
``dlci`` command runs with the instructor image's Jupyter configuration
(``autograder/deploy/jupyter/instructor``). Plain ``nbgrader autograde`` is refused before and
after the trusted grade, and changes nothing; ``dlci grade --course COURSE`` (no folder: the
course's ``submitted/``) scores into the course's gradebook and leaves its configuration, sources
and release byte for byte; ``dlci feedback`` hides the hidden tests without rewriting the
configuration. A source whose graded cells differ from the kit's is refused, nothing graded.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import CELL_TIMEOUT, KIT, dlci

pytest.importorskip("dlci_grader")
from dlci_grader.nbgrader.config import write_course_config  # noqa: E402
from dlci_grader.nbgrader.course import NbgraderCourse  # noqa: E402
from dlci_grader.nbgrader.gradebook import read_submission  # noqa: E402
from dlci_grader.nbgrader.untrusted import REFUSAL, refused_in  # noqa: E402
from dlci_grader.samples.variants import solved  # noqa: E402
from starter.hashing import sha256_file  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1]

NB = "task1_backprop_inpainting"
SOURCE = KIT / "solutions" / f"{NB}.ipynb"
INSTRUCTOR_CONFIG = '''\
# the instructor's own settings
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "course101"
'''


def _env(course: Path) -> dict[str, str]:
    """The instructor's terminal on the hub: the image's Jupyter configuration and course root."""
    return {**os.environ, "JUPYTER_CONFIG_PATH": str(KIT / "autograder/deploy/jupyter/instructor"),
            "DLCI_COURSE_ROOT": str(course),
            # the image's scripts (nbgrader runs `alembic` from PATH) first, as on the hub
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=_env(course),
                          capture_output=True, text=True)


def _instructors_course(root: Path, source: nbformat.NotebookNode) -> Path:
    """An nbgrader course as the instructor makes it: config, source, generated assignment."""
    root.mkdir()
    (root / "nbgrader_config.py").write_text(INSTRUCTOR_CONFIG)
    course = NbgraderCourse(root, create=False)
    course.add_source(source, assignment=NB, name=NB)
    made = _nbgrader(root, "generate_assignment", NB)
    assert made.returncode == 0, made.stdout + made.stderr
    return root


def _fingerprint(root: Path) -> dict[str, str]:
    """sha256 of what the instructor owns: configuration, sources, release."""
    files = [root / "nbgrader_config.py", *sorted((root / "source").rglob("*")),
             *sorted((root / "release").rglob("*"))]
    return {str(p.relative_to(root)): sha256_file(p) for p in files if p.is_file()}


def test_trusted_grade_goes_into_the_instructors_course_and_nothing_else_does(tmp_path):
    root = _instructors_course(tmp_path / "course", nbformat.read(str(SOURCE), 4))
    submitted = root / "submitted" / "alice" / NB
    submitted.mkdir(parents=True)
    nbformat.write(solved(SOURCE, KIT / "notebooks" / f"{NB}.ipynb"),
                   str(submitted / f"{NB}.ipynb"))
    (submitted / "timestamp.txt").write_text("2026-12-07 08:00:00.000000 UTC")
    owned = _fingerprint(root)

    refused = _nbgrader(root, "autograde", NB)  # the untrusted path, before the trusted grade
    assert refused.returncode != 0
    assert REFUSAL in refused.stdout + refused.stderr
    assert not (root / "autograded").exists()

    graded = dlci("grade", "--tasks", "task1", "--quiet", "--cell-timeout", str(CELL_TIMEOUT),
                  env=_env(root))  # no folder: the course's submitted/
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "still runs the tests inside the student's kernel" not in graded.stderr
    cells = read_submission(root / "gradebook.db", NB, NB, "alice")
    auto = {n: c for n, c in cells.items() if not c.needs_manual_grade}
    assert auto and all(c.score == c.max_score for c in auto.values()), auto
    with sqlite3.connect(root / "gradebook.db") as db:
        assert db.execute("SELECT DISTINCT course_id FROM assignment").fetchall() == [
            ("course101",)]
        assert "dlci" not in {row[0] for row in db.execute("SELECT id FROM course")}
    autograded = root / "autograded" / "alice" / NB / f"{NB}.ipynb"
    assert autograded.is_file()

    again = _nbgrader(root, "autograde", NB, "--force")  # formgrader's button forces
    assert again.returncode != 0 and REFUSAL in again.stdout + again.stderr
    assert autograded.is_file()
    assert read_submission(root / "gradebook.db", NB, NB, "alice") == cells

    feedback = dlci("feedback", env=_env(root))
    assert feedback.returncode == 0, feedback.stdout + feedback.stderr
    html = (root / "feedback" / "alice" / NB / f"{NB}.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in html and "hidden tests: not shown" in html
    assert _fingerprint(root) == owned, "the instructor's configuration, source or release changed"


def test_a_source_that_is_not_the_kits_is_refused_and_nothing_graded(tmp_path):
    source = nbformat.read(str(SOURCE), 4)
    test_cell = next(c for c in source.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") == "test_relu")
    test_cell.metadata["nbgrader"]["points"] = 7
    root = _instructors_course(tmp_path / "course", source)
    (root / "submitted" / "alice" / NB).mkdir(parents=True)
    nbformat.write(solved(SOURCE, KIT / "notebooks" / f"{NB}.ipynb"),
                   str(root / "submitted" / "alice" / NB / f"{NB}.ipynb"))
    graded = dlci("grade", "--tasks", "task1", "--quiet", env=_env(root))
    assert graded.returncode != 0
    assert "graded cells differ (test_relu)" in graded.stderr
    assert "nothing was graded" in graded.stderr
    assert not (root / "autograded").exists()


def test_refused_where_the_kit_or_the_hub_configures_it(tmp_path, monkeypatch):
    """``dlci grade`` notes the untrusted path in an instructor's course only where nbgrader
    would still take it: not under the hub's configuration, not in the kit's own course."""
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(tmp_path / "nothing"))
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "nbgrader_config.py").write_text(INSTRUCTOR_CONFIG)
    assert not refused_in(theirs)
    kits = tmp_path / "kits"
    write_course_config(kits)
    assert refused_in(kits)
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(KIT / "autograder/deploy/jupyter/instructor"))
    assert refused_in(theirs)
    (theirs / "nbgrader_config.py").write_text(
        INSTRUCTOR_CONFIG + 'c.Autograde.exporter_class = "nbconvert.exporters.NotebookExporter"\n')
    assert not refused_in(theirs), "the course's own setting comes last and wins"
