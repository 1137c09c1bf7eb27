"""E-mail reminders and digests (course/cohort/mail.py, course/room/mailer.py), for real.

Store-level, on SQLite and PostgreSQL: what `queue_due` puts in the outbox for a planted cohort
(turns a week ahead to the facilitator and co-facilitator only, review deadlines two days ahead
to reviewers with unfinished tasks only, daily and weekly digests of one's own groups' new,
visible posts by others), that nothing is queued twice, and people's choices. Then sending
through a real SMTP server (aiosmtpd on 127.0.0.1): the right recipients, subjects and bodies
and nobody else's data; a refused or impossible send retried after the backoff, given up
after the last attempt, listed for the coordinator and retried from there. Last, a real hub
and room whose worker delivers a turn reminder, a deadline reminder and a digest, and answers
pages while the SMTP server holds a message.
"""

from __future__ import annotations

import asyncio
import email
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy

import pytest
import yaml
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from course.cohort import mail
from course.cohort.db import open_store
from course.cohort.models import (Allocation, AuditEntry, MailSetting, Membership, OutgoingMail,
                                  Person, Post, Review, ReviewRound, RotaEntry, Setting,
                                  StudyGroup, Submission, Thread, TutorAssignment, utcnow)
from course.cohort.reviewing import Invalid, NotFound, Refused
from course.hub_process import free_port
from course.layout import Layout
from course.room import mailer

NOW = datetime(2027, 3, 1, 9, 0)
URL = "https://course.example.org/services/room/"
SENDER = "IG course <course@example.org>"
RUBRIC = {"criteria": [{"id": "clarity", "title": "Clarity",
                        "levels": [{"points": 0, "description": "no"}, {"points": 2, "description": "yes"}]}],
          "min_comment": 0}


# --- a real SMTP server ----------------------------------------------------------------------

class Collector:
    """An aiosmtpd handler keeping every message; it can refuse recipients or hold a message."""

    def __init__(self):
        self.messages: list[dict] = []
        self.refuse: str | None = None  # e.g. "550 ...": refuse every recipient
        self.hold: threading.Event | None = None  # set: let a held message through
        self.holding = threading.Event()  # a message is being held right now

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hold is not None and not self.hold.is_set():
            self.holding.set()
            while not self.hold.is_set():
                await asyncio.sleep(0.05)
            self.holding.clear()
        self.messages.append({"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                              "raw": envelope.original_content or envelope.content,
                              "message": email.message_from_bytes(envelope.content, policy=policy.default)})
        return "250 Message accepted for delivery"


@dataclass
class Smtp:
    handler: Collector
    port: int
    controller: Controller | None = None

    def start(self):
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    server = Smtp(Collector(), free_port())
    server.start()
    yield server
    server.stop()


def config_for(server: Smtp, **extra) -> mailer.MailConfig:
    config = mailer.config_from_env({"IGCB_SMTP_HOST": "127.0.0.1", "IGCB_SMTP_PORT": str(server.port),
                                     "IGCB_SMTP_TLS": "none", "IGCB_SMTP_FROM": SENDER,
                                     "IGCB_ROOM_URL": URL, **extra})
    assert config is not None
    return config


# --- a planted cohort ------------------------------------------------------------------------

PEOPLE = [  # id, role, group, active, has e-mail
    ("coord", "coordinator", None, True, True),
    ("t1", "tutor", None, True, True), ("t2", "tutor", None, True, True),
    ("a1", "participant", "A", True, True), ("a2", "participant", "A", True, True),
    ("a3", "participant", "A", True, False), ("a4", "participant", "A", False, True),
    ("b1", "participant", "B", True, True), ("b2", "participant", "B", True, True),
    ("b3", "participant", "B", True, True),
]


def name(pid: str) -> str:
    return f"Person {pid.upper()}"


def address(pid: str) -> str:
    return f"{pid}.mailbox@example.org"


def sessions_at(now: datetime) -> list[dict]:
    """Three weekly sessions as calendar.sessions() gives them: running, in 7 and in 14 days."""
    out = []
    for label, offset in (("1", -3), ("2", 7), ("3", 14)):
        first = now.date() + timedelta(days=offset)
        out.append({"label": label, "title": f"Topic {label}", "first": first,
                    "last": first + timedelta(days=6), "mode": "online", "discussion": True,
                    "modules": [], "prompts": [{"prompt": f"What about topic {label}?",
                                                "facilitation": "Ask each stakeholder group."}],
                    "deadlines": []})
    return out


@pytest.fixture
def store(db_url):
    opened = open_store(db_url)
    with opened.session() as s:
        s.add_all([StudyGroup(label="A", language="en"), StudyGroup(label="B", language="en")])
        for pid, role, group, active, has_mail in PEOPLE:
            s.add(Person(id=pid, role=role, name=name(pid), email=address(pid) if has_mail else "",
                         active=active, languages="en"))
        s.flush()
        for pid, _, group, _, _ in PEOPLE:
            if group:
                s.add(Membership(person_id=pid, group_label=group))
        s.add_all([TutorAssignment(group_label="A", tutor_id="t1"),
                   TutorAssignment(group_label="B", tutor_id="t2"),
                   RotaEntry(group_label="A", session="1", facilitator_id="a3"),
                   RotaEntry(group_label="A", session="2", facilitator_id="a1", co_facilitator_id="a2"),
                   RotaEntry(group_label="A", session="3", facilitator_id="a2"),
                   RotaEntry(group_label="B", session="2", facilitator_id="b1"),
                   RotaEntry(group_label="B", session="3", facilitator_id="b2", co_facilitator_id="b3")])
    yield opened
    opened.close()


def queue(store, now=NOW) -> int:
    with store.session() as s:
        return mail.queue_due(s, now, sessions_at(NOW), URL, "test-course")


def outbox(store, prefix: str = "") -> dict[str, OutgoingMail]:
    with store.session() as s:
        return {m.key: m for m in s.scalars(select(OutgoingMail).where(OutgoingMail.key.startswith(prefix)))}


def choose(store, pid: str, digest: str = "weekly", reminders: bool = True) -> None:
    with store.session() as s:
        mail.update_settings(s, pid, digest, reminders)


def assert_private(message_text: str, recipient: str) -> None:
    """Nobody's e-mail address but the recipient's, no roster ids of others in addresses."""
    for pid, *_ in PEOPLE:
        if pid != recipient:
            assert address(pid) not in message_text, f"{address(pid)} in a message to {recipient}"


# --- turns -----------------------------------------------------------------------------------

def test_a_turn_is_announced_a_week_ahead_to_the_facilitator_and_co_facilitator(store):
    choose(store, "b1", reminders=False)  # b1 facilitates B's session 2 but wants no reminders
    queue(store)
    turns = outbox(store, "turn:")
    assert set(turns) == {"turn:A:2:a1", "turn:A:2:a2"}
    first = (NOW + timedelta(days=7)).date().isoformat()
    a1, a2 = turns["turn:A:2:a1"], turns["turn:A:2:a2"]
    assert (a1.person_id, a1.to_addr, a2.to_addr) == ("a1", address("a1"), address("a2"))
    assert a1.subject == f"Your turn to facilitate: session 2, from {first}"
    assert "You are the facilitator of your study group's discussion (group A) in session 2" in a1.body
    assert "You are the co-facilitator" in a2.body and f"share the turn with {name('a1')}" in a2.body
    assert "1. What about topic 2?" in a1.body and "Facilitation advice: Ask each stakeholder group." in a1.body
    assert f"{URL}discussion/A/2" in a1.body and f"{URL}mail" in a1.body
    for m in turns.values():
        assert_private(m.body, m.person_id)
    # Nothing twice; next week, session 3's turns (b3's co-facilitator turn too).
    assert queue(store) == 0
    queue(store, NOW + timedelta(days=7, hours=1))
    assert set(outbox(store, "turn:")) == {"turn:A:2:a1", "turn:A:2:a2", "turn:A:3:a2",
                                           "turn:B:3:b2", "turn:B:3:b3"}


def test_a_turn_is_not_announced_earlier_than_a_week_ahead_nor_after_it_started(store):
    queue(store, NOW - timedelta(days=1))  # session 2 is 8 days away; session 1 began already
    assert outbox(store, "turn:") == {}
    queue(store, NOW + timedelta(days=8))  # session 2 began yesterday, session 3 is 6 days away
    assert set(outbox(store, "turn:")) == {"turn:A:3:a2", "turn:B:3:b2", "turn:B:3:b3"}


# --- review deadlines ------------------------------------------------------------------------

def plant_round(s, name_: str, due: datetime | None, state: str = "open") -> ReviewRound:
    rnd = ReviewRound(name=name_, state=state, rubric=RUBRIC, due=due)
    s.add(rnd)
    s.flush()
    return rnd


def plant_task(s, rnd, author: str, reviewer: str, review_state: str | None, withdrawn=False, code=None):
    sub = s.scalar(select(Submission).where(Submission.round_id == rnd.id, Submission.author_id == author))
    if sub is None:
        sub = Submission(round_id=rnd.id, author_id=author, text=f"Brief by {name(author)}")
        s.add(sub)
        s.flush()
    code = code or f"R-{rnd.id}{author}{reviewer}".upper()
    s.add(Allocation(review_code=code, round_id=rnd.id, submission_id=sub.id, reviewer_id=reviewer,
                     withdrawn=withdrawn))
    s.flush()
    if review_state:
        s.add(Review(review_code=code, state=review_state, total=2.0))


def test_a_review_deadline_reminds_only_reviewers_with_unfinished_tasks(store):
    with store.session() as s:
        memo = plant_round(s, "memo", NOW + timedelta(days=1, hours=3))
        plant_task(s, memo, "b1", "a1", "submitted")
        plant_task(s, memo, "a2", "a1", None)          # a1: one not started
        plant_task(s, memo, "a1", "a2", "draft")
        plant_task(s, memo, "b1", "a2", "draft")       # a2: two drafts
        plant_task(s, memo, "a1", "b1", "submitted")   # b1: all done
        plant_task(s, memo, "a1", "b2", None, withdrawn=True)  # b2: taken away
        plant_task(s, memo, "a2", "a4", None)          # a4: withdrawn from the course
        plant_task(s, memo, "b1", "a3", None)          # a3: no e-mail address
        plant_task(s, memo, "a2", "b3", None)          # b3: reminders off
        for later in (plant_round(s, "far", NOW + timedelta(days=5)),
                      plant_round(s, "waiting", NOW + timedelta(days=1), state="calibration"),
                      plant_round(s, "past", NOW - timedelta(hours=1))):
            plant_task(s, later, "b1", "a1", None)
        memo_id = memo.id
    choose(store, "b3", reminders=False)
    queue(store)
    reviews = outbox(store, "review:")
    assert set(reviews) == {f"review:{memo_id}:a1", f"review:{memo_id}:a2"}
    a1, a2 = reviews[f"review:{memo_id}:a1"], reviews[f"review:{memo_id}:a2"]
    due = f"{NOW + timedelta(days=1, hours=3):%Y-%m-%d %H:%M}"
    assert a1.subject == f"Peer reviews due {due} UTC: 1 peer review to submit"
    assert 'You have 1 peer review in round "memo" not submitted yet.' in a1.body
    assert 'You have 2 peer reviews in round "memo" not submitted yet (2 saved as a draft).' in a2.body
    assert f"{URL}reviews" in a2.body
    for m in reviews.values():  # no authors, reviewers, codes or scores
        assert_private(m.body, m.person_id)
        for pid, *_ in PEOPLE:
            if pid != m.person_id:
                assert name(pid) not in m.body
        assert "R-" not in m.body and "score" not in m.body.lower()
    assert queue(store, NOW + timedelta(hours=5)) == 0  # nothing twice


# --- digests ---------------------------------------------------------------------------------

def plant_posts(store) -> dict[str, int]:
    """Threads of A and B (session 1) with posts at known times; post ids by nickname."""
    ids = {}
    with store.session() as s:
        ta = Thread(group_label="A", session="1", title="Topic 1 in A", opened_by="a1",
                    opened_at=NOW - timedelta(days=2))
        tb = Thread(group_label="B", session="1", title="Topic 1 in B", opened_by="b1",
                    opened_at=NOW - timedelta(days=1))
        s.add_all([ta, tb])
        s.flush()
        posts = {
            "old": (ta, "a2", "reply", "An old reply from last fortnight.", timedelta(days=10), False),
            "opening": (ta, "a1", "opening", "Opening of A: what is multistakeholderism?", timedelta(days=2), False),
            "a2-reply": (ta, "a2", "reply", "A reply by a2 about the IGF.", timedelta(hours=20), False),
            "hidden": (ta, "a3", "reply", "A hidden insult.", timedelta(hours=4), True),
            "tutor": (ta, "t1", "reply", "The tutor asks for **sources**.", timedelta(hours=3), False),
            "a1-reply": (ta, "a1", "reply", "a1 answers the tutor.", timedelta(minutes=30), False),
            "b-opening": (tb, "b1", "opening", "Opening of B: a secret of group B.", timedelta(days=1), False),
        }
        for nick, (thread, author, kind, body, ago, hidden) in posts.items():
            post = Post(thread_id=thread.id, author_id=author, kind=kind, body=body,
                        created_at=NOW - ago, hidden_at=NOW if hidden else None,
                        hidden_by="t1" if hidden else None, hidden_reason="rude" if hidden else "")
            s.add(post)
            s.flush()
            ids[nick] = post.id
    return ids


BODIES = {"old": "An old reply", "opening": "Opening of A", "a2-reply": "A reply by a2",
          "hidden": "hidden insult", "tutor": "The tutor asks", "a1-reply": "a1 answers",
          "b-opening": "secret of group B"}


def shown(body: str) -> set[str]:
    return {nick for nick, text in BODIES.items() if text in body}


def test_digests_list_new_visible_posts_of_ones_own_groups_by_others(store):
    ids = plant_posts(store)
    choose(store, "a2", digest="daily")
    choose(store, "b2", digest="off")
    queue(store)
    digests = {m.person_id: m for m in outbox(store, "digest:").values()}
    # b1 wrote the only new post of B: nothing new for them. b2 chose no digest; a3 has no
    # address, a4 left; the coordinator tutors no group.
    assert set(digests) == {"a1", "a2", "t1", "t2", "b3"}
    assert shown(digests["a1"].body) == {"a2-reply", "tutor"}  # weekly; not their own
    assert shown(digests["a2"].body) == {"tutor", "a1-reply"}  # daily: the last day only
    assert shown(digests["t1"].body) == {"opening", "a2-reply", "a1-reply"}
    assert shown(digests["t2"].body) == shown(digests["b3"].body) == {"b-opening"}
    assert digests["a1"].subject == "Weekly digest: 2 new posts in your group's discussion"
    assert digests["a2"].subject == "Daily digest: 2 new posts in your group's discussion"
    assert digests["t1"].subject == "Weekly digest: 3 new posts in your groups' discussions"
    body = digests["a1"].body
    assert f"{URL}discussion/A/1#post-{ids['tutor']}" in body
    assert f"{name('t1')} replied, " in body and "The tutor asks for **sources**." in body
    assert "Group A, session 1: Topic 1 in A" in body
    for m in digests.values():
        assert_private(m.body, m.person_id)
        assert "<" not in m.body  # plain text, no HTML
    with store.session() as s:
        assert s.get(MailSetting, "a1").last_digest_at == NOW
    assert queue(store) == 0  # nothing twice


def test_digests_come_daily_or_weekly_and_never_repeat_a_post(store):
    ids = plant_posts(store)
    choose(store, "a2", digest="daily")
    queue(store)
    with store.session() as s:
        late = Post(thread_id=s.scalar(select(Thread.id).where(Thread.group_label == "A")),
                    author_id="t1", kind="reply", body="A late word from the tutor.",
                    created_at=NOW + timedelta(hours=1))
        s.add(late)
        s.flush()
        late_id = late.id
    assert queue(store, NOW + timedelta(hours=2)) == 0  # nobody's digest is due yet
    queue(store, NOW + timedelta(days=1, minutes=1))
    day = {m.person_id: m for m in outbox(store, "digest:").values()
           if m.created_at == NOW + timedelta(days=1, minutes=1)}
    assert set(day) == {"a2"}  # daily comes again; weekly waits
    assert "A late word" in day["a2"].body and shown(day["a2"].body) == set()
    queue(store, NOW + timedelta(days=7, minutes=1))
    week = {m.person_id: m for m in outbox(store, "digest:").values()
            if m.created_at == NOW + timedelta(days=7, minutes=1)}
    assert set(week) == {"a1"}  # t1 wrote it; a2 had it yesterday; nothing new for the others
    # The earlier posts were in the first digests, and are not here again.
    assert f"#post-{late_id}" in week["a1"].body and shown(week["a1"].body) == set()
    assert all(f"#post-{i}" not in week["a1"].body for i in ids.values())


def test_digest_off_and_reminders_off_mean_no_mail(store):
    plant_posts(store)
    for pid, _, _, active, _ in PEOPLE:
        if active:
            choose(store, pid, digest="off", reminders=False)
    with store.session() as s:
        rnd = plant_round(s, "memo", NOW + timedelta(days=1))
        plant_task(s, rnd, "b1", "a1", None)
    assert queue(store) == 0
    assert outbox(store) == {}


def test_mail_settings_default_update_and_refuse_bad_values(store):
    with store.session() as s:
        assert s.get(MailSetting, "a1") is None
        view = mail.get_settings(s, "a1")
        assert (view["digest"], view["reminders"], view["email"]) == ("weekly", True, address("a1"))
        assert s.get(MailSetting, "a1") is not None  # created on first use
        with pytest.raises(Invalid) as err:
            mail.update_settings(s, "a1", "hourly", "maybe")
        assert set(err.value.errors) == {"digest", "reminders"}
        assert mail.update_settings(s, "a1", "daily", "off")["digest"] == "daily"
        with pytest.raises(NotFound):
            mail.get_settings(s, "a4")  # withdrawn
        with pytest.raises(NotFound):
            mail.update_settings(s, "nobody", "off", True)
    with store.session() as s:
        setting = s.get(MailSetting, "a1")
        assert (setting.digest, setting.reminders) == ("daily", False)
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "mail.settings", AuditEntry.actor == "a1")) == 1


# --- sending -----------------------------------------------------------------------------------

def test_messages_arrive_with_the_right_recipient_subject_and_body(store, smtp):
    plant_posts(store)
    with store.session() as s:
        rnd = plant_round(s, "memo", NOW + timedelta(days=1))
        plant_task(s, rnd, "b1", "a1", "draft")
    queued = queue(store)
    result = mailer.send_ready(store, config_for(smtp), NOW)
    assert result == {"sent": queued, "failed": 0} and queued >= 5
    sent = outbox(store)
    assert all(m.sent_at == NOW and m.attempts == 1 for m in sent.values())
    assert len(smtp.handler.messages) == queued
    received = {(m["rcpt_tos"][0], m["message"]["Subject"]): m for m in smtp.handler.messages}
    assert len(received) == queued
    for row in sent.values():
        got = received[(row.to_addr, row.subject)]
        message = got["message"]
        assert got["rcpt_tos"] == [row.to_addr] and got["mail_from"] == "course@example.org"
        assert message["To"].addresses[0].addr_spec == row.to_addr
        assert message["To"].addresses[0].display_name == name(row.person_id)
        assert message["From"] == SENDER and message["Auto-Submitted"] == "auto-generated"
        assert message.get_content_type() == "text/plain" and not message.is_multipart()
        assert message.get_content().replace("\r\n", "\n").rstrip("\n") == row.body.rstrip("\n")
        assert_private(got["raw"].decode("utf-8", "replace"), row.person_id)
    kinds = {row.key.split(":")[0]: row for row in sent.values()}
    assert set(kinds) == {"turn", "review", "digest"}
    with store.session() as s:
        assert mail.outbox_counts(s) == {"waiting": 0, "retrying": 0, "failed": 0, "sent": queued}


def test_a_refused_send_is_retried_after_the_backoff_and_shown_to_the_coordinator(store, smtp):
    n = queue(store)  # the turn reminders of a1, a2 and b1
    assert n == 3
    smtp.handler.refuse = "550 5.1.1 Mailbox unavailable"
    config = config_for(smtp)
    assert mailer.send_ready(store, config, NOW) == {"sent": 0, "failed": n}
    with store.session() as s:
        view = mail.outbox(s, "coord")
        assert (view["waiting"], view["retrying"], view["failed"], view["sent"]) == (n, n, 0, 0)
        for item in view["retrying_mail"]:
            assert "550 5.1.1 Mailbox unavailable" in item["error"] and item["attempts"] == 1
            assert item["next_try_at"] == f"{NOW + timedelta(minutes=1):%Y-%m-%d %H:%M}"
        with pytest.raises(NotFound):
            mail.outbox(s, "t1")  # the coordinator's only
    # Not before the backoff; then through once the server takes it.
    assert mailer.send_ready(store, config, NOW + timedelta(seconds=30)) == {"sent": 0, "failed": 0}
    smtp.handler.refuse = None
    assert mailer.send_ready(store, config, NOW + timedelta(seconds=61)) == {"sent": n, "failed": 0}
    assert sorted(m["rcpt_tos"][0] for m in smtp.handler.messages) == [address(p) for p in ("a1", "a2", "b1")]
    assert all(m.attempts == 2 and m.sent_at is not None for m in outbox(store).values())


def test_a_send_to_a_stopped_server_is_kept_given_up_after_the_last_attempt_and_retried(store, smtp):
    n = queue(store)
    smtp.stop()
    config = config_for(smtp)
    when = NOW
    waits = []
    for attempt in range(1, mail.MAX_ATTEMPTS + 1):
        assert mailer.send_ready(store, config, when) == {"sent": 0, "failed": n}, attempt
        with store.session() as s:
            row = s.scalar(select(OutgoingMail).order_by(OutgoingMail.id))
            if attempt < mail.MAX_ATTEMPTS:
                waits.append(row.next_try_at - when)
                assert row.failed_at is None
                assert mailer.send_ready(store, config, row.next_try_at - timedelta(seconds=1)) == \
                    {"sent": 0, "failed": 0}  # nothing before its time
                when = row.next_try_at
            else:
                assert row.failed_at == when and row.attempts == mail.MAX_ATTEMPTS
    assert waits[:4] == [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)]
    assert mailer.send_ready(store, config, when + timedelta(days=30)) == {"sent": 0, "failed": 0}
    with store.session() as s:
        view = mail.outbox(s, "coord")
        assert (view["failed"], view["waiting"]) == (n, 0)
        assert all("ConnectionRefusedError" in m["error"] for m in view["failed_mail"])
        ids = [m["id"] for m in view["failed_mail"]]
        with pytest.raises(NotFound):
            mail.retry(s, "a1", ids[0], when)
        with pytest.raises(NotFound):
            mail.retry(s, "coord", 999999, when)
        for mail_id in ids:
            mail.retry(s, "coord", mail_id, when)
        with pytest.raises(Refused):
            mail.retry(s, "coord", ids[0], when)  # waiting already
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "mail.retry", AuditEntry.actor == "coord")) == n
    smtp.start()
    assert mailer.send_ready(store, config, when) == {"sent": n, "failed": 0}
    with store.session() as s:
        assert mail.outbox_counts(s) == {"waiting": 0, "retrying": 0, "failed": 0, "sent": n}
        with pytest.raises(Refused):
            mail.retry(s, "coord", ids[0], when)  # sent


def test_a_message_taken_for_sending_is_not_taken_twice(store):
    n = queue(store)
    with store.session() as s:
        assert len(mail.claim_batch(s, NOW)) == n
    with store.session() as s:
        assert mail.claim_batch(s, NOW + timedelta(minutes=5)) == []
    with store.session() as s:  # a sender that died: its messages come back after the lease
        assert len(mail.claim_batch(s, NOW + mail.LEASE)) == n


def test_config_from_env_says_what_is_wrong():
    assert mailer.config_from_env({}) is None
    base = {"IGCB_SMTP_HOST": "smtp.example.org", "IGCB_SMTP_FROM": "course@example.org",
            "IGCB_ROOM_URL": URL}
    config = mailer.config_from_env(base)
    assert (config.port, config.tls, config.interval) == (587, "starttls", 60.0)
    assert mailer.config_from_env({**base, "IGCB_SMTP_TLS": "ssl"}).port == 465
    assert "secret" not in repr(mailer.config_from_env({**base, "IGCB_SMTP_USER": "u",
                                                        "IGCB_SMTP_PASSWORD": "secret"}))
    for change, words in (({"IGCB_SMTP_PORT": "99999"}, "IGCB_SMTP_PORT"),
                          ({"IGCB_SMTP_TLS": "maybe"}, "IGCB_SMTP_TLS"),
                          ({"IGCB_SMTP_FROM": "nobody"}, "IGCB_SMTP_FROM"),
                          ({"IGCB_ROOM_URL": ""}, "IGCB_ROOM_URL"),
                          ({"IGCB_MAIL_INTERVAL": "soon"}, "IGCB_MAIL_INTERVAL"),
                          ({"IGCB_SMTP_USER": "u"}, "IGCB_SMTP_PASSWORD"),
                          ({"IGCB_SMTP_USER": "u", "IGCB_SMTP_PASSWORD": "p", "IGCB_SMTP_TLS": "none"},
                           "unencrypted")):
        with pytest.raises(mailer.MailConfigError, match=words):
            mailer.config_from_env({**base, **change})


def test_igcb_hub_smtp_options_reach_the_room_environment_and_are_checked_first(tmp_path, monkeypatch):
    from conftest import run_igcb
    from course.commands.hub import _mail_environment
    from course.errors import UserError
    from course.plans import load_named_plan

    plan = load_named_plan("online-course", Layout.default().plans)
    monkeypatch.setenv("IGCB_SMTP_PASSWORD", "not-in-any-file")
    env = _mail_environment(plan, "0.0.0.0", 8000, "smtp.example.org", None, "ssl",
                            "course@example.org", "course", None)
    assert env == {"IGCB_SMTP_HOST": "smtp.example.org", "IGCB_SMTP_TLS": "ssl",
                   "IGCB_SMTP_FROM": "course@example.org", "IGCB_SMTP_USER": "course",
                   "IGCB_ROOM_URL": "http://127.0.0.1:8000/services/room/"}
    assert _mail_environment(plan, "127.0.0.1", 8000, None, None, "starttls", None, None, None) == {}
    monkeypatch.delenv("IGCB_SMTP_PASSWORD")
    with pytest.raises(UserError, match="--room-url: 'ftp://x'"):
        _mail_environment(plan, "127.0.0.1", 8000, "smtp.example.org", 25, "starttls",
                          "course@example.org", None, "ftp://x")
    with pytest.raises(UserError, match="--smtp-user and IGCB_SMTP_PASSWORD"):
        _mail_environment(plan, "127.0.0.1", 8000, "smtp.example.org", None, "starttls",
                          "course@example.org", "course", None)
    # Before anything is loaded, started or asked for.
    monkeypatch.setenv("IGCB_HUB_ADMIN", "coord")
    result = run_igcb("hub", "--mode", "shared", "--state", str(tmp_path / "state"),
                      "--smtp-host", "smtp.example.org", "--smtp-from", "nobody")
    assert result.exit_code == 2 and "--smtp-from: 'nobody': expected the sender's address" in result.output
    assert not (tmp_path / "state").exists()


def test_igcb_mail_send_and_status(store, smtp, db_url, monkeypatch):
    from conftest import run_igcb

    with store.session() as s:
        s.add_all([Setting(key="course", value="online-course"), Setting(key="plan", value="online-course")])
        s.query(RotaEntry).delete()  # the shipped plan's dates are fixed: no turns, whenever this runs
        rnd = plant_round(s, "memo", utcnow() + timedelta(days=1))
        plant_task(s, rnd, "b1", "a1", None)
    for variable in [n for n in os.environ if n.startswith(("IGCB_SMTP", "IGCB_ROOM"))]:
        monkeypatch.delenv(variable)
    result = run_igcb("mail", "send", "--db", db_url)
    assert result.exit_code == 2 and "set IGCB_SMTP_HOST" in result.output
    for key, value in {"IGCB_SMTP_HOST": "127.0.0.1", "IGCB_SMTP_PORT": str(smtp.port),
                       "IGCB_SMTP_TLS": "none", "IGCB_SMTP_FROM": SENDER, "IGCB_ROOM_URL": URL}.items():
        monkeypatch.setenv(key, value)
    result = run_igcb("mail", "send", "--db", db_url)
    assert result.exit_code == 0 and "1 queued, 1 sent, 0 failed" in result.output, result.output
    assert [m["rcpt_tos"] for m in smtp.handler.messages] == [[address("a1")]]
    assert run_igcb("mail", "send", "--db", db_url).output.startswith("0 queued, 0 sent, 0 failed")
    smtp.handler.refuse = "550 5.1.1 Mailbox unavailable"
    with store.session() as s:
        plant_task(s, plant_round(s, "essay", utcnow() + timedelta(days=1)), "b1", "a2", None)
    result = run_igcb("mail", "send", "--db", db_url)
    assert "1 queued, 0 sent, 1 failed" in result.output
    status = run_igcb("mail", "status", "--db", db_url).output
    assert "1 waiting (1 after a failed attempt), 0 could not be sent, 1 sent" in status
    assert "waiting for another attempt:" in status and "550 5.1.1 Mailbox unavailable" in status


# --- the room's worker, end to end -------------------------------------------------------------

def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


def test_the_room_delivers_reminders_and_digests_and_pages_never_wait_for_smtp(tmp_path, smtp):
    from room_helpers import PARTICIPANTS, ROOM, TUTORS, form_token, make_cohort, room_login, start_room_hub

    url = f"sqlite:///{tmp_path}/cohort.sqlite"
    due = (utcnow() + timedelta(days=1)).isoformat(timespec="minutes")
    make_cohort(url, tmp_path / "cohort", calibration=0, due=due)
    # The plan starts a week from today, so that week 1's turns are due now.
    plan = yaml.safe_load((Layout.default().plans / "online-course.yml").read_text(encoding="utf-8"))
    plan["start"] = (utcnow().date() + timedelta(days=7)).isoformat()
    plan_file = tmp_path / "online-course.yml"
    plan_file.write_text(yaml.safe_dump(plan, allow_unicode=True, sort_keys=False), encoding="utf-8")
    store = open_store(url)
    with store.session() as s:
        s.get(Setting, "plan").value = str(plan_file)
        people = {p.id: p for p in s.scalars(select(Person))}
        rota = s.scalar(select(RotaEntry).where(RotaEntry.session == "1").order_by(RotaEntry.group_label))
        group = rota.group_label
        members = list(s.scalars(select(Membership.person_id).where(Membership.group_label == group)
                                 .order_by(Membership.person_id)))
        reader = next(m for m in members if m != rota.facilitator_id)
        thread = Thread(group_label=group, session="1", title="Week 1", opened_by=rota.facilitator_id)
        s.add(thread)
        s.flush()
        post = Post(thread_id=thread.id, author_id=rota.facilitator_id, kind="opening",
                    body="What does Internet governance mean to you?", created_at=utcnow() - timedelta(hours=1))
        s.add(post)
        s.flush()
        post_id = post.id
        reviewer = s.scalar(select(Allocation.reviewer_id).order_by(Allocation.review_code))
    store.close()

    handler = smtp.handler
    handler.hold = threading.Event()  # the first message is held until the page has answered
    env = {"IGCB_SMTP_HOST": "127.0.0.1", "IGCB_SMTP_PORT": str(smtp.port), "IGCB_SMTP_TLS": "none",
           "IGCB_SMTP_FROM": SENDER, "IGCB_ROOM_URL": URL, "IGCB_MAIL_INTERVAL": "1"}
    hub = start_room_hub(tmp_path, url, PARTICIPANTS, TUTORS, room_env=env)
    try:
        wait_for(handler.holding.is_set, 120, "the room to start sending")
        # The SMTP server holds a message now: the room still answers.
        session = room_login(hub.url, reader)
        page = session.get(f"{hub.url}{ROOM}mail", timeout=30)
        assert page.status_code == 200 and handler.holding.is_set() and not handler.messages
        assert f"The course sends its e-mail to {people[reader].email}" in page.text
        handler.hold.set()

        def delivered(key_prefix, pid):
            return [m for m in handler.messages if m["rcpt_tos"] == [people[pid].email]
                    and key_prefix in m["message"]["Subject"]]

        [turn] = wait_for(lambda: delivered("Your turn to facilitate: session 1", rota.facilitator_id),
                          60, "the turn reminder")
        [review] = wait_for(lambda: delivered("Peer reviews due", reviewer), 60, "the deadline reminder")
        [digest] = wait_for(lambda: delivered("Weekly digest: 1 new post", reader), 60, "the digest")
        assert f"{URL}discussion/{group}/1" in turn["message"].get_content()
        assert 'in round "brief" not submitted yet' in review["message"].get_content()
        text = digest["message"].get_content()
        assert "What does Internet governance mean to you?" in text
        assert f"{URL}discussion/{group}/1#post-{post_id}" in text
        for m in (turn, review, digest):
            raw = m["raw"].decode("utf-8", "replace")
            recipient = m["rcpt_tos"][0]
            assert not [p.email for p in people.values() if p.email and p.email != recipient
                        and p.email in raw]
        # Everything queued went out, once, while the worker kept going round.
        store = open_store(url)
        counts = wait_for(lambda: _settled(store), 60, "the outbox to empty")
        assert counts["sent"] == len(handler.messages) and counts["failed"] == 0
        with store.session() as s:
            # Each went through at its first attempt, the held one too: the page above was
            # answered while the room's SMTP client was still waiting for the server (a worker
            # blocking the event loop would have answered only after that send timed out).
            attempts = set(s.execute(select(OutgoingMail.attempts, OutgoingMail.last_error)).all())
            assert attempts == {(1, "")}
        assert len({(m["rcpt_tos"][0], m["message"]["Subject"]) for m in handler.messages}) == \
            len(handler.messages)

        # A person's choices, through the page's form.
        token = form_token(page.text)
        bad = session.post(f"{hub.url}{ROOM}mail", data={"_xsrf": token, "digest": "hourly",
                                                        "reminders": "on"}, timeout=30)
        assert bad.status_code == 400 and "choose one of off, daily, weekly" in bad.text
        saved = session.post(f"{hub.url}{ROOM}mail", data={"_xsrf": token, "digest": "off",
                                                          "reminders": "off"}, timeout=30)
        assert saved.status_code == 200 and "Your e-mail choices are saved." in saved.text
        assert session.post(f"{hub.url}{ROOM}mail", data={"digest": "daily", "reminders": "on"},
                            timeout=30).status_code == 403  # no _xsrf
        with store.session() as s:
            setting = s.get(MailSetting, reader)
            assert (setting.digest, setting.reminders) == ("off", False)
            # A message the room gave up on: the coordinator sees it and sends it again.
            failed = s.scalar(select(OutgoingMail).where(OutgoingMail.key.startswith("turn:")))
            failed.sent_at, failed.failed_at, failed.attempts = None, utcnow(), mail.MAX_ATTEMPTS
            failed.last_error = "550 5.1.1 Mailbox unavailable"
            failed_id, failed_to = failed.id, failed.to_addr
        assert session.get(f"{hub.url}{ROOM}coordinator/mail", timeout=30).status_code == 404
        coordinator = room_login(hub.url, "coord")
        home = coordinator.get(f"{hub.url}{ROOM}coordinator", timeout=30)
        assert "1 could not be sent" in home.text
        view = coordinator.get(f"{hub.url}{ROOM}coordinator/mail", timeout=30)
        assert view.status_code == 200 and "550 5.1.1 Mailbox unavailable" in view.text
        before = len(handler.messages)
        retried = coordinator.post(f"{hub.url}{ROOM}coordinator/mail/{failed_id}/retry",
                                   data={"_xsrf": form_token(view.text)}, timeout=30)
        assert retried.status_code == 200 and "will be sent again" in retried.text
        wait_for(lambda: len(handler.messages) > before, 60, "the retried message")
        assert handler.messages[before]["rcpt_tos"] == [failed_to]
        with store.session() as s:
            assert s.get(OutgoingMail, failed_id).sent_at is not None
        store.close()
    finally:
        hub.stop()


def _settled(store) -> dict | None:
    with store.session() as s:
        counts = mail.outbox_counts(s)
    return counts if counts["waiting"] == 0 and counts["sent"] else None
