"""What the student and instructor images contain, checked without a Docker engine.

The build context is the repository root; each Dockerfile has an allow-list
``<name>.Dockerfile.dockerignore`` beside it (BuildKit reads it before .dockerignore). These
tests work out the files every COPY line ships through that ignore file, then build the
student wheel from exactly those files: students get ``starter`` and the release notebooks,
never ``solutions/``, ``dlci_grader`` or hidden tests.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.grader, pytest.mark.hub]

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "autograder" / "deploy"
SECRET_MARKERS = ("BEGIN HIDDEN TESTS", "BEGIN SOLUTION", "BEGIN MARK SCHEME")


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex on '/'-separated paths (``**`` crosses folders)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_excludes(ignore_file: Path):
    """A function path -> True when the ignore file keeps ``path`` out of the build context.

    As Docker does: the last matching line wins; a line matches a path or any folder above
    it; ``!`` re-includes.
    """
    rules = []
    for line in ignore_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        rules.append((negate, _pattern_regex(pattern.strip("/"))))

    def excluded(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for negate, regex in rules:
            if any(regex.match(p) for p in prefixes):
                result = not negate
        return result

    return excluded


def copy_sources(dockerfile: Path) -> list[str]:
    """The context paths of every COPY/ADD line (not ``--from`` stages), in order."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    sources = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources.extend(a.rstrip("/") for a in args[:-1])
    return sources


def shipped_files(dockerfile: Path) -> dict[str, list[str]]:
    """COPY source -> the repository files (relative paths) it puts in the image."""
    excluded = dockerignore_excludes(dockerfile.with_name(dockerfile.name + ".dockerignore"))
    shipped = {}
    for source in copy_sources(dockerfile):
        files = []
        for match in sorted(REPO.glob(source)):
            candidates = ([match] if match.is_file()
                          else sorted(p for p in match.rglob("*") if p.is_file()))
            files += [p.relative_to(REPO).as_posix() for p in candidates]
        shipped[source] = [f for f in files if not excluded(f)]
    return shipped


def test_dockerignore_matching_follows_docker_rules(tmp_path: Path):
    """The ignore-file reader: last match wins, a folder rule covers its files, ``!``
    re-includes."""
    ignore = tmp_path / "x.dockerignore"
    ignore.write_text("*\n!starter/\n!notebooks/*.ipynb\n**/__pycache__\n")
    excluded = dockerignore_excludes(ignore)
    assert not excluded("starter/imaging.py")
    assert excluded("starter/__pycache__/imaging.cpython-311.pyc")
    assert excluded("solutions/task1_backprop_inpainting.ipynb")
    assert not excluded("notebooks/task1_backprop_inpainting.ipynb")
    assert excluded("notebooks/README.md")


def test_student_image_ships_starter_and_release_notebooks_only():
    """Every student COPY finds files; none is a solution, autograder file or hidden test."""
    shipped = shipped_files(DEPLOY / "student.Dockerfile")
    empty = [source for source, files in shipped.items() if not files]
    assert not empty, f"COPY sources with nothing to copy (the build would fail): {empty}"
    files = sorted({f for fs in shipped.values() for f in fs})
    assert any(f.startswith("starter/") and f.endswith(".py") for f in files)
    assert "notebooks/task1_backprop_inpainting.ipynb" in files
    allowed = ("starter/", "notebooks/", "autograder/deploy/jupyter/student/")
    allowed_files = {"pyproject.toml", "README.md", "LICENSE", "autograder/deploy/constraints.txt"}
    strays = [f for f in files if not f.startswith(allowed) and f not in allowed_files]
    assert not strays, f"files outside the student allow-list: {strays}"
    assert not [f for f in files if f.startswith("solutions/") or "dlci_grader" in f]
    leaks = [
        f"{f}: {marker}" for f in files for marker in SECRET_MARKERS
        if marker in (REPO / f).read_text(errors="replace")
    ]
    assert not leaks, f"hidden tests or solutions in the student image: {leaks}"


def test_student_wheel_holds_starter_only(tmp_path: Path):
    """The package pip builds from the shipped files holds ``starter/`` and its metadata only."""
    context = tmp_path / "context"
    for source, files in shipped_files(DEPLOY / "student.Dockerfile").items():
        for f in files:
            if source in ("pyproject.toml", "README.md", "LICENSE") or f.startswith("starter/"):
                (context / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / f, context / f)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        tops = {n.split("/")[0] for n in names}
        assert {t for t in tops if not t.endswith(".dist-info")} == {"starter"}, tops
        leaks = [
            n for n in names
            if any(m.encode() in archive.read(n) for m in SECRET_MARKERS)
        ]
    assert not leaks, f"hidden tests or solutions in the student wheel: {leaks}"


def _pip_installs(dockerfile: Path) -> list[str]:
    """What the RUN lines' ``pip install`` commands install (options and their values left out)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    targets = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if not words or words[0].upper() != "RUN" or "install" not in words:
            continue
        command = words[words.index("install") + 1:]
        command = command[: command.index("&&")] if "&&" in command else command
        skip = False
        for word in command:
            if skip:
                skip = False
            elif word in ("--constraint", "-c", "--extra-index-url", "--index-url", "-r"):
                skip = True
            elif not word.startswith(("-", "$")):
                targets.append(word)
    return targets


def test_student_image_installs_no_grader_or_developer_tool():
    """The student image installs the kit (its run-time packages) and nbgrader (Assignment List,
    Validate), and so nothing of the grader's or the developers' tools."""
    from test_environment import GRADER_OR_DEV, installed_closure, name_of, student_requirements

    assert _pip_installs(DEPLOY / "student.Dockerfile") == ["/tmp/dlci/kit", "nbgrader"]
    kit = {name_of(r) for r in student_requirements()} - {"jupyterlab"}
    leaked = sorted(installed_closure(kit | {"nbgrader"}) & (GRADER_OR_DEV - {"nbgrader"}))
    assert not leaked, f"the student image brings {leaked}"


def test_instructor_image_adds_grader_and_solutions():
    """The instructor image carries what grading needs: dlci_grader (hidden tests' checks) and
    solutions/."""
    shipped = shipped_files(DEPLOY / "instructor.Dockerfile")
    empty = [source for source, files in shipped.items() if not files]
    assert not empty, f"COPY sources with nothing to copy (the build would fail): {empty}"
    files = {f for fs in shipped.values() for f in fs}
    assert "autograder/dlci_grader/tasks/task1/checks.py" in files
    assert "solutions/task1_backprop_inpainting.ipynb" in files
    assert "autograder/deploy/jupyter/instructor/nbgrader_config.py" in files


def _dockerfile_env(dockerfile: Path) -> dict[str, str]:
    """NAME=value pairs of the ENV lines."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    env = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if words and words[0].upper() == "ENV":
            env.update(w.split("=", 1) for w in words[1:] if "=" in w)
    return env


def test_values_yaml_agrees_with_the_images():
    """values.yaml mounts the exchange and the data where the images look, sizes users, and its
    profile code runs."""
    import yaml
    from traitlets.config import Config

    values = yaml.safe_load((DEPLOY / "values.yaml").read_text())
    image_env = _dockerfile_env(DEPLOY / "student.Dockerfile")
    single = values["singleuser"]
    mounts = {m["mountPath"] for m in single["storage"]["extraVolumeMounts"]}
    for name in ("NBGRADER_EXCHANGE", "DLCI_DATA"):
        assert single["extraEnv"][name] == image_env[name], name
        assert image_env[name] in mounts, f"{name}={image_env[name]} is not mounted"
    assert single["memory"]["guarantee"] and single["cpu"]["guarantee"]
    assert values["hub"]["loadRoles"]["instructor"]["groups"] == ["instructors"]

    c = Config()
    exec(compile(values["hub"]["extraConfig"]["dlci-profiles"], "extraConfig", "exec"), {"c": c})
    profiles = c.KubeSpawner.profile_list

    def spawner_of(*groups: str) -> object:  # the two attributes the profile code reads
        from types import SimpleNamespace

        return SimpleNamespace(
            user=SimpleNamespace(groups=[SimpleNamespace(name=g) for g in groups])
        )

    assert profiles(spawner_of("students")) == []
    offered = profiles(spawner_of("instructors"))
    assert "instructor" in offered[0]["kubespawner_override"]["image"]


def test_constraints_pin_every_kit_dependency_as_pyproject_does():
    """constraints.txt pins each dependency of the kit and the autograder, with pyproject's own
    pins."""
    import tomllib

    def name_of(requirement: str) -> str:
        return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.\-]+", requirement)[0]).lower()

    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name_of(name)] = version.strip()
    dependencies = [
        requirement
        for project in (REPO / "pyproject.toml", REPO / "autograder" / "pyproject.toml")
        for requirement in tomllib.loads(project.read_text())["project"]["dependencies"]
        if name_of(requirement) != "dlci-kit"  # the kit itself, installed from the source
    ]
    for requirement in dependencies:
        name = name_of(requirement)
        assert name in pins, f"{name} has no pin in constraints.txt"
        if "==" in requirement:
            assert pins[name] == requirement.split("==", 1)[1].strip(), requirement


def test_student_validate_allows_the_slowest_cell():
    """The student image's nbgrader config gives Validate a cell timeout above nbgrader's 30 s
    default that fits Task 2's training cell (tests/test_student_walkthrough.py runs Validate)."""
    from traitlets.config import Config

    path = DEPLOY / "jupyter" / "student" / "nbgrader_config.py"
    config = Config()
    namespace = {"get_config": lambda: config, "__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # as Jupyter's loader does
    timeout = config.Execute.timeout
    assert timeout == namespace["CELL_TIMEOUT"]
    assert timeout >= 2 * 9 * 60, (
        f"Validate's cell timeout {timeout} s: Task 2 trains ~9 minutes on a busy 2-core pod"
    )
    shipped = {f for fs in shipped_files(DEPLOY / "student.Dockerfile").values() for f in fs}
    assert path.relative_to(REPO).as_posix() in shipped


def test_student_image_states_no_hidden_threshold_or_result_table():
    """Nothing the student image ships (README included) gives the hidden Task 1 threshold or
    the Task 2/3 result tables, which answer graded questions (docs/instructors/ holds them)."""
    from dlci_grader.tasks.task1.checks import INPAINTING_LOSS_THRESHOLD

    shipped = {f for fs in shipped_files(DEPLOY / "student.Dockerfile").values() for f in fs}
    given_away = ("hidden threshold", f"threshold is {INPAINTING_LOSS_THRESHOLD:g}",
                  "32.84 / 29.72 / 25.84", "| U-Net, the kit's | 31.45", "33.72")
    found = [(f, s) for f in sorted(shipped) if f.endswith((".md", ".ipynb", ".py", ".toml"))
             for s in given_away if s in (REPO / f).read_text(errors="replace")]
    assert not found, found
