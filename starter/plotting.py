"""Figures and tables for results people look at: image grids, training curves, PSNR tables.

Every plotting function takes an optional ``ax`` (or creates its own figure) and returns
the ``matplotlib.figure.Figure``, so it works in notebooks, scripts and tests alike.
:class:`LiveCurves` is the one that updates itself: training curves redrawn in place in a
notebook while models train.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import NullLocator

from starter.env_vars import grading_mode

if TYPE_CHECKING:
    from starter.training import History


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


@overload
def plot_curves(
    curves: Mapping[str, Sequence[float]],
    ax: None = None,
    xlabel: str = ...,
    ylabel: str = ...,
    smooth: int = ...,
    logy: bool = ...,
) -> Figure: ...


@overload
def plot_curves(
    curves: Mapping[str, Sequence[float]],
    ax: Axes,
    xlabel: str = ...,
    ylabel: str = ...,
    smooth: int = ...,
    logy: bool = ...,
) -> Figure | SubFigure: ...


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    xlabel: str = "step",
    ylabel: str = "training loss (MSE)",
    smooth: int = 1,
    logy: bool = True,
) -> Figure | SubFigure:
    """Plot one line per named curve (e.g. ``{"bias, 32 ch": history.step_loss}``).

    Args:
        curves: name → values.
        ax: axes to draw into; a new figure if None.
        smooth: moving-average window (1 = raw values).
        logy: logarithmic y axis (losses span decades).
    """
    fig: Figure | SubFigure
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for name, values in curves.items():
        y = np.asarray(values, dtype=float)
        x = np.arange(len(y))
        if smooth > 1 and len(y) >= smooth:  # each mean is drawn at the last step it covers
            y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
            x = x[smooth - 1 :]
        ax.plot(x, y, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if curves:
        ax.legend()
    return fig


def _in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel, where a display can be updated in place."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class LiveCurves:
    """Training curves that redraw in place, in a notebook, while the models train.

    Pass ``callback=live.callback(name)`` to ``starter.training.train``: every ``log_every``
    steps ``train`` hands it the ``History`` so far, and the figure (one line per name, as
    :func:`plot_curves` draws it) is redrawn in the same output, at most every ``min_interval``
    seconds and always at the end of a run. No ``plt.pause``, no loop of its own: outside a
    Jupyter kernel, or with ``enabled=False``, ``callback`` returns None and nothing is drawn
    while training. :meth:`show` draws the final curves (and shows them where enabled).

    Example::

        live = LiveCurves(title="training at σ = 0.1", smooth=50)
        for name, model in models.items():
            histories[name] = train(model, patches, callback=live.callback(name))
        live.show(histories)

    Args:
        title: the figure's title.
        smooth: moving-average window, at most a twentieth of the longest planned run (so that
            a short run still shows a curve); the y label says the window used.
        logy, ylabel: as in :func:`plot_curves`.
        min_interval: seconds between redraws (each is a PNG render, about 0.1 s).
        enabled: False turns the live display off; it is off anyway when the grader runs the
            notebook (``starter.env_vars.grading_mode``).
    """

    def __init__(
        self,
        title: str | None = None,
        smooth: int = 50,
        logy: bool = True,
        ylabel: str = "training loss (MSE)",
        min_interval: float = 2.0,
        enabled: bool = True,
    ) -> None:
        self.title, self.smooth, self.logy, self.ylabel = title, smooth, logy, ylabel
        self.min_interval = min_interval
        self.enabled = enabled and _in_jupyter_kernel() and not grading_mode()
        self.curves: dict[str, list[float]] = {}
        self.planned_steps = 0
        self.figure, self.ax = plt.subplots(figsize=(6, 4))
        plt.close(self.figure)  # shown only through this object's display, never twice
        self._handle = None
        self._drawn_at = -math.inf

    def callback(self, name: str) -> Callable[[History], None] | None:
        """The callback for ``train`` that draws its run as curve ``name``; None when off."""
        if not self.enabled:
            return None
        return lambda history: self.update(name, history)

    def update(self, name: str, history: History) -> None:
        """Record run ``name``'s losses so far; redraw if it is due or the run is over."""
        self.curves[name] = list(history.step_loss)
        self.planned_steps = max(self.planned_steps, history.planned_steps)
        now = time.monotonic()
        if history.steps >= history.planned_steps or now - self._drawn_at >= self.min_interval:
            self._drawn_at = now
            self._draw()

    def show(self, histories: Mapping[str, History]) -> Figure:
        """Draw the final curves of ``histories`` (shown in place where enabled); the figure."""
        for name, history in histories.items():
            self.curves[name] = list(history.step_loss)
            self.planned_steps = max(self.planned_steps, history.planned_steps)
        self._draw()
        return self.figure

    def _draw(self) -> None:
        self.ax.clear()
        window = max(1, min(self.smooth, self.planned_steps // 20))
        ylabel = f"{self.ylabel}, mean of {window} steps" if window > 1 else self.ylabel
        plot_curves(self.curves, ax=self.ax, ylabel=ylabel, smooth=window, logy=self.logy)
        if self.planned_steps:
            self.ax.set_xlim(0, self.planned_steps)
        if self.title:
            self.ax.set_title(self.title)
        if not self.enabled:
            return
        from IPython.display import display

        if self._handle is None:
            self._handle = display(self.figure, display_id=True)
        else:
            self._handle.update(self.figure)


class LiveFigure:
    """A figure redrawn in place, in a notebook, while a loop runs (e.g. a loss per epoch).

    ``draw()`` draws the current state and returns the figure. In a Jupyter kernel
    :meth:`update` shows it and redraws it in the same output; elsewhere, and while the grader
    runs the notebook, it draws nothing, and :meth:`show` shows the final state once.

    Example::

        live = LiveFigure(draw)
        for epoch in range(epochs):
            ...
            live.update()
        live.show()
    """

    def __init__(self, draw: Callable[[], Figure]) -> None:
        self.draw = draw
        self.enabled = _in_jupyter_kernel() and not grading_mode()
        self._handle: Any = None

    def update(self) -> None:
        """Redraw the figure in its output (shown the first time); nothing where not live."""
        if not self.enabled:
            return
        from IPython.display import display

        figure = self.draw()
        if self._handle is None:
            self._handle = display(figure, display_id=True)
        else:
            self._handle.update(figure)

    def show(self) -> None:
        """Draw the final state: in the live output, or shown once where nothing was live."""
        figure = self.draw()
        if self._handle is not None:
            self._handle.update(figure)
        elif _in_jupyter_kernel():
            from IPython.display import display

            display(figure)


@overload
def plot_psnr_vs_sigma(
    results: Mapping[str, Mapping[float, float]],
    sigma_train: float | None = ...,
    ax: None = None,
    noisy_input: bool = ...,
) -> Figure: ...


@overload
def plot_psnr_vs_sigma(
    results: Mapping[str, Mapping[float, float]],
    sigma_train: float | None = ...,
    *,
    ax: Axes,
    noisy_input: bool = ...,
) -> Figure | SubFigure: ...


@overload
def plot_psnr_vs_sigma(
    results: Mapping[str, Mapping[float, float]],
    sigma_train: float | None,
    ax: Axes,
    noisy_input: bool = ...,
) -> Figure | SubFigure: ...


def plot_psnr_vs_sigma(
    results: Mapping[str, Mapping[float, float]],
    sigma_train: float | None = None,
    ax: Axes | None = None,
    noisy_input: bool = True,
) -> Figure | SubFigure:
    """PSNR against noise level, one line per model: how denoisers generalise across σ.

    Args:
        results: ``{"bias, 32 ch": {0.05: 31.3, 0.1: 29.7, 0.2: 21.5}, ...}`` (dB).
        sigma_train: the noise level the models were trained at, marked by a vertical line.
        ax: axes to draw into; a new figure if None.
        noisy_input: also draw the noisy input's PSNR, ``-20 log10 σ`` (images in [0, 1]).
    """
    fig: Figure | SubFigure
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    levels = sorted({float(s) for row in results.values() for s in row})
    for name, row in results.items():
        sigmas = sorted(row, key=float)
        ax.plot([float(s) for s in sigmas], [row[s] for s in sigmas], marker="o", label=name)
    if noisy_input and levels:
        noisy = [-20 * math.log10(s) for s in levels]
        ax.plot(levels, noisy, "--", color="gray", marker=".", label="noisy input")
    if sigma_train is not None:
        ax.axvline(sigma_train, color="black", linestyle=":", label=f"training σ = {sigma_train:g}")
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(levels, labels=[f"{s:g}" for s in levels])
    ax.set_xlabel("noise level σ (log scale)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    if results:
        ax.legend(fontsize=8)
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
