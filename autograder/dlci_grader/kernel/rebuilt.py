"""The student's graded functions run from their definitions alone, apart from the notebook.

``python -m dlci_grader.kernel.rebuilt --serve`` is a fork server
(:mod:`dlci_grader.isolation.fork_server`, started and fed by :mod:`dlci_grader.verdicts.rebuild`):
it imports PyTorch once and, for each notebook, forks a child that puts itself in the same
sandbox and under the same limits as the student's kernel before it reads anything of the
notebook (:func:`_notebook_child`), so a class pays Python's and PyTorch's start once per
grading thread instead of once per notebook. The child
reads the request's spec: the notebook's code cells and, for each test judged this way, how many
cells precede it and the test's own hidden-test source (the instructor's, a call into
:mod:`dlci_grader.kernel`). For each
test it forks a fresh child that runs only the definitions of the cells above the test
(:func:`starter.definitions.cell_definitions`: imports, ``def``, ``class``, constants; no
top-level call, no assignment of a computed value, nothing that could run the notebook's code
while it is defined), and of those only what the test's source needs (the imports, and the
definitions of the names it reads, and of the names those read: :func:`starter.definitions.needed`),
and then the test's source. So a harness the notebook replaced, a check it turned into a no-op,
or a patch of PyTorch made by top-level code or a hook in the definitions is not there: what
comes back is what the graded functions compute. The server itself never runs a notebook's
code, so every notebook's child starts from the same clean state.

While the definitions run, a class statement of the notebook's is defined only when each base
is a class whose metaclass is Python's, ``abc``'s or PyTorch's Function's, and no class its bases
derive from has an ``__init_subclass__`` but Python's or ``typing.Generic``'s
(:func:`_base_problem`): another metaclass or hook could run the notebook's code while the class
is defined (an ``enum.Enum`` calls the class's ``__init__``). Any other class is not defined, and
the test's error says why if it needs it.

Each test's child hands its answers back through a pipe of its own (:data:`answers.FD_ENV`);
its standard streams are closed and neither the server nor the notebook's child is dumpable, so
a test's child can neither write to their output nor answer for another test. The notebook's
child writes one JSON line per test, which the server relays: ``{"test", "npz"}`` (base64, the
format of :func:`answers.encode`) or ``{"test", "error"}``. Nothing here judges: the grader
does, in its own process.
"""

from __future__ import annotations

import abc
import builtins
import ctypes
import json
import os
import select
import signal
import sys
import time
import traceback
import typing
from collections.abc import Callable, Sequence
from types import CodeType, TracebackType
from typing import Any, NoReturn, cast

from dlci_grader.isolation import sandbox
from dlci_grader.isolation.fork_server import become, enter_job, not_dumpable, serve_command
from dlci_grader.kernel import answers
from starter.definitions import Statement, cell_definitions, names_read, needed, statement

_PR_SET_NO_NEW_PRIVS = 38
_CAP_VERSION_3 = 0x20080522
MAX_MESSAGE_BYTES = 2 * answers.MAX_ANSWER_BYTES
"""Most bytes one test's child may send back."""
STDERR_LOG = "stderr.log"
"""A notebook's child writes its standard error here, in its folder (the grader reads the end
when the run stops early)."""


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32)
    ]


def _drop_privileges() -> None:
    """In a child: no capabilities, and none to regain (``no_new_privs``). A child of a grader
    that runs as root could otherwise still open this process's /proc entries, which
    :func:`~dlci_grader.isolation.fork_server.not_dumpable` closes only to processes without
    ``CAP_SYS_PTRACE``."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if os.geteuid() != 0:
        return
    header, data = _CapHeader(_CAP_VERSION_3, 0), (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(
            ctypes.get_errno(), "capset: could not drop the capabilities of a test's child",
        )


Compiled = list[list[tuple[CodeType, Statement]]]
"""Each cell's kept statements: a code object each, and what it binds and reads."""


def _compile_cells(cells: list[dict[str, str]]) -> Compiled:
    """Each cell's kept statements, one code object per statement (a failing statement then
    costs only itself, as a failing cell does in the notebook)."""
    import ast

    return [
        [
            (
                compile(ast.Module(body=[node], type_ignores=[]), cell["label"], "exec"),
                statement(node),
            ) for node in cell_definitions(cell["source"]).module.body
        ] for cell in cells
    ]


def _prelude(cells: Compiled, test: str) -> list[list[CodeType]]:
    """The statements of ``cells`` that the test's source ``test`` needs, cell by cell."""
    flat = [s for statements in cells for _, s in statements]
    keep = iter(needed(flat, names_read(test)))
    return [[code for code, _ in statements if next(keep)] for statements in cells]


def _preimport(cells: list[list[CodeType]]) -> None:
    """Import, once and before any child forks, the modules the kept import statements name
    (library code only: the children then start in milliseconds instead of each importing
    matplotlib and the kit again). A module that fails to import fails again in the child."""
    import importlib

    for statements in cells:
        for code in statements:
            for module in _imported_modules(code):
                try:
                    importlib.import_module(module)
                except Exception:  # noqa: BLE001, S112 - the child meets the same error in its cell
                    continue


def _warm_up() -> None:
    """One tiny autograd pass before the children fork, so that each does not pay PyTorch's
    first-use set-up again (single-threaded: nothing here starts a thread pool). The pass hands
    ``backward`` an explicit gradient, as the harnesses do: that path imports
    ``torch.fx.experimental.symbolic_shapes`` and sympy on first use, 0.4 s per child
    otherwise."""
    import torch

    x = torch.ones(2, 2, dtype=torch.float64, requires_grad=True)
    y = x @ x
    y.backward(torch.ones_like(y))  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated


def _imported_modules(code: CodeType) -> list[str]:
    """The modules an ``import`` statement compiled into ``code`` names (from its bytecode)."""
    import dis

    return [str(i.argval) for i in dis.get_instructions(code) if i.opname == "IMPORT_NAME"]


def _where(tb: TracebackType | None) -> str:
    """``cell 4 (linear_function), line 12``: the innermost frame in the notebook's cells."""
    last = ""
    for frame, line in traceback.walk_tb(tb):
        if frame.f_code.co_filename.startswith("cell "):
            last = f"{frame.f_code.co_filename}, line {line}"
    return last


_INIT_SUBCLASS_KEPT = (object, typing.Generic)
"""The classes whose ``__init_subclass__`` a notebook class may inherit: Python's own, and
``typing.Generic``'s, which reads only the new class's name and bases (PyTorch's ``Dataset``
derives from it). Any other may call the new class's methods: PyTorch's ``TorchDispatchMode``
calls its ``_should_skip_dynamo``."""


def _base_problem(base: object) -> str | None:
    """Why a class derived from ``base`` could run the notebook's code while it is defined, or
    None. Reads nothing of ``base`` but through Python's own ``type`` (no attribute of a notebook
    object is read: that could run its code too)."""
    import torch

    metaclass = type(base)
    if not issubclass(metaclass, type):
        return (
            f"a base is not a class but a {metaclass.__qualname__} object, whose __mro_entries__ "
            "Python would call"
        )
    if not any(metaclass is m for m in (type, abc.ABCMeta, type(torch.autograd.Function))):
        return (
            f"its base {cast(type, base).__qualname__} has the metaclass "
            f"{metaclass.__qualname__} (not Python's, abc's or PyTorch's Function's), which "
            "could run code while the class is defined"
        )
    for ancestor in cast(type, base).__mro__:
        if "__init_subclass__" in vars(ancestor) and not any(
            ancestor is kept for kept in _INIT_SUBCLASS_KEPT
        ):
            return (
                f"{ancestor.__qualname__} defines __init_subclass__, which Python would call "
                "while the class is defined"
            )
    return None


def _checked_build_class(
    original: Callable[..., Any], labels: set[str],
) -> Callable[..., Any]:
    """Python's ``__build_class__``, which refuses (``TypeError``) a class statement compiled
    from the cells ``labels`` whose bases or keywords could run code (:func:`_base_problem`)."""

    def build_class(body: Any, name: str, *bases: object, **keywords: object) -> Any:
        code = body.__code__
        if code.co_filename in labels:
            problems = [p for p in map(_base_problem, bases) if p] + [
                f"keyword {k}=" for k in keywords
            ]
            if problems:
                raise TypeError(
                    f"class {name} ({code.co_filename}, line {code.co_firstlineno}) is not "
                    f"defined in the grader's run of the definitions alone: {problems[0]}"
                )
        return original(body, name, *bases, **keywords)

    return build_class


def _run_prelude(prelude: Sequence[Sequence[CodeType]], namespace: dict[str, Any]) -> list[str]:
    """Run the definitions in ``namespace``, each class statement checked; the failures."""
    failures: list[str] = []
    original = builtins.__build_class__
    labels = {code.co_filename for statements in prelude for code in statements}
    builtins.__build_class__ = _checked_build_class(original, labels)
    try:
        for statements in prelude:
            for code in statements:
                try:
                    exec(code, namespace)  # noqa: S102 - the notebook's definitions, checked statically
                except Exception as error:  # noqa: BLE001 - as a failing cell: noted, the rest goes on
                    failures.append(f"{type(error).__name__}: {error} ({code.co_filename})")
    finally:
        builtins.__build_class__ = original
    return failures


def _child(prelude: list[list[CodeType]], test: CodeType, fd: int) -> None:
    """Run in the forked child: definitions, then the test; never returns."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(devnull, std)
    try:
        _drop_privileges()
    except OSError as error:  # then this test fails; nothing of the notebook has run
        answers.send(fd, {"error": f"the grader could not isolate this test ({error})"})
        os._exit(0)
    os.environ[answers.FD_ENV] = str(fd)
    failures: list[str] = []
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    try:
        failures = _run_prelude(prelude, namespace)
        exec(test, namespace)  # noqa: S102 - the instructor's test source
    except BaseException as error:  # noqa: BLE001 - whatever the graded function raised
        where = _where(error.__traceback__)
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        message += f" at {where}" if where else ""
        if failures and isinstance(error, NameError):
            message += f"; earlier, a definition failed: {failures[0]}"
        try:
            answers.send(fd, {"error": message})
        except OSError:
            pass
    os._exit(0)


def _collect(pid: int, fd: int, timeout: float) -> tuple[bytes, bool]:
    """What the child sent (at most :data:`MAX_MESSAGE_BYTES`), and whether it finished in time."""
    chunks: list[bytes] = []
    size, deadline, finished = 0, time.monotonic() + timeout, False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            finished = True
            break
        size += len(chunk)
        if size > MAX_MESSAGE_BYTES:
            break
        chunks.append(chunk)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    os.close(fd)
    return b"".join(chunks), finished


def run_test(
    prelude: list[list[CodeType]], test: str, source: CodeType, timeout: float,
) -> dict[str, Any]:
    """One test in a fresh child: ``{"test", "npz", "observed"}`` or ``{"test", "error"}``."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child keeps only its own pipe
        os.closerange(3, write)
        os.closerange(write + 1, 1 << 16)
        _child(prelude, source, write)
    os.close(write)
    raw, finished = _collect(pid, read, timeout)
    if not finished and len(raw) > MAX_MESSAGE_BYTES:
        return {"test": test, "error": f"the answer exceeds {MAX_MESSAGE_BYTES} bytes"}
    if not finished:
        return {"test": test, "error": f"did not finish within {timeout:g} s"}
    messages = []
    for line in raw.splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            return {"test": test, "error": "an unreadable answer came back"}
    answers_sent = [
        m for m in messages if isinstance(m, dict) and m.get("test") == test and "npz" in m
    ]
    errors = [m["error"] for m in messages if isinstance(m, dict) and "error" in m]
    if errors:
        return {"test": test, "error": str(errors[0])}
    if len(answers_sent) != 1:
        return {
            "test": test,
            "error": f"{len(answers_sent)} answers came back; the test hands back exactly one"
        }
    seen = answers_sent[0].get("observed")  # what the harness observed: hints for flags
    observed = [str(x)[:300] for x in seen[:20]] if isinstance(seen, list) else []
    return {"test": test, "npz": answers_sent[0]["npz"], "observed": observed}


def run_spec(spec: dict[str, Any], out: typing.TextIO) -> None:
    """Run the spec's tests, one forked child each, and write one JSON line per test to ``out``.

    Called in a process already in the sandbox: nothing of the notebook has run before it."""
    cells = _compile_cells(spec["cells"])
    tests = [
        (
            t["test"], _prelude(cells[:int(t["before"])], t["source"]),
            compile(t["source"], f"<test {t['test']}>", "exec"),
        ) for t in spec["tests"]
    ]
    _preimport([
        *([code for code, _ in statements] for statements in cells),
        [code for _, _, code in tests],
    ])
    not_dumpable()
    for test, prelude, code in tests:
        record = run_test(prelude, test, code, float(spec["timeout"]))
        out.write(json.dumps(record) + "\n")
        out.flush()


def _notebook_child(request: dict[str, Any], fd: int) -> NoReturn:
    """In the fork server's child for one notebook: the request's limits
    (:func:`~dlci_grader.isolation.fork_server.enter_job`), then its sandbox, then the
    notebook's folder and environment, then :func:`run_spec`; never returns.

    The order matters: nothing derived from the notebook (not even an import its cells name)
    runs before the sandbox is in place."""
    code = 0
    try:
        enter_job(request, fd)
        box = request.get("sandbox")
        if box:
            sandbox.enter(box["read"], box["write"], box.get("nproc") or None,
                          box.get("fsize") or None)
        become(request)
        with os.fdopen(fd, "w") as out:
            run_spec(request["spec"], out)
    except BaseException:  # noqa: BLE001 - reported on stderr, which the grader reads
        traceback.print_exc()
        code = 1
    finally:
        sys.stderr.flush()
        os._exit(code)


def _preload() -> None:
    """What every notebook's child would import again: NumPy, PyTorch, its first-call costs."""
    import numpy  # noqa: F401
    import torch  # noqa: F401

    _warm_up()


MODULE = "dlci_grader.kernel.rebuilt"


if __name__ == "__main__":
    raise SystemExit(serve_command(MODULE, _preload, _notebook_child))
