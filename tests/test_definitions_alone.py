"""Tests judged on the notebook's definitions alone, and the flags for the instructor.

The end-to-end proof is ``tests/test_attacks.py`` (the replace-harness attack scores 0 and is
flagged); here the pieces: which statements count as definitions, the run in its own sandboxed
process (real ``python -m dlci_grader.kernel.rebuilt``, real fork, real sandbox), and the
static flags.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import nbformat
import pytest

from starter.definitions import cell_definitions, top_level_only_names

pytest.importorskip("dlci_grader")
from dlci_grader.isolation.fork_server import ForkServers  # noqa: E402
from dlci_grader.isolation.limits import Limits  # noqa: E402
from dlci_grader.isolation.sandbox import default_read_paths, support  # noqa: E402
from dlci_grader.samples.attacks import (  # noqa: E402
    AUTOGRAD_BACKWARD,
    DEFINITION_TIME,
    REPLACE_HARNESS,
)
from dlci_grader.tasks import load_tasks  # noqa: E402
from dlci_grader.verdicts import judging  # noqa: E402
from dlci_grader.verdicts.flags import scan  # noqa: E402
from dlci_grader.verdicts.rebuild import alone_tests, run_alone  # noqa: E402
from dlci_grader.verdicts.results import graded_cells  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1]
ROOT = Path(__file__).resolve().parents[1]
TASK1 = ROOT / "solutions" / "task1_backprop_inpainting.ipynb"


def _kept(source: str) -> str:
    import ast

    return ast.unparse(cell_definitions(textwrap.dedent(source)).module)


def test_definitions_keep_imports_defs_classes_and_constants_only():
    kept = _kept("""
        import torch
        from torch import nn
        EPS, SIGMAS = 1e-8, (0.005, 2 * 0.01)
        device = default_device()
        torch.allclose = lambda *a, **k: True
        print("hello")
        for i in range(3):
            pass

        class Net(nn.Module):
            SCALE = 2
            torch.equal = None

            @staticmethod
            def f(x: torch.Tensor, k=EPS) -> torch.Tensor:
                return x * k

        def g(x, y=3):
            return x + y
    """)
    assert "import torch" in kept and "from torch import nn" in kept
    assert "EPS, SIGMAS = (1e-08, (0.005, 2 * 0.01))" in kept
    assert "class Net(nn.Module)" in kept and "SCALE = 2" in kept and "def g(x, y=3)" in kept
    assert "@staticmethod" in kept and "torch.Tensor" not in kept  # annotations are not evaluated
    for gone in ("default_device", "allclose", "print", "range", "torch.equal"):
        assert gone not in kept, gone


def test_a_definition_cannot_run_code_while_it_is_defined():
    result = cell_definitions(textwrap.dedent("""
        @patch_everything()
        def a(): pass

        def b(x=patch_everything()): pass

        class C(metaclass=Meta): pass

        class D:
            def __init_subclass__(cls):
                patch_everything()

        class E(make_base()): pass

        @value.setter
        def fine(self, v): pass
    """))
    whats = " | ".join(d.what for d in result.dropped)
    assert "def a: decorator @patch_everything()" in whats
    assert "def b: a default value that is computed" in whats
    assert "class C: keyword metaclass=" in whats and "method __init_subclass__" in whats
    assert "class E: a base that is computed" in whats
    assert "def fine: @value.setter where `value` is not a property defined above" in whats
    assert all(d.refused for d in result.dropped)
    assert result.names == {"D"}


SPELLINGS = [  # (a cell, what its refusal says): each would run _install() while defined
    ("class Base:\n    __init_subclass__ = _install\nclass Sub(Base): pass",
     "`__init_subclass__ = ...` binds the special name `__init_subclass__`"),
    ("class Base:\n    __init_subclass__: object = _install",
     "binds the special name `__init_subclass__`"),
    ("class Base:\n    from m import f as __init_subclass__", "the special name"),
    ("class Base:\n    class __init_subclass__: pass", "the special name"),
    ("staticmethod = _installing\nclass A:\n    @staticmethod\n    def f(): pass",
     "`staticmethod = ...` rebinds `staticmethod`: Python calls decorators while it defines a "
     "function, so the grader keeps only the real `staticmethod` (Python's own)"),
    ("class torch:\n    no_grad = _installing\n@torch.no_grad()\ndef f(): pass",
     "class torch rebinds `torch`"),
    ("torch = _Fake", "`torch = ...` rebinds `torch`"),
    ("from starter import fake as torch", "the real `torch` (`import torch`)"),
    ("import numpy as functools", "the real `functools` (`import functools`)"),
    ("from abc import abstractmethod as cache", "the real `cache` (`from functools import cache`)"),
    ("class A:\n    def property(self): pass", "def property rebinds `property`"),
    ("def f():\n    global torch", "def f declares `global torch`"),
    ("for property in []: pass", "`for property in ...` rebinds `property`"),
    ("from starter.fake import *", "`from starter.fake import *` may bind any name"),
    ("def __getattr__(name): pass", "def __getattr__ binds the special name `__getattr__`"),
    ("__name__ = 'torch'", "binds the special name `__name__`"),
    ("class A:\n    p = _S\n    @p.setter\n    def f(self, v): pass",
     "def f: @p.setter where `p` is not a property defined above in the same class"),
    ("@functools.cache\nclass A: pass", "class A has a decorator (@functools.cache)"),
    ("class A:\n    def __mro_entries__(self, bases): pass", "method __mro_entries__"),
    ("class A:\n    @classmethod\n    @property\n    def f(cls): pass",
     "def f: @classmethod over a property"),
]


@pytest.mark.parametrize(("cell", "why"), SPELLINGS, ids=[c.split("\n")[0] for c, _ in SPELLINGS])
def test_a_definition_that_could_run_code_while_defined_is_refused_with_the_reason(cell, why):
    result = cell_definitions(cell)
    refused = [d.what for d in result.dropped if d.refused]
    assert any(why in what for what in refused), refused


def test_the_real_decorators_and_their_properties_are_kept():
    result = cell_definitions(textwrap.dedent("""
        import abc, functools, torch
        from functools import cache, lru_cache
        from abc import abstractmethod
        from torch.autograd.function import once_differentiable
        EPS, SCALE = 1e-3, 2 * torch.pi
        DOUBLE = EPS * 2

        class A(abc.ABC):
            def __init__(self, x=torch.float64):
                self.x = x

            def __call__(self):
                return self.x

            @property
            @abstractmethod
            def value(self): ...

            @value.setter
            def value(self, v): ...

            @staticmethod
            @once_differentiable
            @torch.no_grad()
            def backward(ctx, g): ...

            @classmethod
            @functools.lru_cache(maxsize=None)
            def make(cls): ...

        @cache
        def f(x=EPS): ...

        linear = A.make  # as PyTorch's documentation aliases a Function's apply
        SPREAD = {**A}  # calls A.keys(): computed, not kept
    """))
    assert [d.what for d in result.dropped] == ["an assignment of a computed value"]
    assert result.names == {"abc", "functools", "torch", "cache", "lru_cache", "abstractmethod",
                            "once_differentiable", "EPS", "SCALE", "DOUBLE", "A", "f", "linear"}


def test_a_test_keeps_only_the_definitions_it_needs():
    """LinearFunction's test keeps the imports, LinearFunction and what it reads, not a class
    nothing it reads uses (a hook there is never defined)."""
    import ast

    from starter.definitions import names_read, needed, statement

    cells = [
        "import torch\nfrom dlci_grader.kernel import task1 as _h\nEPS = 1e-3\nUNUSED = 2\n",
        "class Helper:\n    scale = EPS\nclass LinearFunction(torch.autograd.Function):\n"
        "    @staticmethod\n    def forward(ctx, x):\n        return Helper.scale * x\n",
        "class Hooks:\n    pass\ndef sgd_step(p, lr):\n    return UNUSED\n",
    ]
    statements = [node for cell in cells for node in cell_definitions(cell).module.body]
    keep = needed([statement(n) for n in statements], names_read("_h.linear(LinearFunction, 't')"))
    kept = {ast.unparse(n).split("\n")[0] for n, k in zip(statements, keep, strict=True) if k}
    assert kept == {
        "import torch", "from dlci_grader.kernel import task1 as _h", "EPS = 0.001",
        "class Helper:", "class LinearFunction(torch.autograd.Function):",
    }


def test_the_run_defines_no_class_whose_base_could_run_code():
    """The run's check of class statements (in this process, undone after): an Enum (whose
    metaclass calls the class's __init__), a base with an __init_subclass__ of the notebook's own
    or a library's (TorchDispatchMode's calls the subclass's _should_skip_dynamo), an object that
    is not a class, and such a class inside a class are not defined; PyTorch's Function, Module
    and Dataset, abc's and plain bases are."""
    import builtins

    from dlci_grader.kernel.rebuilt import _compile_cells, _run_prelude

    class Hooked:  # as if the notebook had one (writing it there is refused statically)
        def __init_subclass__(cls):
            raise AssertionError("ran")

    Hooked.__module__ = "__main__"
    cell = textwrap.dedent("""\
        import abc, enum, torch
        from torch.utils._python_dispatch import TorchDispatchMode
        class Fine(torch.autograd.Function): pass
        class AlsoFine(abc.ABC, torch.nn.Module): pass
        class Members(enum.Enum):
            ONE = 1
        class Sub(Hooked): pass
        class NotAClass(EPS): pass
        class Outer:
            class Inner(enum.Enum):
                ONE = 1
        class Data(torch.utils.data.Dataset): pass
        class Mode(TorchDispatchMode): pass
    """)
    namespace = {"__name__": "__main__", "Hooked": Hooked, "EPS": 1e-3}
    compiled = _compile_cells([{"label": "cell 3 (classes)", "source": cell}])
    build_class = builtins.__build_class__
    failures = _run_prelude([[code for code, _ in compiled[0]]], namespace)
    assert builtins.__build_class__ is build_class
    assert {"Fine", "AlsoFine", "Data"} <= set(namespace)
    assert not {"Members", "Sub", "NotAClass", "Outer", "Mode"} & set(namespace)
    assert [f.split(" is not defined")[0] for f in failures] == [
        "TypeError: class Members (cell 3 (classes), line 5)",
        "TypeError: class Sub (cell 3 (classes), line 7)",
        "TypeError: class NotAClass (cell 3 (classes), line 8)",
        "TypeError: class Inner (cell 3 (classes), line 10)",
        "TypeError: class Mode (cell 3 (classes), line 13)",
    ], failures
    assert "its base Enum has the metaclass EnumType (not Python's, abc's" in failures[0]
    assert "Hooked defines __init_subclass__, which Python would call" in failures[1]
    assert "a base is not a class but a float object" in failures[2]
    assert "TorchDispatchMode defines __init_subclass__" in failures[4]


def test_timed_cells_keep_their_body_and_magics_are_dropped():
    assert "def f" in _kept("%%time\ndef f():\n    return 1\n")
    result = cell_definitions("%matplotlib inline\n!pip install x\nX = 1\n")
    assert result.names == {"X"} and len(result.dropped) == 2


def test_check_names_what_only_top_level_code_sets():
    cells = [
        "import torch\nfrom starter.device import default_device\n"
        "device = default_device()\nEPS = 1e-3\n",
        "def simulate(x):\n    return (x + EPS).to(device)\n",
    ]
    assert top_level_only_names(cells, [1]) == {"simulate": ["device"]}


def _notebook_with(code: str, after: str, base: nbformat.NotebookNode) -> nbformat.NotebookNode:
    index = next(
        i for i, c in enumerate(base.cells)
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == after
    )
    base.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return base


def _blank(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student release, handed in untouched (``source``: the solution it was made from)."""
    return nbformat.read(str(ROOT / "notebooks" / TASK1.name), 4)


@pytest.fixture(scope="module")
def source() -> nbformat.NotebookNode:
    load_tasks()
    return nbformat.read(str(TASK1), 4)


def _run(tmp_path: Path, notebook: nbformat.NotebookNode, source: nbformat.NotebookNode,
         data_root: Path, sandbox: bool, servers: ForkServers | None = None,
         ) -> dict[str, judging.Verdict]:
    channel = judging.prepare("task1", tmp_path / "grader", data_root, seed=11)
    assert channel is not None
    kernel_root = channel.kernel_data_root or data_root
    env = {**os.environ, "DLCI_ANSWERS": str(channel.folder), "DLCI_DATA": str(kernel_root),
           "DLCI_GRADING": "1"}
    read = default_read_paths(kernel_root, [str(channel.folder)])
    limits = Limits(cell_timeout=60, sandbox=sandbox and support().files)
    return run_alone(channel, notebook, source, tmp_path / "alone", limits, env, read, servers)


def test_the_solution_passes_on_its_definitions_alone(tmp_path, source, data_root):
    verdicts = _run(tmp_path, source, source, data_root, sandbox=True)
    assert set(verdicts) == set(alone_tests("task1")) and len(verdicts) == 10
    failed = {t: v.reason for t, v in verdicts.items() if not v.passed}
    assert not failed, failed


def test_a_pasted_harness_does_not_answer_for_blank_functions(tmp_path, source, data_root):
    notebook = _notebook_with(REPLACE_HARNESS, "setup", _blank(source))
    verdicts = _run(tmp_path, notebook, source, data_root, sandbox=True)
    assert verdicts and not any(v.passed for v in verdicts.values())
    reason = verdicts["test_linear_hidden"].reason
    assert "definitions alone" in reason and "NotImplementedError" in reason
    assert "(linear_function), line" in reason


def test_hooks_that_run_while_definitions_are_defined_answer_for_no_blank_function(
    tmp_path, source, data_root,
):
    """The definition-time attack on a blank notebook: each of its hooks would install a forged
    harness while the definitions are defined (all of them sit in LinearFunction's class body);
    refused, nothing passes, and every refusal is flagged with its cell and line."""
    notebook = _notebook_with(DEFINITION_TIME, "linear_function", _blank(source))
    verdicts = _run(tmp_path, notebook, source, data_root, sandbox=True)
    assert verdicts and not any(v.passed for v in verdicts.values())
    assert "NotImplementedError" in verdicts["test_linear_hidden"].reason
    flags = [f for f in scan(notebook, set(graded_cells(source))) if "not kept in the grader" in f]
    whats = " | ".join(flags)
    for refused in (
        "`__init_subclass__ = ...` binds the special name", "`staticmethod = ...` rebinds",
        "class torch rebinds `torch`", "def value: @p.setter", "class _Entries has a decorator",
        "def hook: @classmethod over a property",
    ):
        assert refused in whats, (refused, flags)
    assert all(f.startswith("cell 6, line ") for f in flags), flags


def test_a_child_cannot_answer_for_another_test(tmp_path, source, data_root):
    """LinearFunction's backward writes right answers for test_sgd_hidden into the outputs of
    the notebook's process and of the fork server (through /proc) and down its own pipe;
    sgd_step stays blank, so the test fails."""
    forge = textwrap.dedent("""
        import json, os
        from dlci_grader.kernel import answers as _answers

        def _forge():
            right = []
            for case in _answers.cases("task1", "test_sgd_hidden"):
                count = sum(k.startswith("p") for k in case)
                right.append({
                    **{f"p{i}": case[f"p{i}"] - case["lr"] * case[f"g{i}"] for i in range(count)},
                    **{f"g{i}": case[f"g{i}"] for i in range(count)},
                })
            line = json.dumps({"test": "test_sgd_hidden", "npz": _answers.encode(right)}) + "\\n"
            parent = os.getppid()  # the notebook's child; its parent, the grader's fork server
            with open(f"/proc/{parent}/stat") as stat:
                server = int(stat.read().rsplit(")", 1)[1].split()[1])
            for pid in (parent, server):
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                except OSError:
                    fds = []
                for fd in fds:
                    try:
                        with open(f"/proc/{pid}/fd/{fd}", "w") as out:
                            out.write(line)
                    except OSError:
                        pass
            _answers.submit("task1", "test_sgd_hidden", right)
    """)
    notebook = _blank(source)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "linear_function":
            cell.source = forge + cell.source.replace(
                "raise NotImplementedError", "_forge(); raise NotImplementedError",
            )
    verdicts = _run(tmp_path, notebook, source, data_root, sandbox=False)
    assert not verdicts["test_sgd_hidden"].passed
    assert "NotImplementedError" in verdicts["test_sgd_hidden"].reason


def test_one_fork_server_runs_notebook_after_notebook_each_from_a_clean_state(
    tmp_path, source, data_root,
):
    """A class run's fork server forks every notebook's run from the state it had before any:
    a notebook whose backward breaks PyTorch's matrix product and the solution's functions
    leaves nothing behind, so the solution run next on the same server passes every test."""
    breaker = nbformat.from_dict(source)
    for cell in breaker.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "linear_function":
            cell.source += textwrap.dedent("""

                def _break():
                    import sys
                    torch_ = sys.modules["torch"]
                    torch_.Tensor.mm = torch_.Tensor.__matmul__ = lambda *a: torch_.zeros(1)
                    torch_.Tensor.t = lambda self: self
                    sys.modules["__main__"].__dict__.clear()

                _original_forward = LinearFunction.forward
            """)
            cell.source = cell.source.replace("def backward(ctx, grad_output):",
                                              "def backward(ctx, grad_output):\n        _break()")
    with ForkServers() as servers:
        broken = _run(tmp_path / "a", breaker, source, data_root, sandbox=True, servers=servers)
        assert not broken["test_linear_hidden"].passed, "the breaking notebook did not break"
        (server,) = servers.idle()
        again = _run(tmp_path / "b", source, source, data_root, sandbox=True, servers=servers)
        assert servers.idle() == [server] and server.alive()
    failed = {t: v.reason for t, v in again.items() if not v.passed}
    assert not failed and len(again) == 10, failed


def test_flags_name_cell_and_line_and_never_fire_on_the_solutions(source):
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        notebook = nbformat.read(str(path), 4)
        assert scan(notebook, set(graded_cells(notebook))) == [], path.name
    patched = _notebook_with(REPLACE_HARNESS, "setup", _blank(source))
    flags = scan(patched, set(graded_cells(source)))
    assert any("rebinds _h.linear (dlci_grader.kernel.task1.linear)" in f for f in flags), flags
    assert any("globals()[_name]" in f for f in flags), flags
    assert all(f.startswith("cell ") and ", line " in f for f in flags)
    autograd = scan(
        _notebook_with(AUTOGRAD_BACKWARD, "linear_function", source), set(graded_cells(source)),
    )
    assert len(autograd) == 1
    assert "LinearFunction.backward computes its gradient with PyTorch's autograd" in autograd[0]
    rebinding = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent("""
        import numpy as np
        import sys
        from starter.autograd_checks import check_sgd_step
        check_sgd_step = lambda *a, **k: None
        setattr(np.testing, "assert_allclose", None)
        sys.modules["torch"].allclose = None
        def print(*args):
            pass
        def helper():
            global len
            len = max
    """))])
    whats = [f.split(": ", 1)[1] for f in scan(rebinding)]
    assert whats == [
        "rebinds check_sgd_step (imported from starter.autograd_checks)",
        "rebinds an attribute of np.testing (setattr)",
        "rebinds sys.modules['torch'].allclose",
        "rebinds Python's print",
        "rebinds Python's len",
    ], whats


def test_dlci_check_warns_about_a_graded_function_that_needs_top_level_state():
    """The release records which functions are graded alone; a `simulate` that reads the
    notebook's `device` gets a warning naming it, the untouched release none."""
    from starter.definitions import self_contained_warnings

    release = nbformat.read(str(ROOT / "notebooks" / "task3_wiener_unet.ipynb"), 4)
    assert release.metadata["dlci"]["graded_alone"] == ["psnr_table", "simulate", "wiener"]
    assert self_contained_warnings(release) == []
    for cell in release.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "simulate":
            cell.source = cell.source.replace("raise NotImplementedError()", "return x.to(device)")
    (warning,) = self_contained_warnings(release)
    assert warning.startswith("simulate uses device, which only top-level code sets")


def test_dlci_check_says_which_definitions_the_grader_refuses():
    from starter.definitions import refusals

    release = nbformat.read(str(ROOT / "notebooks" / TASK1.name), 4)
    assert refusals(release) == []
    (warning,) = refusals(_notebook_with("staticmethod = print\n", "linear_function", release))
    assert warning.startswith(
        "cell 6, line 1: not kept when the grader runs your definitions alone: "
        "`staticmethod = ...` "
        "rebinds `staticmethod`: Python calls decorators while it defines a function"
    ), warning
