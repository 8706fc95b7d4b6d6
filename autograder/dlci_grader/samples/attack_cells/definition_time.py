"""Install a forged Task 1 harness (answers computed with PyTorch) while the notebook's
definitions are being defined, by each way Python calls code at definition time that a rule of
"imports, defs, classes and assignments of names" would keep. The grader's run of the
definitions alone must refuse every one. LinearFunction is defined again at the end, as
released (backward not written), with every hook in its class body: so the hooks sit in what
the graded tests need, and only the refusals keep them out."""

import builtins
import enum
import functools

import dlci_grader.kernel.task1 as _h
from dlci_grader.kernel import answers as _answers

_FIRED = []


def _linear(function, test):
    out = []
    for case in _answers.cases(_h.TASK, test):
        x, w, go = (torch.from_numpy(case[k]) for k in ("x", "weight", "grad_output"))
        grads = {"grad_x": go @ w, "grad_weight": go.T @ x, "grad_bias": go.sum(0)}
        out.append({**grads, **{f"autograd_{k}": v for k, v in grads.items()}})
    _answers.submit(_h.TASK, test, out)


def _relu(function, test):
    out = []
    for case in _answers.cases(_h.TASK, test):
        x, go = torch.from_numpy(case["x"]), torch.from_numpy(case["grad_output"])
        out.append({"grad_x": go * (x > 0), "autograd_grad_x": go * (x > 0)})
    _answers.submit(_h.TASK, test, out)


def _sgd(step, test):
    out = []
    for case in _answers.cases(_h.TASK, test):
        count, lr = sum(k.startswith("p") for k in case), float(case["lr"])
        p, g = ([torch.from_numpy(case[f"{k}{i}"]) for i in range(count)] for k in "pg")
        out.append({
            **{f"p{i}": p[i] - lr * g[i] for i in range(count)},
            **{f"g{i}": g[i] for i in range(count)},
        })
    _answers.submit(_h.TASK, test, out)


def _install(how):
    _h.linear, _h.relu, _h.sgd = _linear, _relu, _sgd
    _FIRED.append(how)


# 1. A special attribute Python calls when a subclass is defined.
def _on_subclass(cls, **keywords):
    _install("__init_subclass__ = a function, in a base class")


class _Hooked:
    __init_subclass__ = _on_subclass


class _HookedChild(_Hooked):
    pass


# 2. staticmethod rebound to a decorator that installs.
def _installing_staticmethod(function):
    _install("staticmethod = a function that installs")
    return builtins.staticmethod(function)


staticmethod = _installing_staticmethod


class _UsesStaticmethod:
    @staticmethod
    def f():
        return 0


del staticmethod


# 3. A class named torch whose no_grad installs, before @torch.no_grad().
class torch:  # noqa: N801
    def no_grad():
        _install("class torch with a no_grad that installs")
        return lambda function: function


@torch.no_grad()
def _under_no_grad():
    return 0


import torch  # noqa: E402 - the real one again


# 4. @p.setter where p is no property.
class _Setter:
    def setter(function):
        _install("p = a class, then @p.setter")
        return function


class _UsesSetter:
    p = _Setter

    @p.setter
    def value(self):
        return 0


# 5. An Enum: Python calls its __init__ for each member while it defines the class.
class _Members(enum.Enum):
    ONE = 1

    def __init__(self, value):
        _install("an enum.Enum subclass with __init__")


# 6. A class made a cached function, with __mro_entries__, used as a base.
@functools.cache
class _Entries:
    def __mro_entries__(bases):
        _install("@functools.cache on a class with __mro_entries__, used as a base")
        return ()


class _FromEntries(_Entries):
    pass


# 7. A classmethod over a property, read from the class.
class _ClassProperty:
    @classmethod
    @property
    def hook(cls):
        _install("@classmethod over @property, read from the class")
        return 0


_READ = _ClassProperty.hook


# 8. A dict display that unpacks a class: Python calls its keys().
class _Keys:
    def keys():
        _install("{**a class}: a dict display calls its keys()")
        return []


_SPREAD = {**_Keys}


class LinearFunction(torch.autograd.Function):
    """g = x Wᵀ + b, as released: backward is not written."""

    hooks = (
        _HookedChild, _UsesStaticmethod, _under_no_grad, _UsesSetter, _Members, _FromEntries,
        _READ, _SPREAD,
    )

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError


print(
    f"ATTACK install a forged harness while definitions are defined: {len(set(_FIRED))} of 8 "
    "hooks ran in the kernel (the grader's run of the definitions alone must refuse them)"
)
