"""`igcb hub`: the course's JupyterHub on this machine, until Ctrl-C."""

import os
import shutil
import signal
import socket
import sqlite3
import sys
import time
from pathlib import Path

import click

from course.cohort.structure import people_frame
from course.commands.cohort import INPUT_FILE
from course.commands.store import cohort_session, cohort_url, hub_root, load_rosters, open_cohort
from course.errors import UserError
from course.hub import (formgrader_path, hub_settings, room_mail_environment, room_path,
                        room_service, tutor_group, username_problems, USERNAME_RULE)
from course.hub_process import (free_port, log_tail, prepare_state, proxy_command,
                                singleuser_command, start_hub, stop_hub, wait_until_ready)
from course.layout import Layout
from course.plans import DEFAULT_PLAN, load_named_plan



def stored_people(state: Path, db: str | None, course: str) -> tuple[list[str], list[str]]:
    """The active participants and tutors of the cohort store (`igcb cohort init` fills it)."""
    store = open_cohort(state, db, course=course)
    with cohort_session(store) as session:
        return (list(people_frame(session, "participant")["id"]),
                list(people_frame(session, "tutor")["id"]))


def _mode(choice: str) -> str:
    root = os.geteuid() == 0
    if choice == "auto":
        return "system-users" if root and shutil.which("useradd") else "shared"
    if choice == "system-users" and not (root and shutil.which("useradd")):
        raise UserError("--mode system-users needs root (to create a system user per person) "
                        "and the useradd command")
    return choice


def _check_reachable(path: Path, what: str) -> None:
    """System users must be able to pass through every folder above `path`."""
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & 0o001:
            raise UserError(f"{folder} is closed to other users, so the participants' system "
                            f"users cannot reach {what}: move it (e.g. --state /srv/igcb-hub, "
                            f"or the project and its Python outside {folder}), run "
                            f"`chmod o+x {folder}`, or choose --mode shared knowingly")


def _check_port_free(ip: str, port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind((ip, port))
        except OSError as err:
            raise UserError(f"cannot listen on {ip}:{port} ({err.strerror}): "
                            "choose another --port or stop what uses it") from None


def _admin_exists(state: Path, admin: str) -> bool:
    database = state / "hub" / "jupyterhub.sqlite"
    if not database.exists():
        return False
    try:
        with sqlite3.connect(database) as db:
            return db.execute("SELECT 1 FROM users_info WHERE username = ?",
                              (admin,)).fetchone() is not None
    except sqlite3.Error:
        return False


def _admin_password(state: Path, admin: str) -> dict[str, str]:
    """IGCB_HUB_ADMIN_PASSWORD for a first start (asked for when not in the environment)."""
    if _admin_exists(state, admin):
        return {}
    password = os.environ.get("IGCB_HUB_ADMIN_PASSWORD", "")
    if not password and sys.stdin.isatty():
        password = click.prompt(f"Choose a password for the hub admin {admin!r}",
                                hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        raise UserError(f"the admin account {admin!r} does not exist yet: set "
                        "IGCB_HUB_ADMIN_PASSWORD (10 characters or more) for the first start")
    return {"IGCB_HUB_ADMIN_PASSWORD": password}


@click.command()
@click.option("--plan", "plan_name", default=DEFAULT_PLAN, show_default=True,
              help="Course plan (shipped name or YAML file); its id names the course.")
@click.option("--roster", "roster_csv", type=INPUT_FILE,
              help="Participants (roster CSV): loaded into the cohort store first, as `igcb cohort init` does.")
@click.option("--tutors", "tutors_csv", type=INPUT_FILE, help="Tutors (roster CSV with capacity), with --roster.")
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path),
              help="State folder (default: .hub/<course> in the repository).")
@click.option("--db", help="The cohort store's SQLAlchemy URL (default: $IGCB_DB_URL, else "
                           "cohort.sqlite in the state folder).")
@click.option("--ip", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for all; put HTTPS in front, see deploy/README.md).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--book", "book_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The built book the room serves to the course's people, with annotations  "
                   "[default: book/_build/html, what `igcb book` builds].")
@click.option("--mode", type=click.Choice(["auto", "system-users", "shared"]), default="auto",
              show_default=True,
              help="system-users: a system user per person (needs root); shared: everybody's "
                   "server runs as you, with no isolation. auto: system-users when root.")
@click.option("--smtp-host", envvar="IGCB_SMTP_HOST",
              help="SMTP server the room sends reminders and digests through (none: no e-mail).")
@click.option("--smtp-port", type=click.IntRange(1, 65535), envvar="IGCB_SMTP_PORT",
              help="Its port (default 25, 587 with starttls, 465 with ssl).")
@click.option("--smtp-tls", type=click.Choice(["none", "starttls", "ssl"]), default="starttls",
              show_default=True, envvar="IGCB_SMTP_TLS")
@click.option("--smtp-from", envvar="IGCB_SMTP_FROM", help="The sender, e.g. course@example.org.")
@click.option("--smtp-user", envvar="IGCB_SMTP_USER",
              help="Login name at the SMTP server; the password only from IGCB_SMTP_PASSWORD.")
@click.option("--room-url", envvar="IGCB_ROOM_URL",
              help="The room's public address for links in e-mail (default: the plan's hub "
                   "address, else this hub's, with /services/room/).")
def hub(plan_name, roster_csv, tutors_csv, state_dir, db, ip, port, mode, smtp_host, smtp_port,
        smtp_tls, smtp_from, smtp_user, room_url, book_dir=None):
    """Run the course's JupyterHub (participants, tutors, formgrader, course room) until Ctrl-C.

    Its people are those of the cohort store (`igcb cohort init`, or --roster and --tutors
    here). The coordinator's hub account comes from IGCB_HUB_ADMIN (and, the first time,
    IGCB_HUB_ADMIN_PASSWORD). Participants and tutors sign up at /hub/signup with their
    roster id; the coordinator approves each account at /hub/authorize.
    """
    layout = Layout.default()
    plan = load_named_plan(plan_name, layout.plans)
    admin = os.environ.get("IGCB_HUB_ADMIN", "").strip()
    if not admin:
        raise UserError("set IGCB_HUB_ADMIN to the coordinator's hub username "
                        "(the admin who approves sign-ups); it is never read from a file")
    if username_problems([admin]):
        raise UserError(f"IGCB_HUB_ADMIN: {admin!r}: expected {USERNAME_RULE}")
    if (roster_csv is None) != (tutors_csv is None):
        raise UserError("give --roster and --tutors together (or neither, to use the people "
                        "already in the cohort store)")
    mode = _mode(mode)
    mail = _mail_environment(plan, ip, port, smtp_host, smtp_port, smtp_tls, smtp_from,
                             smtp_user, room_url)
    command = proxy_command()
    if command is None:
        raise UserError("configurable-http-proxy is missing: run scripts/setup-venv.sh "
                        "(or `make test` once) to install it with Node.js into the venv")
    _check_port_free(ip, port)
    state = (state_dir or hub_root() / plan.id).resolve()
    if roster_csv is not None:
        load_rosters(plan_name, roster_csv, tutors_csv, admin, False, state, db)
    participants, tutors = stored_people(state, db, plan.id)
    db_url = cohort_url(state, db, plan.id)
    if mode == "system-users":
        _check_reachable(state, "the exchange")
        for folder in {Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent}:
            _check_reachable(folder, "Python and Jupyter")
    secrets = _admin_password(state, admin)

    book_dir = (book_dir or layout.book / "_build" / "html").resolve()  # the room says if unbuilt
    room = room_service(free_port(), sys.executable, str(state / "course"),
                        str(state / "hub" / "room_cookie_secret"), mail, book=str(book_dir))
    settings = hub_settings(
        plan.id, participants, tutors, state=str(state), ip=ip, port=port,
        hub_port=free_port(), proxy_api_port=free_port(), service_port=free_port(),
        proxy_command=command, singleuser=singleuser_command(), mode=mode, room=room)
    assessments = layout.assessments if layout.assessments.is_dir() else None
    settings_path = prepare_state(settings, assessments)
    # Ctrl-C and SIGTERM (e.g. from a service manager) stop the hub. SIGINT is set explicitly
    # because a shell starting us in the background ignores it, and the children would too.
    previous = signal.signal(signal.SIGTERM, _interrupt), signal.signal(signal.SIGINT, _interrupt)
    process = start_hub(settings_path, {"IGCB_HUB_ADMIN": admin, "IGCB_DB_URL": db_url, **secrets})
    try:
        host = "127.0.0.1" if ip in ("0.0.0.0", "") else ip
        url = f"http://{host}:{port}"
        if not wait_until_ready(process, url, timeout=120):
            raise UserError(f"the hub did not start; its log ends with:\n{log_tail(settings_path)}")
        _announce(plan, url, admin, participants, tutors, mode, settings_path)
        _announce_book(plan, url, book_dir)
        while process.poll() is None:
            time.sleep(0.5)
        raise UserError(f"the hub stopped; its log ends with:\n{log_tail(settings_path)}")
    except KeyboardInterrupt:
        click.echo("\nStopping the hub, its servers, the formgrader and the room ...")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        stop_hub(process)
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
    click.echo("Stopped.")


def _mail_environment(plan, ip, port, host, smtp_port, tls, sender, user, room_url) -> dict:
    """The room's SMTP settings (checked here, so that a mistake stops `igcb hub` at once)."""
    from course.room.mailer import MailConfigError, config_from_env

    if not host:
        return {}
    if not room_url:
        public = str(plan.hub.url) if plan.hub is not None else \
            f"http://{'127.0.0.1' if ip in ('0.0.0.0', '') else ip}:{port}"
        room_url = public.rstrip("/") + room_path()
    environment = room_mail_environment(host, smtp_port, tls, sender, user, room_url)
    try:  # the password reaches the room from our environment (deploy/jupyterhub_config.py)
        config_from_env({**environment, "IGCB_SMTP_PASSWORD": os.environ.get("IGCB_SMTP_PASSWORD", "")})
    except MailConfigError as err:
        names = {"IGCB_SMTP_HOST": "--smtp-host", "IGCB_SMTP_PORT": "--smtp-port",
                 "IGCB_SMTP_TLS": "--smtp-tls", "IGCB_SMTP_FROM": "--smtp-from",
                 "IGCB_SMTP_USER": "--smtp-user", "IGCB_ROOM_URL": "--room-url"}
        message = str(err)
        for name, option in names.items():
            message = message.replace(name, option)
        raise UserError(message) from None
    return environment


def _announce_book(plan, url, book_dir: Path) -> None:
    if (book_dir / "index.html").is_file():
        click.echo(f"  readings:   {url}{room_path()}book/  (with annotations; from {book_dir})")
    else:
        click.echo(f"  readings:   not built yet in {book_dir}: run `igcb book --plan {plan.id}`")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _announce(plan, url, admin, participants, tutors, mode, settings_path) -> None:
    click.echo(f"JupyterHub for {plan.id}: {len(participants)} participants, {len(tutors)} "
               f"tutors (group {tutor_group(plan.id)}), admin {admin}")
    click.echo(f"  hub:        {url}/hub/")
    click.echo(f"  formgrader: {url}{formgrader_path(plan.id)}  (tutors and {admin})")
    click.echo(f"  room:       {url}{room_path()}  (everyone of the course)")
    click.echo(f"  sign-up:    {url}/hub/signup  (approve accounts at {url}/hub/authorize)")
    click.echo(f"  log:        {settings_path.parent / 'jupyterhub.log'}")
    if plan.hub is not None:
        click.echo(f"  the book's launch links open labs at {plan.hub.url}")
    if mode == "shared":
        click.secho(
            "WARNING: shared mode: every participant's server runs as your OS user, so a "
            "participant's code can read the hub's database, the cookie secret, the gradebook "
            "and other people's files. Use it only with people you trust, or run as root for "
            "a system user per person (see deploy/README.md).", fg="red", err=True)
    click.echo("Press Ctrl-C to stop.")


COMMANDS = [hub]
