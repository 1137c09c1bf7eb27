"""A participant's personal calendar: the page where they make, see and revoke its secret
address, and the feed at that address (course/cohort/feeds.py holds the rules).

The feed is the one page of the room that needs no hub login, since calendar apps cannot log
in: the secret address is the key. It is read-only, and its token is kept out of the room's
log.
"""

from __future__ import annotations

import datetime as dt

from tornado import web

from course import ical
from course.cohort import feeds
from course.room.base import CSP, PageHandler

FEED_PATH = "calendar/feed/"


class CalendarPage(PageHandler):
    """Make (or replace) and revoke my calendar address. A new address is shown in the answer
    to the form that made it, once: the store keeps only its hash."""

    def _room_url(self) -> str:
        return f"{self.request.protocol}://{self.request.host}{self.room.prefix}"

    def _show(self, feed: dict, token: str | None = None, notice: str | None = None):
        address = f"{self._room_url()}{FEED_PATH}{token}.ics" if token else None
        webcal = "webcal://" + address.split("://", 1)[1] if address else None
        self.render_page("calendar.html", title="My calendar", feed=feed, address=address,
                         webcal=webcal, notice=notice)

    @web.authenticated
    def get(self):
        me = self.require_person()
        with self.transaction() as s:
            status = feeds.feed_status(s, me.id)
        self._show(status, notice=self.get_query_argument("done", None))

    @web.authenticated
    def post(self):
        me = self.require_person()
        action = self.get_body_argument("action", "")
        if action == "new":
            with self.transaction() as s:
                token = feeds.new_feed(s, me.id)
                status = feeds.feed_status(s, me.id)
            return self._show(status, token=token)  # committed above
        if action == "revoke":
            with self.transaction() as s:
                revoked = feeds.revoke_feed(s, me.id)
            return self.redirect(self.url("calendar", done="revoked" if revoked else "none"))
        raise web.HTTPError(400, reason="action must be new or revoke")


class Feed(web.RequestHandler):
    """GET (or HEAD) <room>/calendar/feed/<token>.ics: the owner's calendar, or 404 for any
    path that is not a live address (wrong, revoked, replaced, or its owner withdrawn)."""

    def set_default_headers(self):
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    def _request_summary(self) -> str:
        # The token is a password: the room's log shows the path without it.
        return f"{self.request.method} {self.settings['room'].prefix}{FEED_PATH}[token] " \
               f"({self.request.remote_ip})"

    def get(self, path):
        room = self.settings["room"]
        if not path.endswith(".ics"):
            raise web.HTTPError(404)
        with room.store.session() as s:
            owner = feeds.feed_owner(s, path.removesuffix(".ics"))
            if owner is None:
                raise web.HTTPError(404)
            items = feeds.feed_items(s, owner)
        room_url = f"{self.request.protocol}://{self.request.host}{room.prefix}"
        stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        body = ical.personal_calendar(room.plan, room.course, items["turns"], items["reviews"],
                                      room_url, stamp)
        self.set_header("Content-Type", "text/calendar; charset=utf-8")
        self.set_header("Content-Disposition", 'inline; filename="my-course-calendar.ics"')
        self.finish(body)

    head = get

    def write_error(self, status_code, **kwargs):
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("There is no calendar at this address.\n" if status_code == 404
                    else f"{status_code} {self._reason}\n")


HANDLERS = [
    (r"calendar", CalendarPage),
    (FEED_PATH + r"(.*)", Feed),  # every path under it, so that none is logged
]
