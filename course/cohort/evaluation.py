"""The course's tests and surveys, consent and the alumni register, as store operations.

Participants answer the plan's instruments (course/evaluation/instruments.py) in the room:
one answer per person, instrument and occasion, a draft until submitted, then final, and only
while the occasion's window is open. Answering needs the person's evaluation consent; a
knowledge test is scored on submit and its key never leaves the server. Withdrawing deletes
the person's answers and register entry and marks their consents withdrawn, so that no later
report counts them. Like course/cohort/reviewing.py, each function takes the session and plain
data and returns plain data; every change is audited (without the answers themselves, which a
withdrawal must be able to remove).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from course.cohort import reviewing
from course.cohort.db import StoreError, audit
from course.cohort.models import (CONSENT_KINDS, AlumniEntry, Consent, EvaluationAnswer, Person,
                                  utcnow)
from course.evaluation.instruments import (check_answers, normalise_answers, questions,
                                           score_knowledge, window)
from peer_review.roster import STAKEHOLDER_GROUPS, normalise_country, normalise_stakeholder

ALUMNI_FLAGS = ("will_mentor", "will_host_intern", "will_teach")
ALUMNI_TEXT = {"role": 200, "organisation": 200}
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_TOPICS = 400  # characters of the register's ";"-separated topics


class Refusal(StoreError, reviewing.Refused):
    """The change is not allowed now: the window is closed, the answer is final, no consent."""


class NotYours(StoreError, reviewing.NotFound):
    """Not a participant, or no such instrument or occasion (the room answers 404)."""


# --- who and what ---------------------------------------------------------------------------

def _person_id(person: Person | str) -> str:
    return person if isinstance(person, str) else person.id


def participant(session: Session, person: Person | str) -> Person:
    """The active participant of that id; NotYours for tutors, the coordinator and strangers."""
    found = reviewing.person(session, _person_id(person))
    if found is None or found.role != "participant":
        raise NotYours("only the course's participants answer its tests and surveys")
    return found


def find_instrument(instruments, instrument_id: str, occasion: str):
    """The instrument taken on that occasion; NotYours when there is none."""
    if instruments is None:
        raise NotYours("this course has no tests or surveys")
    try:
        found = instruments.instrument(instrument_id)
    except KeyError:
        raise NotYours(f"no instrument {instrument_id!r}") from None
    if occasion not in found.occasions:
        raise NotYours(f"{instrument_id} has no occasion {occasion!r}")
    return found


def _state(now: datetime, opens: datetime, closes: datetime) -> str:
    return "upcoming" if now < opens else "closed" if now > closes else "open"


def alumni_opens(plan) -> date:
    """The alumni register opens on the first day of the plan's last session."""
    last = max(plan.sessions, key=lambda s: s.dates(plan.start)[1])
    return last.dates(plan.start)[0]


def _post_closes(instrument, plan) -> datetime | None:
    return window(instrument, "post", plan)[1] if "post" in instrument.occasions else None


def score_visible(instrument, plan, now: datetime) -> bool:
    """A knowledge score is shown once the post-test has closed, never before: until then a
    score (or which items were right) would let a participant pass the key to others."""
    if instrument.kind != "knowledge_test":
        return False
    closes = _post_closes(instrument, plan)
    return closes is not None and now > closes


def _question_view(q) -> dict:
    """What a form shows of a question: never a knowledge item's key."""
    return {"id": q.id, "type": q.type.value, "text": q.text, "options": list(q.options or []),
            "required": bool(q.required), "min": getattr(q, "min", None),
            "max": getattr(q, "max", None), "help": getattr(q, "help", None) or "",
            "module": getattr(q, "module", None) or ""}


def _answer_state(row: EvaluationAnswer | None) -> str:
    return row.state if row is not None else "not started"


# --- reading --------------------------------------------------------------------------------

def my_occasions(session: Session, person: Person | str, instruments, plan, catalogue,
                 now: datetime | None = None) -> list[dict]:
    """Every instrument and occasion of the plan for this participant, in the order of the
    instruments file: title, window, whether it is open, and the state of their answer."""
    now = now or utcnow()
    me = participant(session, person)
    if instruments is None:
        return []
    rows = {(a.instrument, a.occasion): a for a in session.scalars(
        select(EvaluationAnswer).where(EvaluationAnswer.person_id == me.id))}
    out = []
    for instrument in instruments.instruments:
        for occasion in instrument.occasions:
            opens, closes = window(instrument, occasion, plan)
            row = rows.get((instrument.id, occasion))
            shown = row is not None and row.state == "submitted" and score_visible(instrument, plan, now)
            out.append({"instrument": instrument.id, "title": instrument.title,
                        "kind": instrument.kind.value, "occasion": occasion, "opens": opens, "closes": closes,
                        "window": _state(now, opens, closes), "state": _answer_state(row),
                        "score": row.score if shown else None})
    return out


def open_occasions(session: Session, person: Person | str, instruments, plan, catalogue,
                   now: datetime | None = None) -> list[dict]:
    """What the participant can answer now: open windows whose answer is not yet submitted."""
    return [x for x in my_occasions(session, person, instruments, plan, catalogue, now)
            if x["window"] == "open" and x["state"] != "submitted"]


def my_answers(session: Session, person: Person | str) -> list[dict]:
    """The participant's stored answers (what a withdrawal deletes): instrument, occasion, state."""
    me = participant(session, person)
    return [{"instrument": a.instrument, "occasion": a.occasion, "state": a.state}
            for a in session.scalars(select(EvaluationAnswer).where(EvaluationAnswer.person_id == me.id)
                                     .order_by(EvaluationAnswer.id))]


def get_answer(session: Session, person_id: str, instrument_id: str,
               occasion: str) -> EvaluationAnswer | None:
    return session.scalar(select(EvaluationAnswer).where(
        EvaluationAnswer.person_id == person_id, EvaluationAnswer.instrument == instrument_id,
        EvaluationAnswer.occasion == occasion))


def answer_form(session: Session, person: Person | str, instruments, plan, catalogue,
                instrument_id: str, occasion: str, now: datetime | None = None) -> dict:
    """One form for one participant: its questions (no key), their answer so far, whether they
    may still change it, and the knowledge score when it may be shown."""
    now = now or utcnow()
    me = participant(session, person)
    instrument = find_instrument(instruments, instrument_id, occasion)
    opens, closes = window(instrument, occasion, plan)
    row = get_answer(session, me.id, instrument.id, occasion)
    state = _answer_state(row)
    items = questions(instrument, plan, catalogue)
    shown = state == "submitted" and score_visible(instrument, plan, now)
    return {"instrument": instrument.id, "title": instrument.title, "kind": instrument.kind.value,
            "intro": getattr(instrument, "intro", None) or "", "occasion": occasion,
            "opens": opens, "closes": closes, "window": _state(now, opens, closes),
            "state": state, "answers": dict(row.answers or {}) if row else {},
            "editable": state != "submitted" and _state(now, opens, closes) == "open",
            "questions": [_question_view(q) for q in items],
            "consent": has_consent(session, me.id, "evaluation"),
            "score": row.score if shown else None,
            "correct": sum((row.item_scores or {}).values()) if shown else None,
            "submitted_at": row.submitted_at if row else None,
            "score_shown_after": (_post_closes(instrument, plan)
                                  if instrument.kind == "knowledge_test" else None)}


# --- answering ------------------------------------------------------------------------------

def save_answer(session: Session, person: Person | str, instruments, plan, catalogue,
                instrument_id: str, occasion: str, answers: dict, submit: bool,
                now: datetime | None = None) -> tuple[EvaluationAnswer | None, dict[str, str]]:
    """Save a draft (partial is fine) or submit (every required question answered); then final.

    Returns (the answer, {}) when saved, or (None, {question id: what is wrong}) saving
    nothing. Refused while the window is not open, once submitted, and without consent.
    """
    now = now or utcnow()
    me = participant(session, person)
    instrument = find_instrument(instruments, instrument_id, occasion)
    opens, closes = window(instrument, occasion, plan)
    state = _state(now, opens, closes)
    if state != "open":
        now_is = "not open yet" if state == "upcoming" else "closed"
        raise Refusal(f"{instrument.title} ({occasion}) is {now_is}: open from "
                      f"{opens:%Y-%m-%d %H:%M} to {closes:%Y-%m-%d %H:%M} UTC")
    if not has_consent(session, me.id, "evaluation"):
        raise Refusal("give your consent to the evaluation first")
    row = session.scalar(select(EvaluationAnswer).where(
        EvaluationAnswer.person_id == me.id, EvaluationAnswer.instrument == instrument.id,
        EvaluationAnswer.occasion == occasion).with_for_update())
    if row is not None and row.state == "submitted":
        raise Refusal("this answer is submitted and final: it can no longer be changed")
    items = questions(instrument, plan, catalogue)
    answers = {k: _clean(v) for k, v in answers.items()}
    errors = check_answers(items, answers, final=submit)
    if errors:
        return None, errors
    values = normalise_answers(items, answers)
    if row is None:
        row = EvaluationAnswer(person_id=me.id, instrument=instrument.id, occasion=occasion,
                               source="room", created_at=now)
        try:
            with session.begin_nested():  # the same form sent twice at once, from two tabs
                session.add(row)
                session.flush()
        except IntegrityError:
            raise Refusal("this answer was just saved from another window: reload the page") from None
    if submit:
        mark_submitted(row, instrument, values, now)
    else:
        row.answers, row.updated_at = values, now
    session.flush()
    audit(session, me.id, "evaluation.submit" if submit else "evaluation.draft",
          f"{instrument.id}/{occasion}", answered=len(values))
    if submit and instrument.kind == "follow_up":
        update_alumni_from_follow_up(session, me.id, instrument, values, now=now)
    return row, {}


def mark_submitted(row: EvaluationAnswer, instrument, values: dict, now: datetime,
                   submitted_at: datetime | None = None) -> None:
    """Make `row` the final answer `values`, scored when the instrument is a knowledge test."""
    row.answers, row.updated_at = values, now
    row.state, row.submitted_at = "submitted", submitted_at or now
    if instrument.kind == "knowledge_test":
        row.item_scores, row.score = score_knowledge(instrument, values)
    else:
        row.item_scores, row.score = None, None


def _clean(value):
    """Text as typed: a browser's CRLF line breaks as LF; NUL dropped (PostgreSQL refuses it)."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\x00", "")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# --- consent and withdrawal -----------------------------------------------------------------

def has_consent(session: Session, person_id: str, kind: str) -> bool:
    found = session.get(Consent, (person_id, kind))
    return found is not None and found.withdrawn_at is None


def withdrawn(session: Session, person_id: str) -> bool:
    """Whether the person withdrew (any consent withdrawn): no report counts them."""
    return session.scalar(select(func.count()).select_from(Consent).where(
        Consent.person_id == person_id, Consent.withdrawn_at.is_not(None))) > 0


def give_consent(session: Session, person_id: str, kind: str, text: str,
                 now: datetime | None = None) -> None:
    """Record the consent text the participant agreed to (again after a withdrawal)."""
    now = now or utcnow()
    me = participant(session, person_id)
    if kind not in CONSENT_KINDS:
        raise NotYours(f"no consent of kind {kind!r}")
    found = session.get(Consent, (me.id, kind))
    if found is None:
        session.add(Consent(person_id=me.id, kind=kind, text=text, given_at=now))
    else:
        found.text, found.given_at, found.withdrawn_at = text, now, None
    if kind == "evaluation":
        # Consenting again ends a withdrawal: the person counts again. Their register entry
        # went with the withdrawal; its withdrawn consent would keep them out of every report.
        session.execute(delete(Consent).where(Consent.person_id == me.id, Consent.kind == "alumni",
                                              Consent.withdrawn_at.is_not(None)))
    audit(session, me.id, "consent.give", kind)


def withdraw(session: Session, person_id: str, now: datetime | None = None) -> dict:
    """Delete the person's answers and register entry; mark their consents withdrawn."""
    now = now or utcnow()
    me = participant(session, person_id)
    answers = session.execute(delete(EvaluationAnswer).where(
        EvaluationAnswer.person_id == me.id)).rowcount
    entry = session.execute(delete(AlumniEntry).where(AlumniEntry.person_id == me.id)).rowcount
    consents = session.scalars(select(Consent).where(Consent.person_id == me.id)).all()
    if not any(c.kind == "evaluation" for c in consents):  # withdrawn even without a consent
        session.add(Consent(person_id=me.id, kind="evaluation", text="", given_at=now, withdrawn_at=now))
    for c in consents:
        c.withdrawn_at = c.withdrawn_at or now
    audit(session, me.id, "consent.withdraw", me.id, answers=answers, alumni=bool(entry))
    return {"answers": answers, "alumni": bool(entry)}


# --- the alumni register --------------------------------------------------------------------

def my_alumni_entry(session: Session, person_id: str) -> dict | None:
    entry = session.get(AlumniEntry, person_id)
    return _entry_view(entry) if entry is not None else None


def _entry_view(entry: AlumniEntry) -> dict:
    return {"role": entry.role, "organisation": entry.organisation, "country": entry.country,
            "stakeholder_group": entry.stakeholder_group, "topics": entry.topics,
            "will_mentor": entry.will_mentor, "will_host_intern": entry.will_host_intern,
            "will_teach": entry.will_teach, "joined_at": entry.joined_at,
            "updated_at": entry.updated_at, "updated_from": entry.updated_from}


def check_alumni_fields(fields: dict, known_topics: list[str] | None = None) -> dict:
    """The register's fields, cleaned; reviewing.Invalid naming each field that is wrong."""
    errors, out = {}, {}
    for name, limit in ALUMNI_TEXT.items():
        text = " ".join(str(fields.get(name) or "").replace("\x00", "").split())
        if not text:
            errors[name] = f"write your current {name}"
        elif len(text) > limit:
            errors[name] = f"at most {limit} characters ({len(text)} now)"
        out[name] = text
    out["country"] = normalise_country(str(fields.get("country") or "")) or ""
    if not out["country"]:
        errors["country"] = "an ISO 3166-1 alpha-2 country code, e.g. KE"
    out["stakeholder_group"] = normalise_stakeholder(str(fields.get("stakeholder_group") or "")) or ""
    if not out["stakeholder_group"]:
        errors["stakeholder_group"] = "one of " + ", ".join(STAKEHOLDER_GROUPS)
    topics = fields.get("topics") or []
    topics = [t.strip() for t in (topics.split(";") if isinstance(topics, str) else topics)]
    topics = list(dict.fromkeys(t for t in topics if t))
    wrong = [t for t in topics if not SLUG.fullmatch(t) or (known_topics is not None and t not in known_topics)]
    if wrong:
        errors["topics"] = f"not a topic of this course: {', '.join(wrong[:3])}"
    elif len(";".join(topics)) > MAX_TOPICS:
        errors["topics"] = "too many topics"
    out["topics"] = ";".join(topics)
    for flag in ALUMNI_FLAGS:
        out[flag] = fields.get(flag) in (True, "yes", "on", "true", "1")
    if errors:
        raise reviewing.Invalid(errors)
    return out


def join_alumni(session: Session, person: Person | str, fields: dict, consent_text: str, *,
                known_topics: list[str] | None = None, plan=None,
                now: datetime | None = None) -> dict:
    """Opt into the alumni register (or change one's entry) with its consent. With `plan`, only
    from the first day of the plan's last session on."""
    now = now or utcnow()
    me = participant(session, person)
    if plan is not None and now.date() < alumni_opens(plan):
        raise Refusal(f"the alumni register opens on {alumni_opens(plan):%Y-%m-%d}, "
                      "the first day of the course's last session")
    checked = check_alumni_fields(fields, known_topics)
    entry = session.get(AlumniEntry, me.id)
    if entry is None:
        entry = AlumniEntry(person_id=me.id, joined_at=now)
        session.add(entry)
    for name, value in checked.items():
        setattr(entry, name, value)
    entry.updated_at, entry.updated_from = now, "opt-in"
    consent = session.get(Consent, (me.id, "alumni"))
    if consent is None:
        session.add(Consent(person_id=me.id, kind="alumni", text=consent_text, given_at=now))
    elif consent.withdrawn_at is not None or consent.text != consent_text:
        consent.text, consent.given_at, consent.withdrawn_at = consent_text, now, None
    session.flush()
    audit(session, me.id, "alumni.join", me.id, **{f: checked[f] for f in ALUMNI_FLAGS})
    return _entry_view(entry)


def leave_alumni(session: Session, person: Person | str) -> bool:
    """Leave the register: the entry and the alumni consent go (the audit log keeps the fact).
    The consent row is deleted rather than marked withdrawn, because a withdrawn consent takes
    the person out of every report, and leaving the register is not that."""
    me = participant(session, person)
    entry = session.execute(delete(AlumniEntry).where(AlumniEntry.person_id == me.id)).rowcount
    session.execute(delete(Consent).where(Consent.person_id == me.id, Consent.kind == "alumni"))
    if entry:
        audit(session, me.id, "alumni.leave", me.id)
    return bool(entry)


def slug(text: str) -> str:
    """A topic as the register keeps it: "Human rights online" -> human-rights-online."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return "-".join(re.findall(r"[a-z0-9]+", plain))


def _alumni_value(field: str, value) -> str | None:
    """A follow-up answer as the register's field, or None when it cannot be one."""
    if field == "topics":  # options of a multi question, or topics typed apart by ; or ,
        labels = value if isinstance(value, list) else re.split(r"[;,\n]", str(value or ""))
        topics = list(dict.fromkeys(t for t in (slug(str(x)) for x in labels) if t))
        joined = ";".join(topics)
        while len(joined) > MAX_TOPICS:
            topics.pop()
            joined = ";".join(topics)
        return joined or None
    text = " ".join(str(value if value is not None else "").split())
    if not text:
        return None
    if field == "country":
        return normalise_country(text)
    return text[:ALUMNI_TEXT.get(field, 200)]


def update_alumni_from_follow_up(session: Session, person_id: str, instrument, answers: dict,
                                 now: datetime | None = None) -> dict:
    """A follow-up answer updates the register fields its questions name (alumni_field), for
    people in the register; the fields changed."""
    now = now or utcnow()
    entry = session.get(AlumniEntry, person_id)
    if entry is None or not has_consent(session, person_id, "alumni"):
        return {}
    changed = {}
    for q in getattr(instrument, "questions", None) or []:
        field = getattr(q, "alumni_field", None)
        if not field or q.id not in answers:
            continue
        value = _alumni_value(field, answers[q.id])
        if value is not None and value != getattr(entry, field):
            setattr(entry, field, value)
            changed[field] = value
    if changed:
        entry.updated_at, entry.updated_from = now, "follow-up"
        audit(session, person_id, "alumni.follow-up", person_id, instrument=instrument.id,
              fields=sorted(changed))
    return changed


def alumni_register(session: Session) -> list[dict]:
    """One dict per register entry whose alumni consent stands, by person id. (A withdrawal
    deletes the entry; someone who joins again afterwards gives the register's consent anew,
    while their evaluation consent stays withdrawn and reports still leave them out.)"""
    rows = session.execute(
        select(Person, AlumniEntry).join(AlumniEntry, AlumniEntry.person_id == Person.id)
        .join(Consent, (Consent.person_id == Person.id) & (Consent.kind == "alumni"))
        .where(Consent.withdrawn_at.is_(None)).order_by(Person.id)).all()
    return [{"id": p.id, "name": p.name, "email": p.email, "region": p.region,
             "languages": p.languages, "timezone": p.timezone, **_entry_view(e)} for p, e in rows]


# --- the coordinator's counts ---------------------------------------------------------------

def status_counts(session: Session, coordinator_id: str, instruments, plan,
                  now: datetime | None = None) -> list[dict]:
    """Per instrument and occasion: participants answered, with a draft, not started (counts
    only), and the window's state. Withdrawn people are not counted."""
    now = now or utcnow()
    reviewing.require_coordinator(session, coordinator_id)
    if instruments is None:
        return []
    gone = select(Consent.person_id).where(Consent.withdrawn_at.is_not(None))
    active = select(Person.id).where(Person.role == "participant", Person.active, Person.id.not_in(gone))
    total = session.scalar(select(func.count()).select_from(active.subquery()))
    counts = {(i, o, s): n for i, o, s, n in session.execute(
        select(EvaluationAnswer.instrument, EvaluationAnswer.occasion, EvaluationAnswer.state, func.count())
        .where(EvaluationAnswer.person_id.in_(active))
        .group_by(EvaluationAnswer.instrument, EvaluationAnswer.occasion, EvaluationAnswer.state))}
    out = []
    for instrument in instruments.instruments:
        for occasion in instrument.occasions:
            opens, closes = window(instrument, occasion, plan)
            answered = counts.get((instrument.id, occasion, "submitted"), 0)
            drafts = counts.get((instrument.id, occasion, "draft"), 0)
            out.append({"instrument": instrument.id, "title": instrument.title, "occasion": occasion,
                        "opens": opens, "closes": closes, "window": _state(now, opens, closes),
                        "answered": answered, "drafts": drafts,
                        "not_started": max(total - answered - drafts, 0)})
    return out
