"""Verdicts outside the student's process and the kernel sandbox, piece by piece.

The end-to-end proof is ``tests/test_attacks.py``; here each mechanism on its own: the answer
channel (what counts as an answer, what does not), secret-seeded inputs, held-out digits kept
from the kernel's data, and what the sandbox lets a process read, write and connect to.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

pytest.importorskip("dlci_grader")
from dlci_grader.isolation.sandbox import default_read_paths, support  # noqa: E402
from dlci_grader.kernel import answers  # noqa: E402
from dlci_grader.tasks import judged_tests  # noqa: E402
from dlci_grader.tasks.contract import Context  # noqa: E402
from dlci_grader.tasks.task1 import checks  # noqa: E402
from dlci_grader.verdicts import judging as verify  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1]


def _cell(test: str, *records: object, error: bool = False) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("")
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": test, "points": 1}
    cell.outputs = [nbformat.v4.new_output("display_data", data={answers.MIME: r}) for r in records]
    if error:
        cell.outputs.append(
            nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])
        )
    return cell


def _right_relu(cases: list[dict]) -> list[dict]:
    return [{"grad_x": c["grad_output"] * (c["x"] > 0),
             "autograd_grad_x": c["grad_output"] * (c["x"] > 0)}
            for c in cases]


@pytest.fixture
def channel(tmp_path) -> verify.Channel:
    return verify.prepare("task1", tmp_path / "grader", seed=7)


def _record(channel: verify.Channel, test: str, items: list[dict], **changes) -> dict:
    return {"task": "task1", "test": test, "nonce": channel.nonce, "npz": answers.encode(items),
            **changes}


def test_right_answers_pass_and_wrong_ones_fail_with_the_hint(channel):
    cases = channel.cases["test_relu_hidden"]
    assert verify.judge_cell(channel, "test_relu_hidden", _cell("test_relu_hidden", _record(
        channel, "test_relu_hidden", _right_relu(cases)))).passed
    wrong = [{"grad_x": c["grad_output"] * (c["x"] < 0), "autograd_grad_x": c["grad_output"]}
             for c in cases]
    verdict = verify.judge_cell(channel, "test_relu_hidden", _cell("test_relu_hidden", _record(
        channel, "test_relu_hidden", wrong)))
    assert not verdict.passed and "mask is on the wrong side" in verdict.reason


def test_what_does_not_count_as_an_answer(channel):
    test = "test_relu_hidden"
    right = _right_relu(channel.cases[test])
    bad = {
        "no answer": _cell(test),
        "two answers": _cell(test, _record(channel, test, right), _record(channel, test, right)),
        "another run's nonce": _cell(test, _record(channel, test, right, nonce="0" * 32)),
        "another test's answer": _cell(test, _record(channel, "test_relu", right)),
        "not base64 npz": _cell(test, _record(channel, test, right, npz="not an npz")),
        "wrong number of cases": _cell(test, _record(channel, test, right[:1])),
    }
    for what, cell in bad.items():
        verdict = verify.judge_cell(channel, test, cell)
        assert not verdict.passed, what


def test_pickled_objects_are_never_loaded(channel):
    buffer = io.BytesIO()
    np.savez(buffer, **{"count": np.array(1), "0/grad_x": np.array([object()], dtype=object)})
    import base64

    record = _record(channel, "test_relu_hidden", [],
                     npz=base64.b64encode(buffer.getvalue()).decode())
    verdict = verify.judge_cell(channel, "test_relu_hidden", _cell("test_relu_hidden", record))
    assert not verdict.passed and "could not be read" in verdict.reason


def test_tensor_subclasses_arrive_as_plain_numbers():
    torch = pytest.importorskip("torch")

    class AlwaysTrue(torch.Tensor):
        def __eq__(self, other):
            return True

    items = answers.decode(answers.encode([{"g": torch.ones(3).as_subclass(AlwaysTrue)}]))
    assert type(items[0]["g"]) is np.ndarray and items[0]["g"].tolist() == [1.0, 1.0, 1.0]


def test_answers_outside_the_test_cell_are_ignored(channel):
    test = "test_relu_hidden"
    notebook = nbformat.v4.new_notebook()
    forged = nbformat.v4.new_code_cell("")
    forged.outputs = [nbformat.v4.new_output("display_data", data={answers.MIME: _record(
        channel, test, _right_relu(channel.cases[test]))})]
    notebook.cells = [forged, _cell(test, error=True)]
    verdicts = verify.verify(channel, notebook)
    assert not verdicts[test].passed and not verdicts[test].answered


def test_inputs_come_from_a_secret_seed_and_hide_the_targets(tmp_path):
    a = verify.prepare("task1", tmp_path / "a")
    b = verify.prepare("task1", tmp_path / "b")
    assert a.nonce != b.nonce
    xa, xb = (answers.read_cases(c.folder / "cases" / "task1" / "test_linear_hidden.npz")[0]["x"]
              for c in (a, b))
    assert xa.shape != xb.shape or not np.array_equal(xa, xb)
    same = verify.prepare("task1", tmp_path / "c", seed=7)
    again = verify.prepare("task1", tmp_path / "d", seed=7)
    assert np.array_equal(same.cases["test_sgd_hidden"][0]["p0"],
                          again.cases["test_sgd_hidden"][0]["p0"])
    for path in (tmp_path / "a" / "cases").rglob("*.npz"):
        assert not any(k.startswith("_") for case in answers.read_cases(path) for k in case), path
    assert set(judged_tests("task1")) == {
        f"test_{n}{h}"
        for n in ("linear", "relu", "network", "analytic", "sgd", "training")
        for h in ("", "_hidden")
    }


@pytest.mark.realdata
def test_the_kernel_never_gets_the_held_out_digits(tmp_path, data_root):
    channel = verify.prepare("task1", tmp_path / "grader", data_root, seed=11)
    assert channel.kernel_data_root is not None
    assert channel.kernel_data_root.is_relative_to(channel.folder)
    from starter.data import MNISTDigits

    kernel = MNISTDigits(channel.kernel_data_root, split="test").images.numpy().reshape(-1, 784)
    full = MNISTDigits(data_root, split="test").images.numpy().reshape(-1, 784)
    held = checks.heldout_indices(len(full), 11)
    assert len(kernel) == len(full) - len(held) == len(full) - checks.HELDOUT_DIGITS
    on_disk = {row.tobytes() for row in kernel}
    target = channel.cases["test_training_hidden"][0]["_target"]
    assert target.shape == (checks.HELDOUT_DIGITS, 784)
    assert sum(row.tobytes() in on_disk for row in full[held]) <= 5  # MNIST has a few duplicates


def test_local_mode_judges_in_the_kernel(monkeypatch):
    monkeypatch.delenv(answers.ENV, raising=False)
    cases = answers.cases("task1", "test_relu_hidden")
    answers.submit("task1", "test_relu_hidden", _right_relu(cases))
    with pytest.raises(AssertionError, match="wrong side"):
        answers.submit("task1", "test_relu_hidden", [
            {"grad_x": c["grad_output"] * (c["x"] < 0), "autograd_grad_x": c["grad_output"]}
            for c in cases])
    ctx = Context(None, answers.LOCAL_SEED, held_out=False)
    assert len(judged_tests("task1")["test_linear"].make(np.random.default_rng(0), ctx)) == 4


# --- the sandbox ------------------------------------------------------------------------------

SUPPORT = support()


def _sandboxed(code: str, tmp_path: Path, write: list[str]) -> str:
    read = default_read_paths(None)
    args = [sys.executable, "-m", "dlci_grader.isolation.sandbox",
            *[a for p in read for a in ("--read", p)],
            *[a for p in write for a in ("--write", p)], "--nproc", "64", "--fsize", str(2**20),
            "--", sys.executable, "-c", textwrap.dedent(code)]
    run = subprocess.run(args, capture_output=True, text=True, cwd=write[0], timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.skipif(not SUPPORT.files, reason=SUPPORT.describe())
def test_sandbox_reads_and_writes_only_where_allowed(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hidden test")
    work = tmp_path / "work"
    work.mkdir()
    out = _sandboxed(f"""
        import os
        def t(what, f):
            try:
                f(); print(what, "ok")
            except OSError as e:
                print(what, "denied", e.errno)
        t("read secret", lambda: open({str(secret)!r}).read())
        t("write secret", lambda: open({str(secret)!r}, "w").write("x"))
        t("write work", lambda: open("out.txt", "w").write("x"))
        t("big file", lambda: open("big.bin", "wb").write(b"0" * 2**21))
        t("import torch", lambda: __import__("torch"))
        t("grader checks", lambda: __import__("dlci_grader.tasks.task1.checks"))
        t("grader answers", lambda: __import__("dlci_grader.kernel.answers"))
        t("grader harness", lambda: __import__("dlci_grader.kernel.task1"))
        t("grader registry", lambda: __import__("dlci_grader.tasks"))
        t("grader judging", lambda: __import__("dlci_grader.verdicts.judging"))
        """, tmp_path, [str(work)])
    assert "read secret denied" in out and "write secret denied" in out
    assert "write work ok" in out and "import torch ok" in out and "grader answers ok" in out
    assert "grader harness ok" in out
    # the kernel reads one folder of the grader (dlci_grader/kernel/), nothing else of it
    assert "grader checks denied" in out and "grader registry denied" in out
    assert "grader judging denied" in out
    assert "big file denied" in out  # RLIMIT_FSIZE, 1 MiB here
    assert secret.read_text() == "hidden test"


@pytest.mark.skipif(not SUPPORT.network, reason=SUPPORT.describe())
def test_sandbox_allows_no_tcp_connection(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    out = _sandboxed(f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=5); print("connected")
        except OSError as e:
            print("denied", e.errno)
        """, tmp_path, [str(tmp_path)])
    server.close()
    assert out.startswith("denied"), out


@pytest.mark.skipif(not SUPPORT.signals, reason=SUPPORT.describe())
def test_sandbox_cannot_signal_the_grader(tmp_path):
    out = _sandboxed(f"""
        import os, signal
        try:
            os.kill({os.getpid()}, signal.SIGTERM); print("sent")
        except OSError as e:
            print("denied", e.errno)
        """, tmp_path, [str(tmp_path)])
    assert out.startswith("denied"), out


def test_an_installed_grader_package_is_left_out_of_the_readable_packages(tmp_path, monkeypatch):
    """Installed (not editable), dlci_grader sits in site-packages, which the kernel reads:
    site-packages is then granted entry by entry, without the package."""
    import dlci_grader.isolation.sandbox as sandbox

    site = tmp_path / "venv" / "lib" / "site-packages"
    for sub in ("torch", "numpy", "dlci_grader/tasks/task1", "dlci_grader/kernel"):
        (site / sub).mkdir(parents=True)
    (site / "six.py").write_text("")
    monkeypatch.setattr(sandbox, "GRADER_PACKAGE", site / "dlci_grader")
    granted = {Path(p).relative_to(tmp_path)
               for p in sandbox._around(str(site), [str(tmp_path / "venv")])}
    base = Path("venv/lib/site-packages")
    assert granted == {base / "torch", base / "numpy", base / "six.py"}


@pytest.mark.realdata
@pytest.mark.task3
def test_task3_methods_gain_a_dB_margin_on_the_graders_images(data_root):
    """The visible methods test's outside verdict (gain > 1 dB on images no file holds) leaves the
    reference methods at least 1 dB of margin, whatever the secret seed (5 seeds here, 40 in the
    calibration quoted in ``checks.task3.GAIN_DB``)."""
    import zlib

    torch = pytest.importorskip("torch")
    from dlci_grader.tasks.task3 import checks as task3
    from dlci_grader.tasks.task3.reference import wiener_deconv
    from starter.kernels import task3_kernel
    from starter.metrics import psnr
    from starter.pretrained import load_models

    models, kernel = load_models("cpu"), task3_kernel()
    for seed in range(5):
        rng = np.random.default_rng([seed, zlib.crc32(b"test_methods")])
        (case,) = task3._methods_make(rng, Context(str(data_root), seed))
        y, clean = torch.from_numpy(case["y"]), torch.from_numpy(case["_clean"])
        with torch.no_grad():
            outputs = [wiener_deconv(y, kernel, snr=100.0), models.deblur_denoise(y),
                       models.wiener_denoise(wiener_deconv(y, kernel, snr=100.0))]
        gains = [psnr(o, clean).item() - psnr(y, clean).item() for o in outputs]
        assert min(gains) > task3.GAIN_DB + 1.0, (seed, gains)


def _pids_hierarchy() -> object:
    from dlci_grader.isolation.limits import pids_hierarchy

    return pids_hierarchy()


@pytest.mark.skipif(_pids_hierarchy() is None,
                    reason="needs root and a writable pids cgroup hierarchy")
def test_a_pids_cgroup_caps_processes_and_kills_what_escaped():
    """As root, a worker's cgroup stops a fork bomb, and the grader kills a daemon that left
    the process tree (a new session, orphaned) when it releases the cgroup."""
    import psutil

    from dlci_grader.isolation.limits import release_cgroup, wrap

    code = textwrap.dedent("""
        import os, subprocess, time
        daemon = subprocess.Popen(["sleep", "120"], start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(daemon.pid, flush=True)
        children = []
        try:
            for _ in range(100):
                pid = os.fork()
                if pid == 0:
                    time.sleep(20)
                    os._exit(0)
                children.append(pid)
        except OSError:
            pass
        print(len(children), flush=True)
        for pid in children:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        """)
    proc = subprocess.Popen(wrap([sys.executable, "-c", code], None, max_pids=30),
                            stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=120)
        daemon, forked = (int(x) for x in out.split())
        assert forked < 30, f"{forked} processes started under a cap of 30"
        assert psutil.pid_exists(daemon), "the escaped daemon should still run before the release"
    finally:
        killed = release_cgroup(proc.pid)
    assert killed >= 1
    assert not psutil.pid_exists(daemon) or psutil.Process(daemon).status() == psutil.STATUS_ZOMBIE
