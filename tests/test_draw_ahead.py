"""A class run draws each task's hidden inputs ahead, once per process: a job that draws while
the draw ahead is in flight waits for it and reuses what it cached (Task 2's data here; Task 3's
reference table the same way) instead of computing it a second time."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("dlci_grader")
from dlci_grader.tasks.task2 import checks as task2  # noqa: E402
from dlci_grader.verdicts import judging  # noqa: E402

pytestmark = [pytest.mark.task2, pytest.mark.grader]


def test_a_draw_in_flight_is_waited_for_not_repeated(data_root: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "work"
    scratch.mkdir()
    task2._data.cache_clear()
    ahead = judging.draw_ahead(["task2"], data_root, seed=7, scratch=scratch)
    channel = judging.prepare("task2", tmp_path / "grader", data_root, seed=7)
    ahead.join(timeout=120)
    assert not ahead.is_alive(), "the draw ahead did not end"
    assert channel is not None and channel.seed == 7
    loads = task2._data.cache_info().misses
    assert loads == 1, (
        f"Task 2's data was loaded {loads} times by two draws of one run; the second should "
        "have waited for the first and reused it"
    )
    left = sorted(p.name for p in scratch.iterdir())
    assert not left, f"the draw ahead left {left} in its scratch folder"
