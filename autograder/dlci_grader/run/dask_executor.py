"""Grade a class on a Dask distributed cluster: the executor seam's remote executor.

:class:`DaskExecutor` has the same :meth:`run` as
:class:`~dlci_grader.run.executor.LocalExecutor`. The client (``dlci grade --cluster ...``)
turns each :class:`~dlci_grader.run.executor.Job` into a :class:`RemoteJob` (plain data: the
submission's bytes, the template's digest, the limits, the kit's version; no path of the
instructor's machine) and sends each task's template once, as a tar of a one-assignment course
(:func:`template_payload`: the source notebook and a gradebook that knows only that assignment).
A Dask worker (an ordinary ``dask worker`` process in the instructor image) runs
:func:`grade_remote`: it refuses a job from another kit version or whose template differs,
unpacks the template into its local cache by digest, and grades with the same
:func:`~dlci_grader.run.worker.run_job` as a local run (sandboxed kernel; secret inputs and
verdicts in the grader's process on that Dask worker). It returns a :class:`RemoteResult`; only
the client writes the gradebook, the CSV and the done markers.

Faults: a Dask worker that dies mid-job costs only time (Dask gives its job to another Dask
worker; the client records each job's result once). A job that takes down
``allowed-failures`` + 1 Dask workers (Dask's ``KilledWorker``) ends as a zero with the reason.
Any other cluster failure stops the run with the error: what was recorded stays, and the next
run resumes from the done markers.

A Dask scheduler runs whatever a client sends it: it must listen on a cluster-internal address
or require mutual TLS (``autograder/deploy/dask.md``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import platform
import shutil
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin

import dlci_grader
from dlci_grader.isolation.fork_server import ForkServers
from dlci_grader.isolation.limits import Limits
from dlci_grader.isolation.sandbox import support
from dlci_grader.nbgrader.course import NbgraderCourse
from dlci_grader.nbgrader.template import Template
from dlci_grader.run.job import Job, JobResult, resolve_data_root
from dlci_grader.run.worker import run_job
from dlci_grader.verdicts.records import NotebookRecord
from dlci_grader.verdicts.results import NotebookResult, NotebookStatus, zero_result

STARTED_TOPIC = "dlci-grade-started"
"""The Dask event topic a Dask worker logs a job's task key to when it starts grading it."""
CACHE_FOLDER = "dlci-templates"
"""The folder under a Dask worker's local directory holding unpacked templates, by digest."""
FORK_SERVERS = "dlci-fork-servers"
"""The name of :class:`ForkServerPlugin` on the Dask workers."""
NOTEBOOK_RESOURCE = "notebook"
"""The Dask worker resource a job asks for when every Dask worker has it
(``--resources notebook=1``)."""


class VersionSkew(RuntimeError):
    """A Dask worker runs another kit version or grader code, or holds another template, than the
    client: its scores could differ from a local run's, so the job is refused."""


@dataclass(frozen=True)
class RemoteJob:
    """One notebook to grade, as sent to a Dask worker: a :class:`Job` without the instructor's
    paths (the template travels as a payload; the Dask worker uses its own data root).

    Attributes:
        student, task, notebook, submission, template_digest, limits, grading, notes, seed: as
            in :class:`~dlci_grader.run.executor.Job`.
        kit_version: the client's ``dlci_grader.__version__``.
        grader_digest: the client's :func:`grader_digest`.
        data_root: the course data on the Dask worker (None: its ``$DLCI_DATA``, else its
            default).
    """

    student: str
    task: str
    notebook: str
    submission: bytes
    template_digest: str
    limits: Limits
    grading: bool
    notes: tuple[str, ...]
    kit_version: str
    grader_digest: str
    data_root: str | None = None
    seed: int | None = None


@dataclass(frozen=True)
class RemoteResult:
    """What a Dask worker sends back for one :class:`RemoteJob`, plain data.

    Attributes:
        result: the notebook's result (``host`` names the Dask worker: ``hostname/worker-name``).
        autograded: the autograded notebook's bytes, or None.
        host: ``hostname/worker-name`` of the Dask worker that graded it.
        kit_version: the Dask worker's ``dlci_grader.__version__``.
        sandbox: what the Dask worker's sandbox enforced (one line).
        record: the record of its judged tests (:mod:`dlci_grader.verdicts.records`), or None.
    """

    result: NotebookResult
    autograded: bytes | None
    host: str
    kit_version: str
    sandbox: str
    record: NotebookRecord | None = None


@lru_cache(maxsize=1)
def grader_digest() -> str:
    """sha256 of the grader's Python sources (relative path and bytes of every ``.py`` file):
    two installs with the same version but different code (a stale image) differ here."""
    root = Path(dlci_grader.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(
            path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0"
        )
    return digest.hexdigest()


def template_payload(template: Path, notebook: str) -> bytes:
    """A tar of a one-assignment course template: ``source/<notebook>/`` as it is in ``template``
    and a ``gradebook.db`` in which only this assignment was generated (so a Dask worker never gets
    another task's hidden tests). Built with ``nbgrader generate_assignment`` on a throw-away
    course: the same assignment, byte for byte the same source, as the local template's."""
    with NbgraderCourse.temporary() as course:
        copy = Template(course.root, notebook)
        shutil.copytree(Template(template, notebook).source_folder, copy.source_folder)
        course.generate_assignment(notebook)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            members = [course.db, *sorted(p for p in copy.source_folder.rglob("*") if p.is_file())]
            for path in members:
                info = tar.gettarinfo(str(path), path.relative_to(course.root).as_posix())
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with open(path, "rb") as f:
                    tar.addfile(info, f)
        return buffer.getvalue()


def remote_job(job: Job, data_root: str | None = None) -> RemoteJob:
    """The :class:`RemoteJob` sent for ``job``: everything but its paths."""
    return RemoteJob(
        job.student, job.task, job.notebook, job.submission, job.template_digest, job.limits,
        job.grading, job.notes, dlci_grader.__version__, grader_digest(), data_root, job.seed,
    )


def describe_worker(dask_worker: Any) -> dict[str, str]:
    """What a Dask worker runs (for the client's check before a run, ``client.run`` passes the
    worker): host, kit version, grader digest, sandbox support."""
    return {
        "host": f"{platform.node()}/{dask_worker.name}",
        "kit_version": dlci_grader.__version__,
        "grader_digest": grader_digest(),
        "sandbox": support().describe(),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_unpack_lock = threading.Lock()


def cached_template(cache: Path, digest: str, notebook: str, payload: bytes) -> Path:
    """The template for ``digest`` unpacked under ``cache`` (once per Dask worker; reused by later
    jobs and runs); :class:`VersionSkew` when its source notebook is not the one ``digest``
    names."""
    folder = cache / digest
    source = Template(folder, notebook).source
    with _unpack_lock:
        if not source.is_file() or _sha256(source) != digest:
            cache.mkdir(parents=True, exist_ok=True)
            fresh = Path(tempfile.mkdtemp(prefix=f"{digest[:12]}-", dir=cache))
            with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
                tar.extractall(fresh, filter="data")
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(fresh, folder)
    if not source.is_file() or _sha256(source) != digest:
        raise VersionSkew(
            f"template skew: the template sent for {notebook} does not hold the source notebook "
            f"with sha256 {digest[:12]}… that the client graded against"
        )
    return folder


class ForkServerPlugin(WorkerPlugin):
    """Each Dask worker's fork servers, nbgrader's and the definitions-alone run's (as a local run's
    :class:`~dlci_grader.isolation.fork_server.ForkServers`): started with the first notebook,
    stopped with the Dask worker."""

    def setup(self, worker: Any) -> None:
        self.servers = ForkServers()

    def teardown(self, worker: Any) -> None:
        self.servers.close()


def grade_remote(job: RemoteJob, template: bytes) -> RemoteResult:
    """Grade one :class:`RemoteJob` on this Dask worker with the same worker as a local run.

    Refuses (:class:`VersionSkew`) a job from another kit version or grader code. The template
    (``template``, a :func:`template_payload`) is unpacked into the Dask worker's local directory by
    digest; the job is graded in a private folder there, removed afterwards.
    """
    from distributed import get_worker


    worker = get_worker()
    host = f"{platform.node()}/{worker.name}"
    if job.kit_version != dlci_grader.__version__ or job.grader_digest != grader_digest():
        raise VersionSkew(
            f"version skew: Dask worker {host} runs dlci-autograder {dlci_grader.__version__} "
            f"(grader code {grader_digest()[:12]}…), the client {job.kit_version} "
            f"({job.grader_digest[:12]}…); "
            f"start the Dask workers from the same instructor image as the client"
        )
    key = worker.get_current_task()
    if key is not None:
        worker.log_event(STARTED_TOPIC, {"key": str(key)})
    local = Path(worker.local_directory)
    folder = cached_template(local / CACHE_FOLDER, job.template_digest, job.notebook, template)
    threads = max(1, _cores() // max(1, worker.state.nthreads))  # this worker's, not the client's
    data_root = resolve_data_root(job.data_root)
    local_job = Job(
        job.student, job.task, job.notebook, job.submission, folder, job.template_digest,
        dataclasses.replace(job.limits, threads=threads), data_root, job.grading, job.notes,
        job.seed,
    )
    (local / "dlci-work").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{job.student}-{job.task}-", dir=local / "dlci-work"))
    plugin = worker.plugins.get(FORK_SERVERS)
    servers = plugin.servers if isinstance(plugin, ForkServerPlugin) else None
    try:
        done = run_job(local_job, workdir, servers)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    done.result.host = host
    return RemoteResult(
        done.result, done.autograded, host, dlci_grader.__version__, support().describe(),
        done.record,
    )


def _cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _hold(payload: bytes) -> bytes:
    """A template payload as a Dask task's result: sent to the scheduler once, moved between
    Dask workers, recomputed from the task if every Dask worker holding it died."""
    return payload


class DaskExecutor:
    """Grades jobs on a Dask distributed cluster (same :meth:`run` as ``LocalExecutor``).

    Args:
        address: the scheduler's address (``tcp://host:8786``, ``tls://...``).
        scheduler_file: the scheduler's ``--scheduler-file`` (instead of ``address``).
        security: a ``distributed.Security`` (mutual TLS) or None.
        max_in_flight: jobs handed to the cluster at once (default: twice its Dask workers'
            threads, checked as they come and go), so a large class is never all in memory.
        data_root: the course data on the Dask workers (default: each one's ``$DLCI_DATA``).
        wait_s: how long to wait for a first worker.
    """

    shares_process = False  # its workers are other processes: each draws its own inputs

    def __init__(
        self,
        address: str | None = None,
        *,
        scheduler_file: str | os.PathLike[str] | None = None,
        security: Any = None,
        max_in_flight: int | None = None,
        data_root: str | None = None,
        wait_s: float = 120.0,
    ) -> None:
        if (address is None) == (scheduler_file is None):
            raise ValueError("give the scheduler's address or its scheduler file (one of them)")
        self.address = address
        self.scheduler_file = None if scheduler_file is None else str(scheduler_file)
        self.security = security
        self.max_in_flight = max_in_flight
        self.data_root = data_root
        self.wait_s = wait_s
        self.workers: dict[str, dict[str, str]] = {}
        """Worker address -> :func:`describe_worker`, as checked when :meth:`run` started."""

    def _connect(self) -> Any:
        from distributed import Client

        where = self.address or f"the scheduler in {self.scheduler_file}"
        try:
            client = Client(
                self.address, scheduler_file=self.scheduler_file, security=self.security,
                timeout="30s", set_as_default=False,
            )
        except (OSError, TimeoutError) as error:
            raise RuntimeError(f"cannot reach the Dask scheduler at {where}: {error}") from None
        try:
            client.wait_for_workers(1, timeout=self.wait_s)
        except TimeoutError:
            client.close()
            raise RuntimeError(
                f"no Dask worker joined the scheduler at {where} within {self.wait_s:.0f} s; start "
                f"some in the instructor image: dask worker {self.address or '--scheduler-file F'} "
                f"--nthreads 1 --resources {NOTEBOOK_RESOURCE}=1"
            ) from None
        return client

    def check_workers(self, client: Any) -> dict[str, dict[str, str]]:
        """Every connected Dask worker's :func:`describe_worker`; :class:`VersionSkew` naming the
        Dask workers whose kit or grader code differs from this client's."""
        described: dict[str, dict[str, str]] = client.run(describe_worker)
        ours = (dlci_grader.__version__, grader_digest())
        skewed = [
            f"{d['host']} ({d['kit_version']}, grader code {d['grader_digest'][:12]}…)"
            for d in described.values() if (d["kit_version"], d["grader_digest"]) != ours
        ]
        if skewed:
            raise VersionSkew(
                f"version skew: this client runs dlci-autograder {ours[0]} (grader code "
                f"{ours[1][:12]}…), these Dask workers differ: {', '.join(skewed)}; start the Dask "
                f"workers from the same instructor image as the client"
            )
        return described

    def _bound(self, client: Any) -> int:
        if self.max_in_flight:
            return max(1, self.max_in_flight)
        return max(2, 2 * sum(client.nthreads().values()))

    def run(
        self, jobs: Iterable[Job], started: Callable[[Job], None] | None = None
    ) -> Iterator[JobResult]:
        """Grade every job on the cluster; ``started(job)`` when a Dask worker begins it."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        client = self._connect()
        try:
            self.workers = self.check_workers(client)
            client.register_plugin(ForkServerPlugin(), name=FORK_SERVERS)
            resources = None
            if all(NOTEBOOK_RESOURCE in (w.get("resources") or {})
                   for w in client.scheduler_info()["workers"].values()):
                resources = {NOTEBOOK_RESOURCE: 1}
            lock = threading.Lock()
            by_key: dict[str, Job] = {}
            begun: set[str] = set()

            def begin(key: str) -> None:
                with lock:
                    job = by_key.get(key)
                    if job is None or key in begun:
                        return
                    begun.add(key)
                if started is not None:
                    started(job)

            client.subscribe_topic(STARTED_TOPIC, lambda event: begin(event[1]["key"]))
            templates: dict[str, Any] = {}
            in_flight: dict[str, Job] = {}
            queue = iter(jobs)  # taken lazily: only the jobs in flight are in memory
            finished = as_completed(loop=client.loop)
            run_id = uuid.uuid4().hex[:8]

            def submit(job: Job) -> None:
                digest = job.template_digest
                if digest not in templates:
                    templates[digest] = client.submit(
                        _hold, template_payload(job.template, job.notebook),
                        key=f"dlci-template-{job.notebook}-{digest[:12]}-{run_id}", pure=False,
                    )
                key = f"dlci-grade-{job.student}-{job.task}-{uuid.uuid4().hex[:8]}"
                with lock:
                    by_key[key] = job
                finished.add(client.submit(
                    grade_remote, remote_job(job, self.data_root), templates[digest], key=key,
                    resources=resources, pure=False,
                ))
                in_flight[key] = job

            def fill() -> None:
                while len(in_flight) < self._bound(client):
                    job = next(queue, None)
                    if job is None:
                        return
                    submit(job)

            fill()
            for future in finished:
                key = str(future.key)
                job = in_flight.pop(key)
                begin(key)  # a job that finished before its start event arrived
                try:
                    remote: RemoteResult = future.result()
                    done = JobResult(job, remote.result, remote.autograded, remote.record)
                except KilledWorker as error:
                    done = JobResult(job, _killed(job, error), None)
                except VersionSkew:
                    raise
                except Exception as error:  # noqa: BLE001 - the cluster's problem: stop, resume later
                    raise RuntimeError(
                        f"the Dask cluster failed grading {job.student}/{job.task} "
                        f"({type(error).__name__}: {error}); what is recorded stays, run again to "
                        f"grade the rest"
                    ) from error
                finally:
                    with lock:
                        by_key.pop(key, None)
                    future.release()
                fill()
                yield done
        finally:
            client.close()


def _killed(job: Job, error: Exception) -> NotebookResult:
    """A zero for a job that took down the Dask workers that ran it (Dask's ``KilledWorker``)."""
    points = job.task_template.points()
    result = zero_result(
        job.student, job.task, job.notebook, points, NotebookStatus.ERROR,
        f"every Dask worker that graded this notebook died (allowed-failures reached: killed for "
        f"memory, or crashed): {type(error).__name__}",
    )
    for note in job.notes:
        result.reason = "; ".join(filter(None, [note, result.reason]))
    return result
