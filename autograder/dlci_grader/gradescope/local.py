"""Run a built autograder zip on this machine as Gradescope would (``dlci gradescope run``).

Lays out a temporary autograder folder exactly as Gradescope does (``source/`` = the unpacked
zip, ``submission/`` = the files handed in, ``results/``, ``submission_metadata.json``) and runs
the zip's own ``run_autograder`` with this Python (``DLCI_PYTHON``) instead of the image's.
``setup.sh`` is not run: this environment must already hold the kit and its packages, as for
``otter run``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starter.env_vars import DATA_ENV_VAR


@dataclass
class LocalRun:
    """What one local run gave: ``results.json``, the runner's output, its exit status, seconds."""

    results: dict[str, Any]
    stdout: str
    returncode: int
    seconds: float


def layout(
    root: Path, autograder_zip: Path, files: Sequence[Path], metadata: dict[str, Any] | None = None,
) -> Path:
    """Make Gradescope's folders under ``root/autograder``; that folder."""
    ag = Path(root) / "autograder"
    for sub in ("source", "submission", "results"):
        (ag / sub).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(autograder_zip) as archive:
        for info in archive.infolist():
            target = ag / "source" / info.filename
            archive.extract(info, ag / "source")
            mode = (info.external_attr >> 16) & 0o777
            if mode and target.is_file():
                os.chmod(target, mode)
    for file in files:
        shutil.copyfile(file, ag / "submission" / Path(file).name)
    default = {
        "id": 1, "created_at": "", "assignment": {"title": autograder_zip.stem},
        "users": [{"name": "local", "email": "", "sid": ""}]
    }
    (ag / "submission_metadata.json").write_text(json.dumps(metadata or default))
    return ag


def run_local(
    autograder_zip: str | os.PathLike[str],
    files: Sequence[str | os.PathLike[str]],
    *,
    data_root: str | os.PathLike[str] | None = None,
    python: str = sys.executable,
    keep: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> LocalRun:
    """Grade ``files`` (the submission) with the zip's ``run_autograder``; the results.

    Args:
        autograder_zip: a zip from ``dlci gradescope build``.
        files: what the student uploads (usually one notebook).
        data_root: the course data (default: ``$DLCI_DATA``, else the zip's setting).
        python: the Python with the kit installed (default: this one).
        keep: copy the autograder folder here afterwards (results, logs).
        timeout: seconds before the runner is killed.
    """
    import time

    with tempfile.TemporaryDirectory(prefix="dlci-gradescope-run-") as tmp:
        ag = layout(Path(tmp), Path(autograder_zip), [Path(f) for f in files])
        env = dict(os.environ, DLCI_AUTOGRADER_DIR=str(ag), DLCI_PYTHON=python)
        if data_root is not None:
            env[DATA_ENV_VAR] = str(Path(data_root).resolve())
        start = time.perf_counter()
        proc = subprocess.run(
            ["bash", str(ag / "source" / "run_autograder")], env=env, capture_output=True,
            text=True,
            timeout=timeout, check=False,
        )
        seconds = time.perf_counter() - start
        results_path = ag / "results" / "results.json"
        if not results_path.is_file():
            raise RuntimeError(
                f"run_autograder wrote no results.json (exit {proc.returncode}): "
                f"{proc.stderr[-2000:]}"
            )
        results = json.loads(results_path.read_text())
        if keep is not None:
            shutil.copytree(ag, keep, dirs_exist_ok=True)
        return LocalRun(results, proc.stdout + proc.stderr, proc.returncode, seconds)
