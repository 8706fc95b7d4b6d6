"""A notebook's definitions without its top-level work: what the grader runs graded functions from.

The grader calls your graded functions (``LinearFunction``, ``sgd_step``, ``wiener``, ...) a
second time, in a fresh process that holds only the notebook's **definitions**: for every code
cell above the test, its imports, ``def`` and ``class`` statements, and assignments of constants
(``EPS = 1e-8``, ``SIGMAS = (0.005, 0.01)``). Nothing else of the notebook runs there: no
training loop, no function call at the top level, no plotting. So a graded function must get
everything it needs from its arguments, imports and such definitions; a name that only
top-level code sets (``device = default_device()``) is not there and raises ``NameError``.

What counts as a definition is checked statically, so that a definition cannot run code while
it is being defined: decorators only from a short list (``@staticmethod``, ``@classmethod``,
``@property``, ``@torch.no_grad()``, ...), default values and class bases only constants and
names, no annotations evaluated, no ``metaclass=`` and no ``__init_subclass__``.

:func:`kept_module` gives the kept statements of one cell as an ``ast.Module`` (original line
numbers, so a traceback points at the cell's own line); :func:`cell_definitions` also says
what was left out; :func:`top_level_only_names` lists the names graded functions use that only
top-level code sets (``dlci check`` warns about them).
"""

from __future__ import annotations

import ast
import builtins
import symtable
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

GRADED_ALONE_KEY = "graded_alone"
"""Key under a released notebook's ``metadata.dlci``: the functions and classes the grader runs
from the definitions alone (the release writes it; ``dlci check`` reads it)."""
CELL_MAGICS_KEPT = ("%%time", "%%capture")
"""Cell magics whose body is ordinary Python (kept; the magic line itself is dropped)."""
DECORATORS = frozenset({
    "staticmethod", "classmethod", "property", "abstractmethod", "abc.abstractmethod",
    "once_differentiable", "torch.autograd.function.once_differentiable",
    "torch.no_grad", "torch.enable_grad", "torch.inference_mode",
    "functools.cache", "functools.lru_cache", "cache", "lru_cache",
})
"""Decorators a definition may carry (as ``@name`` or ``@name()`` with constant arguments),
plus ``@<property>.setter`` / ``.getter`` / ``.deleter``."""
SPECIAL_METHODS_DROPPED = frozenset({"__init_subclass__", "__set_name__", "__class_getitem__"})
"""Methods Python calls while a class is being defined: left out."""


@dataclass(frozen=True)
class Dropped:
    """One top-level statement left out: its line in the cell and what it was."""

    line: int
    what: str


@dataclass(frozen=True)
class CellDefinitions:
    """The kept part of one cell.

    Attributes:
        module: the kept statements (line numbers as in the cell).
        names: names the kept statements bind at the top level.
        dropped: what was left out, in order.
    """

    module: ast.Module
    names: frozenset[str]
    dropped: tuple[Dropped, ...] = field(default=())


def python_source(cell_source: str) -> str:
    """The cell as plain Python: IPython's ``%magic`` and ``!shell`` lines become calls (which
    are then not kept), and a ``%%time`` or ``%%capture`` cell is its body."""
    lines = cell_source.splitlines(keepends=True)
    if lines and lines[0].strip().split(" ")[0] in CELL_MAGICS_KEPT:
        lines[0] = "\n"  # keep the line numbers
        cell_source = "".join(lines)
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # plain Python without IPython: nothing to transform
        return cell_source
    return str(TransformerManager().transform_cell(cell_source))


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names, else None (also used by the grader's flags)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _static(node: ast.expr | None) -> bool:
    """An expression that runs no code of the notebook's: constants, names and attribute
    chains, and containers and operators of those (and lambdas whose defaults are static)."""
    if node is None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Name, ast.Attribute)):
        return dotted_name(node) is not None
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_static(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(_static(k) for k in node.keys) and all(_static(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return _static(node.operand)
    if isinstance(node, ast.BinOp):
        return _static(node.left) and _static(node.right)
    if isinstance(node, ast.BoolOp):
        return all(_static(v) for v in node.values)
    if isinstance(node, ast.Compare):
        return _static(node.left) and all(_static(c) for c in node.comparators)
    if isinstance(node, ast.Lambda):
        return _static_arguments(node.args)
    return False


def _static_arguments(args: ast.arguments) -> bool:
    return all(_static(d) for d in [*args.defaults, *args.kw_defaults])


def _decorator_ok(node: ast.expr) -> bool:
    target, arguments = node, []
    if isinstance(node, ast.Call):
        target, arguments = node.func, [*node.args, *(k.value for k in node.keywords)]
        if not all(isinstance(a, ast.Constant) for a in arguments):
            return False
    name = dotted_name(target)
    if name is None:
        return False
    if name in DECORATORS:
        return True
    return not isinstance(node, ast.Call) and name.count(".") == 1 and name.endswith(
        (".setter", ".getter", ".deleter")
    )


def _strip_annotations(args: ast.arguments) -> None:
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if arg is not None:
            arg.annotation = None


def _targets(node: ast.expr) -> list[str] | None:
    """Names bound by an assignment target made of names (and tuples of them), else None."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        names: list[str] = []
        for element in node.elts:
            inner = _targets(element)
            if inner is None:
                return None
            names += inner
        return names
    return None


def _describe(node: ast.stmt) -> str:
    if isinstance(node, ast.Expr):
        return "a top-level expression or call"
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        return "an assignment of a computed value"
    return f"a top-level {type(node).__name__.lower()} statement"


def _keep(
    body: Sequence[ast.stmt], dropped: list[Dropped], in_class: bool,
) -> tuple[list[ast.stmt], set[str]]:
    """The statements of ``body`` that only define, and the names they bind."""
    kept: list[ast.stmt] = []
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.append(node)
            for alias in node.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if in_class and node.name in SPECIAL_METHODS_DROPPED:
                dropped.append(
                    Dropped(
                        node.lineno, f"method {node.name} (Python calls it while defining a class)",
                    )
                )
                continue
            if not _static_arguments(node.args):
                dropped.append(
                    Dropped(node.lineno, f"def {node.name}: a default value that is computed")
                )
                continue
            bad = [d for d in node.decorator_list if not _decorator_ok(d)]
            if bad:
                dropped.append(
                    Dropped(node.lineno, f"def {node.name}: decorator @{ast.unparse(bad[0])}")
                )
                continue
            _strip_annotations(node.args)
            node.returns = None
            kept.append(node)
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            if node.keywords:
                dropped.append(
                    Dropped(node.lineno, f"class {node.name}: keyword {node.keywords[0].arg}=")
                )
                continue
            if not all(
                dotted_name(b) is not None for b in node.bases
            ) or not all(_decorator_ok(d) for d in node.decorator_list):
                dropped.append(
                    Dropped(node.lineno, f"class {node.name}: a base or decorator that is computed")
                )
                continue
            inner, _ = _keep(node.body, dropped, in_class=True)
            node.body = inner or [ast.Pass(lineno=node.lineno, col_offset=node.col_offset)]
            kept.append(node)
            names.add(node.name)
        elif isinstance(node, ast.Assign) and _static(node.value) and all(
            _targets(t) is not None for t in node.targets
        ):
            kept.append(node)
            names.update(n for t in node.targets for n in _targets(t) or [])
        elif (
            isinstance(node, ast.AnnAssign) and node.value is not None and _static(node.value)
            and isinstance(node.target, ast.Name)
        ):
            kept.append(
                ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)
            )
            names.add(node.target.id)
        elif isinstance(node, ast.Pass) or (
            isinstance(node, ast.Expr) and isinstance(
                node.value, ast.Constant,
            ) and isinstance(node.value.value, str)
        ):
            kept.append(node)  # a docstring
        else:
            dropped.append(Dropped(node.lineno, _describe(node)))
    return kept, names


def cell_definitions(cell_source: str) -> CellDefinitions:
    """The definitions of one code cell (see the module's docstring); a cell that is not valid
    Python keeps nothing and says so."""
    try:
        tree = ast.parse(python_source(cell_source))
    except SyntaxError as error:
        return CellDefinitions(
            ast.Module(body=[], type_ignores=[]), frozenset(),
            (Dropped(error.lineno or 1, f"the cell is not valid Python ({error.msg})"),),
        )
    dropped: list[Dropped] = []
    body, names = _keep(tree.body, dropped, in_class=False)
    module = ast.Module(body=body, type_ignores=[])
    ast.fix_missing_locations(module)
    return CellDefinitions(module, frozenset(names), tuple(dropped))


def kept_module(cell_source: str) -> ast.Module:
    """The kept statements of one cell, ready for ``compile(module, filename, "exec")``."""
    return cell_definitions(cell_source).module


def _functions(table: symtable.SymbolTable) -> Iterable[tuple[str, symtable.Function]]:
    for child in table.get_children():
        if isinstance(child, symtable.Function):
            yield child.get_name(), child
        yield from ((f"{child.get_name()}.{name}", f) for name, f in _functions(child))


def top_level_only_names(cells: Sequence[str], graded: Iterable[int]) -> dict[str, list[str]]:
    """Function -> the global names it uses that no definition binds (only top-level code).

    Args:
        cells: every code cell's source, in notebook order.
        graded: indices of the cells whose functions the grader calls (the answer cells).
    """
    defined = set(dir(builtins))
    for source in cells:
        defined |= cell_definitions(source).names
    out: dict[str, list[str]] = {}
    for index in graded:
        try:
            table = symtable.symtable(python_source(cells[index]), f"cell {index}", "exec")
        except SyntaxError:
            continue
        for name, function in _functions(table):
            missing = sorted(
                s.get_name() for s in function.get_symbols()
                if s.is_global() and s.is_referenced() and s.get_name() not in defined
            )
            if missing:
                out[name] = missing
    return out


def self_contained_warnings(notebook: object) -> list[str]:
    """Warnings for the graded functions of a released notebook (``nbformat`` node) that use a
    name only top-level code sets: the grader's run of the definitions alone lacks it."""
    metadata = getattr(notebook, "metadata", {}) or {}
    graded = set((metadata.get("dlci") or {}).get(GRADED_ALONE_KEY, []))
    cells = [str(c.source) for c in getattr(notebook, "cells", []) if c.cell_type == "code"]
    if not graded:
        return []
    return [
        f"{function} uses {', '.join(names)}, which only top-level code sets: the grader runs "
        f"{function.split('.')[0]} from the notebook's definitions alone (imports, def, class and "
        f"constants), where {'it is' if len(names) == 1 else 'they are'} missing; pass "
        f"{'it' if len(names) == 1 else 'them'} in or compute "
        f"{'it' if len(names) == 1 else 'them'} inside"
        for function, names in top_level_only_names(cells, range(len(cells))).items()
        if function.split(".")[0] in graded
    ]
