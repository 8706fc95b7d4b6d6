"""The student's kernel forked warm from nbgrader's process (dlci_grader.isolation.warm_kernel):
the same sandbox, nothing of nbgrader's process reachable, interrupted at a cell's timeout, and
started the usual way wherever the process holds the grader's judging code."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dlci_grader.isolation import sandbox
from dlci_grader.isolation.sandbox import default_read_paths, support
from dlci_grader.isolation.warm_kernel import clean, plan

SUPPORT = support()

# nbgrader's process as the autograde server makes it: PyTorch imported, a file of the grader's
# open (the gradebook, say), then a notebook run through the worker's kernel manager.
_GRADER = """
import json, os, sys
import nbformat, torch
from nbclient import NotebookClient
{extra}
from dlci_grader.isolation.warm_kernel import WarmKernelManager, clean
held = os.open({secret!r}, os.O_RDONLY)
probe = '''
import json, os, sys
seen = {{"ppid": os.getppid(), "warm": "torch" in sys.modules, "cwd": os.getcwd(),
        "name": open("/proc/self/comm").read().strip()}}
try:
    seen["leaked"] = os.fstat(%d).st_ino == %d  # the grader's open file, still open here
except OSError:
    seen["leaked"] = False
try:
    open({secret!r}).read(); seen["secret"] = "read"
except OSError:
    seen["secret"] = "denied"
open("out.txt", "w").write("written")
print(json.dumps(seen))
''' % (held, os.fstat(held).st_ino)
nb = nbformat.v4.new_notebook(cells=[
    nbformat.v4.new_code_cell(probe),
    nbformat.v4.new_code_cell("import time\\nwhile True: time.sleep(0.1)"),
    nbformat.v4.new_code_cell("print('after the timeout')"),
])
client = NotebookClient(nb, kernel_name="dlci-sandbox", kernel_manager_class=WarmKernelManager,
                        resources={{"metadata": {{"path": {work!r}}}}}, timeout=3,
                        interrupt_on_timeout=True, allow_errors=True, shutdown_kernel="immediate")
client.execute()
print(json.dumps({{"clean": clean(), "pid": os.getpid(),
                  "cells": [[o.get("text", o.get("ename", "")) for o in c.outputs]
                            for c in nb.cells]}}))
"""


def _grade(tmp_path: Path, extra: str = "") -> tuple[dict, dict]:
    secret = tmp_path / "gradebook.db"
    secret.write_text("scores")
    work = tmp_path / "work"
    work.mkdir()
    specs = tmp_path / "specs"
    sandbox.kernelspec(specs, default_read_paths(None), [str(work)], {}, 64, 2**20)
    script = _GRADER.format(extra=extra, secret=str(secret), work=str(work))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env={**_env(), "JUPYTER_PATH": str(specs)})
    assert run.returncode == 0, run.stderr
    grader = json.loads(run.stdout.strip().splitlines()[-1])
    kernel = json.loads(grader["cells"][0][0])
    return grader, kernel


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "JUPYTER_PATH"}


@pytest.mark.skipif(not SUPPORT.files, reason=SUPPORT.describe())
def test_the_forked_kernel_is_sandboxed_and_holds_nothing_of_nbgraders(tmp_path):
    grader, kernel = _grade(tmp_path)
    assert grader["clean"]
    assert kernel["warm"], "the kernel was started, not forked: PyTorch was not imported in it"
    assert kernel["ppid"] == grader["pid"] and kernel["name"] == "ipykernel"
    assert not kernel["leaked"], "the grader's open file reached the kernel"
    assert kernel["secret"] == "denied", "the forked kernel is outside the sandbox"
    assert Path(kernel["cwd"]) == tmp_path / "work"
    assert (tmp_path / "work" / "out.txt").read_text() == "written"
    # the timeout's interrupt reaches it, and the next cell runs
    assert grader["cells"][1] == ["KeyboardInterrupt"]
    assert grader["cells"][2] == ["after the timeout\n"]


@pytest.mark.skipif(not SUPPORT.files, reason=SUPPORT.describe())
def test_a_process_with_the_graders_judging_code_starts_its_kernel_as_usual(tmp_path):
    grader, kernel = _grade(tmp_path, extra="import dlci_grader.verdicts.judging")
    assert not grader["clean"]
    assert not kernel["warm"] and kernel["secret"] == "denied"
    assert grader["cells"][1] == ["KeyboardInterrupt"]
    assert not kernel["leaked"]
    assert grader["cells"][2] == ["after the timeout\n"]


def test_what_may_be_forked():
    assert clean({"dlci_grader": 0, "dlci_grader.kernel.answers": 0, "torch": 0,
                  "dlci_grader.nbgrader.execute": 0, "dlci_grader.isolation.sandbox": 0})
    for judging in ("dlci_grader.verdicts.judging", "dlci_grader.tasks", "dlci_grader.run.worker",
                    "dlci_grader.kernelx"):
        assert not clean({"dlci_grader": 0, judging: 0}), judging
    python = sys.executable
    kernel = [python, "-m", "ipykernel_launcher", "-f", "k.json"]
    assert plan(kernel) == (None, ["-f", "k.json"])
    sandboxed = sandbox.command(["/usr"], ["/tmp/w"], 8, 100, kernel, connection_file="k.json")
    launch, arguments = plan(sandboxed) or (None, [])
    assert launch is not None and launch.read == ("/usr",) and launch.write == ("/tmp/w",)
    assert (launch.nproc, launch.fsize, arguments) == (8, 100, ["-f", "k.json"])
    for other in ([python, "-m", "other_kernel", "-f", "k.json"],
                  ["/bin/sh", "-m", "ipykernel_launcher", "-f", "k.json"],
                  sandbox.command([], [], None, None, ["/bin/sh", "-c", "true"])):
        assert plan(other) is None, other


def test_a_forked_kernel_reaped_elsewhere_counts_as_ended():
    import os

    from dlci_grader.isolation.warm_kernel import _Forked

    pid = os.fork()
    if pid == 0:
        os._exit(3)
    os.waitpid(pid, 0)  # reaped here, not by the provisioner
    gone = _Forked(pid)
    assert gone.poll() == 0 and gone.wait() == 0
    child = os.fork()
    if child == 0:
        os._exit(3)
    assert _Forked(child).wait() == 3


def test_the_autograde_server_preloads_the_kernels_modules():
    code = textwrap.dedent("""
        import sys
        from dlci_grader.nbgrader import autograde_server
        autograde_server._preload()
        from dlci_grader.isolation.warm_kernel import WARM_MODULES, clean
        print(all(m in sys.modules for m in WARM_MODULES), clean())
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.stdout.split() == ["True", "True"], run.stderr


_ORPHAN = """
import os, sys, time
import torch
from jupyter_client.manager import run_sync
from dlci_grader.isolation.warm_kernel import WarmKernelManager
km = WarmKernelManager(kernel_name="dlci-sandbox")
run_sync(km.start_kernel)(cwd={work!r})
print(km.provisioner.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not SUPPORT.files, reason=SUPPORT.describe())
def test_the_forked_kernel_dies_with_nbgraders_process(tmp_path):
    import os
    import signal
    import time

    import psutil

    work = tmp_path / "work"
    work.mkdir()
    specs = tmp_path / "specs"
    sandbox.kernelspec(specs, default_read_paths(None), [str(work)], {}, 64, 2**20)
    nbgrader = subprocess.Popen([sys.executable, "-c", _ORPHAN.format(work=str(work))],
                                stdout=subprocess.PIPE, text=True,
                                env={**_env(), "JUPYTER_PATH": str(specs)})
    assert nbgrader.stdout is not None
    kernel = psutil.Process(int(nbgrader.stdout.readline()))
    assert kernel.name() == "ipykernel" and kernel.ppid() == nbgrader.pid
    os.kill(nbgrader.pid, signal.SIGKILL)
    nbgrader.wait()
    deadline = time.monotonic() + 10
    while kernel.is_running() and kernel.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the kernel outlived nbgrader's process"
        time.sleep(0.1)
