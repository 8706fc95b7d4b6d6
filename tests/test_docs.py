"""The documentation holds together: every relative link in it resolves (file and heading), and
every ``dlci <verb>`` it shows in code names a verb the installed ``dlci`` has.

Documents: README.md, CHANGELOG.md, docs/**/*.md, autograder/README.md, autograder/deploy/*.md.
Anchors follow GitHub's slugs: the heading's text, lowercase, spaces to '-', punctuation other
than '-' and '_' dropped, '-1', '-2', ... for repeated headings.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.foundation

REPO = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)
# ``dlci`` where a shell runs it: a line's start, after ``&&``, ``;``, ``|``, ``$(`` or ``!``, after
# environment assignments, or as a path (``.venv/bin/dlci``); then the verb (and Gradescope's).
DLCI_VERB = re.compile(
    r"(?:^|&&|;|\||\$\(|!)\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(?:\S*/)?dlci[ \t]+([a-z][a-z-]*)"
    r"(?:[ \t]+([a-z][a-z|]*))?",
    re.M,
)
# Runs the installed ``dlci`` script once per command in one interpreter (one start-up of the
# grader's imports instead of one per verb); prints each command's exit status as JSON.
RUN_EACH = """
import contextlib, io, json, runpy, sys
script, commands, codes = sys.argv[1], json.loads(sys.argv[2]), []
for command in commands:
    sys.argv = [script, *command, "--help"]
    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    codes.append([code, err.getvalue()[-300:]])
print(json.dumps(codes))
"""


def documents() -> list[Path]:
    docs = [REPO / "README.md", REPO / "CHANGELOG.md", REPO / "autograder" / "README.md"]
    docs += sorted((REPO / "docs").rglob("*.md"))
    docs += sorted((REPO / "autograder" / "deploy").glob("*.md"))
    return docs


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _prose(text: str) -> str:
    """The text without fenced code blocks and with inline code blanked out."""
    text = FENCE.sub("", text)
    return INLINE_CODE.sub("code", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's markdown text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def test_slug_follows_github():
    assert slug("Grading on a cluster (Dask)") == "grading-on-a-cluster-dask"
    assert slug("The `starter` API") == "the-starter-api"
    assert slug("Gradescope: the same notebooks, the same trusted grader") == (
        "gradescope-the-same-notebooks-the-same-trusted-grader"
    )
    assert slug("Manual grading in formgrader (JupyterLab 4, nbgrader 0.9)") == (
        "manual-grading-in-formgrader-jupyterlab-4-nbgrader-09"
    )


def test_every_relative_link_resolves():
    broken = []
    for doc in documents():
        for target in LINK.findall(_prose(doc.read_text())):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
                continue
            path_part, _, anchor = target.partition("#")
            dest = (doc.parent / path_part).resolve() if path_part else doc
            if not dest.exists():
                broken.append(f"{_rel(doc)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{_rel(doc)}: {target} (no such heading in {_rel(dest)})")
    assert not broken, "\n".join(broken)


def _code(text: str) -> list[str]:
    return [m.group(0) for m in FENCE.finditer(text)] + [
        m.group(2) for m in INLINE_CODE.finditer(FENCE.sub("", text))
    ]


def commands_named() -> dict[tuple[str, ...], list[str]]:
    """Each distinct ``dlci`` command the documents show in code, with where."""
    found: dict[tuple[str, ...], list[str]] = {}
    for doc in documents():
        for code in _code(doc.read_text()):
            for verb, sub in DLCI_VERB.findall(code):
                subs = sub.split("|") if verb == "gradescope" and sub else [""]
                for s in subs:
                    key = (verb, s) if s else (verb,)
                    found.setdefault(key, []).append(_rel(doc))
    return found


def test_the_documents_name_dlci_commands():
    named = commands_named()
    for verb in ("check", "fetch", "info", "grade", "release", "export"):
        assert (verb,) in named, verb
    assert ("gradescope", "build") in named and ("gradescope", "run") in named


def test_every_dlci_verb_in_the_documents_exists():
    """``dlci <verb> --help`` exits 0 for every command the documents show (the installed script,
    run for each command in one interpreter)."""
    dlci = Path(sys.executable).parent / "dlci"
    exe = str(dlci) if dlci.exists() else shutil.which("dlci")
    assert exe, "no dlci on this machine (pip install -e . -e ./autograder)"
    named = commands_named()
    commands = sorted(named)
    run = subprocess.run(
        [sys.executable, "-c", RUN_EACH, exe, json.dumps(commands)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    codes = json.loads(run.stdout.strip().splitlines()[-1])
    failed = [
        f"dlci {' '.join(c)} (in {', '.join(sorted(set(named[c])))}): exit {code}: {err.strip()}"
        for c, (code, err) in zip(commands, codes, strict=True) if code != 0
    ]
    assert not failed, "\n".join(failed)
