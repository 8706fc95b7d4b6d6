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
from dlci_grader.isolation.limits import Limits  # noqa: E402
from dlci_grader.isolation.sandbox import default_read_paths, support  # noqa: E402
from dlci_grader.samples.attacks import AUTOGRAD_BACKWARD, REPLACE_HARNESS  # noqa: E402
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
    assert "class C: keyword metaclass=" in whats and "__init_subclass__" in whats
    assert "class E: a base or decorator that is computed" in whats
    assert result.names == {"D", "fine"}


def test_timed_cells_keep_their_body_and_magics_are_dropped():
    assert "def f" in _kept("%%time\ndef f():\n    return 1\n")
    result = cell_definitions("%matplotlib inline\n!pip install x\nX = 1\n")
    assert result.names == {"X"} and len(result.dropped) == 2


def test_check_names_what_only_top_level_code_sets():
    cells = [
        "import torch\nfrom starter.device import default_device\ndevice = default_device()\nEPS = 1e-3\n",
        "def simulate(x):\n    return (x + EPS).to(device)\n",
    ]
    assert top_level_only_names(cells, [1]) == {"simulate": ["device"]}


def _notebook_with(code: str, after: str, base: nbformat.NotebookNode) -> nbformat.NotebookNode:
    index = next(i for i, c in enumerate(base.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == after)
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
         data_root: Path, sandbox: bool) -> dict[str, judging.Verdict]:
    channel = judging.prepare("task1", tmp_path / "grader", data_root, seed=11)
    assert channel is not None
    kernel_root = channel.kernel_data_root or data_root
    env = {**os.environ, "DLCI_ANSWERS": str(channel.folder), "DLCI_DATA": str(kernel_root), "DLCI_GRADING": "1"}
    read = default_read_paths(kernel_root, [str(channel.folder)])
    limits = Limits(cell_timeout=60, sandbox=sandbox and support().files)
    return run_alone(channel, notebook, source, tmp_path / "alone", limits, env, read)


def test_the_solution_passes_on_its_definitions_alone(tmp_path, source, data_root):
    verdicts = _run(tmp_path, source, source, data_root, sandbox=True)
    assert set(verdicts) == set(alone_tests("task1")) and len(verdicts) == 10
    assert all(v.passed for v in verdicts.values()), {t: v.reason for t, v in verdicts.items() if not v.passed}


def test_a_pasted_harness_does_not_answer_for_blank_functions(tmp_path, source, data_root):
    notebook = _notebook_with(REPLACE_HARNESS, "setup", _blank(source))
    verdicts = _run(tmp_path, notebook, source, data_root, sandbox=True)
    assert verdicts and not any(v.passed for v in verdicts.values())
    reason = verdicts["test_linear_hidden"].reason
    assert "definitions alone" in reason and "NotImplementedError" in reason and "(linear_function), line" in reason


def test_a_child_cannot_answer_for_another_test(tmp_path, source, data_root):
    """LinearFunction's backward writes right answers for test_sgd_hidden into the runner's
    output (through /proc) and down its own pipe; sgd_step stays blank, so the test fails."""
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
            try:
                fds = os.listdir(f"/proc/{os.getppid()}/fd")
            except OSError:
                fds = []
            for fd in fds:
                try:
                    with open(f"/proc/{os.getppid()}/fd/{fd}", "w") as out:
                        out.write(line)
                except OSError:
                    pass
            _answers.submit("task1", "test_sgd_hidden", right)
    """)
    notebook = _blank(source)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "linear_function":
            cell.source = forge + cell.source.replace("raise NotImplementedError", "_forge(); raise NotImplementedError")
    verdicts = _run(tmp_path, notebook, source, data_root, sandbox=False)
    assert not verdicts["test_sgd_hidden"].passed
    assert "NotImplementedError" in verdicts["test_sgd_hidden"].reason


def test_flags_name_cell_and_line_and_never_fire_on_the_solutions(source):
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        notebook = nbformat.read(str(path), 4)
        assert scan(notebook, set(graded_cells(notebook))) == [], path.name
    patched = _notebook_with(REPLACE_HARNESS, "setup", _blank(source))
    flags = scan(patched, set(graded_cells(source)))
    assert any("rebinds _h.linear (dlci_grader.kernel.task1.linear)" in f for f in flags), flags
    assert any("globals()[_name]" in f for f in flags), flags
    assert all(f.startswith("cell ") and ", line " in f for f in flags)
    autograd = scan(_notebook_with(AUTOGRAD_BACKWARD, "linear_function", source), set(graded_cells(source)))
    assert len(autograd) == 1 and "LinearFunction.backward computes its gradient with PyTorch's autograd" in autograd[0]
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
