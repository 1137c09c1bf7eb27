"""The evaluation's store rules (course/cohort/evaluation.py) on SQLite and PostgreSQL: drafts,
submitting, windows, scoring, consent, withdrawal, the alumni register and its follow-up.

The cohort is the example roster on the shipped online course (start 2027-03-01, last session
2027-04-26 to 2027-05-02) with its shipped instruments; each rule gets its own `now`.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from course.cli import main
from course.cohort import evaluation as ev
from course.cohort.db import open_store
from course.cohort.models import AlumniEntry, AuditEntry, Consent, EvaluationAnswer
from course.cohort.reviewing import Invalid, NotFound, Refused
from course.evaluation.instruments import (instruments_path, load_plan_instruments, plan_end,
                                           questions)
from course.layout import Layout
from course.modules import load_catalogue
from course.plans import load_named_plan
from room_helpers import EXAMPLES

PRE = datetime(2027, 2, 20, 12, 0)  # knowledge and self-assessment pre: 2027-02-15 .. 2027-03-04
LATE = datetime(2027, 3, 10, 12, 0)  # pre closed, post not open
END = datetime(2027, 4, 30, 12, 0)  # post open (2027-04-25 .. 2027-05-23); the register open
AFTER = datetime(2027, 5, 24, 0, 0)  # the post-test closed
FOLLOW = datetime(2027, 11, 10, 9, 0)  # the six-month follow-up (2027-11-02 .. 2027-12-02)
P, Q, TUTOR = "p01", "p02", "t01"


@pytest.fixture(scope="module")
def course():
    layout = Layout.default()
    catalogue, _ = load_catalogue(layout.modules)
    plan = load_named_plan("online-course", layout.plans)
    instruments = load_plan_instruments(layout.plans / "online-course.yml", plan, catalogue)
    return plan, catalogue, instruments


@pytest.fixture
def store(db_url):
    result = CliRunner().invoke(main, ["cohort", "init", "--plan", "online-course",
                                       "--roster", str(EXAMPLES / "roster.csv"),
                                       "--tutors", str(EXAMPLES / "tutors.csv"), "--db", db_url],
                                env={"IGCB_HUB_ADMIN": "coord"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    opened = open_store(db_url, create=False)
    yield opened
    opened.close()


def save(s, course, person, instrument, occasion, answers, submit, now):
    plan, catalogue, instruments = course
    return ev.save_answer(s, person, instruments, plan, catalogue, instrument, occasion, answers,
                          submit, now)


def key(course) -> dict[str, str]:
    return {item.id: item.answer for item in course[2].instrument("knowledge").items}


def wrong(course) -> dict[str, str]:
    """For each knowledge item, an option that is not the key."""
    return {i.id: next(o for o in i.options if o != i.answer) for i in course[2].instrument("knowledge").items}


def consent(s, course, person=P):
    ev.give_consent(s, person, "evaluation", course[2].consent, now=PRE)


def actions(s, actor=None) -> list[tuple[str, str, str]]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    return [(a.actor, a.action, a.target) for a in s.scalars(query)]


def test_the_shipped_instruments_are_where_the_room_looks(course):
    path = instruments_path(Layout.default().plans / "online-course.yml")
    assert path.is_file()
    plan, _, instruments = course
    assert plan_end(plan).isoformat() == "2027-05-02"
    assert ev.alumni_opens(plan).isoformat() == "2027-04-26"
    assert [i.id for i in instruments.instruments][:2] == ["self-assessment", "knowledge"]


def test_a_draft_is_kept_and_changed_until_submitted_then_final(store, course):
    reaction = {"satisfaction": "4", "best": "The study group.\r\nAnd the tutor."}
    with store.session() as s:
        consent(s, course)
        row, errors = save(s, course, P, "reaction", "post", reaction, False, END)
        assert errors == {}
        assert (row.state, row.answers, row.submitted_at) == ("draft", {"satisfaction": 4,
                                                                       "best": "The study group.\nAnd the tutor."}, None)
        # a second draft replaces the first: still one row
        row, errors = save(s, course, P, "reaction", "post", {"satisfaction": "5"}, False, END)
        assert errors == {} and row.answers == {"satisfaction": 5}
        assert s.scalar(select(func.count()).select_from(EvaluationAnswer)) == 1
    with store.session() as s:
        # submitting with required questions unanswered: errors named per question, nothing saved
        row, errors = save(s, course, P, "reaction", "post", {"satisfaction": "5"}, True, END)
        assert row is None
        required = [q.id for q in course[2].instrument("reaction").questions if q.type.value != "text"]
        assert set(errors) == set(required) - {"satisfaction"}
        assert all("required" in message for message in errors.values())
        assert ev.get_answer(s, P, "reaction", "post").state == "draft"
    full = {q: "3" for q in required} | {"improve": "More time for the labs."}
    with store.session() as s:
        row, errors = save(s, course, P, "reaction", "post", full, True, END)
        assert errors == {} and row.state == "submitted" and row.submitted_at == END
        assert row.score is None and row.item_scores is None  # only knowledge tests are scored
    for submit in (True, False):
        with pytest.raises(Refused, match="final"), store.session() as s:
            save(s, course, P, "reaction", "post", full | {"satisfaction": "1"}, submit, END)
    with store.session() as s:
        row = ev.get_answer(s, P, "reaction", "post")
        assert row.answers["satisfaction"] == 3 and row.state == "submitted"
        assert [a[1] for a in actions(s, P)] == ["consent.give", "evaluation.draft", "evaluation.draft",
                                                "evaluation.submit"]
        # the audit log records what was done, never the answers (a withdrawal deletes those)
        details = [a.detail for a in s.scalars(select(AuditEntry).where(AuditEntry.actor == P))]
        assert "labs" not in json.dumps(details)


def test_bad_values_are_named_and_nothing_is_saved(store, course):
    with store.session() as s:
        consent(s, course)
        row, errors = save(s, course, P, "reaction", "post",
                           {"satisfaction": "9", "recommend": "Surely", "nonsense": "1"}, False, END)
        assert row is None and set(errors) == {"satisfaction", "recommend", "nonsense"}
        assert ev.get_answer(s, P, "reaction", "post") is None


def test_only_while_the_window_is_open(store, course):
    plan, catalogue, instruments = course
    with store.session() as s:
        consent(s, course)
    opens, closes = datetime(2027, 2, 15, 0, 0), datetime(2027, 3, 4, 23, 59, 59)
    for now in (datetime(2027, 2, 14, 23, 59, 59), datetime(2027, 3, 5, 0, 0), LATE, END):
        with pytest.raises(Refused, match="not open yet|closed"), store.session() as s:
            save(s, course, P, "knowledge", "pre", {"wig-1": key(course)["wig-1"]}, False, now)
    for now in (opens, closes):
        with store.session() as s:
            row, errors = save(s, course, P, "knowledge", "pre", {"wig-1": key(course)["wig-1"]}, False, now)
            assert errors == {} and row.state == "draft"
    with store.session() as s:
        states = {(x["instrument"], x["occasion"]): x["window"]
                  for x in ev.my_occasions(s, P, instruments, plan, catalogue, LATE)}
        assert states[("knowledge", "pre")] == "closed" and states[("knowledge", "post")] == "upcoming"
        assert ev.open_occasions(s, P, instruments, plan, catalogue, LATE) == []
        now_open = ev.open_occasions(s, P, instruments, plan, catalogue, PRE)
        assert [(x["instrument"], x["occasion"], x["state"]) for x in now_open] == [
            ("self-assessment", "pre", "not started"), ("knowledge", "pre", "draft")]
        form = ev.answer_form(s, P, instruments, plan, catalogue, "knowledge", "pre", LATE)
        assert (form["window"], form["editable"], form["state"]) == ("closed", False, "draft")


def test_a_knowledge_test_is_scored_on_submit_and_the_score_shown_only_after_the_post_test(store, course):
    plan, catalogue, instruments = course
    items = instruments.instrument("knowledge").items
    answers = {i.id: (key(course) if n % 3 else wrong(course))[i.id] for n, i in enumerate(items)}
    right = sum(1 for n, _ in enumerate(items) if n % 3)
    with store.session() as s:
        consent(s, course)
        row, _ = save(s, course, P, "knowledge", "pre", answers, False, PRE)
        assert row.score is None and row.item_scores is None  # a draft is not scored
        row, errors = save(s, course, P, "knowledge", "pre", answers, True, PRE)
        assert errors == {}
        assert row.item_scores == {i.id: int(n % 3 != 0) for n, i in enumerate(items)}
        assert row.score == pytest.approx(right / len(items))
    with store.session() as s:
        for now in (PRE, LATE, END):
            form = ev.answer_form(s, P, instruments, plan, catalogue, "knowledge", "pre", now)
            assert form["state"] == "submitted" and not form["editable"]
            assert form["score"] is None and form["correct"] is None
            assert all(x["score"] is None for x in ev.my_occasions(s, P, instruments, plan, catalogue, now))
        form = ev.answer_form(s, P, instruments, plan, catalogue, "knowledge", "pre", AFTER)
        assert form["score"] == pytest.approx(right / len(items)) and form["correct"] == right
        # the form never carries the key: only these fields, and no item says which option is right
        for q in form["questions"]:
            assert set(q) == {"id", "type", "text", "options", "required", "min", "max", "help", "module"}
        assert "answer" not in json.dumps(form["questions"])


def test_unanswered_items_score_zero_and_an_empty_submit_is_refused_per_item(store, course):
    with store.session() as s:
        consent(s, course)
        row, errors = save(s, course, P, "knowledge", "pre", {}, True, PRE)
        assert row is None and len(errors) == len(course[2].instrument("knowledge").items)


def test_consent_is_needed_to_answer_and_only_participants_answer(store, course):
    plan, catalogue, instruments = course
    answer = {"wig-1": key(course)["wig-1"]}
    with pytest.raises(Refused, match="consent"), store.session() as s:
        save(s, course, P, "knowledge", "pre", answer, False, PRE)
    with store.session() as s:
        assert not ev.has_consent(s, P, "evaluation")
        consent(s, course)
        assert ev.has_consent(s, P, "evaluation") and not ev.has_consent(s, P, "alumni")
        assert s.get(Consent, (P, "evaluation")).text == instruments.consent
        assert save(s, course, P, "knowledge", "pre", answer, False, PRE)[1] == {}
    for who in (TUTOR, "coord", "nobody"):
        with pytest.raises(NotFound), store.session() as s:
            save(s, course, who, "knowledge", "pre", answer, False, PRE)
        with pytest.raises(NotFound), store.session() as s:
            ev.give_consent(s, who, "evaluation", instruments.consent)
        with pytest.raises(NotFound), store.session() as s:
            ev.answer_form(s, who, instruments, plan, catalogue, "knowledge", "pre", PRE)
    for instrument, occasion in (("knowledge", "followup"), ("no-such-test", "pre"), ("reaction", "pre")):
        with pytest.raises(NotFound), store.session() as s:
            save(s, course, P, instrument, occasion, {}, False, END)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(EvaluationAnswer)) == 1


def test_the_errors_are_store_errors_for_the_command_line_too(store, course):
    from course.cohort.db import StoreError

    with pytest.raises(StoreError), store.session() as s:
        save(s, course, P, "knowledge", "pre", {}, False, PRE)  # no consent
    with pytest.raises(StoreError), store.session() as s:
        save(s, course, TUTOR, "knowledge", "pre", {}, False, PRE)


ENTRY = {"role": "Policy officer", "organisation": "Ministry of ICT", "country": "ke",
         "stakeholder_group": "government", "topics": ["internet-governance", "cybersecurity"],
         "will_mentor": "yes", "will_teach": True}


def join(s, course, person=P, fields=None, now=END):
    plan, catalogue, instruments = course
    known = sorted({t for m in plan.module_ids for t in catalogue[m].module.topics})
    return ev.join_alumni(s, person, fields or ENTRY, instruments.alumni_consent,
                          known_topics=known, plan=plan, now=now)


def test_joining_the_alumni_register(store, course):
    plan, catalogue, instruments = course
    topics = sorted({t for m in plan.module_ids for t in catalogue[m].module.topics})
    assert {"internet-governance", "cybersecurity"} <= set(topics), topics
    with pytest.raises(Refused, match="opens on 2027-04-26"), store.session() as s:
        join(s, course, now=datetime(2027, 4, 25, 23, 0))
    bad = {"role": " ", "organisation": "x" * 201, "country": "XX", "stakeholder_group": "press",
           "topics": ["cybersecurity", "astrology"]}
    with pytest.raises(Invalid) as caught, store.session() as s:
        join(s, course, fields=bad)
    assert set(caught.value.errors) == {"role", "organisation", "country", "stakeholder_group", "topics"}
    with store.session() as s:
        view = join(s, course)
        assert (view["country"], view["topics"], view["updated_from"]) == ("KE", "internet-governance;cybersecurity", "opt-in")
        assert (view["will_mentor"], view["will_host_intern"], view["will_teach"]) == (True, False, True)
        assert ev.has_consent(s, P, "alumni") and s.get(Consent, (P, "alumni")).text == instruments.alumni_consent
        join(s, course, fields=ENTRY | {"role": "Director"})  # changing one's entry
        register = ev.alumni_register(s)
        assert [r["id"] for r in register] == [P] and register[0]["role"] == "Director"
        assert set(register[0]) >= {"id", "name", "email", "region", "languages", "timezone", "role",
                                    "organisation", "country", "stakeholder_group", "topics",
                                    "will_mentor", "will_host_intern", "will_teach", "joined_at"}
    with pytest.raises(NotFound), store.session() as s:
        join(s, course, person=TUTOR)
    with store.session() as s:
        assert ev.leave_alumni(s, P)
        assert s.get(AlumniEntry, P) is None and ev.alumni_register(s) == []
        # leaving the register is not a withdrawal from the evaluation
        assert not ev.withdrawn(s, P) and s.get(Consent, (P, "alumni")) is None
        assert [a[1] for a in actions(s, P)] == ["alumni.join", "alumni.join", "alumni.leave"]


FOLLOW_UP = {"participation": ["A national or regional IGF"], "role": "Head of Internet policy",
             "organisation": "Communications Authority", "country": "tz",
             "policy-contributions": ["None of these"], "barriers": ["Cost of travel", "Visas"],
             "trainings": "2", "people-trained": "40", "policy-count": "1",
             "employer-support": "4", "role-change": "Yes, a new organisation"}


def test_the_follow_up_survey_updates_the_register(store, course):
    plan, catalogue, instruments = course
    follow_up = instruments.instrument("follow-up-6m")
    topics = next(q for q in follow_up.questions if q.alumni_field == "topics").options[-3:-1]
    with store.session() as s:
        for person in (P, Q):
            consent(s, course, person)
        join(s, course)
    with store.session() as s:
        row, errors = save(s, course, P, "follow-up-6m", "followup", FOLLOW_UP | {"topics": topics},
                           True, FOLLOW)
        assert errors == {}
        entry = s.get(AlumniEntry, P)
        assert (entry.role, entry.organisation, entry.country) == ("Head of Internet policy",
                                                                   "Communications Authority", "TZ")
        assert entry.topics == ";".join(ev.slug(t) for t in topics)
        assert (entry.updated_from, entry.updated_at, entry.stakeholder_group) == ("follow-up", FOLLOW, "government")
        # Q is not in the register: the follow-up puts nobody there
        save(s, course, Q, "follow-up-6m", "followup", FOLLOW_UP, True, FOLLOW)
        assert s.get(AlumniEntry, Q) is None
        assert ("p01", "alumni.follow-up", P) in actions(s) and (Q, "alumni.follow-up", Q) not in actions(s)
    # the rule alone, as an import of follow-up answers uses it: a bad country changes nothing
    with store.session() as s:
        changed = ev.update_alumni_from_follow_up(s, P, follow_up, {"country": "not a country",
                                                                    "role": "Minister"}, now=FOLLOW)
        assert changed == {"role": "Minister"} and s.get(AlumniEntry, P).country == "TZ"
    assert ev.slug("Données, privacy & Co.") == "donnees-privacy-co"


def test_withdrawing_deletes_answers_and_the_register_entry(store, course):
    plan, catalogue, instruments = course
    with store.session() as s:
        for person in (P, Q):
            consent(s, course, person)
            save(s, course, person, "knowledge", "pre", key(course), True, PRE)
        save(s, course, P, "self-assessment", "pre", {}, False, PRE)
        join(s, course)
        join(s, course, person=Q)
    with store.session() as s:
        assert ev.withdraw(s, P, now=END) == {"answers": 2, "alumni": True}
    with store.session() as s:
        assert s.scalars(select(EvaluationAnswer.person_id)).all() == [Q]
        assert s.get(AlumniEntry, P) is None and [r["id"] for r in ev.alumni_register(s)] == [Q]
        consents = s.scalars(select(Consent).where(Consent.person_id == P)).all()
        assert {c.kind: c.withdrawn_at for c in consents} == {"evaluation": END, "alumni": END}
        assert ev.withdrawn(s, P) and not ev.withdrawn(s, Q)
        assert not ev.has_consent(s, P, "evaluation") and ev.my_answers(s, P) == []
        assert (P, "consent.withdraw", P) in actions(s)
        counts = {(r["instrument"], r["occasion"]): r for r in ev.status_counts(s, "coord", instruments, plan, PRE)}
        assert (counts[("knowledge", "pre")]["answered"], counts[("knowledge", "pre")]["not_started"]) == (1, 22)
    with pytest.raises(Refused, match="consent"), store.session() as s:
        save(s, course, P, "knowledge", "pre", key(course), False, PRE)
    # someone who never consented can withdraw too: they are left out of reports all the same
    with store.session() as s:
        assert ev.withdraw(s, "p03", now=END) == {"answers": 0, "alumni": False}
        assert ev.withdrawn(s, "p03")
    # consenting again ends the withdrawal: the person counts again and may answer
    with store.session() as s:
        consent(s, course)
        assert not ev.withdrawn(s, P)
        assert save(s, course, P, "knowledge", "pre", key(course), False, PRE)[1] == {}


def test_the_coordinator_sees_counts_only(store, course):
    plan, catalogue, instruments = course
    with store.session() as s:
        for person in ("p01", "p02", "p03"):
            consent(s, course, person)
        save(s, course, "p01", "knowledge", "pre", key(course), True, PRE)
        save(s, course, "p02", "knowledge", "pre", key(course), False, PRE)
        rows = ev.status_counts(s, "coord", instruments, plan, PRE)
        row = next(r for r in rows if (r["instrument"], r["occasion"]) == ("knowledge", "pre"))
        assert (row["answered"], row["drafts"], row["not_started"], row["window"]) == (1, 1, 22, "open")
        assert len(rows) == sum(len(i.occasions) for i in instruments.instruments)
        assert set(row) == {"instrument", "title", "occasion", "opens", "closes", "window",
                            "answered", "drafts", "not_started"}
    for who in (TUTOR, P):
        with pytest.raises(NotFound), store.session() as s:
            ev.status_counts(s, who, instruments, plan, PRE)


def test_the_self_assessment_asks_each_objective_of_the_plan(store, course):
    plan, catalogue, instruments = course
    items = questions(instruments.instrument("self-assessment"), plan, catalogue)
    with store.session() as s:
        consent(s, course)
        all_well = {q.id: "Well" for q in items}  # a label is taken for its number too
        row, errors = save(s, course, P, "self-assessment", "pre", all_well, True, PRE)
        assert errors == {} and set(row.answers.values()) == {4} and len(row.answers) == len(items)
