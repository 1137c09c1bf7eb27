"""The course's JupyterHub settings, worked out from a course and its people (pure functions).

`hub_settings` returns the JSON-ready mapping that deploy/jupyterhub_config.py reads: allowed
users, the groups `nbgrader-<course>` (participants) and `formgrade-<course>` (tutors), the
role that lets the tutors (and nobody else) reach the course's formgrader service, and that
service. The nbgrader configuration files of the participants' servers and of the formgrader
are returned as text by `participant_nbgrader_config` and `grader_nbgrader_config`.
"""

import re

# Hub usernames double as system user names (one per person when the hub runs as root) and as
# nbgrader student ids, so they keep to what all three accept.
USERNAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
USERNAME_RULE = ("a hub username: a lower-case letter, then up to 31 lower-case letters, "
                 "digits, '-' or '_'")
MODES = ("system-users", "shared")
AUTHENTICATORS = ("native", "dummy")


def participant_group(course: str) -> str:
    return f"nbgrader-{course}"


def tutor_group(course: str) -> str:
    return f"formgrade-{course}"


def grader_user(course: str) -> str:
    """The system user that owns the course's grading files and runs its formgrader."""
    return f"grader-{course}"[:32]


ROOM_SERVICE = "room"


def room_path() -> str:
    """The course room's address below the hub's."""
    return f"/services/{ROOM_SERVICE}/"


def room_service(port: int, python: str, course_root: str, secret_file: str, environment: dict,
                 book: str | None = None) -> dict:
    """The course room as a managed hub service (course/room/app.py); `book` is the built
    book's html folder it serves with annotations (said to be unbuilt while it is missing).

    The store's URL travels in the environment (IGCB_DB_URL), never on the command line
    where `ps` would show a password.
    """
    return {
        "name": ROOM_SERVICE,
        "url": f"http://127.0.0.1:{port}",
        "command": [python, "-m", "course.room", f"--course-root={course_root}",
                    f"--cookie-secret-file={secret_file}", *([f"--book={book}"] if book else [])],
        "oauth_no_confirm": True,
        "display": True,
        "environment": environment,
    }


def room_mail_environment(host: str | None, port: int | None, tls: str | None, sender: str | None,
                          user: str | None, room_url: str | None) -> dict:
    """The room's SMTP settings as its environment (course/room/mailer.py); {} for no e-mail.

    The password is not here: it reaches the room from the hub's environment
    (IGCB_SMTP_PASSWORD), never through the settings file or a command line.
    """
    if not host:
        return {}
    values = {"IGCB_SMTP_HOST": host, "IGCB_SMTP_PORT": str(port) if port else "",
              "IGCB_SMTP_TLS": tls, "IGCB_SMTP_FROM": sender, "IGCB_SMTP_USER": user,
              "IGCB_ROOM_URL": room_url}
    return {name: value for name, value in values.items() if value}


def room_role(course: str) -> dict:
    """Everyone of the course may open the room; what they see there the room decides."""
    return {"name": f"room-{course}", "description": f"People of {course} reach its course room",
            "scopes": [f"access:services!service={ROOM_SERVICE}"],
            "groups": [participant_group(course), tutor_group(course)]}


def formgrader_path(course: str) -> str:
    """The formgrader's address below the hub's, e.g. /services/online-course/formgrader/."""
    return f"/services/{course}/formgrader/"


def username_problems(ids: list[str]) -> list[tuple[int, str]]:
    """(index, id) for each id that cannot be a hub username.

    >>> username_problems(["p01", "Amina", "t-2", "root user"])
    [(1, 'Amina'), (3, 'root user')]
    """
    return [(i, value) for i, value in enumerate(ids) if not USERNAME.fullmatch(value)]


def course_settings(course: str, participants: list[str], tutors: list[str], *,
                    service_port: int, course_root: str, singleuser: str,
                    run_as_grader: bool) -> dict:
    """Groups, roles and the formgrader service of one course.

    The service is a Jupyter server in the course root (nbgrader's formgrader extension);
    the hub lets only `formgrade-<course>` through to it. `oauth_no_confirm` spares tutors
    an "Authorize access" page.
    """
    service = {
        "name": course,
        "url": f"http://127.0.0.1:{service_port}",
        "command": [singleuser, f"--ServerApp.root_dir={course_root}",
                    "--ServerApp.default_url=/formgrader"],
        "cwd": course_root,
        "oauth_no_confirm": True,
        "display": True,
        "environment": {"JUPYTERHUB_DEFAULT_URL": "/formgrader"},
    }
    if run_as_grader:
        service["user"] = grader_user(course)
    return {
        "groups": {participant_group(course): {"users": sorted(participants)},
                   tutor_group(course): {"users": sorted(tutors)}},
        "roles": [{
            "name": f"formgrader-{course}",
            "description": f"Tutors of {course} reach its formgrader",
            "scopes": [f"access:services!service={course}"],
            "groups": [tutor_group(course)],
        }],
        "services": [service],
    }


def hub_settings(course: str, participants: list[str], tutors: list[str], *,
                 state: str, ip: str, port: int, hub_port: int, proxy_api_port: int,
                 service_port: int, proxy_command: list[str], singleuser: str,
                 mode: str = "system-users", authenticator: str = "native",
                 room: dict | None = None) -> dict:
    """Everything deploy/jupyterhub_config.py needs for one course (no secrets, no admin).

    `state` is the course's state folder: hub/ (database, cookie secret), exchange/,
    course/ (the nbgrader course root), home/ (homes in shared mode), etc/participants/
    (the participants' Jupyter configuration). `room` is the course room's service
    (`room_service`), added with the role that lets the course's people reach it.
    """
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    if authenticator not in AUTHENTICATORS:
        raise ValueError(f"authenticator: expected one of {AUTHENTICATORS}, got {authenticator!r}")
    courses = course_settings(course, participants, tutors, service_port=service_port,
                              course_root=f"{state}/course", singleuser=singleuser,
                              run_as_grader=mode == "system-users")
    if room is not None:
        courses["services"].append(room)
        courses["roles"].append(room_role(course))
    return {
        "course": course,
        "mode": mode,
        "authenticator": authenticator,
        "ip": ip,
        "port": port,
        "hub_port": hub_port,
        "proxy_api_port": proxy_api_port,
        "proxy_command": proxy_command,
        "singleuser": singleuser,
        "state": state,
        "participant_config": f"{state}/etc/participants",
        "allowed_users": sorted(set(participants) | set(tutors)),
        **courses,
    }


def participant_nbgrader_config(exchange: str, shared_os_user: bool) -> str:
    """nbgrader_config.py for every hub user's server: the shared exchange, courses from groups.

    With one OS user for everybody (shared mode) nbgrader cannot tell people apart by their
    OS name, so the student id comes from the hub.
    """
    lines = [
        '"""nbgrader settings of the hub users\' servers (written by `igcb hub`)."""',
        "from nbgrader.auth import JupyterHubAuthPlugin",
        "",
        "c = get_config()  # noqa: F821",
        f"c.Exchange.root = {exchange!r}",
        "c.Exchange.path_includes_course = True",
        "c.Authenticator.plugin_class = JupyterHubAuthPlugin",
    ]
    if shared_os_user:
        lines += ["", "import os", "",
                  'c.CourseDirectory.student_id = os.environ.get("JUPYTERHUB_USER", "*")']
    return "\n".join(lines) + "\n"


def participant_server_config() -> dict:
    """jupyter_server_config.json for hub users' servers: no grading tools of their own."""
    return {"ServerApp": {"jpserver_extensions": {
        "nbgrader.server_extensions.formgrader": False,
        "nbgrader.server_extensions.course_list": False,
    }}}


def grader_nbgrader_config(course: str, course_root: str, exchange: str,
                           base_config: str | None, shared_os_user: bool = False) -> str:
    """nbgrader_config.py of the hub's course root: the course's own settings, then the hub's.

    The formgrader runs as a service with no hub user of its own, so it keeps nbgrader's
    default authenticator (the JupyterHub one would look the service up as a user and fail,
    nbgrader issue 1872); the course id is fixed here.
    """
    lines = [
        '"""nbgrader settings of the hub\'s course root (written by `igcb hub`)."""',
        "",
        "c = get_config()  # noqa: F821",
    ]
    if base_config:
        # A file name next to this one: the course's own settings, copied at each start.
        lines.append(f"load_subconfig({base_config!r})  # noqa: F821")
    lines += [
        f"c.CourseDirectory.root = {course_root!r}",
        f"c.CourseDirectory.course_id = {course!r}",
        f"c.Exchange.root = {exchange!r}",
        "c.Exchange.path_includes_course = True",
    ]
    if shared_os_user:
        # Every submission belongs to the one OS user: the owner check would flag them all.
        lines.append("c.CollectApp.check_owner = False")
    return "\n".join(lines) + "\n"
