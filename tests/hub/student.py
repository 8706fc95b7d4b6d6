"""A student's side of the exchange, through their single-user server behind the hub.

Uses nbgrader's assignment-list server extension (``/assignments``, ``/assignments/fetch``,
``/assignments/submit``, ``/assignments/fetch_feedback``) and Jupyter's contents API, the
same calls the JupyterLab assignment panel and editor make.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import nbformat
import requests
from nbformat import NotebookNode

_MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.MULTILINE)


class StudentServer:
    """``base``: the server's URL through the proxy; ``session`` carries the student's token."""

    def __init__(self, base: str, session: requests.Session, course_id: str = "dlci") -> None:
        self.base = base.rstrip("/") + "/"
        self.session = session
        self.course_id = course_id

    def _call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        response = self.session.request(method, self.base + path, timeout=120, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:800]}")
        return response

    def assignments(self) -> list[dict]:
        """The assignment list: released, fetched, submitted, with feedback flags."""
        body = self._call("GET", "assignments", params={"course_id": self.course_id}).json()
        assert body.get("success"), body
        return body["value"]

    def action(self, verb: str, assignment: str) -> dict:
        """``fetch``, ``submit`` or ``fetch_feedback`` one assignment; returns nbgrader's answer."""
        body = self._call(
            "POST", f"assignments/{verb}",
            json={"course_id": self.course_id, "assignment_id": assignment},
        ).json()
        assert body.get("success"), f"{verb} {assignment}: {body}"
        return body

    def read_notebook(self, path: str) -> NotebookNode:
        model = self._call("GET", f"api/contents/{path}", params={"content": "1"}).json()
        return nbformat.from_dict(model["content"])

    def write_notebook(self, path: str, notebook: NotebookNode) -> None:
        self._call("PUT", f"api/contents/{path}", json={"type": "notebook", "content": notebook})

    def read_text(self, path: str) -> str:
        params = {"content": "1", "type": "file"}
        model = self._call("GET", f"api/contents/{path}", params=params).json()
        return model["content"]

    def listing(self, path: str = "") -> list[str]:
        content = self._call("GET", f"api/contents/{path}").json()["content"]
        return [item["name"] for item in content]


def complete(
    released: NotebookNode, solution: NotebookNode, leave_unanswered: Iterable[str] = ()
) -> NotebookNode:
    """The released notebook with each answer cell filled from the solution (markers dropped).

    Cells are matched by nbgrader ``grade_id``; those in ``leave_unanswered`` keep the stub.
    """
    answers = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in solution.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    skip = set(leave_unanswered)
    filled = nbformat.from_dict(released)
    done = set()
    for cell in filled.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id not in skip:
            cell.source = _MARKER_LINE.sub("", answers[grade_id])
            done.add(grade_id)
    missing = set(answers) - skip - done
    if missing:
        raise ValueError(f"answer cells not found in the released notebook: {sorted(missing)}")
    return filled
