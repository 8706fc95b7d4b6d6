"""``dlci grade --cluster`` on a real Dask scheduler and two real workers on 127.0.0.1.

The whole suite (every task's sample class and the adversarial suite) is graded on a cluster once
for the session (``conftest.dask_suite``; ``test_grading_paths`` compares its scores with the
local ``dlci grade``'s): here, both workers graded, and the template a worker holds is checked
for the instructor's paths. Then, in one run of a small Task 1 class (the solution, the blank
release, a wrong variant, an attack that reads secrets, and a notebook that is not JSON), a
worker is killed while it grades and the client after it (started again, nothing is graded
twice, same scores as the local run). Every process the tests start is stopped by its pid.
"""

from __future__ import annotations

import csv
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from conftest import DaskGraded, GradedClass

pytest.importorskip("distributed")
pytest.importorskip("dlci_grader")
from bench.bench_dask import LoopbackCluster  # noqa: E402
from dlci_grader.isolation.limits import Limits  # noqa: E402
from dlci_grader.nbgrader.course import Course  # noqa: E402
from dlci_grader.run.dask_executor import remote_job, template_payload  # noqa: E402
from dlci_grader.run.job import Job  # noqa: E402
from dlci_grader.samples.sample_class import sample_class, write_class  # noqa: E402
from dlci_grader.tasks import load_tasks  # noqa: E402
from dlci_grader.verdicts.results import NotebookStatus  # noqa: E402
from starter.hashing import sha256_file  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
DLCI = [sys.executable, "-m", "starter.cli"]
STUDENTS = (
    "solution", "blank", "task1-update_wrong_sign", "attack-read-secrets", "broken-invalid-json",
)
GRADED = len(STUDENTS) - 1  # the notebook that is not JSON is rejected by intake, not run


def _working(cluster: LoopbackCluster, name: str) -> bool:
    """True while worker ``name`` grades a notebook (its private folder exists)."""
    return any(p.is_dir() for p in (cluster.folder / name).glob("*/*/dlci-work/*"))


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Iterator[LoopbackCluster]:
    """A fresh scheduler and workers per test (workers started just before the client they
    serve: they load the grader code the client runs, so an edited checkout is no skew)."""
    with LoopbackCluster(tmp_path_factory.mktemp("dask"), data_root) as made:
        for name in ("w1", "w2"):
            made.add_worker(name, nanny=False)  # SIGKILL of a worker's pid is its death
        yield made


@pytest.fixture(scope="module")
def small_class(tmp_path_factory: pytest.TempPathFactory) -> Path:
    subs = [s for s in sample_class(ROOT / "solutions", ROOT / "notebooks", ["task1"], attacks=True)
            if s.student in STUDENTS]
    assert {s.student for s in subs} == set(STUDENTS)
    return write_class(tmp_path_factory.mktemp("class") / "class", subs,
                       load_tasks(ROOT / "solutions", ["task1"]))


def _grade(folder: Path, course: Path, *extra: str) -> list[str]:
    return [*DLCI, "grade", str(folder), "--course", str(course), "--tasks", "task1", "--quiet",
            *extra]


def _scores(course: Path) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(student, task, question) -> (points, status) from the course's grades.csv."""
    with open(course / "grades.csv", newline="") as f:
        return {(r["student"], r["task"], r["question"]): (r["points"], r["status"])
                for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def local_scores(task1_class: GradedClass, attack_class: GradedClass) -> dict:
    """The same notebooks as graded locally by ``dlci grade --workers 2``: the session's graded
    Task 1 sample class and adversarial suite (conftest), which hold every one of STUDENTS."""
    for graded in (task1_class, attack_class):
        assert graded.run.returncode == 0, graded.run.stdout + graded.run.stderr
    scores = {**_scores(task1_class.course), **_scores(attack_class.course)}
    local = {key: value for key, value in scores.items()
             if key[0] in STUDENTS and key[1] == "task1"}
    assert {student for student, _, _ in local} == set(STUDENTS)
    return local


def test_the_suite_on_the_cluster_was_graded_by_both_workers_from_templates_alone(
    dask_suite: DaskGraded,
):
    """The session's run of the whole suite on the cluster (``conftest.dask_suite``; its scores
    are compared with the local run's in ``test_grading_paths``): both workers graded, each
    notebook names the worker that graded it, and what the workers were sent is one template per
    assignment, holding no path of the instructor's machine."""
    run, course = dask_suite.graded.run, dask_suite.graded.course
    assert run.returncode == 0, run.stdout + run.stderr
    used = re.search(r"graded by: (.*)", run.stderr)
    assert used and "/w1 " in used.group(1) and "/w2 " in used.group(1), run.stderr
    results = Course(course).results()
    graded = [r for r in results if r.status is not NotebookStatus.REJECTED]
    assert all(re.fullmatch(r".+/w[12]", r.host) for r in graded), [
        (r.student, r.host) for r in graded
    ]
    tasks = load_tasks(ROOT / "solutions")
    for name in ("w1", "w2"):
        cached = list((dask_suite.templates / name).glob("*"))
        assert 1 <= len(cached) <= len(tasks), cached
        for template in cached:
            files = sorted(p.relative_to(template).as_posix()
                           for p in template.rglob("*") if p.is_file())
            assert files in ([
                "gradebook.db", f"source/{t.notebook}/{t.notebook}.ipynb"
            ] for t in tasks.values()), files
            for path in template.rglob("*"):
                if path.is_file():
                    assert str(course).encode() not in path.read_bytes()
                    assert str(ROOT).encode() not in path.read_bytes()


def test_killed_worker_then_killed_client_cost_only_time(
    cluster, small_class, local_scores, tmp_path
):
    """SIGKILL worker w2 while it grades a notebook (Dask gives the notebook to w1), then SIGKILL
    the client once a notebook is graded; the client started again on the one worker left grades
    only what is not done: the scores are a local run's, each notebook graded once.

    One run for both deaths: each costs a class run on the cluster, the suite's time."""
    course = tmp_path / "course"
    args = _grade(small_class, course, "--cluster", cluster.address)
    log = tmp_path / "first.log"
    with open(log, "wb") as out:
        first = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not _working(cluster, "w2") and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.1)
    assert _working(cluster, "w2"), "worker w2 never started a notebook"
    os.kill(cluster.workers["w2"].pid, signal.SIGKILL)
    cluster.workers["w2"].wait()
    markers = course / ".dlci" / "done"
    # the rejected notebook is marked at once: wait for one that the worker left graded
    while (len(list(markers.glob("*/*.json"))) < 2 and time.monotonic() < deadline
           and first.poll() is None):
        time.sleep(0.2)
    assert first.poll() is None, log.read_text(errors="replace")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    done_before = {p.parent.name for p in markers.glob("*/*.json")}
    assert 2 <= len(done_before) < len(STUDENTS), done_before
    second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 0, second.stdout + second.stderr
    m = re.search(r"graded (\d+) notebooks .* skipped (\d+) already graded", second.stdout)
    assert m, second.stdout
    assert (int(m.group(1)), int(m.group(2))) == (
        len(STUDENTS) - len(done_before), len(done_before)
    )
    assert _scores(course) == local_scores
    assert len(Course(course).results()) == len(STUDENTS)


def test_payload_holds_one_assignment_and_no_course_path(tmp_path):
    """What a worker is sent for a course of two tasks: the task's source and a gradebook that
    knows only its assignment; the job itself names no path of this machine."""
    course = Course(tmp_path / "course")
    tasks = load_tasks(ROOT / "solutions", ["task1", "task2"])
    course.prepare(tasks)
    notebook = tasks["task1"].notebook
    payload = template_payload(course.template, notebook)
    with tarfile.open(fileobj=BytesIO(payload)) as tar:
        names = sorted(tar.getnames())
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert names == ["gradebook.db", f"source/{notebook}/{notebook}.ipynb"]
    db = sqlite3.connect(tmp_path / "unpacked" / "gradebook.db")
    try:
        assert db.execute("select name from assignment").fetchall() == [(notebook,)]
    finally:
        db.close()
    other_nb = tasks["task2"].notebook
    other = (course.template / "source" / other_nb / f"{other_nb}.ipynb").read_bytes()
    assert other[-2000:] not in payload and str(tmp_path).encode() not in payload
    digest = sha256_file(course.source_path(notebook))
    assert sha256_file(tmp_path / "unpacked" / "source" / notebook / f"{notebook}.ipynb") == digest
    job = Job("jane", "task1", notebook, b"{}", course.template, digest, Limits(),
              Path("/data/secret-root"))
    sent = pickle.dumps(remote_job(job))
    assert str(tmp_path).encode() not in sent and b"secret-root" not in sent


def test_a_worker_refuses_another_kit_and_a_template_that_is_not_the_digest_s(cluster, tmp_path):
    """Version skew, on a real worker: a job from another kit version is refused before anything
    is graded, naming the worker; a template whose notebook is not the digest's is refused."""
    from distributed import Client

    from dlci_grader.run.dask_executor import (
        RemoteJob,
        VersionSkew,
        cached_template,
        grade_remote,
        grader_digest,
    )

    course = Course(tmp_path / "course")
    tasks = load_tasks(ROOT / "solutions", ["task1"])
    course.prepare(tasks)
    notebook = tasks["task1"].notebook
    payload = template_payload(course.template, notebook)
    digest = sha256_file(course.source_path(notebook))
    job = RemoteJob("jane", "task1", notebook, b"{}", digest, Limits(), True, (), "0.0.0-other",
                    grader_digest())
    with Client(cluster.address, timeout=60) as client:
        future = client.submit(grade_remote, job, payload, pure=False)
        with pytest.raises(VersionSkew,
                           match=r"version skew: Dask worker .+/w[12] runs dlci-autograder"):
            future.result(timeout=120)
    assert not list(cluster.folder.glob("w*/*/dlci-work/*")), "a refused job must not be graded"
    with pytest.raises(VersionSkew, match="template skew"):
        cached_template(tmp_path / "cache", "0" * 64, notebook, payload)
