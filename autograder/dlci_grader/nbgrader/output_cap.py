"""A cap on the bytes a graded cell's outputs keep, after nbgrader's cap on their lines.

nbgrader's ``LimitOutput`` counts lines, so one ``print`` of a 200 MB string (one line) would be
stored whole in the autograded notebook, which the course folder, feedback and formgrader must
then carry and open. :class:`CapOutputBytes` keeps at most :attr:`~CapOutputBytes.text_bytes` of a
cell's text (streams, tracebacks, ``text/plain``) and drops any other output larger than
:attr:`~CapOutputBytes.rich_bytes` (an image, HTML), each time saying what was cut. The grader's
own answer outputs (:data:`dlci_grader.kernel.answers.MIME`) are left alone: the worker reads them
after nbgrader and replaces them by the verdict, and rejects answers above their own limit.
"""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool, Int

from dlci_grader.kernel.answers import MIME


def _size(value: Any) -> int:
    text = "".join(value) if isinstance(value, list) else str(value)
    return len(text.encode("utf-8", errors="replace"))


def _cut(text: str, keep: int) -> str:
    """The first ``keep`` bytes of ``text`` (whole characters) and a line saying how much went."""
    data = text.encode("utf-8", errors="replace")
    head = data[:keep].decode("utf-8", errors="ignore")
    return (
        f"{head}\n[output cut by the grader: {len(data) / 2**20:.1f} MiB printed, the first "
        f"{keep / 2**20:.3g} MiB kept]\n"
    )


class CapOutputBytes(Preprocessor):
    """Keep at most ``text_bytes`` of text per cell and no single rich output over
    ``rich_bytes``."""

    enabled = Bool(True, help="on by default (nbconvert preprocessors are off unless enabled)")
    text_bytes = Int(
        2**20, help="bytes of text (streams, errors, text/plain) a cell keeps",
    ).tag(config=True)
    rich_bytes = Int(
        8 * 2**20, help="largest other output (image, HTML) a cell keeps",
    ).tag(config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int,
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.cell_type != "code":
            return cell, resources
        budget = int(self.text_bytes)
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                output["text"], budget = self._text(output.get("text", ""), budget)
            elif kind == "error":
                lines = output.get("traceback", [])
                kept, budget = self._text("\n".join(lines), budget)
                output["traceback"] = kept.split("\n")
            elif kind in ("display_data", "execute_result"):
                data = output.get("data", {})
                for mime in list(data):
                    if mime == MIME:
                        continue
                    if mime == "text/plain":
                        data[mime], budget = self._text(data[mime], budget)
                    elif _size(data[mime]) > self.rich_bytes:
                        size = _size(data.pop(mime))
                        note = f"[{mime} output of {size / 2**20:.1f} MiB dropped by the grader]"
                        data.setdefault("text/plain", note)
        return cell, resources

    @staticmethod
    def _text(value: Any, budget: int) -> tuple[str, int]:
        text = "".join(value) if isinstance(value, list) else str(value)
        size = _size(text)
        if size <= budget:
            return text, budget - size
        return _cut(text, max(0, budget)), 0
