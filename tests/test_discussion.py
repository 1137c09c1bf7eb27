"""Topic threads and moderation: the rules as store operations (course/cohort/discussion.py and
moderation.py) on SQLite and PostgreSQL, then attacks on the real room (hub, room, SQLite store):
other groups' threads by URL, hidden posts, CSRF, hostile text, the participation CSV."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import func, select

from course.cohort import discussion as d
from course.cohort import moderation as mod
from course.cohort.db import open_store
from course.cohort.models import (AuditEntry, ContentFlag, Membership, Person, Post, RotaEntry,
                                  Thread, TutorAssignment)
from course.cohort.reviewing import Invalid, NotFound, Refused
from course.layout import Layout
from course.modules import load_catalogue
from course.plans import load_named_plan
from course.room import calendar
from room_helpers import PARTICIPANTS, ROOM, TUTORS, make_cohort, room_login, start_room_hub

OPENING = "What does multistakeholder mean in **your** country?"
XSS = ("Look: <script>window.__pwned=1</script> and <img src=x onerror=\"window.__pwned=1\"> "
       "and [a link](javascript:window.__pwned=1).")


@pytest.fixture(scope="module")
def plan() -> list[dict]:
    """The shipped online course's sessions, as the room passes them (calendar.sessions)."""
    layout = Layout.default()
    catalogue, _ = load_catalogue(layout.modules)
    return calendar.sessions(load_named_plan("online-course", layout.plans), catalogue)


@dataclass
class Cast:
    group: str  # the group the stories happen in
    facilitator: str  # of session 1 in that group
    members: list[str]  # the group's other members
    tutor: str
    other_tutor: str  # tutors groups, not this one
    outsider: str  # a participant of a group `other_tutor` tutors
    outsider_group: str
    facilitator_2: str  # the group's facilitator of session 2


def cast_of(s) -> Cast:
    groups: dict[str, list[str]] = {}
    for pid, g in s.execute(select(Membership.person_id, Membership.group_label)
                            .order_by(Membership.person_id)):
        groups.setdefault(g, []).append(pid)
    tutors = dict(s.execute(select(TutorAssignment.group_label, TutorAssignment.tutor_id)).all())
    group = sorted(groups)[0]
    lead = s.get(RotaEntry, (group, "1")).facilitator_id
    other_group = next(g for g in sorted(groups) if tutors[g] != tutors[group])
    return Cast(group, lead, [p for p in groups[group] if p != lead], tutors[group],
                tutors[other_group], groups[other_group][0], other_group,
                s.get(RotaEntry, (group, "2")).facilitator_id)


@pytest.fixture
def store(db_url, tmp_path):
    make_cohort(db_url, tmp_path / "cohort", calibration=2)
    opened = open_store(db_url, create=False)
    yield opened
    opened.close()


def actions(s) -> list[tuple[str, str, str]]:
    return [(a.actor, a.action, a.target) for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def opened(store, plan, label="1") -> tuple[Cast, int]:
    """Session `label`'s thread of the cast's group, opened by its facilitator: (cast, opening id)."""
    with store.session() as s:
        c = cast_of(s)
        lead = s.get(RotaEntry, (c.group, label)).facilitator_id
        made = d.open_thread(s, lead, c.group, label, "Who governs?", OPENING, plan)
    return c, made["post_id"]


# --- store rules: SQLite and PostgreSQL ------------------------------------------------------

def test_each_person_lists_the_threads_of_their_groups(store, plan):
    c, _ = opened(store, plan)
    with store.session() as s:
        mine = d.threads(s, c.members[0], plan)
        assert [x["label"] for x in mine] == [x["label"] for x in plan if x["discussion"]]
        assert all([g["group"] for g in x["groups"]] == [c.group] for x in mine)
        first = mine[0]["groups"][0]
        assert first["opened"] and first["title"] == "Who governs?" and first["posts"] == 1
        assert not mine[1]["groups"][0]["opened"]
        assert d.threads(s, c.facilitator, plan)[0]["groups"][0]["mine"]
        tutored = sorted(s.scalars(select(TutorAssignment.group_label)
                                   .where(TutorAssignment.tutor_id == c.tutor)))
        assert [g["group"] for g in d.threads(s, c.tutor, plan)[0]["groups"]] == tutored
        assert len(d.threads(s, "coord", plan)[0]["groups"]) == 4
        assert not d.threads(s, c.outsider, plan)[0]["groups"][0]["opened"]
        with pytest.raises(NotFound):
            d.threads(s, "nobody", plan)


def test_only_the_sessions_facilitator_opens_its_thread_from_the_prompts(store, plan):
    with store.session() as s:
        c = cast_of(s)
        view = d.thread_view(s, c.facilitator, c.group, "1", plan)
        assert view["can_open"] and view["thread"] is None
        assert [p["prompt"] for p in view["prompts"]] == [p["prompt"] for p in plan[0]["prompts"]]
        assert all(p["facilitation"] for p in view["prompts"])
        assert not d.thread_view(s, c.members[0], c.group, "1", plan)["can_open"]
        for who in (c.members[0], c.tutor, "coord"):
            with pytest.raises(Refused):
                d.open_thread(s, who, c.group, "1", "Title", OPENING, plan)
        for who in (c.outsider, c.other_tutor, "nobody"):
            with pytest.raises(NotFound):
                d.open_thread(s, who, c.group, "1", "Title", OPENING, plan)
            with pytest.raises(NotFound):
                d.thread_view(s, who, c.group, "1", plan)
        for group, label in ((c.group, "99"), ("no-such-group", "1")):
            with pytest.raises(NotFound):
                d.thread_view(s, c.facilitator, group, label, plan)
        # a session without a discussion has no thread at all
        quiet = [dict(x, discussion=x["label"] != "1") for x in plan]
        with pytest.raises(NotFound):
            d.thread_view(s, c.facilitator, c.group, "1", quiet)
        with pytest.raises(NotFound):
            d.open_thread(s, c.facilitator, c.group, "1", "Title", OPENING, quiet)
        assert "1" not in [x["label"] for x in d.threads(s, c.facilitator, quiet)]
        with pytest.raises(Invalid) as err:
            d.open_thread(s, c.facilitator, c.group, "1", "  ", "", plan)
        assert set(err.value.errors) == {"title", "body"}
        with pytest.raises(Invalid) as err:
            d.open_thread(s, c.facilitator, c.group, "1", "T" * (d.MAX_TITLE + 1), "x" * (d.MAX_BODY + 1), plan)
        assert "at most" in err.value.errors["title"] and "at most" in err.value.errors["body"]
        made = d.open_thread(s, c.facilitator, c.group, "1", " Who governs? ", OPENING + " (edited)", plan)
        with pytest.raises(Refused):
            d.open_thread(s, c.facilitator, c.group, "1", "Again", OPENING, plan)
    with store.session() as s:
        t = s.get(Thread, made["thread_id"])
        assert (t.group_label, t.session, t.title, t.opened_by) == (c.group, "1", "Who governs?", c.facilitator)
        post = s.get(Post, made["post_id"])
        assert (post.kind, post.body, post.parent_id) == ("opening", OPENING + " (edited)", None)
        assert (c.facilitator, "thread.open", f"{c.group}/1") in actions(s)


def test_members_and_staff_reply_in_a_tree_only_once_opened(store, plan):
    with store.session() as s:
        c = cast_of(s)
        with pytest.raises(Refused):
            d.reply(s, c.members[0], c.group, "1", "Too early", plan)
    c, first = opened(store, plan)
    with store.session() as s:
        a = d.reply(s, c.members[0], c.group, "1", "I think the state leads.", plan)["post_id"]
        b = d.reply(s, c.members[1], c.group, "1", "Not alone, surely.", plan, parent_id=a)["post_id"]
        t = d.reply(s, c.tutor, c.group, "1", "Good start; cite a source.", plan, parent_id=b)["post_id"]
        k = d.reply(s, "coord", c.group, "1", "Welcome, all.", plan, parent_id=first)["post_id"]
        for who in (c.outsider, c.other_tutor, "nobody"):
            with pytest.raises(NotFound):
                d.reply(s, who, c.group, "1", "Let me in", plan)
        with pytest.raises(Invalid) as err:
            d.reply(s, c.members[0], c.group, "1", " \n ", plan)
        assert list(err.value.errors) == ["body"]
        with pytest.raises(Invalid) as err:
            d.reply(s, c.members[0], c.group, "1", "x" * (d.MAX_BODY + 1), plan)
        assert "at most" in err.value.errors["body"]
        with pytest.raises(NotFound):  # a parent that is not a post of this thread
            d.reply(s, c.members[0], c.group, "1", "Reply", plan, parent_id=999999)
        other = d.open_thread(s, s.get(RotaEntry, (c.outsider_group, "1")).facilitator_id,
                              c.outsider_group, "1", "Elsewhere", OPENING, plan)
        with pytest.raises(NotFound):
            d.reply(s, c.members[0], c.group, "1", "Reply", plan, parent_id=other["post_id"])
        view = d.thread_view(s, c.members[2], c.group, "1", plan)
    tree = [(p["id"], [(q["id"], [(r["id"], [x["id"] for x in r["children"]]) for r in q["children"]])
                       for q in p["children"]]) for p in view["posts"]]
    assert tree == [(first, [(k, [])]), (a, [(b, [(t, [])])])]
    assert view["posts"][1]["author_role"] == "" and view["posts"][1]["children"][0]["children"][0]["author_role"] == "tutor"
    assert view["can_reply"] and not view["can_close"] and not view["staff"]


def test_the_facilitator_or_tutor_closes_with_a_summary(store, plan):
    c, _ = opened(store, plan)
    with store.session() as s:
        d.reply(s, c.members[0], c.group, "1", "A point.", plan)
        with pytest.raises(Refused):
            d.close_thread(s, c.members[0], c.group, "1", "My summary", plan)
        with pytest.raises(NotFound):
            d.close_thread(s, c.outsider, c.group, "1", "My summary", plan)
        with pytest.raises(Invalid) as err:
            d.close_thread(s, c.facilitator, c.group, "1", "", plan)
        assert list(err.value.errors) == ["summary"]
        assert d.thread_view(s, c.facilitator, c.group, "1", plan)["can_close"]
        made = d.close_thread(s, c.facilitator, c.group, "1", "We agreed on three points.", plan)
        with pytest.raises(Refused):
            d.close_thread(s, c.facilitator, c.group, "1", "Again", plan)
        with pytest.raises(Refused):
            d.reply(s, c.members[0], c.group, "1", "One more thing", plan)
        view = d.thread_view(s, c.members[0], c.group, "1", plan)
        assert view["thread"]["closed_at"] and not view["can_reply"] and not view["can_close"]
        assert view["posts"][-1]["id"] == made["post_id"] and view["posts"][-1]["kind"] == "summary"
        # the tutor may close a thread whose facilitator is gone
        with pytest.raises(Refused):  # not open yet
            d.close_thread(s, c.tutor, c.group, "2", "Summary", plan)
        d.open_thread(s, c.facilitator_2, c.group, "2", "Week two", OPENING, plan)
        d.close_thread(s, c.tutor, c.group, "2", "Summary by the tutor", plan)
        assert [a for a in actions(s) if a[1] == "thread.close"] == [
            (c.facilitator, "thread.close", f"{c.group}/1"), (c.tutor, "thread.close", f"{c.group}/2")]


def test_authors_edit_their_own_posts_and_the_audit_keeps_the_old_text(store, plan):
    c, first = opened(store, plan)
    with store.session() as s:
        mine = d.reply(s, c.members[0], c.group, "1", "Frist thoughts", plan)["post_id"]
        with pytest.raises(NotFound):
            d.edit_post(s, c.members[1], c.group, "1", mine, "Vandalised", plan)
        with pytest.raises(NotFound):
            d.edit_post(s, c.tutor, c.group, "1", mine, "Vandalised", plan)
        with pytest.raises(Invalid):
            d.edit_post(s, c.members[0], c.group, "1", mine, "", plan)
        d.edit_post(s, c.members[0], c.group, "1", mine, "First thoughts", plan)
        post = s.get(Post, mine)
        assert post.body == "First thoughts" and post.edited_at is not None
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "post.edit"))
        assert entry.actor == c.members[0] and entry.detail["before"] == "Frist thoughts"
        mod.hide(s, c.tutor, "post", mine, "Off topic")
        with pytest.raises(Refused):
            d.edit_post(s, c.members[0], c.group, "1", mine, "Changed after hiding", plan)


def test_hidden_posts_reach_only_the_groups_staff_and_their_author(store, plan):
    c, first = opened(store, plan)
    author, reader = c.members[0], c.members[1]
    with store.session() as s:
        bad = d.reply(s, author, c.group, "1", "Something rude", plan)["post_id"]
        answer = d.reply(s, reader, c.group, "1", "Please do not.", plan, parent_id=bad)["post_id"]
        lone = d.reply(s, author, c.group, "1", "Something else rude", plan)["post_id"]
        mod.hide(s, c.tutor, "post", bad, "Insults a member")
        mod.hide(s, "coord", "post", lone, "Personal data")

    def seen(who):
        with store.session() as s:
            view = d.thread_view(s, who, c.group, "1", plan)
        flat, stack = {}, list(view["posts"])
        while stack:
            p = stack.pop()
            flat[p["id"]] = p
            stack.extend(p["children"])
        return flat

    other = seen(reader)
    assert other[bad]["placeholder"] and "body" not in other[bad] and "author" not in other[bad]
    assert lone not in other  # nothing hangs from it: not even a placeholder
    assert other[answer]["body"] == "Please do not." and other[answer]["parent_id"] == bad
    assert "Insults" not in repr(other) and "rude" not in repr(other)
    own = seen(author)
    assert own[bad]["body"] == "Something rude" and own[bad]["hidden"]
    assert own[bad]["hidden_reason"] == "Insults a member" and own[lone]["hidden_reason"] == "Personal data"
    for staff in (c.tutor, "coord"):
        view = seen(staff)
        assert view[bad]["body"] == "Something rude" and view[bad]["hidden_reason"] == "Insults a member"
    with store.session() as s:
        for who in (c.other_tutor, c.outsider):
            with pytest.raises(NotFound):
                d.thread_view(s, who, c.group, "1", plan)
        with pytest.raises(NotFound):  # no reply to what one cannot see
            d.reply(s, reader, c.group, "1", "Reply", plan, parent_id=lone)
        with pytest.raises(NotFound):
            d.visible_post(s, reader, c.group, "1", lone, plan)
        assert d.visible_post(s, author, c.group, "1", lone, plan).id == lone


def test_flag_hide_unhide_keep_and_the_queue(store, plan):
    c, first = opened(store, plan)
    author, flagger = c.members[0], c.members[1]
    with store.session() as s:
        post = d.reply(s, author, c.group, "1", "You are all wrong.", plan)["post_id"]
        other = d.reply(s, author, c.group, "1", "Also this.", plan)["post_id"]
        assert mod.queue(s, c.tutor) == []
        with pytest.raises(NotFound):
            mod.queue(s, author)
        with pytest.raises(Invalid) as err:
            mod.flag(s, flagger, "post", post, " ")
        assert list(err.value.errors) == ["reason"]
        mod.flag(s, flagger, "post", post, "Rude to the group.")
        mod.flag(s, c.members[2], "post", post, "Not helpful.")
        with pytest.raises(Refused):
            mod.flag(s, flagger, "post", post, "Again")
        with pytest.raises(Refused):
            mod.flag(s, author, "post", post, "My own")
        for who in (c.outsider, c.other_tutor, "nobody"):
            with pytest.raises(NotFound):
                mod.flag(s, who, "post", post, "From outside")
        for kind, item in (("post", "999999"), ("post", "1; drop"), ("annotation", "no-such"), ("thread", post)):
            with pytest.raises(NotFound):
                mod.flag(s, flagger, kind, item, "x")
        [entry] = mod.queue(s, c.tutor)
        assert entry["kind"] == "post" and entry["item_id"] == str(post)
        assert entry["link"] == f"discussion/{c.group}/1#post-{post}"
        assert [f["reason"] for f in entry["flags"]] == ["Rude to the group.", "Not helpful."]
        assert [e["item_id"] for e in mod.queue(s, "coord")] == [str(post)]
        assert mod.queue(s, c.other_tutor) == []
        for who in (flagger, c.other_tutor, c.outsider):
            with pytest.raises(NotFound):
                mod.hide(s, who, "post", post, "Mine to hide")
        with pytest.raises(Invalid) as err:
            mod.hide(s, c.tutor, "post", post, "")
        assert list(err.value.errors) == ["reason"]
        mod.hide(s, c.tutor, "post", post, "Disrespectful.")
        with pytest.raises(Refused):
            mod.hide(s, c.tutor, "post", post, "Again")
        assert {f.outcome for f in s.scalars(select(ContentFlag))} == {"hidden"}
        [entry] = mod.queue(s, c.tutor)
        assert entry["hidden"] and entry["hidden_reason"] == "Disrespectful." and not entry["flags"]
        with pytest.raises(NotFound):  # hidden: the flagger no longer sees it
            mod.flag(s, flagger, "post", post, "Again")
        with pytest.raises(NotFound):
            mod.unhide(s, c.other_tutor, "post", post)
        mod.unhide(s, "coord", "post", post)
        with pytest.raises(Refused):
            mod.unhide(s, "coord", "post", post)
        assert s.get(Post, post).hidden_at is None and mod.queue(s, c.tutor) == []
        # flagged again after being kept: a new look
        mod.flag(s, flagger, "post", other, "Spam.")
        with pytest.raises(NotFound):
            mod.keep(s, flagger, "post", other)
        mod.keep(s, c.tutor, "post", other)
        with pytest.raises(Refused):
            mod.keep(s, c.tutor, "post", other)
        assert mod.queue(s, c.tutor) == []
        mod.flag(s, flagger, "post", other, "Still spam.")
        assert [e["flags"][0]["reason"] for e in mod.queue(s, c.tutor)] == ["Still spam."]
        log = set(actions(s))
    assert {(flagger, "content.flag", f"post:{post}"), (c.members[2], "content.flag", f"post:{post}"),
            (c.tutor, "content.hide", f"post:{post}"), ("coord", "content.unhide", f"post:{post}"),
            (flagger, "content.flag", f"post:{other}"), (c.tutor, "content.keep", f"post:{other}")} <= log


def test_the_tutors_overview_and_participation_counts(store, plan):
    c, first = opened(store, plan)
    with store.session() as s:
        d.reply(s, c.members[0], c.group, "1", "One.", plan)
        d.reply(s, c.members[0], c.group, "1", "Two.", plan)
        hidden = d.reply(s, c.members[1], c.group, "1", "Three.", plan)["post_id"]
        d.reply(s, c.tutor, c.group, "1", "Tutor's word.", plan)
        mod.hide(s, c.tutor, "post", hidden, "Off topic")
        names = dict(s.execute(select(Person.id, Person.name)).all())
        during = plan[0]["first"]  # session 1 running, nothing else started
        view = d.overview(s, c.tutor, plan, today=during)
        row = next(g for g in view["sessions"][0]["groups"] if g["group"] == c.group)
        assert row["opened"] and not row["summary"] and row["posts"] == 5 and row["replies"] == 4
        assert row["taken_part"] == 3 and row["members"] == 6
        assert sorted(row["missing"]) == sorted(names[p] for p in c.members[2:])
        assert {"group": c.group, "session": "1", "ended": False} in view["no_summary"]
        assert {x["group"] for x in view["no_opening"]} == set(view["groups"]) - {c.group}
        assert all(x["session"] == "1" for x in view["no_opening"] + view["no_summary"])
        d.close_thread(s, c.facilitator, c.group, "1", "Summed up.", plan)
        view = d.overview(s, c.tutor, plan, today=during)
        assert not any(x["group"] == c.group for x in view["no_summary"] + view["no_opening"])
        later = d.overview(s, c.tutor, plan, today=plan[1]["first"])
        assert {"group": c.group, "session": "2", "ended": False} in later["no_opening"]
        other = next(g for g in later["groups"] if g != c.group)
        assert {"group": other, "session": "1", "ended": True} in later["no_opening"]
        assert set(d.overview(s, "coord", plan)["groups"]) == set(s.scalars(select(Membership.group_label)))
        with pytest.raises(NotFound):
            d.overview(s, c.members[0], plan)
        rows = d.participation(s, c.tutor, plan)
        with pytest.raises(NotFound):
            d.participation(s, c.members[0], plan)
    by = {(r["person_id"], r["session"]): r for r in rows}
    assert {r["group"] for r in rows} == set(view["groups"])
    assert len(rows) == 6 * len(view["groups"]) * len([x for x in plan if x["discussion"]])
    lead = by[(c.facilitator, "1")]
    assert [lead[k] for k in ("posts", "openings", "replies", "summaries", "hidden")] == [2, 1, 0, 1, 0]
    assert (by[(c.members[0], "1")]["posts"], by[(c.members[0], "1")]["replies"]) == (2, 2)
    assert (by[(c.members[1], "1")]["posts"], by[(c.members[1], "1")]["hidden"]) == (1, 1)
    assert by[(c.members[0], "2")]["posts"] == 0
    assert c.tutor not in {r["person_id"] for r in rows}
    assert c.outsider not in {r["person_id"] for r in rows}


def test_the_tutor_swaps_facilitators_and_the_rota_follows(store, plan):
    with store.session() as s:
        c = cast_of(s)
        new, co = c.members[-1], c.members[-2]
        assert new != c.facilitator_2
        for who in (c.members[0], c.outsider, c.other_tutor):
            with pytest.raises(NotFound):
                d.swap_facilitator(s, who, c.group, "2", new, "", plan)
        for lead, second, field in ((c.outsider, "", "facilitator_id"), (c.tutor, "", "facilitator_id"),
                                    (new, c.outsider, "co_facilitator_id"), (new, new, "co_facilitator_id"),
                                    ("", "", "facilitator_id")):
            with pytest.raises(Invalid) as err:
                d.swap_facilitator(s, c.tutor, c.group, "2", lead, second, plan)
            assert field in err.value.errors
        with pytest.raises(NotFound):
            d.swap_facilitator(s, c.tutor, c.group, "99", new, "", plan)
        d.swap_facilitator(s, c.tutor, c.group, "2", new, co, plan)
    with store.session() as s:
        entry = s.get(RotaEntry, (c.group, "2"))
        assert (entry.facilitator_id, entry.co_facilitator_id) == (new, co)
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "rota.swap"))
        assert audit.actor == c.tutor and audit.target == f"{c.group}/2"
        assert audit.detail == {"before": [c.facilitator_2, None], "after": [new, co]}
        with pytest.raises(Refused):  # the old facilitator no longer opens it
            d.open_thread(s, c.facilitator_2, c.group, "2", "Mine", OPENING, plan)
        d.open_thread(s, co, c.group, "2", "Opened by the co-facilitator", OPENING, plan)
        d.swap_facilitator(s, "coord", c.group, "3", new, "", plan)
        assert s.get(RotaEntry, (c.group, "3")).facilitator_id == new


# --- the real room under attack --------------------------------------------------------------

@dataclass
class Room:
    url: str
    store: object
    cast: Cast
    ids: dict

    def page(self, who, path):
        return room_session(self, who).get(f"{self.url}{ROOM}{path}", allow_redirects=False, timeout=60)

    def post(self, who, path, data, xsrf=True, headers=None):
        session = room_session(self, who)
        data = dict(data)
        if xsrf:
            data["_xsrf"] = next(k.value for k in session.cookies if k.name == "_xsrf" and k.path == ROOM)
        return session.post(f"{self.url}{ROOM}{path}", data=data, headers=headers or {},
                            allow_redirects=False, timeout=60)


_sessions: dict[tuple[str, str], requests.Session] = {}


def room_session(room: Room, who: str) -> requests.Session:
    if (room.url, who) not in _sessions:
        _sessions[(room.url, who)] = room_login(room.url, who)
    return _sessions[(room.url, who)]


def count_rows(store) -> tuple:
    with store.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Thread, Post, ContentFlag, RotaEntry)) + (
            s.scalar(select(func.count(Post.hidden_at))),)


@pytest.fixture(scope="module")
def room(tmp_path_factory, plan):
    tmp = tmp_path_factory.mktemp("discussion-room")
    url = f"sqlite:///{tmp}/cohort.sqlite"
    make_cohort(url, tmp / "cohort", calibration=2)
    store = open_store(url)
    with store.session() as s:
        c = cast_of(s)
        # a formula for a name: the CSV export must not hand it to a spreadsheet as one
        s.get(Person, c.members[3]).name = "=HYPERLINK(\"http://evil.example\",\"x\")"
        first = d.open_thread(s, c.facilitator, c.group, "1", "Who governs?", OPENING, plan)["post_id"]
        rude = d.reply(s, c.members[0], c.group, "1", "A rude remark about Bob.", plan)["post_id"]
        xss = d.reply(s, c.members[1], c.group, "1", XSS, plan)["post_id"]
        mod.hide(s, c.tutor, "post", rude, "Personal attack on a member.")
        lead = s.get(RotaEntry, (c.outsider_group, "1")).facilitator_id
        theirs = d.open_thread(s, lead, c.outsider_group, "1", "Their own", "Their opening", plan)["post_id"]
    hub = start_room_hub(tmp, url, PARTICIPANTS, TUTORS)
    try:
        yield Room(hub.url, store, c, {"first": first, "rude": rude, "xss": xss, "theirs": theirs})
    finally:
        hub.stop()
        store.close()


def test_another_groups_thread_is_not_there_whatever_the_url(room):
    c, here, there = room.cast, f"discussion/{room.cast.group}/1", f"discussion/{room.cast.outsider_group}/1"
    before = count_rows(room.store)
    for who in (c.outsider, c.other_tutor):
        for path in (here, f"discussion/{c.group}/2", f"discussion/{c.group}/99", f"discussion/nogroup/1"):
            reply = room.page(who, path)
            assert reply.status_code == 404, f"{who} GET {path}: {reply.status_code}"
            assert "Who governs?" not in reply.text and "<form" not in reply.text
        for data in ({"action": "reply", "body": "Let me in"},
                     {"action": "reply", "body": "Under yours", "post_id": room.ids["first"]},
                     {"action": "close", "summary": "Closed by a stranger"},
                     {"action": "flag", "post_id": room.ids["first"], "reason": "x"},
                     {"action": "hide", "post_id": room.ids["first"], "reason": "x"},
                     {"action": "swap", "facilitator_id": c.members[0]},
                     {"action": "unknown"}):
            reply = room.post(who, here, data)
            assert reply.status_code == 404, f"{who} POST {data}: {reply.status_code}"
        reply = room.post(who, f"discussion/{c.group}/2", {"action": "open", "title": "Mine", "body": "x"})
        assert reply.status_code == 404
    # the outsider's own thread, with a post id of the other group: still not theirs
    for data in ({"action": "reply", "body": "Sneaky", "post_id": room.ids["first"]},
                 {"action": "flag", "post_id": room.ids["first"], "reason": "x"},
                 {"action": "edit", "post_id": room.ids["first"], "body": "Rewritten"},
                 {"action": "reply", "body": "Odd id", "post_id": "1 OR 1=1"}):
        reply = room.post(c.outsider, there, data)
        assert reply.status_code == 404, f"POST {there} {data}: {reply.status_code}"
    assert room.page(c.outsider, there).status_code == 200
    # members who are not the facilitator cannot open; participants have no staff pages
    member = next(m for m in c.members if m != c.facilitator_2)
    reply = room.post(member, f"discussion/{c.group}/2", {"action": "open", "title": "T", "body": "B"})
    assert reply.status_code == 409
    for path in ("moderation", "discussion/participation.csv"):
        assert room.page(c.members[0], path).status_code == 404
    reply = room.post(c.members[0], "moderation", {"kind": "post", "item_id": room.ids["xss"],
                                                   "action": "hide", "reason": "x"})
    assert reply.status_code == 404
    reply = room.post(c.other_tutor, "moderation", {"kind": "post", "item_id": room.ids["xss"],
                                                    "action": "hide", "reason": "x"})
    assert reply.status_code == 404
    assert count_rows(room.store) == before
    listing = room.page(c.outsider, "discussion")
    assert listing.status_code == 200 and "Who governs?" not in listing.text and "Their own" in listing.text


def test_a_hidden_post_reaches_only_its_author_and_the_staff(room):
    c, path = room.cast, f"discussion/{room.cast.group}/1"
    other = room.page(c.members[2], path).text
    assert "rude remark" not in other and "Personal attack" not in other
    assert "A post here was hidden" not in other  # nothing hangs from it
    own = room.page(c.members[0], path).text
    assert "A rude remark about Bob." in own and "Personal attack on a member." in own
    tutor = room.page(c.tutor, path).text
    assert "A rude remark about Bob." in tutor and "Personal attack on a member." in tutor
    assert "Show this post again" in tutor
    queue = room.page(c.tutor, "moderation")
    assert queue.status_code == 200 and "Personal attack on a member." in queue.text
    assert "rude remark" not in room.page(c.other_tutor, "moderation").text


def test_posts_are_text_never_markup(room):
    c = room.cast
    page = room.page(c.members[2], f"discussion/{c.group}/1").text
    main = page[page.index("<main"):]
    assert "<script" not in main and "<img" not in main and 'href="javascript' not in main, main
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in main
    assert "&lt;img src=x onerror=" in main


def test_forms_need_the_rooms_own_xsrf_token_and_origin(room):
    c, path = room.cast, f"discussion/{room.cast.group}/1"
    before = count_rows(room.store)
    reply = {"action": "reply", "body": "Forged"}
    assert room.post(c.members[2], path, reply, xsrf=False).status_code == 403
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        assert room.post(c.members[2], path, reply, headers=headers).status_code == 403
        assert room.post(c.tutor, "moderation", {"kind": "post", "item_id": room.ids["xss"],
                                                 "action": "hide", "reason": "x"},
                         headers=headers).status_code == 403
    assert requests.post(f"{room.url}{ROOM}{path}", data=reply, allow_redirects=False,
                         timeout=60).status_code == 403  # nobody logged in
    assert count_rows(room.store) == before
    # the same form, properly sent: post, redirect, get
    done = room.post(c.members[2], path, {"action": "reply", "body": "My **own** view.",
                                          "post_id": room.ids["xss"]})
    assert done.status_code == 302
    post_id = int(re.search(r"#post-(\d+)$", done.headers["Location"]).group(1))
    with room.store.session() as s:
        made = s.get(Post, post_id)
        assert (made.author_id, made.parent_id, made.body) == (c.members[2], room.ids["xss"], "My **own** view.")
    page = room.page(c.members[2], done.headers["Location"].split(ROOM, 1)[1].split("#")[0])
    assert f'id="post-{post_id}"' in page.text and "<strong>own</strong>" in page.text
    bad = room.post(c.members[2], path, {"action": "reply", "body": " "})
    assert bad.status_code == 400 and 'class="error"' in bad.text


def test_the_participation_csv_is_the_tutors_groups_and_safe_in_a_spreadsheet(room):
    c = room.cast
    reply = room.page(c.tutor, "discussion/participation.csv")
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert tuple(rows[0]) == d.PARTICIPATION_COLUMNS
    with room.store.session() as s:
        tutored = set(s.scalars(select(TutorAssignment.group_label).where(TutorAssignment.tutor_id == c.tutor)))
    assert {r["group"] for r in rows} == tutored
    assert c.outsider not in {r["person_id"] for r in rows}
    names = {r["name"] for r in rows if r["person_id"] == c.members[3]}
    assert names == {"'=HYPERLINK(\"http://evil.example\",\"x\")"}
    assert not any(v[:1] in "=+-@" for r in rows for v in r.values() if v)
    lead = next(r for r in rows if r["person_id"] == c.facilitator and r["session"] == "1")
    assert (lead["posts"], lead["openings"]) == ("1", "1")
    overview = room.page(c.tutor, "discussion")
    assert overview.status_code == 200 and f'id="s1-g{c.group}"' in overview.text
