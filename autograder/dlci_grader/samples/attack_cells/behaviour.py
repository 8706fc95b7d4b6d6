"""Spellings the static flags cannot read, on right answers (the solution's score): the grader's
harness replaced through vars(...).update on a module whose name is computed, and a
LinearFunction whose backward reaches autograd through getattr. Only what the harness observed
while the student's code ran can flag them."""

import importlib

import torch

_kit = importlib.import_module("dlci_grader" + ".kernel." + "task1")
_original = vars(_kit)["relu"]


def _same(function, test):
    return _original(function, test)  # forwarded: the answers stay the student's own


vars(_kit).update({"relu": _same})


class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight, bias)
        return x @ weight.T + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight, bias = (t.detach().requires_grad_() for t in ctx.saved_tensors)
        engine = getattr(torch, "auto" + "grad")
        with torch.enable_grad():
            return engine.grad(x @ weight.T + bias, (x, weight, bias), grad_output)
