"""Gradescope: the task's autograder zip, run as Gradescope runs it.

The zip is built with ``dlci gradescope build``, laid out as Gradescope lays it out (``source/``,
``submission/``, ``results/``, ``submission_metadata.json``) and its own ``run_autograder`` is run
with this environment's Python (``setup.sh``'s installs are not run; the script is checked). The
whole suite goes through the zips in ``test_grading_paths`` (same points as ``dlci grade``, every
``results.json`` checked against Gradescope's specification, transcribed below); here, what is
Gradescope's own: attacks on ``results/`` and ``source/``, visibility, the written answers, a
grader that fails, and the unprivileged user.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import nbformat
import pytest

pytest.importorskip("dlci_grader")
from conftest import CELL_TIMEOUT, paths_cell_timeout  # noqa: E402
from test_grader_class import ROOT, dlci, hidden_lines  # noqa: E402

from dlci_grader.gradescope.local import layout, run_local  # noqa: E402
from dlci_grader.gradescope.results import ERROR_TEST  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1]

NB = "task1_backprop_inpainting"

VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
RESULTS_SCHEMA = {
    # Gradescope's autograder specification, "Output format" (results.json): either a top-level
    # score or a score on every test; the other keys optional.
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": FORMAT,
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": FORMAT,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": VISIBILITY,
                    "extra_data": {"type": "object"},
                },
                "additionalProperties": False,
            },
        },
        "leaderboard": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"}, "value": {}, "order": {"enum": ["asc", "desc"]},
                },
                "required": ["name", "value"],
            },
        },
    },
    "additionalProperties": False,
    "anyOf": [
        {"required": ["score"]},
        {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}},
    ],
}

RESULTS_ATTACK = '''
import json, os, pathlib
AG = pathlib.Path({ag!r})
real = [AG / "results" / "results.json", pathlib.Path("/autograder/results/results.json")]
print(json.dumps({{"score": 100, "tests": [{{"name": "test_linear", \
"score": 100, "max_score": 2}}]}}))
targets = list(real)
for parent in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]:
    targets += [parent / ".." / "results" / "results.json", parent / "results" / "results.json"]
written = []
for target in targets:
    try:
        target.write_text(json.dumps({{"score": 100, "tests": []}}))
    except OSError:
        continue
    if any(target.resolve() == r.resolve() for r in real):
        written.append(str(target))
if written:
    print("ATTACK wrote", written)
    os._exit(1)  # makes a successful write visible in the score
'''

SOURCE_ATTACK = '''
import os, pathlib
AG = pathlib.Path({ag!r})
found = []
tries = [AG / "source" / "template" / "source" / {nb!r} / ({nb!r} + ".ipynb"), \
AG / "source" / "dlci_gradescope.json",
         AG / "source" / "kit" / "autograder" / "dlci_grader" / "tasks" / "task1" / "checks.py"]
for parent in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]:
    tries.append(parent / ".." / "source" / "template" / "source" / {nb!r} / ({nb!r} + ".ipynb"))
for path in tries:
    try:
        found.append(path.read_text()[:200])
    except OSError:
        pass
try:
    found += os.listdir(AG / "source")
except OSError:
    pass
if found:
    print("ATTACK read", found)
    os._exit(1)  # makes a successful read visible in the score
'''


def _with_cell(notebook: Path, code: str, out: Path) -> Path:
    """The notebook with an extra (ungraded) code cell after its setup cell."""
    nb = nbformat.read(str(notebook), 4)
    nb.cells.insert(2, nbformat.v4.new_code_cell(code))
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(out))
    return out


@pytest.fixture(scope="module")
def autograder_zip(gradescope_zips: Path) -> Path:
    """The session's Task 1 zip (``conftest.gradescope_zips``, which grades the whole suite)."""
    return gradescope_zips / f"{NB}.zip"


@pytest.fixture(scope="module")
def submissions(suite) -> dict[str, Path]:
    """student -> notebook: the two attacks on Gradescope's own folders, each on the solution
    (every other notebook of the suite goes through the zip in ``test_grading_paths``)."""
    solution = suite.notebooks()[("solution", "task1")]
    # the attacks name Gradescope's folder of their own run: filled in by _grade_on_gradescope
    return {"attack-results": solution, "attack-source": solution}


def _grade_on_gradescope(
    autograder_zip: Path, student: str, notebook: Path, tmp: Path
) -> tuple[dict, str]:
    """Lay the folder out first, to aim the attack at it, then run exactly as run_local does."""
    ag = layout(tmp / student, autograder_zip, [])
    attack = RESULTS_ATTACK if student == "attack-results" else SOURCE_ATTACK
    _with_cell(notebook, attack.format(ag=str(ag), nb=NB), ag / "submission" / f"{NB}.ipynb")
    env = {**os.environ, "DLCI_AUTOGRADER_DIR": str(ag), "DLCI_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ag / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads((ag / "results" / "results.json").read_text()), proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def gradescope_results(
    autograder_zip, submissions, tmp_path_factory
) -> dict[str, tuple[dict, str]]:
    tmp = tmp_path_factory.mktemp("gs-runs")
    with ThreadPoolExecutor(2) as pool:  # two at a time, as `dlci grade --workers 2`
        futures = {s: pool.submit(_grade_on_gradescope, autograder_zip, s, nb, tmp)
                   for s, nb in submissions.items()}
        return {s: f.result() for s, f in futures.items()}


@pytest.mark.slow
def test_results_follow_gradescopes_specification(gradescope_results):
    for student, (results, _) in gradescope_results.items():
        jsonschema.validate(results, RESULTS_SCHEMA)
        names = [t["name"] for t in results["tests"]]
        assert len(names) == len(set(names)), student


@pytest.mark.slow
def test_attacks_on_results_and_source_are_refused(gradescope_results):
    for student in ("attack-results", "attack-source"):
        results, output = gradescope_results[student]
        assert results["score"] == 23, (student, results)
        assert "ATTACK" not in json.dumps(results) and "ATTACK" not in output
        assert not any(t["name"] == ERROR_TEST for t in results["tests"])


@pytest.mark.slow
def test_no_output_shows_hidden_test_code(gradescope_results):
    hidden = hidden_lines(NB)
    assert hidden
    for student, (results, output) in gradescope_results.items():
        text = json.dumps(results) + output
        leaked = [line for line in hidden if line in text]
        assert not leaked, (student, leaked[:3])


@pytest.mark.slow
def test_visibility_and_written_answers(gradescope_suite):
    results = gradescope_suite[("solution", "task1")].results
    by_name = {t["name"]: t for t in results["tests"]}
    assert by_name["test_linear"]["visibility"] == "visible"
    assert by_name["test_linear_hidden"]["visibility"] == "after_published"
    manual = [t for t in results["tests"] if "manual" in t.get("tags", [])]
    assert len(manual) == 3 and all(t["max_score"] == 0 and "graded by hand" in t["output"]
                                    for t in manual)
    assert results["stdout_visibility"] == "hidden"


@pytest.mark.slow
def test_an_endless_loop_says_it_timed_out(gradescope_suite):
    loop = gradescope_suite[("broken-infinite-loop", "task1")].results
    timeout = paths_cell_timeout()
    assert any(f"timed out after {timeout} s" in t["output"] for t in loop["tests"]), loop


def test_zip_holds_the_kit_template_and_a_sound_setup(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = set(archive.namelist())
        info = {i.filename: i for i in archive.infolist()}
        archive.extractall(tmp_path)
    assert {"run_autograder", "setup.sh", "requirements.txt", "requirements-torch.txt",
            "dlci_gradescope.json", f"template/source/{NB}/{NB}.ipynb",
            "template/gradebook.db"} <= names
    assert (info["run_autograder"].external_attr >> 16) & 0o111
    for name in ("starter/imaging.py", "autograder/dlci_grader/run/worker.py",
                 "autograder/dlci_grader/gradescope/run.py"):
        assert (tmp_path / "kit" / name).read_bytes() == (ROOT / name).read_bytes(), name
    for script in ("setup.sh", "run_autograder"):
        checked = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True,
                                 text=True)
        assert checked.returncode == 0, (script, checked.stderr)
    setup = (tmp_path / "setup.sh").read_text()
    environment = (ROOT / "environment.yml").read_text()
    for pin in re.findall(r"(torch(?:vision)?==[\w.]+)", environment):
        assert pin in (tmp_path / "requirements-torch.txt").read_text()
    assert ("download.pytorch.org/whl/cpu" in setup and "useradd" in setup
            and "--only mnist" in setup)
    settings = json.loads((tmp_path / "dlci_gradescope.json").read_text())
    assert settings["task"] == "task1" and settings["hidden"] == "after_published"
    assert set(settings["release_ids"]) == {"task1", "task2", "task3"}


def test_results_are_written_when_the_grader_fails(autograder_zip, tmp_path):
    """A broken zip (no gradebook), no notebook handed in, and a Python that does not start:
    each still gives a valid results.json that says why."""
    ag = layout(tmp_path / "broken", autograder_zip, [ROOT / "notebooks" / f"{NB}.ipynb"])
    (ag / "source" / "template" / "gradebook.db").unlink()
    proc = subprocess.run(["bash", str(ag / "source" / "run_autograder")], capture_output=True,
                          text=True, env={**os.environ, "DLCI_AUTOGRADER_DIR": str(ag),
                                          "DLCI_PYTHON": sys.executable})
    results = json.loads((ag / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    error = next(t for t in results["tests"] if t["name"] == ERROR_TEST)
    assert results["score"] == 0 and "gradebook.db" in error["output"], proc.stdout

    empty = run_local(autograder_zip, [])
    jsonschema.validate(empty.results, RESULTS_SCHEMA)
    assert empty.results["score"] == 0 and "no notebook" in json.dumps(empty.results)

    ag = layout(tmp_path / "nopython", autograder_zip, [])
    subprocess.run(["bash", str(ag / "source" / "run_autograder")], check=True, capture_output=True,
                   env={**os.environ, "DLCI_AUTOGRADER_DIR": str(ag), "DLCI_PYTHON": "/bin/false"})
    results = json.loads((ag / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert (results["tests"][0]["name"] == ERROR_TEST
            and "did not start" in results["tests"][0]["output"])


USER = "dlci-student"


def _reachable_by_others(path: Path) -> bool:
    """Whether a user other than root can reach ``path`` (every folder above it searchable)."""
    return all(os.stat(p).st_mode & 0o001 for p in [*reversed(path.parents)] if p != Path("/"))


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0,
                    reason="Gradescope's runner is root; grading as another user needs root")
@pytest.mark.skipif(
    not _reachable_by_others(Path(sys.executable))
    or not _reachable_by_others(Path(os.path.realpath(sys.executable))),
    reason=f"this Python ({os.path.realpath(sys.executable)}) is in a folder no other user may "
    "enter, so the unprivileged user cannot run it (on Gradescope setup.sh installs the kit in "
    "/opt/dlci-venv)",
)
def test_the_unprivileged_user_grades_and_reaches_neither_results_nor_source(tmp_path, suite):
    """The zip as built by default (``--user dlci-student``), its folders as setup.sh leaves them
    (``source/`` root-only, ``results/`` root's): the solution gets 23, the kernel, the worker and
    the definitions-alone runner run as that user, and the results and source attacks change
    nothing."""
    if subprocess.run(["id", "-u", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        USER], check=True)
    built = dlci("gradescope", "build", "--tasks", "task1", "--out", str(tmp_path / "zips"),
                 "--cell-timeout", str(CELL_TIMEOUT))
    assert built.returncode == 0, built.stderr
    os.chmod(tmp_path, 0o755)
    solution = suite.notebooks()[("solution", "task1")]
    for name, attack in (("solution", None), ("attack-results", RESULTS_ATTACK),
                         ("attack-source", SOURCE_ATTACK)):
        ag = layout(tmp_path / name, tmp_path / "zips" / f"{NB}.zip", [] if attack else [solution])
        for folder in (ag.parent, ag, ag / "submission", ag / "results"):
            os.chmod(folder, 0o755)
        subprocess.run(["chmod", "-R", "go-rwx", str(ag / "source")], check=True)
        if attack:
            _with_cell(solution, attack.format(ag=str(ag), nb=NB),
                       ag / "submission" / f"{NB}.ipynb")
        env = {**os.environ, "DLCI_AUTOGRADER_DIR": str(ag), "DLCI_PYTHON": sys.executable}
        runner = subprocess.Popen(["bash", str(ag / "source" / "run_autograder")], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        owners: set[tuple[str, str]] = set()
        while runner.poll() is None:
            # comm: a kernel forked from nbgrader's process is named ipykernel, its args nbgrader's
            ps = subprocess.run(["ps", "-ww", "-eo", "user:32,comm,args"], capture_output=True,
                                text=True).stdout
            for line in ps.splitlines():
                for role in ("ipykernel", "gradescope.child", "kernel.rebuilt",
                             "nbgrader.autograde_server"):
                    if role in line:
                        owners.add((role, line.split()[0]))
            time.sleep(0.3)
        output = runner.stdout.read() if runner.stdout else ""
        results = json.loads((ag / "results" / "results.json").read_text())
        assert results["score"] == 23, (name, results.get("output"), output[-2000:])
        assert "graded as root" not in json.dumps(results), name
        assert "ATTACK" not in json.dumps(results) + output, name
        assert {role for role, _ in owners} >= {
            "ipykernel", "gradescope.child", "nbgrader.autograde_server",
        }, (
            name, owners
        )
        assert all(user == USER for _, user in owners), (name, owners)
