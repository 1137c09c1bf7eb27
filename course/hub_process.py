"""Run a course's JupyterHub on this machine: lay out its state folder, start, wait, stop.

State folder (one per course):
  hub/                 database, cookie secret, settings.json, jupyterhub.log (hub only)
  exchange/            nbgrader's exchange, shared by all hub users
  course/              the hub's nbgrader course root (assignments copied from assessments/)
  etc/participants/    the Jupyter configuration of the hub users' servers
  home/                users' homes in shared mode (system users have their own)
"""

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

from course.errors import UserError
from course.hub import (USERNAME, grader_nbgrader_config, grader_user,
                        participant_nbgrader_config, participant_server_config)
from course.layout import REPO_ROOT

CONFIG = REPO_ROOT / "deploy" / "jupyterhub_config.py"
COURSE_CONFIG = "course_nbgrader_config.py"
# Marks the system users this hub created; it never runs a server as any other system user.
SYSTEM_USER_COMMENT = "igcb hub user"


def proxy_command() -> list[str] | None:
    """configurable-http-proxy run by the venv's Node.js (scripts/setup-venv.sh installs both)."""
    node = Path(sys.executable).with_name("node")
    proxy = Path(sys.prefix) / "node_modules" / ".bin" / "configurable-http-proxy"
    if node.exists() and proxy.exists():
        return [str(node), str(proxy)]
    found = shutil.which("configurable-http-proxy")
    return [found] if found else None


def singleuser_command() -> str:
    return str(Path(sys.executable).with_name("jupyterhub-singleuser"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_system_user(name: str) -> None:
    """Create the system user `name` (home mode 0700) unless this hub made it before."""
    if not USERNAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a safe system user name")
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash",
                        "--comment", SYSTEM_USER_COMMENT, name], check=True)
        entry = pwd.getpwnam(name)
        os.chmod(entry.pw_dir, 0o700)
        return
    if entry.pw_gecos != SYSTEM_USER_COMMENT:
        # e.g. a hub user called `root` or `www-data`: never run a server as that account.
        raise PermissionError(f"system user {name!r} exists and was not made by the hub")


# nbgrader's exchange folders of a course and their modes (its release_assignment.py and
# release_feedback.py), plus the sticky bit on inbound: a participant may add a submission
# there but not list, rename or delete anyone else's.
EXCHANGE_FOLDERS = {"": 0o755, "outbound": 0o755, "inbound": 0o3733, "feedback": 0o711}


def reachable_by_others(path: Path) -> bool:
    """Whether a user who is neither owner nor in the group can pass through to `path`."""
    return all(folder.stat().st_mode & 0o001 for folder in [path, *path.parents])


def prepare_state(settings: dict, assessments: Path | None) -> Path:
    """Create the state folder's files for `settings` (course/hub.py); return settings.json."""
    state = Path(settings["state"])
    system_users = settings["mode"] == "system-users"
    source = assessments / "source" if assessments is not None else None
    if system_users and source is not None and source.exists() \
            and reachable_by_others(source.resolve()):
        # The hub's own copy is closed, but participants' code would read the original.
        raise UserError(f"{source} is open to other users, so every participant's code could "
                        f"read the solutions in it: close it with `chmod o-rwx "
                        f"{assessments.resolve()}` (the hub grades from its own copy in "
                        f"{state / 'course'})")
    hub, exchange, course_root = state / "hub", state / "exchange", state / "course"
    participants = Path(settings["participant_config"])
    for folder in (hub, exchange, course_root / "source", participants, state / "home"):
        folder.mkdir(parents=True, exist_ok=True)
    # Others may pass through the state folder (to the exchange) but not list it.
    state.chmod(0o711 if system_users else 0o755)
    hub.chmod(0o700)
    exchange.chmod(0o1777)  # nbgrader's exchange: everyone writes, nobody deletes others' files

    if assessments is not None:
        for source in sorted((assessments / "source").glob("*")):
            target = course_root / "source" / source.name
            if source.is_dir() and not target.exists():
                shutil.copytree(source, target,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    base = assessments / "nbgrader_config.py" if assessments is not None else None
    if base is not None and base.exists():
        shutil.copyfile(base, course_root / COURSE_CONFIG)
    (course_root / "nbgrader_config.py").write_text(grader_nbgrader_config(
        settings["course"], str(course_root), str(exchange),
        COURSE_CONFIG if base is not None and base.exists() else None,
        shared_os_user=not system_users), encoding="utf-8")

    (participants / "nbgrader_config.py").write_text(
        participant_nbgrader_config(str(exchange), shared_os_user=not system_users),
        encoding="utf-8")
    (participants / "jupyter_server_config.json").write_text(
        json.dumps(participant_server_config(), indent=2), encoding="utf-8")
    for path in [state / "etc", participants, *participants.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)

    # The roster drives the gradebook's students as well as the hub groups.
    participants_group = settings["groups"].get(f"nbgrader-{settings['course']}", {})
    add_students(course_root, settings["course"], participants_group.get("users", []))

    if system_users:
        grader = grader_user(settings["course"])
        ensure_system_user(grader)
        for path in [course_root, *course_root.rglob("*")]:
            shutil.chown(path, grader, grader)
        course_root.chmod(0o700)
        # The course's exchange folders belong to the grader from the start: made by a
        # participant before the first release, they would be theirs, with every submission.
        for name, mode in EXCHANGE_FOLDERS.items():
            folder = exchange / settings["course"] / name
            if folder.is_symlink() or folder.exists() and not folder.is_dir():
                folder.unlink()  # planted in the world-writable exchange: never follow it
            folder.mkdir(exist_ok=True)
            shutil.chown(folder, grader, grader)
            folder.chmod(mode)
        # Only the exchange and the servers' settings are for others: not the cohort store
        # (cohort.sqlite, whose WAL files SQLite makes with its mode) nor anything else here.
        for path in state.iterdir():
            if path.name not in ("exchange", "etc"):
                path.chmod(path.stat().st_mode & 0o7770)

    path = hub / "settings.json"
    path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return path


def add_students(course_root: Path, course: str, ids: list[str]) -> None:
    """Add the participants to the course's gradebook (what `nbgrader db student add` does)."""
    from nbgrader.api import Gradebook

    # nbgrader runs `alembic` from PATH, which lacks the venv when Python is run by its path.
    path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
    try:
        with Gradebook(f"sqlite:///{course_root / 'gradebook.db'}", course) as gradebook:
            for student in ids:
                gradebook.update_or_create_student(student)
    finally:
        os.environ["PATH"] = path


def start_hub(settings_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start JupyterHub on the settings file, in its own session, logging to hub/jupyterhub.log."""
    hub = settings_path.parent
    log = open(hub / "jupyterhub.log", "ab")
    environment = {**os.environ, **(env or {}), "IGCB_HUB_SETTINGS": str(settings_path)}
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)],
            cwd=hub, env=environment, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        log.close()


def wait_until_ready(process: subprocess.Popen, url: str, timeout: float = 90) -> bool:
    """True once `url`/hub/health answers; False if the hub died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if requests.get(f"{url}/hub/health", timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


def stop_hub(process: subprocess.Popen, timeout: float = 30) -> None:
    """Stop the hub (it stops the servers, the service and the proxy), then end any survivor."""
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    # Servers run in sessions of their own, so ending the hub's process group is not enough.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)
    if process.poll() is None:
        process.kill()
    process.wait()


def log_tail(settings_path: Path, lines: int = 30) -> str:
    log = settings_path.parent / "jupyterhub.log"
    if not log.exists():
        return ""
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
