"""What every room handler shares: who is asking, the store, templates, errors, security headers."""

from __future__ import annotations

import gzip
import json
from contextlib import contextmanager
from urllib.parse import urlencode, urlsplit

from jupyterhub.services.auth import HubOAuthenticated
from tornado import web

from course.cohort import reviewing
from course.cohort.models import Person

# No script may run in a room page: participants' text is shown there.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


MAX_JSON = 256 * 1024  # bytes of one JSON request body


def json_object(raw: bytes | None) -> dict:
    """A request's JSON body, which must be an object; HTTP 400 or 413 otherwise."""
    if len(raw or b"") > MAX_JSON:
        raise web.HTTPError(413, reason=f"the body is larger than {MAX_JSON // 1024} KiB")
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPError(400, reason="the body must be JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPError(400, reason="the body must be a JSON object")
    return data


class RoomHandler(HubOAuthenticated, web.RequestHandler):
    """A page of the room: the hub user, their Person in the store, and rendering."""

    me: Person | None = None

    @property
    def room(self):
        return self.settings["room"]

    @property
    def store(self):
        return self.room.store

    def set_default_headers(self):
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self):
        # A browser says where a form comes from: nothing sent from another site changes
        # anything here, even with a valid _xsrf token (then checked as the hub does).
        origin = self.request.headers.get("Origin")
        if (self.request.headers.get("Sec-Fetch-Site") == "cross-site"
                or (origin is not None and urlsplit(origin).netloc != self.request.host)):
            raise web.HTTPError(403, "cross-site request")
        super().check_xsrf_cookie()

    async def prepare(self):
        # Resolve the hub user without blocking the event loop (cached for get_current_user).
        model = await self.hub_auth.get_user(self, sync=False)
        if model:
            with self.store.session() as session:
                self.me = reviewing.person(session, model["name"])
                if self.me is not None:
                    session.expunge(self.me)

    def require_person(self) -> Person:
        if self.current_user is None:
            raise web.HTTPError(403)
        if self.me is None:
            raise web.HTTPError(403, reason="not on this course's roster")
        return self.me

    @contextmanager
    def transaction(self):
        """A store transaction, committed before the room answers."""
        with self.store.session() as session:
            yield session

    def url(self, path: str = "", **query) -> str:
        url = self.room.prefix + path
        return f"{url}?{urlencode(query)}" if query else url

    def render_page(self, template: str, status: int = 200, **context) -> None:
        self.set_status(status)
        page = self.room.templates.get_template(template).render(
            me=self.me, url=self.url, xsrf=self.xsrf_token.decode("ascii"), course=self.room.course,
            **context)
        self.finish(page)

    def write_error(self, status_code, **kwargs):
        reason = self._reason if status_code != 500 else "Something went wrong"
        messages = {403: "You may not see this page.", 404: "There is no such page here.",
                    405: "That is not something this page does."}
        try:
            self.render_page("error.html", status=status_code, title=f"{status_code} {reason}",
                             message=messages.get(status_code, reason))
        except Exception:
            self.finish(f"{status_code} {reason}")


class PageHandler(RoomHandler):
    """A page for a logged-in person on the roster; the store's refusals become HTTP answers."""

    def _handle_request_exception(self, e):
        if isinstance(e, reviewing.NotFound):
            e = web.HTTPError(404)
        elif isinstance(e, reviewing.Refused):
            self.render_page("error.html", status=409, title="Not now", message=str(e))
            return
        elif isinstance(e, reviewing.Invalid):  # a form without a page of its own to redisplay
            self.render_page("error.html", status=400, title="Please check", message=str(e))
            return
        super()._handle_request_exception(e)


class JsonHandler(RoomHandler):
    """Answers in JSON: the body read as an object, the store's refusals as {"error", "status"}."""

    def set_default_headers(self):
        super().set_default_headers()
        self.set_header("Content-Type", "application/json; charset=utf-8")

    def body(self) -> dict:
        return json_object(self.request.body)

    def send(self, data, status: int = 200) -> None:
        self.set_status(status)
        payload = json.dumps(data, separators=(",", ":"), default=str).encode("utf-8")
        # A reading's 2,000 annotations are ~1 MB of JSON and ~10 times less compressed.
        if len(payload) > 8192 and "gzip" in self.request.headers.get("Accept-Encoding", ""):
            payload = gzip.compress(payload, compresslevel=5)
            self.set_header("Content-Encoding", "gzip")
            self.set_header("Vary", "Accept-Encoding")
        self.finish(payload)

    def write_error(self, status_code, **kwargs):
        self.finish(json.dumps({"error": self._reason, "status": status_code}))

    def _handle_request_exception(self, e):
        if isinstance(e, reviewing.NotFound):
            return self.send({"error": "not found", "status": 404}, 404)
        if isinstance(e, reviewing.Refused):
            return self.send({"error": str(e), "status": 409}, 409)
        if isinstance(e, reviewing.Invalid):
            return self.send({"error": "invalid", "fields": e.errors, "status": 400}, 400)
        super()._handle_request_exception(e)


class ApiHandler(JsonHandler):
    """JSON under api/: hub API tokens only, so no cookie (and no cross-site form) can act here."""

    def check_xsrf_cookie(self):
        return  # cookies are not accepted here at all (see prepare)

    async def prepare(self):
        await super().prepare()
        if not getattr(self, "_token_authenticated", False):
            raise web.HTTPError(401, reason="send a hub API token: Authorization: token <token>")
        if self.me is None:
            raise web.HTTPError(403, reason="not on this course's roster")

    def get_login_url(self):
        raise web.HTTPError(401)
