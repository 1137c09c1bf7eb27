"""The plan's calendar (course/ical.py) read back with the `icalendar` package: one event per
session, discussion and deadline, on the schedule page's dates, in the plan's time zone, with
UIDs that survive a change of dates or titles; the plan's `timezone` field; and the book that
carries the file, linked from its schedule page."""

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from icalendar import Calendar

from course import ical
from course.book import EXTRA, book_config, staged_files
from course.layout import Layout
from course.modules import load_catalogue
from course.pages import schedule, schedule_rows
from course.plans import Plan, load_plan, shipped_plans
from course.yamlfile import validate

from conftest import FIXTURES, run_igcb

CATALOGUE, _ = load_catalogue(Layout.default().modules)
UTC = dt.timezone.utc


def shipped(name: str) -> Plan:
    plan, problems = load_plan(Layout.default().plans / f"{name}.yml")
    assert problems == []
    return plan


def plan_with(name: str, **changes) -> Plan:
    """A shipped plan with some fields changed, validated again as a plan file would be."""
    data = yaml.safe_load((Layout.default().plans / f"{name}.yml").read_text(encoding="utf-8"))
    data.update(changes)
    plan, problems = validate(Plan, data, Path(f"{name}.yml"))
    assert problems == [], problems
    return plan


def parse(data: bytes) -> Calendar:
    assert isinstance(data, bytes)
    return Calendar.from_ical(data)


def events(calendar: Calendar) -> dict[str, object]:
    found = calendar.walk("VEVENT")
    uids = [str(e["UID"]) for e in found]
    assert len(uids) == len(set(uids)), "two events share a UID"
    return {str(e["UID"]): e for e in found}


# --- the plan's time zone ------------------------------------------------------------------

def test_a_plan_without_a_time_zone_is_in_utc_and_every_shipped_plan_validates():
    for path in shipped_plans():
        plan, problems = load_plan(path)
        assert problems == []
        given = yaml.safe_load(path.read_text(encoding="utf-8")).get("timezone")
        assert plan.timezone == (given or "UTC")
    assert "timezone" not in yaml.safe_load((Layout.default().plans / "online-course.yml").read_text())
    assert shipped("online-course").timezone == "UTC"
    assert plan_with("online-course", timezone="africa/nairobi").timezone == "Africa/Nairobi"


@pytest.mark.parametrize("value", ["Mars/Olympus_Mons", "", "../../etc/passwd", "+03:00", 3, None,
                                   ["UTC"]])
def test_a_bad_time_zone_is_refused_with_the_field_named(value, tmp_path):
    data = yaml.safe_load((Layout.default().plans / "online-course.yml").read_text())
    data["timezone"] = value
    path = tmp_path / "online-course.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    plan, problems = load_plan(path)
    assert plan is None and len(problems) == 1
    assert problems[0].message.startswith("timezone: expected an IANA time zone name")


def test_igcb_check_names_the_plan_file_and_the_field(tmp_path):
    root = tmp_path / "mini"
    import shutil
    shutil.copytree(FIXTURES / "mini", root)
    plan = root / "course/plans/mini.yml"
    plan.write_text(plan.read_text() + "timezone: Europe/Atlantis\n")
    result = run_igcb("check", root=root)
    assert result.exit_code == 2, result.output
    assert "mini.yml: timezone: expected an IANA time zone name" in result.output
    assert "Traceback" not in result.output


# --- the plan's calendar -------------------------------------------------------------------

@pytest.mark.parametrize("name", [p.stem for p in shipped_plans()])
def test_every_session_discussion_and_deadline_is_an_event_on_the_schedule_pages_dates(name):
    plan = shipped(name)
    calendar = parse(ical.plan_calendar(plan, CATALOGUE))
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["PRODID"]) == ical.PRODID
    assert str(calendar["X-WR-CALNAME"]) == plan.title
    assert str(calendar["X-WR-TIMEZONE"]) == plan.timezone
    found = events(calendar)
    rows = schedule_rows(plan, CATALOGUE)
    assert len(found) == len(rows)  # the page's rows: sessions, discussions, deadlines
    by_kind = {kind: [e for u, e in found.items() if u.startswith(kind + "-")]
               for kind in ("session", "discussion", "deadline")}
    assert [len(v) for v in by_kind.values()] == [
        len(plan.sessions), sum(s.discussion for s in plan.sessions),
        sum(len(s.deadlines) for s in plan.sessions)]
    for session, key in zip(plan.sessions, ical.session_keys(plan)):
        first, last = session.dates(plan.start)
        event = found[ical.uid(plan, f"session-{key}")]
        assert session.title in str(event["SUMMARY"])
        if session.time is None:  # all day, over the session's days (the end day excluded)
            assert (event.start, event.end) == (first, last + dt.timedelta(days=1))
            assert str(event["DTSTART"].params.get("VALUE")) == "DATE"
        else:
            assert event.start.date() == first
            assert f"{event.start:%H:%M}-{event.end:%H:%M}" == session.time
        if session.discussion:
            discussion = found[ical.uid(plan, f"discussion-{key}")]
            assert (discussion.start, discussion.end) == (event.start, event.end)
        for deadline in session.deadlines:
            [due] = [e for e in by_kind["deadline"] if str(e["SUMMARY"]) == f"Due: {deadline.title}"
                     and e.start == last]
            assert due.end == last + dt.timedelta(days=1)  # all day, on the session's last day
    # The page's deadline rows give the same days.
    page_days = sorted(r["date"] for r in rows if r["what"] == "Deadline")
    assert page_days == sorted(f"{e.start:%a %d %b %Y}" for e in by_kind["deadline"])
    for event in found.values():
        assert isinstance(event["DTSTAMP"].dt, dt.datetime) and event["DTSTAMP"].dt.tzinfo


def test_timed_sessions_are_in_the_plans_zone_with_its_vtimezone():
    plan = plan_with("awareness-day", timezone="Africa/Nairobi")
    data = ical.plan_calendar(plan, CATALOGUE)
    calendar = parse(data)
    [zone] = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Africa/Nairobi"
    found = events(calendar)
    first = found[ical.uid(plan, "session-d1-0900-1030")]
    assert first.start == dt.datetime(2027, 2, 15, 9, 0, tzinfo=ZoneInfo("Africa/Nairobi"))
    assert first.start.astimezone(UTC) == dt.datetime(2027, 2, 15, 6, 0, tzinfo=UTC)
    assert first.end.astimezone(UTC) == dt.datetime(2027, 2, 15, 7, 30, tzinfo=UTC)
    assert b"DTSTART;TZID=Africa/Nairobi:20270215T090000" in data
    # Timed sessions block the time; all-day ones (the deadline) do not.
    assert str(first["TRANSP"]) == "OPAQUE"
    [due] = [e for u, e in found.items() if u.startswith("deadline-")]
    assert due.start == dt.date(2027, 2, 15) and str(due["TRANSP"]) == "TRANSPARENT"
    assert "Africa/Nairobi" in str(due["DESCRIPTION"])


def test_a_zone_with_summer_time_gives_the_right_offset_on_each_side_of_the_change():
    # Europe/Berlin moves to summer time on Sunday 28 March 2027.
    plan = plan_with("awareness-day", timezone="Europe/Berlin", start=dt.date(2027, 3, 27),
                     sessions=[{"day": 1, "time": "09:00-10:00", "title": "Before"},
                               {"day": 3, "time": "09:00-10:00", "title": "After"}])
    calendar = parse(ical.plan_calendar(plan, CATALOGUE))
    [zone] = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Berlin"
    assert zone.walk("DAYLIGHT") and zone.walk("STANDARD")
    found = events(calendar)
    before, after = found[ical.uid(plan, "session-d1-0900-1000")], found[ical.uid(plan, "session-d3-0900-1000")]
    assert before.start.astimezone(UTC).hour == 8 and after.start.astimezone(UTC).hour == 7


def test_a_session_that_ends_after_midnight_ends_the_next_day():
    plan = plan_with("awareness-day", sessions=[{"day": 1, "time": "22:00-01:30", "title": "Late"}])
    [event] = events(parse(ical.plan_calendar(plan, CATALOGUE))).values()
    assert event.end - event.start == dt.timedelta(hours=3, minutes=30)


def test_uids_survive_new_dates_and_titles_so_a_new_import_updates_the_events():
    plan = shipped("online-course")
    moved = plan_with("online-course", start=dt.date(2027, 4, 5), title="Renamed course",
                      sessions=[{**s.model_dump(mode="json", exclude_none=True), "title": f"New {i}"}
                                for i, s in enumerate(plan.sessions)])
    old, new = events(parse(ical.plan_calendar(plan, CATALOGUE))), \
        events(parse(ical.plan_calendar(moved, CATALOGUE)))
    assert set(old) == set(new)
    uid = ical.uid(plan, "session-w2")
    assert old[uid].start == dt.date(2027, 3, 8) and new[uid].start == dt.date(2027, 4, 12)
    assert str(new[uid]["SUMMARY"]) == "Week 2: New 1"
    # A session added at the end adds its events and changes none of the others.
    longer = plan_with("online-course", sessions=[
        *[s.model_dump(mode="json", exclude_none=True) for s in plan.sessions],
        {"week": 12, "title": "An extra week", "discussion": True}])
    added = events(parse(ical.plan_calendar(longer, CATALOGUE)))
    assert set(added) - set(old) == {ical.uid(plan, "session-w12"), ical.uid(plan, "discussion-w12")}
    # UIDs are global: the plan's id is in each.
    assert all(u.endswith(f"@online-course.{ical.UID_DOMAIN}") for u in old)


def test_two_sessions_of_the_same_day_and_time_keep_apart():
    plan = plan_with("awareness-day", sessions=[{"day": 1, "title": "A"}, {"day": 1, "title": "B"}])
    assert ical.session_keys(plan) == ["d1", "d1-2"]
    assert len(events(parse(ical.plan_calendar(plan, CATALOGUE)))) == 2


def test_the_same_plan_gives_the_same_file():
    plan = shipped("academic-module")
    assert ical.plan_calendar(plan, CATALOGUE) == ical.plan_calendar(shipped("academic-module"), CATALOGUE)


# --- the book ------------------------------------------------------------------------------

def test_the_schedule_page_links_the_calendar_and_names_the_zone_of_its_times():
    page = schedule(plan_with("awareness-day", timezone="America/Bogota"), CATALOGUE)
    assert '<a href="awareness-day.ics">download</a>' in page
    assert "Add these dates to your calendar" in page and "subscribe" in page
    assert "Times are in the America/Bogota time zone." in page
    assert "time zone" not in schedule(shipped("online-course"), CATALOGUE).split("\n")[2]


def test_the_book_stages_the_calendar_where_sphinx_copies_it_to_the_html_root(mini_course):
    plan, _ = load_plan(mini_course / "course/plans/mini.yml")
    catalogue, _ = load_catalogue(mini_course / "modules")
    files = staged_files(plan, catalogue, mini_course / "book", mini_course / "cache")
    assert files[f"{EXTRA}/mini.ics"] == ical.plan_calendar(plan, catalogue)
    config = yaml.safe_load(files["_config.yml"])
    assert config["sphinx"]["config"]["html_extra_path"] == [EXTRA]
    assert book_config({"sphinx": {"config": {"html_extra_path": ["x"]}}}, plan, Path("c"))[
        "sphinx"]["config"]["html_extra_path"] == ["x", EXTRA]


def test_the_built_book_serves_the_calendar_beside_the_schedule(mini_course, tmp_path):
    out = tmp_path / "out"
    result = run_igcb("book", "--plan", "mini", "--out", str(out), "--strict", root=mini_course)
    assert result.exit_code == 0, result.output
    html = out / "_build" / "html"
    calendar = parse((html / "mini.ics").read_bytes())
    summaries = sorted(str(e["SUMMARY"]) for e in calendar.walk("VEVENT"))
    assert summaries == ["Due: A memo", "Facilitated discussion: The only week",
                         "Week 1: The only week", "Week 2: Face to face"]
    link = re.search(r'<a href="([^"]+)">download</a>', (html / "schedule.html").read_text())
    assert link and (html / link.group(1)).resolve() == (html / "mini.ics").resolve()
