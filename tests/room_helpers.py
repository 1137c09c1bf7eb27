"""A real JupyterHub with the course room as its service, on a real cohort store (tests, bench)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import psutil
import requests

from course.hub import hub_settings, room_service
from course.hub_process import (free_port, log_tail, prepare_state, proxy_command,
                                singleuser_command, start_hub, wait_until_ready)
from hub_helpers import COURSE, PASSWORD, RunningHub, login, tiny_assessments

ROOM = "/services/room/"


def start_room_hub(tmp: Path, db_url: str, participants: list[str], tutors: list[str],
                   admin: str = "coord", assessments: Path | None = None,
                   room_args: tuple[str, ...] = (), room_env: dict | None = None) -> RunningHub:
    """A hub (shared mode, dummy authenticator) whose room serves the store at `db_url`;
    `room_args` are added to the room's command line, `room_env` to its environment."""
    command = proxy_command()
    assert command, "configurable-http-proxy missing: run scripts/setup-venv.sh"
    port = free_port()
    state = tmp / "state"
    room = room_service(free_port(), sys.executable, str(state / "course"),
                        str(state / "hub" / "room_cookie_secret"), dict(room_env or {}))
    room["command"] += list(room_args)
    settings = hub_settings(
        COURSE, participants, tutors, state=str(state), ip="127.0.0.1", port=port,
        hub_port=free_port(), proxy_api_port=free_port(), service_port=free_port(),
        proxy_command=command, singleuser=singleuser_command(), mode="shared",
        authenticator="dummy", room=room)
    path = prepare_state(settings, assessments or tiny_assessments(tmp / "assessments"))
    process = start_hub(path, {"IGCB_HUB_TEST_PASSWORD": PASSWORD, "IGCB_HUB_ADMIN": admin,
                               "IGCB_DB_URL": db_url})
    hub = RunningHub(f"http://127.0.0.1:{port}", path, state, process)
    if not wait_until_ready(process, hub.url, timeout=120):
        hub.stop()
        raise RuntimeError(f"the hub did not start:\n{log_tail(path)}")
    return hub


def room_process(hub_pid: int) -> psutil.Process | None:
    """The room service's process, a child of the hub (None while the hub restarts it)."""
    for child in psutil.Process(hub_pid).children():
        try:
            if "course.room" in " ".join(child.cmdline()) and child.status() != psutil.STATUS_ZOMBIE:
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def dead(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def room_login(url: str, username: str) -> requests.Session:
    """Log in at the hub, then open the room (through the hub's OAuth) with that session."""
    session = login(url, username)
    page = session.get(f"{url}{ROOM}", timeout=60)
    assert page.status_code in (200, 403), f"{username}: room answered {page.status_code}"
    return session


def form_token(page_text: str) -> str:
    found = re.search(r'name="_xsrf" value="([^"]+)"', page_text)
    assert found, "no _xsrf field in the form"
    return found.group(1)


def api_token(url: str, session: requests.Session, username: str) -> str:
    """A hub API token for `username` (as they would make one at /hub/token)."""
    from hub_helpers import xsrf_headers  # the hub's own _xsrf cookie

    session.get(f"{url}/hub/token", timeout=30)
    reply = session.post(f"{url}/hub/api/users/{username}/tokens", json={"note": "room test"},
                         headers=xsrf_headers(session, "/hub/"), timeout=30)
    reply.raise_for_status()
    return reply.json()["token"]


EXAMPLES = Path(__file__).resolve().parent.parent / "peer_review" / "examples"
PARTICIPANTS = [f"p{i:02d}" for i in range(1, 25)]
TUTORS = ["t01", "t02", "t03"]


def brief_text(author_id: str, name: str) -> str:
    """A short policy brief in Markdown that names its author (the round must remove it)."""
    return (f"# Brief by {name}\n\nMy recommendation ({author_id}): the ministry should publish "
            "an IPv6 plan with the operators and the ccTLD manager, and consult civil society. "
            "The RIR allocates addresses; the regulator sets procurement rules.\n")


def make_cohort(db_url: str, folder: Path, calibration: int = 2, due: str | None = None) -> None:
    """A cohort in the store at `db_url`: the example rosters, groups, tutors, rota, and a
    review round `brief` opened from a CSV of briefs (k = 3, `calibration` samples)."""
    import csv

    from click.testing import CliRunner

    from course.cli import main

    folder.mkdir(parents=True, exist_ok=True)
    with open(EXAMPLES / "roster.csv", encoding="utf-8") as handle:
        people = list(csv.DictReader(handle))
    path = folder / "briefs.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission_id", "author_id", "language", "text"])
        for p in people:
            spoken = p["languages"].split(";")
            language = next((x for x in ("en", "fr") if x in spoken), spoken[0])
            writer.writerow([f"brief-{p['id']}", p["id"], language,
                             brief_text(p["id"], p["name"])])
    runner = CliRunner()
    env = {"IGCB_HUB_ADMIN": "coord"}
    for args in (["cohort", "init", "--plan", "online-course", "--roster", str(EXAMPLES / "roster.csv"),
                  "--tutors", str(EXAMPLES / "tutors.csv")],
                 ["cohort", "groups", "--size", "6"], ["cohort", "tutors"], ["cohort", "rota"],
                 ["reviews", "open", "brief", "--from-csv", str(path), "-k", "3",
                  "--calibration", str(calibration), *(["--due", due] if due else [])]):
        result = runner.invoke(main, [*args, "--db", db_url], env=env, catch_exceptions=False)
        assert result.exit_code == 0, f"igcb {' '.join(args)}: {result.output}"
