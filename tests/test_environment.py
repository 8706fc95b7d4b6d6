"""The installs per role: pyproject.toml, environment.yml (students) and
environment-instructor.yml declare the same packages with the same pins, and nothing of the
grader or the developers' tools reaches a student's install."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml

pytestmark = pytest.mark.foundation
ROOT = Path(__file__).resolve().parents[1]
GRADER_OR_DEV = frozenset({
    "nbgrader", "otter-grader", "dask", "distributed", "dlci-autograder", "pytest", "ruff",
    "mypy", "jupyterhub", "playwright",
})
"""Packages a student's install must not list: the grader's, the hub's and the developers'."""


def _normalise(req: str) -> str:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", req).groups()
    return re.sub(r"[-_.]+", "-", name).lower() + spec.replace(" ", "")


def name_of(requirement: str) -> str:
    """The normalised package name of a requirement (``mypy==2.4.1`` -> ``mypy``)."""
    return re.sub(r"[-_.]+", "-", re.match(r"\s*[A-Za-z0-9_.\-]+", requirement)[0].strip()).lower()


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text())["project"]


def student_requirements() -> set[str]:
    """What a student's install lists: the kit's dependencies and its ``lab`` extra."""
    kit = _project(ROOT / "pyproject.toml")
    return {_normalise(r) for r in [*kit["dependencies"], *kit["optional-dependencies"]["lab"]]}


def _pip_section(name: str) -> tuple[set[str], list[str]]:
    """(the requirements, the ``-e`` lines) of an environment file's pip section."""
    env = yaml.safe_load((ROOT / name).read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    editable = [r for r in pip if r.startswith("-e")]
    return {_normalise(r) for r in pip if not r.startswith("-e")}, editable


def test_the_student_environment_is_the_kit_and_jupyterlab():
    ours = student_requirements()
    theirs, editable = _pip_section("environment.yml")
    assert ours == theirs, (
        f"only in pyproject: {ours - theirs}; only in environment.yml: {theirs - ours}"
    )
    assert editable == ["-e ."]
    assert "torch==2.14.1" in ours and "torchvision==0.29.1" in ours


def installed_closure(names: set[str]) -> set[str]:
    """``names`` and everything they require, unconditionally, as installed here (the versions
    this environment resolved; a student's resolver may differ, the package names rarely)."""
    from importlib import metadata

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [name_of(r) for r in requires if "extra ==" not in r.partition(";")[2]]
    return seen


def test_no_grader_or_developer_tool_in_a_student_install():
    for source, requirements in (
        ("pyproject.toml's dependencies and lab extra", student_requirements()),
        ("environment.yml", _pip_section("environment.yml")[0]),
    ):
        listed = {name_of(r) for r in requirements}
        leaked = sorted(installed_closure(listed) & GRADER_OR_DEV)
        assert not leaked, f"{source} brings the grader's or the developers' {leaked}"


def test_the_instructor_environment_is_everything_with_the_same_pins():
    kit = _project(ROOT / "pyproject.toml")
    grader = _project(ROOT / "autograder" / "pyproject.toml")
    ours = {
        _normalise(r)
        for r in [*kit["dependencies"], *kit["optional-dependencies"]["lab"],
                  *kit["optional-dependencies"]["dev"], *grader["dependencies"]]
        if name_of(r) != "dlci-kit"
    }
    theirs, editable = _pip_section("environment-instructor.yml")
    assert ours == theirs, (
        f"only in the pyproject files: {ours - theirs}; "
        f"only in environment-instructor.yml: {theirs - ours}"
    )
    assert editable == ["-e .[dev]", "-e ./autograder"]
