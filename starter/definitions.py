"""A notebook's definitions without its top-level work: what the grader runs graded functions from.

The grader calls your graded functions (``LinearFunction``, ``sgd_step``, ``wiener``, ...) a
second time, in a fresh process that holds only the notebook's **definitions**: for every code
cell above the test, its imports, ``def`` and ``class`` statements, and assignments of constants
(``EPS = 1e-8``, ``SIGMAS = (0.005, 0.01)``). Nothing else of the notebook runs there: no
training loop, no function call at the top level, no plotting. So a graded function must get
everything it needs from its arguments, imports and such definitions; a name that only
top-level code sets (``device = default_device()``) is not there and raises ``NameError``.

What counts as a definition is checked statically, so that no code of the notebook runs while
its definitions are being defined; a definition that could is **refused** (not kept, and said
so: ``dlci check`` prints it, the grader flags it):

- decorators only from a short list (``@staticmethod``, ``@classmethod``, ``@property``,
  ``@torch.no_grad()``, ...), looked up by names only their real import may bind (rebinding
  ``staticmethod`` or ``torch``, or ``from m import *``, is refused); ``@x.setter`` only on a
  property ``x`` defined above it in the same class; no ``@classmethod`` over a property (Python
  would call it when the attribute is read); no decorator on a class;
- no special (dunder) name bound, except as a method of a class, and none of the methods Python
  calls while it defines a class (``__init_subclass__``, ``__set_name__``, ...);
- default values, class bases and assigned values only constants, names and attribute chains,
  and containers and operators of those (no ``**`` in a dict: it calls ``keys()``); no
  ``metaclass=``, no annotations evaluated.

The grader's own run of the definitions adds two checks: each test keeps only the
definitions its source needs (:func:`needed`), and a class whose bases have a metaclass other than
Python's, ``abc``'s or PyTorch's Function's, or an ``__init_subclass__`` of the notebook's own, is
not defined.

:func:`cell_definitions` gives the kept statements of one cell as an ``ast.Module`` (original
line numbers, so a traceback points at the cell's own line) and what was left out;
:func:`top_level_only_names` lists the names graded functions use that only top-level code sets
and :func:`refusals` the refused definitions (``dlci check`` prints both).
"""

from __future__ import annotations

import ast
import builtins
import symtable
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from starter.nbgrader_cells import is_test

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
DECORATOR_ROOTS = frozenset(name.split(".")[0] for name in DECORATORS)
"""The names the decorators are looked up by (``staticmethod``, ``torch``, ``cache``, ...): only
their real import binds them, so a decorator is always the real one."""
_MODULES = frozenset(name.split(".")[0] for name in DECORATORS if "." in name)  # torch, abc, ...
_PROPERTY_PARTS = (".setter", ".getter", ".deleter")
SPECIAL_METHODS_REFUSED = frozenset(
    {"__init_subclass__", "__set_name__", "__class_getitem__", "__mro_entries__"}
)
"""Methods Python calls while it defines a class (a subclass, an attribute, a subscript, a base
that is not a class): refused."""


@dataclass(frozen=True)
class Dropped:
    """One statement left out: its line in the cell, what it was, and whether it is a definition
    refused because it could run code while defined (``refused``) rather than top-level work."""

    line: int
    what: str
    refused: bool = False


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


@dataclass(frozen=True)
class Statement:
    """What one kept top-level statement binds and reads: the plain data of :func:`needed`.

    Attributes:
        binds: the names it binds.
        reads: the names it reads (anywhere in it, its functions' bodies included).
        always: an import, kept for every test.
    """

    binds: frozenset[str]
    reads: frozenset[str]
    always: bool


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
    """An expression that runs no code of the notebook's: constants, names and attribute chains,
    containers and operators of those, and lambdas whose defaults are static. No ``**`` in a
    dict display: it calls the mapping's ``keys()``, which may be the notebook's.

    Reading an attribute of, or applying an operator to, the notebook's own classes and functions
    (``linear = LinearFunction.apply``, as PyTorch's documentation writes it) runs only Python's
    and PyTorch's code: no instance of a notebook class exists while the definitions run (no
    call is kept, and the grader's run defines no class whose metaclass could make one, such as
    an ``enum.Enum``'s), so only the class's metaclass (Python's, ``abc``'s or PyTorch's
    Function's: none has ``__getattr__`` or arithmetic) and the ``__get__`` of what the class
    holds (functions, constants, the kept decorators' objects) take part; a ``@classmethod``
    over a property, the one of those that calls a function when read, is refused."""
    if node is None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Name, ast.Attribute)):
        return dotted_name(node) is not None
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_static(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _static(k) for k in node.keys) and all(
            _static(v) for v in node.values
        )
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


def _reads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _decorator_ok(node: ast.expr, properties: set[str]) -> bool:
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
    return not isinstance(node, ast.Call) and _property_part(name) in properties


def _property_part(name: str | None) -> str | None:
    """``x`` of ``x.setter`` (``.getter``, ``.deleter``), else None."""
    if name is None or name.count(".") != 1 or not name.endswith(_PROPERTY_PARTS):
        return None
    return name.split(".")[0]


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


def _bindings(node: ast.AST) -> set[str]:
    """The names a statement binds in its own scope: not inside the functions, lambdas and
    classes it defines, but their names and anything a walrus in their decorators, defaults or
    bases binds (comprehensions' own variables count too: more than binds, never less; ``del``
    does not)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        evaluated = [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]
        return {node.name}.union(*(_bindings(e) for e in evaluated if e is not None))
    if isinstance(node, ast.ClassDef):
        parts = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
        return {node.name}.union(*(_bindings(e) for e in parts))
    if isinstance(node, ast.Lambda):
        defaults = [*node.args.defaults, *node.args.kw_defaults]
        return set().union(*(_bindings(e) for e in defaults if e is not None))
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"}
    names = set()
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        names.add(node.id)
    elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
        names.add(node.name)
    elif isinstance(node, ast.MatchMapping) and node.rest:
        names.add(node.rest)
    return names.union(*(_bindings(child) for child in ast.iter_child_nodes(node)))


def _dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _real(name: str) -> str:
    """Where the real decorator name ``name`` comes from, in words."""
    if name in _MODULES:
        return f"`import {name}`"
    if hasattr(builtins, name):
        return "Python's own"
    module = min(d.rsplit(".", 1)[0] for d in DECORATORS if d.endswith(f".{name}"))
    return f"`from {module} import {name}`"


def _canonical(node: ast.Import | ast.ImportFrom, alias: ast.alias) -> bool:
    """``import torch`` (``import torch.nn``), ``from functools import cache``: the import that
    binds a decorator's name to the real thing."""
    if isinstance(node, ast.Import):
        return alias.asname in (None, alias.name) and alias.name.split(".")[0] in _MODULES
    return node.level == 0 and f"{node.module}.{alias.name}" in DECORATORS and alias.asname in (
        None, alias.name,
    )


def _subject(node: ast.stmt) -> str:
    """The statement, in a few words, for a refusal."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return f"def {node.name}"
    if isinstance(node, ast.ClassDef):
        return f"class {node.name}"
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return f"`{ast.unparse(node)}`"
    if isinstance(node, ast.Assign):
        return f"`{' = '.join(ast.unparse(t) for t in node.targets)} = ...`"
    if isinstance(node, ast.AugAssign):
        return f"`{ast.unparse(node.target)} += ...`"
    if isinstance(node, ast.AnnAssign):
        return f"`{ast.unparse(node.target)}: ... = ...`"
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return f"`for {ast.unparse(node.target)} in ...`"
    return f"a top-level {type(node).__name__.lower()} statement"


def _refusal(node: ast.stmt, in_class: bool, properties: set[str]) -> str | None:
    """Why ``node`` (in a class body when ``in_class``) could run code while it is defined, or
    None; ``properties``: the names above it in the same body bound by a kept ``@property``."""
    subject = _subject(node)
    if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
        return f"{subject} may bind any name, the decorators' too: import the names you need"
    method = node.name if in_class and isinstance(
        node, (ast.FunctionDef, ast.AsyncFunctionDef),
    ) else None
    if method in SPECIAL_METHODS_REFUSED:
        return f"method {method}: Python calls it while it defines a class"
    bound = _bindings(node)
    special = sorted(n for n in bound if _dunder(n) and n != method)
    if special:
        return (
            f"{subject} binds the special name `{special[0]}`: Python calls special names while it "
            "defines things, so only a class's methods (def) may have one"
        )
    canonical: set[str] = set()
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        canonical = {a.asname or a.name.split(".")[0] for a in node.names if _canonical(node, a)}
    rebound = sorted((bound & DECORATOR_ROOTS) - canonical)
    if rebound:
        return (
            f"{subject} rebinds `{rebound[0]}`: Python calls decorators while it defines a "
            f"function, so the grader keeps only the real `{rebound[0]}` ({_real(rebound[0])})"
        )
    if isinstance(node, ast.ClassDef) and node.decorator_list:
        return (
            f"{subject} has a decorator (@{ast.unparse(node.decorator_list[0])}): Python calls it "
            "while it defines the class, so no class with a decorator is kept"
        )
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return _function_refusal(node, properties)
    return None


def _function_refusal(
    node: ast.FunctionDef | ast.AsyncFunctionDef, properties: set[str],
) -> str | None:
    """The refusals particular to a def: decorators that would call a property, the notebook's
    own code, and ``global`` declarations of a decorator's or a special name."""
    names = [dotted_name(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list]
    for d, name in zip(node.decorator_list, names, strict=True):
        part = _property_part(name)
        if part is not None and (isinstance(d, ast.Call) or part not in properties):
            return (
                f"def {node.name}: @{ast.unparse(d)} where `{part}` is not a property defined "
                f"above in the same class (`@property def {part}`): Python would call "
                f"`{ast.unparse(d)}` while it defines the function, whatever `{part}` is"
            )
    if "classmethod" in names and any(
        n == "property" or _property_part(n) for n in names[names.index("classmethod") + 1:]
    ):
        return (
            f"def {node.name}: @classmethod over a property: Python calls the property's function "
            "when the class's attribute is read"
        )
    declared = sorted(
        n for g in ast.walk(node) if isinstance(g, (ast.Global, ast.Nonlocal))
        for n in g.names if n in DECORATOR_ROOTS or _dunder(n)
    )
    if declared:
        return f"def {node.name} declares `global {declared[0]}`: it could rebind it when called"
    return None


def _describe(node: ast.stmt) -> str:
    if isinstance(node, ast.Expr):
        return "a top-level expression or call"
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        return "an assignment of a computed value"
    return f"a top-level {type(node).__name__.lower()} statement"


def _not_static(node: ast.stmt, properties: set[str]) -> str | None:
    """Why a def or class is refused for what it evaluates while defined (a decorator, a
    default value, a base, a keyword), or None."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if not _static_arguments(node.args):
            return f"def {node.name}: a default value that is computed"
        bad = [d for d in node.decorator_list if not _decorator_ok(d, properties)]
        if bad:
            return f"def {node.name}: decorator @{ast.unparse(bad[0])}"
    elif isinstance(node, ast.ClassDef):
        if node.keywords:
            return f"class {node.name}: keyword {node.keywords[0].arg}="
        if not all(dotted_name(b) is not None for b in node.bases):
            return f"class {node.name}: a base that is computed"
    return None


def _keep(
    body: Sequence[ast.stmt], dropped: list[Dropped], in_class: bool,
) -> tuple[list[ast.stmt], set[str]]:
    """The statements of ``body`` that only define, and the names they bind."""
    kept: list[ast.stmt] = []
    names: set[str] = set()
    properties: set[str] = set()  # names above bound by a kept @property (or .setter) def
    for node in body:
        why = _refusal(node, in_class, properties) or _not_static(node, properties)
        if why:
            dropped.append(Dropped(node.lineno, why, refused=True))
            continue
        if isinstance(node, ast.ClassDef):
            inner, _ = _keep(node.body, dropped, in_class=True)
            node.body = inner or [ast.Pass(lineno=node.lineno, col_offset=node.col_offset)]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            _strip_annotations(node.args)
            node.returns = None
        elif isinstance(node, ast.AnnAssign) and node.value is not None and _static(
            node.value,
        ) and isinstance(node.target, ast.Name):
            node = ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)
        elif not _definition(node):
            dropped.append(Dropped(node.lineno, _describe(node)))
            continue
        kept.append(node)
        bound = _bindings(node)
        names |= bound
        properties -= bound
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
            first = dotted_name(node.decorator_list[0])
            if first == "property" or _property_part(first):
                properties.add(node.name)
    return kept, names


def _definition(node: ast.stmt) -> bool:
    """An import, an assignment of a static value to names, a docstring or ``pass``."""
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.Pass)):
        return True
    if isinstance(node, ast.Assign):
        return _static(node.value) and all(_targets(t) is not None for t in node.targets)
    return isinstance(node, ast.Expr) and isinstance(
        node.value, ast.Constant,
    ) and isinstance(node.value.value, str)


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


def statement(node: ast.stmt) -> Statement:
    """What a kept top-level statement binds and reads, for :func:`needed`."""
    return Statement(
        frozenset(_bindings(node)), frozenset(_reads(node)),
        isinstance(node, (ast.Import, ast.ImportFrom)),
    )


def names_read(source: str) -> frozenset[str]:
    """The names some Python source (a test's) reads."""
    return frozenset(_reads(ast.parse(source)))


def needed(statements: Sequence[Statement], roots: Iterable[str]) -> list[bool]:
    """Which of the kept ``statements`` (in notebook order) a test that reads ``roots`` needs:
    every import, every statement that binds a name the test reads, and, again and again, every
    one that binds a name those read. A hook in a class no graded function uses is then not
    defined at all. (Only a name read in the source counts: ``globals()["f"]`` does not.)"""
    wanted = set(roots)
    keep = [s.always for s in statements]
    grown = True
    while grown:
        grown = False
        for index, s in enumerate(statements):
            if not keep[index] and s.binds & wanted:
                keep[index], grown = True, True
                wanted |= s.reads
    return keep


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


def refusals(notebook: object) -> list[str]:
    """The definitions of a notebook (``nbformat`` node) that the grader's run of the definitions
    alone refuses, as ``cell 5, line 3: ...`` (the test cells left out: the grader's are run)."""
    cells = [
        (index, c) for index, c in enumerate(getattr(notebook, "cells", []))
        if c.cell_type == "code" and not is_test(c)
    ]
    return [
        f"cell {index + 1}, line {d.line}: not kept when the grader runs your definitions alone: "
        f"{d.what}"
        for index, cell in cells for d in cell_definitions(str(cell.source)).dropped if d.refused
    ]
