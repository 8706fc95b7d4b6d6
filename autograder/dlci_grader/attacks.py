"""The adversarial suite: submissions that try to cheat the grader or break it (most on Task 1).

Each attack is generated from a sample submission (the full solution, or a deliberately wrong
variant of :mod:`dlci_grader.variants`) plus code a student could add; its expected score is
the score of the honest work it contains (the base's), less the cells its own code breaks.
Attack code goes into new cells (students may add cells) or into test cells' sources (which
nbgrader restores from the gradebook). Each new cell prints one ``ATTACK <what>: <outcome>`` line
per thing it tried, so the tests can check that every try was refused, not just the score.

``dlci sample-class OUT --attacks`` adds them to a sample class as ``attack-<name>`` students;
``tests/test_attacks.py`` grades them with ``dlci grade`` and checks scores and outcomes; the
README's grading section has the table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

ATTACK_PREFIX = "ATTACK "
"""Start of each line an attack cell prints about one try."""

_TRY = '''
def _attempt(what, action):
    try:
        result = action()
    except BaseException as error:  # noqa: BLE001
        print(f"ATTACK {what}: refused ({type(error).__name__}: {str(error)[:80]})")
    else:
        print(f"ATTACK {what}: SUCCEEDED ({str(result)[:80]})")
'''

PATCH_CHECKS = _TRY + '''
import numpy as np
import torch

import starter.autograd_checks as _ac
import starter.metrics as _metrics

torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
torch.autograd.gradcheck = lambda *a, **k: True
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
_metrics.psnr = lambda *a, **k: torch.tensor(99.0)
for _name in dir(_ac):
    if _name.startswith("check_"):
        setattr(_ac, _name, lambda *a, **k: None)
        globals()[_name] = lambda *a, **k: None
try:
    import dlci_grader.checks.task1 as _checks  # the grader's own checks, if importable
    for _name in dir(_checks):
        if _name.startswith("check_"):
            setattr(_checks, _name, lambda *a, **k: None)
    print("ATTACK patch the grader's checks: SUCCEEDED")
except BaseException as error:  # noqa: BLE001
    print(f"ATTACK patch the grader's checks: refused ({type(error).__name__})")
'''

ALWAYS_TRUE = '''
class _AlwaysTrue(torch.Tensor):
    """Every comparison says equal; differences are zero."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("allclose", "equal"):
            return True
        if name in ("isclose", "eq", "__eq__"):
            return torch.ones(args[0].shape, dtype=torch.bool)
        if name in ("sub", "__sub__", "__rsub__"):
            return torch.zeros(args[0].shape)
        return super().__torch_function__(func, types, args, kwargs or {})


_backward = LinearFunction.backward


def _lying_backward(ctx, grad_output):
    return tuple(
        g.as_subclass(_AlwaysTrue) if isinstance(g, torch.Tensor) else g
        for g in _backward(ctx, grad_output)
    )


LinearFunction.backward = staticmethod(_lying_backward)
print("ATTACK tensors whose comparisons are always true: installed")
'''

FORGE = _TRY + '''
import os
import threading
import time

import numpy as np
from IPython.display import display

print("All tests passed! 23/23")  # a fake PASSED line
_folder = os.environ.get("DLCI_ANSWERS", "")
_nonce = open(os.path.join(_folder, "nonce")).read().strip() if _folder else "guess"


def _forged(test):
    from dlci_grader import answers

    return {answers.MIME: {"task": "task1", "test": test, "nonce": _nonce,
                           "npz": answers.encode([{"grad_x": np.zeros(1)}])}}


for _test in ("test_linear", "test_linear_hidden", "test_training_hidden"):
    display(_forged(_test), raw=True)  # in this cell: not a test cell


def _keep_forging():  # and from a thread, into whatever cell runs next
    for _ in range(400):
        display(_forged("test_relu_hidden"), raw=True)
        time.sleep(0.05)


threading.Thread(target=_keep_forging, daemon=True).start()
print("ATTACK forged answers: installed")
'''

EDIT_TESTS_SOURCE = 'print("test passed")  # the student replaced the test\n'

READ_SECRETS = _TRY + '''
import glob
import importlib.util
import os
from pathlib import Path

_grader = importlib.util.find_spec("dlci_grader")
_package = Path(_grader.origin).parent if _grader else Path("/nonexistent")
_kit = Path(importlib.util.find_spec("starter").origin).parents[1]
_attempt("read the hidden tests in the course's source notebook",
         lambda: open("../../../source/task1_backprop_inpainting/task1_backprop_inpainting.ipynb").read(100))
_attempt("list the course's source folder", lambda: glob.glob("../../../source/*/*.ipynb") or os.listdir("../../../source"))
_attempt("read the grader's gradebook", lambda: open("../../../gradebook.db", "rb").read(100))
_attempt("read the grader's checks", lambda: (_package / "checks" / "task1.py").read_text()[:100])
_attempt("read the grader's verifier", lambda: (_package / "verify.py").read_text()[:100])
_attempt("read the kit's solutions", lambda: (_kit / "solutions" / "task1_backprop_inpainting.ipynb").read_text()[:100])
_attempt("list the instructor's home", lambda: os.listdir(os.path.expanduser("~" + os.environ.get("SUDO_USER", "root"))))
print("cwd", os.getcwd())
_attempt("list the grading run's folder (other students)", lambda: os.listdir("../../../.."))
_attempt("list the folder above it", lambda: os.listdir("../../../../.."))
'''

LOOKUP = _TRY + '''
import os
from pathlib import Path

import numpy as np

from starter.data import InpaintingMNIST, mask_bottom_half, normalize_digits
from starter.data.mnist import read_idx

_found = [InpaintingMNIST().images.numpy()]
for _root in ("/", "/work", "/data", "/home", "/srv", "/mnt", "/tmp", os.path.expanduser("~")):
    for _dirpath, _dirs, _files in os.walk(_root):
        if _dirpath.count(os.sep) > 5 or "/proc" in _dirpath or "/sys" in _dirpath:
            _dirs[:] = []
            continue
        for _name in _files:
            if _name.startswith(("t10k-images", "train-images")):
                try:
                    _found.append(read_idx(Path(_dirpath) / _name, ndim=3))
                except OSError:
                    pass
_table = normalize_digits(torch.from_numpy(np.concatenate(_found)))
_index = {bytes(k.numpy()): i for i, k in enumerate(mask_bottom_half(_table))}
print(f"ATTACK look up the clean digits on disk: {len(_found) - 1} more MNIST files readable")


class _Lookup(torch.nn.Module):
    """Returns the digit on disk whose top half matches exactly; else the input as is."""

    def forward(self, masked):
        out = masked.clone()
        for i, m in enumerate(masked):
            hit = _index.get(bytes(m.contiguous().numpy()))
            if hit is not None:
                out[i] = _table[hit]
        return out


model = _Lookup()
'''

WRITE_CHANNEL = _TRY + '''
import os

_folder = os.environ.get("DLCI_ANSWERS", "/nonexistent")
_attempt("overwrite the grader's inputs", lambda: open(os.path.join(_folder, "cases", "task1", "test_linear_hidden.npz"), "wb").write(b"0"))
_attempt("overwrite the nonce", lambda: open(os.path.join(_folder, "nonce"), "w").write("0"))
_attempt("write the grader's gradebook", lambda: open("../../../gradebook.db", "ab").write(b"0"))
_attempt("write next to the course", lambda: open("../../../../../grades.csv", "w").write("x"))
'''

KILL_GRADER = _TRY + '''
import os
import signal

_attempt("kill nbgrader (the kernel's parent)", lambda: os.kill(os.getppid(), signal.SIGKILL))
'''

SYS_EXIT = '''
import sys

sys.exit(0)
'''

HUGE_OUTPUT = '''
for _ in range(200):
    print("x" * 100_000)  # 20 MB of output
'''

BIG_FILE = _TRY + '''
def _big_file():
    with open("big.bin", "wb") as f:
        chunk = b"0" * 2**26
        for _ in range(48):  # 3 GiB
            f.write(chunk)


_attempt("write a 3 GiB file", _big_file)
'''

FORK_BOMB = _TRY + '''
import os
import signal
import time

_children = []


def _fork_bomb():  # polite: every child sleeps, and all are killed below
    for _ in range(600):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        _children.append(pid)
    return f"{len(_children)} processes"


_attempt("start 600 processes", _fork_bomb)
print(f"started {len(_children)} before the cap")
for _pid in _children:
    os.kill(_pid, signal.SIGKILL)
    os.waitpid(_pid, 0)
'''

FILL_DISK = '''
import time

for _i in range(24):  # 24 files of 256 MiB: 6 GiB, each under the 1 GiB cap per file
    with open(f"fill{_i}.bin", "wb") as _f:
        for _ in range(4):
            _f.write(b"0" * 2**26)
    time.sleep(0.2)
print("ATTACK fill the disk: SUCCEEDED")
'''

NETWORK = _TRY + '''
import socket
import urllib.request

_attempt("connect to pypi.org:443", lambda: socket.create_connection(("pypi.org", 443), timeout=5))
_attempt("connect to 127.0.0.1:22", lambda: socket.create_connection(("127.0.0.1", 22), timeout=5))
_attempt("download over HTTPS", lambda: urllib.request.urlopen("https://pypi.org/simple/", timeout=5).read(10))
'''


GRADING_MODE = """
import os

if os.environ.get("DLCI_GRADING") == "1":
    model = FullyConnectedNet(784, 32, 784)  # untrained: the grader sees what runs when grading
"""

PATCH_EVALUATE = """
import starter.training as _training


def _typed(model, images, sigmas=(0.05, 0.1, 0.2), **kwargs):
    return {0.05: 31.09, 0.1: 29.47, 0.2: 22.40}  # the course's published numbers (slides)


_training.evaluate_model = _typed
evaluate_model = _typed  # the notebook's own name too, so the re-evaluation agrees
print("ATTACK make every re-evaluation return the typed numbers: installed")
"""

LOOKUP_CLEAN_IMAGES = """
import torch.nn.functional as _F

from starter.data import BlurredBSDS300
from starter.imaging import blur

_clean_on_disk = BlurredBSDS300(split="test").as_tensors()[1]
_blurred_on_disk = blur(_clean_on_disk, kernel)


@torch.no_grad()
def method_unet(y):
    \"\"\"Returns the clean test image whose blur is nearest to each measurement.\"\"\"
    out = []
    for one in y:
        h, w = one.shape[-2:]
        d = ((_blurred_on_disk[..., :h, :w] - one) ** 2).flatten(1).mean(1)
        out.append(_clean_on_disk[int(d.argmin()), :, :h, :w])
    return torch.stack(out)


methods["unet"] = method_unet
print("ATTACK look up the clean images: installed as method_unet")
"""


def _new_cell(after: str, code: str) -> Callable[[NotebookNode], NotebookNode]:
    def apply(nb: NotebookNode) -> NotebookNode:
        nb = copy.deepcopy(nb)
        index = next(i for i, c in enumerate(nb.cells) if c.get("id") == after)
        cell = nbformat.v4.new_code_cell(code.strip() + "\n")
        cell.id = f"attack-after-{after}"
        nb.cells.insert(index + 1, cell)
        return nb

    return apply


def _edit_tests(nb: NotebookNode) -> NotebookNode:
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell.source = EDIT_TESTS_SOURCE
            meta["points"] = 100
    return nb


def _chain(*edits: Callable[[NotebookNode], NotebookNode]) -> Callable[[NotebookNode], NotebookNode]:
    def apply(nb: NotebookNode) -> NotebookNode:
        for edit in edits:
            nb = edit(nb)
        return nb

    return apply


@dataclass(frozen=True)
class Attack:
    """One adversarial submission.

    Attributes:
        name: short id (the student is ``attack-<name>``).
        vector: what it tries, in words (the README table).
        base: the sample submission it starts from (``solution``, ``blank`` or a variant's name).
        edit: adds the attack to the base notebook.
        fails: cells the attack's own code legitimately costs, beyond the base's failures.
        refused: each ``ATTACK`` line it prints must say ``refused``; False for attacks whose
            lines only report.
        needs: the sandbox feature that defeats it (``files``, ``network``, ``signals``;
            :class:`dlci_grader.sandbox.Support`), '' when the grading design alone does.
        task: the task whose submission it is.
    """

    name: str
    vector: str
    base: str
    edit: Callable[[NotebookNode], NotebookNode]
    fails: frozenset[str] = field(default_factory=frozenset)
    refused: bool = False
    needs: str = ""
    task: str = "task1"


ATTACKS = [
    Attack("patch-checks", "monkeypatch gradcheck, torch/numpy allclose, the kit's checks and psnr, "
           "and the grader's checks", "transposed_grad_weight", _new_cell("setup", PATCH_CHECKS)),
    Attack("always-true", "backward returns tensors whose comparisons are always true",
           "transposed_grad_weight", _new_cell("linear_function", ALWAYS_TRUE)),
    Attack("forged-answers", "print fake PASSED lines; forge answer records (right nonce) in its own "
           "cell and from a thread into later test cells", "blank", _new_cell("setup", FORGE)),
    Attack("edit-tests", "replace every test cell's code by a print, set its points to 100",
           "transposed_grad_weight", _edit_tests),
    Attack("read-secrets", "read hidden tests, the gradebook, the grader's checks, the kit's solutions, "
           "the instructor's home, other folders", "solution", _new_cell("setup", READ_SECRETS),
           refused=True, needs="files"),
    Attack("lookup-clean", "a 'model' that looks the clean digits up in every MNIST file it can find",
           "solution", _new_cell("show_results", LOOKUP), fails=frozenset({"test_training_hidden"}),
           needs="files"),
    Attack("write-channel", "overwrite the grader's inputs and nonce, write the gradebook and the course",
           "transposed_grad_weight", _new_cell("setup", WRITE_CHANNEL), refused=True, needs="files"),
    Attack("kill-grader", "SIGKILL nbgrader, the kernel's parent", "solution",
           _new_cell("setup", KILL_GRADER), refused=True, needs="signals"),
    Attack("sys-exit", "sys.exit(0) after the first tests", "solution", _new_cell("test_linear_hidden", SYS_EXIT)),
    Attack("huge-output", "print 20 MB", "solution", _new_cell("setup", HUGE_OUTPUT)),
    Attack("big-file", "write a 3 GiB file (cap: 1 GiB per file)", "solution", _new_cell("setup", BIG_FILE),
           refused=True),
    Attack("network", "open TCP connections (pypi.org, localhost) and download", "solution",
           _new_cell("setup", NETWORK), refused=True, needs="network"),
    Attack("fill-disk", "after the last test, write 6 GiB in files of 256 MiB", "solution",
           _new_cell("test_training_hidden", FILL_DISK)),
    Attack("fork-bomb", "fork 600 sleeping processes (then kill them)", "solution",
           _new_cell("setup", FORK_BOMB), refused=True, needs="processes"),
    Attack("grading-mode", "behave differently when graded: swap the trained model for an untrained "
           "one when DLCI_GRADING=1", "solution", _new_cell("show_results", GRADING_MODE),
           fails=frozenset({"test_training", "test_training_hidden"})),
    Attack("patch-evaluate", "Task 2: typed-in results, and evaluate_model patched to return them, so "
           "the hidden re-evaluation agrees", "hand_typed_results", _new_cell("setup", PATCH_EVALUATE),
           task="task2"),
    Attack("lookup-images", "Task 3: a 'U-Net' that returns the clean test image on disk nearest to "
           "the measurement (the table then shows PSNR inf)", "solution", _new_cell("methods", LOOKUP_CLEAN_IMAGES),
           fails=frozenset({"test_methods", "test_unet_hidden", "test_table", "test_table_unet_hidden"}),
           task="task3"),
]
"""The adversarial suite (see the module docstring). The broken-* submissions of the sample class
cover infinite loops, 20 GiB allocations, deleted cells and a kernel that dies."""


def attack_submissions(
    task: str, bases: Mapping[str, NotebookNode], base_points: Mapping[str, Mapping[str, float]]
) -> list[tuple[Attack, NotebookNode, dict[str, float]]]:
    """(attack, its notebook, expected points per autograded cell) for every attack on ``task``.

    Args:
        task: the task key.
        bases: sample submission name (``solution``, ``blank``, a variant) -> its notebook.
        base_points: the same names -> expected points per autograded cell.
    """
    out = []
    for attack in (a for a in ATTACKS if a.task == task):
        points = dict(base_points[attack.base])
        unknown = attack.fails - set(points)
        if unknown:
            raise ValueError(f"attack {attack.name!r} names unknown cells {sorted(unknown)}")
        points.update({cell: 0.0 for cell in attack.fails})
        out.append((attack, attack.edit(bases[attack.base]), points))
    return out
