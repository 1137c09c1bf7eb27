"""E-mail as store operations: people's choices, what is due to be sent, and the outbox.

Nothing here sends anything: `queue_due` puts the reminders and digests due at a moment into
the outbox (one row per message, with a `key` saying what it is about, so that nothing is
queued twice), and the sender (course/room/mailer.py) takes batches from the outbox and
records what became of each message. Messages are plain text written for their recipient
only: no one else's e-mail address, no review scores, never who reviews whom.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from course.cohort.db import audit
from course.cohort.models import (DIGESTS, Allocation, MailSetting, Membership, OutgoingMail,
                                  Person, Post, Review, ReviewRound, RotaEntry, Thread,
                                  TutorAssignment, utcnow)
from course.cohort.reviewing import Invalid, NotFound, Refused, person, require_coordinator

TURN_NOTICE = timedelta(days=7)  # a facilitation turn is announced a week ahead
REVIEW_NOTICE = timedelta(days=2)  # unfinished reviews are recalled two days before the deadline
PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
DIGEST_POSTS = 100  # at most this many posts in one digest (the rest: "and N more")
EXCERPT = 300  # characters of a post shown in a digest
# Waits after the 1st, 2nd, ... failed attempt; the last one repeats until MAX_ATTEMPTS.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
           timedelta(hours=6), timedelta(hours=12))
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=10)  # a message taken for sending is not taken again meanwhile
MAX_ERROR = 1000


def _when(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return value.isoformat()


def _link(room_url: str, path: str) -> str:
    return room_url.rstrip("/") + "/" + path


def _one_line(text: str, limit: int = 200) -> str:
    """Text fit for a subject or a list line: no line breaks or control characters."""
    text = re.sub(r"\s+", " ", re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", str(text))).strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


# --- people's choices -----------------------------------------------------------------------

def _setting(session: Session, person_id: str) -> MailSetting:
    """The person's mail settings, created with the defaults on first use."""
    found = session.get(MailSetting, person_id)
    if found is None:
        try:  # two first visits at once: the second takes the row the first made
            with session.begin_nested():
                found = MailSetting(person_id=person_id, reminders=True, digest="weekly")
                session.add(found)
        except IntegrityError:
            found = session.get(MailSetting, person_id)
    return found


def _settings_view(me: Person, setting: MailSetting) -> dict:
    return {"email": me.email, "role": me.role, "reminders": setting.reminders,
            "digest": setting.digest,
            "last_digest_at": _when(setting.last_digest_at) or None}


def get_settings(session: Session, person_id: str) -> dict:
    """A person's e-mail choices (reminders on/off, digest off/daily/weekly) and own address."""
    me = person(session, person_id)
    if me is None:
        raise NotFound("no such person")
    return _settings_view(me, _setting(session, person_id))


def update_settings(session: Session, person_id: str, digest: str, reminders) -> dict:
    """Change a person's choices; `reminders` is a bool or "on"/"off"."""
    me = person(session, person_id)
    if me is None:
        raise NotFound("no such person")
    errors = {}
    if digest not in DIGESTS:
        errors["digest"] = f"choose one of {', '.join(DIGESTS)}"
    if isinstance(reminders, str):
        reminders = {"on": True, "off": False}.get(reminders, reminders)
    if not isinstance(reminders, bool):
        errors["reminders"] = "choose on or off"
    if errors:
        raise Invalid(errors)
    setting = _setting(session, person_id)
    setting.digest, setting.reminders = digest, reminders
    audit(session, person_id, "mail.settings", person_id, digest=digest, reminders=reminders)
    return _settings_view(me, setting)


# --- what is due ----------------------------------------------------------------------------

FOOTER = ("\n-- \nSent by the course room of {course}. Change what e-mail you get: {link}\n")


def _footer(room_url: str, course: str) -> str:
    return FOOTER.format(course=course or "the course", link=_link(room_url, "mail"))


def queue_due(session: Session, now: datetime, sessions: list[dict], room_url: str,
              course: str = "") -> int:
    """Add to the outbox what is due at `now` (naive UTC); the number of messages queued.

    `sessions` is what course/room/calendar.sessions() returns for the plan. Only active
    people with an e-mail address get mail, and only what their choices allow.
    """
    people = {p.id: p for p in session.scalars(select(Person).where(Person.active, Person.email != ""))}
    settings = {s.person_id: s for s in session.scalars(select(MailSetting))}

    def wants_reminders(person_id: str) -> bool:
        chosen = settings.get(person_id)
        return person_id in people and (chosen is None or chosen.reminders)

    footer = _footer(room_url, course)
    queued = _queue_turns(session, now, sessions, room_url, people, wants_reminders, footer)
    queued += _queue_reviews(session, now, room_url, people, wants_reminders, footer)
    queued += _queue_digests(session, now, room_url, people, settings, footer)
    return queued


def _existing_keys(session: Session, prefix: str) -> set[str]:
    return set(session.scalars(select(OutgoingMail.key).where(OutgoingMail.key.startswith(prefix))))


def _add(session: Session, now: datetime, key: str, p: Person, subject: str, body: str) -> None:
    session.add(OutgoingMail(key=key, person_id=p.id, to_addr=p.email, subject=_one_line(subject, 300),
                             body=body, created_at=now, next_try_at=now))


def _queue_turns(session, now, sessions, room_url, people, wants, footer) -> int:
    """Facilitation turns starting within a week, to the facilitator and co-facilitator."""
    today = now.date()
    coming = {s["label"]: s for s in sessions
              if s.get("first") and today <= s["first"] <= today + TURN_NOTICE}
    if not coming:
        return 0
    done = _existing_keys(session, "turn:")
    count = 0
    for entry in session.scalars(select(RotaEntry).where(RotaEntry.session.in_(list(coming)))
                                 .order_by(RotaEntry.group_label, RotaEntry.session)):
        s = coming[entry.session]
        pair = [(entry.facilitator_id, "facilitator", entry.co_facilitator_id),
                (entry.co_facilitator_id, "co-facilitator", entry.facilitator_id)]
        for person_id, role, partner_id in pair:
            key = f"turn:{entry.group_label}:{entry.session}:{person_id}"
            if person_id is None or key in done or not wants(person_id):
                continue
            partner = session.get(Person, partner_id) if partner_id else None
            _add(session, now, key, people[person_id],
                 f"Your turn to facilitate: session {s['label']}, from {_when(s['first'])}",
                 _turn_body(people[person_id], role, partner, entry.group_label, s, room_url) + footer)
            done.add(key)
            count += 1
    return count


def _turn_body(p: Person, role: str, partner: Person | None, group: str, s: dict, room_url: str) -> str:
    lines = [f"Hello {p.name or p.id},", "",
             f"You are the {role} of your study group's discussion (group {group}) in session "
             f"{s['label']}, \"{s['title']}\", from {_when(s['first'])} to {_when(s['last'])}."]
    if partner is not None and partner.active:
        lines.append(f"You share the turn with {partner.name or partner.id}.")
    lead = "When the session starts, open" if role == "facilitator" else "Help the facilitator open"
    lines += ["", f"{lead} the discussion in the course room with the module's prompts (pick and "
                  "edit them), follow the conversation, and close it with a short summary."]
    if s.get("prompts"):
        lines += ["", "The prompts:"]
        for i, prompt in enumerate(s["prompts"], start=1):
            lines.append(f"{i}. {prompt['prompt']}")
            if prompt.get("facilitation"):
                lines.append(f"   Facilitation advice: {prompt['facilitation']}")
    thread = _link(room_url, f"discussion/{group}/{s['label']}")
    lines += ["", f"The discussion: {thread}"]
    return "\n".join(lines) + "\n"


def _queue_reviews(session, now, room_url, people, wants, footer) -> int:
    """Open rounds due within two days: reviewers with tasks not yet submitted, how many."""
    rounds = session.scalars(select(ReviewRound).where(
        ReviewRound.state == "open", ReviewRound.due.is_not(None), ReviewRound.due > now,
        ReviewRound.due <= now + REVIEW_NOTICE)).all()
    count = 0
    for rnd in rounds:
        done = _existing_keys(session, f"review:{rnd.id}:")
        rows = session.execute(
            select(Allocation.reviewer_id, Review.state)
            .outerjoin(Review, Review.review_code == Allocation.review_code)
            .where(Allocation.round_id == rnd.id, ~Allocation.withdrawn)).all()
        unfinished: dict[str, list[str]] = defaultdict(list)
        for reviewer_id, state in rows:
            if state != "submitted":
                unfinished[reviewer_id].append(state or "not started")
        for reviewer_id in sorted(unfinished):
            key = f"review:{rnd.id}:{reviewer_id}"
            if key in done or not wants(reviewer_id):
                continue
            states = unfinished[reviewer_id]
            n = len(states)
            tasks = f"{n} peer review{'s' if n != 1 else ''}"
            drafts = states.count("draft")
            detail = f" ({drafts} saved as a draft)" if drafts else ""
            body = "\n".join([
                f"Hello {people[reviewer_id].name or reviewer_id},", "",
                f"You have {tasks} in round \"{rnd.name}\" not submitted yet{detail}.",
                f"{'They are' if n != 1 else 'It is'} due on {_when(rnd.due)} UTC.", "",
                f"Your review tasks: {_link(room_url, 'reviews')}", ""])
            _add(session, now, key, people[reviewer_id],
                 f"Peer reviews due {_when(rnd.due)} UTC: {tasks} to submit", body + footer)
            count += 1
    return count


def _groups_followed(session: Session, p: Person) -> list[str]:
    """The study groups whose discussions a person's digest covers: theirs, or those they tutor."""
    if p.role == "participant":
        label = session.scalar(select(Membership.group_label).where(Membership.person_id == p.id))
        return [label] if label else []
    return list(session.scalars(select(TutorAssignment.group_label)
                                .where(TutorAssignment.tutor_id == p.id)))


def _queue_digests(session, now, room_url, people, settings, footer) -> int:
    """Daily or weekly: the new posts of the person's groups since their last digest, if any."""
    count = 0
    for person_id in sorted(people):
        chosen = settings.get(person_id)
        if chosen is None:
            chosen = settings[person_id] = _setting(session, person_id)
        if chosen.digest not in PERIODS:
            continue
        period = PERIODS[chosen.digest]
        if chosen.last_digest_at is not None and now - chosen.last_digest_at < period:
            continue
        since = chosen.last_digest_at or now - period
        chosen.last_digest_at = now  # checked up to now, sent or not
        p = people[person_id]
        groups = _groups_followed(session, p)
        if not groups:
            continue
        where = (Thread.group_label.in_(groups), Post.created_at > since, Post.created_at <= now,
                 Post.hidden_at.is_(None), Post.author_id != person_id)
        total = session.scalar(select(func.count()).select_from(Post)
                               .join(Thread, Thread.id == Post.thread_id).where(*where))
        if not total:
            continue
        rows = session.execute(select(Post, Thread).join(Thread, Thread.id == Post.thread_id)
                               .where(*where).order_by(Thread.group_label, Thread.session,
                                                       Post.created_at, Post.id)
                               .limit(DIGEST_POSTS)).all()
        where_to = "your group's discussion" if p.role == "participant" else "your groups' discussions"
        subject = (f"{chosen.digest.capitalize()} digest: {total} new post{'s' if total != 1 else ''} "
                   f"in {where_to}")
        _add(session, now, f"digest:{person_id}:{now:%Y%m%dT%H%M%S}", p, subject,
             _digest_body(session, p, since, rows, total, room_url) + footer)
        count += 1
    return count


KINDS = {"opening": "opened the discussion", "reply": "replied", "summary": "closed it with a summary"}


def _digest_body(session: Session, p: Person, since: datetime, rows, total: int, room_url: str) -> str:
    names = dict(session.execute(select(Person.id, Person.name)
                                 .where(Person.id.in_({post.author_id for post, _ in rows}))).all())
    lines = [f"Hello {p.name or p.id},", "", f"New in the discussions since {_when(since)} UTC:"]
    current = None
    for post, thread in rows:
        if thread.id != current:
            current = thread.id
            lines += ["", f"Group {thread.group_label}, session {thread.session}: {_one_line(thread.title)}"]
        author = names.get(post.author_id) or post.author_id
        link = _link(room_url, f"discussion/{thread.group_label}/{thread.session}#post-{post.id}")
        lines += [f"- {author} {KINDS.get(post.kind, 'wrote')}, {_when(post.created_at)} UTC:",
                  f"  {_one_line(post.body, EXCERPT)}", f"  {link}"]
    if total > len(rows):
        lines += ["", f"... and {total - len(rows)} more in the course room: {_link(room_url, 'discussion')}"]
    return "\n".join(lines) + "\n"


# --- the outbox: for the sender -------------------------------------------------------------

def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt (1, 5, 30 minutes, 2 hours ...)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def claim_batch(session: Session, now: datetime, limit: int = 20) -> list[dict]:
    """The next messages ready to send, held back from other senders for a while (LEASE)."""
    rows = session.scalars(select(OutgoingMail).where(
        OutgoingMail.sent_at.is_(None), OutgoingMail.failed_at.is_(None),
        OutgoingMail.next_try_at <= now).order_by(OutgoingMail.next_try_at, OutgoingMail.id)
        .limit(limit).with_for_update(skip_locked=True)).all()
    names = dict(session.execute(select(Person.id, Person.name)
                                 .where(Person.id.in_({r.person_id for r in rows}))).all())
    out = []
    for row in rows:
        row.next_try_at = now + LEASE  # if the sender dies mid-way, tried again after the lease
        out.append({"id": row.id, "key": row.key, "to": row.to_addr,
                    "name": names.get(row.person_id, ""), "subject": row.subject,
                    "body": row.body, "attempts": row.attempts})
    return out


def mark_sent(session: Session, mail_id: int, now: datetime) -> None:
    row = session.get(OutgoingMail, mail_id)
    row.attempts += 1
    row.sent_at = now


def mark_failed(session: Session, mail_id: int, error: str, now: datetime,
                max_attempts: int = MAX_ATTEMPTS) -> dict:
    """Record a failed attempt: tried again after the backoff, or given up (failed_at)."""
    row = session.get(OutgoingMail, mail_id)
    row.attempts += 1
    row.last_error = str(error)[:MAX_ERROR]
    if row.attempts >= max_attempts:
        row.failed_at = now
    else:
        row.next_try_at = now + backoff(row.attempts)
    return {"id": row.id, "attempts": row.attempts, "gave_up": row.failed_at is not None,
            "next_try_at": row.next_try_at}


# --- the outbox: for the coordinator --------------------------------------------------------

def outbox_counts(session: Session) -> dict:
    """Messages waiting (and of those, retrying after a failure), given up, sent."""
    def count(*where):
        return session.scalar(select(func.count()).select_from(OutgoingMail).where(*where)) or 0

    waiting = (OutgoingMail.sent_at.is_(None), OutgoingMail.failed_at.is_(None))
    return {"waiting": count(*waiting), "retrying": count(*waiting, OutgoingMail.attempts > 0),
            "failed": count(OutgoingMail.failed_at.is_not(None)),
            "sent": count(OutgoingMail.sent_at.is_not(None))}


def _outbox_row(row: OutgoingMail, names: dict) -> dict:
    return {"id": row.id, "person": row.person_id, "name": names.get(row.person_id, ""),
            "to": row.to_addr, "subject": row.subject, "attempts": row.attempts,
            "error": row.last_error, "created_at": _when(row.created_at),
            "next_try_at": _when(row.next_try_at), "failed_at": _when(row.failed_at)}


def outbox(session: Session, actor_id: str, limit: int = 200) -> dict:
    """The coordinator's view: counts, messages given up on and messages being retried."""
    require_coordinator(session, actor_id)
    return outbox_view(session, limit)


def outbox_view(session: Session, limit: int = 200) -> dict:
    """`outbox` without the access check (the command line, which holds the store itself)."""
    failed = session.scalars(select(OutgoingMail).where(OutgoingMail.failed_at.is_not(None))
                             .order_by(OutgoingMail.failed_at.desc(), OutgoingMail.id).limit(limit)).all()
    retrying = session.scalars(select(OutgoingMail).where(
        OutgoingMail.sent_at.is_(None), OutgoingMail.failed_at.is_(None), OutgoingMail.attempts > 0)
        .order_by(OutgoingMail.next_try_at, OutgoingMail.id).limit(limit)).all()
    names = dict(session.execute(select(Person.id, Person.name)).all())
    return {**outbox_counts(session), "failed_mail": [_outbox_row(r, names) for r in failed],
            "retrying_mail": [_outbox_row(r, names) for r in retrying]}


def retry(session: Session, actor_id: str, mail_id: int, now: datetime | None = None) -> dict:
    """Send a failed (or retrying) message again at the next round, with a fresh set of attempts."""
    now = now or utcnow()
    require_coordinator(session, actor_id)
    row = session.get(OutgoingMail, mail_id)
    if row is None:
        raise NotFound("no such message")
    if row.sent_at is not None:
        raise Refused("this message has been sent")
    if row.failed_at is None and row.attempts == 0:
        raise Refused("this message is waiting to be sent already")
    row.failed_at, row.attempts, row.next_try_at = None, 0, now
    audit(session, actor_id, "mail.retry", f"outbox:{row.id}", key=row.key, error=row.last_error)
    return {"id": row.id, "subject": row.subject, "to": row.to_addr}
