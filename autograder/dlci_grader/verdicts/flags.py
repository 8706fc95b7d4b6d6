"""Flags for the instructor: code in a submission that a person should look at, whatever it scored.

A flag never changes a score by itself (what decides a test is the graded function's output,
:mod:`dlci_grader.verdicts.rebuild`); it points at the cell and line of code that

- rebinds something of the grader's, the kit's, PyTorch's, NumPy's or Python's own
  (``torch.allclose = ...``, ``setattr(starter.autograd_checks, ...)``,
  ``check_linear_function = lambda *a: None`` after importing it, ``print = ...``,
  ``sys.modules[...] = ...``), or
- computes a gradient in an autograd Function's ``backward`` with PyTorch's own autograd
  (``.backward()``, ``torch.autograd.grad``, ``torch.func``): the task asks for the formula.
  Such a ``backward`` is still judged by its outputs (it may well be right); the flag says how
  it got them, or
- is a definition the grader's run of the definitions alone refuses, because it could run code
  while it is defined (``staticmethod = ...``, ``__init_subclass__ = ...``, a decorator on a
  class: :mod:`starter.definitions`).

The scan is static (Python's ``ast``): it recognises the usual ways, not every way, so it
points a person at code; it proves nothing either way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

from nbformat import NotebookNode

from dlci_grader.verdicts.rebuild import cell_label
from starter.definitions import cell_definitions, dotted_name, python_source
from starter.nbgrader_cells import grade_id, is_test

PROTECTED = frozenset({
    "dlci_grader", "starter", "torch", "torchvision", "numpy", "builtins", "IPython", "nbgrader",
    "nbclient", "sys", "importlib", "unittest",
})
"""Top-level packages whose attributes a submission has no business rebinding."""
PYTHON_NAMES = frozenset({
    "print", "isinstance", "issubclass", "len", "abs", "all", "any", "float", "int", "bool", "str",
    "repr", "type", "getattr", "setattr", "hasattr", "__import__", "exec", "eval", "compile",
    "open",
    "round", "sorted", "zip", "enumerate", "super", "object", "globals", "vars",
    "AssertionError", "Exception", "BaseException", "NotImplementedError", "KeyboardInterrupt",
    "SystemExit",
})
"""Python's own names whose rebinding at the top level is flagged (not every builtin: a
variable called ``input`` or ``sum`` is common and harmless)."""
AUTOGRAD_CALLS = (
    "torch.autograd.grad", "autograd.grad", "torch.autograd.functional.", "torch.func.",
    "functorch."
)
IMPORTERS = frozenset({"importlib.import_module", "import_module", "__import__"})


@dataclass(frozen=True)
class Flag:
    """One thing to look at: where, and what."""

    cell: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.cell}, line {self.line}: {self.what}"


def _root(node: ast.AST) -> ast.AST:
    """The innermost object of ``a.b[c].d`` or ``f(x).y``: ``a`` or the call ``f(x)``."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node


class _Scanner(ast.NodeVisitor):
    """Walks one cell; ``modules`` and ``imported`` carry over from the cells above."""

    def __init__(self, cell: str, modules: dict[str, str], imported: dict[str, str]) -> None:
        self.cell, self.modules, self.imported = cell, modules, imported
        self.flags: list[Flag] = []
        self.scopes: list[set[str]] = []  # the names declared ``global`` in each enclosing function

    def _flag(self, node: ast.AST, what: str) -> None:
        self.flags.append(Flag(self.cell, getattr(node, "lineno", 0), what))

    def _protected_module(self, name: str) -> str | None:
        module = self.modules.get(name, "")
        return module if module.split(".")[0] in PROTECTED else None

    # imports -----------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            self.modules[bound] = alias.name if alias.asname else alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*" and node.module:
                full = f"{node.module}.{alias.name}"
                self.imported[alias.asname or alias.name] = full
                self.modules[alias.asname or alias.name] = full  # it may be a module

    # scopes ------------------------------------------------------------------------------
    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._bind(node, node.name)
        self.scopes.append(
            {n for s in ast.walk(node) if isinstance(s, ast.Global) for n in s.names}
        )
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bind(node, node.name)
        bases = [dotted_name(b) or "" for b in node.bases]
        if any(b.endswith("Function") for b in bases):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "backward":
                    self._autograd_in_backward(node.name, item)
        self.scopes.append(set())  # a class body binds class attributes, not globals
        self.generic_visit(node)
        self.scopes.pop()

    def _autograd_in_backward(self, owner: str, backward: ast.FunctionDef) -> None:
        for call in (n for n in ast.walk(backward) if isinstance(n, ast.Call)):
            name = dotted_name(call.func) or ""
            if isinstance(call.func, ast.Attribute) and call.func.attr == "backward" \
                    or name.startswith(AUTOGRAD_CALLS) \
                    or self.imported.get(name, "").startswith(AUTOGRAD_CALLS):
                self._flag(call, f"{owner}.backward computes its gradient with PyTorch's autograd "
                                 f"({ast.unparse(call.func)}): judged by its outputs, not the "
                                 "formula")
                return

    # bindings ----------------------------------------------------------------------------
    def _bind(self, node: ast.AST, name: str) -> None:
        """A name bound at the top level (or declared global) that hides a protected one."""
        if self.scopes and name not in self.scopes[-1]:
            return
        if name in self.imported and self.imported[name].split(".")[0] in PROTECTED:
            self._flag(
                node, f"rebinds {name} (imported from {self.imported[name].rsplit('.', 1)[0]})",
            )
        elif name in PYTHON_NAMES:
            self._flag(node, f"rebinds Python's {name}")

    def _target(self, target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self._bind(target, target.id)
            if target.id in self.modules and not self.scopes:
                del self.modules[target.id]  # the name is no longer the module
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element)
        elif isinstance(target, ast.Starred):
            self._target(target.value)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            self._write_through(target)

    def _write_through(self, target: ast.Attribute | ast.Subscript) -> None:
        root = _root(target)
        text = ast.unparse(target)
        if isinstance(root, ast.Name):
            module = self._protected_module(root.id)
            if module and module != root.id:  # an alias: say what it stands for
                text += f" ({module}{text[len(root.id):]})"
            if root.id == "__builtins__" or module:
                self._flag(target, f"rebinds {text}")
        elif isinstance(root, ast.Call):
            called = dotted_name(root.func) or ""
            if called in (
                "globals", "vars", "locals"
            ) or called in IMPORTERS or self._protected_module(called.split(".")[0]):
                self._flag(target, f"rebinds {text}")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target)
        if isinstance(node.value, ast.Call) and (dotted_name(node.value.func) or "") in IMPORTERS:
            for target in node.targets:  # m = importlib.import_module("torch"): m is a module
                if isinstance(target, ast.Name) and node.value.args and isinstance(
                    node.value.args[0], ast.Constant,
                ):
                    self.modules[target.id] = str(node.value.args[0].value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target)

    def visit_Call(self, node: ast.Call) -> None:
        name = dotted_name(node.func) or ""
        if name in ("setattr", "delattr", "builtins.setattr") and node.args:
            root = _root(node.args[0])
            if isinstance(root, ast.Name) and (
                root.id == "__builtins__" or self._protected_module(root.id)
            ):
                self._flag(node, f"rebinds an attribute of {ast.unparse(node.args[0])} ({name})")
        self.generic_visit(node)


def _skip(cell: NotebookNode, instructor: set[str]) -> bool:
    return grade_id(cell) in instructor and is_test(cell)


def scan(notebook: NotebookNode, instructor: Iterable[str] = ()) -> list[str]:
    """Flags of every code cell of ``notebook`` but the instructor's test cells (grade ids in
    ``instructor``), in notebook order, as ``"cell 5 (linear_function), line 12: ..."``."""
    skip = set(instructor)
    modules: dict[str, str] = {}
    imported: dict[str, str] = {}
    found: list[str] = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or _skip(cell, skip):
            continue
        label = cell_label(index, cell)
        refused = [
            Flag(label, d.line, f"not kept in the grader's run of the definitions alone: {d.what}")
            for d in cell_definitions(str(cell.source)).dropped if d.refused
        ]
        try:
            tree = ast.parse(python_source(str(cell.source)))
        except SyntaxError:
            continue
        scanner = _Scanner(label, modules, imported)
        scanner.visit(tree)
        found += [str(f) for f in sorted([*scanner.flags, *refused], key=lambda f: f.line)]
    return list(dict.fromkeys(found))
