"""`igcb hub`: its user errors, and a real start in shared mode with the sign-up authenticator,
stopped by Ctrl-C (SIGINT) with every process gone."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conftest import run_igcb
from course.layout import REPO_ROOT
from hub_helpers import form_xsrf, try_login
from course.hub_process import free_port

ROSTER = REPO_ROOT / "peer_review" / "examples" / "roster.csv"
TUTORS = REPO_ROOT / "peer_review" / "examples" / "tutors.csv"
ADMIN_PASSWORD = "coordinator-password-1"


def test_admin_must_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("IGCB_HUB_ADMIN", raising=False)
    result = run_igcb("hub", "--state", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert "IGCB_HUB_ADMIN" in result.output


def test_roster_id_that_cannot_be_a_username_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("IGCB_HUB_ADMIN", "coord")
    lines = ROSTER.read_text(encoding="utf-8").splitlines()
    lines[3] = "Amina B" + lines[3][3:]
    roster = tmp_path / "roster.csv"
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_igcb("hub", "--roster", str(roster), "--tutors", str(TUTORS),
                      "--state", str(tmp_path / "state"))
    assert result.exit_code == 2
    assert "roster.csv: row 4, column id: 'Amina B': expected a hub username" in result.output
    assert not (tmp_path / "state").exists()


def test_busy_port_is_a_user_error(tmp_path, monkeypatch):
    import socket
    monkeypatch.setenv("IGCB_HUB_ADMIN", "coord")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_igcb("hub", "--mode", "shared", "--port", str(port),
                          "--state", str(tmp_path / "state"))
    assert result.exit_code == 2 and f"127.0.0.1:{port}" in result.output


@pytest.fixture
def running_command(tmp_path):
    port = free_port()
    env = {**os.environ, "IGCB_HUB_ADMIN": "coord", "IGCB_HUB_ADMIN_PASSWORD": ADMIN_PASSWORD}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("igcb")), "hub", "--mode", "shared",
         "--port", str(port), "--roster", str(ROSTER), "--tutors", str(TUTORS),
         "--state", str(tmp_path / "state")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line or len(lines) > 50:
                break
        yield process, f"http://127.0.0.1:{port}", "".join(lines)
    finally:
        if process.poll() is None:
            family = psutil.Process(process.pid).children(recursive=True)
            os.killpg(process.pid, signal.SIGKILL)
            for child in family:
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass


def test_hub_runs_and_stops_on_ctrl_c(running_command):
    process, url, output = running_command
    assert f"hub:        {url}/hub/" in output, output + process.stderr.read()
    formgrader = f"{url}/services/online-course/formgrader/"
    assert f"formgrader: {formgrader}" in output

    # The admin's account was made from the environment; the admin reaches the formgrader.
    admin, ok = try_login(url, "coord", ADMIN_PASSWORD)
    assert ok
    page = admin.get(formgrader, timeout=60)
    assert page.url.startswith(formgrader) and "Manage Assignments" in page.text

    # The course room runs as a hub service on the cohort store the roster was loaded into;
    # the coordinator gets there through the hub's login, with no second password.
    room = f"{url}/services/room/"
    assert f"room:       {room}" in output
    page = admin.get(f"{room}coordinator", timeout=60)
    assert page.status_code == 200 and page.url == f"{room}coordinator"
    assert "Review rounds" in page.text

    # Roster people sign up and wait for approval; strangers cannot sign up.
    for name in ("p01", "mallory"):
        signup = admin.__class__()
        data = {"username": name, "signup_password": "a-long-password-9",
                "signup_password_confirmation": "a-long-password-9",
                **form_xsrf(signup, f"{url}/hub/signup")}
        signup.post(f"{url}/hub/signup", data=data, timeout=30)
    assert not try_login(url, "p01", "a-long-password-9")[1]
    assert not try_login(url, "mallory", "a-long-password-9")[1]
    admin.get(f"{url}/hub/authorize/p01", timeout=30)
    participant, ok = try_login(url, "p01", "a-long-password-9")
    assert ok
    assert participant.get(formgrader, timeout=60).status_code == 403
    home = participant.get(room, timeout=60)
    assert home.status_code == 200 and "Amina Diallo" in home.text  # p01, from the roster
    assert participant.get(f"{room}coordinator", timeout=60).status_code == 404

    family = psutil.Process(process.pid).children(recursive=True)
    assert len(family) >= 3  # hub, proxy, formgrader
    process.send_signal(signal.SIGINT)
    assert process.wait(90) == 0
    assert "Stopped." in process.stdout.read()
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert not alive
