"""The grader's architecture, kept by a check: no import circles, no import from a lower layer
to a higher one, no import inside a function (``make lint`` runs this).

``python tools/check_layers.py [--report]``: exits 1 on any circle between modules of
:mod:`dlci_grader`, any import that points up the layers of :data:`LAYERS`, or any import
statement below module level; ``--report`` prints the counts and exits 0. Imports under
``if TYPE_CHECKING:`` count: a circle that only the type checker closes is still a circle.
The layer order and the reasons for it: docs/maintainers/architecture.md.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "dlci_grader"
ROOT = Path(__file__).resolve().parent.parent / "autograder" / PACKAGE

LAYERS: list[list[str]] = [
    ["commands"],
    ["gradescope", "lms", "samples", "offline", "insight"],
    ["run"],
    ["nbgrader"],
    ["ledger"],
    ["verdicts"],
    ["kernel"],
    ["tasks"],
    ["isolation", "files"],
]
"""Top to bottom; the parts on one line are independent of each other. A module may import its
own part and any part on a lower line, never one on its line or above it."""

ALLOWED_LOCAL: dict[str, str] = {
    "commands": "every `dlci` call loads every command module: a verb imports its work when run",
    "dlci_grader.kernel.answers": "the sandbox lets the kernel read kernel/ only: what only runs"
    " outside the grader (a solution notebook judging itself) imports tasks/ when it runs",
    "dlci_grader.tasks.task3.checks": "torch and the reference filter load when a Task 3 test is"
    " drawn or judged, not when the registry reads the task's checks",
}
"""Function-level imports of the grader's own modules, allowed where listed (a module or a
part), with the reason. Anywhere else an import inside a function hides a dependency."""

SKIPPED = ("samples/attack_cells/",)
"""Not modules of the grader: cell sources pasted into a sample notebook."""


def module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part(module: str) -> str:
    """The layer part of a module: its first name below the package (``run``, ``lms``...)."""
    names = module.split(".")
    return names[1] if len(names) > 1 else ""


def rank(module: str) -> int | None:
    for index, parts in enumerate(LAYERS):
        if part(module) in parts:
            return index
    return None


def imports(path: Path, modules: set[str]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """``(module-level, function-level)`` imports of the package's modules: (module, line)."""
    tree = ast.parse(path.read_text(), str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    top: list[tuple[str, int]] = []
    local: list[tuple[str, int]] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        found = []
        for alias in node.names:
            full = f"{base}.{alias.name}"
            found.append(full if full in modules else base)
        return found

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in targets(child):
                    if target.split(".")[0] == PACKAGE:
                        while target not in modules and "." in target:
                            target = target.rpartition(".")[0]
                        (local if in_function else top).append((target, child.lineno))
                    elif in_function:
                        local.append((target, child.lineno))
            inner = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
            )
            visit(child, inner)

    visit(tree, False)
    return top, local


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def main(argv: list[str]) -> int:
    report = "--report" in argv
    paths = sorted(p for p in ROOT.rglob("*.py") if not any(k in p.as_posix() for k in SKIPPED))
    modules = {module_name(p) for p in paths}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    upward: set[str] = set()
    local_own: list[str] = []
    local_other = 0
    for path in paths:
        me = module_name(path)
        top, local = imports(path, modules)
        where = path.relative_to(ROOT.parent)
        for target, line in [*top, *local]:
            if target.split(".")[0] == PACKAGE:
                if target != me:
                    graph[me].add(target)
                mine, theirs = rank(me), rank(target)
                if mine is not None and theirs is not None and part(me) != part(
                    target
                ) and theirs <= mine:
                    upward.add(f"{where}:{line}: {me} -> {target}")
        for target, line in local:
            if target.split(".")[0] != PACKAGE:
                local_other += 1
            elif me not in ALLOWED_LOCAL and part(me) not in ALLOWED_LOCAL:
                local_own.append(f"{where}:{line}: {target}")
    circles = cycles(graph)
    unplaced = sorted({part(m) for m in modules if rank(m) is None and part(m)})
    print(f"circles: {len(circles)}")
    for circle in circles:
        print("  " + " <-> ".join(circle))
    print(f"upward imports: {len(upward)}")
    for entry in sorted(upward):
        print("  " + entry)
    print(f"function-level imports of the grader's modules, not allowed: {len(local_own)}")
    for entry in local_own:
        print("  " + entry)
    if unplaced:
        print(f"parts in no layer: {', '.join(unplaced)}")
    if report:
        allowed = sum(
            1 for p in paths for t, _ in imports(p, modules)[1] if t.split(".")[0] == PACKAGE
        ) - len(local_own)
        print(f"function-level imports of the grader's modules, allowed: {allowed}")
        print(f"function-level imports of other modules (torch, nbgrader.api...): {local_other}")
        sizes = sorted(((len(p.read_text().splitlines()), p) for p in paths), reverse=True)[:3]
        for size, path in sizes:
            print(f"long file: {path.relative_to(ROOT.parent)} ({size} lines)")
        return 0
    return 1 if circles or upward or local_own or unplaced else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
