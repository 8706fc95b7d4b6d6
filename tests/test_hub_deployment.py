"""Task 1 on a real JupyterHub: the deploy guide's course round, trusted end to end.

The instructor releases (nbgrader, in their own course folder, under the instructor image's
Jupyter configuration); one student fetches, answers all but Part 3 and submits, another submits
the blank release with the attack suite's harness-replacing cell; the instructor collects, finds
plain ``nbgrader autograde`` refused, grades with ``dlci grade`` into the course's own gradebook,
and releases feedback; each student's fetched feedback shows the trusted score.

One hub for the module (autograder/deploy/jupyterhub_config.py) on free loopback ports, with
configurable-http-proxy, LocalProcessSpawner and real Unix users: an instructor and three
students, and a shared nbgrader exchange in a temporary folder. Everything is started here and
stopped at the end, on failure too: the hub (which stops the proxy and the servers), then every
process of the test users, the users, the folders.

What is missing is installed from the package registries (jupyterhub, configurable-http-proxy,
chromium, playwright); a test skips, saying why, only when that install fails or when not run
as root (it creates Unix users).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from hub.local_hub import LocalHub
from hub.prerequisites import (
    ensure_chromium,
    ensure_jupyterhub,
    ensure_playwright,
    ensure_proxy,
    ensure_user_python,
    require_root,
)
from hub.student import StudentServer, complete
from hub.unix_users import UnixUsers

from dlci_grader.samples.sample_class import sample_class
from dlci_grader.verdicts.results import graded_cells

pytestmark = [pytest.mark.grader, pytest.mark.hub, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "autograder" / "deploy"
SOLUTION = REPO / "solutions" / "task1_backprop_inpainting.ipynb"
ASSIGNMENT = SOLUTION.stem
NOTEBOOK = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
_RUN = secrets.token_hex(2)  # runs at the same time on one machine get different users
INSTRUCTOR = f"dlci-instructor-{_RUN}"
STUDENT = f"dlci-student1-{_RUN}"
BROWSER_STUDENT = f"dlci-student2-{_RUN}"
ATTACKER = f"dlci-student3-{_RUN}"
ATTACK = "attack-replace-harness"
"""The attack suite's notebook the attacker submits (a blank notebook whose pasted cell
replaces the grader's harness: plain in-kernel autograde gives it most of Task 1's points)."""
UNANSWERED = ("analytic_gradients",)
"""The student leaves Part 3 undone, so the grade is not simply full marks."""
ARTIFACTS_ENV_VAR = "DLCI_ARTIFACTS"


@dataclass
class Site:
    hub: LocalHub
    users: UnixUsers
    exchange: Path

    def run_instructor(self, *args: str, timeout: float = 600) -> str:
        """``python -m hub.instructor ARGS`` as the instructor, with the instructor's config."""
        env = {
            "JUPYTER_CONFIG_PATH": str(DEPLOY / "jupyter" / "instructor"),
            "NBGRADER_EXCHANGE": str(self.exchange),
            "PYTHONPATH": str(REPO / "tests"),
            **self.hub.user_python.env,
            "MPLBACKEND": "Agg",
            # as the instructor image sets them (instructor.Dockerfile)
            "DLCI_COURSE_ROOT": str(self.course_root),
            "DLCI_SOLUTIONS": str(REPO / "solutions"),
        }
        if os.environ.get("DLCI_DATA"):
            env["DLCI_DATA"] = os.environ["DLCI_DATA"]
        result = self.users.run_as(
            INSTRUCTOR, str(self.hub.user_python.python), "-m", "hub.instructor", *args,
            env=env, timeout=timeout,
        )
        assert result.returncode == 0, (
            f"hub.instructor {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        )
        return result.stdout

    @property
    def course_root(self) -> Path:
        return self.users.home(INSTRUCTOR) / "course"


@pytest.fixture(scope="module")
def site():
    """A running hub with its users and exchange; all of it removed afterwards."""
    require_root()
    jupyterhub = ensure_jupyterhub()
    proxy = ensure_proxy()
    base = Path(tempfile.mkdtemp(prefix="dlci-hub-"))
    os.chmod(base, 0o755)  # the users' homes and the exchange live below
    try:
        exchange = base / "exchange"
        exchange.mkdir()
        os.chmod(exchange, 0o777)  # nbgrader's exchange root: everyone writes, see README
        user_python = ensure_user_python(base)
        data = os.environ.get("DLCI_DATA")
        students = [STUDENT, BROWSER_STUDENT, ATTACKER]
        with UnixUsers([INSTRUCTOR, *students], base / "home") as users:
            hub = LocalHub(
                jupyterhub, proxy, user_python, base / "state", exchange,
                instructors=[INSTRUCTOR], students=students,
                data_root=Path(data) if data else None,
            )
            try:
                hub.start()
                yield Site(hub, users, exchange)
            finally:
                hub.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def released(site: Site) -> Site:
    """The instructor has released Task 1 to the exchange (nbgrader release_assignment)."""
    site.run_instructor("release", str(site.course_root), str(SOLUTION))
    return site


def _points(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every graded cell of an nbgrader source notebook."""
    return {
        cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"]["points"])
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }


def test_instructor_has_formgrader_students_do_not(released: Site):
    """The instructor's server (started by the hub) serves formgrader and lists the release,
    under JupyterHub's content-security policy (no framing); a student's does not."""
    hub = released.hub
    instructor_url = hub.start_server(INSTRUCTOR)
    _, instructor = hub.user_session(INSTRUCTOR)
    response = instructor.get(f"{instructor_url}formgrader/api/assignments", timeout=60)
    assert response.status_code == 200, response.text[:500]
    listed = {a["name"]: a for a in response.json()}
    assert listed[ASSIGNMENT]["status"] == "released", listed
    # the hub's policy stays as strict as JupyterHub makes it: no page may frame the formgrader
    # (it is opened in its own tab; the round-trip test scores an answer there)
    page = instructor.get(f"{instructor_url}formgrader", timeout=60)
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers.get("Content-Security-Policy", ""), (
        page.headers)
    hub.login(STUDENT)
    student_url, student = hub.user_session(STUDENT)
    assert student.get(f"{student_url}formgrader/api/assignments", timeout=60).status_code == 404
    assert not released.users.run_as(STUDENT, "ls", str(released.course_root)).returncode == 0, (
        "a student can read the instructor's course folder (solutions, hidden tests)"
    )


def _attack_notebook() -> nbformat.NotebookNode:
    """The attack suite's harness-replacing notebook (on the blank release) and its points."""
    [sub] = [s for s in sample_class(REPO / "solutions", REPO / "notebooks", ["task1"],
                                     attacks=True) if s.student == ATTACK]
    assert sum(sub.auto_points.values()) == 0, "the attack's base is no longer the blank release"
    return nbformat.reads(sub.content.decode(), as_version=4)


def _submit(hub: LocalHub, user: str, notebook: nbformat.NotebookNode | None) -> StudentServer:
    """``user`` logs in, fetches Task 1, writes ``notebook`` over it (None: the released one
    completed but for Part 3) and submits."""
    hub.login(user)  # the login form; the hub spawns the student's server
    student = StudentServer(*hub.user_session(user))
    offered = {a["assignment_id"]: a for a in student.assignments()}
    assert offered[ASSIGNMENT]["status"] == "released", offered
    student.action("fetch", ASSIGNMENT)
    assert f"{ASSIGNMENT}.ipynb" in student.listing(ASSIGNMENT)
    released_nb = student.read_notebook(NOTEBOOK)
    assert not any("BEGIN HIDDEN TESTS" in c.source for c in released_nb.cells)
    if notebook is None:
        notebook = complete(released_nb, nbformat.read(str(SOLUTION), 4), UNANSWERED)
    student.write_notebook(NOTEBOOK, notebook)
    student.action("submit", ASSIGNMENT)
    statuses = {a["assignment_id"]: a["status"] for a in student.assignments()}
    assert statuses[ASSIGNMENT] == "submitted", statuses
    return student


def _feedback_score(student: StudentServer) -> tuple[float, float]:
    """(score, total) on the feedback page the student fetched."""
    student.action("fetch_feedback", ASSIGNMENT)
    [timestamp] = student.listing(f"{ASSIGNMENT}/feedback")
    feedback = student.read_text(f"{ASSIGNMENT}/feedback/{timestamp}/{ASSIGNMENT}.html")
    assert "BEGIN HIDDEN TESTS" not in feedback
    match = re.search(r"Score:\s*([\d.]+)\s*/\s*([\d.]+)", feedback)
    assert match, "the feedback page shows no score"
    return float(match[1]), float(match[2])


def test_task1_round_trip_through_the_hub(released: Site, tmp_path: Path):
    """Two students submit (one answers all but Part 3, one pastes the harness-replacing
    attack into the blank release); the instructor's plain autograde is refused, ``dlci grade``
    grades, the instructor scores a written answer in the formgrader in Chromium and releases
    feedback; each student's feedback carries the trusted score. The formgrader's autograde
    button is refused as the command is."""
    hub = released.hub
    honest = _submit(hub, STUDENT, None)
    attacker = _submit(hub, ATTACKER, _attack_notebook())

    graded = json.loads(released.run_instructor("grade", str(released.course_root), ASSIGNMENT))
    assert "trusted grader" in graded["refused"], graded["refused"]
    # the formgrader's autograde button (the request it sends) is refused too, changing nothing
    hub.login(INSTRUCTOR)  # the hub spawns the instructor's server if it is not running
    server, session = hub.user_session(INSTRUCTOR)
    pressed = session.post(
        f"{server}formgrader/api/submission/{ASSIGNMENT}/{STUDENT}/autograde", timeout=120)
    assert pressed.status_code == 200, pressed.text[:500]
    said = pressed.json()
    assert not said["success"] and "trusted grader" in said.get("log", ""), said

    solution = nbformat.read(str(SOLUTION), as_version=4)
    points = _points(solution)
    written = sorted(n for n, (_, manual) in graded_cells(solution).items() if manual)[0]
    _score_in_formgrader(hub, STUDENT, written, points[written], tmp_path)

    scores = json.loads(released.run_instructor(
        "feedback", str(released.course_root), ASSIGNMENT, STUDENT, ATTACKER))
    assert set(scores[STUDENT]) == set(points)
    unanswered_tests = {"test_analytic", "test_analytic_hidden"}
    for name, (score, max_score, manual) in scores[STUDENT].items():
        assert max_score == points[name], name
        if name == written:
            assert score == max_score, f"{name}: the formgrader's score is not in the gradebook"
        elif manual:
            assert score == 0, f"{name} is graded by hand, not by the autograder"
        elif name in unanswered_tests:
            assert score == 0, f"{name}: {score} points for an unanswered question"
        else:
            assert score == max_score, f"{name}: {score}/{max_score} for a correct answer"
    auto_max = sum(p for n, (_, p, manual) in scores[STUDENT].items() if not manual)
    auto_score = sum(s for n, (s, _, manual) in scores[STUDENT].items() if not manual)
    assert auto_score == auto_max - sum(points[n] for n in unanswered_tests)
    attack_score = sum(s for s, _, _ in scores[ATTACKER].values())
    assert attack_score == 0, (scores[ATTACKER], graded["graded"])

    total = sum(points.values())
    assert _feedback_score(honest) == (auto_score + points[written], total)
    assert _feedback_score(attacker) == (0, total)


def _score_in_formgrader(
    hub: LocalHub, student: str, cell: str, score: float, tmp_path: Path,
) -> None:
    """The formgrader lists the trusted grade's flags (the attacker's submission flagged), and in
    headless Chromium the instructor logs in, opens ``student``'s submission in the formgrader
    (its own page: the hub's content-security policy forbids framing it) and types ``score`` for
    the written answer ``cell``; the formgrader saves it to the gradebook."""
    server, session = hub.user_session(INSTRUCTOR)
    listed = session.get(
        f"{server}formgrader/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}", timeout=60
    )
    assert listed.status_code == 200, listed.text[:500]
    [submission] = [s for s in listed.json() if s["student"] == student]
    flagged = {s["student"]: s["flagged"] for s in listed.json()}
    assert flagged == {STUDENT: False, ATTACKER: True}, "the formgrader's flags: " + str(flagged)
    screenshot = tmp_path / "hub_formgrader_written_answer.png"
    with _logged_in_page(hub, INSTRUCTOR, screenshot) as page:
        page.goto(f"{hub.url}/user/{INSTRUCTOR}/formgrader/submissions/{submission['id']}/")
        box = page.locator(f"input.score#{cell}")
        box.fill(str(int(score)))
        box.press("Tab")  # the formgrader saves on change
        for _ in range(60):  # until the gradebook holds it
            grades = session.get(f"{server}formgrader/api/grades",
                                 params={"submission_id": submission["id"]}, timeout=60)
            saved = {g["name"]: g["manual_score"] for g in grades.json()}
            if saved.get(cell) == score:
                break
            page.wait_for_timeout(500)
        else:
            raise AssertionError(f"the formgrader did not save {cell}: {saved}")


CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _save_artifact(path: Path) -> Path:
    """Copy ``path`` to $DLCI_ARTIFACTS when set; return where it can be found."""
    target = os.environ.get(ARTIFACTS_ENV_VAR)
    if not target:
        return path
    Path(target).mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(path, Path(target) / path.name))


@contextmanager
def _logged_in_page(hub: LocalHub, user: str, screenshot: Path) -> Iterator[Any]:
    """A headless Chromium page on which ``user`` has logged in through the hub's form (the hub
    spawned their server); photographed into ``screenshot`` at the end, on failure too: what
    the person saw."""
    chromium = ensure_chromium()
    ensure_playwright()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            page.set_default_timeout(60_000)
            try:
                page.goto(f"{hub.url}/hub/login")
                page.fill("#username_input", user)
                page.fill("#password_input", hub.password)
                page.click("#login_submit")
                page.wait_for_url(f"{hub.url}/user/{user}/**", timeout=120_000)
                yield page
            finally:
                page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    print(f"screenshot: {_save_artifact(screenshot)}")


def _dock_right(page: object, tab: object) -> None:
    """Drag a JupyterLab tab to the right edge of the main area (a side-by-side split)."""
    box = tab.bounding_box()
    area = page.locator("#jp-main-dock-panel").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    target_x, target_y = area["x"] + area["width"] - 20, area["y"] + area["height"] / 2
    page.mouse.move(target_x, target_y, steps=20)
    page.mouse.up()


def test_student_sees_task1_in_jupyterlab(released: Site, tmp_path: Path):
    """In headless Chromium a student logs in, opens the Task 1 notebook and finds Task 1 in the
    Assignments panel."""
    hub = released.hub
    lab = f"{hub.url}/user/{BROWSER_STUDENT}/lab"
    screenshot = tmp_path / "hub_student_task1_assignments.png"
    with _logged_in_page(hub, BROWSER_STUDENT, screenshot) as page:
        student = StudentServer(*hub.user_session(BROWSER_STUDENT))
        student.action("fetch", ASSIGNMENT)  # what the panel's Fetch button calls

        page.goto(f"{lab}/tree/{NOTEBOOK}")
        heading = page.locator(".jp-Notebook .jp-RenderedMarkdown h1", has_text="Task 1:")
        heading.first.wait_for(timeout=120_000)  # the released notebook, rendered

        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
        menu = page.inner_text(".lm-Menu")
        page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
        panel = page.locator(".lm-DockPanel-widget:visible", has_text="Downloaded assignments")
        panel.get_by_text(ASSIGNMENT).first.wait_for(timeout=60_000)
        _dock_right(page, page.locator(".lm-TabBar-tab", has_text="Assignments"))
        heading.first.wait_for()  # the notebook and the panel side by side
        page.wait_for_timeout(500)  # let the panel finish drawing before the picture
    assert "Formgrader" not in menu, "students must not get the formgrader"
