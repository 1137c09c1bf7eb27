"""The course room end to end in a real browser: Debian's Chromium driven by Playwright, on a
real JupyterHub with the room as its service, over a real cohort store (SQLite file).

One cohort walks through a review round: a tutor scores the calibration samples, a
participant calibrates and reviews (draft, error, submit), the coordinator closes the round,
an author reads the feedback by review code and rates it, a tutor settles an escalated
score. Around it: participant text never runs as script, a submitted review survives the
room being killed, pages are light and work without JavaScript, a review can be done with the
keyboard only. The last test opens a round from a real nbgrader course and checks that a
tutor's override in the browser reaches nbgrader's gradebook.

The tests of the first hub build on each other in file order (each step is also run on
demand, once, by the tests that need it, so any one test can run alone).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from browser import DESKTOP, PHONE, Dialogs, Weigher, fields_without_label, log_in
from course.cohort import reviewing
from course.cohort.db import open_store
from course.cohort.models import (Allocation, CalibrationSample, Flag, Membership, Person, Rating,
                                  Review, ReviewItem, ReviewRound, Submission, TutorAssignment,
                                  TutorDecision)
from room_helpers import PARTICIPANTS, ROOM, TUTORS, dead, make_cohort, room_process, start_room_hub

SHOTS = Path("/tmp/room-shots")
MAX_PAGE = 150 * 1024
XSS = ("# A brief with tricks\n\n"
       "<script>window.__pwned=1</script>\n\n"
       "Plain words: <img src=x onerror=\"window.__pwned=1\"> and a "
       "[x](javascript:window.__pwned=1) link.\n\n"
       "<div onerror=\"window.__pwned=1\" onmouseover=\"window.__pwned=1\">raw html</div>\n\n"
       "The ministry should publish an IPv6 plan with the operators.\n")
# The tutor's calibration scores, per sample in order (criteria in the rubric's order).
TUTOR_SCORES = [[2, 1, 2, 0, 1], [1, 1, 1, 2, 2]]
MINE = [[2, 2, 2, 1, 1], [1, 0, 1, 2, 2]]  # the participant's calibration answers
COMMENT = "The recommendation names who acts next; sources for the figures would help."


@dataclass
class Cast:
    """Who does what in the story, read from the store after the round is opened."""

    round_id: int
    criteria: list[str]
    samples: list[int]
    reviewer: str  # calibrates and does three reviews in the browser
    tasks: list[str]
    xss_code: str  # the reviewer's task whose text is the attack
    xss_submission: int
    author: str  # reads the feedback (the reviewer reviewed them)
    author_submission: int
    durable: str  # a review that survives the room being killed
    light: str  # page weight, and a review without JavaScript
    keyboard: str  # a review with the keyboard only
    tutor_of: dict[str, str] = field(default_factory=dict)


def cast_of(store) -> Cast:
    with store.session() as s:
        rnd = s.scalars(select(ReviewRound).where(ReviewRound.name == "brief")).one()
        samples = s.scalars(select(CalibrationSample).where(CalibrationSample.round_id == rnd.id)
                            .order_by(CalibrationSample.id)).all()
        sampled = {x.submission_id for x in samples}
        subs = {x.id: x for x in s.scalars(select(Submission))}
        own = {x.author_id: x.id for x in subs.values()}
        tasks: dict[str, list[Allocation]] = {}
        for a in s.scalars(select(Allocation).order_by(Allocation.review_code)):
            tasks.setdefault(a.reviewer_id, []).append(a)
        reads = {p.id: set(p.languages.split(";")) for p in s.scalars(select(Person))}
        reviewer = next(p for p in PARTICIPANTS if len(tasks.get(p, [])) == 3
                        and own[p] not in sampled and {x.language for x in samples} <= reads[p]
                        and not {a.submission_id for a in tasks[p]} & sampled)
        mine = tasks[reviewer]
        author = subs[mine[0].submission_id].author_id
        others = [p for p in PARTICIPANTS if p not in (reviewer, author) and tasks.get(p)]
        group = dict(s.execute(select(Membership.person_id, Membership.group_label)).all())
        tutor = dict(s.execute(select(TutorAssignment.group_label, TutorAssignment.tutor_id)).all())
        return Cast(rnd.id, [c["id"] for c in rnd.rubric["criteria"]], [x.id for x in samples],
                    reviewer, [a.review_code for a in mine], mine[-1].review_code,
                    mine[-1].submission_id, author, mine[0].submission_id,
                    others[0], others[1], others[2],
                    {p: tutor[g] for p, g in group.items() if g in tutor})


@dataclass
class Story:
    url: str
    store: object
    browser: object
    cast: Cast
    hub: object
    done: dict = field(default_factory=dict)
    started: list = field(default_factory=list)  # room processes this test started itself

    def room(self, path: str = "") -> str:
        return f"{self.url}{ROOM}{path}"

    def once(self, step):
        """Run a step of the story the first time a test needs it."""
        if step.__name__ not in self.done:
            self.done[step.__name__] = step(self)
        return self.done[step.__name__]

    def calibrate_in_store(self, person: str) -> None:
        """A reviewer answers the calibration samples (through the store, as the room does)."""
        with self.store.session() as s:
            for sample_id in self.cast.samples:
                try:
                    reviewing.answer_sample(s, person, sample_id, dict(zip(self.cast.criteria, MINE[0])))
                except (reviewing.NotFound, reviewing.Refused):
                    pass  # their own text, or answered already


@pytest.fixture(scope="module")
def story(tmp_path_factory, browser):
    tmp = tmp_path_factory.mktemp("room-browser")
    url = f"sqlite:///{tmp}/cohort.sqlite"
    make_cohort(url, tmp / "cohort", calibration=2, due=(date.today() + timedelta(days=7)).isoformat())
    store = open_store(url)
    cast = cast_of(store)
    with store.session() as s:  # the attack, as one of the reviewer's texts
        s.get(Submission, cast.xss_submission).text = XSS
    SHOTS.mkdir(parents=True, exist_ok=True)
    hub = start_room_hub(tmp, url, PARTICIPANTS, TUTORS)
    started: list[subprocess.Popen] = []
    try:
        yield Story(hub.url, store, browser, cast, hub, started=started)
    finally:
        for process in started:
            process.terminate()
            process.wait(10)
        hub.stop()
        store.close()


def pick(page, scope: str, criteria: list[str], scores: list) -> None:
    """Click the radio buttons of `scores` (None: leave that criterion alone)."""
    for cid, value in zip(criteria, scores):
        if value is not None:
            page.check(f"{scope} input[name='score-{cid}'][value='{value}']")


def checked(page, criteria: list[str]) -> list:
    out = []
    for cid in criteria:
        box = page.locator(f"input[name='score-{cid}']:checked")
        out.append(int(box.get_attribute("value")) if box.count() else None)
    return out


def review_in_store(store, code: str) -> tuple[str, dict]:
    with store.session() as s:
        review = s.get(Review, code)
        items = {i.criterion: (i.score, i.comment)
                 for i in s.scalars(select(ReviewItem).where(ReviewItem.review_code == code))}
        return (review.state if review else None), items


# -- the steps -----------------------------------------------------------------------------

def tutor_calibrates(story: Story) -> dict:
    """t01 scores both samples on the tutor's calibration page; the round opens."""
    cast = story.cast
    page = log_in(story.browser, story.url, "t01", f"{ROOM}tutor")
    assert "brief: calibration" in page.inner_text("main")
    page.click("text=score the calibration samples")
    page.wait_for_url(f"**/tutor/calibration/{cast.round_id}*")
    assert "Reviewers start once every sample has a tutor's scores" in page.inner_text("main")
    assert fields_without_label(page) == []
    for n, (sample_id, scores) in enumerate(zip(cast.samples, TUTOR_SCORES), start=1):
        with story.store.session() as s:
            assert s.get(ReviewRound, cast.round_id).state == "calibration"
        scope = f"#sample-{sample_id}"
        pick(page, scope, cast.criteria, scores)
        page.click(f"{scope} button:has-text('Save the scores of sample {n}')")
        page.wait_for_load_state()
    text = page.inner_text("main")
    assert "Round brief is open." in text
    assert text.count("Tutor scores:") == 2
    with story.store.session() as s:
        assert s.get(ReviewRound, cast.round_id).state == "open"
        stored = {x.id: (x.tutor_scores, x.scored_by) for x in s.scalars(
            select(CalibrationSample).where(CalibrationSample.round_id == cast.round_id))}
    for sample_id, scores in zip(cast.samples, TUTOR_SCORES):
        assert stored[sample_id] == (dict(zip(cast.criteria, scores)), "t01")
    page.context.close()
    return stored


def participant_reviews(story: Story) -> dict:
    """The reviewer calibrates, then does three reviews: a draft, an error, submissions."""
    story.once(tutor_calibrates)
    cast, criteria = story.cast, story.cast.criteria
    page = log_in(story.browser, story.url, cast.reviewer, f"{ROOM}reviews")
    main = page.inner_text("main")
    assert "First: calibration" in main and "Calibration sample 2" in main
    assert main.count("(after calibration)") == 3
    assert page.locator("a[href*='reviews/task/']").count() == 0, "tasks open before calibration"
    locked = page.goto(story.room(f"reviews/task/{cast.tasks[0]}"))
    assert locked.status == 409 and "score the calibration samples first" in page.inner_text("main")

    # calibration: score each sample, then see the tutor's scores and how far off
    for n, (mine, tutor) in enumerate(zip(MINE, TUTOR_SCORES), start=1):
        page.goto(story.room("reviews"))
        page.click("text=Calibration sample 1")  # the list shrinks as samples are done
        assert "How your scores compare" not in page.inner_text("main")
        pick(page, "form", criteria, mine)
        page.click("button:has-text('Submit and compare')")
        page.wait_for_load_state()
        rows = page.locator("table tbody tr")
        assert rows.count() == len(criteria)
        for i, (a, b) in enumerate(zip(mine, tutor)):
            cells = rows.nth(i).locator("td").all_inner_texts()
            assert cells[1:] == [str(a), str(b), str(abs(a - b))], cells
        error = sum(abs(a - b) for a, b in zip(mine, tutor)) / len(criteria)
        assert f"On average you were {error:.1f} points per criterion from the tutor." in page.inner_text("main")

    page.goto(story.room("reviews"))
    assert "First: calibration" not in page.inner_text("main")
    assert page.locator("a[href*='reviews/task/']").count() == 3

    scores = {cast.tasks[0]: [2, 1, 1, 0, 2], cast.tasks[1]: [0, 1, 2, 1, 1], cast.tasks[2]: [1, 1, 0, 0, 1]}
    comments = {code: [f"{COMMENT} ({cid}, {n})" for cid in criteria] for n, code in enumerate(scores)}

    # a draft, saved and read back
    first = cast.tasks[0]
    page.click(f"a[href$='reviews/task/{first}']")
    pick(page, "form", criteria, scores[first][:2] + [None] * 3)
    page.fill(f"#comment-{criteria[0]}", comments[first][0])
    page.click("button[value=draft]")
    page.wait_for_load_state()
    assert "Draft saved." in page.inner_text("main")
    page.goto(story.room(f"reviews/task/{first}"))
    assert "Status: draft" in page.inner_text("main")
    assert checked(page, criteria) == scores[first][:2] + [None] * 3
    assert page.input_value(f"#comment-{criteria[0]}") == comments[first][0]
    assert review_in_store(story.store, first)[0] == "draft"

    # submitting with a score missing: the error sits by that criterion, the rest is kept
    pick(page, "form", criteria, [None, None] + scores[first][2:4] + [None])
    for cid, text in zip(criteria[1:], comments[first][1:]):
        page.fill(f"#comment-{cid}", text)
    with page.expect_navigation() as reply:
        page.click("button[value=submit]")
    assert reply.value.status == 400
    last = criteria[-1]
    assert page.locator("[role=alert]").inner_text() == "Some fields need attention: see below."
    assert page.locator(f"#c-{last} .error").inner_text() == "a score is required"
    assert page.locator(".error").count() == 2  # the summary and that one criterion
    assert page.get_attribute(f"#c-{last} input[value='2']", "aria-describedby") == f"err-score-{last}"
    assert checked(page, criteria) == scores[first][:4] + [None]
    assert [page.input_value(f"#comment-{cid}") for cid in criteria] == comments[first]
    assert review_in_store(story.store, first)[0] == "draft"

    pick(page, "form", criteria, [None] * 4 + scores[first][4:])
    page.click("button[value=submit]")
    page.wait_for_load_state()
    assert "Your review is submitted." in page.inner_text("main")

    for code in cast.tasks[1:]:
        page.goto(story.room("reviews"))
        page.click(f"a[href$='reviews/task/{code}']")
        pick(page, "form", criteria, scores[code])
        for cid, text in zip(criteria, comments[code]):
            page.fill(f"#comment-{cid}", text)
        page.click("button[value=submit]")
        page.wait_for_load_state()
        assert "Your review is submitted." in page.inner_text("main")
        assert "Status: submitted" in page.inner_text("main")

    for code in cast.tasks:
        state, items = review_in_store(story.store, code)
        assert state == "submitted"
        assert items == {cid: (float(v), c) for cid, v, c in zip(criteria, scores[code], comments[code])}
    page.goto(story.room("reviews"))
    assert page.inner_text("main").count(": submitted") == 3

    page.goto(story.room(f"reviews/task/{first}"))
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"task-{name}.png"), full_page=True)
    page.context.close()
    return scores


def others_review_and_round_closes(story: Story) -> None:
    """Everyone else's reviews through the store; the coordinator closes in the browser."""
    story.once(participant_reviews)
    cast, criteria = story.cast, story.cast.criteria
    rng = random.Random(11)
    with story.store.session() as s:
        rows = s.execute(select(Allocation.review_code, Allocation.reviewer_id, Submission.author_id)
                         .join(Submission, Submission.id == Allocation.submission_id)
                         .where(~Allocation.withdrawn).order_by(Allocation.review_code)).all()
        names = dict(s.execute(select(Person.id, Person.name)).all())
    level = {p: rng.choice([0.6, 1.0, 1.4, 1.8]) for p in PARTICIPANTS}
    to_author = 0
    for code, reviewer, author in rows:
        if review_in_store(story.store, code)[0] == "submitted":
            continue
        story.calibrate_in_store(reviewer)
        scores = {cid: min(2, max(0, round(level[author] + rng.gauss(0, 0.6)))) for cid in criteria}
        comments = {cid: f"On {cid}: the argument holds, and one more source would make it stronger."
                    for cid in criteria}
        if author == cast.author:  # the author must see neither the reviewer's name nor script
            to_author += 1
            first = criteria[0]
            comments[first] = (f"I am {names[reviewer]} and I liked it. <img src=x onerror=\"window.__pwned=1\">"
                               if to_author == 1 else comments[first])
        with story.store.session() as s:
            reviewing.save_review(s, reviewer, code, scores, comments, submit=True)

    page = log_in(story.browser, story.url, "coord", f"{ROOM}coordinator")
    page.click("a:has-text('brief')")
    page.wait_for_url(f"**/coordinator/round/{cast.round_id}")
    main = page.inner_text("main")
    assert fields_without_label(page) == []
    assert "State: open" in main and re.search(r"\b0 drafts, 0 missing", main), main
    with page.expect_navigation() as early:  # the deadline is next week: not without the box
        page.click("button:has-text('Close and grade')")
    assert early.value.status == 409 and "--force closes it now" in page.inner_text("main")
    page.goto(story.room(f"coordinator/round/{cast.round_id}"))
    page.check("input[name=force]")
    page.click("button:has-text('Close and grade')")
    page.wait_for_load_state()
    assert "round closed" in page.locator("[role=status]").inner_text()
    assert "State: closed" in page.inner_text("main")
    with story.store.session() as s:
        rnd = s.get(ReviewRound, cast.round_id)
        assert rnd.state == "closed" and rnd.closed_at is not None
        assert s.get(Submission, cast.author_submission).score is not None
    page.context.close()


# -- the tests, in the order of the round --------------------------------------------------

def test_tutor_scores_the_calibration_samples_and_the_round_opens(story):
    story.once(tutor_calibrates)


def test_participant_calibrates_then_drafts_and_submits_three_reviews(story):
    story.once(participant_reviews)


def test_participant_text_never_runs_as_script(story):
    story.once(participant_reviews)
    cast = story.cast
    tutor = cast.tutor_of[_author_of(story, cast.xss_submission)]
    for user, path in ((cast.reviewer, f"reviews/task/{cast.xss_code}"),
                       (tutor, f"tutor/submission/{cast.xss_submission}")):
        page = log_in(story.browser, story.url, user, f"{ROOM}{path}")
        dialogs = Dialogs(page)
        reply = page.goto(story.room(path))  # again, now with the dialog handler on
        assert reply.status == 200
        csp = reply.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp, csp
        article = page.locator("article.text")
        text = article.inner_text()
        for shown in ("<script>window.__pwned=1</script>", "<img src=x onerror=\"window.__pwned=1\">",
                      "[x](javascript:window.__pwned=1)", "<div onerror=\"window.__pwned=1\""):
            assert shown in text, (user, shown, text)
        assert article.locator("script, img, div, a, [onerror], [onmouseover]").count() == 0
        page.hover("article.text")
        page.click("article.text")
        page.wait_for_timeout(300)
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("script").count() == 0
        assert dialogs.messages == []
        page.context.close()


def _author_of(story: Story, submission_id: int) -> str:
    with story.store.session() as s:
        return s.get(Submission, submission_id).author_id


def test_a_submitted_review_survives_the_room_being_killed(story):
    story.once(tutor_calibrates)
    cast, criteria = story.cast, story.cast.criteria
    person = cast.durable
    story.calibrate_in_store(person)
    with story.store.session() as s:
        code = s.scalars(select(Allocation.review_code).where(Allocation.reviewer_id == person)
                         .order_by(Allocation.review_code)).first()
    scores = [1, 2, 0, 2, 1]
    comments = [f"Durable comment on {cid}: the plan needs dates and a named owner." for cid in criteria]
    page = log_in(story.browser, story.url, person, f"{ROOM}reviews/task/{code}")
    pick(page, "form", criteria, scores)
    for cid, text in zip(criteria, comments):
        page.fill(f"#comment-{cid}", text)
    page.click("button[value=submit]")
    page.wait_for_load_state()
    assert "Your review is submitted." in page.inner_text("main")

    room = room_process(story.hub.process.pid)
    assert room is not None, "no course.room process under the hub"
    command, environment, cwd = room.cmdline(), room.environ(), room.cwd()
    room.kill()  # SIGKILL: no chance to flush anything
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not dead(room):
        time.sleep(0.1)
    assert dead(room)
    assert requests.get(story.room(), timeout=10, allow_redirects=False).status_code >= 500

    # JupyterHub polls its managed services (every 30 s) and starts one that died again.
    restarted = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and restarted is None:
        found = room_process(story.hub.process.pid)
        restarted = found if found is not None and found.pid != room.pid else None
        time.sleep(0.5)
    if restarted is None:  # not restarted by the hub: as the hub would, with its command
        log = open(story.hub.settings_path.parent / "room-restarted.log", "ab")
        story.started.append(subprocess.Popen(command, env=environment, cwd=cwd, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True))
        log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if requests.get(story.room(), timeout=10, allow_redirects=False).status_code < 500:
            break
        time.sleep(0.3)
    print(f"room restarted by {'JupyterHub' if restarted else 'the test'}")

    assert page.reload().status == 200
    assert "Status: submitted" in page.inner_text("main")
    assert checked(page, criteria) == scores
    assert [page.input_value(f"#comment-{cid}") for cid in criteria] == comments
    state, items = review_in_store(story.store, code)
    assert state == "submitted"
    assert items == {cid: (float(v), c) for cid, v, c in zip(criteria, scores, comments)}
    page.context.close()


def test_participant_pages_are_light_and_work_without_javascript(story):
    story.once(tutor_calibrates)
    cast, criteria = story.cast, story.cast.criteria
    person = cast.light
    with story.store.session() as s:
        codes = s.scalars(select(Allocation.review_code).where(Allocation.reviewer_id == person)
                          .order_by(Allocation.review_code)).all()
    page = log_in(story.browser, story.url, person)
    weigher = Weigher(page)
    weights = {}
    for name, path in (("home", ""), ("reviews", "reviews"), ("calibration", f"reviews/calibration/{cast.samples[0]}"),
                       ("feedback", "feedback")):
        weights[name], parts = weigher.weigh(story.room(path))
        assert any(u.endswith("static/room.css") for u, _ in parts), parts
    page.context.close()

    # without JavaScript: calibrate, read a task, submit a review
    page = log_in(story.browser, story.url, person, f"{ROOM}reviews", java_script_enabled=False)
    page.goto(story.room("reviews"))
    while page.locator("text=Calibration sample 1").count():
        page.click("text=Calibration sample 1")
        pick(page, "form", criteria, MINE[1])
        page.click("button:has-text('Submit and compare')")
        page.wait_for_load_state()
        assert "How your scores compare" in page.inner_text("main")
        page.goto(story.room("reviews"))
    page.click(f"a[href$='reviews/task/{codes[0]}']")
    page.wait_for_url(f"**/reviews/task/{codes[0]}")
    assert "IPv6 plan" in page.locator("article.text").inner_text()
    scores = [2, 2, 1, 1, 0]
    pick(page, "form", criteria, scores)
    for cid in criteria:
        page.fill(f"#comment-{cid}", f"Written without JavaScript, about {cid}: clear and well sourced.")
    page.click("button[value=submit]")
    page.wait_for_load_state()
    assert "Your review is submitted." in page.inner_text("main")
    assert review_in_store(story.store, codes[0])[0] == "submitted"
    page.context.close()

    page = log_in(story.browser, story.url, person)
    weigher = Weigher(page)
    weights["task"], _ = weigher.weigh(story.room(f"reviews/task/{codes[0]}"))
    page.context.close()
    print("page weights (bytes):", weights)
    assert all(0 < w < MAX_PAGE for w in weights.values()), weights


def test_a_review_by_keyboard_only_and_every_control_labelled(story):
    story.once(tutor_calibrates)
    cast, criteria = story.cast, story.cast.criteria
    person = cast.keyboard
    page = log_in(story.browser, story.url, person, f"{ROOM}reviews")
    page.click("text=Calibration sample 1")
    assert fields_without_label(page) == []
    story.calibrate_in_store(person)
    with story.store.session() as s:
        code = s.scalars(select(Allocation.review_code).where(Allocation.reviewer_id == person)
                         .order_by(Allocation.review_code)).first()
    page.goto(story.room(f"reviews/task/{code}"))
    assert fields_without_label(page) == []
    assert page.locator("fieldset legend").count() == len(criteria)  # each radio group is named

    def focused() -> str:
        return page.evaluate("(() => { const e = document.activeElement;"
                             " return e.name ? e.name + '=' + e.value : e.tagName; })()")

    for _ in range(40):  # from the top of the page to the first criterion
        page.keyboard.press("Tab")
        if focused().startswith(f"score-{criteria[0]}="):
            break
    else:
        pytest.fail("Tab never reached the first criterion")
    expected = []
    for n, cid in enumerate(criteria):
        assert focused().startswith(f"score-{cid}="), focused()
        page.keyboard.press("Space")  # the first level: 2 points
        for _ in range(n % 3):
            page.keyboard.press("ArrowDown")  # the next level down, selected as it moves
        expected.append([2, 1, 0][n % 3])
        assert focused() == f"score-{cid}={expected[-1]}"
        page.keyboard.press("Tab")
        assert focused() == f"comment-{cid}="
        page.keyboard.type(f"Typed with the keyboard about {cid}, with enough words to count.")
        page.keyboard.press("Tab")
    assert focused() == "action=draft"
    page.keyboard.press("Tab")
    assert focused() == "action=submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Your review is submitted." in page.inner_text("main")
    assert checked(page, criteria) == expected
    state, items = review_in_store(story.store, code)
    assert state == "submitted" and [items[c][0] for c in criteria] == expected
    page.context.close()


def test_author_reads_feedback_by_review_code_rates_and_flags(story):
    story.once(others_review_and_round_closes)
    cast = story.cast
    with story.store.session() as s:
        sub = s.get(Submission, cast.author_submission)
        score, low, high = sub.score, sub.low, sub.high
        reviewers = s.execute(select(Allocation.review_code, Person)
                              .join(Person, Person.id == Allocation.reviewer_id)
                              .where(Allocation.submission_id == sub.id, ~Allocation.withdrawn)
                              .order_by(Allocation.review_code)).all()
    page = log_in(story.browser, story.url, cast.author, f"{ROOM}feedback")
    dialogs = Dialogs(page)
    main = page.inner_text("main")
    assert f"Your score: {score:.1f} of 10 (90% interval {low:.1f} to {high:.1f})" in main, main
    codes = [code for code, _ in reviewers]
    assert len(codes) == 3 and all(re.fullmatch(r"R-[A-Z0-9]{8}", c) for c in codes)
    assert cast.tasks[0] in codes
    with story.store.session() as s:
        titles = [c["title"] for c in s.get(ReviewRound, cast.round_id).rubric["criteria"]]
    for code in codes:
        assert page.locator(f"article#{code} h3").inner_text().startswith(f"Review {code}: ")
        shown = [t.split(":")[0] for t in page.locator(f"article#{code} dt").all_inner_texts()]
        assert shown == titles  # in the rubric's order
    html = page.content()
    with story.store.session() as s:
        own = s.get(Person, cast.author).name.lower().split()
    for _, person in reviewers:
        assert person.name.lower() not in html.lower() and person.email.lower() not in html.lower()
        parts = [w for w in person.name.lower().split() if len(w) >= 3 and w not in own]
        for word in [person.id.lower(), *parts]:
            assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", html.lower()), word
    assert "I am [reviewer] and I liked it." in main
    assert "<img src=x onerror=" in main and page.evaluate("typeof window.__pwned") == "undefined"
    assert fields_without_label(page) == []
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"feedback-{name}.png"), full_page=True)
    weight, _ = Weigher(page).weigh(story.room("feedback"))
    assert weight < MAX_PAGE

    helpful, flagged = codes[0], codes[1]
    page.click(f"article#{helpful} button:has-text('Helpful')")
    page.wait_for_load_state()
    assert "Thank you: your rating is saved." in page.inner_text("main")
    assert "You rated this review helpful." in page.locator(f"article#{helpful}").inner_text()
    page.click(f"article#{flagged} summary")
    page.fill(f"#reason-{flagged}", "It mocks my country instead of discussing the brief.")
    page.click(f"article#{flagged} button:has-text('Flag')")
    page.wait_for_load_state()
    assert "The review is flagged; your tutor will look at it." in page.inner_text("main")
    assert "You flagged this review" in page.locator(f"article#{flagged}").inner_text()
    assert dialogs.messages == []
    with story.store.session() as s:
        assert s.get(Rating, helpful).helpful is True
        flag = s.scalars(select(Flag).where(Flag.review_code == flagged)).one()
        assert flag.reason == "It mocks my country instead of discussing the brief." and flag.outcome == ""
        assert s.get(Rating, flagged) is None
    page.context.close()


def test_tutor_settles_an_escalated_score(story):
    story.once(others_review_and_round_closes)
    cast = story.cast
    with story.store.session() as s:  # flagged by the author (the test before), or here
        if s.scalar(select(Flag).join(Allocation, Allocation.review_code == Flag.review_code)
                    .where(Allocation.submission_id == cast.author_submission)) is None:
            code = s.scalars(select(Allocation.review_code).where(
                Allocation.submission_id == cast.author_submission)).first()
            reviewing.flag_review(s, cast.author, code, "off topic")
    tutor = cast.tutor_of[cast.author]
    page = log_in(story.browser, story.url, tutor, f"{ROOM}tutor")
    row = page.locator("tr", has=page.locator(f"a:text-is('Submission {cast.author_submission}')"))
    assert "review(s) flagged by the author" in row.inner_text()
    page.click(f"a:text-is('Submission {cast.author_submission}')")
    page.wait_for_url(f"**/tutor/submission/{cast.author_submission}")
    assert "Flagged by the author" in page.inner_text("main")
    assert fields_without_label(page) == []

    page.fill("#score", "11")
    page.fill("#note", "Read it myself: a clear recommendation, thin on sources.")
    with page.expect_navigation() as reply:
        page.click("button:has-text('Set score')")
    assert reply.value.status == 400
    assert page.locator("#err-score").inner_text() == "a number from 0 to 10"
    assert page.input_value("#note") == "Read it myself: a clear recommendation, thin on sources."
    page.fill("#score", "7.5")
    page.click("button:has-text('Set score')")
    page.wait_for_load_state()
    assert page.locator("[role=status]").inner_text() == "score saved (this round has no nbgrader gradebook)"
    main = page.inner_text("main")
    assert "score 7.5 of 10 (set by a tutor)" in main
    assert "set 7.5: Read it myself: a clear recommendation, thin on sources." in main
    with story.store.session() as s:
        sub = s.get(Submission, cast.author_submission)
        assert (sub.score, sub.low, sub.high, sub.score_source) == (7.5, 7.5, 7.5, "tutor")
        decision = s.scalars(select(TutorDecision).where(TutorDecision.submission_id == sub.id)).one()
        assert (decision.tutor_id, decision.score) == (tutor, 7.5)
    page.context.close()


# -- a round from nbgrader: the tutor's override reaches the gradebook -----------------------

@pytest.fixture(scope="module")
def graded_room(tmp_path_factory, browser):
    """A hub whose room serves a round opened from a real nbgrader course (autograded)."""
    from course.grading.autograde import Autograder
    from course.grading.nbgrader_course import NbgraderCourse
    from course.grading.samples import submit
    from test_review_rounds import (A, ANSWERS, CONFIG, LIMITS, PEOPLE, POLICY_BRIEF, TRUE,
                                    _items, _set_answer, invoke, make_store)

    tmp = tmp_path_factory.mktemp("room-gradebook")
    assessments = tmp / "assessments"
    (assessments / "source" / A).mkdir(parents=True)
    shutil.copyfile(POLICY_BRIEF, assessments / "source" / A / "policy-brief.ipynb")
    (assessments / "nbgrader_config.py").write_text(CONFIG)
    url = f"sqlite:///{tmp}/cohort.sqlite"
    store = make_store(url)
    with store.session() as s:  # groups need the gender column to weigh balance
        for i, p in enumerate(s.scalars(select(Person).where(Person.role == "participant").order_by(Person.id))):
            p.gender = ("female", "male")[i % 2]
    for args in (["cohort", "groups", "--size", "4"], ["cohort", "tutors"]):
        result = invoke(*args, "--db", url)
        assert result.exit_code == 0, result.output
    hub = start_room_hub(tmp, url, list(PEOPLE), ["tina"], assessments=assessments)
    try:
        root = tmp / "state" / "course"  # the room's --course-root
        released = invoke("assignments", "release", A, "--course-dir", root)
        assert released.exit_code == 0, released.output
        course = NbgraderCourse.open(root)
        for student, text in ANSWERS.items():
            submit(course, A, student, "empty")
            _set_answer(course, student, text)
        # The autograder runs its own event loop: not in this thread, where Playwright's runs.
        with ThreadPoolExecutor(1) as pool:
            outcomes = pool.submit(Autograder(course, A, workers=2, limits=LIMITS).run).result()
        assert sorted(o.student for o in outcomes if o.status == "graded") == sorted(ANSWERS)
        opened = invoke("reviews", "open", A, "--course-root", root, "--db", url)
        assert opened.exit_code == 0, opened.output
        with store.session() as s:
            rnd = s.scalars(select(ReviewRound).where(ReviewRound.name == A)).one()
            criteria = [c["id"] for c in rnd.rubric["criteria"]]
            rows = s.execute(select(Allocation.review_code, Allocation.reviewer_id, Submission.author_id)
                             .join(Submission, Submission.id == Allocation.submission_id)).all()
        for code, reviewer, author in rows:
            with store.session() as s:
                reviewing.save_review(s, reviewer, code, dict(zip(criteria, _items(TRUE[author], criteria))),
                                      {c: "A fair point, well argued, with the sources named." for c in criteria},
                                      submit=True)
        yield {"url": hub.url, "store": store, "root": root, "browser": browser, "round": rnd.id,
               "assignment": A}
    finally:
        hub.stop()
        store.close()


def test_tutor_override_in_the_browser_reaches_the_nbgrader_gradebook(graded_room):
    from nbgrader.api import Gradebook

    from course.grading.nbgrader_course import NbgraderCourse

    url, store, root, browser = (graded_room[k] for k in ("url", "store", "root", "browser"))
    A = graded_room["assignment"]
    course_id = NbgraderCourse.open(root).course_id

    def manual(student: str) -> float | None:
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id) as gb:
            return gb.find_grade("policy_brief", "policy-brief", A, student).manual_score

    assert manual("ben") is None
    page = log_in(browser, url, "coord", f"{ROOM}coordinator/round/{graded_room['round']}")
    page.check("input[name=force]")
    page.click("button:has-text('Close and grade')")
    page.wait_for_load_state()
    notice = page.locator("[role=status]").inner_text()
    assert "6 written to the gradebook" in notice, notice
    with store.session() as s:
        ben = s.scalars(select(Submission).where(Submission.author_id == "ben")).one()
        peer, sub_id = ben.score, ben.id
    assert manual("ben") == pytest.approx(peer, abs=1e-3)  # 10 rubric points = 10 cell points
    page.context.close()

    page = log_in(browser, url, "tina", f"{ROOM}tutor")
    page.goto(f"{url}{ROOM}tutor/submission/{sub_id}")
    page.fill("#score", "6.5")
    page.fill("#note", "The secretariat idea is sound; no sources, so not higher.")
    page.click("button:has-text('Set score')")
    page.wait_for_load_state()
    assert page.locator("[role=status]").inner_text() == "score saved and written to the gradebook"
    assert manual("ben") == 6.5
    with store.session() as s:
        ben = s.get(Submission, sub_id)
        assert (ben.score, ben.score_source, ben.gradebook_written) == (6.5, "tutor", 6.5)
    page.context.close()
