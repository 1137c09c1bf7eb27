"""Start a real JupyterHub for a tiny course on 127.0.0.1, and act as its users (tests, bench)."""

import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import requests

from course.hub import hub_settings
from course.hub_process import (free_port, log_tail, prepare_state, proxy_command,
                                singleuser_command, start_hub, stop_hub, wait_until_ready)

PASSWORD = "test-password-not-secret"
COURSE = "tiny-course"
ASSIGNMENT = "tiny"


def tiny_assessments(root: Path) -> Path:
    """An nbgrader course root with one one-question assignment."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("Add two numbers."),
        nbformat.v4.new_code_cell(
            "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
            metadata={"nbgrader": {"grade": False, "grade_id": "add", "locked": False,
                                   "schema_version": 3, "solution": True, "task": False}}),
    ]
    folder = root / "source" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    (root / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.course_id = 'other'\n")
    return root


@dataclass
class RunningHub:
    url: str
    settings_path: Path
    state: Path
    process: object

    def stop(self):
        stop_hub(self.process)


def start_test_hub(tmp: Path, participants: list[str], tutors: list[str],
                   admin: str = "coord") -> RunningHub:
    """A hub in shared mode with the dummy authenticator; raises with the log if it fails."""
    command = proxy_command()
    assert command, "configurable-http-proxy missing: run scripts/setup-venv.sh"
    port = free_port()
    settings = hub_settings(
        COURSE, participants, tutors, state=str(tmp / "state"), ip="127.0.0.1", port=port,
        hub_port=free_port(), proxy_api_port=free_port(), service_port=free_port(),
        proxy_command=command, singleuser=singleuser_command(), mode="shared",
        authenticator="dummy")
    path = prepare_state(settings, tiny_assessments(tmp / "assessments"))
    process = start_hub(path, {"IGCB_HUB_TEST_PASSWORD": PASSWORD, "IGCB_HUB_ADMIN": admin})
    hub = RunningHub(f"http://127.0.0.1:{port}", path, tmp / "state", process)
    if not wait_until_ready(process, hub.url, timeout=120):
        hub.stop()
        raise RuntimeError(f"the hub did not start:\n{log_tail(path)}")
    return hub


def form_xsrf(session: requests.Session, url: str) -> dict:
    """GET a hub form page; the _xsrf field its form posts back."""
    page = session.get(url, timeout=30)
    page.raise_for_status()
    found = re.search(r'name="_xsrf"\s+value="([^"]+)"', page.text)
    return {"_xsrf": found.group(1)} if found else {}


def try_login(url: str, username: str, password: str = PASSWORD) -> tuple[requests.Session, bool]:
    """Log in through the hub's real login form; (session, whether it let us in)."""
    session = requests.Session()
    data = {"username": username, "password": password, **form_xsrf(session, f"{url}/hub/login")}
    reply = session.post(f"{url}/hub/login?next=%2Fhub%2Fhome", data=data, timeout=30)
    return session, reply.ok and reply.url.startswith(f"{url}/hub/home")


def login(url: str, username: str, password: str = PASSWORD) -> requests.Session:
    session, ok = try_login(url, username, password)
    assert ok, f"{username} could not log in"
    return session


def xsrf_headers(session: requests.Session, path: str) -> dict:
    """The X-XSRFToken header a Jupyter server under `path` expects (from its _xsrf cookie)."""
    for cookie in session.cookies:
        if cookie.name == "_xsrf" and path.startswith(cookie.path.rstrip("/") or "/"):
            return {"X-XSRFToken": cookie.value}
    raise AssertionError(f"no _xsrf cookie for {path}")


def start_server(url: str, session: requests.Session, username: str,
                 timeout: float = 120) -> requests.Response:
    """Ask for the user's server (as the Start button does) and wait until JupyterLab answers."""
    session.get(f"{url}/hub/spawn/{username}", timeout=60)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = session.get(f"{url}/user/{username}/lab", timeout=30)
        if page.ok and f"/user/{username}/lab" in page.url and "JupyterLab" in page.text:
            return page
        time.sleep(0.5)
    raise AssertionError(f"{username}'s server did not start in {timeout} s")
