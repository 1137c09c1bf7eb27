"""Personal calendar feeds: a participant's secret address for their own calendar (their
facilitation turns and peer-review deadlines), which calendar apps read without logging in.

The address ends in a random token (`secrets.token_urlsafe`, 256 bits) that the participant
sees once, when it is made. The store keeps only its SHA-256, so the database (or an export of
it) holds no usable address. A participant has at most one address: making a new one replaces
the old, and revoking deletes it; either way the old address answers 404 from the moment the
change is committed. Only active participants have feeds; a withdrawn participant's address
answers 404 too. What a feed holds names nobody but its owner (see `feed_items`).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from course.cohort.db import audit
from course.cohort.models import Allocation, CalendarFeed, Person, ReviewRound, utcnow
from course.cohort.reviewing import NotFound, my_turns, person

TOKEN_BYTES = 32
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # what token_urlsafe(32) gives


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _participant(session: Session, person_id: str) -> Person:
    me = person(session, person_id)
    if me is None or me.role != "participant":
        raise NotFound("no personal calendar for this person")
    return me


def _view(row: CalendarFeed | None) -> dict:
    return {"active": row is not None,
            "created_at": row.created_at.isoformat(sep=" ", timespec="minutes") if row else None}


def feed_status(session: Session, person_id: str) -> dict:
    """Whether the participant has an address now, and since when (UTC)."""
    _participant(session, person_id)
    return _view(session.get(CalendarFeed, person_id))


def new_feed(session: Session, person_id: str) -> str:
    """Make the participant a new secret token (replacing any old one) and return it: the only
    time it can be read, since the store keeps its hash."""
    _participant(session, person_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = session.get(CalendarFeed, person_id)
    replaced = row is not None
    if row is None:
        try:  # the same person's two clicks at once: the later one's token wins
            with session.begin_nested():
                session.add(CalendarFeed(person_id=person_id, token_hash=token_hash(token),
                                         created_at=utcnow()))
        except IntegrityError:
            row = session.get(CalendarFeed, person_id)
            replaced = True
    if row is not None:
        row.token_hash, row.created_at = token_hash(token), utcnow()
    audit(session, person_id, "calendar.new", person_id, replaced=replaced)
    session.flush()
    return token


def revoke_feed(session: Session, person_id: str) -> bool:
    """Delete the participant's address; False when they had none."""
    _participant(session, person_id)
    row = session.get(CalendarFeed, person_id)
    if row is None:
        return False
    session.delete(row)
    audit(session, person_id, "calendar.revoke", person_id)
    session.flush()
    return True


def feed_owner(session: Session, token: str) -> str | None:
    """The active participant whose address ends in `token`, or None (never a hint why)."""
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        return None
    owner = session.scalar(select(CalendarFeed.person_id)
                           .where(CalendarFeed.token_hash == token_hash(token)))
    if owner is None:
        return None
    me = person(session, owner)
    return owner if me is not None and me.role == "participant" else None


def feed_items(session: Session, person_id: str) -> dict:
    """What the participant's calendar shows, and nothing more:

    - `turns`: their facilitation turns (session label, their own group, their role), as the
      room's home page lists them; the other facilitator is not named;
    - `reviews`: per review round they have tasks in, its id, name, due date (UTC) and their
      number of tasks; whose work they review is not there, not even as a review code.
    """
    _participant(session, person_id)
    rows = session.execute(
        select(ReviewRound.id, ReviewRound.name, ReviewRound.due, func.count())
        .join(Allocation, Allocation.round_id == ReviewRound.id)
        .where(Allocation.reviewer_id == person_id, Allocation.withdrawn.is_(False),
               ReviewRound.due.is_not(None))
        .group_by(ReviewRound.id, ReviewRound.name, ReviewRound.due)
        .order_by(ReviewRound.due, ReviewRound.id)).all()
    return {"turns": my_turns(session, person_id),
            "reviews": [{"id": rid, "round": name, "due": due, "tasks": n}
                        for rid, name, due, n in rows]}
