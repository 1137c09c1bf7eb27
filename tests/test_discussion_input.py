"""Odd text reaching the discussion's store operations, on SQLite and PostgreSQL: PostgreSQL
refuses a NUL character in text (the room would answer 500), so none is stored; a reason that
is not text (a JSON list or object from the book page's script) is refused, not written down as
its Python repr."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from course.cohort import annotations as A
from course.cohort import discussion as d
from course.cohort import mail
from course.cohort import moderation as mod
from course.cohort.db import open_store
from course.cohort.models import (Annotation, AuditEntry, ContentFlag, Membership, Post, RotaEntry,
                                  Thread, TutorAssignment)
from course.cohort.reviewing import Invalid, NotFound
from discussion_fixtures import annotation, plan_sessions
from room_helpers import make_cohort

NUL = "\x00"


@pytest.fixture(scope="module")
def plan() -> list[dict]:
    return plan_sessions()


@pytest.fixture
def store(db_url, tmp_path):
    make_cohort(db_url, tmp_path / "cohort", calibration=2)
    opened = open_store(db_url, create=False)
    yield opened
    opened.close()


def cast(s) -> tuple[str, str, list[str], str]:
    """A group, its session-1 facilitator, two other members, its tutor."""
    group = s.scalars(select(Membership.group_label).order_by(Membership.group_label)).first()
    lead = s.get(RotaEntry, (group, "1")).facilitator_id
    members = [m for m in s.scalars(select(Membership.person_id).where(Membership.group_label == group)
                                    .order_by(Membership.person_id)) if m != lead]
    tutor = s.scalar(select(TutorAssignment.tutor_id).where(TutorAssignment.group_label == group))
    return group, lead, members, tutor


def test_a_nul_character_is_dropped_from_posts_comments_and_reasons(store, plan):
    with store.session() as s:
        group, lead, (a, b, *_), tutor = cast(s)
        opened = d.open_thread(s, lead, group, "1", f"Who{NUL} governs?", f"Our{NUL} opening", plan)
        post = d.reply(s, a, group, "1", f"A{NUL} reply", plan, parent_id=opened["post_id"])["post_id"]
        d.edit_post(s, a, group, "1", post, f"An{NUL} edited reply", plan)
        mod.flag(s, b, "post", post, f"Off{NUL} topic")
        mod.hide(s, tutor, "post", post, f"Rude{NUL}, hidden")
        data = annotation(0, f"A{NUL} note")
        data["target"][0]["source"] = f"book/{NUL}page"
        A.create(s, a, data)
        answer = A.reply(s, b, data["id"], f"A{NUL} reply to it")["id"]
        A.edit(s, b, answer, f"An{NUL} edited reply to it")
        mod.flag(s, b, "annotation", data["id"], f"Unkind{NUL}")
        mod.hide(s, tutor, "annotation", answer, f"Rude{NUL}")
        d.close_thread(s, lead, group, "1", f"We{NUL} agreed", plan)
    with store.session() as s:
        texts = [t.title for t in s.scalars(select(Thread))]
        texts += [x for p in s.scalars(select(Post)) for x in (p.body, p.hidden_reason)]
        texts += [x for n in s.scalars(select(Annotation)) for x in (n.body, n.hidden_reason)]
        texts += [f.reason for f in s.scalars(select(ContentFlag))]
        assert texts and not any(NUL in x for x in texts), texts
        assert "Who governs?" in texts and "An edited reply" in texts and "We agreed" in texts
        assert "Off topic" in texts and "Rude, hidden" in texts and "An edited reply to it" in texts
        assert len(s.scalars(select(AuditEntry)).all()) > 0


def test_a_nul_character_in_an_id_group_or_choice_is_simply_not_found(store, plan):
    with store.session() as s:
        group, lead, (a, *_), tutor = cast(s)
        d.open_thread(s, lead, group, "1", "Who governs?", "Our opening", plan)
        with pytest.raises(Invalid) as err:
            A.create(s, "coord", annotation(0, "For a group", group=f"{group}{NUL}"))
        assert set(err.value.errors) == {"group"}
        with pytest.raises(Invalid) as err:
            A.create(s, tutor, annotation(0, "For a group", group=f"{group}{NUL}"))
        assert set(err.value.errors) == {"group"}
        for kind, item in (("annotation", f"x{NUL}"), ("post", f"1{NUL}")):
            for act in (lambda: mod.flag(s, a, kind, item, "x"), lambda: mod.hide(s, tutor, kind, item, "x"),
                        lambda: mod.unhide(s, tutor, kind, item), lambda: mod.keep(s, tutor, kind, item)):
                with pytest.raises(NotFound):
                    act()
        for act in (lambda: A.get(s, a, f"x{NUL}"), lambda: A.reply(s, a, f"x{NUL}", "x"),
                    lambda: A.edit(s, a, f"x{NUL}", "x"), lambda: A.delete(s, a, f"x{NUL}")):
            with pytest.raises(NotFound):
                act()
        with pytest.raises(Invalid):
            A.page_annotations(s, a, f"modules/sample/reading.html{NUL}")
        with pytest.raises(Invalid) as err:
            mail.update_settings(s, a, f"daily{NUL}", "on")
        assert set(err.value.errors) == {"digest"}
        with pytest.raises(Invalid) as err:
            d.swap_facilitator(s, tutor, group, "2", f"{a}{NUL}", "", plan)
        assert set(err.value.errors) == {"facilitator_id"}


@pytest.mark.parametrize("reason", [["x"], {"text": "x"}, 7, 1.5, True])
def test_a_reason_that_is_not_text_is_refused(store, plan, reason):
    with store.session() as s:
        group, lead, (a, b, *_), tutor = cast(s)
        post = d.open_thread(s, lead, group, "1", "Who governs?", "Our opening", plan)["post_id"]
        note = annotation(0, "A note")
        A.create(s, a, note)
    for kind, item in (("post", post), ("annotation", note["id"])):
        for act in (lambda: mod.flag(s, b, kind, item, reason), lambda: mod.hide(s, tutor, kind, item, reason)):
            with store.session() as s:
                with pytest.raises(Invalid) as err:
                    act()
                assert err.value.errors == {"reason": "must be text"}
    with store.session() as s:
        assert s.scalars(select(ContentFlag)).all() == []
        assert s.scalars(select(Post.hidden_at).where(Post.hidden_at.is_not(None))).all() == []
