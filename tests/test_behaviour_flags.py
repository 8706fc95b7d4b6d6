"""Flags from what the hidden tests' harness observed while the student's code ran
(:mod:`dlci_grader.kernel.answers`), whatever the spelling: a kit name bound to the notebook's
code, and autograd's engine run inside a graded backward. Cells are compiled under an
ipykernel-style file name, as in a kernel; everything runs in this process, outside the grader
(``submit`` then judges at once and prints what the grader would flag)."""

from __future__ import annotations

import textwrap

import pytest
import torch

pytest.importorskip("dlci_grader")
import dlci_grader.kernel.task1 as harness  # noqa: E402
from dlci_grader.kernel import answers  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.task1]

REPLACED = "dlci_grader.kernel.task1.relu is a function defined in the notebook"
REPLACE_SPELLINGS = {
    "attribute": "import dlci_grader.kernel.task1 as h\nh.relu = lambda *a: None",
    "setattr-getattr": "import dlci_grader.kernel as k\n"
                       "def f(*a):\n    pass\nsetattr(getattr(k, 'task1'), 'relu', f)",
    "importlib": "import importlib\nm = importlib.import_module('dlci_grader' + '.kernel.task1')\n"
                 "def f(*a):\n    pass\nm.relu = f",
    "vars-update": "import sys\ndef f(*a):\n    pass\n"
                   "vars(sys.modules['dlci_grader.kernel.task1']).update(relu=f)",
    "exec-string": "exec(\"import dlci_grader.kernel.task1 as h\\ndef f(*a): pass\\nh.relu = f\")",
    "class-hook": "import dlci_grader.kernel.task1 as h\nclass Base:\n"
                  "    def __init_subclass__(cls):\n        vars(h)['relu'] = lambda *a: None\n"
                  "class Sub(Base):\n    pass",
}


def _run_cell(source: str, namespace: dict) -> None:
    exec(compile(source, "/tmp/ipykernel_4242/1234567.py", "exec"), namespace)  # noqa: S102


@pytest.fixture
def kit_restored():
    saved = dict(vars(harness))
    yield
    vars(harness).clear()
    vars(harness).update(saved)


def test_an_untouched_kit_is_not_flagged():
    assert answers.replaced_in_kit() == []


@pytest.mark.parametrize("spelling", REPLACE_SPELLINGS)
def test_a_kit_name_bound_to_the_notebook_s_code_is_observed(spelling, kit_restored):
    _run_cell(REPLACE_SPELLINGS[spelling], {"__name__": "__main__"})
    assert REPLACED in answers.replaced_in_kit()


ENGINE_SPELLINGS = {
    "torch.autograd.grad": "torch.autograd.grad(out, inputs, grad_output)",
    "getattr": "getattr(torch, 'auto' + 'grad').grad(out, inputs, grad_output)",
    "importlib": "__import__('importlib').import_module('torch.autograd')"
                 ".grad(out, inputs, grad_output)",
    "exec-string": "exec('r = torch.autograd.grad(out, inputs, grad_output)', "
                   "g := {**globals(), **locals()}) or g['r']",
    "tensor.backward": "out.backward(grad_output) or tuple(t.grad for t in inputs)",
}


def _function(expression: str) -> type[torch.autograd.Function]:
    source = textwrap.dedent(f"""
        import torch

        class LinearFunction(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, weight, bias):
                ctx.save_for_backward(x, weight, bias)
                return x @ weight.T + bias

            @staticmethod
            def backward(ctx, grad_output):
                inputs = tuple(t.detach().requires_grad_() for t in ctx.saved_tensors)
                with torch.enable_grad():
                    out = inputs[0] @ inputs[1].T + inputs[2]
                    return {expression}
        """)
    namespace: dict = {"__name__": "__main__"}
    _run_cell(source, namespace)
    return namespace["LinearFunction"]


@pytest.mark.parametrize("spelling", ENGINE_SPELLINGS)
def test_autograd_inside_a_graded_backward_is_observed_and_still_judged(spelling, capsys):
    harness.linear(_function(ENGINE_SPELLINGS[spelling]), "test_linear_hidden")
    out = capsys.readouterr().out
    assert "test_linear_hidden: passed" in out, out  # right answers: judged by them
    assert "would flag: autograd's engine ran inside LinearFunction.backward" in out, out


def test_a_backward_by_hand_is_not_observed(capsys):
    by_hand = "grad_output @ inputs[1], grad_output.T @ inputs[0], grad_output.sum(0)"
    harness.linear(_function(by_hand), "test_linear_hidden")
    out = capsys.readouterr().out
    assert "test_linear_hidden: passed" in out and "would flag" not in out, out


def test_the_grader_turns_observations_into_one_flag_each():
    import nbformat

    from dlci_grader.verdicts.judging import observations, observed

    def cell(test: str, lines: list[str]) -> nbformat.NotebookNode:
        record = {"task": "task1", "test": test, "npz": "", "observed": lines}
        out = nbformat.v4.new_output("display_data", data={answers.MIME: record})
        return nbformat.v4.new_code_cell("", outputs=[out])

    cells = [cell("test_linear", [REPLACED, "x"]), cell("test_relu", [REPLACED]),
             cell("test_network", [REPLACED])]
    nb = nbformat.v4.new_notebook(cells=cells)
    assert observed(observations(nb)) == [
        f"the grader observed (test_linear, test_relu, +1 more): {REPLACED}",
        "the grader observed (test_linear): x",
    ]
