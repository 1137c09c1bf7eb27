"""A participant's personal calendar feed, on SQLite and PostgreSQL: the store's rules
(course/cohort/feeds.py) and the room's page and feed (course/room/feeds.py) behind a real
JupyterHub, read back with the `icalendar` package, and attacked: wrong, malformed, replaced
and revoked addresses, another participant's address, forms without their CSRF token or from
another site, people who may not have a feed. The store keeps only the token's hash; the room's
log never shows it; a feed names nobody but its owner.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from icalendar import Calendar
from sqlalchemy import select

from course import ical
from course.cli import main
from course.cohort import feeds
from course.cohort.db import open_store
from course.cohort.models import (Allocation, AuditEntry, Base, CalendarFeed, Membership, Person,
                                  ReviewRound, RotaEntry, Submission)
from course.cohort.reviewing import NotFound, my_turns
from course.cohort.structure import table_frames
from course.plans import load_named_plan
from pg_helpers import store_for_test
from browser import PHONE, fields_without_label, log_in
from room_helpers import (EXAMPLES, PARTICIPANTS, ROOM, TUTORS, form_token, make_cohort,
                          room_login, start_room_hub)

PLAN = load_named_plan("online-course")  # the plan make_cohort's cohort follows
UTC = dt.timezone.utc


def due_date() -> str:
    return (date.today() + timedelta(days=7)).isoformat()


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def everything_stored(store) -> str:
    """Every value of every table of the store, as one text."""
    with store.session() as s:
        frames = table_frames(s)
    return "\n".join(frame.to_csv(index=False) for frame in frames.values())


def people_with_turns_and_tasks(store) -> list[tuple[str, str]]:
    """(participant, group) of those with a facilitation turn and review tasks, one per group
    first, so the first two are in different groups."""
    with store.session() as s:
        leads = set(s.scalars(select(RotaEntry.facilitator_id)))
        reviewers = set(s.scalars(select(Allocation.reviewer_id)))
        groups = dict(s.execute(select(Membership.person_id, Membership.group_label)).all())
    chosen = sorted((p for p in PARTICIPANTS if p in leads and p in reviewers and p in groups),
                    key=lambda p: (p, groups[p]))
    seen, first, rest = set(), [], []
    for p in chosen:
        (rest if groups[p] in seen else first).append((p, groups[p]))
        seen.add(groups[p])
    return first + rest


def turn_uid(group: str, label: str, role: str) -> str:
    return f"turn-{group.lower()}-w{label}-{role}@online-course.{ical.UID_DOMAIN}"


def expected_turns(s, person_id: str) -> dict[str, tuple[date, date]]:
    """UID -> (first day, day after the last) of each of the person's turns, from the plan."""
    out = {}
    for turn in my_turns(s, person_id):
        [session] = [x for x in PLAN.sessions if str(x.week) == turn["session"] and x.discussion]
        first, last = session.dates(PLAN.start)
        out[turn_uid(turn["group"], turn["session"], turn["role"])] = (first, last + timedelta(days=1))
    return out


def others(s, person_id: str) -> list[Person]:
    return s.scalars(select(Person).where(Person.id != person_id)).all()


def assert_names_nobody_else(text: str, s, person_id: str) -> None:
    """The feed's text holds no other person's id, name or e-mail, and no review code or
    submission of the reviews the person does."""
    # Unfolded (RFC 5545 breaks long lines with CRLF and a space) and unescaped.
    folded = re.sub(r"\\([,;\\nN])", r"\1", text.replace("\r\n ", "")).casefold()
    for p in others(s, person_id):
        assert not re.search(rf"\b{re.escape(p.id.casefold())}\b", folded), p.id
        assert not p.name or p.name.casefold() not in folded, p.name
        assert not p.email or p.email.casefold() not in folded, p.email
    for code, author in s.execute(select(Allocation.review_code, Submission.author_id)
                                  .join(Submission, Submission.id == Allocation.submission_id)
                                  .where(Allocation.reviewer_id == person_id)):
        assert code.casefold() not in folded and author.casefold() not in folded


# --- the store -----------------------------------------------------------------------------

@pytest.fixture
def store(db_url, tmp_path):
    make_cohort(db_url, tmp_path / "cohort", calibration=2, due=due_date())
    opened = open_store(db_url, create=False)
    yield opened
    opened.close()


def test_the_token_is_given_once_and_only_its_hash_is_stored(store):
    with store.session() as s:
        token = feeds.new_feed(s, "p01")
        assert feeds.feed_status(s, "p01")["active"]
    assert feeds.TOKEN.fullmatch(token) and len(token) == 43
    with store.session() as s:
        row = s.get(CalendarFeed, "p01")
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert feeds.feed_owner(s, token) == "p01"
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.actor == "p01")).all()
        assert "calendar.new" in actions
    assert token not in everything_stored(store)  # not in the feed's table, nor the audit log


def test_only_a_live_token_of_an_active_participant_opens_a_feed(store):
    with store.session() as s:
        first = feeds.new_feed(s, "p02")
        second = feeds.new_feed(s, "p02")  # replaces the first
        other = feeds.new_feed(s, "p03")
    with store.session() as s:
        assert feeds.feed_owner(s, first) is None
        assert feeds.feed_owner(s, second) == "p02" and feeds.feed_owner(s, other) == "p03"
        wrong = [secrets.token_urlsafe(32), second[:-1] + ("A" if second[-1] != "A" else "B"),
                 second[:20], second + "x", second.upper() if second.upper() != second else "",
                 "", "../" + second, feeds.token_hash(second), None]
        assert [feeds.feed_owner(s, t) for t in wrong] == [None] * len(wrong)
        assert s.scalar(select(CalendarFeed.person_id).where(
            CalendarFeed.token_hash == feeds.token_hash(first))) is None
    with store.session() as s:
        assert feeds.revoke_feed(s, "p02") is True
    with store.session() as s:
        assert feeds.feed_owner(s, second) is None
        assert feeds.revoke_feed(s, "p02") is False  # nothing left to revoke
        assert not feeds.feed_status(s, "p02")["active"]
        s.get(Person, "p03").active = False  # withdrawn: the address goes quiet
    with store.session() as s:
        assert feeds.feed_owner(s, other) is None
        for staff in ("t01", "coord", "nobody"):
            for call in (feeds.new_feed, feeds.feed_status, feeds.revoke_feed, feeds.feed_items):
                with pytest.raises(NotFound):
                    call(s, staff)
        with pytest.raises(NotFound):
            feeds.new_feed(s, "p03")


def test_the_feed_holds_the_participants_turns_and_review_rounds_and_nothing_else(store):
    with store.session() as s:
        [(person, _), *_] = people_with_turns_and_tasks(store)
        items = feeds.feed_items(s, person)
        assert items["turns"] == my_turns(s, person) and items["turns"]
        rnd = s.scalars(select(ReviewRound)).one()
        tasks = s.scalars(select(Allocation).where(Allocation.reviewer_id == person)).all()
        assert items["reviews"] == [{"id": rnd.id, "round": rnd.name, "due": rnd.due,
                                     "tasks": len(tasks)}]
        stamp = dt.datetime(2027, 1, 1, tzinfo=UTC)
        data = ical.personal_calendar(PLAN, "online-course", items["turns"], items["reviews"],
                                      "https://hub.example.org/services/room/", stamp)
        calendar = parse(data)
        found = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
        turns = expected_turns(s, person)
        assert {u: (e.start, e.end) for u, e in found.items() if u.startswith("turn-")} == turns
        [review] = [e for u, e in found.items() if u.startswith("reviews-")]
        assert review.start == rnd.due.replace(tzinfo=UTC)
        assert f"{len(tasks)} peer review" in str(review["DESCRIPTION"])
        assert_names_nobody_else(data.decode(), s, person)


def test_a_removed_participants_address_goes_with_them(db_url, tmp_path):
    runner, env = CliRunner(), {"IGCB_HUB_ADMIN": "coord"}
    with open(EXAMPLES / "roster.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    smaller = tmp_path / "smaller.csv"
    with open(smaller, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["id"] != "p05")
    for roster in (EXAMPLES / "roster.csv", smaller):
        result = runner.invoke(main, ["cohort", "init", "--plan", "online-course", "--roster",
                                      str(roster), "--tutors", str(EXAMPLES / "tutors.csv"),
                                      "--db", db_url], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        if roster != smaller:  # no study group yet: p05 has no work in the store, only a feed
            store = open_store(db_url)
            with store.session() as s:
                token = feeds.new_feed(s, "p05")
            store.close()
    store = open_store(db_url)
    with store.session() as s:
        assert s.get(Person, "p05") is None and s.get(CalendarFeed, "p05") is None
        assert feeds.feed_owner(s, token) is None
    store.close()


def test_the_migration_makes_the_table_the_model_describes(db_url):
    store = open_store(db_url)
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    store.close()
    assert [d for d in differences if "calendar_feeds" in repr(d)] == []


# --- the room ------------------------------------------------------------------------------



@dataclass
class Room:
    url: str
    store: object
    log: object  # the hub's log file, where the room's log goes too
    people: list  # (participant, group): with turns and review tasks, first two in two groups

    def page(self, path: str = "calendar") -> str:
        return f"{self.url}{ROOM}{path}"

    def new_address(self, session: requests.Session) -> str:
        form = session.get(self.page(), timeout=30)
        assert form.status_code == 200, form.text
        reply = session.post(self.page(), data={"action": "new", "_xsrf": form_token(form.text)},
                             allow_redirects=False, timeout=30)
        assert reply.status_code == 200, reply.text
        found = re.search(r'<code id="feed-address">([^<]+)</code>', reply.text)
        assert found, reply.text
        address = found.group(1)
        assert address.startswith(self.page("calendar/feed/")) and address.endswith(".ics")
        assert f'href="webcal://{address.split("://", 1)[1]}"' in reply.text
        return address


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def room(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"calendar-{request.param}")
    with store_for_test(request, request.param, folder, "igcb_calendar") as url:
        make_cohort(url, folder / "cohort", calibration=2, due=due_date())
        store = open_store(url)
        try:
            hub = start_room_hub(folder, url, PARTICIPANTS, TUTORS)
            try:
                yield Room(hub.url, store, hub.settings_path.parent / "jupyterhub.log",
                           people_with_turns_and_tasks(store))
            finally:
                hub.stop()
        finally:
            store.close()


def token_of(address: str) -> str:
    return address.rsplit("/", 1)[1].removesuffix(".ics")


def test_a_participant_subscribes_and_a_calendar_app_reads_the_feed_without_logging_in(room):
    person, group = room.people[0]
    session = room_login(room.url, person)
    page = session.get(room.page(), timeout=30)
    assert page.status_code == 200 and "Make my calendar address" in page.text
    assert f'href="{ROOM}calendar"' in page.text  # in the room's menu
    address = room.new_address(session)
    reply = requests.get(address, timeout=30)  # no cookie, no hub token: as a calendar app
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-store"
    calendar = parse(reply.content)
    assert "my turns and reviews" in str(calendar["X-WR-CALNAME"])
    found = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    with room.store.session() as s:
        turns = expected_turns(s, person)
        assert turns and {u: (e.start, e.end) for u, e in found.items()
                          if u.startswith("turn-")} == turns
        assert all(f"turn-{group.lower()}-" in u for u in turns)
        rnd = s.scalars(select(ReviewRound)).one()
        [review] = [e for u, e in found.items() if u.startswith("reviews-")]
        assert review.start == rnd.due.replace(tzinfo=UTC)
        assert_names_nobody_else(reply.text, s, person)
        # The store and its audit log hold only the token's hash.
        assert token_of(address) not in everything_stored(room.store)
    assert requests.head(address, timeout=30).status_code == 200
    # The page does not show the address again; it says one exists.
    again = session.get(room.page(), timeout=30)
    assert token_of(address) not in again.text and "You have a calendar address" in again.text
    # The room's log shows the feed's requests, never the token.
    log = room.log.read_text(encoding="utf-8", errors="replace")
    assert f"GET {ROOM}calendar/feed/[token]" in log and token_of(address) not in log


def test_one_participants_address_never_shows_another_participants_turns(room):
    (first, first_group), (second, second_group) = room.people[1], room.people[2]
    assert first_group != second_group
    addresses = {p: room.new_address(room_login(room.url, p)) for p in (first, second)}
    feeds_of = {p: parse(requests.get(a, timeout=30).content) for p, a in addresses.items()}
    with room.store.session() as s:
        for p in (first, second):
            uids = {str(e["UID"]) for e in feeds_of[p].walk("VEVENT")}
            assert {u for u in uids if u.startswith("turn-")} == set(expected_turns(s, p))
            assert_names_nobody_else(feeds_of[p].to_ical().decode(), s, p)
        first_turns, second_turns = set(expected_turns(s, first)), set(expected_turns(s, second))
    assert first_turns and second_turns and not first_turns & second_turns


def test_wrong_and_malformed_addresses_answer_404_and_say_nothing_more(room):
    person, _ = room.people[3]
    address = room.new_address(room_login(room.url, person))
    token = token_of(address)
    base = room.page("calendar/feed/")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    wrong = [secrets.token_urlsafe(32), flipped, token[:-1], token + "A", token.swapcase(),
             feeds.token_hash(token), "", "..%2F..%2Fcohort.sqlite", "%00" + token[1:]]
    answers = [requests.get(f"{base}{t}.ics", timeout=30) for t in wrong]
    assert [a.status_code for a in answers] == [404] * len(wrong)
    assert {a.text for a in answers} == {"There is no calendar at this address.\n"}
    assert requests.get(address, timeout=30).status_code == 200
    assert requests.get(address.removesuffix(".ics"), timeout=30).status_code == 404
    # A hub login is no key either: the signed-in owner's cookies do not open another address.
    assert room_login(room.url, person).get(f"{base}{flipped}.ics", timeout=30).status_code == 404
    # No path under the feed's is logged as it was asked for, not even a mistyped one.
    log = room.log.read_text(encoding="utf-8", errors="replace")
    assert token not in log and flipped not in log


def test_revoking_or_replacing_an_address_makes_the_old_one_404_at_once(room):
    person, _ = room.people[4]
    session = room_login(room.url, person)
    first = room.new_address(session)
    second = room.new_address(session)  # a new address replaces the old one
    assert requests.get(first, timeout=30).status_code == 404
    assert requests.get(second, timeout=30).status_code == 200
    page = session.get(room.page(), timeout=30)
    assert "Revoke my calendar address" in page.text
    reply = session.post(room.page(), data={"action": "revoke", "_xsrf": form_token(page.text)},
                         allow_redirects=False, timeout=30)
    assert reply.status_code == 302 and reply.headers["Location"].endswith("calendar?done=revoked")
    assert requests.get(second, timeout=30).status_code == 404  # committed before the answer
    with room.store.session() as s:
        assert s.get(CalendarFeed, person) is None
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.actor == person,
                                                         AuditEntry.action == "calendar.revoke")).all()
    after = session.get(reply.headers["Location"] if reply.headers["Location"].startswith("http")
                        else room.url + reply.headers["Location"], timeout=30)
    assert "Your calendar address is revoked" in after.text and "no calendar address" in after.text


def test_forms_without_their_token_or_from_another_site_change_nothing(room):
    person, _ = room.people[5]
    session = room_login(room.url, person)
    address = room.new_address(session)
    with room.store.session() as s:
        before = s.get(CalendarFeed, person).token_hash
    token = form_token(session.get(room.page(), timeout=30).text)
    attempts = [
        ({"action": "new"}, {}),
        ({"action": "revoke"}, {}),
        ({"action": "revoke", "_xsrf": "not-the-token"}, {}),
        ({"action": "revoke", "_xsrf": token}, {"Origin": "https://evil.example.org"}),
        ({"action": "new", "_xsrf": token}, {"Sec-Fetch-Site": "cross-site"}),
    ]
    for data, headers in attempts:
        reply = session.post(room.page(), data=data, headers=headers, allow_redirects=False,
                             timeout=30)
        assert reply.status_code == 403, (data, headers, reply.status_code)
    # Without a session at all: to the login, never a change.
    anonymous = requests.post(room.page(), data={"action": "revoke"}, allow_redirects=False,
                              timeout=30)
    assert anonymous.status_code in (302, 403)
    with room.store.session() as s:
        assert s.get(CalendarFeed, person).token_hash == before
    assert requests.get(address, timeout=30).status_code == 200
    assert session.post(room.page(), data={"action": "other", "_xsrf": token},
                        allow_redirects=False, timeout=30).status_code == 400


def test_only_participants_have_a_calendar_page_and_only_active_ones_a_feed(room):
    anonymous = requests.get(room.page(), allow_redirects=False, timeout=30)
    assert anonymous.status_code == 302 and "oauth" in anonymous.headers["Location"]
    tutor = room_login(room.url, "t01")
    assert tutor.get(room.page(), timeout=30).status_code == 404
    token = form_token(tutor.get(room.page("mail"), timeout=30).text)  # a form tutors have
    assert tutor.post(room.page(), data={"action": "new", "_xsrf": token},
                      allow_redirects=False, timeout=30).status_code == 404
    person, _ = room.people[6]
    address = room.new_address(room_login(room.url, person))
    with room.store.session() as s:
        s.get(Person, person).active = False  # withdrawn from the course
    try:
        assert requests.get(address, timeout=30).status_code == 404
    finally:
        with room.store.session() as s:
            s.get(Person, person).active = True
    assert requests.get(address, timeout=30).status_code == 200


def test_a_participant_makes_and_revokes_the_address_by_keyboard_on_a_phone_without_script(
        room, browser):
    person, _ = room.people[7]
    page = log_in(browser, room.url, person, viewport=PHONE, java_script_enabled=False)
    page.click(f"nav a[href='{ROOM}calendar']")
    assert fields_without_label(page) == []

    def focused() -> str:
        return page.evaluate("document.activeElement.textContent.trim()")

    def press(button: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if focused() == button:
                break
        else:
            pytest.fail(f"Tab never reached {button!r}")
        with page.expect_navigation():
            page.keyboard.press("Enter")

    press("Make my calendar address")
    address = page.inner_text("#feed-address")
    assert address.startswith(room.page("calendar/feed/")) and fields_without_label(page) == []
    assert requests.get(address, timeout=30).status_code == 200
    # The address fits the phone's width (it wraps, the page does not scroll sideways).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    press("Revoke my calendar address")
    assert "Your calendar address is revoked" in page.inner_text("main")
    assert requests.get(address, timeout=30).status_code == 404
    page.context.close()
