"""``dlci gradescope build``: one Gradescope autograder zip per task.

The zip (Gradescope unpacks it into ``/autograder/source/``)::

    setup.sh              run once as root when Gradescope builds the image: Python packages pinned
                          as environment.yml and this environment (CPU wheels of torch), the kit,
                          the unprivileged user the student's kernel runs as, the course data
    run_autograder        run as root per submission: python -m dlci_grader.gradescope.run
    requirements.txt      pinned packages; requirements-torch.txt: torch, torchvision (CPU index)
    dlci_gradescope.json  the task, limits, visibility (:mod:`~dlci_grader.gradescope.settings`)
    template/             the task's course template: source/<nb>/<nb>.ipynb (hidden tests) and a
                          gradebook.db in which nbgrader generated the assignment
    kit/                  the kit's source: starter/ and autograder/ (dlci_grader), installed by
                          setup.sh
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from dlci_grader.gradescope.settings import CONFIG_NAME, Settings
from dlci_grader.nbgrader.course import Course
from dlci_grader.tasks import load_tasks

KIT_ROOT = Path(__file__).resolve().parents[3]
"""The kit's source checkout (holds pyproject.toml, starter/, autograder/)."""
RUNTIME_PACKAGES = (
    "numpy", "scikit-image", "matplotlib", "pandas", "tqdm", "pooch", "mlxtend", "ipykernel",
    "nbclient", "nbformat", "jsonschema", "nbgrader", "psutil", "jupyter_client",
)
"""What grading needs besides torch (pinned at this environment's versions)."""
TORCH_PACKAGES = ("torch", "torchvision")
DATASETS = {"task1": "mnist", "task2": "bsds300", "task3": "bsds300"}
"""The dataset each task's grading reads (`dlci fetch --only`); other tasks fetch everything."""
_SKIP = re.compile(r"(__pycache__|\.pyc$|\.egg-info|\.mypy_cache|\.ruff_cache)")

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this as root for every submission. It grades /autograder/submission/*.ipynb
# with the kit's one-notebook worker (sandboxed kernel as an unprivileged user, secret inputs,
# verdicts judged outside the kernel) and writes /autograder/results/results.json.
# DLCI_AUTOGRADER_DIR and DLCI_PYTHON override the folder and the Python (local runs, tests).
AG="${DLCI_AUTOGRADER_DIR:-/autograder}"
PY="${DLCI_PYTHON:-/opt/dlci-venv/bin/python}"
RESULTS="$AG/results/results.json"
mkdir -p "$AG/results"
cd /
"$PY" -m dlci_grader.gradescope.run --autograder-dir "$AG"
status=$?
if [ ! -s "$RESULTS" ]; then  # the grader could not even start: still an answer for Gradescope
  msg="the grader did not start (exit $status): check the image's setup.sh log"
  printf '{"score": 0, "output": "autograder error: %s", "tests": [{"name": "autograder error", \
"score": 0, "max_score": 0, "status": "failed", "output": "%s", "visibility": "visible"}]}\\n' \
"$msg" "$msg" > "$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
fi
exit 0
"""

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu base image).
set -euo pipefail
SRC=/autograder/source
VENV=/opt/dlci-venv
USER_NAME={user}
DATA={data_root}
export DEBIAN_FRONTEND=noninteractive
apt-get update
# environment.yml's Python (3.11: in Ubuntu 22.04's universe), else the image's python3 (3.10+)
apt-get install -y --no-install-recommends python3.11 python3.11-venv \
  || apt-get install -y --no-install-recommends python3 python3-venv python3-pip
PYBIN=$(command -v python3.11 || command -v python3)
"$PYBIN" -m venv "$VENV"
"$VENV/bin/pip" install --upgrade pip
# the pins of environment.yml: torch and torchvision as CPU wheels (Gradescope has no GPU)
"$VENV/bin/pip" install --index-url https://download.pytorch.org/whl/cpu \
-r "$SRC/requirements-torch.txt"
"$VENV/bin/pip" install -r "$SRC/requirements.txt"
"$VENV/bin/pip" install --no-deps "$SRC/kit" "$SRC/kit/autograder"
"$VENV/bin/python" -m ipykernel install --sys-prefix
# the student's kernel (and nbgrader) run as this user, never as root
id -u "$USER_NAME" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin \
"$USER_NAME"
# the course data, from the official sources, checksummed
"$VENV/bin/dlci" fetch --root "$DATA" {fetch_only}
chmod -R a+rX "$DATA" "$VENV"
# only root reads the hidden tests and the grader's source; the worker gets a private copy
chmod -R go-rwx "$SRC"
"""


def _pins(environment: Path) -> dict[str, str]:
    """``name -> version`` pinned with ``==`` in environment.yml's pip section."""
    pins = {}
    for line in environment.read_text().splitlines():
        match = re.match(r"^\s*-\s*([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def requirements(environment: Path = KIT_ROOT / "environment.yml") -> tuple[str, str]:
    """(requirements-torch.txt, requirements.txt): environment.yml's pins, and this environment's
    versions of everything else grading needs."""
    pins = _pins(environment)
    missing = [p for p in TORCH_PACKAGES if p not in pins]
    if missing:
        raise ValueError(
            f"{environment}: no == pin for {missing}; the zip pins what environment.yml pins"
        )
    torch = "".join(f"{name}=={pins[name]}\n" for name in TORCH_PACKAGES)
    lines = []
    for name in RUNTIME_PACKAGES:
        version = pins.get(name.lower()) or importlib.metadata.version(name)
        lines.append(f"{name}=={version}\n")
    return torch, "".join(lines)


def _kit_files(root: Path) -> Iterable[tuple[Path, str]]:
    """(file, name in the zip) of the kit's two distributions' sources."""
    for top in ("pyproject.toml", "README.md", "LICENSE"):
        if (root / top).is_file():
            yield root / top, f"kit/{top}"
    for folder, prefix in (
        (root / "starter", "kit/starter"),
        (root / "autograder" / "dlci_grader", "kit/autograder/dlci_grader")
    ):
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and not _SKIP.search(rel):
                yield path, f"{prefix}/{rel}"
    yield root / "autograder" / "pyproject.toml", "kit/autograder/pyproject.toml"


def _add(archive: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    archive.writestr(info, data)


def build_zips(
    out: str | os.PathLike[str] = "gradescope",
    solutions: str | os.PathLike[str] = "solutions",
    tasks: list[str] | None = None,
    settings: Settings | None = None,
    kit_root: Path = KIT_ROOT,
) -> list[Path]:
    """Write ``out/<notebook>.zip`` for each task; their paths.

    Args:
        out: folder for the zips.
        solutions: the source notebooks (hidden tests included).
        tasks: only these task keys (default: every task).
        settings: limits and visibility for every zip (``task``/``notebook``/``release_ids`` are
            filled in per task).
        kit_root: the kit's source checkout.
    """
    if not (kit_root / "starter").is_dir() or not (
        kit_root / "autograder" / "pyproject.toml"
    ).is_file():
        raise FileNotFoundError(
            f"{kit_root}: not a source checkout of the kit (starter/ and autograder/ needed)"
        )
    every = load_tasks(solutions)
    chosen = load_tasks(solutions, tasks)
    base = settings or Settings(task="", notebook="")
    torch_reqs, reqs = requirements(kit_root / "environment.yml")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="dlci-gradescope-build-") as tmp:
        course = Course(Path(tmp) / "course")
        course.prepare(every)
        release_ids = course.release_ids(every)
        kit = list(_kit_files(kit_root))
        for key, task in chosen.items():
            zip_settings = replace(base, task=key, notebook=task.notebook, release_ids=release_ids)
            setup = SETUP_SH.format(
                user=zip_settings.user or "dlci-student", data_root=zip_settings.data_root,
                fetch_only=f"--only {DATASETS[key]}" if key in DATASETS else "",
            )
            path = out / f"{task.notebook}.zip"
            partial = path.with_suffix(".zip.partial")
            with zipfile.ZipFile(partial, "w") as archive:
                _add(archive, "run_autograder", RUN_AUTOGRADER.encode(), executable=True)
                _add(archive, "setup.sh", setup.encode(), executable=True)
                _add(archive, "requirements-torch.txt", torch_reqs.encode())
                _add(archive, "requirements.txt", reqs.encode())
                _add(archive, CONFIG_NAME, zip_settings.to_json().encode())
                template = course.task_template(task.notebook)
                for file in (template.source, template.db):
                    _add(
                        archive, f"template/{file.relative_to(course.template).as_posix()}",
                        file.read_bytes(),
                    )
                for file, name in kit:
                    _add(archive, name, file.read_bytes())
            partial.replace(path)
            written.append(path)
    return written
