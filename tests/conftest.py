import shutil
from contextlib import ExitStack
from pathlib import Path

import pytest
from click.testing import CliRunner

from course.cli import main
from course.layout import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures"


def run_igcb(*args: str, root: Path | None = None):
    """Run `igcb ARGS` in-process, on the course repository at `root` (default: this one)."""
    env = {"IGCB_ROOT": str(root)} if root else {}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def mini_course(tmp_path) -> Path:
    """A copy of the one-module fixture course, with this repository's book/, safe to break."""
    root = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", root)
    shutil.copytree(REPO_ROOT / "book", root / "book", ignore=shutil.ignore_patterns("_build"))
    return root


@pytest.fixture
def course_copy(tmp_path) -> Path:
    """A copy of this repository's modules, plans, book and assessments, safe to break."""
    root = tmp_path / "course"
    for folder in ("modules", "course/plans", "book", "assessments"):
        if (REPO_ROOT / folder).is_dir():
            shutil.copytree(REPO_ROOT / folder, root / folder,
                            ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    return root


# --- databases for the cohort store: SQLite files and PostgreSQL ----------------------------

PG_HOST, PG_PORT = "127.0.0.1", 5432


def _listening(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _pg_binary(name: str) -> str | None:
    import glob

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((PG_HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """(host, port) of a PostgreSQL server with user postgres and trust auth.

    The one on 127.0.0.1:5432 when it answers; else a private server started here (initdb
    into a temporary folder, pg_ctl start on a free port) and stopped after the session.
    """
    import os
    import pwd
    import subprocess
    import tempfile

    if _listening(PG_HOST, PG_PORT):
        yield PG_HOST, PG_PORT
        return
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("no PostgreSQL server answers at 127.0.0.1:5432 and no initdb/pg_ctl was "
                    "found (/usr/lib/postgresql/*/bin) to start one: install PostgreSQL "
                    "(scripts/setup-venv.sh does, as root on Debian) or start a server there")
    folder = Path(tempfile.mkdtemp(prefix="igcb-pg-"))
    data, log = folder / "data", folder / "server.log"
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use its own system user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, and there is no `postgres` system user to run a "
                        "private PostgreSQL server as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    try:
        subprocess.run([*run_as, initdb, "-D", str(data), "-U", "postgres", "-A", "trust",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, text=True)
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(log), "-w", "start", "-o",
                        f"-p {port} -k {folder} -c listen_addresses={PG_HOST} -c fsync=off"],
                       check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as err:
        tail = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"could not start a private PostgreSQL server ({' '.join(err.cmd[:2])}): "
                    f"{err.stderr}{tail}")
    try:
        yield PG_HOST, port
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty cohort database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/cohort.sqlite"
        return
    import psycopg

    from pg_helpers import scratch_database

    host, port = request.getfixturevalue("postgres_server")
    with ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database(host, port))
        except psycopg.Error as err:
            pytest.fail(f"cannot create a test database on PostgreSQL at {host}:{port} "
                        f"(user postgres, trust auth expected): {err}")
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, one per test module."""
    from browser import chromium  # Playwright is imported only by modules that drive a browser

    with chromium() as running:
        yield running


@pytest.fixture(scope="session")
def shipped_book(tmp_path_factory):
    """Build a shipped plan's book with the real `igcb book --strict`, once per session, all
    plans sharing one execution cache: `shipped_book(plan_id)` -> (finished process, html/).
    The default plan's book is built as `make book` builds it (with the labs that run in the
    browser, the PDF and the zip); the others without those extras, which have tests of their own."""
    import subprocess
    import sys

    from course.plans import DEFAULT_PLAN

    cache = tmp_path_factory.mktemp("jupyter-cache")
    built = {}

    def build(plan_id: str):
        if plan_id not in built:
            out = tmp_path_factory.mktemp(f"book-{plan_id}")
            result = subprocess.run(
                [sys.executable, "-m", "course", "book", "--plan", plan_id, "--out", str(out),
                 "--cache", str(cache), "--strict",
                 *(["--lite"] if plan_id == DEFAULT_PLAN else ["--no-downloads"])],
                text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            built[plan_id] = (result, out / "_build" / "html")
        return built[plan_id]

    return build
