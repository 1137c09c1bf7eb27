"""The room's pages for tutors (groups, escalation queue, calibration) and the coordinator."""

from __future__ import annotations

import re

from tornado import web

from course.cohort import mail, reviewing
from course.room.base import PageHandler
from course.room.pages import form_scores
from course.room.text import render_markdown


class TutorPage(PageHandler):
    @web.authenticated
    def get(self):
        me = self.require_person()
        with self.transaction() as s:
            groups = reviewing.tutor_groups(s, me.id)
            waiting = reviewing.queue(s, me.id)
            rounds = reviewing.rounds(s, me.id)
        self.render_page("tutor.html", title="Tutor", groups=groups, queue=waiting, rounds=rounds)


class SubmissionPage(PageHandler):
    def _show(self, view, status=200, errors=None, values=None, notice=None):
        self.render_page("submission.html", status=status, title=f"Submission {view['submission_id']}",
                         sub=view, text_html=render_markdown(view["text"]), errors=errors or {},
                         values=values or {}, notice=notice)

    @web.authenticated
    def get(self, submission_id):
        me = self.require_person()
        with self.transaction() as s:
            view = reviewing.submission_for_tutor(s, me.id, int(submission_id))
        self._show(view, notice=self.get_query_argument("notice", None))

    @web.authenticated
    def post(self, submission_id):
        me = self.require_person()
        score, note = self.get_body_argument("score", ""), self.get_body_argument("note", "")
        try:
            with self.transaction() as s:
                result = reviewing.set_score(s, me.id, int(submission_id), score, note)
        except reviewing.Invalid as err:
            with self.transaction() as s:
                view = reviewing.submission_for_tutor(s, me.id, int(submission_id))
            return self._show(view, 400, err.errors, {"score": score, "note": note})
        notice = self.room.sync_gradebook(result)
        self.redirect(self.url(f"tutor/submission/{int(submission_id)}", notice=notice))


class FlagDecisionPage(PageHandler):
    @web.authenticated
    def post(self, code):
        me = self.require_person()
        uphold = self.get_body_argument("decision", "") == "uphold"
        with self.transaction() as s:
            reviewing.decide_flag(s, me.id, code, uphold)
            submission_id = reviewing.flagged_submission(s, code)
        self.redirect(self.url(f"tutor/submission/{submission_id}",
                               notice="flag upheld: the review no longer counts" if uphold else "flag dismissed"))


class TutorCalibrationPage(PageHandler):
    def _show(self, round_id, status=200, errors=None):
        me = self.me
        with self.transaction() as s:
            samples = reviewing.samples_for_tutor(s, me.id, round_id)
            rnd = reviewing.round_info(s, me.id, round_id)
        for sample in samples:
            sample["html"] = render_markdown(sample["text"])
        self.render_page("tutor_calibration.html", status=status, title=f"Calibration: {rnd['name']}",
                         rnd=rnd, samples=samples, errors=errors or {})

    @web.authenticated
    def get(self, round_id):
        self.require_person()
        self._show(int(round_id))

    @web.authenticated
    def post(self, round_id):
        me = self.require_person()
        given = self.get_body_argument("sample_id", "")
        sample_id = int(given) if re.fullmatch(r"[0-9]{1,9}", given) else 0  # 0: no such sample
        with self.transaction() as s:
            rnd = reviewing.round_info(s, me.id, int(round_id))
        scores, _ = form_scores(self, rnd["rubric"])
        try:
            with self.transaction() as s:
                reviewing.score_sample(s, me.id, sample_id, scores, round_id=int(round_id))
        except reviewing.Invalid as err:
            return self._show(int(round_id), 400, {sample_id: err.errors})
        self.redirect(self.url(f"tutor/calibration/{int(round_id)}") + f"#sample-{sample_id}")


class CoordinatorPage(PageHandler):
    @web.authenticated
    def get(self):
        me = self.require_person()
        with self.transaction() as s:
            reviewing.require_coordinator(s, me.id)
            rounds = reviewing.rounds(s, me.id)
            outbox = mail.outbox_counts(s)
        self.render_page("coordinator.html", title="Coordinator", rounds=rounds, outbox=outbox)


class RoundPage(PageHandler):
    @web.authenticated
    def get(self, round_id):
        me = self.require_person()
        with self.transaction() as s:
            view = reviewing.progress(s, me.id, int(round_id))
        self.render_page("round.html", title=f"Round {view['round']['name']}", p=view,
                         notice=self.get_query_argument("notice", None))


class ReassignPage(PageHandler):
    @web.authenticated
    def post(self, round_id):
        me = self.require_person()
        reviewer = self.get_body_argument("reviewer_id", "")
        with self.transaction() as s:
            result = reviewing.reassign_late(s, me.id, int(round_id), reviewer)
        notice = f"{len(result['moved'])} task(s) of {reviewer} reassigned"
        if result["kept"]:
            notice += f"; {len(result['kept'])} kept (nobody who finished can take them)"
        self.redirect(self.url(f"coordinator/round/{int(round_id)}", notice=notice))


class CloseRoundPage(PageHandler):
    @web.authenticated
    def post(self, round_id):
        me = self.require_person()
        force = self.get_body_argument("force", "") == "yes"
        with self.transaction() as s:
            reviewing.require_coordinator(s, me.id)
        notice = self.room.close_round(int(round_id), me.id, force)
        self.redirect(self.url(f"coordinator/round/{int(round_id)}", notice=notice))


HANDLERS = [
    (r"tutor", TutorPage),
    (r"tutor/submission/(\d{1,9})", SubmissionPage),
    (r"tutor/flag/([A-Za-z0-9-]{1,20})", FlagDecisionPage),
    (r"tutor/calibration/(\d{1,9})", TutorCalibrationPage),
    (r"coordinator", CoordinatorPage),
    (r"coordinator/round/(\d{1,9})", RoundPage),
    (r"coordinator/round/(\d{1,9})/reassign", ReassignPage),
    (r"coordinator/round/(\d{1,9})/close", CloseRoundPage),
]
