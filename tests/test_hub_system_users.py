"""System-users mode, run for real: `igcb hub --mode system-users` as root, with two participants
and a tutor who sign up, are approved and log in through the hub's own forms; the participants'
servers run as system users the hub creates, and code in their real kernels tries to reach
what they must not: the gradebook, the source assignments, the hub's database and cookie
secrets, the cohort store, the other participant's home and processes, and the exchange beyond
nbgrader's rules (inbound write-only, outbound read-only).

The hub runs from a copy of the project's venv that system users can run (see
tests/system_users_helpers.py), on a private copy of the course (IGCB_ROOT). Names carry a
random part, so a run never meets an earlier run's accounts; at the end the system users this
run's hub made (marked `igcb hub user`) are removed with their homes. Needs root: skipped
with the reason elsewhere, never in CI (CI runs as root; there a missing root is a failure).
"""

import grp
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests

from course.hub import grader_user
from course.hub_process import SYSTEM_USER_COMMENT, free_port
from course.layout import REPO_ROOT
from hub_helpers import form_xsrf, login, start_server, xsrf_headers
from system_users_helpers import Kernel, made_by_hub, reachable_venv, remove_system_user

RUN = secrets.token_hex(3)
COURSE = f"su{RUN}"  # the plan's id: the nbgrader course, the formgrader service
P1, P2, TUTOR, ADMIN = (f"su{RUN}-{role}" for role in ("p1", "p2", "t1", "coord"))
GRADER = grader_user(COURSE)
ASSIGNMENT = "what-is-ig"  # a real assignment of assessments/source, with its solutions
PASSWORD = "a-long-password-9"
ADMIN_PASSWORD = "coordinator-password-1"
FORMGRADER = f"/services/{COURSE}/formgrader"
EXAMPLES = REPO_ROOT / "peer_review" / "examples"

# Defined once in each kernel: each check says "ok" or the errno's name.
KERNEL_CHECKS = r'''
import errno, glob, json, os, signal

def _outcome(action):
    try:
        action()
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err.errno))
    return "ok"

def can_read(path):
    def action():
        with open(path, "rb") as handle:
            handle.read(1)
    return _outcome(action)

def can_write(path):  # an existing file, opened for writing without changing it
    return _outcome(lambda: os.close(os.open(path, os.O_WRONLY)))

def can_create(folder, name="probe"):
    return _outcome(lambda: os.close(os.open(os.path.join(folder, name),
                                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)))

def can_mkdir(path):
    return _outcome(lambda: os.mkdir(path))

def can_list(folder):
    return _outcome(lambda: os.listdir(folder))

def can_signal(pid, sig=0):
    return _outcome(lambda: os.kill(pid, sig))

def report(**outcomes):
    print(json.dumps(outcomes))
'''


def require_root() -> None:
    if os.geteuid() == 0:
        if not shutil.which("useradd") or not shutil.which("userdel"):
            pytest.fail("running as root, but useradd/userdel are missing: install Debian's "
                        "passwd package (system-users mode creates a system user per person)")
        return
    reason = ("system-users mode needs root (the hub creates a system user per person): "
              "run the tests as root to include it")
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run them as root, where this test may not be skipped")
    pytest.skip(reason)


@dataclass
class SystemHub:
    url: str
    state: Path
    course_copy: Path
    output: str
    pid: int  # of `igcb hub`
    sessions: dict = field(default_factory=dict)
    kernels: dict = field(default_factory=dict)
    early: dict = field(default_factory=dict)  # checks made before the first release


def course_files(root: Path, course: str = COURSE) -> Path:
    """The course's modules, plans, book and assessments in `root`, with a plan `course` and
    a roster of two participants and a tutor (roster.csv, tutors.csv)."""
    for folder in ("modules", "course/plans", "book", "assessments"):
        shutil.copytree(REPO_ROOT / folder, root / folder,
                        ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    plan = (root / "course" / "plans" / "online-course.yml").read_text(encoding="utf-8")
    (root / "course" / "plans" / f"{course}.yml").write_text(
        plan.replace("id: online-course\n", f"id: {course}\n", 1), encoding="utf-8")
    for name, ids, first in (("roster.csv", [P1, P2], "p0"), ("tutors.csv", [TUTOR], "t0")):
        header, *rows = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()
        kept = [person + row[row.index(","):] for person, row in zip(ids, rows)]
        assert all(row.startswith(first) for row in rows[:len(ids)])
        (root / name).write_text("\n".join([header, *kept]) + "\n", encoding="utf-8")
    return root


def sign_up(url: str, name: str) -> None:
    session = requests.Session()
    data = {"username": name, "signup_password": PASSWORD,
            "signup_password_confirmation": PASSWORD, **form_xsrf(session, f"{url}/hub/signup")}
    session.post(f"{url}/hub/signup", data=data, timeout=30).raise_for_status()


def release(hub: SystemHub, action: str, assignment: str = ASSIGNMENT) -> None:
    """The tutor's formgrader (run by the grader's system user) does `action` on `assignment`."""
    tutor = hub.sessions[TUTOR]
    reply = tutor.post(f"{hub.url}{FORMGRADER}/api/assignment/{assignment}/{action}",
                       headers=xsrf_headers(tutor, f"{FORMGRADER}/api"), timeout=180)
    assert reply.ok and json.loads(reply.text)["success"], reply.text


def fetch_and_submit(hub: SystemHub, user: str) -> None:
    """The participant fetches and submits in their own server (nbgrader's Assignments API)."""
    session = hub.sessions[user]
    server = f"{hub.url}/user/{user}"
    headers = xsrf_headers(session, f"/user/{user}/assignments")
    form = {"course_id": COURSE, "assignment_id": ASSIGNMENT}
    listed = session.get(f"{server}/assignments", params={"course_id": COURSE},
                         headers=headers, timeout=60).json()
    assert [a["assignment_id"] for a in listed["value"]] == [ASSIGNMENT], listed
    fetched = session.post(f"{server}/assignments/fetch", data=form, headers=headers,
                           timeout=60).json()
    assert fetched["success"], fetched
    submitted = session.post(f"{server}/assignments/submit", data=form, headers=headers,
                             timeout=60).json()
    assert submitted["success"], submitted


def check(kernel: Kernel, calls: str) -> dict:
    """Run `report(name=can_...(...), ...)` in the kernel; its outcomes."""
    return json.loads(kernel.run(f"report({calls})"))


def start_igcb_hub(venv: Path, course_copy: Path, course: str, state: Path,
                   port: int) -> tuple[subprocess.Popen, str]:
    """`igcb hub --mode system-users` on the course at `course_copy` (IGCB_ROOT), run by the
    reachable venv's Python; the process and what it printed until it said it runs (or ended)."""
    env = {**os.environ, "IGCB_ROOT": str(course_copy), "IGCB_HUB_ADMIN": ADMIN,
           "IGCB_HUB_ADMIN_PASSWORD": ADMIN_PASSWORD}
    env.pop("IGCB_DB_URL", None)
    process = subprocess.Popen(
        [str(venv / "bin" / "igcb"), "hub", "--mode", "system-users", "--plan", course,
         "--roster", str(course_copy / "roster.csv"), "--tutors", str(course_copy / "tutors.csv"),
         "--state", str(state), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    return process, "".join(lines)


def stop_igcb_hub(process: subprocess.Popen) -> None:
    """Ctrl-C, as a coordinator would; whatever it started and left is ended by its id."""
    family = _family(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _, alive = psutil.wait_procs(family, timeout=10)
    for survivor in alive:
        survivor.kill()


@pytest.fixture(scope="module")
def hub():
    require_root()
    venv = reachable_venv()
    # State where system users can pass (0711); the course's files where they cannot (0700).
    top = Path(tempfile.mkdtemp(prefix="igcb-system-users-", dir="/tmp"))
    top.chmod(0o711)
    private = top / "private"
    private.mkdir(mode=0o700)
    names = [P1, P2, TUTOR, ADMIN, GRADER]
    existed = {name for name in names if _exists(name)}
    assert not existed, f"system users of this run exist already: {existed}"
    process = None
    kernels = {}
    try:
        course_copy = course_files(private / "course")
        port = free_port()
        process, output = start_igcb_hub(venv, course_copy, COURSE, top / "state", port)
        assert "Press Ctrl-C" in output, f"`igcb hub --mode system-users` did not start:\n{output}"
        running = SystemHub(f"http://127.0.0.1:{port}", top / "state", course_copy, output,
                            process.pid, kernels=kernels)
        _people_in(running)
        yield running
    finally:
        for kernel in kernels.values():
            try:
                kernel.close()
            except Exception:  # the hub may be gone already; its stop ends the kernels
                pass
        if process is not None:
            stop_igcb_hub(process)
        for name in names:  # only the users this run's hub made
            if name not in existed and made_by_hub(name, SYSTEM_USER_COMMENT):
                remove_system_user(name)
        shutil.rmtree(top, ignore_errors=True)


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _family(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _people_in(hub: SystemHub) -> None:
    """Sign-up, approval, login; servers and kernels; the early checks; release, fetch, submit."""
    admin = login(hub.url, ADMIN, ADMIN_PASSWORD)
    for name in (P1, P2, TUTOR):
        sign_up(hub.url, name)
        admin.get(f"{hub.url}/hub/authorize/{name}", timeout=30).raise_for_status()
        hub.sessions[name] = login(hub.url, name, PASSWORD)
    for name in (P1, P2):
        start_server(hub.url, hub.sessions[name], name, timeout=180)
        kernel = Kernel(hub.url, hub.sessions[name], name,
                        xsrf_headers(hub.sessions[name], f"/user/{name}/api"))
        hub.kernels[name] = kernel
        kernel.run(KERNEL_CHECKS)
    # Before anything is released, a participant tries to make the course's exchange folders
    # (whoever owns them decides who reads the submissions).
    exchange = hub.state / "exchange" / COURSE
    hub.early = check(hub.kernels[P1], f"course_folder=can_mkdir({str(exchange)!r}), "
                                       f"inbound=can_mkdir({str(exchange / 'inbound')!r}), "
                                       f"outbound=can_create({str(exchange / 'outbound')!r}, "
                                       f"{ASSIGNMENT!r})")
    hub.sessions[TUTOR].get(f"{hub.url}{FORMGRADER}/", timeout=60).raise_for_status()
    for action in ("assign", "release"):
        release(hub, action)
    for name in (P1, P2):
        fetch_and_submit(hub, name)


def submissions(hub: SystemHub, user: str) -> list[Path]:
    return sorted((hub.state / "exchange" / COURSE / "inbound").glob(f"{user}+{ASSIGNMENT}+*"))


def home(user: str) -> Path:
    return Path(pwd.getpwnam(user).pw_dir)


# --- the hub really runs as system users ------------------------------------------------------

def test_hub_started_in_system_users_mode(hub):
    assert "WARNING: shared mode" not in hub.output
    settings = json.loads((hub.state / "hub" / "settings.json").read_text(encoding="utf-8"))
    assert settings["mode"] == "system-users"


def test_each_participant_runs_as_their_own_system_user(hub):
    for name in (P1, P2):
        entry = pwd.getpwnam(name)
        assert entry.pw_gecos == SYSTEM_USER_COMMENT
        assert Path(entry.pw_dir).stat().st_mode & 0o777 == 0o700
        ids = json.loads(hub.kernels[name].run(
            "import os, pwd; print(json.dumps([os.getuid(), os.geteuid(), os.getgroups(), "
            "pwd.getpwuid(os.getuid()).pw_name, os.path.expanduser('~')]))"))
        uid, euid, groups, user_name, user_home = ids
        assert uid == euid == entry.pw_uid and user_name == name
        assert user_home == entry.pw_dir
        assert all(grp.getgrgid(g).gr_name == name for g in groups), groups


def test_participant_reaches_own_home_and_the_released_assignment(hub):
    released = hub.state / "exchange" / COURSE / "outbound" / ASSIGNMENT / "skills.ipynb"
    fetched = home(P1) / COURSE / ASSIGNMENT / "skills.ipynb"
    outcome = check(hub.kernels[P1], f"home=can_list({str(home(P1))!r}), "
                                     f"create=can_create({str(home(P1))!r}), "
                                     f"fetched=can_read({str(fetched)!r}), "
                                     f"edit=can_write({str(fetched)!r}), "
                                     f"released=can_read({str(released)!r}), "
                                     f"own_kernel=can_signal(os.getpid())")
    assert outcome == dict.fromkeys(outcome, "ok")
    assert fetched.owner() == P1


def test_formgrader_runs_as_the_grader_and_collects_with_owner_check(hub):
    graders = [p for p in _family(hub.pid)
               if p.username() == GRADER and "jupyterhub-singleuser" in " ".join(p.cmdline())]
    assert graders, "no formgrader process of the grader's system user"
    release(hub, "collect")
    for name in (P1, P2):
        collected = hub.state / "course" / "submitted" / name / ASSIGNMENT / "skills.ipynb"
        assert collected.exists() and collected.owner() == GRADER


# --- what a participant's code cannot reach ---------------------------------------------------

def test_gradebook_is_out_of_reach(hub):
    course = hub.state / "course"
    gradebook = course / "gradebook.db"
    assert gradebook.exists()
    outcome = check(hub.kernels[P1], f"read=can_read({str(gradebook)!r}), "
                                     f"write=can_write({str(gradebook)!r}), "
                                     f"list=can_list({str(course)!r}), "
                                     f"create=can_create({str(course)!r})")
    assert outcome == dict.fromkeys(outcome, "EACCES")


def test_source_assignments_with_solutions_are_out_of_reach(hub):
    hub_copy = hub.state / "course" / "source" / ASSIGNMENT / "skills.ipynb"
    original = hub.course_copy / "assessments" / "source" / ASSIGNMENT / "skills.ipynb"
    assert "### BEGIN SOLUTION" in hub_copy.read_text(encoding="utf-8")
    outcome = check(hub.kernels[P1], f"hub_read=can_read({str(hub_copy)!r}), "
                                     f"hub_write=can_write({str(hub_copy)!r}), "
                                     f"original_read=can_read({str(original)!r}), "
                                     f"original_write=can_write({str(original)!r})")
    assert outcome == dict.fromkeys(outcome, "EACCES")


def test_readable_source_assignments_are_refused():
    """With the course's assessments open to other users, every participant could read the
    solutions whatever the hub does with its own copy: `igcb hub` refuses, naming the folder,
    before it makes any system user."""
    require_root()
    venv = reachable_venv()
    course = f"so{RUN}"
    top = Path(tempfile.mkdtemp(prefix="igcb-open-course-", dir="/tmp"))
    process = None
    try:
        course_copy = course_files(top / "course", course)
        for path in [top, *top.rglob("*")]:  # as a clone in /srv made with umask 022 would be
            path.chmod(0o755 if path.is_dir() else 0o644)
        process, output = start_igcb_hub(venv, course_copy, course, top / "state", free_port())
        assert "Press Ctrl-C" not in output, f"the hub started on open assessments:\n{output}"
        assert process.wait(60) == 2, output
        source = course_copy / "assessments" / "source"
        assert f"{source} is open to other users" in output
        assert f"chmod o-rwx {course_copy / 'assessments'}" in output
        assert "Traceback" not in output
        assert not _exists(grader_user(course))
    finally:
        if process is not None:
            stop_igcb_hub(process)
        if made_by_hub(grader_user(course), SYSTEM_USER_COMMENT):
            remove_system_user(grader_user(course))
        shutil.rmtree(top, ignore_errors=True)


def test_hub_database_and_secrets_are_out_of_reach(hub):
    folder = hub.state / "hub"
    files = {"database": folder / "jupyterhub.sqlite",
             "cookie_secret": folder / "jupyterhub_cookie_secret",
             "room_cookie_secret": folder / "room_cookie_secret",
             "settings": folder / "settings.json", "log": folder / "jupyterhub.log"}
    assert all(path.exists() for path in files.values())
    calls = [f"{name}_read=can_read({str(path)!r}), {name}_write=can_write({str(path)!r})"
             for name, path in files.items()]
    calls.append(f"list=can_list({str(folder)!r})")
    outcome = check(hub.kernels[P1], ", ".join(calls))
    assert outcome == dict.fromkeys(outcome, "EACCES")


def test_cohort_store_is_out_of_reach(hub):
    """The cohort store holds everyone's personal data and who reviews whom."""
    store = hub.state / "cohort.sqlite"
    assert store.exists()
    calls = [f"read=can_read({str(store)!r}), write=can_write({str(store)!r})"]
    for extra in ("-wal", "-shm"):
        path = store.with_name(store.name + extra)
        if path.exists():
            calls.append(f"read{extra[1:]}=can_read({str(path)!r})")
    outcome = check(hub.kernels[P1], ", ".join(calls))
    assert outcome == dict.fromkeys(outcome, "EACCES")


def test_other_participants_home_is_out_of_reach(hub):
    other = home(P2)
    fetched = other / COURSE / ASSIGNMENT / "skills.ipynb"
    assert fetched.exists()
    outcome = check(hub.kernels[P1], f"list=can_list({str(other)!r}), "
                                     f"read=can_read({str(fetched)!r}), "
                                     f"write=can_write({str(fetched)!r}), "
                                     f"create=can_create({str(other)!r}), "
                                     f"bashrc=can_read({str(other / '.bashrc')!r})")
    assert outcome == dict.fromkeys(outcome, "EACCES")


def test_participant_cannot_take_the_course_folders_of_the_exchange(hub):
    """Made by a participant before the first release, the course's folders in the (world-
    writable) exchange would be theirs, and so would every submission: the hub makes them
    first, owned by the grader."""
    assert hub.early == {"course_folder": "EEXIST", "inbound": "EEXIST", "outbound": "EACCES"}
    exchange = hub.state / "exchange" / COURSE
    for folder in (exchange, exchange / "inbound", exchange / "outbound", exchange / "feedback"):
        assert folder.owner() == GRADER, folder


def test_participant_cannot_change_what_servers_run(hub):
    """The servers' settings and the Python they run are the same for everyone: a change by one
    participant would run in every other participant's server."""
    settings = json.loads((hub.state / "hub" / "settings.json").read_text(encoding="utf-8"))
    config = Path(settings["participant_config"])
    python = Path(hub.kernels[P1].run("import sys; print(sys.prefix)").strip())
    site = next((python / "lib").glob("python3*/site-packages"))
    singleuser = python / "bin" / "jupyterhub-singleuser"
    outcome = check(hub.kernels[P1],
                    f"config=can_write({str(config / 'nbgrader_config.py')!r}), "
                    f"config_new=can_create({str(config)!r}, 'jupyter_server_config.py'), "
                    f"singleuser=can_write({str(singleuser)!r}), "
                    f"site=can_create({str(site)!r}, 'sitecustomize.py'), "
                    f"package=can_write({str(site / 'nbgrader' / '__init__.py')!r})")
    assert outcome == dict.fromkeys(outcome, "EACCES")


def test_exchange_inbound_is_write_only(hub):
    inbound = hub.state / "exchange" / COURSE / "inbound"
    mine, theirs = submissions(hub, P1), submissions(hub, P2)
    assert len(mine) == 1 and mine[0].owner() == P1
    assert len(theirs) == 1 and theirs[0].owner() == P2
    # nbgrader names a submission <student>+<assignment>+<time>+<random>: not guessable.
    assert len(theirs[0].name.split("+")) == 4
    outcome = json.loads(hub.kernels[P1].run(
        f"print(json.dumps({{'list': can_list({str(inbound)!r}), "
        f"'glob': glob.glob({str(inbound / '*')!r}), "
        f"'create': can_create({str(inbound)!r}, 'note-from-p1'), "
        f"'replace': _outcome(lambda: os.rename({str(inbound / 'note-from-p1')!r}, "
        f"{str(inbound / 'elsewhere')!r}))}}))"))
    assert outcome == {"list": "EACCES", "glob": [], "create": "ok", "replace": "ok"}
    # Another's submission, even by its name, cannot be moved away (inbound is sticky).
    moved = check(hub.kernels[P1], f"move=_outcome(lambda: os.rename({str(theirs[0])!r}, "
                                   f"{str(inbound / 'taken')!r}))")
    assert moved == {"move": "EPERM"}
    assert theirs[0].exists()


def test_exchange_outbound_is_read_only(hub):
    exchange = hub.state / "exchange" / COURSE
    outbound = exchange / "outbound"
    released = outbound / ASSIGNMENT / "skills.ipynb"
    assert released.owner() == GRADER
    outcome = check(hub.kernels[P1], f"read=can_read({str(released)!r}), "
                                     f"list=can_list({str(outbound)!r}), "
                                     f"write=can_write({str(released)!r}), "
                                     f"create=can_create({str(outbound / ASSIGNMENT)!r}), "
                                     f"new_assignment=can_mkdir({str(outbound / 'fake')!r}), "
                                     f"course_folder=can_create({str(exchange)!r})")
    assert outcome == {"read": "ok", "list": "ok", "write": "EACCES", "create": "EACCES",
                       "new_assignment": "EACCES", "course_folder": "EACCES"}


def test_participant_cannot_signal_other_processes(hub):
    pid, server = json.loads(hub.kernels[P2].run("print(json.dumps([os.getpid(), os.getppid()]))"))
    assert psutil.Process(pid).username() == P2 and psutil.Process(server).username() == P2
    family = _family(hub.pid)
    formgrader = next(p.pid for p in family if p.username() == GRADER)
    jupyterhub = next(p.pid for p in family if p.cmdline()[1:3] == ["-m", "jupyterhub"])
    assert psutil.Process(jupyterhub).username() == "root"
    outcome = check(hub.kernels[P1], f"probe=can_signal({pid}), "
                                     f"term_kernel=can_signal({pid}, signal.SIGTERM), "
                                     f"kill_server=can_signal({server}, signal.SIGKILL), "
                                     f"stop_formgrader=can_signal({formgrader}, signal.SIGTERM), "
                                     f"stop_hub=can_signal({jupyterhub}, signal.SIGTERM)")
    assert outcome == dict.fromkeys(outcome, "EPERM")
    # Nor read their environments (the servers' and the formgrader's hub tokens are there).
    environ = check(hub.kernels[P1], f"server=can_read('/proc/{server}/environ'), "
                                     f"kernel=can_read('/proc/{pid}/environ'), "
                                     f"formgrader=can_read('/proc/{formgrader}/environ'), "
                                     f"hub=can_read('/proc/{jupyterhub}/environ')")
    assert environ == dict.fromkeys(environ, "EACCES")
    assert hub.kernels[P2].run("print(6 * 7)") == "42\n"  # still running
