"""Similar answers in one task's class: pairs of students whose answer code shares fragments
that few others in the class wrote. Part of the instructor's report, never part of a score.

What is compared: each submission's answer code, the code of its answer cells (nbgrader
``solution``) that the released notebook did not already hold; the released notebook's code is
boilerplate, so the handed-out code never matches. Past terms' notebooks of the task may be
added: they are compared with this term's, never with each other, and count towards how common
a fragment is.

How (copydetect's building blocks, the winnowing of Schleimer, Wilkerson and Aiken, SIGMOD 2003):

1. each block of answer code is tokenised by copydetect's ``filter_code`` (names become ``V``,
   ``F``, ``O``; strings ``S``; comments and white space go), so renaming hides nothing;
2. its fingerprints are the hashes of every :data:`K` characters of that token text, winnowed
   (copydetect's ``winnow``, one kept in every :data:`WINDOW`): a copied run of
   ``K + WINDOW - 1`` or more characters always shares one;
3. a fingerprint that the released notebook holds is dropped. Each other one weighs by how rare
   it is (MOSS's rule): held by ``n`` submissions, it weighs ``1 / (n - 1)``: only this pair
   holds it: 1; a fragment five hold is shared with four others: 1/4. Held by more than
   :func:`common_above` submissions (:data:`MAX_HOLDERS`, or half the class when that is
   fewer), it weighs nothing: canonical code such as ``grad_input = grad_output @ weight``, that
   much of the class writes, is no evidence;
4. an inverted index lists the holders of every rare fingerprint, so only the pairs that share
   one are scored. A pair's **score** is the total weight of the fingerprints both hold.
   Winnowing keeps about one fingerprint in three characters, so a score of 20 is some 60
   characters of token text (four or five lines of code) that these two share and hardly
   anyone else does. Its ``share`` is the score over the smaller of the two submissions' own
   total weight (0 to 1): 1 for a verbatim copy, low for one shared helper among long answers.

A pair whose score reaches :data:`THRESHOLD` is listed, with the matched lines of each side
(the rare fingerprints' characters, mapped back to the answer code). A listing is a reason to
read two answers side by side, never evidence on its own: students who worked together as the
course allows, or who both followed the same tutorial, are listed too.

Example:
    >>> listing = compare(notebooks, "notebooks/task1_backprop_inpainting.ipynb")  # doctest: +SKIP
    >>> [(p.a, p.b, round(p.score)) for p in listing.pairs]  # doctest: +SKIP
    [('ada', 'fay', 107), ('ben', 'gus', 50), ('cat', 'dan', 43)]
"""

from __future__ import annotations

import difflib
import html
import itertools
import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import nbformat
import numpy as np
from copydetect.utils import (  # type: ignore[import-untyped]
    filter_code,
    get_copied_slices,
    highlight_overlap,
    winnow,
)
from nbformat import NotebookNode

from dlci_grader.nbgrader.template import NBFORMAT_VERSION
from starter.nbgrader_cells import grade_id, is_answer

K = 20
"""Characters of token text per fingerprint (copydetect's noise threshold): shorter runs never
match. ``V=V.V(V,V)``, a whole statement, is 10."""
WINDOW = 5
"""Winnowing window: one fingerprint kept in every ``WINDOW`` consecutive ones."""
MAX_HOLDERS = 10
"""A fingerprint held by more submissions than this weighs nothing (MOSS's default ``-m``)."""
COMMON_SHARE = 0.5
"""...nor one held by more than this fraction of the submissions (it binds in small classes)."""
THRESHOLD = 20.0
"""A pair is listed when its score reaches this: four or five lines of code that these two share
and hardly anyone else wrote. In the tests' classes of independently written answers no pair
reaches half of it; a verbatim copy scores about 100, a shared eight-line helper about 40."""
PAST = "past:"
"""Prefix of a past term's submission's id: ``past:<path below the folder>``."""
BLOCK_SEPARATOR = "\n...\n"
"""Between the separate blocks of one cell's answer code (never part of a fingerprint)."""

_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
_BASE = np.uint64(1_000_003)

Notebook = NotebookNode | str | Path


@dataclass(frozen=True)
class Span:
    """Matched code in one answer cell: ``code[start:end]`` of that cell's answer code."""

    cell: str
    """the answer cell's grade id."""
    start: int
    end: int


@dataclass(frozen=True)
class Pair:
    """Two submissions whose answer code shares rare fragments.

    ``a`` is always this term's; ``b`` is this term's or a past term's (its id starts with
    :data:`PAST`).
    """

    a: str
    b: str
    score: float
    """total weight of the fingerprints both hold (see the module's docstring)."""
    share: float
    """``score`` over the smaller of the two submissions' own total weight, 0 to 1."""
    spans_a: tuple[Span, ...]
    spans_b: tuple[Span, ...]

    @property
    def past(self) -> bool:
        """``b`` is a past term's submission."""
        return self.b.startswith(PAST)


@dataclass(frozen=True)
class Listing:
    """The similarity listing of one task's class."""

    pairs: tuple[Pair, ...]
    """the pairs whose score reaches ``threshold``, highest score first."""
    answers: Mapping[str, Mapping[str, str]]
    """submission -> answer cell's grade id -> its answer code (what the release did not hold)."""
    students: int
    """this term's submissions compared."""
    past: int
    """past terms' submissions compared with them."""
    scored: int
    """pairs that shared a rare fingerprint and were scored (all others score 0)."""
    threshold: float
    unread: tuple[str, ...] = field(default_factory=tuple)
    """submissions whose notebook could not be read (not compared)."""


@dataclass(frozen=True)
class _Block:
    """One contiguous block of a cell's answer code, with its winnowed fingerprints."""

    cell: str
    start: int
    """where the block starts in the cell's answer code."""
    offsets: np.ndarray
    """copydetect's map from token text back to the block's characters."""
    hashes: np.ndarray
    positions: np.ndarray
    """where each fingerprint starts in the block's token text."""


def _read(notebook: Notebook) -> NotebookNode:
    if isinstance(notebook, NotebookNode):
        return notebook
    return nbformat.read(str(notebook), as_version=NBFORMAT_VERSION)


def _answer_cells(notebook: NotebookNode) -> dict[str, list[str]]:
    """Grade id -> the sources of the notebook's answer code cells with that id, in order."""
    found: dict[str, list[str]] = defaultdict(list)
    for cell in notebook.get("cells", []):
        name = grade_id(cell)
        if cell.get("cell_type") == "code" and is_answer(cell) and name:
            found[name].append(cell.get("source", ""))
    return dict(found)


def _added_blocks(released: str, written: str) -> list[str]:
    """The runs of lines of ``written`` that ``released`` did not hold, each dedented."""
    old = [line.rstrip() for line in released.splitlines()]
    lines = written.splitlines()
    new = [line.rstrip() for line in lines]
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    blocks = []
    for op, _, _, j1, j2 in matcher.get_opcodes():
        if op in ("replace", "insert"):
            block = textwrap.dedent("\n".join(lines[j1:j2])).strip("\n")
            if block.strip():
                blocks.append(block)
    return blocks


def answer_code(notebook: Notebook, release: Notebook) -> dict[str, str]:
    """The submission's answer code: grade id -> what its answer code cell holds that the
    released cell did not (blocks apart joined by :data:`BLOCK_SEPARATOR`).

    Only the release's answer code cells count (a cell the student added, or another task's
    notebook, gives nothing); a cell with nothing new is left out.
    """
    released = {name: "\n".join(sources) for name, sources in _answer_cells(_read(release)).items()}
    code = {}
    for name, sources in _answer_cells(_read(notebook)).items():
        if name in released:
            blocks = [b for source in sources for b in _added_blocks(released[name], source)]
            if blocks:
                code[name] = BLOCK_SEPARATOR.join(blocks)
    return code


def _kgram_hashes(text: str) -> np.ndarray:
    """A 64-bit hash of every ``K`` characters of ``text``, the same in every run.

    copydetect's ``hashed_kgrams`` uses Python's ``hash``, salted per process: winnowing would
    keep other fingerprints in every run, and the listing would change from run to run.
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    count = len(codes) - K + 1
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    value = np.zeros(count, dtype=np.uint64)
    for j in range(K):
        value = value * _BASE + codes[j : j + count]  # wraps modulo 2**64
    for shift, factor in zip((30, 27), _MIX, strict=True):  # splitmix64's finaliser
        value = (value ^ (value >> np.uint64(shift))) * factor
    value ^= value >> np.uint64(31)
    return value.view(np.int64)


def _tokens(code: str) -> tuple[str, np.ndarray]:
    """copydetect's token text of Python ``code`` and its map back to ``code``: rows
    ``(index in the token text, characters of code removed before it)``, ended by a row for
    the end of the text (copydetect's own map stops at the last removed token)."""
    filtered, offsets = filter_code(code, "answer.py", language="python")
    filtered = str(filtered)
    rows = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    end = np.array([[len(filtered), max(0, len(code) - len(filtered))]], dtype=np.int64)
    return filtered, np.vstack([rows, end])


def _blocks(answers: Mapping[str, str]) -> list[_Block]:
    blocks = []
    for cell, code in answers.items():
        start = 0
        for text in code.split(BLOCK_SEPARATOR):
            filtered, offsets = _tokens(text)
            hashes = _kgram_hashes(filtered)
            if len(hashes):
                kept, positions = winnow(hashes, WINDOW, remove_duplicates=False)
                blocks.append(_Block(cell, start, offsets, kept, positions))
            start += len(text) + len(BLOCK_SEPARATOR)
    return blocks


def _boilerplate(release: NotebookNode) -> set[int]:
    """Every fingerprint of the released notebook's code (not winnowed)."""
    found: set[int] = set()
    for cell in release.get("cells", []):
        if cell.get("cell_type") == "code":
            found.update(_kgram_hashes(_tokens(cell.get("source", ""))[0]).tolist())
    return found


def common_above(submissions: int) -> int:
    """A fingerprint held by more submissions than this weighs nothing: :data:`MAX_HOLDERS`,
    or :data:`COMMON_SHARE` of the submissions when that is fewer (never under 2)."""
    return max(2, min(MAX_HOLDERS, int(COMMON_SHARE * submissions)))


def _weight(holders: int, cap: int) -> float:
    """A fingerprint's weight, held by ``holders`` submissions (1 for a fingerprint only one
    holds: it counts fully in that submission's own total)."""
    return 0.0 if holders > cap else 1.0 / max(1, holders - 1)


def _lines(code: str, start: int, end: int) -> tuple[int, int]:
    """``code[start:end]`` widened to whole lines (without the last line's newline)."""
    first = code.rfind("\n", 0, start) + 1
    last = code.find("\n", max(end - 1, first))
    return first, len(code) if last < 0 else last


def _spans(blocks: Iterable[_Block], shared: set[int], code: Mapping[str, str]) -> list[Span]:
    """The lines of ``code`` that the ``shared`` fingerprints cover, per answer cell.

    copydetect's map from token text back to the code is exact only to a character or two
    (a class name's entry is off), so a match is shown as the whole lines it touches.
    """
    found: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for block in blocks:
        hit = np.array([h in shared for h in block.hashes.tolist()], dtype=bool)
        if not hit.any():
            continue
        slices = get_copied_slices(block.positions[hit], K).astype(np.int64)
        where = np.searchsorted(block.offsets[:, 0], slices)
        slices = slices + block.offsets[:, 1][np.clip(where, 0, len(block.offsets) - 1)]
        text = code[block.cell]
        for first, last in slices.T.tolist():
            start = min(block.start + first, len(text))
            end = min(block.start + max(last, first + 1), len(text))
            found[block.cell].append(_lines(text, start, end))
    spans = []
    for cell, ranges in sorted(found.items()):
        ranges.sort()
        merged = [ranges[0]]
        for start, end in ranges[1:]:
            if start <= merged[-1][1] + 1:  # overlapping, or on the next line
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        spans += [Span(cell, start, end) for start, end in merged]
    return spans


def _past_notebooks(past: str | Path | Mapping[str, Notebook] | None) -> dict[str, Notebook]:
    if past is None:
        return {}
    if isinstance(past, Mapping):
        return {f"{PAST}{name}": notebook for name, notebook in past.items()}
    folder = Path(past)
    return {
        f"{PAST}{path.relative_to(folder).as_posix()}": path
        for path in sorted(folder.rglob("*.ipynb"))
        if ".ipynb_checkpoints" not in path.parts
    }


def compare(
    notebooks: Mapping[str, Notebook],
    release: Notebook,
    past: str | Path | Mapping[str, Notebook] | None = None,
    threshold: float = THRESHOLD,
) -> Listing:
    """List the pairs of submissions of one task whose answer code shares rare fragments.

    ``notebooks``: student id -> this term's notebook (a NotebookNode or a path); ``release``:
    the task's released notebook (``notebooks/<task notebook>.ipynb``), the boilerplate;
    ``past``: past terms' notebooks of the task (a folder searched for ``*.ipynb``, or id ->
    notebook). Nothing is run or graded: only the code is read.
    """
    release = _read(release)
    current = set(notebooks)
    everyone = {**{str(k): v for k, v in notebooks.items()}, **_past_notebooks(past)}
    answers: dict[str, dict[str, str]] = {}
    unread = []
    for name, notebook in everyone.items():
        try:
            answers[name] = answer_code(_read(notebook), release)
        except Exception:  # noqa: BLE001 - any unreadable file: listed as not compared
            unread.append(name)
    boilerplate = _boilerplate(release)
    blocks = {name: _blocks(code) for name, code in answers.items()}
    held = {
        name: {h for b in bs for h in b.hashes.tolist()} - boilerplate
        for name, bs in blocks.items()
    }
    holders = Counter(h for hashes in held.values() for h in hashes)
    cap = common_above(sum(1 for hashes in held.values() if hashes))
    own = {name: sum(_weight(holders[h], cap) for h in hashes) for name, hashes in held.items()}
    index: dict[int, list[str]] = defaultdict(list)
    for name in sorted(held):
        for h in held[name]:
            if 2 <= holders[h] <= cap:
                index[h].append(name)
    scores: dict[tuple[str, str], float] = defaultdict(float)
    for names in index.values():
        weight = _weight(len(names), cap)
        for a, b in itertools.combinations(names, 2):
            if a in current or b in current:
                pair = (a, b) if a in current and (b not in current or a < b) else (b, a)
                scores[pair] += weight
    pairs = []
    for (a, b), score in scores.items():
        if score >= threshold:
            shared = {h for h in held[a] & held[b] if 2 <= holders[h] <= cap}
            pairs.append(
                Pair(
                    a,
                    b,
                    score,
                    score / max(min(own[a], own[b]), 1e-9),
                    tuple(_spans(blocks[a], shared, answers[a])),
                    tuple(_spans(blocks[b], shared, answers[b])),
                )
            )
    pairs.sort(key=lambda p: (-p.score, p.a, p.b))
    return Listing(
        tuple(pairs),
        answers,
        len(current & set(answers)),
        len(set(answers) - current),
        len(scores),
        threshold,
        tuple(sorted(unread)),
    )


def matched_code(pair: Pair, listing: Listing, side: Literal["a", "b"] = "a") -> str:
    """The matched fragments of one side of ``pair`` (``"a"`` or ``"b"``), one per line."""
    student, spans = (pair.a, pair.spans_a) if side == "a" else (pair.b, pair.spans_b)
    code = listing.answers[student]
    return "\n".join(code[s.cell][s.start : s.end].strip() for s in spans)


def rows(listing: Listing) -> list[dict[str, str | float | bool]]:
    """One row per listed pair, for a CSV or JSON file."""
    return [
        {
            "student_a": p.a,
            "student_b": p.b,
            "past_term": p.past,
            "score": round(p.score, 1),
            "share": round(p.share, 3),
            "cells_a": " ".join(sorted({s.cell for s in p.spans_a})),
            "cells_b": " ".join(sorted({s.cell for s in p.spans_b})),
            "matched_a": matched_code(p, listing, "a"),
            "matched_b": matched_code(p, listing, "b"),
        }
        for p in listing.pairs
    ]


_MARK = '<mark style="background:#ffe08a">'
_PRE = 'style="margin:0;white-space:pre-wrap;font-size:85%"'
_CELL = 'style="vertical-align:top;width:50%;border:1px solid #ccc;padding:4px"'


def _highlighted(code: str, spans: Sequence[Span]) -> str:
    """``code`` escaped for HTML, the spans (sorted, apart) in ``<mark>`` (copydetect's
    ``highlight_overlap``)."""
    if not spans:
        return html.escape(code)
    slices = np.array([[s.start for s in spans], [s.end for s in spans]])
    text, _ = highlight_overlap(code, slices, _MARK, "</mark>", escape_html=True)
    return str(text)


def html_fragment(listing: Listing) -> str:
    """The listed pairs as an HTML fragment: per pair, the two students' answer cells that
    matched side by side, the matching fragments highlighted. Self-contained: no script, no
    external file."""
    e = html.escape
    parts = [
        '<section class="similarity">',
        f"<p>{listing.students} submissions compared"
        + (f" with {listing.past} of past terms" if listing.past else "")
        + f"; {listing.scored} pairs shared a rare fragment; {len(listing.pairs)} scored "
        f"{listing.threshold:g} or more. Highlighted: code these two share and few others "
        "wrote. A reason to read the two answers, never evidence on its own.</p>",
    ]
    if listing.unread:
        parts.append(f"<p>Not compared (unreadable): {e(', '.join(listing.unread))}</p>")
    for pair in listing.pairs:
        parts.append(
            f"<h4>{e(pair.a)} and {e(pair.b)}: score {pair.score:.0f}, "
            f"{pair.share:.0%} of the smaller answer's rare code</h4>"
        )
        parts.append('<table style="border-collapse:collapse;width:100%">')
        past = " (a past term)" if pair.past else ""
        parts.append(f"<tr><th>{e(pair.a)}</th><th>{e(pair.b)}{past}</th></tr>")
        cells = sorted({s.cell for s in pair.spans_a} | {s.cell for s in pair.spans_b})
        for cell in cells:
            row = []
            for student, spans in ((pair.a, pair.spans_a), (pair.b, pair.spans_b)):
                code = listing.answers[student].get(cell, "")
                marked = _highlighted(code, [s for s in spans if s.cell == cell])
                row.append(f"<td {_CELL}><b>{e(cell)}</b><pre {_PRE}>{marked}</pre></td>")
            parts.append("<tr>" + "".join(row) + "</tr>")
        parts.append("</table>")
    parts.append("</section>")
    return "\n".join(parts)
