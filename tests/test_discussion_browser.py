"""A study group's topic thread in a real browser: Debian's Chromium driven by Playwright, on a
real JupyterHub with the room as its service, over a real cohort store (SQLite file).

The cohort's plan is the shipped online course, started a week ago (a copy of the plan with
another start date), so that week 2 is the session running today. Its facilitator opens the
thread from the module's prompts (choosing one and editing it), two members reply (the second
to the first: threaded), one of them with script in the text, the facilitator posts the closing
summary, the tutor sees the group no longer missing a summary and who has not taken part, and
gives a later session to another member. A member of another group sees none of it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from browser import DESKTOP, PHONE, Dialogs, fields_without_label, log_in
from course.cohort.db import open_store
from course.cohort.models import Membership, Person, Post, RotaEntry, Thread, TutorAssignment
from course.cohort.structure import set_setting
from course.layout import Layout
from course.modules import load_catalogue
from course.plans import load_named_plan
from course.room import calendar
from room_helpers import PARTICIPANTS, ROOM, TUTORS, make_cohort, start_room_hub

SCRIPTED = ("Here in my country the regulator decides. <script>window.__pwned=1;alert('post')</script>"
            " <img src=x onerror=\"window.__pwned=1;alert('img')\">")
SHOTS = Path("/tmp/room-shots")
ANSWER = "Not only the regulator: the operators and the ccTLD manager have a say too."
SUMMARY = "We agreed that **no one actor** decides alone; examples came from three countries."


@dataclass
class Story:
    url: str
    store: object
    browser: object
    plan: list[dict]
    current: dict  # the session running today
    group: str
    facilitator: str
    members: list[str]  # the group's other members, by id
    tutor: str
    outsider: str  # a participant of another group
    names: dict[str, str]
    done: dict = field(default_factory=dict)

    def room(self, path: str = "") -> str:
        return f"{self.url}{ROOM}{path}"

    @property
    def thread_path(self) -> str:
        return f"discussion/{self.group}/{self.current['label']}"

    def once(self, step):
        if step.__name__ not in self.done:
            self.done[step.__name__] = step(self)
        return self.done[step.__name__]


def plan_started_a_week_ago(folder: Path) -> Path:
    """A copy of the shipped online-course plan whose week 2 starts today."""
    shipped = Layout.default().plans / "online-course.yml"
    start = dt.date.today() - dt.timedelta(days=7)
    text, n = re.subn(r"(?m)^start: .*$", f"start: {start.isoformat()}", shipped.read_text(encoding="utf-8"))
    assert n == 1, "the shipped plan has no start line"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "online-course.yml"  # a plan's file name is its id
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def story(tmp_path_factory, browser):
    tmp = tmp_path_factory.mktemp("discussion-browser")
    url = f"sqlite:///{tmp}/cohort.sqlite"
    make_cohort(url, tmp / "cohort", calibration=2)
    path = plan_started_a_week_ago(tmp / "plans")
    layout = Layout.default()
    plan = calendar.sessions(load_named_plan(str(path), layout.plans), load_catalogue(layout.modules)[0])
    current = calendar.current(plan, dt.date.today())
    assert current["label"] == "2" and current["discussion"] and len(current["prompts"]) >= 2
    store = open_store(url)
    with store.session() as s:
        set_setting(s, "coord", "plan", str(path))  # the room reads the plan from the store
        members = dict(s.execute(select(Membership.person_id, Membership.group_label)).all())
        tutors = dict(s.execute(select(TutorAssignment.group_label, TutorAssignment.tutor_id)).all())
        group = members["p01"]
        lead = s.get(RotaEntry, (group, current["label"])).facilitator_id
        others = sorted(p for p, g in members.items() if g == group and p != lead)
        outsider = sorted(p for p, g in members.items() if g != group)[0]
        names = dict(s.execute(select(Person.id, Person.name)).all())
    hub = start_room_hub(tmp, url, PARTICIPANTS, TUTORS)
    try:
        yield Story(hub.url, store, browser, plan, current, group, lead, others, tutors[group],
                    outsider, names)
    finally:
        hub.stop()
        store.close()


def no_script_ran(page, dialogs: Dialogs) -> None:
    assert page.evaluate("window.__pwned === undefined"), "script in a post ran"
    assert dialogs.messages == []
    assert page.locator("main script, main img").count() == 0


# -- the steps -----------------------------------------------------------------------------

def facilitator_opens(story: Story) -> dict:
    """From the home page to the thread; prompt 2 picked, title and text edited, posted."""
    prompts = story.current["prompts"]
    page = log_in(story.browser, story.url, story.facilitator, ROOM)
    page.click(f"text=Go to the discussion of session {story.current['label']}")
    page.wait_for_url(f"**/{story.thread_path}")
    main = page.inner_text("main")
    assert "Open the discussion" in main and "You facilitate this session." in main
    assert page.locator("#prompt-form input[name=prompt]").count() == len(prompts)
    for p in prompts:
        assert p["prompt"] in main and p["facilitation"] in main
    assert page.input_value("#body") == prompts[0]["prompt"]  # the first prompt, until one is picked
    assert fields_without_label(page) == []
    page.check("#prompt-form input[value='2']")
    page.click("button:has-text('Start from this prompt')")
    page.wait_for_url("**prompt=2*")
    assert page.input_value("#body") == prompts[1]["prompt"]
    title = "Who decides about the infrastructure?"
    body = prompts[1]["prompt"] + "\n\nGive **one example** from your own country, please."
    page.fill("#title", title)
    page.fill("#body", body)
    page.click("#open-form button[type=submit]")
    page.wait_for_load_state()
    assert "The discussion is open." in page.inner_text("main")
    assert page.locator("h1").inner_text() == title
    opening = page.locator("article.opening")
    assert opening.count() == 1 and opening.locator(".text strong").inner_text() == "one example"
    with story.store.session() as s:
        thread = s.scalar(select(Thread).where(Thread.group_label == story.group,
                                               Thread.session == story.current["label"]))
        post = s.scalar(select(Post).where(Post.thread_id == thread.id))
        assert (thread.title, thread.opened_by) == (title, story.facilitator)
        assert (post.kind, post.body, post.author_id) == ("opening", body, story.facilitator)
    page.context.close()
    return {"thread": thread.id, "opening": post.id, "title": title}


def two_members_reply(story: Story) -> dict:
    """One member replies to the thread (with script in it); another answers that reply."""
    story.once(facilitator_opens)
    first, second = story.members[0], story.members[1]
    page = log_in(story.browser, story.url, first, f"{ROOM}{story.thread_path}")
    dialogs = Dialogs(page)
    page.fill("#reply", SCRIPTED)
    page.click("#reply-form button[type=submit]")
    page.wait_for_load_state()
    assert "Your reply is posted." in page.inner_text("main")
    with story.store.session() as s:
        reply = s.scalar(select(Post).where(Post.author_id == first))
        assert (reply.parent_id, reply.body) == (None, SCRIPTED)
    assert page.url.endswith(f"#post-{reply.id}")
    assert "<script>" in page.locator(f"#post-{reply.id} .text").inner_text()  # shown as text
    no_script_ran(page, dialogs)
    page.context.close()

    page = log_in(story.browser, story.url, second, f"{ROOM}{story.thread_path}")
    dialogs = Dialogs(page)
    no_script_ran(page, dialogs)
    scope = f"#post-{reply.id}"
    page.click(f"{scope} summary:has-text('Reply to {story.names[first]}')")
    page.fill(f"#reply-{reply.id}", ANSWER)
    page.click(f"{scope} form:has(input[value=reply]) button[type=submit]")
    page.wait_for_load_state()
    with story.store.session() as s:
        answer = s.scalar(select(Post).where(Post.author_id == second))
        assert (answer.parent_id, answer.body) == (reply.id, ANSWER)
    # threaded: the answer sits in the list under the reply it answers
    nested = page.locator(f"li:has(> #post-{reply.id}) > ol.posts > li > #post-{answer.id}")
    assert nested.count() == 1 and ANSWER in nested.inner_text()
    no_script_ran(page, dialogs)
    page.context.close()
    return {"reply": reply.id, "answer": answer.id}


def facilitator_closes(story: Story) -> int:
    story.once(two_members_reply)
    page = log_in(story.browser, story.url, story.facilitator, f"{ROOM}{story.thread_path}")
    dialogs = Dialogs(page)
    page.fill("#summary", SUMMARY)
    page.click("#close-form button[type=submit]")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "The summary is posted: the discussion is closed." in main
    assert page.locator("article.summary .text strong").inner_text() == "no one actor"
    assert page.locator("#reply-form, #close-form").count() == 0
    no_script_ran(page, dialogs)
    with story.store.session() as s:
        thread = s.scalar(select(Thread).where(Thread.group_label == story.group,
                                               Thread.session == story.current["label"]))
        assert thread.closed_at is not None
        summary = s.scalar(select(Post).where(Post.thread_id == thread.id, Post.kind == "summary"))
        assert (summary.author_id, summary.body) == (story.facilitator, SUMMARY)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"thread-{name}.png"), full_page=True)
    page.context.close()
    return summary.id


# -- the tests -----------------------------------------------------------------------------

def test_the_facilitator_opens_the_thread_from_a_prompt(story):
    story.once(facilitator_opens)


def test_two_members_reply_threaded_and_script_stays_inert(story):
    story.once(two_members_reply)


def test_the_facilitator_closes_with_a_summary(story):
    story.once(facilitator_closes)


def test_the_tutor_sees_the_summary_and_who_has_not_taken_part_and_swaps_a_facilitator(story):
    story.once(facilitator_closes)
    label = story.current["label"]
    page = log_in(story.browser, story.url, story.tutor, f"{ROOM}discussion")
    dialogs = Dialogs(page)
    row = page.locator(f"#s{label}-g{story.group}")
    cells = row.locator("td").all_inner_texts()
    assert cells[1:3] == ["yes", "yes"], cells  # opened, summary
    took_part = {story.facilitator, story.members[0], story.members[1]}
    missing = row.locator("td.missing").inner_text()
    for person in [story.facilitator] + story.members:
        assert (story.names[person] in missing) == (person not in took_part), person
    assert f"Group {story.group}, session {label}" not in (
        page.locator("#no-summary").inner_text() if page.locator("#no-summary").count() else "")
    assert f"Group {story.group}, session {label}" not in (
        page.locator("#no-opening").inner_text() if page.locator("#no-opening").count() else "")
    no_script_ran(page, dialogs)

    # the facilitator of a later session is away: the tutor gives it to another member
    later = next(x for x in story.plan if x["discussion"] and x["first"] > story.current["last"])
    with story.store.session() as s:
        before = s.get(RotaEntry, (story.group, later["label"])).facilitator_id
    chosen = next(p for p in story.members if p != before)
    page.goto(story.room(f"discussion/{story.group}/{later['label']}"))
    page.click("summary:has-text('Change who facilitates this session')")
    assert fields_without_label(page) == []
    page.select_option("#facilitator_id", chosen)
    page.click("#swap-form button[type=submit]")
    page.wait_for_load_state()
    main = page.inner_text("main")
    assert "The facilitation of this session is changed." in main
    assert f"Facilitated by {story.names[chosen]}." in main
    with story.store.session() as s:
        entry = s.get(RotaEntry, (story.group, later["label"]))
        assert (entry.facilitator_id, entry.co_facilitator_id) == (chosen, None)
    page.context.close()

    # the rota follows: the new facilitator sees the turn on their home page and may open it
    page = log_in(story.browser, story.url, chosen, ROOM)
    turns = page.inner_text("#turns-h + ul")
    assert f"Session {later['label']} ({later['title']})" in turns
    page.goto(story.room(f"discussion/{story.group}/{later['label']}"))
    assert "You facilitate this session." in page.inner_text("main")
    page.context.close()
    if before != story.facilitator:
        page = log_in(story.browser, story.url, before, f"{ROOM}discussion/{story.group}/{later['label']}")
        assert "Open the discussion" not in page.inner_text("main")
        page.context.close()


def test_a_member_of_another_group_sees_none_of_it(story):
    opened = story.once(facilitator_opens)
    story.once(facilitator_closes)
    page = log_in(story.browser, story.url, story.outsider, ROOM)
    dialogs = Dialogs(page)
    link = page.get_attribute(f"a:has-text('Go to the discussion of session {story.current['label']}')", "href")
    assert not link.endswith(story.thread_path)
    response = page.goto(story.room(story.thread_path))
    assert response.status == 404
    text = page.content()
    for secret in (opened["title"], ANSWER, "no one actor", "regulator decides"):
        assert secret not in text
    page.goto(story.room("discussion"))
    assert opened["title"] not in page.content()
    for post_id in (opened["opening"],):
        page.goto(story.room(f"discussion/{story.group}/{story.current['label']}#post-{post_id}"))
        assert "regulator" not in page.content()
    no_script_ran(page, dialogs)
    page.context.close()
