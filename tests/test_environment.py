"""pyproject.toml and environment.yml declare the same packages with the same pins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
import yaml

pytestmark = pytest.mark.foundation
ROOT = Path(__file__).resolve().parents[1]


def _normalise(req: str) -> str:
    name, spec = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*(.*)$", req).groups()
    return re.sub(r"[-_.]+", "-", name).lower() + spec.replace(" ", "")


def test_pyproject_and_environment_yml_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ours = {_normalise(r) for r in project["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    theirs = {_normalise(r) for r in pip_section if not r.startswith("-e")}
    assert ours == theirs, (
        f"only in pyproject: {ours - theirs}; only in environment.yml: {theirs - ours}"
    )
    assert "torch==2.14.1" in ours and "torchvision==0.29.1" in ours
