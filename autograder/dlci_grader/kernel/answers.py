"""The hidden test cells' side of grading outside the student's process.

A hidden test cell asks for the inputs the grader made (:func:`cases`), runs the student's code
on them, and hands back what came out (:func:`submit`). Nothing in the student's kernel decides
a grade: under the grader (``$DLCI_ANSWERS`` names the folder it prepared), :func:`submit` only
shows the answers as one output of that cell, plain arrays in an ``.npz`` (never pickle) under
the MIME type :data:`MIME`, stamped with the run's nonce; :mod:`dlci_grader.verdicts.judging` reads
them
from the executed notebook and judges them in the grader's process, where a monkeypatched
``torch.allclose`` or a tensor whose comparisons are always true cannot reach.

Without ``$DLCI_ANSWERS`` (an instructor running a solution notebook top to bottom) the inputs
come from a fixed seed and :func:`submit` judges at once, raising ``AssertionError`` as a test.

Each answer also carries what the harness observed while the student's code ran (never part of
a score; the grader turns it into flags for the instructor): autograd's engine entered inside a
graded function that must compute by hand (:func:`watching`), and any name in the kit's loaded
modules bound to a function or class defined outside a module file, i.e. in the notebook or by
``exec`` of a string, however it got there (attribute, ``setattr``, ``vars(...).update``,
``importlib``): :func:`replaced_in_kit`. The spelling rules (:mod:`dlci_grader.verdicts.flags`)
remain a second net.

This module ships with the autograder only; the student release never imports it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

MIME = "application/vnd.dlci.answer+json"
"""MIME type of an answer output."""
ENV = "DLCI_ANSWERS"
"""Environment variable naming the folder the grader prepared (cases and nonce)."""
FD_ENV = "DLCI_ANSWERS_FD"
"""Set by :mod:`dlci_grader.kernel.rebuilt` in a child: the pipe :func:`submit` writes to."""
LOCAL_SEED = 20260
"""Seed of the inputs when a solution notebook runs outside the grader."""
MAX_ANSWER_BYTES = 64 * 2**20
"""Largest encoded answer the grader reads (base64 characters)."""


def to_array(value: Any) -> np.ndarray:
    """A numpy copy of a tensor (any device, with or without grad), array or number."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        value = value.float() if str(value.dtype) == "torch.bfloat16" else value
        value = value.numpy()
    return np.array(value, copy=True)


def _pack(items: Sequence[Mapping[str, Any]]) -> bytes:
    """A list of {name: array-like} as ``.npz`` bytes (keys ``"<index>/<name>"``, and ``count``).

    ``None`` values are left out, so a missing gradient arrives as a missing key.
    """
    flat = {
        f"{i}/{name}": to_array(value)
        for i, item in enumerate(items)
        for name, value in item.items()
        if value is not None
    }
    flat["count"] = np.array(len(items))
    buffer = io.BytesIO()
    # numpy's default, named: then no key of flat can stand for it (mypy)
    np.savez(buffer, allow_pickle=True, **flat)
    return buffer.getvalue()


def _unpack(raw: bytes) -> list[dict[str, np.ndarray]]:
    """Inverse of :func:`_pack`; raises ``ValueError`` for anything that is not such an npz."""
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        flat = {key: data[key] for key in data.files}
    count = int(flat.pop("count", np.array(0)))
    if not 0 <= count <= 10_000:
        raise ValueError(f"implausible number of answers: {count}")
    items: list[dict[str, np.ndarray]] = [{} for _ in range(count)]
    for key, value in flat.items():
        index, _, name = key.partition("/")
        if not index.isdigit() or int(index) >= count or not name:
            raise ValueError(f"unexpected entry {key!r}")
        items[int(index)][name] = value
    return items


def encode(items: Sequence[Mapping[str, Any]]) -> str:
    """:func:`_pack` as base64 text, for a notebook output."""
    return base64.b64encode(_pack(items)).decode("ascii")


def decode(text: object, max_bytes: int = MAX_ANSWER_BYTES) -> list[dict[str, np.ndarray]]:
    """Inverse of :func:`encode`; raises ``ValueError`` for anything that is not such an npz."""
    if not isinstance(text, str):
        raise ValueError(f"expected base64 text, got {type(text).__name__}")
    if len(text) > max_bytes:
        raise ValueError(f"answer of {len(text)} characters exceeds the {max_bytes} limit")
    return _unpack(base64.b64decode(text.encode("ascii"), validate=True))


def read_cases(path: str | os.PathLike[str]) -> list[dict[str, np.ndarray]]:
    """Cases written by the grader (an ``.npz`` made by :func:`write_cases`)."""
    return _unpack(Path(path).read_bytes())


def write_cases(path: str | os.PathLike[str], cases: Sequence[Mapping[str, Any]]) -> None:
    """Write cases as an ``.npz`` (the format of :func:`encode`, without base64)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(_pack(cases))


def send(fd: int, message: dict[str, Any]) -> None:
    """Write ``message`` as one JSON line to the pipe ``fd`` (a child of
    :mod:`dlci_grader.kernel.rebuilt` to its parent)."""
    data = (json.dumps(message) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


_KIT_PACKAGES = ("dlci_grader", "starter")
_MAIN = ("__main__", "__mp_main__")
_HEAP_TYPE = 1 << 9
"""``Py_TPFLAGS_HEAPTYPE``: a class made by a ``class`` statement (not a C type)."""
_ENGINE_NAMES = ("torch.autograd", "torch.autograd.graph")
"""Modules whose ``_engine_run_backward`` every ``backward()`` and ``autograd.grad`` call goes
through (torch 2.x)."""


def replaced_in_kit() -> list[str]:
    """Names in the kit's loaded modules bound to a function or class that no module file
    defines (the notebook's, or an ``exec``'d string's): a harness or a check replaced."""
    files = {  # the files of imported modules (a script run as __main__ is not one)
        f for n, m in list(sys.modules.items())
        if n not in _MAIN and isinstance(f := getattr(m, "__file__", None), str)
    }
    found = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in _KIT_PACKAGES or module is None:
            continue
        for attr, value in list(vars(module).items()):
            code = getattr(value, "__code__", None)
            if code is not None and hasattr(code, "co_filename"):
                if code.co_filename not in files:
                    found.append(f"{name}.{attr} is a function defined in the notebook")
            elif isinstance(value, type) and (
                value.__module__ == "__main__"  # a notebook cell's class
                # exec("class ...", {}) names its class's module builtins; C types are not
                # heap types
                or value.__module__ == "builtins" and value.__flags__ & _HEAP_TYPE
            ):
                found.append(f"{name}.{attr} is a class defined in the notebook")
    return sorted(set(found))


@contextmanager
def watching(what: str, harness_calls: int = 0) -> Iterator[list[str]]:
    """Run the student's ``what`` (``"LinearFunction.backward"``) noting, in the list it yields,
    any run of autograd's engine beyond the harness's own ``harness_calls`` nested levels: a
    graded function that should compute its gradients by hand asked autograd for them."""
    import importlib

    seen: list[str] = []
    depth = 0
    modules = [importlib.import_module(m) for m in _ENGINE_NAMES]
    originals = [vars(m).get("_engine_run_backward") for m in modules]

    def watched(original: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            nonlocal depth
            depth += 1
            try:
                if depth > harness_calls and not seen:
                    seen.append(f"autograd's engine ran inside {what}")
                return original(*args, **kwargs)
            finally:
                depth -= 1

        return run

    for module, original in zip(modules, originals, strict=True):
        if original is not None:
            module._engine_run_backward = watched(original)  # type: ignore[attr-defined]
    try:
        yield seen
    finally:
        for module, original in zip(modules, originals, strict=True):
            if original is not None:
                module._engine_run_backward = original  # type: ignore[attr-defined]


def cases(task: str, test: str) -> list[dict[str, np.ndarray]]:
    """The inputs of hidden test ``test`` of ``task``: one dict of arrays per case.

    Under the grader they were made with a secret seed and hold no secret entries; outside it,
    they are made here from :data:`LOCAL_SEED`.
    """
    folder = os.environ.get(ENV)
    if folder:
        return read_cases(Path(folder) / "cases" / task / f"{test}.npz")
    from dlci_grader.tasks.contract import public

    return [public(c) for c in _local_cases(task, test)]


def submit(
    task: str, test: str, answers: Sequence[Mapping[str, Any]], observed: Sequence[str] = (),
) -> None:
    """Hand the answers (one dict per case, as :func:`cases` gave them) to the grader, with what
    the harness ``observed`` (:func:`watching`) and :func:`replaced_in_kit`.

    Under the grader: one output of this cell, judged later outside this process (or, in a
    run of the definitions alone, a line down that run's pipe). Outside it: judged now; raises
    ``AssertionError`` when wrong.
    """
    seen = sorted({*observed, *replaced_in_kit()})
    folder = os.environ.get(ENV)
    if not folder:
        from dlci_grader.tasks import judged_tests

        decoded = decode(encode(answers))
        summary = judged_tests(task)[test].judge(_local_cases(task, test), decoded)
        detail = f" ({summary})" if summary else ""
        print(f"{test}: passed{detail} (judged in this kernel; the grader judges outside it)")
        for line in seen:
            print(f"{test}: the grader would flag: {line}")
        return
    fd = os.environ.get(FD_ENV)
    if fd:  # a test run from the definitions alone: the answers go down this child's pipe
        send(int(fd), {"task": task, "test": test, "npz": encode(answers), "observed": seen})
        return
    from IPython.display import display

    nonce = (Path(folder) / "nonce").read_text().strip()
    record = {
        "task": task, "test": test, "nonce": nonce, "npz": encode(answers), "observed": seen,
    }
    display({MIME: record, "text/plain": f"answers to {test} handed to the grader"}, raw=True)


def _local_cases(task: str, test: str) -> list[dict[str, np.ndarray]]:
    import zlib

    from dlci_grader.tasks import judged_tests
    from dlci_grader.tasks.contract import Context
    from starter.env_vars import grading_mode

    rng = np.random.default_rng([LOCAL_SEED, zlib.crc32(test.encode())])
    context = Context(None, LOCAL_SEED, grading=grading_mode(), held_out=False)
    return judged_tests(task)[test].make(rng, context)
