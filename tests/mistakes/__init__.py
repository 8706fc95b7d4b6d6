"""The catalogue of typical student mistakes and the hint ``dlci check`` must give for each.

Each :class:`Mistake` is an edit of the full solution (the same :class:`Edit` the sample
variants use), the visible test it must fail, and what that test's failure text must say:
the mistake named in words (``says``, regular expressions) and never the solution's code
(``never``, plain substrings checked against the whole ``dlci check`` output).
``tests/test_mistake_catalogue.py`` runs every row through the real ``dlci check``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dlci_grader.samples.variants import Edit

__all__ = ["Edit", "Mistake", "with_named"]


@dataclass(frozen=True)
class Mistake:
    """One typical mistake and the visible hint it must produce.

    Attributes:
        task: task key, e.g. ``"task1"``.
        name: short identifier (unique within the task).
        description: what the student did, in words.
        edits: applied to the full solution, each matching exactly once.
        test: grade id of the visible test that must fail.
        says: regular expressions (case-insensitive); each must match that test's failure
            text in ``dlci check`` (the test's intent line and its whole error message).
        never: substrings that must appear nowhere in ``dlci check``'s output.
        fails: every visible test the edited notebook fails (``test`` among them); the others
            pass, and a hidden test (``<test>_hidden``) scores as its visible twin does, so
            every test's points are known (all or nothing). A composite test
            (the network's gradients, training's outcome) is listed only when the mistake makes
            what it is about wrong: a wrong part is its own test's failure, not the whole's too.
        named: the ids of :mod:`starter.mistakes` this row's hint names: the test's failure text
            holds each one's words (``Mistake.says``), so the catalogue, the hints and the class
            report share one list.
    """

    task: str
    name: str
    description: str
    edits: tuple[Edit, ...]
    test: str
    says: tuple[str, ...]
    never: tuple[str, ...] = ()
    fails: tuple[str, ...] = ()
    named: tuple[str, ...] = ()


def with_named(rows: list[Mistake], named: dict[str, tuple[str, ...]]) -> list[Mistake]:
    """``rows`` with the ids of ``named`` (row name -> ids); a name that is no row is an error."""
    unknown = set(named) - {row.name for row in rows}
    if unknown:
        raise ValueError(f"no catalogue rows named {sorted(unknown)}")
    return [replace(row, named=named.get(row.name, ())) for row in rows]
