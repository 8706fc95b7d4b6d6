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

This module ships with the autograder only; the student release never imports it.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Mapping, Sequence
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


def submit(task: str, test: str, answers: Sequence[Mapping[str, Any]]) -> None:
    """Hand the answers (one dict per case, as :func:`cases` gave them) to the grader.

    Under the grader: one output of this cell, judged later outside this process (or, in a
    run of the definitions alone, a line down that run's pipe). Outside it: judged now; raises
    ``AssertionError`` when wrong.
    """
    folder = os.environ.get(ENV)
    if not folder:
        from dlci_grader.tasks import judged_tests

        decoded = decode(encode(answers))
        summary = judged_tests(task)[test].judge(_local_cases(task, test), decoded)
        detail = f" ({summary})" if summary else ""
        print(f"{test}: passed{detail} (judged in this kernel; the grader judges outside it)")
        return
    fd = os.environ.get(FD_ENV)
    if fd:  # a test run from the definitions alone: the answers go down this child's pipe
        send(int(fd), {"task": task, "test": test, "npz": encode(answers)})
        return
    from IPython.display import display

    nonce = (Path(folder) / "nonce").read_text().strip()
    record = {"task": task, "test": test, "nonce": nonce, "npz": encode(answers)}
    display({MIME: record, "text/plain": f"answers to {test} handed to the grader"}, raw=True)


def _local_cases(task: str, test: str) -> list[dict[str, np.ndarray]]:
    import zlib

    from dlci_grader.tasks import judged_tests
    from dlci_grader.tasks.contract import Context
    from starter.env_vars import grading_mode

    rng = np.random.default_rng([LOCAL_SEED, zlib.crc32(test.encode())])
    context = Context(None, LOCAL_SEED, grading=grading_mode(), held_out=False)
    return judged_tests(task)[test].make(rng, context)
