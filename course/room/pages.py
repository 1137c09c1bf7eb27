"""The room's pages for participants: home, review tasks, calibration, feedback."""

from __future__ import annotations

import datetime as dt

from tornado import web

from course.cohort import reviewing
from course.room import calendar
from course.room.base import PageHandler
from course.room.text import render_markdown


def form_scores(handler, rubric: dict) -> tuple[dict, dict]:
    """The rubric form's fields: score-<criterion> and comment-<criterion>."""
    scores, comments = {}, {}
    for c in rubric["criteria"]:
        scores[c["id"]] = handler.get_body_argument(f"score-{c['id']}", "")
        comments[c["id"]] = handler.get_body_argument(f"comment-{c['id']}", "")
    return scores, comments


class HomePage(PageHandler):
    @web.authenticated
    def get(self):
        me = self.require_person()
        sessions = self.room.sessions()
        today = dt.date.today()
        this = calendar.current(sessions, today)
        with self.transaction() as s:
            group = reviewing.my_group(s, me.id)
            turns = reviewing.my_turns(s, me.id)
            rota = reviewing.facilitators(s, group["label"]) if group else {}
            tasks = reviewing.review_tasks(s, me.id) if me.role == "participant" else []
        titles = {x["label"]: x for x in sessions}
        for turn in turns:
            turn["title"] = titles.get(turn["session"], {}).get("title", "")
            turn["first"] = titles.get(turn["session"], {}).get("first")
        facilitating = bool(this and any(t["session"] == this["label"] for t in turns))
        deadlines = [d for x in sessions for d in x["deadlines"] if d["date"] >= today]
        deadlines += [{"title": f"Peer reviews: {r['round']['name']}", "assignment": None,
                       "date": r["round"]["due"][:10]} for r in tasks if r["round"]["due"]]
        self.render_page("home.html", title="My course", group=group, this=this, rota=rota,
                         turns=turns, facilitating=facilitating, deadlines=deadlines,
                         next_turns=[t for t in turns if t["first"] and t["first"] >= today])


class ReviewsPage(PageHandler):
    @web.authenticated
    def get(self):
        me = self.require_person()
        with self.transaction() as s:
            rounds = reviewing.review_tasks(s, me.id)
        self.render_page("reviews.html", title="Review tasks", rounds=rounds)


class CalibrationPage(PageHandler):
    def _show(self, view, status=200, errors=None, values=None):
        self.render_page("calibration.html", status=status, title="Calibration sample",
                         sample=view, text_html=render_markdown(view["text"]),
                         errors=errors or {}, values=values or {})

    @web.authenticated
    def get(self, sample_id):
        me = self.require_person()
        with self.transaction() as s:
            view = reviewing.get_sample(s, me.id, int(sample_id))
        self._show(view)

    @web.authenticated
    def post(self, sample_id):
        me = self.require_person()
        with self.transaction() as s:
            view = reviewing.get_sample(s, me.id, int(sample_id))
        scores, _ = form_scores(self, view["rubric"])
        try:
            with self.transaction() as s:
                reviewing.answer_sample(s, me.id, int(sample_id), scores)
        except reviewing.Invalid as err:
            return self._show(view, 400, err.errors, {"scores": scores})
        self.redirect(self.url(f"reviews/calibration/{int(sample_id)}"))


class TaskPage(PageHandler):
    def _show(self, task, status=200, errors=None, saved=None, values=None):
        values = values or {"scores": {k: v["score"] for k, v in task["items"].items()},
                            "comments": {k: v["comment"] for k, v in task["items"].items()}}
        self.render_page("task.html", status=status, title=f"Review {task['review_code']}",
                         task=task, text_html=render_markdown(task["text"]),
                         errors=errors or {}, saved=saved, values=values)

    @web.authenticated
    def get(self, code):
        me = self.require_person()
        with self.transaction() as s:
            task = reviewing.get_task(s, me.id, code)
        self._show(task, saved=self.get_query_argument("saved", None))

    @web.authenticated
    def post(self, code):
        me = self.require_person()
        with self.transaction() as s:
            task = reviewing.get_task(s, me.id, code)
        scores, comments = form_scores(self, task["rubric"])
        submit = self.get_body_argument("action", "draft") == "submit"
        try:
            with self.transaction() as s:
                result = reviewing.save_review(s, me.id, code, scores, comments, submit)
        except reviewing.Invalid as err:
            return self._show(task, 400, err.errors, values={"scores": scores, "comments": comments})
        # Committed above: the redirect is the acknowledgement.
        self.redirect(self.url(f"reviews/task/{code}", saved=result["state"]))


class FeedbackPage(PageHandler):
    @web.authenticated
    def get(self):
        me = self.require_person()
        with self.transaction() as s:
            rounds = reviewing.received(s, me.id)
        self.render_page("feedback.html", title="Feedback on my work", rounds=rounds,
                         done=self.get_query_argument("done", None))


class RatePage(PageHandler):
    @web.authenticated
    def post(self, code):
        me = self.require_person()
        helpful = self.get_body_argument("helpful", "") == "yes"
        with self.transaction() as s:
            reviewing.rate_review(s, me.id, code, helpful)
        self.redirect(self.url("feedback", done="rated") + f"#{code}")


class FlagPage(PageHandler):
    @web.authenticated
    def post(self, code):
        me = self.require_person()
        try:
            with self.transaction() as s:
                reviewing.flag_review(s, me.id, code, self.get_body_argument("reason", ""))
        except reviewing.Invalid as err:
            with self.transaction() as s:
                rounds = reviewing.received(s, me.id)
            return self.render_page("feedback.html", status=400, title="Feedback on my work",
                                    rounds=rounds, flag_errors={code: err.errors["reason"]})
        self.redirect(self.url("feedback", done="flagged") + f"#{code}")


HANDLERS = [
    (r"", HomePage),
    (r"reviews", ReviewsPage),
    (r"reviews/calibration/(\d{1,9})", CalibrationPage),
    (r"reviews/task/([A-Za-z0-9-]{1,20})", TaskPage),
    (r"feedback", FeedbackPage),
    (r"feedback/([A-Za-z0-9-]{1,20})/rate", RatePage),
    (r"feedback/([A-Za-z0-9-]{1,20})/flag", FlagPage),
]
