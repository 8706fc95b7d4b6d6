"""Progress bars that suit where they are shown.

In a notebook or a terminal, :func:`progress_bar` is a tqdm bar. Where nobody watches a bar (a
CI log, output redirected to a file), a tqdm bar writes thousands of carriage-return frames;
there it is a :class:`LogProgress` instead, which prints one plain line at each quarter and
one at the end. Both offer the part of tqdm's interface the kit uses: ``update``,
``set_postfix``, ``set_postfix_str``, ``close`` and use as a context manager.

Example::

    with progress_bar(total=len(images), desc="evaluate", unit="image") as bar:
        for image in images:
            ...
            bar.update(1)
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from starter.env_vars import grading_mode

__all__ = ["LogProgress", "progress_bar", "wants_live_bar"]


def wants_live_bar(stream: TextIO | None = None) -> bool:
    """True where a live bar is seen: in a Jupyter kernel, or when ``stream`` is a terminal."""
    if "ipykernel" in sys.modules:
        try:
            from IPython import get_ipython

            if get_ipython() is not None:
                return True
        except ImportError:  # pragma: no cover - ipykernel always brings IPython
            pass
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


class LogProgress:
    """A progress report for logs: one line at 25, 50, 75 % and one when closed.

    Args:
        total: the amount of work (steps, images, notebooks).
        desc: what is being done, printed at the start of each line.
        unit: the unit of ``total``.
        stream: where the lines go (default: standard error).
    """

    def __init__(
        self, total: int, desc: str, unit: str = "it", stream: TextIO | None = None
    ) -> None:
        self.total, self.desc, self.unit = int(total), desc, unit
        self.stream = sys.stderr if stream is None else stream
        self.n = 0
        self.postfix = ""
        self._start = time.perf_counter()
        self._quarters_shown = 0
        self._closed = False

    def _line(self, note: str = "") -> None:
        elapsed = time.perf_counter() - self._start
        done = f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {done}{note} ({elapsed:.0f} s{extra})", file=self.stream, flush=True)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done; print a line when a new quarter is reached."""
        self.n += n
        if self.total <= 0:
            return
        quarters = min(4, 4 * self.n // self.total)
        if 0 < quarters < 4 and quarters > self._quarters_shown:
            self._quarters_shown = quarters
            self._line(f" ({25 * quarters} %)")

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True,
                    **kwargs: Any) -> None:
        """Values shown after the count, as tqdm's ``set_postfix``."""
        values = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Text shown after the count, as tqdm's ``set_postfix_str``."""
        self.postfix = s

    def close(self) -> None:
        """Print the final line (once)."""
        if not self._closed:
            self._closed = True
            self._line(" done")

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(
    total: int, desc: str, enabled: bool = True, unit: str = "it", stream: TextIO | None = None
) -> Any:
    """A tqdm bar where someone watches one, else a :class:`LogProgress`; nothing if disabled.

    Args:
        total: the amount of work.
        desc: a short label (``"train"``, ``"evaluate"``).
        enabled: ``False`` gives a silent bar (the same interface, prints nothing). Bars are
            silent too when the grader runs the notebook (``starter.env_vars.grading_mode``).
        unit: the unit of ``total`` (``"step"``, ``"image"``).
        stream: the stream shown on (default: standard error).
    """
    from tqdm.auto import tqdm

    if not enabled or grading_mode():
        return tqdm(total=total, disable=True)
    if wants_live_bar(stream):
        return tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return LogProgress(total, desc, unit=unit, stream=stream)
