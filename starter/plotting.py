"""Figures and tables for results people look at: image grids, training curves, PSNR tables.

Every plotting function takes an optional ``ax`` (or creates its own figure) and returns
the ``matplotlib.figure.Figure``, so it works in notebooks, scripts and tests alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def to_numpy_image(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(C, H, W)`` or ``(H, W)`` tensor/array → ``(H, W, C)`` or ``(H, W)`` numpy in [0, 1].

    Values are clipped to [0, 1] for display only.
    """
    arr = img.detach().float().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if arr.ndim == 3 and arr.shape[0] in (1, 3):
        arr = arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0))
    if arr.ndim not in (2, 3):
        raise ValueError(f"cannot show an image of shape {arr.shape}; expected (C, H, W) or (H, W)")
    return np.clip(arr, 0.0, 1.0)


def show_images(
    images: Sequence[torch.Tensor | np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 3.0,
    suptitle: str | None = None,
) -> Figure:
    """Show images in a grid (row-major), each with an optional title.

    Args:
        images: each ``(C, H, W)`` / ``(H, W)``, values in [0, 1] (clipped for display).
        titles: one per image, e.g. ``"Wiener, 28.15 dB"``.
        ncols: images per row (default: all in one row).
        size: inches per image along its longer side.
    """
    n = len(images)
    if n == 0:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    ncols = ncols or n
    nrows = -(-n // ncols)
    arrays = [to_numpy_image(im) for im in images]
    h, w = arrays[0].shape[:2]
    aspect = w / h
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols * min(aspect, 1.6), size * nrows), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(arrays[i], cmap="gray" if arrays[i].ndim == 2 else None, vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    xlabel: str = "step",
    ylabel: str = "training loss (MSE)",
    smooth: int = 1,
    logy: bool = True,
) -> Figure:
    """Plot one line per named curve (e.g. ``{"bias, 32 ch": history.step_loss}``).

    Args:
        curves: name → values.
        ax: axes to draw into; a new figure if None.
        smooth: moving-average window (1 = raw values).
        logy: logarithmic y axis (losses span decades).
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for name, values in curves.items():
        y = np.asarray(values, dtype=float)
        if smooth > 1 and len(y) >= smooth:
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(len(y)), y, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend()
    return fig


def results_table(
    results: Mapping[str, Mapping[float, float]],
    column_name: str = "σ = {:g}",
    unit: str = "PSNR (dB)",
) -> pd.DataFrame:
    """PSNR results as a table: one row per method/model, one column per noise level.

    Args:
        results: ``{"Wiener": {0.005: 32.17, 0.01: 28.15}, ...}``.
        column_name: format of a column header, given the noise level.

    Returns:
        a ``pandas.DataFrame`` (rendered as an HTML table in notebooks); the columns'
        name says the unit.
    """
    levels = sorted({float(s) for row in results.values() for s in row})
    frame = pd.DataFrame(
        {column_name.format(s): [row.get(s, np.nan) for row in results.values()] for s in levels},
        index=list(results.keys()),
    )
    frame.columns.name = unit
    return frame.round(2)


def markdown_table(frame: pd.DataFrame, digits: int = 2) -> str:
    """A results table as GitHub markdown (for READMEs, closing notes and logs)."""
    header = [frame.columns.name or ""] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in frame.iterrows():
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join([str(name), *cells]) + " |")
    return "\n".join(lines)
