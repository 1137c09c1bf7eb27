"""The room's evaluation pages: the course's tests and surveys, consent, the alumni register,
and the coordinator's counts. Thin handlers over course/cohort/evaluation.py, which holds
every rule (who may answer what, when, and what a withdrawal deletes)."""

from __future__ import annotations

from tornado import web

from course.cohort import evaluation, reviewing
from course.cohort.models import utcnow
from course.room.base import PageHandler

INSTRUMENT = r"([a-z0-9-]{1,64})"
OCCASION = r"(pre|post|followup)"
WHEN = {"pre": "before the course", "post": "at the end of the course", "followup": "follow-up"}


def form_answers(handler, questions: list[dict]) -> dict:
    """The form's answers by question id (fields q-<id>); what was left empty is left out."""
    out = {}
    for q in questions:
        name = f"q-{q['id']}"
        if q["type"] == "multi":
            value = [v for v in handler.get_body_arguments(name) if v]
        else:
            value = handler.get_body_argument(name, "")
        if value not in ("", []):
            out[q["id"]] = value
    return out


def form_path(instrument: str, occasion: str) -> str:
    return f"evaluation/{instrument}/{occasion}"


def plan_topics(room) -> list[str]:
    """The topics of the plan's modules, for the alumni register."""
    if room.plan is None:
        return []
    return sorted({t for m in room.plan.module_ids if m in room.catalogue
                   for t in room.catalogue[m].module.topics})


class EvaluationPage(PageHandler):
    """What is open for me, with dates and state; the consent, given or withdrawn here."""

    @web.authenticated
    def get(self):
        me = self.require_person()
        room = self.room
        occasions, consent, withdrawn = [], False, False
        if me.role == "participant" and room.instruments is not None:
            with self.transaction() as s:
                occasions = evaluation.my_occasions(s, me.id, room.instruments, room.plan, room.catalogue)
                consent = evaluation.has_consent(s, me.id, "evaluation")
                withdrawn = evaluation.withdrawn(s, me.id)
        self.render_page("evaluation.html", title="Tests and surveys", instruments=room.instruments,
                         occasions=occasions, consent=consent, withdrawn=withdrawn, form_path=form_path,
                         done=self.get_query_argument("done", None))


class ConsentPage(PageHandler):
    """Give the evaluation consent (the plan's text), then back to where it was asked for."""

    @web.authenticated
    def post(self):
        me = self.require_person()
        if self.room.instruments is None:
            raise reviewing.NotFound("no instruments")
        with self.transaction() as s:
            evaluation.give_consent(s, me.id, "evaluation", self.room.instruments.consent)
        back = self.get_body_argument("next", "")
        target = back if _a_form_path(self.room, back) else "evaluation"
        self.redirect(self.url(target, **({} if target != "evaluation" else {"done": "consent"})))


def _a_form_path(room, path: str) -> bool:
    """Whether `path` is one of this course's forms (nothing else is a place to go back to)."""
    if room.instruments is None:
        return False
    return any(path == form_path(i.id, o) for i in room.instruments.instruments for o in i.occasions)


class WithdrawPage(PageHandler):
    """Asks for confirmation, says what is deleted; then withdraws."""

    def _show(self, status=200, errors=None):
        me = self.me
        with self.transaction() as s:
            answers = evaluation.my_answers(s, me.id)
            entry = evaluation.my_alumni_entry(s, me.id) is not None
        self.render_page("evaluation_withdraw.html", status=status, title="Withdraw from the evaluation",
                         answers=answers, entry=entry, errors=errors or {})

    @web.authenticated
    def get(self):
        self.require_person()
        self._show()

    @web.authenticated
    def post(self):
        me = self.require_person()
        with self.transaction() as s:
            evaluation.participant(s, me.id)
        if self.get_body_argument("confirm", "") != "yes":
            return self._show(400, {"confirm": "tick the box to confirm that you withdraw"})
        with self.transaction() as s:
            evaluation.withdraw(s, me.id)
        self.redirect(self.url("evaluation", done="withdrawn"))


class AnswerPage(PageHandler):
    """One instrument on one occasion: the form, or the answer read-only once submitted."""

    def _show(self, view, status=200, errors=None, values=None, saved=None):
        title = f"{view['title']}, {WHEN[view['occasion']]}"
        self.render_page("evaluation_form.html", status=status, title=title, v=view, errors=errors or {}, values=view["answers"] if values is None else values,
                         saved=saved, here=form_path(view["instrument"], view["occasion"]),
                         consent_text=self.room.instruments.consent)

    def _view(self, instrument, occasion):
        room = self.room
        with self.transaction() as s:
            return evaluation.answer_form(s, self.me.id, room.instruments, room.plan, room.catalogue,
                                          instrument, occasion)

    @web.authenticated
    def get(self, instrument, occasion):
        self.require_person()
        self._show(self._view(instrument, occasion), saved=self.get_query_argument("saved", None))

    @web.authenticated
    def post(self, instrument, occasion):
        me = self.require_person()
        room = self.room
        view = self._view(instrument, occasion)
        answers = form_answers(self, view["questions"])
        submit = self.get_body_argument("action", "draft") == "submit"
        with self.transaction() as s:
            row, errors = evaluation.save_answer(s, me.id, room.instruments, room.plan, room.catalogue,
                                                 instrument, occasion, answers, submit)
        if errors:
            return self._show(view, 400, errors, answers)
        # Committed above: the redirect is the acknowledgement.
        self.redirect(self.url(form_path(instrument, occasion), saved=row.state))


class StatusPage(PageHandler):
    """The coordinator's counts per instrument and occasion: answered, drafts, not started."""

    @web.authenticated
    def get(self):
        me = self.require_person()
        room = self.room
        with self.transaction() as s:
            rows = evaluation.status_counts(s, me.id, room.instruments, room.plan)
        self.render_page("evaluation_status.html", title="Evaluation: answers so far", rows=rows,
                         instruments=room.instruments)


class AlumniPage(PageHandler):
    """Opt into the alumni register at the end of the course, change one's entry, or leave."""

    def _show(self, status=200, errors=None, values=None):
        me = self.me
        room = self.room
        opens = evaluation.alumni_opens(room.plan) if room.plan is not None else None
        entry = None
        if me.role == "participant":
            with self.transaction() as s:
                entry = evaluation.my_alumni_entry(s, me.id)
        if values is None:
            values = dict(entry or {}, topics=(entry or {}).get("topics", "").split(";")) if entry else {
                "organisation": me.organisation, "country": me.country,
                "stakeholder_group": me.stakeholder_group, "topics": []}
        self.render_page("alumni.html", status=status, title="Alumni register", entry=entry,
                         instruments=room.instruments, opens=opens,
                         is_open=opens is not None and utcnow().date() >= opens,
                         topics=plan_topics(room), groups=evaluation.STAKEHOLDER_GROUPS,
                         values=values, errors=errors or {},
                         done=self.get_query_argument("done", None) if status == 200 else None)

    @web.authenticated
    def get(self):
        self.require_person()
        self._show()

    @web.authenticated
    def post(self):
        me = self.require_person()
        room = self.room
        if room.instruments is None or room.plan is None:
            raise reviewing.NotFound("no alumni register")
        if self.get_body_argument("action", "") == "leave":
            with self.transaction() as s:
                evaluation.leave_alumni(s, me.id)
            return self.redirect(self.url("alumni", done="left"))
        arg = lambda name: self.get_body_argument(name, "")  # noqa: E731
        values = {"role": arg("role"), "organisation": arg("organisation"), "country": arg("country"),
                  "stakeholder_group": arg("stakeholder_group"),
                  "topics": [t for t in self.get_body_arguments("topics") if t],
                  **{f: arg(f) == "yes" for f in evaluation.ALUMNI_FLAGS}}
        errors = {} if arg("consent") == "yes" else {"consent": "tick the box to give your consent"}
        try:
            evaluation.check_alumni_fields(values, plan_topics(room))
        except reviewing.Invalid as err:
            errors.update(err.errors)
        try:
            with self.transaction() as s:
                evaluation.participant(s, me.id)  # a tutor's form is refused before its errors
                if errors:
                    raise reviewing.Invalid(errors)
                evaluation.join_alumni(s, me.id, values, room.instruments.alumni_consent,
                                       known_topics=plan_topics(room), plan=room.plan)
        except reviewing.Invalid as err:
            return self._show(400, err.errors, values)
        self.redirect(self.url("alumni", done="joined"))


HANDLERS = [
    (r"evaluation", EvaluationPage),
    (r"evaluation/consent", ConsentPage),
    (r"evaluation/withdraw", WithdrawPage),
    (r"evaluation/status", StatusPage),
    (rf"evaluation/{INSTRUMENT}/{OCCASION}", AnswerPage),
    (r"alumni", AlumniPage),
]
