"""The course room as a process: `python -m course.room --db URL [--course-root DIR]`.

JupyterHub starts it as a managed service (see course/hub.py) and passes, in the
environment, the service's prefix (JUPYTERHUB_SERVICE_PREFIX), where to listen
(JUPYTERHUB_SERVICE_URL) and the OAuth settings HubOAuth reads. People log in through the
hub; nobody has a second password.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jupyterhub.services.auth import HubOAuthCallbackHandler
from jupyterhub.utils import url_path_join
from tornado import web
from tornado.httpserver import HTTPServer

from course.cohort import reviewing
from course.cohort.db import Store, StoreError, open_store
from course.cohort.gradebook import close_and_grade, write_tutor_score
from course.cohort.models import ReviewRound, Setting
from course.errors import UserError
from course.layout import Layout
from course.room import (api, book, calendar, discussion, evaluation, feeds, mailer, pages,
                         staff)

HERE = Path(__file__).parent
log = logging.getLogger("igcb.room")
BACKLOG = 2048  # connections waiting to be accepted


@dataclass
class Room:
    """What the handlers share: the store, where the room lives, the course's plan."""

    store: Store
    prefix: str
    course: str = ""
    plan: object = None
    catalogue: dict = field(default_factory=dict)
    course_root: Path | None = None
    templates: Environment = None
    book_root: Path | None = None  # the plan's built book (HTML), served with annotations
    mail: object = None  # mailer.MailConfig when SMTP is configured, else None
    instruments: object = None  # the plan's InstrumentSet, when it has an evaluation file

    def sessions(self) -> list[dict]:
        return calendar.sessions(self.plan, self.catalogue) if self.plan is not None else []

    def sync_gradebook(self, decision: dict) -> str:
        """Write a tutor's score (already committed) into the gradebook; a notice for the page."""
        try:
            with self.store.session() as s:
                return write_tutor_score(s, decision["submission_id"], self.course_root)
        except StoreError as err:  # the score stands; closing the round writes it again
            log.warning("gradebook: %s", err)
            return f"score saved; the gradebook could not be written ({err})"

    def close_round(self, round_id: int, actor: str, force: bool) -> str:
        """Close a round from the coordinator's page, as `igcb reviews close` does."""
        with self.store.session() as s:
            rnd = s.get(ReviewRound, round_id)
            if rnd is None:
                raise reviewing.NotFound("no such round")
            root = self.course_root if self.course_root and self.course_root.is_dir() else None
            try:
                closed = close_and_grade(s, rnd.name, root, actor, force=force)
            except StoreError as err:
                raise reviewing.Refused(str(err)) from None
            return f"round closed: {closed.summary()}"


def _points(value) -> str:
    """A score as people write it: 2, 1.5 (also for a form's text); '' for none."""
    if value is None or value == "":
        return ""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["points"] = _points
    return env


class StaticFiles(web.StaticFileHandler):
    """The room's assets; whatever is not a file in static/ is simply not there (404)."""

    async def get(self, path: str, include_body: bool = True) -> None:
        try:
            await super().get(path, include_body)
        except web.HTTPError as err:  # tornado answers 403 outside static/ and for folders
            if err.status_code != 403:
                raise
            raise web.HTTPError(404) from None
        except ValueError:  # a NUL byte in the path
            raise web.HTTPError(404) from None


def make_app(room: Room, cookie_secret: bytes) -> web.Application:
    prefix = room.prefix
    handlers = [(url_path_join(prefix, pattern), handler)
                for pattern, handler in (pages.HANDLERS + staff.HANDLERS + discussion.HANDLERS
                                              + book.HANDLERS + mailer.HANDLERS + api.HANDLERS
                                              + evaluation.HANDLERS + feeds.HANDLERS)]
    handlers += [
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
        (url_path_join(prefix, "static/(.*)"), StaticFiles, {"path": str(HERE / "static")}),
        # The readings' annotation library, installed into the venv by scripts/setup-venv.sh
        # (annotator_dist logs what to do when it is missing; then this answers 404).
        (url_path_join(prefix, book.VENDOR + "(.*)"), StaticFiles,
         {"path": str(book.annotator_dist() or HERE / "static" / "missing")}),
        (prefix.rstrip("/"), web.RedirectHandler, {"url": prefix}),
    ]
    return web.Application(handlers, room=room, cookie_secret=cookie_secret, xsrf_cookies=True,
                           login_url=url_path_join(prefix, "oauth_start"))


def _cookie_secret(path: Path | None) -> bytes:
    """The secret signing the room's cookies, kept across restarts so nobody is logged out."""
    if path is None:
        return secrets.token_bytes(32)
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    value = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value.hex())
    return value


def build_room(url: str, course_root: Path | None, prefix: str, book_root: Path | None = None,
               environ: dict | None = None) -> Room:
    store = open_store(url, create=False)
    with store.session() as s:
        settings = {x.key: x.value for x in s.query(Setting)}
    room = Room(store=store, prefix=prefix, course=settings.get("course", ""),
                course_root=course_root, templates=templates(), book_root=book_root,
                mail=mailer.config_from_env(os.environ if environ is None else environ))
    if settings.get("plan"):
        from course.evaluation.instruments import instruments_path, load_plan_instruments
        from course.modules import load_catalogue
        from course.plans import find_plan, load_named_plan

        layout = Layout.default()
        path = find_plan(settings["plan"], layout.plans)
        room.plan = load_named_plan(str(path), layout.plans)
        catalogue, _ = load_catalogue(layout.modules)
        room.catalogue = catalogue
        # The plan's tests and surveys, checked against the plan (a broken file stops the room
        # with its problems; a plan without one has no Evaluation forms).
        if instruments_path(path).exists():
            room.instruments = load_plan_instruments(path, room.plan, catalogue)
    return room


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course.room", description=__doc__)
    parser.add_argument("--db", default=os.environ.get("IGCB_DB_URL"), required=not os.environ.get("IGCB_DB_URL"),
                        help="the cohort store's SQLAlchemy URL")
    parser.add_argument("--course-root", type=Path, help="the nbgrader course root (for grades)")
    parser.add_argument("--cookie-secret-file", type=Path, help="kept across restarts")
    parser.add_argument("--book", type=Path, help="the plan's built book (its html folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[room %(asctime)s] %(message)s")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/room/")
    listen = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))
    try:
        room = build_room(args.db, args.course_root, prefix, args.book)
    except (StoreError, UserError, mailer.MailConfigError) as err:
        raise SystemExit(f"room: {err}")
    app = make_app(room, _cookie_secret(args.cookie_secret_file))
    # What start-up loaded (plan, catalogue, templates, libraries) lives as long as the room:
    # kept out of the collector's walks, which otherwise add ~180 ms pauses under load
    # (bench/annotations.py).
    gc.freeze()

    async def serve():
        server = HTTPServer(app, xheaders=True)
        # A whole cohort may connect at once: with Tornado's default backlog (128) the kernel
        # drops the other connections, which retry only after 1 s, 3 s, ... (bench/room.py).
        # Linux caps it at net.core.somaxconn (4096 by default).
        server.listen(listen.port, listen.hostname or "127.0.0.1", backlog=BACKLOG)
        log.info("course room of %s at %s%s", room.course, listen.geturl(), prefix)
        worker = mailer.start(room)  # reminders and digests, sent off the request path
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.stop()
        if worker is not None:
            await worker.stop()
        room.store.close()

    asyncio.run(serve())
