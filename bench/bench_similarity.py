"""What the similarity listing costs: one task's class of 500 submissions, compared pairwise.

The class is synthetic, made from the Task 1 sample class's variants
(:mod:`dlci_grader.samples.variants`): each student hands in one variant (the solution or a
catalogued mistake) with small random changes of their own: a line or two drawn from a pool of
plausible extra statements (so that some fragments are shared by a few students, as in a real
class, and the inverted index has work to do) and, for a few, their own comment and blank lines.
``PLANTED`` pairs of students also share a helper of their own (a cheat cell): those, and only
those, must be listed. Nothing is graded or run.

Wall time is one run of :func:`~dlci_grader.insight.similarity.compare` plus the HTML fragment
and the rows; the peak is the Python heap under ``tracemalloc`` during a second run (slower, so
not timed), and the process's maximum resident set size.

    python -m bench similarity
    python -m bench.bench_similarity --students 1000
"""

from __future__ import annotations

import argparse
import copy
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Mapping
from pathlib import Path

from nbformat import NotebookNode

from dlci_grader.insight import similarity
from dlci_grader.samples.variants import submissions
from dlci_grader.tasks import load_tasks
from starter.nbgrader_cells import grade_id, is_answer

ROOT = Path(__file__).resolve().parents[1]
TASK = "task1"
STUDENTS = 500
PLANTED = 5
"""Pairs of students who share a helper of their own: the listing's true positives."""
SEED = 0

_NAMES = ["scale", "norm", "check", "n_rows", "eps", "tmp", "shape", "total", "size", "limit"]
_EXPRESSIONS = [
    "grad_output.abs().max()",
    "grad_output.shape[0]",
    "float(lr) * 0.5",
    "1e-8",
    "x.norm(dim=1).mean()",
    "weight.numel()",
    "len(parameters)",
    "torch.finfo(x.dtype).eps",
    "grad_output.detach().clone()",
    "x.shape[-1] // 2",
    "weight.std().item()",
    "max(1, x.dim())",
    "sum(p.numel() for p in parameters)",
    "grad_output.mean(dim=0)",
    "abs(lr) + 1e-12",
]
_ANSWER_CELLS = ("linear_function", "analytic_gradients", "sgd_step", "conv2d_function")


def _extra_line(rng: random.Random) -> str:
    """A statement a student might add: 150 possible, so each is written by a few students."""
    return f"{rng.choice(_NAMES)} = {rng.choice(_EXPRESSIONS)}"


def _insert(source: str, line: str, rng: random.Random) -> str:
    """``line`` inserted after a random indented line of ``source``, at that line's indent."""
    lines = source.splitlines()
    body = [i for i, text in enumerate(lines) if text.startswith("        ") and text.strip()]
    if not body:
        return source
    at = rng.choice(body)
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at + 1, indent + line)
    return "\n".join(lines)


_HELPER_LINES = [
    "stats = [(t.min().item(), t.max().item()) for t in tensors]",
    "if not tensors:\n        return None",
    "total = sum(t.numel() for t in tensors)",
    "worst = max(range(len(tensors)), key=lambda i: tensors[i].abs().max())",
    "print('report', tag, total, sep=' | ')",
    "flat = torch.cat([t.detach().reshape(-1) for t in tensors])",
    "spread = float(flat.std() / (flat.abs().mean() + 1e-12))",
    "for i, t in enumerate(tensors):\n        assert torch.isfinite(t).all(), (tag, i)",
    "seen.setdefault(tag, []).append(len(tensors))",
    "ratio = {k: v / max(1, len(seen)) for k, v in enumerate(stats)}",
    "history = [x for x in seen.get(tag, []) if x > 0][-5:]",
    "while len(history) > 3:\n        history.pop(0)",
]


def _helper(number: int, rng: random.Random) -> str:
    """A helper of a planted pair's own: six statements in an order nobody else wrote."""
    body = rng.sample(_HELPER_LINES, 6)
    lines = [f"def _debug_report_{number}(tensors, tag='', seen={{}}):"]
    lines += [f"    {line}" for line in body]
    return "\n".join(lines) + "\n    return tag\n\n\n"


def synthetic_class(
    variants: Mapping[str, NotebookNode], students: int, planted: int, seed: int
) -> dict[str, NotebookNode]:
    """``students`` notebooks made from the sample ``variants``, perturbed at random; students
    ``planted-<i>-a`` and ``planted-<i>-b`` share a helper of their own."""
    rng = random.Random(seed)
    names = sorted(n for n in variants if n != "blank")
    found = {}
    for number in range(students):
        notebook = copy.deepcopy(variants[rng.choice(names)])
        cells = {grade_id(c): c for c in notebook.cells if is_answer(c)}
        for _ in range(rng.randint(1, 2)):
            cell = cells[rng.choice(_ANSWER_CELLS)]
            cell.source = _insert(cell.source, _extra_line(rng), rng)
        if rng.random() < 0.3:
            cell = cells[rng.choice(_ANSWER_CELLS)]
            cell.source = _insert(cell.source, f"# checked by student {number}", rng)
        found[f"s{number:04d}"] = notebook
    pairs = rng.sample(sorted(found), 2 * planted)
    for i in range(planted):
        helper = _helper(i, rng)
        for side, student in zip("ab", pairs[2 * i : 2 * i + 2], strict=True):
            notebook = found.pop(student)
            cell = next(c for c in notebook.cells if grade_id(c) == "sgd_step")
            cell.source = helper + cell.source
            found[f"planted-{i}-{side}"] = notebook
    return found


def run(
    data_root: str | None = None,
    students: int = STUDENTS,
    planted: int = PLANTED,
    seed: int = SEED,
) -> list[dict]:
    """One row: the class's size, the pairs scored and listed, wall time and peak memory."""
    task = load_tasks(ROOT / "solutions", [TASK])[TASK]
    release = task.release(ROOT / "notebooks")
    variants = submissions(TASK, ROOT / "solutions", ROOT / "notebooks")
    notebooks = synthetic_class(variants, students, planted, seed)
    start = time.perf_counter()
    listing = similarity.compare(notebooks, release)
    similarity.html_fragment(listing)
    similarity.rows(listing)
    wall = time.perf_counter() - start
    tracemalloc.start()
    similarity.compare(notebooks, release)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    listed = {(p.a, p.b) for p in listing.pairs}
    expected = {(f"planted-{i}-a", f"planted-{i}-b") for i in range(planted)}
    return [
        {
            "task": TASK,
            "submissions": listing.students,
            "pairs": students * (students - 1) // 2,
            "pairs scored": listing.scored,
            "listed": len(listing.pairs),
            "planted listed": f"{len(listed & expected)}/{planted}",
            "wall s": wall,
            "ms per submission": 1000 * wall / students,
            "peak heap MiB (tracemalloc)": peak / 2**20,
            "max RSS MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=STUDENTS)
    parser.add_argument("--planted", type=int, default=PLANTED)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    from bench.figures import machine, publish

    started = machine()
    publish("bench_similarity", run(students=args.students, planted=args.planted, seed=args.seed),
            argv=sys.argv[1:], started=started, uses_data=False)
