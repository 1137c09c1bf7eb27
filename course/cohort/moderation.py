"""Moderation of posts and annotations, as store operations: flag, hide, unhide, keep, queue.

Anyone may flag what they can see; the staff of the item's study group (its tutor, any
coordinator) hide it with a reason its author sees, show it again, or keep it as it is.
Who may see or moderate a post follows course/cohort/discussion.py; for an annotation,
course/cohort/annotations.py decides (`can_see`, `can_moderate`, imported where used so
that the two modules do not import each other). Every flag and decision is audited.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from course.cohort import discussion
from course.cohort.db import audit
from course.cohort.models import Annotation, ContentFlag, Person, Post, Thread, utcnow
from course.cohort.reviewing import Invalid, NotFound, Refused

KINDS = ("post", "annotation")
MAX_REASON = 2000


def _item(session: Session, kind: str, item_id) -> Post | Annotation:
    item = None
    if kind == "post" and re.fullmatch(r"[0-9]{1,9}", str(item_id)):
        item = session.get(Post, int(item_id))
    elif kind == "annotation" and re.fullmatch(r"[0-9A-Za-z-]{1,64}", str(item_id)):
        item = session.get(Annotation, str(item_id))
    if item is None:
        raise NotFound(f"no such {kind if kind in KINDS else 'item'}")
    return item


def can_see(session: Session, person_id: str, kind: str, item) -> bool:
    if kind == "post":
        group = session.get(Thread, item.thread_id).group_label
        role = discussion.role_in_group(session, person_id, group)
        return role is not None and (item.hidden_at is None or role in discussion.STAFF
                                     or item.author_id == person_id)
    from course.cohort import annotations

    return annotations.can_see(session, person_id, item)


def can_moderate(session: Session, person_id: str, kind: str, item) -> bool:
    if kind == "post":
        return discussion.is_staff_of(session, person_id, session.get(Thread, item.thread_id).group_label)
    from course.cohort import annotations

    return annotations.can_moderate(session, person_id, item)


def _reason(reason, what: str) -> str:
    if reason is not None and not isinstance(reason, str):  # a JSON list or object, say
        raise Invalid({"reason": "must be text"})
    # PostgreSQL refuses NUL in text (a 500), and nobody types one: dropped, as for annotations
    text = (reason or "").replace("\x00", "").strip()
    if not text:
        raise Invalid({"reason": what})
    if len(text) > MAX_REASON:
        raise Invalid({"reason": f"at most {MAX_REASON} characters ({len(text)} now)"})
    return text


def _open_flags(session: Session, kind: str, item_id: str) -> list[ContentFlag]:
    return list(session.scalars(select(ContentFlag).where(
        ContentFlag.kind == kind, ContentFlag.item_id == item_id, ContentFlag.outcome == "")))


def flag(session: Session, actor_id: str, kind: str, item_id, reason: str) -> dict:
    """Flag a post or annotation the person can see, for the group's staff to look at."""
    item = _item(session, kind, item_id)
    if not can_see(session, actor_id, kind, item):
        raise NotFound(f"no such {kind}")
    if item.author_id == actor_id:
        raise Refused(f"this {kind} is your own")
    if item.hidden_at is not None:
        raise Refused(f"this {kind} is hidden already")
    text = _reason(reason, "say briefly what is wrong with it")
    key = str(item.id)
    existing = session.scalar(select(ContentFlag).where(
        ContentFlag.kind == kind, ContentFlag.item_id == key, ContentFlag.flagged_by == actor_id))
    if existing is not None and not existing.outcome:
        raise Refused(f"you have flagged this {kind} already")
    if existing is not None:  # kept after an earlier flag: flagged again, for a new look
        existing.reason, existing.at, existing.outcome = text, utcnow(), ""
        existing.decided_by = existing.decided_at = None
    else:
        try:
            with session.begin_nested():  # the same person's flag sent twice at once
                session.add(ContentFlag(kind=kind, item_id=key, flagged_by=actor_id, reason=text))
                session.flush()
        except IntegrityError:
            raise Refused(f"you have flagged this {kind} already") from None
    audit(session, actor_id, "content.flag", f"{kind}:{key}", reason=text)
    return {"kind": kind, "item_id": key, "flagged": True}


def _decide(session: Session, actor_id: str, kind: str, key: str, outcome: str) -> int:
    flags = _open_flags(session, kind, key)
    now = utcnow()
    for f in flags:
        f.outcome, f.decided_by, f.decided_at = outcome, actor_id, now
    return len(flags)


def hide(session: Session, actor_id: str, kind: str, item_id, reason: str) -> dict:
    """Staff of the item's group hide it; the reason is shown to its author (and kept)."""
    item = _item(session, kind, item_id)
    if not can_moderate(session, actor_id, kind, item):
        raise NotFound(f"no such {kind}")
    text = _reason(reason, "give the reason (its author will read it)")
    if item.hidden_at is not None:
        raise Refused(f"this {kind} is hidden already")
    item.hidden_at, item.hidden_by, item.hidden_reason = utcnow(), actor_id, text
    key = str(item.id)
    decided = _decide(session, actor_id, kind, key, "hidden")
    audit(session, actor_id, "content.hide", f"{kind}:{key}", reason=text, flags=decided,
          author=item.author_id)
    return {"kind": kind, "item_id": key, "hidden": True}


def unhide(session: Session, actor_id: str, kind: str, item_id) -> dict:
    """Show a hidden item again (the audit log keeps why it was hidden)."""
    item = _item(session, kind, item_id)
    if not can_moderate(session, actor_id, kind, item):
        raise NotFound(f"no such {kind}")
    if item.hidden_at is None:
        raise Refused(f"this {kind} is not hidden")
    key = str(item.id)
    audit(session, actor_id, "content.unhide", f"{kind}:{key}", was_hidden_by=item.hidden_by,
          reason=item.hidden_reason)
    item.hidden_at, item.hidden_by, item.hidden_reason = None, None, ""
    return {"kind": kind, "item_id": key, "hidden": False}


def keep(session: Session, actor_id: str, kind: str, item_id) -> dict:
    """Staff look at the flags on an item and keep it as it is."""
    item = _item(session, kind, item_id)
    if not can_moderate(session, actor_id, kind, item):
        raise NotFound(f"no such {kind}")
    key = str(item.id)
    decided = _decide(session, actor_id, kind, key, "kept")
    if not decided:
        raise Refused(f"this {kind} has no open flag")
    audit(session, actor_id, "content.keep", f"{kind}:{key}", flags=decided)
    return {"kind": kind, "item_id": key, "kept": decided}


def queue(session: Session, actor_id: str) -> list[dict]:
    """Open flags and hidden items in the staff member's groups: flagged first, oldest first."""
    groups = set(discussion.staff_groups(session, actor_id))
    names = {pid: name or pid for pid, name in session.execute(select(Person.id, Person.name))}
    flags: dict[tuple[str, str], list[ContentFlag]] = {}
    for f in session.scalars(select(ContentFlag).where(ContentFlag.outcome == "").order_by(ContentFlag.at)):
        flags.setdefault((f.kind, f.item_id), []).append(f)
    post_ids = [int(i) for k, i in flags if k == "post" and i.isdigit()]
    rows = session.execute(select(Post, Thread).join(Thread, Thread.id == Post.thread_id).where(
        Thread.group_label.in_(groups), Post.hidden_at.is_not(None) | Post.id.in_(post_ids))).all()
    out = []
    for post, t in rows:
        out.append(_entry(names, flags.get(("post", str(post.id)), []), post, {
            "kind": "post", "group": t.group_label, "where": f"session {t.session}: {t.title}",
            "link": f"discussion/{t.group_label}/{t.session}#post-{post.id}"}))
    annotation_ids = [i for k, i in flags if k == "annotation"]
    candidates = session.scalars(select(Annotation).where(
        Annotation.hidden_at.is_not(None) | Annotation.id.in_(annotation_ids))).all()
    for a in candidates:
        if can_moderate(session, actor_id, "annotation", a):
            out.append(_entry(names, flags.get(("annotation", a.id), []), a, {
                "kind": "annotation", "group": a.group_label or "", "where": a.page,
                "link": f"book/{a.page}"}))
    out.sort(key=lambda e: (not e["flags"], e["flags"][0]["at"] if e["flags"] else e["hidden_at"] or ""))
    return out


def _entry(names: dict, flags: list[ContentFlag], item, where: dict) -> dict:
    when = lambda v: v.isoformat(sep=" ", timespec="minutes") if v else None  # noqa: E731
    return {**where, "item_id": str(item.id), "author": names.get(item.author_id, item.author_id),
            "body": item.body, "created_at": when(item.created_at),
            "hidden": item.hidden_at is not None, "hidden_at": when(item.hidden_at),
            "hidden_by": names.get(item.hidden_by, "") if item.hidden_by else "",
            "hidden_reason": item.hidden_reason if item.hidden_at else "",
            "flags": [{"by": names.get(f.flagged_by, f.flagged_by), "reason": f.reason, "at": when(f.at)}
                      for f in flags]}


__all__ = ["KINDS", "MAX_REASON", "can_moderate", "can_see", "flag", "hide", "keep", "queue", "unhide"]
