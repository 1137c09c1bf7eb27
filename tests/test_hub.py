"""Against a real JupyterHub on 127.0.0.1: the formgrader for tutors only, participants'
servers, and an assignment's way through nbgrader's exchange (release, fetch, submit, collect).

The hub runs in shared mode with the dummy authenticator (deploy/README.md); one hub serves
the whole module and every process it started is ended at teardown.
"""

import json
from urllib.parse import urlparse

import psutil
import pytest

from hub_helpers import (ASSIGNMENT, COURSE, login, start_server, start_test_hub,
                         xsrf_headers)

FORMGRADER = f"/services/{COURSE}/formgrader"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    running = start_test_hub(tmp_path_factory.mktemp("hub"), ["p1", "p2"], ["t1"])
    family = []
    try:
        yield running
    finally:
        try:
            family = psutil.Process(running.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        running.stop()
        alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"still running after teardown: {alive}"


@pytest.fixture(scope="module")
def tutor(hub):
    return login(hub.url, "t1")


@pytest.fixture(scope="module")
def participant(hub):
    return login(hub.url, "p1")


def test_tutor_gets_the_course_formgrader(hub, tutor):
    page = tutor.get(f"{hub.url}{FORMGRADER}/", timeout=60)
    assert page.status_code == 200
    # Not an "Authorize access" page: the formgrader itself.
    assert page.url.startswith(f"{hub.url}{FORMGRADER}/")
    assert "nbgrader formgrade" in page.text and "Manage Assignments" in page.text


def test_coordinator_from_the_environment_gets_the_formgrader(hub):
    page = login(hub.url, "coord").get(f"{hub.url}{FORMGRADER}/", timeout=60)
    assert page.url.startswith(f"{hub.url}{FORMGRADER}/") and "Manage Assignments" in page.text


def test_participant_is_refused_the_formgrader(hub, participant):
    page = participant.get(f"{hub.url}{FORMGRADER}/", timeout=60)
    assert page.status_code == 403
    assert "/hub/" in page.url and "Manage Assignments" not in page.text


def test_roster_participants_are_in_the_gradebook(hub):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.state / 'course' / 'gradebook.db'}", COURSE) as gradebook:
        assert sorted(s.id for s in gradebook.students) == ["p1", "p2"]


def test_participant_server_starts(hub, participant):
    page = start_server(hub.url, participant, "p1")
    assert urlparse(page.url).path == "/user/p1/lab"
    assert "JupyterLab" in page.text


def test_participant_cannot_reach_another_participants_server(hub, participant):
    start_server(hub.url, participant, "p1")
    other = login(hub.url, "p2")
    page = other.get(f"{hub.url}/user/p1/lab", timeout=60)
    assert page.status_code == 403
    assert "JupyterLab" not in page.text
    api = other.get(f"{hub.url}/user/p1/api/contents", timeout=60)
    assert api.status_code == 403


def test_assignment_released_fetched_submitted_collected(hub, tutor, participant):
    # The tutor generates and releases through the formgrader service.
    tutor.get(f"{hub.url}{FORMGRADER}/", timeout=60)
    grader = xsrf_headers(tutor, f"{FORMGRADER}/api")
    for action in ("assign", "release"):
        reply = tutor.post(f"{hub.url}{FORMGRADER}/api/assignment/{ASSIGNMENT}/{action}",
                           headers=grader, timeout=120)
        assert reply.ok and json.loads(reply.text)["success"], reply.text
    assert (hub.state / "exchange" / COURSE / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()

    # The participant's own server fetches and submits (nbgrader's assignment list handlers).
    start_server(hub.url, participant, "p1")
    server = f"{hub.url}/user/p1"
    headers = xsrf_headers(participant, "/user/p1/assignments")
    form = {"course_id": COURSE, "assignment_id": ASSIGNMENT}
    listed = participant.get(f"{server}/assignments", params={"course_id": COURSE},
                             headers=headers, timeout=60).json()
    assert [a["assignment_id"] for a in listed["value"]] == [ASSIGNMENT]
    participant.post(f"{server}/assignments/fetch", data=form, headers=headers, timeout=60)
    fetched = hub.state / "home" / "p1" / COURSE / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert fetched.exists()
    submitted = participant.post(f"{server}/assignments/submit", data=form, headers=headers,
                                 timeout=60).json()
    assert submitted["success"], submitted
    inbound = list((hub.state / "exchange" / COURSE / "inbound").glob(f"p1+{ASSIGNMENT}+*"))
    assert len(inbound) == 1

    # The tutor collects through the formgrader.
    reply = tutor.post(f"{hub.url}{FORMGRADER}/api/assignment/{ASSIGNMENT}/collect",
                       headers=grader, timeout=120)
    assert json.loads(reply.text)["success"], reply.text
    collected = hub.state / "course" / "submitted" / "p1" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert collected.exists()
