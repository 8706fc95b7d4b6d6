"""Every task's student release: generated from its source, and free of solutions and hidden tests.

Task-specific tests check each notebook's content; this one holds the rule for all of them, so a
new task in ``solutions/`` is covered the moment it lands.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

from dlci_grader.nbgrader.release import check_release, find_leaks

pytestmark = pytest.mark.grader

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_every_task_has_a_release():
    """Each source notebook has its release, and the release has nothing without a source."""
    assert [p.name for p in SOURCES] == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert len(SOURCES) == 3, [p.name for p in SOURCES]


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_release_is_generated_from_its_source(source: Path):
    """Regenerating the release with nbgrader gives exactly the committed notebook."""
    problems = check_release(ROOT / "solutions", ROOT / "notebooks", [source.stem])
    assert problems == {}, f"run `dlci release`: {problems}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_release_leaks_no_solution_or_hidden_test(source: Path):
    """No solution line, marker or hidden-test line of the source appears in the release."""
    release = nbformat.read(str(ROOT / "notebooks" / source.name), as_version=4)
    leaks = find_leaks(nbformat.read(str(source), as_version=4), release)
    assert leaks == [], f"{source.name}: the release leaks {leaks[:5]}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_release_does_not_import_hidden_checks(source: Path):
    """Hidden checks live in the grader package; a student's notebook never imports them."""
    text = (ROOT / "notebooks" / source.name).read_text()
    assert "dlci_grader" not in text, f"{source.name} mentions dlci_grader"


def test_student_package_holds_no_hidden_checks():
    """The student's installed package (`starter`) ships no grader code."""
    spec = importlib.util.find_spec("starter")
    assert spec is not None and spec.origin is not None
    package = Path(spec.origin).parent
    offenders = [
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if "dlci_grader" in p.read_text() or "HIDDEN TESTS" in p.read_text()
    ]
    assert offenders == []
