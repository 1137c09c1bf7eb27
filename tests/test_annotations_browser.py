"""Annotations on the readings in a real browser: Debian's Chromium (Playwright) on a real hub
whose room serves a book built by `igcb book`, over a real cohort store (SQLite file).

A participant selects a passage with the mouse and comments for their study group; a member
of the group sees the highlight and the comment and replies; the author sees the reply; a
member of another group sees neither (not even through the page's own API). A comment made of
HTML stays text. After a rebuild that changes the passage, its comment is listed as orphaned,
while a comment on an unchanged passage keeps its highlight.

The tests build on each other in file order (one story, one hub).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from annotation_helpers import (CHANGING, KEPT, READING, build_book, groups_of, make_groups_cohort,
                                mini_course, write_reading)
from browser import DESKTOP, PHONE, Dialogs, chromium, log_in
from course.cohort.db import open_store
from course.cohort.models import Annotation, Membership
from room_helpers import ROOM, start_room_hub

SHOTS = Path("/tmp/room-shots")
COMMENT = "The RIRs' policy meetings are open to anyone: worth naming them in the brief."
REPLY = "Agreed: AFRINIC's and RIPE NCC's meetings publish their minutes too."
XSS = ('Look <img src=x onerror="window.__pwned=1;alert(1)"> and <script>window.__pwned=2;'
       'alert(2)</script> <b onmouseover=alert(3)>bold</b> &amp; [x](javascript:alert(4))')

# Where a passage is on the page (as the reader sees it), scrolled into view.
FIND = """(passage) => {
  const article = document.querySelector('article.bd-article');
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    const at = node.textContent.indexOf(passage);
    if (at < 0) continue;
    node.parentElement.scrollIntoView({block: 'center'});
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + passage.length);
    const rects = [...range.getClientRects()];
    const first = rects[0], last = rects[rects.length - 1];
    return {x1: first.left + 1, y1: first.top + first.height / 2,
            x2: last.right - 1, y2: last.top + last.height / 2,
            rects: rects.map(r => [r.left, r.top, r.right, r.bottom])};
  }
  return null;
}"""
# Where the library drew one annotation's highlight.
HIGHLIGHTS = """(id) => [...document.querySelectorAll('.r6o-annotation')]
  .filter(s => s.dataset.annotation === id)
  .map(s => { const r = s.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"""
CSP_WATCH = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
             "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")


@dataclass
class Story:
    url: str
    store: object
    browser: object
    course: Path
    out: Path
    author: str
    friend: str
    stranger: str
    group: str
    ids: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("annotations-browser")
    course = mini_course(tmp)
    html = build_book(course, tmp / "out")
    url = f"sqlite:///{tmp}/cohort.sqlite"
    make_groups_cohort(url)
    store = open_store(url)
    groups = groups_of(store)
    labels = sorted(k for k in groups if not k.startswith("tutor:"))
    people = [p for k in labels for p in groups[k]]
    tutors = sorted({v[0] for k, v in groups.items() if k.startswith("tutor:")})
    hub = start_room_hub(tmp, url, people, tutors, room_args=("--book", str(html)))
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with chromium() as browser:
            yield Story(hub.url, store, browser, course, tmp / "out", groups[labels[0]][0],
                        groups[labels[0]][1], groups[labels[1]][0], labels[0])
    finally:
        hub.stop()
        store.close()


def open_reading(story: Story, who: str, viewport=DESKTOP):
    """`who`'s page on the reading, once the comments are loaded and drawn."""
    page = log_in(story.browser, story.url, who, viewport=viewport)
    page.add_init_script(CSP_WATCH)
    page.goto(f"{story.url}{ROOM}book/{READING}")
    page.wait_for_selector("html[data-igcb-annotations=ready]", state="attached", timeout=30_000)
    return page


def select_passage(page, passage: str) -> dict:
    """Drag the mouse over the passage, as a reader selects text."""
    box = page.evaluate(FIND, passage)
    assert box, f"{passage!r} is not on the page"
    page.mouse.move(box["x1"], box["y1"])
    page.mouse.down()
    page.mouse.move((box["x1"] + box["x2"]) / 2, (box["y1"] + box["y2"]) / 2, steps=5)
    page.mouse.move(box["x2"], box["y2"], steps=5)
    page.mouse.up()
    return box


def over(highlights: list, text_rects: list) -> bool:
    """Does some highlight cover the middle of each line of the passage?"""
    def inside(rect, x, y):
        return rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3]
    return all(any(inside(h, (r[0] + r[2]) / 2, (r[1] + r[3]) / 2) for h in highlights)
               for r in text_rects)


def unlabelled(page) -> list[str]:
    """The comment panel's form controls that have no accessible name."""
    return page.eval_on_selector_all(
        "#igcb-notes :is(input, textarea, select, button)",
        """els => els.filter(e => {
            if (e.tagName === 'BUTTON') return !e.textContent.trim() && !e.getAttribute('aria-label');
            if (e.getAttribute('aria-label')) return false;
            return !(e.labels && [...e.labels].some(l => l.textContent.trim()));
        }).map(e => e.outerHTML.slice(0, 120))""")


def comment_on(page, passage: str, text: str, audience: str = "group") -> str:
    select_passage(page, passage)
    page.wait_for_selector("#igcb-new", timeout=10_000)
    page.fill("#igcb-new", text)
    page.check(f"#igcb-new-{audience}")
    before = page.locator(".igcb-list .igcb-item").count()
    page.get_by_role("button", name="Save comment").click()
    page.wait_for_function("(n) => document.querySelectorAll('.igcb-list .igcb-item').length > n",
                           arg=before)
    return page.eval_on_selector_all(".igcb-list .igcb-item", "els => els.map(e => e.dataset.id)")[-1]


def test_a_participant_comments_on_a_passage_for_their_group(story):
    page = open_reading(story, story.author)
    assert page.evaluate("window.__csp") == []  # the theme's inline scripts are allowed by hash
    story.ids["note"] = comment_on(page, CHANGING, COMMENT)
    assert page.locator("#igcb-detail-title").is_visible()
    assert page.inner_text(".igcb-detail .igcb-text") == COMMENT
    assert unlabelled(page) == []
    page.screenshot(path=str(SHOTS / "annotation-made.png"), full_page=False)
    with story.store.session() as s:
        note = s.get(Annotation, story.ids["note"])
        mine = s.scalar(select(Membership.group_label).where(Membership.person_id == story.author))
        assert (note.author_id, note.audience, note.group_label, note.body) == \
            (story.author, "group", mine, COMMENT)
        assert note.quote == CHANGING and note.orphaned_at is None
        assert note.page == READING
    page.context.close()


def test_a_member_of_the_group_sees_the_highlight_and_the_comment_and_replies(story):
    page = open_reading(story, story.friend)
    note = story.ids["note"]
    box = page.evaluate(FIND, CHANGING)
    assert over(page.evaluate(HIGHLIGHTS, note), box["rects"])  # drawn on the passage itself
    assert page.inner_text(".igcb-list").count(COMMENT[:40]) == 1
    # keyboard: the list of comments is made of buttons; Enter opens one
    page.focus(f".igcb-item[data-id='{note}']")
    page.keyboard.press("Enter")
    page.wait_for_selector(".igcb-detail .igcb-text")
    assert page.evaluate("document.activeElement.id") == "igcb-detail-title"
    assert page.inner_text(".igcb-detail .igcb-text") == COMMENT
    page.fill(f"#igcb-reply-{note}", REPLY)
    page.get_by_role("button", name="Reply", exact=True).click()
    page.wait_for_selector(".igcb-reply .igcb-text")
    assert page.inner_text(".igcb-reply .igcb-text") == REPLY
    with story.store.session() as s:
        reply = s.scalars(select(Annotation).where(Annotation.parent_id == note)).one()
        assert (reply.author_id, reply.body, reply.audience) == (story.friend, REPLY, "group")
    page.context.close()


def test_the_author_sees_the_reply(story):
    page = open_reading(story, story.author)
    page.click(f".igcb-item[data-id='{story.ids['note']}']")
    page.wait_for_selector(".igcb-reply .igcb-text")
    assert page.inner_text(".igcb-reply .igcb-text") == REPLY
    assert "1 reply" in page.inner_text(f".igcb-item[data-id='{story.ids['note']}']")
    page.context.close()


def test_a_member_of_another_group_sees_neither(story):
    page = open_reading(story, story.stranger)
    note = story.ids["note"]
    assert page.evaluate(HIGHLIGHTS, note) == []
    assert page.locator(".igcb-item").count() == 0
    assert COMMENT not in page.content() and REPLY not in page.content()
    # nor by asking the room with the page's own token
    answers = page.evaluate("""async (id) => {
      const cfg = JSON.parse(document.getElementById('igcb-annotate').textContent);
      const headers = {'X-XSRFToken': cfg.xsrf, 'Content-Type': 'application/json'};
      const one = await fetch(cfg.api + '/' + id, {headers});
      const reply = await fetch(cfg.api + '/' + id + '/replies', {method: 'POST', headers,
                                body: JSON.stringify({body: 'Let me in.'})});
      const list = await (await fetch(cfg.api + '?page=' + cfg.page, {headers})).json();
      return [one.status, reply.status, list.annotations.length];
    }""", note)
    assert answers == [404, 404, 0]
    page.context.close()


def test_a_comment_made_of_html_stays_text(story):
    page = open_reading(story, story.author)
    dialogs = Dialogs(page)
    story.ids["xss"] = comment_on(page, KEPT, XSS, audience="cohort")
    page.context.close()
    for who in (story.friend, story.stranger):  # a cohort comment: both groups see it
        page = open_reading(story, who, viewport=PHONE)
        dialogs = Dialogs(page)
        page.click(f".igcb-item[data-id='{story.ids['xss']}']")
        page.wait_for_selector(".igcb-detail .igcb-text")
        assert page.inner_text(".igcb-detail .igcb-text") == XSS  # shown literally
        assert page.evaluate("document.querySelectorAll('img[src=x], b[onmouseover]').length") == 0
        page.hover(".igcb-detail .igcb-text")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert dialogs.messages == []
        assert page.evaluate("window.__csp") == []
        page.screenshot(path=str(SHOTS / f"annotation-inert-{who}.png"), full_page=True)
        page.context.close()


def test_after_a_rebuild_a_changed_passage_is_listed_as_orphaned_not_lost(story):
    write_reading(story.course, changed=True)
    build_book(story.course, story.out)
    page = open_reading(story, story.author)
    orphans = page.locator(".igcb-orphans")
    assert orphans.is_visible()
    assert "Comments on passages that changed (1)" in orphans.inner_text()
    assert COMMENT[:40] in orphans.inner_text() and CHANGING[:40] in orphans.inner_text()
    assert page.evaluate(HIGHLIGHTS, story.ids["note"]) == []
    # the comment on the unchanged passage keeps its highlight, on the passage
    box = page.evaluate(FIND, KEPT)
    assert over(page.evaluate(HIGHLIGHTS, story.ids["xss"]), box["rects"])
    # the orphaned comment opens with its reply
    orphans.locator(f".igcb-item[data-id='{story.ids['note']}']").click()
    page.wait_for_selector(".igcb-reply .igcb-text")
    assert page.inner_text(".igcb-reply .igcb-text") == REPLY
    assert "no longer in the reading" in page.inner_text(".igcb-detail")
    page.screenshot(path=str(SHOTS / "annotation-orphaned.png"), full_page=False)
    with story.store.session() as s:
        assert s.get(Annotation, story.ids["note"]).orphaned_at is not None
        assert s.get(Annotation, story.ids["xss"]).orphaned_at is None
    page.context.close()
