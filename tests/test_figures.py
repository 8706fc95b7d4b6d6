"""Figures that stay true: every measured figure the documentation quotes is in the generated
file ``docs/maintainers/figures.md`` (written by the benchmarks, :mod:`bench.figures`), and the
hub's sizing in ``values.yaml`` follows the measured peaks there.

A *quoted figure* is a number with a unit of time, memory, PSNR or a ratio (``723 s``,
``1.6 GiB``, ``31.37 dB``, ``0.41×``, ``71 %``), or a decimal number in a table row. Each must
be in the figures file (rounded as the document rounds it; seconds may be quoted as minutes and
MiB as GiB), unless :data:`NOT_MEASURED` says why it is no measurement (a setting, a limit, a
target, a figure the course published). The CHANGELOG is history, dated, and not checked.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.foundation

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "docs" / "maintainers" / "figures.md"

NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
UNIT = r"ms|s|min|minutes?|h|hours?|GiB|MiB|GB|MB|dB|×|x|%|notebooks/min|GFLOP/s|TFLOP"
# a number (or a range of two) and its unit, not inside a longer token ("7×7", "v2.0s")
QUANTITY = re.compile(
    rf"(?<![\w.,/=-])({NUMBER})(?:\s?[-–]\s?({NUMBER}))?\s?({UNIT})(?![\w×/])"
)
TABLE_DECIMAL = re.compile(r"(?<![\w.,/=-])(\d+\.\d+)(?![\w.+])")
FIGURE_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")

LIMIT = "a limit the grader enforces (dlci_grader.isolation.limits)"
ATTACK = "the size an attack or a broken sample tries (dlci_grader.samples)"
GRADESCOPE = "Gradescope's own container sizes and the zip's defaults (dlci gradescope build)"
# Quoted with a unit but no benchmark figure, per file: the quantity as written, and its source.
NOT_MEASURED: dict[str, dict[str, str]] = {
    "README.md": {
        "8 GB": "a recommendation, above the largest process's measured peak",
    },
    "autograder/README.md": {
        "20 GiB": ATTACK, "1 GiB": LIMIT, "2 GiB": LIMIT,
    },
    "data/README.md": {
        "35 MB": "the size of the downloads, as their servers publish them",
        "0.1307": "MNIST's published mean, the normalisation torchvision's examples use",
    },
    "docs/instructors/trust.md": {
        "1 GiB": LIMIT, "2 GiB": LIMIT, "20 GiB": ATTACK, "80 MB": ATTACK, "60 MB": ATTACK,
        "1 MiB": "the output cap per cell (dlci_grader.nbgrader.execute)", "3 GiB": ATTACK,
        "6 GiB": ATTACK, "256 MiB": ATTACK,
    },
    "docs/instructors/gradescope-and-lms.md": {
        "300 s": GRADESCOPE, "2 minutes": GRADESCOPE, "2.5 GiB": GRADESCOPE,
        "768 MB": GRADESCOPE, "3 GB": GRADESCOPE,
    },
    "docs/instructors/results.md": {
        "22.40 dB": "published by the course (its problem-session slides)",
        "22.09 dB": "published by the course (its student report)",
        **{psnr: "the course's original networks, tests/test_pretrained.py's COURSE_ORIGINAL"
           for psnr in ("29.17", "28.54", "25.33", "30.89", "30.28", "27.60")},
        **{psnr: "the noisy input's PSNR, 20 log10(1/σ) by definition"
           for psnr in ("26.02", "20.00", "13.98")},
    },
    "docs/instructors/tasks.md": {
        "3.9 MB": "the size of each committed fp16 weights file, starter/assets/*.pt",
        "57 minutes": "recorded by the training run in starter/assets/pretrained.json",
    },
    "docs/maintainers/README.md": {
        "30 minutes": "CI's time budget, a target",
    },
    "autograder/deploy/README.md": {
        "1,800 s": "the Validate button's cell timeout, a setting",
        "30 s": "nbgrader's default cell timeout",
        "2.5 GB": "values.yaml's setting", "4 GB": "values.yaml's setting",
        "3 GB": "values.yaml's setting", "6 GB": "values.yaml's setting",
        "16 GB": "an example node",
    },
    "autograder/deploy/dask.md": {
        "4-6 GiB": "a recommendation, from the measured kernel peaks",
        "6GB": "a setting in an example configuration",
    },
}


def documents() -> list[Path]:
    """The documentation checked: the README, the guides, the deploy files and data notes."""
    docs = [REPO / "README.md", REPO / "autograder" / "README.md", REPO / "data" / "README.md"]
    docs += sorted(p for p in (REPO / "docs").rglob("*.md") if p != FIGURES)
    docs += sorted((REPO / "autograder" / "deploy").glob("*.md"))
    docs.append(REPO / "autograder" / "deploy" / "values.yaml")
    return docs


def _value(text: str) -> float:
    return float(text.replace(",", ""))


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


CONVERSIONS = {
    "min": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60, "h": 1 / 3600, "hour": 1 / 3600,
    "hours": 1 / 3600, "GiB": 1 / 1024, "MiB": 1024.0,
}
"""A figure measured in s (MiB, GiB) may be quoted in minutes or hours (GiB, MiB)."""


@cache
def measured() -> tuple[float, ...]:
    """Every number in the figures file."""
    return tuple(_value(m.group(1)) for m in FIGURE_NUMBER.finditer(FIGURES.read_text()))


def in_figures(text: str, unit: str = "") -> bool:
    """Whether the number ``text`` (as a document writes it, in ``unit``) is a figure of the
    file, rounded as the document rounds it."""
    value, places = _value(text), _decimals(text)
    scales = (1.0, CONVERSIONS[unit]) if unit in CONVERSIONS else (1.0,)
    return any(abs(round(n * scale, places) - value) < 1e-9
               for n in measured() for scale in scales)


def quoted(path: Path) -> list[tuple[int, str, list[str], str]]:
    """``(line, quantity as written, its numbers, its unit)`` for every quoted figure in
    ``path``."""
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        spans = []
        for m in QUANTITY.finditer(line):
            found.append((number, m.group(0), [g for g in m.groups()[:2] if g], m.group(3)))
            spans.append(m.span())
        if line.lstrip().startswith("|"):
            for m in TABLE_DECIMAL.finditer(line):
                if not any(a <= m.start() < b for a, b in spans):
                    found.append((number, m.group(1), [m.group(1)], ""))
    return found


def _name(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_the_figures_file_names_when_and_where_each_figure_was_measured():
    from bench.figures import sections

    assert FIGURES.is_file(), "docs/maintainers/figures.md is missing: run `make bench`"
    found = sections(FIGURES.read_text())
    assert found, "the figures file has no benchmark section"
    for key, section in found.items():
        assert key.startswith("python -m bench."), key
        assert re.search(r"^Measured \d{4}-\d\d-\d\d .* on .*\d+ cores.*torch ", section, re.M), (
            f"section `{key}` does not say when and on which machine it was measured"
        )
        assert "| " in section, f"section `{key}` has no table"


def test_every_quoted_figure_is_in_the_figures_file():
    stray = []
    for path in documents():
        allowed = NOT_MEASURED.get(_name(path), {})
        for line, text, numbers, unit in quoted(path):
            if text in allowed or all(in_figures(n, unit) for n in numbers):
                continue
            stray.append(f"{_name(path)}:{line}: {text}")
    assert not stray, (
        "figures quoted in the docs that docs/maintainers/figures.md does not hold (measure them "
        "with the benchmark that writes them, or, for a setting or a target, say so in "
        "tests/test_figures.py's NOT_MEASURED):\n" + "\n".join(stray)
    )


def test_each_not_measured_entry_is_still_quoted():
    names = {_name(p): p for p in documents()}
    stale = []
    for name, entries in NOT_MEASURED.items():
        assert name in names, f"NOT_MEASURED names {name}, which is not a checked document"
        texts = {text for _, text, _, _ in quoted(names[name])}
        stale += [f"{name}: {text}" for text in entries if text not in texts]
    assert not stale, "NOT_MEASURED entries no longer in their document:\n" + "\n".join(stale)


def test_the_checker_finds_figures_and_tells_settings_apart(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(
        "It took 1,135 s (0.41× the loop), 1.3-4.2 GiB; 7×7 kernels, 32×32 patches.\n"
        "| model | PSNR |\n|---|---|\n| bias | 31.37 / 29.59 |\n"
    )
    texts = [text for _, text, _, _ in quoted(doc)]
    assert texts == ["1,135 s", "0.41×", "1.3-4.2 GiB", "31.37", "29.59"]


def _gib(text: str) -> float:
    """A Kubernetes quantity (``2G``, ``2500M``, ``2Gi``) in GiB."""
    m = re.fullmatch(r"([\d.]+)\s*([KMG]i?)", text.strip().strip('"'))
    assert m, f"not a memory quantity: {text!r}"
    scale = {"K": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}[m.group(2)]
    return float(m.group(1)) * scale / 2**30


HEADROOM = 1.25
"""The guarantee over the largest notebook's measured kernel peak: the server beside it (about
0.2 GiB idle) and run-to-run spread."""


def test_the_hubs_memory_guarantee_holds_the_largest_measured_notebook():
    from bench.figures import sections

    yaml = pytest.importorskip("yaml")
    section = sections(FIGURES.read_text()).get("python -m bench.bench_notebooks")
    assert section, "figures.md has no `python -m bench.bench_notebooks` section: run it"
    rows = [line for line in section.splitlines() if line.startswith("| ") and ".ipynb" in line]
    header = next(line for line in section.splitlines() if line.startswith("| notebook"))
    column = [c.strip() for c in header.strip("|").split("|")].index("peak kernel RSS MiB")
    peaks = {r.split("|")[1].strip(): float(r.split("|")[column + 1]) / 1024 for r in rows}
    assert {name.split("_")[0] for name in peaks} == {"task1", "task2", "task3"}, peaks
    values = yaml.safe_load((REPO / "autograder" / "deploy" / "values.yaml").read_text())
    guarantee = _gib(values["singleuser"]["memory"]["guarantee"])
    largest = max(peaks, key=lambda name: peaks[name])
    assert guarantee >= HEADROOM * peaks[largest], (
        f"values.yaml guarantees {guarantee:.2f} GiB per student, but {largest} peaks at "
        f"{peaks[largest]:.2f} GiB: raise the guarantee to at least {HEADROOM}x that"
    )
    assert _gib(values["singleuser"]["memory"]["limit"]) >= 2 * peaks[largest], (
        "the limit should hold two open notebooks"
    )


def test_a_benchmark_replaces_its_own_section_and_keeps_the_others(tmp_path, capsys):
    from bench.figures import publish, sections

    path = tmp_path / "figures.md"
    publish("bench_a", [{"x": 1.23456}], path=path, started="test machine, 2 cores, torch x",
            uses_data=False)
    publish("bench_b", [{"y": 1135.2}], argv=["--root", "/data", "--quick"], path=path,
            started="test machine", uses_data=False)
    publish("bench_a", [{"x": 2.5}], path=path, started="test machine", uses_data=False)
    found = sections(path.read_text())
    assert list(found) == ["python -m bench.bench_a", "python -m bench.bench_b --quick"]
    assert "| 2.50 |" in found["python -m bench.bench_a"]
    assert "1.23" not in path.read_text()
    assert "| 1135 |" in found["python -m bench.bench_b --quick"]
    assert "/data" not in path.read_text()
    assert "| 2.50 |" in capsys.readouterr().out
