"""Nothing a student can import answers a graded part (issue 16 §2).

The student distribution (``pip install -e .``: the ``starter`` package) holds helpers, data,
models and the visible tests' checks, never a function that passes a graded test; the reference
implementations live in the instructor distribution (``dlci_grader``). This test enforces that
the way a student would break it: for every graded part of the three tasks whose test runs a
student function (the hidden and visible test cells' ``_harness.<part>(<object>, "<test id>")``
calls, read from ``solutions/``), it puts each public callable of the installed ``starter``
package in the student's place, runs the real harness on the grader's inputs
(``JUDGED[test].make``) and judges what comes back with the grader's own ``judge``. A candidate
is tried

- positionally, as the harness calls the student's function (when its signature fits);
- by parameter names, as a one-line adapter would call it: each required parameter is matched
  with what the student's function receives or what the notebook has at hand (``models``,
  ``kernel``, the noise levels, ...), e.g. ``clean`` with the clean images, ``k`` with the kernel.

A graded *value* that the notebook computes (Task 3's PSNR table) is tried by names as well,
from the notebook's variables. Task 2's graded parts are the experiment the student runs with
the kit's engine (``DnCNN``, ``train``, ``evaluate_model``): its harness calls no student
function, so nothing is substituted there; the test fails if a new harness function appears
that it does not know. ``test_the_leak_test_catches_an_exported_reference`` shows that the test
fails when ``starter.imaging.wiener_deconv`` or ``starter.pretrained.evaluate_methods`` (as they
were before issue 16) are exported again.

Candidates: every public module-level function and class defined in ``starter``, public static
and class methods, and, for classes that build without arguments, the instance (when callable)
and its public methods. Left out: ``starter.cli``, ``starter.check`` and ``starter.data.fetch``,
which run commands, notebooks and downloads (they take paths and argument lists, not arrays).
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import pkgutil
import re
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

pytest.importorskip("dlci_grader")

import starter  # noqa: E402
from dlci_grader.kernel import answers  # noqa: E402
from dlci_grader.tasks import judged_tests  # noqa: E402
from dlci_grader.tasks.contract import Context, public  # noqa: E402

pytestmark = pytest.mark.grader

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_MODULES = ("starter.cli", "starter.check", "starter.data.fetch")
"""Command-line, notebook-running and download modules: not tried (see the module docstring)."""

FUNCTION_PARTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("task1", "linear"): (),
    ("task1", "relu"): (),
    ("task1", "network"): (),
    ("task1", "analytic"): ("y_hat", "y", "W3", "g2", "W2", "g1", "x"),
    ("task1", "sgd"): ("params", "lr"),
    ("task1", "inpainting"): ("x",),
    ("task3", "simulate"): ("x", "kernel", "sigma", "generator"),
    ("task3", "wiener"): ("y", "kernel", "snr"),
    ("task3", "methods"): ("y",),
    ("task3", "method"): ("y",),
    ("task3", "table_function"): ("methods", "clean", "kernel", "sigmas", "seed"),
}
"""Harness functions that run a student function, with that function's parameter names (empty:
a class, tried as it is)."""

VALUE_PARTS = {("task3", "table")}
"""Harness functions handed a value the notebook computed: tried by names from its variables."""

DESIGN_PARTS = {
    ("task2", "models"), ("task2", "training"), ("task2", "results"), ("task2", "table"),
}
"""Task 2: the experiment run with the kit's engine; no student function to substitute."""

CONCEPTS = {
    "clean": ("x", "clean", "images", "image", "img", "target", "targets"),
    "measurement": ("y", "inputs", "noisy", "measurement", "measured", "blurred", "masked"),
    "kernel": ("kernel", "k", "psf"),
    "sigma": ("sigma", "std", "noise_std"),
    "sigmas": ("sigmas", "noise_levels", "levels"),
    "snr": ("snr",),
    "seed": ("seed",),
    "generator": ("generator", "gen", "rng"),
    "models": ("models",),
    "methods": ("methods",),
    "params": ("params", "parameters"),
    "lr": ("lr", "learning_rate"),
}
"""Parameter names that mean the same thing (a concept), for calling a candidate by names."""
_CONCEPT_OF = {name: concept for concept, names in CONCEPTS.items() for name in names}


def _concept(name: str) -> str:
    return _CONCEPT_OF.get(name, name)


# --- the student package's public callables --------------------------------------------------


def _modules() -> Iterator[Any]:
    yield starter
    for info in pkgutil.walk_packages(starter.__path__, prefix="starter."):
        if not info.name.startswith(SKIPPED_MODULES):
            yield importlib.import_module(info.name)


def _own(obj: object) -> bool:
    return str(getattr(obj, "__module__", "") or "").startswith("starter") and not str(
        obj.__module__
    ).startswith(SKIPPED_MODULES)


def _no_required_init(cls: type) -> bool:
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in params)


@functools.cache
def _instance(cls: type) -> object | None:
    """An instance of a class that builds without arguments (built once), else None."""
    if not _no_required_init(cls) or issubclass(cls, BaseException):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls()
    except Exception:  # noqa: BLE001 - a class that needs more than its defaults
        return None


def student_callables() -> dict[str, Callable[..., Any]]:
    """``qualified name -> callable`` for every public callable of the installed ``starter``
    (looked up now, so that a test may patch one in)."""
    found: dict[str, Callable[..., Any]] = {}
    seen: set[int] = set()

    def add(name: str, obj: Callable[..., Any]) -> None:
        if id(obj) not in seen:
            seen.add(id(obj))
            found[name] = obj

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in _modules():
            for attr in dir(module):
                obj = getattr(module, attr)
                if attr.startswith("_") or not callable(obj) or not _own(obj):
                    continue
                if inspect.ismodule(obj):
                    continue
                # where it is defined
                where = f"{obj.__module__}.{getattr(obj, '__qualname__', attr)}"
                add(where, obj)
                if not inspect.isclass(obj):
                    continue
                for member, value in vars(obj).items():
                    if not member.startswith("_") and isinstance(value, staticmethod | classmethod):
                        add(f"{where}.{member}", getattr(obj, member))
                instance = _instance(obj)
                if instance is not None:
                    if callable(instance):
                        add(f"{where}()", instance)
                    for member in dir(obj):
                        if member == "forward" and callable(instance):
                            continue  # the same as calling the module
                        value = getattr(instance, member, None)
                        if not member.startswith("_") and inspect.ismethod(value) and _own(value):
                            add(f"{where}().{member}", value)
    return found


# --- the graded parts ------------------------------------------------------------------------

_CALL = re.compile(r"_harness\.(\w+)\((.*?),\s*\"(\w+)\"\)")


def graded_parts() -> list[tuple[str, str, str]]:
    """``(task, harness function, test id)`` for every harness call in the solution notebooks."""
    from dlci_grader.tasks import load_tasks

    parts = set()
    for task, found in load_tasks(ROOT / "solutions").items():
        notebook = nbformat.read(found.source, 4)
        for cell in notebook.cells:
            for function, _, test in _CALL.findall(cell.source):
                parts.add((task, function, test))
    return sorted(parts)


PARTS = graded_parts()


@functools.cache
def _cases(task: str, test: str) -> list[dict[str, np.ndarray]]:
    """The grader's inputs of one test (fixed seed; the kit's data root, else the embedded)."""
    rng = np.random.default_rng([7, zlib.crc32(test.encode())])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return judged_tests(task)[test].make(rng, Context(None, 7))


@contextmanager
def _channel(task: str, test: str) -> Iterator[dict[str, Any]]:
    """Hand the harness the test's public inputs and catch its answers (no notebook needed)."""
    got: dict[str, Any] = {}
    saved = answers.cases, answers.submit
    answers.cases = lambda t, name: copy.deepcopy([public(c) for c in _cases(task, test)])
    answers.submit = lambda t, name, out: got.setdefault(
        "answers", answers.decode(answers.encode(out))
    )
    try:
        yield got
    finally:
        answers.cases, answers.submit = saved


_VERDICTS: dict[tuple[str, str, bytes], bool] = {}
"""Verdicts by answer digest: many candidates hand back the same arrays (the input unchanged)."""


def _passes(task: str, test: str, run: Callable[[], None]) -> bool:
    """Whether the grader's judge accepts what ``run`` (a harness call) hands back."""
    import hashlib

    import matplotlib.pyplot as plt

    with _channel(task, test) as got, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            run()
        except (Exception, SystemExit):  # noqa: BLE001 - a candidate that does not fit
            return False
        finally:
            plt.close("all")
    if "answers" not in got:
        return False
    key = (task, test, hashlib.sha256(answers.encode(got["answers"]).encode()).digest())
    if key not in _VERDICTS:
        try:
            judged_tests(task)[test].judge(_cases(task, test), got["answers"])
            _VERDICTS[key] = True
        except Exception:  # noqa: BLE001 - AssertionError (wrong) or an unusable answer
            _VERDICTS[key] = False
    return _VERDICTS[key]


def _required(function: Callable[..., Any]) -> tuple[list[str], list[str]] | None:
    """(required, optional) named parameters, or None without a usable signature."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return None
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return ([p.name for p in named if p.default is p.empty],
            [p.name for p in named if p.default is not p.empty])


def _fits_positionally(function: Callable[..., Any], student_params: tuple[str, ...]) -> bool:
    try:
        inspect.signature(function).bind(*student_params)
    except TypeError:
        return False
    except ValueError:
        return True  # no signature (a builtin): just try it
    return True


def _by_names(
    function: Callable[..., Any], available: Mapping[str, Any]
) -> Callable[..., Any] | None:
    """``function`` called with keyword arguments from ``available`` (concept -> value), when
    every required parameter is available; None otherwise (or when it takes none)."""
    names = _required(function)
    if names is None:
        return None
    required, optional = names
    if not required or any(_concept(p) not in available for p in required):
        return None
    kwargs = {p: available[_concept(p)] for p in required + optional if _concept(p) in available}
    return lambda: function(**kwargs)


@functools.cache
def _notebook_extras(task: str) -> dict[str, Any]:
    """What the notebook has at hand besides the student function's arguments (concept -> value)."""
    if task != "task3":
        return {}
    from dlci_grader.tasks.task3 import checks as task3
    from starter.kernels import task3_kernel
    from starter.pretrained import load_models

    return {"models": load_models("cpu"), "kernel": task3_kernel(), "sigmas": task3.TABLE_SIGMAS,
            "seed": 0}


def _adapter(
    function: Callable[..., Any], task: str, student_params: tuple[str, ...]
) -> Callable[..., Any] | None:
    """A function with the student's parameters that calls ``function`` by names, if it can."""
    names = _required(function)
    if names is None or not student_params:
        return None
    given = {_concept(p) for p in student_params}
    if not names[0] or any(
        _concept(p) not in given | set(_notebook_extras(task)) for p in names[0]
    ):
        return None

    def adapter(*args: Any, **kwargs: Any) -> Any:
        available = {**_notebook_extras(task)}
        available.update({_concept(p): v for p, v in zip(student_params, args, strict=False)})
        available.update({_concept(p): v for p, v in kwargs.items()})
        call = _by_names(function, available)
        if call is None:
            raise TypeError("does not fit")
        return call()

    return adapter


@functools.cache
def _reference_methods() -> dict[str, Callable[..., Any]]:
    """Task 3's methods as a right solution has them, remembering their outputs (the harness
    calls them on the same measurement for every candidate)."""
    import hashlib

    from dlci_grader.tasks.task3.reference import task3_methods

    extras = _notebook_extras("task3")

    def remembered(method: Callable[..., Any]) -> Callable[..., Any]:
        seen: dict[bytes, Any] = {}

        def run(y: Any) -> Any:
            key = (hashlib.sha256(y.detach().cpu().numpy().tobytes()).digest()
                   + bytes(str(tuple(y.shape)), "ascii"))
            if key not in seen:
                seen[key] = method(y)
            return seen[key].clone()

        return run

    methods = task3_methods(extras["kernel"], extras["models"])
    return {name: remembered(m) for name, m in methods.items()}


def _remembered(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, remembering its result for one tensor argument (the harness of the
    methods test calls it once per role on the same measurement)."""
    import hashlib

    import torch

    seen: dict[bytes, Any] = {}

    def run(*args: Any, **kwargs: Any) -> Any:
        if len(args) != 1 or kwargs or not isinstance(args[0], torch.Tensor):
            return function(*args, **kwargs)
        key = hashlib.sha256(args[0].detach().cpu().numpy().tobytes()).digest()
        if key not in seen:
            try:
                seen[key] = function(args[0])
            except Exception as error:  # noqa: BLE001 - remembered too, and raised again
                seen[key] = error
        if isinstance(seen[key], Exception):
            raise seen[key]
        return seen[key]

    return run


def _harness(task: str) -> Any:
    return importlib.import_module(f"dlci_grader.kernel.{task}")


def _runs(
    task: str, function: str, test: str, candidate: Callable[..., Any]
) -> Iterator[Callable[[], None]]:
    """The ways to try ``candidate`` in the student's place for one graded part."""
    harness = getattr(_harness(task), function)
    params = FUNCTION_PARTS[(task, function)]
    tries = []
    if not params:  # a class: as it is
        if inspect.isclass(candidate):
            tries.append(candidate)
    else:
        if _fits_positionally(candidate, params):
            tries.append(candidate)
        adapter = _adapter(candidate, task, params)
        if adapter is not None:
            tries.append(adapter)
    for student in map(_remembered, tries):
        if function == "methods":
            for role in ("wiener", "unet", "wiener_unet"):
                yield lambda s=student, r=role: harness({**_reference_methods(), r: s}, test)
        else:
            yield lambda s=student: harness(s, test)


def _value_runs(
    task: str, function: str, test: str, candidate: Callable[..., Any]
) -> Iterator[Callable[[], None]]:
    """Task 3's table from the notebook's variables by names: clean images, kernel, models, ..."""
    from dlci_grader.tasks.task3 import checks as task3

    extras = _notebook_extras(task)
    clean = task3._test_images(None)[task3.GRADING_IMAGES]
    available = {**extras, "clean": clean, "methods": _reference_methods()}
    call = _by_names(candidate, available)
    if call is not None:
        yield lambda: getattr(_harness(task), function)(call(), test)


def leaks(task: str, function: str, test: str) -> list[str]:
    """The student-package callables that pass the grader's judge of one graded part."""
    found = []
    for name, candidate in student_callables().items():
        runs = _value_runs if (task, function) in VALUE_PARTS else _runs
        if any(_passes(task, test, run) for run in runs(task, function, test, candidate)):
            found.append(name)
    return found


# --- the tests -------------------------------------------------------------------------------


def test_every_graded_part_is_classified():
    """Each harness function the notebooks call is known here: a student function to substitute,
    a value to rebuild by names, or Task 2's experiment (a new one must be added to a list)."""
    known = set(FUNCTION_PARTS) | VALUE_PARTS | DESIGN_PARTS
    unknown = sorted({(t, f) for t, f, _ in PARTS} - known)
    assert not unknown, f"harness functions this test does not know: {unknown}"
    assert {t for t, _, _ in PARTS} == {"task1", "task2", "task3"}
    for task, _, test in PARTS:
        assert test in judged_tests(task), f"{task}: {test} is called but not judged"


def test_the_student_package_is_enumerated():
    """The enumeration sees the student package's helpers (a sanity check of the walk)."""
    names = student_callables()
    for expected in ("starter.imaging.blur", "starter.imaging.add_noise", "starter.imaging.psf2otf",
                     "starter.pretrained.load_models", "starter.pretrained.predict",
                     "starter.metrics.psnr", "starter.deblur_checks.check_wiener"):
        assert expected in names, expected
    assert not any(name.startswith(SKIPPED_MODULES) for name in names)


KNOWN_LEAKS: dict[tuple[str, str], str] = {}
"""Graded parts a student callable passes today, with why; strict: the test fails once fixed."""


def _part(task: str, function: str, test: str) -> Any:
    reason = KNOWN_LEAKS.get((task, test))
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(task, function, test, marks=marks, id=f"{task}-{test}")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "function", "test"),
    [_part(*p) for p in PARTS if p[:2] in set(FUNCTION_PARTS) | VALUE_PARTS],
)
def test_no_student_callable_passes_a_graded_test(task, function, test):
    """No public callable of ``starter``, in the student's place, passes this graded test."""
    found = leaks(task, function, test)
    assert not found, (
        f"{task} {test}: the student package answers this graded part with {found}; move the "
        f"reference implementation to the instructor side (dlci_grader)"
    )


@pytest.mark.slow
def test_the_leak_test_catches_an_exported_reference(monkeypatch):
    """The test can fail: with the reference Wiener filter and table exported from ``starter``
    again (as before issue 16), it finds them."""
    from dlci_grader.tasks.task3 import reference as reference_task3

    monkeypatch.setattr("starter.imaging.wiener_deconv", reference_task3.wiener_deconv,
                        raising=False)
    monkeypatch.setattr("starter.pretrained.evaluate_methods", reference_task3.evaluate_methods,
                        raising=False)
    # pretend they are the student package's own, as they were
    monkeypatch.setattr(reference_task3.wiener_deconv, "__module__", "starter.imaging")
    monkeypatch.setattr(reference_task3.evaluate_methods, "__module__", "starter.pretrained")
    assert "starter.imaging.wiener_deconv" in leaks("task3", "wiener", "test_wiener_hidden")
    assert "starter.pretrained.evaluate_methods" in leaks("task3", "table", "test_table_hidden")
