"""Task 2 in the student's kernel: hand the grader plain data about the experiment (the models'
layers and trained weights, the settings ``train`` recorded, the results, the table); the grader
rebuilds and re-evaluates the models itself (:mod:`dlci_grader.tasks.task2.checks`).

Each function takes the notebook's objects and the test cell's grade id, e.g.
``results(models, results, "test_results_hidden")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from dlci_grader.kernel import answers

TASK = "task2"


def _convs(model: torch.nn.Module) -> list[torch.nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def models(built: Mapping[str, torch.nn.Module], test: str) -> None:
    """Each model's convolutions: has a bias, output channels."""
    answers.cases(TASK, test)
    out = []
    for name, model in built.items():
        convs = _convs(model)
        out.append({"name": np.array(str(name)),
                    "conv_bias": np.array([c.bias is not None for c in convs]),
                    "conv_out": np.array([c.out_channels for c in convs])})
    answers.submit(TASK, test, out)


def training(histories: Mapping[str, Any], test: str) -> None:
    """The settings each History recorded, and its per-step losses."""
    answers.cases(TASK, test)
    out = []
    for name, h in histories.items():
        out.append({
            "name": np.array(str(name)), "sigma": h.sigma, "epochs": h.epochs,
            "batch_size": h.batch_size, "lr": h.lr, "num_patches": h.num_patches,
            "max_steps": -1 if h.max_steps is None else h.max_steps,
            "step_loss": np.asarray(h.step_loss, dtype=np.float64),
        })
    answers.submit(TASK, test, out)


def results(
    built: Mapping[str, torch.nn.Module], reported: Mapping[str, Mapping[Any, float]], test: str
) -> None:
    """Each model's trained weights and architecture, with the PSNRs the notebook reports for it."""
    answers.cases(TASK, test)
    out = []
    for name, model in built.items():
        convs = _convs(model)
        row = reported.get(name, {})
        out.append({
            "name": np.array(str(name)),
            "in_channels": convs[0].in_channels, "hidden_channels": convs[0].out_channels,
            "hidden_layers": len(convs) - 2, "use_bias": convs[0].bias is not None,
            "sigmas": np.array([float(s) for s in row]),
            "psnr": np.array([float(v) for v in row.values()]),
            **{f"w:{k}": v.detach().float().cpu() for k, v in model.state_dict().items()},
        })
    answers.submit(TASK, test, out)


def table(shown: Any, reported: Mapping[str, Mapping[Any, float]], test: str) -> None:
    """The displayed table's numbers, row labels and column noise levels, and the results."""
    answers.cases(TASK, test)
    answer = {
        "values": shown.to_numpy(dtype=float), "rows": np.array([str(i) for i in shown.index]),
        "columns": np.array([float(str(c).split("=")[-1]) for c in shown.columns]),
    }
    for name, row in reported.items():
        answer[f"results:{name}:sigmas"] = np.array([float(s) for s in row])
        answer[f"results:{name}:psnr"] = np.array([float(v) for v in row.values()])
    answers.submit(TASK, test, [answer])
