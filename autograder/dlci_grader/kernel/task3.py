"""Task 3 in the student's kernel: run the student's simulation, Wiener filter, methods and
table on the grader's inputs (:func:`dlci_grader.kernel.answers.cases`) and hand back the outputs.

Each function takes the student's object and the test cell's grade id, e.g.
``wiener(wiener_fn, "test_wiener_hidden")``. Images are ``(N, 3, H, W)`` in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from dlci_grader.kernel import answers

TASK = "task3"


def simulate(function: Callable[..., torch.Tensor], test: str) -> None:
    """The student's measurements of the grader's images, kernels, σ and noise seeds."""
    out = []
    for case in answers.cases(TASK, test):
        x, k = torch.from_numpy(case["x"]), torch.from_numpy(case["kernel"])
        generator = torch.Generator().manual_seed(int(case["seed"]))
        out.append({"y": function(x, k, float(case["sigma"]), generator=generator)})
    answers.submit(TASK, test, out)


def wiener(function: Callable[..., torch.Tensor], test: str) -> None:
    """The student's Wiener filter; a case with ``snr`` 0 uses the function's default SNR."""
    out = []
    for case in answers.cases(TASK, test):
        y, k, snr = (
            torch.from_numpy(case["y"]), torch.from_numpy(case["kernel"]), float(case["snr"])
        )
        out.append({"x_hat": function(y, k, snr=snr) if snr else function(y, k)})
    answers.submit(TASK, test, out)


def methods(functions: Mapping[str, Callable[[torch.Tensor], torch.Tensor]], test: str) -> None:
    """Every method's output on the grader's measurements (the clean images stay with it)."""
    out = []
    for case in answers.cases(TASK, test):
        y = torch.from_numpy(case["y"])
        out.append({name: f(y.clone()).float().cpu() for name, f in functions.items()})
    answers.submit(TASK, test, out)


def method(function: Callable[[torch.Tensor], torch.Tensor], test: str) -> None:
    """One method's output on the grader's measurements."""
    out = []
    for case in answers.cases(TASK, test):
        out.append({"x_hat": function(torch.from_numpy(case["y"]).clone()).float().cpu()})
    answers.submit(TASK, test, out)


def _flat(table: Any) -> dict[str, np.ndarray]:
    """``{method: {σ: dB}}`` as ``<method>_sigmas`` and ``<method>_values`` arrays."""
    if not isinstance(table, Mapping) or not all(isinstance(c, Mapping) for c in table.values()):
        raise TypeError(
            f"the table must be a dict {{method: {{sigma: PSNR}}}}, got {type(table).__name__}"
        )
    flat = {}
    for name, column in table.items():
        flat[f"{name}_sigmas"] = np.array([float(s) for s in column])
        flat[f"{name}_values"] = np.array([float(v) for v in column.values()])
    return flat


def _simulate(
    x: torch.Tensor, kernel: torch.Tensor, sigma: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The grader's simulation, ``blur(x) + σ·noise``, that the student's psnr_table calls
    in its test in place of the student's ``simulate``."""
    from starter.imaging import add_noise, blur

    return add_noise(blur(x, kernel), sigma, generator=generator)


def table_function(function: Callable[..., Any], test: str) -> None:
    """The student's psnr_table on the grader's images, noise levels and seed, with two methods
    of the grader's: the measurement itself ("m") and the shipped U-Net ("u").

    It is judged on what it composes (a table of per-image means, over a seeded generator), not
    on ``simulate``, which has its own tests: the name ``simulate`` in its module is the
    grader's :func:`_simulate` while it runs, so one wrong ``simulate`` costs its points once.
    """
    from starter.pretrained import load_models, predict

    models = load_models("cpu")

    def measurement(y: torch.Tensor) -> torch.Tensor:
        return y

    def unet(y: torch.Tensor) -> torch.Tensor:
        return predict(models.deblur_denoise, y)

    cases = answers.cases(TASK, test)
    namespace = getattr(function, "__globals__", None)
    namespace = namespace if isinstance(namespace, dict) else {}
    missing = object()
    own = namespace.get("simulate", missing)
    namespace["simulate"] = _simulate
    out = []
    try:
        for case in cases:
            sigmas = tuple(float(s) for s in case["sigmas"])
            table = function({"m": measurement, "u": unet}, torch.from_numpy(case["clean"]),
                             torch.from_numpy(case["kernel"]), sigmas, seed=int(case["seed"]))
            out.append(_flat(table))
    finally:  # the notebook's own simulate again, for the cells after this one
        if own is missing:
            namespace.pop("simulate", None)
        else:
            namespace["simulate"] = own
    answers.submit(TASK, test, out)


def table(values: Any, test: str) -> None:
    """The notebook's own table, as it is."""
    answers.cases(TASK, test)
    answers.submit(TASK, test, [_flat(values)])
