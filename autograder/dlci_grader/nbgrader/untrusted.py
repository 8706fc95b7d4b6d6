"""Plain ``nbgrader autograde`` refused in a course the kit grades.

nbgrader's own autograde (the command, and formgrader's "autograde" button) runs the tests
inside the student's kernel on fixed inputs: a submission can replace the harness, read the
inputs or forge its results there (the kit's attack suite does). In a course the kit grades,
``c.Autograde.exporter_class`` names :class:`InKernelAutogradeRefused`, which nbgrader builds
after listing the submissions and before it removes or writes any file: the run stops with
:data:`REFUSAL` in its log (formgrader shows it), and the trusted grades, autograded notebooks
and feedback stay as ``dlci grade`` left them. The kit's own workers run nbgrader with its
default exporter (:func:`~dlci_grader.nbgrader.config.write_worker_config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_config_path
from nbconvert.exporters import NotebookExporter
from nbgrader.converters.base import NbGraderException
from traitlets.config import Config
from traitlets.config.loader import JSONFileConfigLoader, PyFileConfigLoader

from dlci_grader.nbgrader.config import REFUSE_IN_KERNEL

REFUSAL = (
    "This course is graded by the kit's trusted grader, not by plain `nbgrader autograde`, "
    "which runs the tests inside the student's kernel where a submission can cheat them. "
    "Run `dlci grade --course COURSE` in a terminal (it grades COURSE/submitted/ into this "
    "gradebook; the formgrader then shows the scores). Nothing was changed."
)


class InKernelAutogradeRefused(NotebookExporter):
    """nbgrader's exporter for ``autograde`` that refuses, before anything is written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        parent = kwargs.get("parent")
        if parent is not None and hasattr(parent, "log"):
            parent.log.error(REFUSAL)
        raise NbGraderException(REFUSAL)


def refused_in(course_root: Path) -> bool:
    """Whether ``nbgrader autograde`` started in ``course_root`` refuses: the ``nbgrader_config``
    files nbgrader loads there (Jupyter's configuration path, then the course folder, the
    later winning) set ``Autograde.exporter_class`` to :class:`InKernelAutogradeRefused`."""
    merged = Config()
    for folder in [*reversed(jupyter_config_path()), str(course_root)]:
        for name, loader in (("nbgrader_config.json", JSONFileConfigLoader),
                             ("nbgrader_config.py", PyFileConfigLoader)):
            if (Path(folder) / name).is_file():
                merged.merge(loader(name, path=folder).load_config())
    value = merged.get("Autograde", {}).get("exporter_class")
    if isinstance(value, type):
        value = f"{value.__module__}.{value.__qualname__}"
    return value == REFUSE_IN_KERNEL
