"""Annotations on the readings: comments on passages of book pages, replies, who sees what.

An annotation is a W3C Web Annotation made in the browser by @recogito/text-annotator: its
`target` holds, per selected range, a TextQuoteSelector (the passage's text with up to ten
characters before and after it) and a TextPositionSelector (character offsets in the page's
article). A root annotation carries the comment; replies hang under it and carry its audience.

Who sees a root annotation (`can_see`):
- audience "group": the study group it was made for (the author's, or for a tutor the group
  they named), that group's tutor and the coordinators; audience "cohort": everyone on the
  course. The author always sees their own.
- a hidden one (moderation.py hides): only its author (with the reason) and the staff who may
  moderate it (`can_moderate`: the tutor of its group, any coordinator).
A reply is seen by whoever sees its root (a hidden reply, again, by its author and moderators).

Re-anchoring after a rebuild of the book. The library anchors by character offsets only, which
shift whenever anything earlier on the page changes, so offsets are never trusted across builds:
- the server (`reanchor`) compares each root's quote with the text of the page it serves,
  whitespace collapsed: a target is found when its quote occurs with its prefix and suffix, or
  when the quote alone occurs exactly once on the page. Roots with a target not found get
  `orphaned_at` (and lose it when a later build brings the passage back); the room runs this
  once per build of a page and lists orphaned roots separately ("comments on passages that
  changed"), with their quote, never drops them.
- the page script (course/room/static/annotate.js) applies the same rule to the page's live
  text to compute fresh offsets before handing the annotations to the library, which then
  anchors and draws them itself.

Deleting a root that has replies keeps it, with its text removed (shown as "deleted by its
author"), so that the replies keep their context; when its last reply goes, it goes too.
Every change is audited (course/cohort/db.py audit), with the text it replaced.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from course.cohort.db import audit
from course.cohort.models import AUDIENCES, Annotation, ContentFlag, Person, StudyGroup, utcnow
from course.cohort.reviewing import (Invalid, NotFound, Refused, _group_of, _tutored_groups,
                                     person)

MAX_BODY = 5000  # characters of a comment or reply
MAX_QUOTE = 5000  # characters of one selected passage
MAX_CONTEXT = 200  # characters of a quote's prefix or suffix
MAX_TARGETS = 20  # ranges of one selection
MAX_PAGE = 300
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PAGE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*\.html")
SPACE = re.compile(r"\s+")


# --- who is asking -----------------------------------------------------------------------------

@dataclass
class Viewer:
    """What the rules need to know about the acting person (built once per request)."""

    id: str
    role: str
    group: str | None = None  # a participant's study group
    tutored: set[str] = field(default_factory=set)  # a tutor's groups

    @property
    def coordinator(self) -> bool:
        return self.role == "coordinator"


def viewer(session: Session, person_id: str) -> Viewer:
    me = person(session, person_id)
    if me is None:
        raise NotFound("not on this course")
    return Viewer(me.id, me.role, _group_of(session, me.id),
                  set(_tutored_groups(session, me.id)) if me.role == "tutor" else set())


def _audience_ok(v: Viewer, root: Annotation) -> bool:
    if root.author_id == v.id or v.coordinator or root.audience == "cohort":
        return True
    return root.group_label is not None and (root.group_label == v.group
                                             or root.group_label in v.tutored)


def _moderates(v: Viewer, item: Annotation) -> bool:
    # A reply's group is its root's (audience group) or its author's (audience cohort).
    return v.coordinator or (item.group_label is not None and item.group_label in v.tutored)


def _shown(v: Viewer, item: Annotation) -> bool:
    return item.hidden_at is None or item.author_id == v.id or _moderates(v, item)


def _visible(v: Viewer, item: Annotation, root: Annotation) -> bool:
    return _audience_ok(v, root) and _shown(v, root) and (item is root or _shown(v, item))


def _root_of(session: Session, item: Annotation) -> Annotation:
    return item if item.parent_id is None else session.get(Annotation, item.parent_id)


def can_see(session: Session, person_id: str, annotation: Annotation) -> bool:
    """May this person see this annotation (or reply)? (moderation.py asks.)"""
    try:
        v = viewer(session, person_id)
    except NotFound:
        return False
    root = _root_of(session, annotation)
    return root is not None and _visible(v, annotation, root)


def can_moderate(session: Session, person_id: str, annotation: Annotation) -> bool:
    """May this person hide or unhide it: the tutor of its group, or a coordinator."""
    me = person(session, person_id)
    if me is None or me.role not in ("tutor", "coordinator"):
        return False
    v = Viewer(me.id, me.role, None,
               set(_tutored_groups(session, me.id)) if me.role == "tutor" else set())
    return _moderates(v, annotation) and can_see(session, person_id, annotation)


def audience_choices(session: Session, person_id: str) -> dict:
    """The groups a person may annotate for ("group" audience), for the page's picker."""
    v = viewer(session, person_id)
    if v.coordinator:
        groups = list(session.scalars(select(StudyGroup.label).order_by(StudyGroup.label)))
    elif v.role == "tutor":
        groups = sorted(v.tutored)
    else:
        groups = [v.group] if v.group else []
    return {"role": v.role, "groups": groups, "own_group": v.group}


# --- reading ---------------------------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat(sep=" ", timespec="minutes") if value else None


def _view(v: Viewer, a: Annotation, names: dict[str, str]) -> dict:
    hidden_seen = a.hidden_at is not None  # only served to its author and moderators
    out = {"id": a.id, "author": names.get(a.author_id, a.author_id), "mine": a.author_id == v.id,
           "audience": a.audience, "group": a.group_label if a.audience == "group" else None,
           "body": a.body, "deleted": a.body == "", "created": _iso(a.created_at),
           "edited": a.updated_at is not None and a.created_at is not None
           and a.updated_at > a.created_at and a.body != "",
           "hidden": hidden_seen, "can_moderate": _moderates(v, a)}
    if hidden_seen:
        out["hidden_reason"] = a.hidden_reason
    if a.parent_id is None:
        out.update(quote=a.quote, target=_passages(a.target), orphaned=a.orphaned_at is not None)
    return out


def _passages(target: list[dict] | None) -> list[dict]:
    """What the page script needs to find each range again: its quote with prefix and suffix
    (the offsets of the build it was made on are of no use on another)."""
    out = []
    for t in target or []:
        quote = next((x for x in t.get("selector", []) if x.get("type") == "TextQuoteSelector"), {})
        out.append({"exact": quote.get("exact", ""), "prefix": quote.get("prefix", ""),
                    "suffix": quote.get("suffix", "")})
    return out


def _position(a: Annotation) -> int:
    for target in a.target or []:
        for selector in target.get("selector", []):
            if selector.get("type") == "TextPositionSelector":
                return int(selector.get("start", 0))
    return 0


LISTED = [Annotation.id, Annotation.parent_id, Annotation.author_id, Annotation.audience,
          Annotation.group_label, Annotation.target, Annotation.quote, Annotation.body,
          Annotation.created_at, Annotation.updated_at, Annotation.orphaned_at,
          Annotation.hidden_at, Annotation.hidden_reason]


def page_annotations(session: Session, person_id: str, page: str) -> dict:
    """The page's root annotations this person may see, each with its replies: anchored ones in
    reading order, and apart from them the orphaned ones (their passage changed)."""
    v = viewer(session, person_id)
    page = check_page(page)
    # Plain rows, not ORM objects: a page with 2,000 annotations is common (bench/annotations.py).
    query = select(*LISTED).where(Annotation.page == page)
    if not v.coordinator:  # the audience rule in SQL (2,000 annotations on a page are common)
        query = query.where(or_(Annotation.parent_id.is_not(None), Annotation.audience == "cohort",
                                Annotation.author_id == v.id,
                                Annotation.group_label.in_({v.group, *v.tutored} - {None})))
    rows = session.execute(query).all()
    roots = {a.id: a for a in rows if a.parent_id is None and _visible(v, a, a)}
    replies: dict[str, list] = {}
    for a in rows:
        if a.parent_id in roots and _shown(v, a):
            replies.setdefault(a.parent_id, []).append(a)
    authors = {a.author_id for a in roots.values()} | {r.author_id for rs in replies.values() for r in rs}
    names = dict(session.execute(select(Person.id, Person.name).where(Person.id.in_(authors))).all()) \
        if authors else {}
    names = {k: n or k for k, n in names.items()}
    anchored, orphaned = [], []
    for root in sorted(roots.values(), key=lambda a: (_position(a), a.created_at, a.id)):
        item = _view(v, root, names)
        item["replies"] = [_view(v, r, names)
                           for r in sorted(replies.get(root.id, []), key=lambda r: (r.created_at, r.id))]
        (orphaned if root.orphaned_at is not None else anchored).append(item)
    orphaned.sort(key=lambda x: x["created"] or "")
    return {"page": page, "annotations": anchored, "orphaned": orphaned}


def _visible_item(session: Session, v: Viewer, annotation_id) -> tuple[Annotation, Annotation]:
    if not isinstance(annotation_id, str) or not ID.fullmatch(annotation_id.lower()):
        raise NotFound("no such annotation")
    item = session.get(Annotation, annotation_id.lower())
    root = _root_of(session, item) if item is not None else None
    if item is None or root is None or not _visible(v, item, root):
        raise NotFound("no such annotation")
    return item, root


def visible(session: Session, person_id: str, annotation_id) -> Annotation:
    """The annotation (or reply) of that id if this person may see it; else NotFound."""
    return _visible_item(session, viewer(session, person_id), annotation_id)[0]


def get(session: Session, person_id: str, annotation_id: str) -> dict:
    """One annotation (a root with its replies, or a reply) this person may see."""
    v = viewer(session, person_id)
    item, root = _visible_item(session, v, annotation_id)
    listing = page_annotations(session, person_id, root.page)
    for entry in listing["annotations"] + listing["orphaned"]:
        if entry["id"] == root.id:
            return entry if item is root else next(r for r in entry["replies"] if r["id"] == item.id)
    raise NotFound("no such annotation")


# --- checking what the page script sends -------------------------------------------------------

def check_page(page) -> str:
    """A page of the book: its path from the book's root, e.g. modules/x/reading.html."""
    if not isinstance(page, str) or not page or len(page) > MAX_PAGE or not PAGE.fullmatch(page) \
            or ".." in page.split("/"):
        raise Invalid({"page": "not a page of the book (its path, e.g. modules/x/reading.html)"})
    return page


def _text(value, name: str, limit: int, errors: dict, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        errors[name] = "must be text"
        return ""
    value = unicodedata.normalize("NFC", value).replace("\x00", "")
    if required and not value.strip():
        errors[name] = "must not be empty"
    elif len(value) > limit:
        errors[name] = f"at most {limit:,} characters"
    return value


def check_body(body, errors: dict, name: str = "body") -> str:
    value = _text(body, name, MAX_BODY, errors)
    return value.strip()


def check_target(target, errors: dict) -> list[dict]:
    """The W3C target (one per selected range) reduced to what is kept: the source and, per
    range, one TextQuoteSelector (exact, prefix, suffix) and one TextPositionSelector."""
    items = target if isinstance(target, list) else [target]
    if not items or len(items) > MAX_TARGETS or not all(isinstance(t, dict) for t in items):
        errors["target"] = f"must be a W3C target object or a list of 1 to {MAX_TARGETS}"
        return []
    out = []
    for n, t in enumerate(items):
        where = f"target[{n}]"
        selectors = t.get("selector")
        selectors = selectors if isinstance(selectors, list) else [selectors]
        quote = next((s for s in selectors if isinstance(s, dict)
                      and s.get("type") == "TextQuoteSelector"), None)
        position = next((s for s in selectors if isinstance(s, dict)
                         and s.get("type") == "TextPositionSelector"), None)
        if quote is None or position is None:
            errors[f"{where}.selector"] = "needs a TextQuoteSelector and a TextPositionSelector"
            continue
        exact = _text(quote.get("exact"), f"{where}.exact", MAX_QUOTE, errors)
        prefix = _text(quote.get("prefix"), f"{where}.prefix", MAX_CONTEXT, errors, required=False)
        suffix = _text(quote.get("suffix"), f"{where}.suffix", MAX_CONTEXT, errors, required=False)
        start, end = position.get("start"), position.get("end")
        if not (type(start) is int and type(end) is int and 0 <= start < end <= 10_000_000):
            errors[f"{where}.start"] = "start and end must be whole numbers, 0 <= start < end"
            continue
        source = t.get("source", "")
        if not isinstance(source, str) or len(source) > 500:
            errors[f"{where}.source"] = "must be text of at most 500 characters"
            continue
        out.append({"source": source, "selector": [
            {"type": "TextQuoteSelector", "exact": exact, "prefix": prefix, "suffix": suffix},
            {"type": "TextPositionSelector", "start": start, "end": end}]})
    return out


def _quote_of(targets: list[dict]) -> str:
    return "\n".join(t["selector"][0]["exact"] for t in targets)


# --- writing ---------------------------------------------------------------------------------

def create(session: Session, person_id: str, data: dict, page_text: str | None = None,
           now: datetime | None = None) -> dict:
    """A new root annotation from the page script's JSON: id (the library's UUID), page, target,
    body, audience ("group" or "cohort") and, for staff annotating for a group, group.

    `page_text` (the page's text as the room serves it) marks it orphaned at once when its
    quote is not on the page."""
    v = viewer(session, person_id)
    if not isinstance(data, dict):
        raise Invalid({"annotation": "must be a JSON object"})
    errors: dict[str, str] = {}
    annotation_id = data.get("id")
    if not isinstance(annotation_id, str) or not ID.fullmatch(annotation_id.lower()):
        errors["id"] = "must be a UUID (as the annotation library makes them)"
    elif session.get(Annotation, annotation_id.lower()) is not None:
        errors["id"] = "is already used"
    try:
        page = check_page(data.get("page"))
    except Invalid as err:
        errors.update(err.errors)
        page = ""
    targets = check_target(data.get("target"), errors)
    body = check_body(data.get("body"), errors)
    audience = data.get("audience")
    group = data.get("group")
    if audience not in AUDIENCES:
        errors["audience"] = "must be group (your study group) or cohort (everyone on the course)"
    elif audience == "group":
        group = _audience_group(session, v, group, errors)
    else:
        group = v.group  # whose tutor moderates it
    if errors:
        raise Invalid(errors)
    now = now or utcnow()
    annotation = Annotation(id=annotation_id.lower(), page=page, parent_id=None, author_id=v.id,
                            audience=audience, group_label=group, target=targets,
                            quote=_quote_of(targets), body=body, created_at=now, updated_at=now)
    if page_text is not None and not anchored(normalize(page_text), targets):
        annotation.orphaned_at = now
    session.add(annotation)
    session.flush()
    audit(session, v.id, "annotation.create", annotation.id, page=page, audience=audience,
          group=group)
    return _view(v, annotation, {v.id: _name(session, v.id)}) | {"replies": []}


def _audience_group(session: Session, v: Viewer, group, errors: dict) -> str | None:
    """The study group a "group" annotation is for: a participant's own; a tutor names one of
    theirs; a coordinator names any."""
    if v.role == "participant":
        if v.group is None:
            errors["audience"] = "you are not in a study group yet: choose the whole cohort"
        elif group not in (None, "", v.group):
            errors["group"] = "you annotate for your own study group"
        return v.group
    if not isinstance(group, str) or not group:
        errors["group"] = "name the study group this comment is for"
        return None
    if v.role == "tutor" and group not in v.tutored:
        errors["group"] = "not a study group you tutor"
    elif v.coordinator and (len(group) > 64 or "\x00" in group  # PostgreSQL refuses NUL
                            or session.get(StudyGroup, group) is None):
        errors["group"] = "no such study group"
    return group


def _name(session: Session, person_id: str) -> str:
    return session.scalar(select(Person.name).where(Person.id == person_id)) or person_id


def reply(session: Session, person_id: str, root_id: str, body, now: datetime | None = None) -> dict:
    """A reply to a root annotation the person can see; it carries the root's audience."""
    v = viewer(session, person_id)
    item, root = _visible_item(session, v, root_id)
    if item is not root:
        raise NotFound("no such annotation")  # replies are to the comment, one level deep
    errors: dict[str, str] = {}
    text = check_body(body, errors)
    if errors:
        raise Invalid(errors)
    if root.body == "":
        raise Refused("this comment was deleted by its author")
    if root.hidden_at is not None:
        raise Refused("this comment is hidden by a moderator")
    now = now or utcnow()
    group = root.group_label if root.audience == "group" else v.group
    answer = Annotation(id=str(uuid.uuid4()), page=root.page, parent_id=root.id, author_id=v.id,
                        audience=root.audience, group_label=group, target=None, quote="",
                        body=text, created_at=now, updated_at=now)
    session.add(answer)
    session.flush()
    audit(session, v.id, "annotation.reply", answer.id, root=root.id, page=root.page)
    return _view(v, answer, {v.id: _name(session, v.id)})


def _own(session: Session, v: Viewer, annotation_id) -> tuple[Annotation, Annotation]:
    item, root = _visible_item(session, v, annotation_id)
    if item.author_id != v.id:
        raise NotFound("no such annotation of yours")
    return item, root


def edit(session: Session, person_id: str, annotation_id: str, body,
         now: datetime | None = None) -> dict:
    """Change the text of one's own annotation or reply (not once hidden or deleted)."""
    v = viewer(session, person_id)
    item, _ = _own(session, v, annotation_id)
    errors: dict[str, str] = {}
    text = check_body(body, errors)
    if errors:
        raise Invalid(errors)
    if item.hidden_at is not None:
        raise Refused("a moderator hid this comment; it cannot be edited")
    if item.body == "":
        raise Refused("this comment was deleted")
    previous, item.body, item.updated_at = item.body, text, now or utcnow()
    audit(session, v.id, "annotation.edit", item.id, page=item.page, previous=previous)
    return _view(v, item, {v.id: _name(session, v.id)})


def delete(session: Session, person_id: str, annotation_id: str) -> dict:
    """Delete one's own annotation or reply. A root with replies keeps its place, its text
    removed, until its last reply goes. Returns {"deleted": id, "kept": bool}."""
    v = viewer(session, person_id)
    item, root = _own(session, v, annotation_id)
    if item.body == "" and item is root:
        raise NotFound("no such annotation of yours")  # already deleted
    audit(session, v.id, "annotation.delete", item.id, page=item.page, previous=item.body,
          quote=item.quote)
    has_replies = session.scalar(select(Annotation.id).where(Annotation.parent_id == item.id)
                                 .limit(1)) is not None
    if has_replies:
        item.body, item.updated_at = "", utcnow()
        return {"deleted": item.id, "kept": True}
    session.delete(item)
    _close_flags(session, item.id, v.id)
    session.flush()
    if item is not root and root.body == "" and session.scalar(
            select(Annotation.id).where(Annotation.parent_id == root.id).limit(1)) is None:
        session.delete(root)  # a deleted comment whose last reply just went
        _close_flags(session, root.id, v.id)
    return {"deleted": item.id, "kept": False}


def _close_flags(session: Session, annotation_id: str, actor_id: str) -> None:
    """Open flags on an annotation that is gone: closed as deleted (the audit log keeps its text)."""
    for f in session.scalars(select(ContentFlag).where(ContentFlag.kind == "annotation",
                                                       ContentFlag.item_id == annotation_id,
                                                       ContentFlag.outcome == "")):
        f.outcome, f.decided_by, f.decided_at = "deleted", actor_id, utcnow()


# --- anchoring ---------------------------------------------------------------------------------

def normalize(text: str) -> str:
    """Text compared for anchoring: NFC, every run of white space one space."""
    return SPACE.sub(" ", unicodedata.normalize("NFC", text))


def find_quote(text: str, exact: str, prefix: str = "", suffix: str = "") -> int | None:
    """Where `exact` is in the normalized page `text`: the occurrence with its prefix and suffix
    around it, else the only occurrence; None when neither (the passage changed)."""
    exact, prefix, suffix = normalize(exact).strip(), normalize(prefix).strip(), normalize(suffix).strip()
    if not exact:
        return None
    occurrences, at = 0, text.find(exact)
    first = at
    while at != -1:
        # The context may or may not have had the space that separates it from the quote.
        before = at - 1 if at > 0 and text[at - 1] == " " else at
        after = at + len(exact)
        after += 1 if text[after:after + 1] == " " else 0
        if text.endswith(prefix, 0, before) and text.startswith(suffix, after):
            return at
        occurrences += 1
        at = text.find(exact, at + 1)
    return first if occurrences == 1 else None


def anchored(text: str, targets: list[dict] | None) -> bool:
    """Is every range of the target still on the page (`text` normalized)?"""
    if not targets:
        return False
    for target in targets:
        quote = next((s for s in target.get("selector", []) if s.get("type") == "TextQuoteSelector"), None)
        if quote is None or find_quote(text, quote.get("exact", ""), quote.get("prefix", ""),
                                       quote.get("suffix", "")) is None:
            return False
    return True


def reanchor(session: Session, page: str, page_text: str, now: datetime | None = None,
             actor: str = "room") -> dict:
    """After a (re)build: mark the page's root annotations whose passage is gone as orphaned,
    and clear the mark of those found again. Returns the ids that changed."""
    now = now or utcnow()
    text = normalize(page_text)
    orphaned, restored = [], []
    for a in session.scalars(select(Annotation).where(Annotation.page == page,
                                                      Annotation.parent_id.is_(None))):
        found = anchored(text, a.target)
        if not found and a.orphaned_at is None:
            a.orphaned_at = now
            orphaned.append(a.id)
        elif found and a.orphaned_at is not None:
            a.orphaned_at = None
            restored.append(a.id)
    if orphaned or restored:
        audit(session, actor, "annotation.reanchor", page, orphaned=orphaned, restored=restored)
    return {"page": page, "orphaned": orphaned, "restored": restored}


__all__ = ["Invalid", "NotFound", "Refused", "anchored", "audience_choices", "can_moderate",
           "can_see", "check_page", "create", "delete", "edit", "find_quote", "get", "normalize",
           "page_annotations", "reanchor", "reply", "visible"]
