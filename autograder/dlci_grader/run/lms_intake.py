"""Who handed in which notebook, as an LMS's download of submissions names it.

What a download holds at its top level, and whose each notebook is:

- a folder per student, ``<student>/.../*.ipynb`` (nbgrader's ``submitted/<student>/<assignment>/``
  or any folder): the folder name is the student; Moodle's "Download all submissions" names the
  folder ``<full name>_<participant id>_assignsubmission_file_`` (``Jane Doe_123456_
  assignsubmission_file_/``): the student id is ``Jane_Doe_123456`` and the LMS id the participant
  id ``123456`` (the ``Identifier`` ``Participant 123456`` of Moodle's grading worksheet);
- Canvas's "Download Submissions": files at the top, ``<name>_<user id>_<attempt id>_<file name>``
  (``doejane_123456_7890123_task1_backprop_inpainting.ipynb``), late ones
  ``<name>_LATE_<user id>_<attempt id>_<file name>``; the LMS id and, without a roster, the
  student id is the Canvas user id. Canvas gives a resubmitted file of the same name a ``-1``,
  ``-2``... suffix (``task1_backprop_inpainting-1.ipynb``): the highest suffix, then the highest
  attempt id, is the latest (:attr:`HandIn.version`);
- Gradescope's "Export Submissions": ``submission_metadata.yml`` at the top maps each folder
  ``submission_<id>/`` (the uploaded files) to its submitters (``:name:``, ``:sid:``,
  ``:email:``; a group submission has several, each gets the notebook); the LMS ids are the SID and
  the email, the student id without a roster the SID, else the email's local part.

Anything else at the top (a file that is no notebook, a notebook not named as Canvas names them, a
folder Gradescope's metadata does not list) is skipped with a warning that names it. Which course
student an LMS id stands for is the roster's (:mod:`dlci_grader.run.roster`), and which task a
notebook is, intake's (:mod:`dlci_grader.run.intake`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

MOODLE_SUFFIX = re.compile(r"_assignsubmission_\w*$")
"""What Moodle appends to a student's folder name (the submission plugin)."""
_MOODLE_FOLDER = re.compile(r"^(?P<name>.*)_(?P<participant>\d+)_assignsubmission_\w*$")
_CANVAS_FILE = re.compile(
    r"^(?P<name>[^_]+)_(?:LATE_)?(?P<user>\d+)_(?P<attempt>\d+)_(?P<filename>.+)$"
)
_RESUBMISSION = re.compile(r"-(?P<n>\d+)$")
GRADESCOPE_METADATA = "submission_metadata.yml"
"""The file at the top of Gradescope's export that names each submission's submitters."""
IGNORED = (".", "__MACOSX")
"""Names starting so are an archiver's or a system's, not a submission (``.DS_Store``)."""


@dataclass(frozen=True)
class HandIn:
    """One notebook in a download and whose it is, as the LMS names the student.

    Attributes:
        path: the file.
        filename: the name the student gave the file (Canvas puts its own prefix before it);
            intake finds the task from it.
        owner: what the student id is made of without a roster: the folder name, the Canvas
            user id, the Gradescope SID or the email's local part.
        lms_ids: the LMS's ids of the student, most specific first, looked up in a roster
            (empty for a plain folder, whose name is the student id).
        where: how warnings name the file (its path in the download).
        version: Canvas's (resubmission suffix, attempt id): the highest is the latest; None
            elsewhere (of two notebooks for one task, the newer file counts).
    """

    path: Path
    filename: str
    owner: str
    lms_ids: tuple[str, ...] = ()
    where: str = ""
    version: tuple[int, int] | None = None


@dataclass(frozen=True)
class CanvasFile:
    """The parts of a Canvas download's file name (see the module docstring)."""

    user_id: str
    attempt: int
    filename: str
    resubmission: int


@dataclass(frozen=True)
class Submitter:
    """One submitter of a Gradescope submission, from ``submission_metadata.yml``."""

    name: str
    sid: str
    email: str

    @property
    def lms_ids(self) -> tuple[str, ...]:
        """SID and email, those given."""
        return tuple(i for i in (self.sid, self.email) if i)

    @property
    def owner(self) -> str:
        """The SID, else the email's local part (empty when Gradescope gave neither)."""
        return self.sid or self.email.partition("@")[0]


def moodle_participant(folder_name: str) -> str | None:
    """The participant id in a Moodle submission folder's name, or None if not Moodle's."""
    found = _MOODLE_FOLDER.match(folder_name.strip())
    return found["participant"] if found else None


def canvas_file(name: str) -> CanvasFile | None:
    """The parts of a file name from Canvas's download, or None if Canvas did not name it."""
    found = _CANVAS_FILE.match(name)
    if found is None:
        return None
    resubmitted = _RESUBMISSION.search(Path(found["filename"]).stem)
    return CanvasFile(
        found["user"], int(found["attempt"]), found["filename"],
        int(resubmitted["n"]) if resubmitted else 0,
    )


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    """A value tagged for Ruby (``!ruby/object:...``), read as the plain value under the tag."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


class _MetadataLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no type information
    """A safe YAML loader that reads Ruby-tagged values (Gradescope writes the file from Ruby)."""


_MetadataLoader.add_multi_constructor("!", _plain)


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def gradescope_submitters(folder: Path) -> dict[str, tuple[Submitter, ...]] | None:
    """Folder name -> its submitters, from Gradescope's ``submission_metadata.yml`` at the top
    of ``folder``; None when there is none (not a Gradescope export)."""
    path = folder / GRADESCOPE_METADATA
    if not path.is_file():
        return None
    try:
        metadata = yaml.load(path.read_text(encoding="utf-8"), Loader=_MetadataLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not readable YAML ({exc})") from exc
    if not isinstance(metadata, Mapping):
        raise ValueError(
            f"{path}: not Gradescope's export metadata (a mapping of submission_<id> to its "
            ":submitters:)"
        )

    def field(record: object, name: str) -> object:
        """A field of a record, written ``:name:`` (Ruby symbols) or ``name:``."""
        if not isinstance(record, Mapping):
            return None
        return record.get(f":{name}", record.get(name))

    submitters = {}
    for folder_name, record in metadata.items():
        people = field(record, "submitters")
        submitters[str(folder_name)] = tuple(
            Submitter(_text(field(p, "name")), _text(field(p, "sid")), _text(field(p, "email")))
            for p in (people if isinstance(people, list) else [])
        )
    return submitters


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def handed_in(folder: Path) -> tuple[list[HandIn], list[str]]:
    """Every notebook in a download (``folder``, see the module docstring) and whose it is.

    Returns:
        (the notebooks, in the download's order; warnings naming what was skipped and why).
    """
    found: list[HandIn] = []
    warnings: list[str] = []
    gradescope = gradescope_submitters(folder)
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(IGNORED):
            continue
        if entry.is_dir() and gradescope is not None:
            if entry.name not in gradescope:
                warnings.append(
                    f"{entry.name}/: a folder that {GRADESCOPE_METADATA} does not list; skipped"
                )
                continue
            people = gradescope[entry.name]
            if not people:
                warnings.append(
                    f"{entry.name}/: {GRADESCOPE_METADATA} names no submitter; skipped"
                )
            for person in people:
                if not person.owner:
                    warnings.append(
                        f"{entry.name}/: submitter {person.name!r} has neither SID nor email in "
                        f"{GRADESCOPE_METADATA}; skipped"
                    )
                    continue
                found += [
                    HandIn(path, path.name, person.owner, person.lms_ids,
                           f"{path.relative_to(folder)} ({person.name or person.owner})")
                    for path in _notebooks(entry)
                ]
        elif entry.is_dir():
            participant = moodle_participant(entry.name)
            found += [
                HandIn(path, path.name, entry.name, (participant,) if participant else (),
                       str(path.relative_to(folder)))
                for path in _notebooks(entry)
            ]
        elif entry.name == GRADESCOPE_METADATA and gradescope is not None:
            continue
        elif entry.suffix.lower() != ".ipynb":
            warnings.append(f"{entry.name}: a file at the top level that is no notebook; skipped")
        elif (canvas := canvas_file(entry.name)) is None:
            warnings.append(
                f"{entry.name}: a notebook at the top level that is neither in a folder per "
                "student nor named as Canvas names its downloads (<name>_<user id>_<attempt "
                "id>_<file name>), so whose it is is unknown; skipped"
            )
        else:
            found.append(HandIn(
                entry, canvas.filename, canvas.user_id, (canvas.user_id,), entry.name,
                (canvas.resubmission, canvas.attempt),
            ))
    return found, warnings
