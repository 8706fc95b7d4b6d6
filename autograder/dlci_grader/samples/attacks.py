"""The adversarial suite: submissions that try to cheat the grader or break it (most on Task 1).

Each attack is generated from a sample submission (the full solution, or a deliberately wrong
variant of :mod:`dlci_grader.samples.variants`) plus code a student could add; its expected score is
the score of the honest work it contains (the base's), less the cells its own code breaks.
Attack code goes into new cells (students may add cells) or into test cells' sources (which
nbgrader restores from the gradebook). Each new cell prints one ``ATTACK <what>: <outcome>`` line
per thing it tried, so the tests can check that every try was refused, not just the score.

``dlci sample-class OUT --attacks`` adds them to a sample class as ``attack-<name>`` students;
``tests/test_attacks.py`` grades them with ``dlci grade`` and checks scores and outcomes;
docs/instructors/trust.md has the table.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from starter.nbgrader_cells import nbgrader_meta

ATTACK_PREFIX = "ATTACK "
"""Start of each line an attack cell prints about one try."""

_CELLS = Path(__file__).resolve().parent / "attack_cells"


def _cell(name: str) -> str:
    """The code of attack cell ``attack_cells/<name>.py`` (real, linted Python), with the
    ``_attempt`` helper (``attack_cells/attempt.py``) in front when the cell calls it."""
    code = (_CELLS / f"{name}.py").read_text()
    if "_attempt(" in code:
        prelude = (_CELLS / "attempt.py").read_text()
        code = prelude.split('"""', 2)[2].strip() + "\n\n\n" + code
    return code


PATCH_CHECKS = _cell("patch_checks")
ALWAYS_TRUE = _cell("always_true")
FORGE = _cell("forge")
EDIT_TESTS_SOURCE = 'print("test passed")  # the student replaced the test\n'
READ_SECRETS = _cell("read_secrets")
LOOKUP = _cell("lookup")
WRITE_CHANNEL = _cell("write_channel")
KILL_GRADER = _cell("kill_grader")
SYS_EXIT = _cell("sys_exit")
HUGE_OUTPUT = _cell("huge_output")
BIG_FILE = _cell("big_file")
FORK_BOMB = _cell("fork_bomb")
FILL_DISK = _cell("fill_disk")
NETWORK = _cell("network")
GRADING_MODE = _cell("grading_mode")
PATCH_EVALUATE = _cell("patch_evaluate")
LOOKUP_CLEAN_IMAGES = _cell("lookup_clean_images")
LOOKUP_SHIFTED_IMAGES = _cell("lookup_shifted_images")
REPLACE_HARNESS = _cell("replace_harness")
AUTOGRAD_BACKWARD = _cell("autograd_backward")
DEFINITION_TIME = _cell("definition_time")
BEHAVIOUR = _cell("behaviour")


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
        meta = nbgrader_meta(cell)
        if meta.get("grade") and not meta.get("solution"):
            cell.source = EDIT_TESTS_SOURCE
            meta["points"] = 100
    return nb


def _chain(
    *edits: Callable[[NotebookNode], NotebookNode]
) -> Callable[[NotebookNode], NotebookNode]:
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
        vector: what it tries, in words (the table in docs/instructors/trust.md).
        base: the sample submission it starts from (``solution``, ``blank`` or a variant's name).
        edit: adds the attack to the base notebook.
        fails: cells the attack's own code legitimately costs, beyond the base's failures.
        refused: each ``ATTACK`` line it prints must say ``refused``; False for attacks whose
            lines only report.
        needs: the sandbox feature that defeats it (``files``, ``network``, ``signals``;
            :class:`dlci_grader.isolation.sandbox.Support`), '' when the grading design alone does.
        task: the task whose submission it is.
        flagged: the grader must flag its code for the instructor
        (:mod:`dlci_grader.verdicts.flags`).
        flag_says: text its flags must hold (a flag that only behaviour can raise).
    """

    name: str
    vector: str
    base: str
    edit: Callable[[NotebookNode], NotebookNode]
    fails: frozenset[str] = field(default_factory=frozenset)
    refused: bool = False
    needs: str = ""
    task: str = "task1"
    flagged: bool = False
    flag_says: tuple[str, ...] = ()


ATTACKS = [
    Attack("patch-checks",
           "monkeypatch gradcheck, torch/numpy allclose, the kit's checks and psnr, "
           "and the grader's checks", "transposed_grad_weight", _new_cell("setup", PATCH_CHECKS),
           flagged=True),
    Attack("replace-harness",
           "one pasted cell replaces the grader's Task 1 harness (answers computed "
           "with PyTorch) and the visible checks, on a blank notebook", "blank",
           _new_cell("setup", REPLACE_HARNESS), flagged=True),
    Attack("definition-time",
           "a blank notebook's hooks install a forged harness while its definitions are defined "
           "(__init_subclass__ = ..., staticmethod = ..., class torch, @p.setter on no property, "
           "an Enum's __init__, __mro_entries__ of a cached class, @classmethod over @property, "
           "{**a class}), all in LinearFunction's class body", "blank",
           _new_cell("linear_function", DEFINITION_TIME), flagged=True),
    Attack("autograd-backward",
           "LinearFunction.backward computed with torch.autograd.grad instead of "
           "the formula (right answers: judged by them, flagged)", "solution",
           _new_cell("linear_function", AUTOGRAD_BACKWARD), flagged=True),
    Attack("hidden-spellings",
           "the harness replaced through vars(importlib.import_module(computed name)).update, "
           "and a backward that reaches autograd through getattr(torch, 'auto' + 'grad') (right "
           "answers: the solution's score; flagged from what the harness observed)", "solution",
           _new_cell("linear_function", BEHAVIOUR), flagged=True,
           flag_says=("task1.relu is a function defined in the notebook",
                      "autograd's engine ran inside LinearFunction.backward")),
    Attack("always-true", "backward returns tensors whose comparisons are always true",
           "transposed_grad_weight", _new_cell("linear_function", ALWAYS_TRUE)),
    Attack("forged-answers",
           "print fake PASSED lines; forge answer records (right nonce) in its own "
           "cell and from a thread into later test cells", "blank", _new_cell("setup", FORGE)),
    Attack("edit-tests", "replace every test cell's code by a print, set its points to 100",
           "transposed_grad_weight", _edit_tests),
    Attack("read-secrets",
           "read hidden tests, the gradebook, the grader's checks, the kit's solutions, "
           "the instructor's home, other folders", "solution", _new_cell("setup", READ_SECRETS),
           refused=True, needs="files"),
    Attack("lookup-clean",
           "a 'model' that looks the clean digits up in every MNIST file it can find",
           "solution", _new_cell("show_results", LOOKUP),
           fails=frozenset({"test_training", "test_training_hidden"}),
           needs="files"),
    Attack("write-channel",
           "overwrite the grader's inputs and nonce, write the gradebook and the course",
           "transposed_grad_weight", _new_cell("setup", WRITE_CHANNEL), refused=True,
           needs="files"),
    Attack("kill-grader", "SIGKILL nbgrader, the kernel's parent", "solution",
           _new_cell("setup", KILL_GRADER), refused=True, needs="signals"),
    Attack(
        "sys-exit", "sys.exit(0) after the first tests", "solution",
        _new_cell("test_linear_hidden", SYS_EXIT),
    ),
    Attack(
        "huge-output",
        "print 80 MB, 60 MB of it in one line (the grader keeps 1 MiB of text per cell)",
        "solution", _new_cell("setup", HUGE_OUTPUT),
    ),
    Attack("big-file",
           "write a 3 GiB file (cap: 1 GiB per file)", "solution", _new_cell("setup", BIG_FILE),
           refused=True),
    Attack("network", "open TCP connections (pypi.org, localhost) and download", "solution",
           _new_cell("setup", NETWORK), refused=True, needs="network"),
    Attack("fill-disk", "after the last test, write 6 GiB in files of 256 MiB", "solution",
           _new_cell("test_training_hidden", FILL_DISK)),
    Attack("fork-bomb", "fork 600 sleeping processes (then kill them)", "solution",
           _new_cell("setup", FORK_BOMB), refused=True, needs="processes"),
    Attack("grading-mode",
           "behave differently when graded: swap the trained model for an untrained "
           "one when DLCI_GRADING=1", "solution", _new_cell("show_results", GRADING_MODE),
           fails=frozenset({"test_training", "test_training_hidden"})),
    Attack("patch-evaluate",
           "Task 2: typed-in results, and evaluate_model patched to return them, so "
           "the hidden re-evaluation agrees", "hand_typed_results",
           _new_cell("setup", PATCH_EVALUATE),
           task="task2"),
    Attack("lookup-images",
           "Task 3: a 'U-Net' that returns the clean test image on disk nearest to "
           "the measurement (the table then shows PSNR inf)", "solution",
           _new_cell("methods", LOOKUP_CLEAN_IMAGES),
           fails=frozenset(
               {"test_methods", "test_unet_hidden", "test_table", "test_table_unet_hidden"}
           ),
           task="task3"),
    Attack("lookup-shifted-images",
           "Task 3: a 'U-Net' that searches every flip and circular shift of "
           "the test images on disk with an FFT and fits a gain and an offset, returning the image "
           "itself when the fit says it was found (the table then shows PSNR inf; the grader's "
           "images come from test images the kernel's data lacks)", "solution",
           _new_cell("methods", LOOKUP_SHIFTED_IMAGES),
           fails=frozenset(
               {"test_methods", "test_unet_hidden", "test_table", "test_table_unet_hidden"}
           ),
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
