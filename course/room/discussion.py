"""The room's discussion pages: each study group's topic threads, the tutors' overview and
participation export, and the moderation queue. Thin handlers over course/cohort/discussion.py
and course/cohort/moderation.py, which hold every access rule."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import quote

from tornado import web

from course.cohort import discussion, moderation, reviewing
from course.room.base import PageHandler
from course.room.text import render_markdown

LABEL = r"([A-Za-z0-9_.-]{1,32})"  # a study group's or a session's label in a URL
POST_ID = re.compile(r"[0-9]{1,9}")
PROMPT = re.compile(r"[0-9]{1,3}")


def thread_path(group: str, label: str) -> str:
    return f"discussion/{quote(group, safe='')}/{quote(label, safe='')}"


def csv_cell(value):
    """A cell a spreadsheet will not run: text starting like a formula gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r", "\n"):
        return "'" + value
    return value


def _rendered(posts: list[dict]) -> list[dict]:
    for p in posts:
        if not p.get("placeholder"):
            p["html"] = render_markdown(p["body"])
        _rendered(p["children"])
    return posts


def _post_ids(posts: list[dict]) -> set[int]:
    out = set()
    for p in posts:
        if not p.get("placeholder"):
            out.add(p["id"])
        out |= _post_ids(p["children"])
    return out


class DiscussionPage(PageHandler):
    """My group's threads by session; for tutors and the coordinator, their groups' overview."""

    @web.authenticated
    def get(self):
        me = self.require_person()
        plan = self.room.sessions()
        staff = me.role in discussion.STAFF
        with self.transaction() as s:
            overview = discussion.overview(s, me.id, plan) if staff else None
            sessions = None if staff else discussion.threads(s, me.id, plan)
        self.render_page("discussion.html", title="Discussion: my groups" if staff else "Discussion",
                         overview=overview, sessions=sessions, thread_path=thread_path)


class ParticipationCsv(PageHandler):
    """Participation counts of the tutor's (coordinator's: all) groups, as CSV."""

    @web.authenticated
    def get(self):
        me = self.require_person()
        with self.transaction() as s:
            rows = discussion.participation(s, me.id, self.room.sessions())
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(discussion.PARTICIPATION_COLUMNS)
        for row in rows:
            writer.writerow([csv_cell(row[c]) for c in discussion.PARTICIPATION_COLUMNS])
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", 'attachment; filename="participation.csv"')
        self.finish(out.getvalue())


class ThreadPage(PageHandler):
    """One group's thread of one session; every form of the page posts here with an `action`."""

    def _show(self, group, label, status=200, errors=None, failed=None, values=None):
        me = self.me
        with self.transaction() as s:
            view = discussion.thread_view(s, me.id, group, label, self.room.sessions())
        _rendered(view["posts"])
        prompts = view["prompts"]
        chosen = self.get_query_argument("prompt", "1")
        # ASCII digits, at most three: str.isdigit() passes "²" and 5,000 digits, int() refuses both
        chosen = int(chosen) if PROMPT.fullmatch(chosen) and 1 <= int(chosen) <= len(prompts) else 1
        title = (f"Session {view['session']['label']}: {view['session']['title']}"
                 if view["thread"] is None else view["thread"]["title"])
        self.render_page("thread.html", status=status, title=title, v=view, errors=errors or {},
                         failed=failed, values=values or {}, chosen=chosen,
                         here=thread_path(group, label),
                         done=self.get_query_argument("done", None) if status == 200 else None)

    @web.authenticated
    def get(self, group, label):
        self.require_person()
        self._show(group, label)

    @web.authenticated
    def post(self, group, label):
        me = self.require_person()
        plan = self.room.sessions()
        action = self.get_body_argument("action", "")
        arg = lambda name: self.get_body_argument(name, "")  # noqa: E731
        values = {"title": arg("title"), "body": arg("body"), "summary": arg("summary"),
                  "reason": arg("reason")}
        post_id = self._post_id(arg("post_id"))
        failed = f"{action}-{post_id}" if post_id is not None else action
        try:
            with self.transaction() as s:
                discussion.require_access(s, me.id, group, label, plan)
                anchor = self._act(s, me.id, action, group, label, post_id, values, plan)
        except reviewing.Invalid as err:
            return self._show(group, label, 400, err.errors, failed, values)
        self.redirect(self.url(thread_path(group, label), done=action) + anchor)

    @staticmethod
    def _post_id(value: str) -> int | None:
        if not value:
            return None
        if not POST_ID.fullmatch(value):
            raise reviewing.NotFound("no such post")
        return int(value)

    def _act(self, s, me, action, group, label, post_id, values, plan) -> str:
        """Do what the form asks; the anchor of the page to go back to."""
        if action == "open":
            made = discussion.open_thread(s, me, group, label, values["title"], values["body"], plan)
            return f"#post-{made['post_id']}"
        if action == "reply":
            made = discussion.reply(s, me, group, label, values["body"], plan, parent_id=post_id)
            return f"#post-{made['post_id']}"
        if action == "close":
            made = discussion.close_thread(s, me, group, label, values["summary"], plan)
            return f"#post-{made['post_id']}"
        if action == "swap":
            discussion.swap_facilitator(s, me, group, label, self.get_body_argument("facilitator_id", ""),
                                        self.get_body_argument("co_facilitator_id", ""), plan)
            return "#rota"
        if action in ("edit", "flag", "hide", "unhide") and post_id is not None:
            # only a post of this very thread that this person can see
            discussion.visible_post(s, me, group, label, post_id, plan)
            if action == "edit":
                discussion.edit_post(s, me, group, label, post_id, values["body"], plan)
            elif action == "flag":
                moderation.flag(s, me, "post", post_id, values["reason"])
            elif action == "hide":
                moderation.hide(s, me, "post", post_id, values["reason"])
            else:
                moderation.unhide(s, me, "post", post_id)
            return f"#post-{post_id}"
        raise web.HTTPError(400, reason="unknown action")


class ModerationPage(PageHandler):
    """The staff's queue: open flags and hidden items in their groups; hide, unhide, keep."""

    def _show(self, status=200, errors=None, failed=None):
        me = self.me
        with self.transaction() as s:
            items = moderation.queue(s, me.id)
        for item in items:
            item["html"] = render_markdown(item["body"])
        self.render_page("moderation.html", status=status, title="Moderation", items=items,
                         errors=errors or {}, failed=failed,
                         done=self.get_query_argument("done", None) if status == 200 else None)

    @web.authenticated
    def get(self):
        self.require_person()
        self._show()

    @web.authenticated
    def post(self):
        me = self.require_person()
        kind, item_id = self.get_body_argument("kind", ""), self.get_body_argument("item_id", "")
        action = self.get_body_argument("action", "")
        if kind not in moderation.KINDS:
            raise reviewing.NotFound("no such item")
        try:
            with self.transaction() as s:
                discussion.staff_groups(s, me.id)  # staff only, whatever the item
                if action == "hide":
                    moderation.hide(s, me.id, kind, item_id, self.get_body_argument("reason", ""))
                elif action == "unhide":
                    moderation.unhide(s, me.id, kind, item_id)
                elif action == "keep":
                    moderation.keep(s, me.id, kind, item_id)
                else:
                    raise web.HTTPError(400, reason="unknown action")
        except reviewing.Invalid as err:
            return self._show(400, err.errors, f"{kind}-{item_id}")
        self.redirect(self.url("moderation", done=action))


HANDLERS = [
    (r"discussion", DiscussionPage),
    (r"discussion/participation\.csv", ParticipationCsv),
    (rf"discussion/{LABEL}/{LABEL}", ThreadPage),
    (r"moderation", ModerationPage),
]
