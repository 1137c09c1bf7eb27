"""Topic threads of the study groups, as store operations: every access rule lives here.

One thread per study group per plan session with a discussion. The rota's facilitator (or
co-facilitator) opens it from the module's prompts, members, their tutor and the coordinator
reply (threaded by `parent_id`), and the facilitator or the tutor closes it with a summary.
Like course/cohort/reviewing.py, each function takes the session and the acting person's id
and returns plain data; a group that is not theirs is `NotFound`. The plan's sessions (with
their prompts) come from the room (course/room/calendar.py `sessions`), as `plan`.
Hidden posts are served only to the group's staff (its tutor, the coordinator) and their author.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from course.cohort.db import audit
from course.cohort.models import (ContentFlag, Membership, Person, Post, RotaEntry, StudyGroup,
                                  Thread, utcnow)
from course.cohort.reviewing import (Invalid, NotFound, Refused, _group_of, _session_key,
                                     _tutored_groups, person)

MAX_TITLE = 200
MAX_BODY = 10000
STAFF = ("tutor", "coordinator")


# --- who may do what in a group -------------------------------------------------------------

def _me(session: Session, person_id: str) -> Person:
    me = person(session, person_id)
    if me is None:
        raise NotFound("no such page")
    return me


def role_in_group(session: Session, person_id: str, group_label: str) -> str | None:
    """member, tutor or coordinator when the person may take part in the group; else None."""
    me = person(session, person_id)
    if me is None or session.get(StudyGroup, group_label) is None:
        return None
    if me.role == "coordinator":
        return "coordinator"
    if me.role == "tutor":
        return "tutor" if group_label in _tutored_groups(session, me.id) else None
    return "member" if _group_of(session, me.id) == group_label else None


def is_staff_of(session: Session, person_id: str, group_label: str) -> bool:
    """The group's tutor, or any coordinator."""
    return role_in_group(session, person_id, group_label) in STAFF


def _visible_groups(session: Session, me: Person) -> list[str]:
    if me.role == "coordinator":
        labels = list(session.scalars(select(StudyGroup.label)))
    elif me.role == "tutor":
        labels = _tutored_groups(session, me.id)
    else:
        label = _group_of(session, me.id)
        labels = [label] if label else []
    return sorted(labels, key=_session_key)


def _discussions(plan: list[dict]) -> list[dict]:
    return [x for x in plan if x.get("discussion")]


def _plan_session(plan: list[dict], label: str) -> dict:
    found = next((x for x in _discussions(plan) if x["label"] == label), None)
    if found is None:  # no such session, or one without a discussion: no thread there
        raise NotFound("no such discussion")
    return found


def _access(session: Session, person_id: str, group_label: str, label: str,
            plan: list[dict]) -> tuple[str, dict]:
    role = role_in_group(session, person_id, group_label)
    if role is None:
        raise NotFound("no such discussion")
    return role, _plan_session(plan, label)


def require_access(session: Session, person_id: str, group_label: str, label: str,
                   plan: list[dict]) -> str:
    """The person's role in this group's discussion of this session; NotFound if not theirs."""
    return _access(session, person_id, group_label, label, plan)[0]


def _thread(session: Session, group_label: str, label: str) -> Thread | None:
    return session.scalar(select(Thread).where(Thread.group_label == group_label,
                                               Thread.session == label))


def _rota(session: Session, group_label: str, label: str) -> RotaEntry | None:
    return session.get(RotaEntry, (group_label, label))


def _facilitates(entry: RotaEntry | None, person_id: str) -> bool:
    return entry is not None and person_id in (entry.facilitator_id, entry.co_facilitator_id)


def _names(session: Session) -> dict[str, str]:
    return {pid: name or pid for pid, name in session.execute(select(Person.id, Person.name))}


def _members(session: Session, group_label: str) -> list[Person]:
    return list(session.scalars(select(Person).join(Membership, Membership.person_id == Person.id)
                                .where(Membership.group_label == group_label, Person.active)
                                .order_by(Person.name, Person.id)))


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat(sep=" ", timespec="minutes") if value else None


def _text(value, field: str, limit: int, what: str) -> str:
    # Browsers send a textarea's line breaks as CRLF: store them as the Markdown was typed.
    # PostgreSQL refuses NUL in text (a 500 there): dropped, as nobody types one.
    text = str(value or "").replace("\r\n", "\n").replace("\x00", "").strip()
    if not text:
        raise Invalid({field: f"write {what}"})
    if len(text) > limit:
        raise Invalid({field: f"at most {limit} characters ({len(text)} now)"})
    return text


def _session_view(x: dict) -> dict:
    return {"label": x["label"], "title": x["title"], "first": x["first"], "last": x["last"]}


def _rota_view(entry: RotaEntry | None, names: dict) -> dict:
    if entry is None:
        return {"facilitator": None, "co_facilitator": None}
    person_view = lambda pid: {"id": pid, "name": names.get(pid, pid)} if pid else None  # noqa: E731
    return {"facilitator": person_view(entry.facilitator_id),
            "co_facilitator": person_view(entry.co_facilitator_id)}


# --- reading ------------------------------------------------------------------------------

def threads(session: Session, person_id: str, plan: list[dict]) -> list[dict]:
    """Per discussion session, the person's groups' threads: opened, closed, posts, facilitators."""
    me = _me(session, person_id)
    groups = _visible_groups(session, me)
    if not groups:
        return []
    names = _names(session)
    found = {(t.group_label, t.session): t for t in session.scalars(
        select(Thread).where(Thread.group_label.in_(groups)))}
    counts = dict(session.execute(select(Post.thread_id, func.count()).where(
        Post.thread_id.in_([t.id for t in found.values()]), Post.hidden_at.is_(None))
        .group_by(Post.thread_id)).all())
    rota = {(r.group_label, r.session): r for r in session.scalars(
        select(RotaEntry).where(RotaEntry.group_label.in_(groups)))}
    out = []
    for x in _discussions(plan):
        rows = []
        for g in groups:
            t, entry = found.get((g, x["label"])), rota.get((g, x["label"]))
            rows.append({"group": g, **_rota_view(entry, names),
                         "mine": _facilitates(entry, me.id),
                         "opened": t is not None, "title": t.title if t else "",
                         "closed": bool(t and t.closed_at),
                         "posts": counts.get(t.id, 0) if t else 0})
        out.append({**_session_view(x), "groups": rows})
    return out


def _visible(post: Post, person_id: str, staff: bool) -> bool:
    return post.hidden_at is None or staff or post.author_id == person_id


def _tree(posts: list[Post], person_id: str, staff: bool, names: dict, roles: dict,
          flags: dict, mine: set) -> list[dict]:
    """Posts as a tree in time order. A hidden post others may not see is left out, or shown as
    an empty placeholder when visible replies hang from it (so the threading still reads)."""
    children: dict[int | None, list[Post]] = {}
    for p in posts:
        children.setdefault(p.parent_id, []).append(p)

    def build(parent_id):
        out = []
        for p in children.get(parent_id, []):
            below = build(p.id)
            if _visible(p, person_id, staff):
                out.append({
                    "id": p.id, "parent_id": p.parent_id, "kind": p.kind, "body": p.body,
                    "author_id": p.author_id, "author": names.get(p.author_id, p.author_id),
                    "author_role": roles.get(p.author_id, ""), "mine": p.author_id == person_id,
                    "created_at": _when(p.created_at), "edited_at": _when(p.edited_at),
                    "hidden": p.hidden_at is not None, "hidden_reason": p.hidden_reason if p.hidden_at else "",
                    "hidden_by": names.get(p.hidden_by, "") if p.hidden_at and staff else "",
                    "open_flags": flags.get(str(p.id), 0) if staff else 0,
                    "flagged_by_me": str(p.id) in mine, "children": below, "placeholder": False})
            elif below:
                out.append({"id": p.id, "parent_id": p.parent_id, "kind": p.kind, "placeholder": True,
                            "hidden": True, "children": below})
        return out

    return build(None)


def thread_view(session: Session, person_id: str, group_label: str, label: str,
                plan: list[dict]) -> dict:
    """One group's thread of one session (or, not yet opened, what opening it takes)."""
    role, x = _access(session, person_id, group_label, label, plan)
    staff = role in STAFF
    names = _names(session)
    entry = _rota(session, group_label, label)
    t = _thread(session, group_label, label)
    posts = list(session.scalars(select(Post).where(Post.thread_id == t.id)
                                 .order_by(Post.created_at, Post.id))) if t else []
    ids = [str(p.id) for p in posts]
    flags = dict(session.execute(select(ContentFlag.item_id, func.count()).where(
        ContentFlag.kind == "post", ContentFlag.item_id.in_(ids), ContentFlag.outcome == "")
        .group_by(ContentFlag.item_id)).all()) if ids else {}
    mine = set(session.scalars(select(ContentFlag.item_id).where(
        ContentFlag.kind == "post", ContentFlag.item_id.in_(ids), ContentFlag.flagged_by == person_id,
        ContentFlag.outcome == ""))) if ids else set()
    roles = dict(session.execute(select(Person.id, Person.role).where(Person.role.in_(STAFF))).all())
    facilitates = _facilitates(entry, person_id)
    open_ = t is not None and t.closed_at is None
    return {
        "group": group_label, "session": _session_view(x), "role": role, "staff": staff,
        **_rota_view(entry, names), "facilitating": facilitates,
        "thread": {"id": t.id, "title": t.title, "opened_by": names.get(t.opened_by, t.opened_by),
                   "opened_at": _when(t.opened_at), "closed_at": _when(t.closed_at)} if t else None,
        "posts": _tree(posts, person_id, staff, names, roles, flags, mine),
        "prompts": x["prompts"],
        "can_open": t is None and facilitates,
        "can_reply": open_,
        "can_close": open_ and (facilitates or staff),
        "can_swap": staff,
        "members": [{"id": m.id, "name": m.name or m.id} for m in _members(session, group_label)]
                   if staff else [],
    }


def visible_post(session: Session, person_id: str, group_label: str, label: str, post_id: int,
                 plan: list[dict]) -> Post:
    """A post of this thread that the person may see; anything else is NotFound."""
    role, _ = _access(session, person_id, group_label, label, plan)
    t = _thread(session, group_label, label)
    post = session.get(Post, post_id)
    if t is None or post is None or post.thread_id != t.id or not _visible(post, person_id, role in STAFF):
        raise NotFound("no such post")
    return post


# --- writing ------------------------------------------------------------------------------

def open_thread(session: Session, person_id: str, group_label: str, label: str, title: str,
                body: str, plan: list[dict]) -> dict:
    """The facilitator (or co-facilitator) opens the thread with a title and an opening post."""
    _access(session, person_id, group_label, label, plan)
    if not _facilitates(_rota(session, group_label, label), person_id):
        raise Refused("only this session's facilitator or co-facilitator opens the discussion")
    if _thread(session, group_label, label) is not None:
        raise Refused("this discussion is open already")
    errors, checked = {}, {}
    for field, value, limit, what in (("title", title, MAX_TITLE, "a title"),
                                      ("body", body, MAX_BODY, "the opening post")):
        try:
            checked[field] = _text(value, field, limit, what)
        except Invalid as err:
            errors.update(err.errors)
    if errors:
        raise Invalid(errors)
    title, body = checked["title"], checked["body"]
    now = utcnow()
    t = Thread(group_label=group_label, session=label, title=title, opened_by=person_id,
               opened_at=now)
    try:
        with session.begin_nested():  # the co-facilitator may have opened it a moment ago
            session.add(t)
            session.flush()
    except IntegrityError:
        raise Refused("this discussion is open already") from None
    post = Post(thread_id=t.id, author_id=person_id, kind="opening", body=body, created_at=now)
    session.add(post)
    session.flush()
    audit(session, person_id, "thread.open", f"{group_label}/{label}", thread=t.id, post=post.id)
    return {"thread_id": t.id, "post_id": post.id}


def reply(session: Session, person_id: str, group_label: str, label: str, body: str,
          plan: list[dict], parent_id: int | None = None) -> dict:
    """A reply to the thread, or to one of its posts (`parent_id`), by a member or staff."""
    _access(session, person_id, group_label, label, plan)
    t = _thread(session, group_label, label)
    if t is None:
        raise Refused("this discussion is not open yet: its facilitator opens it")
    if parent_id is not None:
        visible_post(session, person_id, group_label, label, parent_id, plan)
    if t.closed_at is not None:
        raise Refused("this discussion is closed: its summary is posted")
    text = _text(body, "body", MAX_BODY, "your reply")
    post = Post(thread_id=t.id, parent_id=parent_id, author_id=person_id, kind="reply", body=text)
    session.add(post)
    session.flush()
    audit(session, person_id, "post.reply", f"{group_label}/{label}", post=post.id, parent=parent_id)
    return {"thread_id": t.id, "post_id": post.id}


def close_thread(session: Session, person_id: str, group_label: str, label: str, body: str,
                 plan: list[dict]) -> dict:
    """The closing summary, by the facilitator, co-facilitator or the group's staff."""
    role, _ = _access(session, person_id, group_label, label, plan)
    t = _thread(session, group_label, label)
    if t is None:
        raise Refused("this discussion is not open yet")
    if not (role in STAFF or _facilitates(_rota(session, group_label, label), person_id)):
        raise Refused("only the facilitator or the tutor closes the discussion")
    if t.closed_at is not None:
        raise Refused("this discussion is closed already")
    text = _text(body, "summary", MAX_BODY, "the summary")
    now = utcnow()
    post = Post(thread_id=t.id, author_id=person_id, kind="summary", body=text, created_at=now)
    session.add(post)
    t.closed_at = now
    session.flush()
    audit(session, person_id, "thread.close", f"{group_label}/{label}", thread=t.id, post=post.id)
    return {"thread_id": t.id, "post_id": post.id}


def edit_post(session: Session, person_id: str, group_label: str, label: str, post_id: int,
              body: str, plan: list[dict]) -> dict:
    """Authors may correct their own posts (not once hidden); the audit log keeps the old text."""
    post = visible_post(session, person_id, group_label, label, post_id, plan)
    if post.author_id != person_id:
        raise NotFound("no such post")
    if post.hidden_at is not None:
        raise Refused("a hidden post cannot be edited")
    text = _text(body, "body", MAX_BODY, "the post")
    if text != post.body:
        audit(session, person_id, "post.edit", f"{group_label}/{label}", post=post.id, before=post.body)
        post.body, post.edited_at = text, utcnow()
    return {"post_id": post.id}


def swap_facilitator(session: Session, person_id: str, group_label: str, label: str,
                     facilitator_id: str, co_facilitator_id: str | None, plan: list[dict]) -> dict:
    """The group's tutor (or the coordinator) gives a session's facilitation to other members."""
    role, _ = _access(session, person_id, group_label, label, plan)
    if role not in STAFF:
        raise NotFound("no such page")
    members = {m.id for m in _members(session, group_label)}
    lead, co = str(facilitator_id or "").strip(), str(co_facilitator_id or "").strip() or None
    errors = {}
    if lead not in members:
        errors["facilitator_id"] = f"choose a member of group {group_label}"
    if co is not None and co not in members:
        errors["co_facilitator_id"] = f"choose a member of group {group_label}, or nobody"
    elif co is not None and co == lead:
        errors["co_facilitator_id"] = "the co-facilitator must be someone else"
    if errors:
        raise Invalid(errors)
    entry = _rota(session, group_label, label)
    before = (entry.facilitator_id, entry.co_facilitator_id) if entry else (None, None)
    if entry is None:
        entry = RotaEntry(group_label=group_label, session=label, facilitator_id=lead)
        session.add(entry)
    entry.facilitator_id, entry.co_facilitator_id = lead, co
    audit(session, person_id, "rota.swap", f"{group_label}/{label}", before=list(before),
          after=[lead, co])
    return {"group": group_label, "session": label, "facilitator_id": lead, "co_facilitator_id": co}


# --- tutors: where the groups stand, who takes part --------------------------------------

def staff_groups(session: Session, person_id: str) -> list[str]:
    """The groups a tutor follows (the coordinator: all); NotFound for anyone else."""
    me = _me(session, person_id)
    if me.role not in STAFF:
        raise NotFound("no such page")
    return _visible_groups(session, me)


def _posts_by(session: Session, groups: list[str]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(group, session) -> [(author, kind)] of every post, hidden ones too (they took part)."""
    rows = session.execute(select(Thread.group_label, Thread.session, Post.author_id, Post.kind)
                           .join(Post, Post.thread_id == Thread.id)
                           .where(Thread.group_label.in_(groups))).all()
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for g, label, author, kind in rows:
        out.setdefault((g, label), []).append((author, kind))
    return out


def overview(session: Session, person_id: str, plan: list[dict], today: dt.date | None = None) -> dict:
    """For a tutor's groups (the coordinator: all), per discussion session: opened, summary,
    counts and who in the group has not posted; plus the started sessions needing attention."""
    groups = staff_groups(session, person_id)
    today = today or dt.date.today()
    names = _names(session)
    members = {g: _members(session, g) for g in groups}
    found = {(t.group_label, t.session): t for t in session.scalars(
        select(Thread).where(Thread.group_label.in_(groups)))} if groups else {}
    rota = {(r.group_label, r.session): r for r in session.scalars(
        select(RotaEntry).where(RotaEntry.group_label.in_(groups)))} if groups else {}
    posts = _posts_by(session, groups) if groups else {}
    sessions, no_opening, no_summary = [], [], []
    for x in _discussions(plan):
        started, ended = x["first"] <= today, x["last"] < today
        rows = []
        for g in groups:
            t = found.get((g, x["label"]))
            written = posts.get((g, x["label"]), [])
            authors = {a for a, _ in written}
            row = {"group": g, **_rota_view(rota.get((g, x["label"])), names),
                   "opened": t is not None, "title": t.title if t else "",
                   "summary": bool(t and t.closed_at),
                   "posts": len(written), "replies": sum(k == "reply" for _, k in written),
                   "taken_part": sum(m.id in authors for m in members[g]),
                   "members": len(members[g]),
                   "missing": [m.name or m.id for m in members[g] if m.id not in authors]}
            rows.append(row)
            if started and not row["opened"]:
                no_opening.append({"group": g, "session": x["label"], "ended": ended})
            elif started and not row["summary"]:
                no_summary.append({"group": g, "session": x["label"], "ended": ended})
        sessions.append({**_session_view(x), "started": started, "ended": ended, "groups": rows})
    return {"groups": groups, "sessions": sessions, "no_opening": no_opening, "no_summary": no_summary}


PARTICIPATION_COLUMNS = ("group", "person_id", "name", "session", "posts", "openings", "replies",
                         "summaries", "hidden")


def participation(session: Session, person_id: str, plan: list[dict]) -> list[dict]:
    """Per member of the staff member's groups and per discussion session: what they wrote."""
    groups = staff_groups(session, person_id)
    if not groups:
        return []
    counts: dict[tuple[str, str, str], dict] = {}
    rows = session.execute(select(Thread.group_label, Thread.session, Post.author_id, Post.kind,
                                  Post.hidden_at)
                           .join(Post, Post.thread_id == Thread.id)
                           .where(Thread.group_label.in_(groups))).all()
    for g, label, author, kind, hidden in rows:
        c = counts.setdefault((g, label, author), {"posts": 0, "opening": 0, "reply": 0,
                                                   "summary": 0, "hidden": 0})
        c["posts"] += 1
        c[kind] = c.get(kind, 0) + 1
        c["hidden"] += hidden is not None
    out = []
    for g in groups:
        for m in _members(session, g):
            for x in _discussions(plan):
                c = counts.get((g, x["label"], m.id), {})
                out.append({"group": g, "person_id": m.id, "name": m.name, "session": x["label"],
                            "posts": c.get("posts", 0), "openings": c.get("opening", 0),
                            "replies": c.get("reply", 0), "summaries": c.get("summary", 0),
                            "hidden": c.get("hidden", 0)})
    return out


__all__ = ["MAX_BODY", "MAX_TITLE", "PARTICIPATION_COLUMNS", "close_thread", "edit_post",
           "is_staff_of", "open_thread", "require_access", "staff_groups", "overview", "participation", "reply", "role_in_group",
           "swap_facilitator", "thread_view", "threads", "visible_post"]
