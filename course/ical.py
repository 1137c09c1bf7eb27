"""Calendars in iCalendar format (RFC 5545), made with the `icalendar` package. Pure: data in,
bytes out.

- `plan_calendar`: a plan's sessions, facilitated discussions and deadlines, the file `igcb
  book` puts beside the schedule page (`<plan>.ics`);
- `personal_calendar`: one participant's facilitation turns and peer-review deadlines, which
  the course room serves at the participant's secret address.

Dates come from the plan as the schedule page gives them (`Session.dates`): a week session is
an all-day event over its seven days, a day session an all-day event on its day, or a timed
event when it has `time: "HH:MM-HH:MM"`, in the plan's time zone (its `timezone`, described in
a VTIMEZONE). A deadline is an all-day event on its session's last day, since deadlines fall at
the end of that day. Every event has a UID made from what it is (the plan, the session's week
or day and time, the deadline's assignment or place), never from its dates or titles, so a
calendar that imports or subscribes to the file again updates the events instead of adding
them twice.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vDuration

from course.plans import Mode, Plan, Session

PRODID = "-//igcb//Internet Governance course calendar//EN"
UID_DOMAIN = "igcb.calendar"
MODE_TEXT = {Mode.online: "Online", Mode.face_to_face: "Face to face"}
PLAN_REFRESH = dt.timedelta(days=1)  # how often a subscribed calendar app looks again
FEED_REFRESH = dt.timedelta(hours=6)


def file_name(plan: Plan) -> str:
    """The plan's calendar in the built book, beside the schedule page."""
    return f"{plan.id}.ics"


def zone_of(plan: Plan) -> ZoneInfo:
    return ZoneInfo(plan.timezone)


def session_span(session: Session, start: dt.date, zone: ZoneInfo) -> tuple:
    """(start, end) of a session's event: dates (the end day excluded, as iCalendar counts
    all-day events), or times in `zone` for a day session with a `time`. An end time at or
    before the start time is on the next day."""
    first, last = session.dates(start)
    if session.time is None:
        return first, last + dt.timedelta(days=1)
    begins, ends = session.clock()
    opening = dt.datetime.combine(first, begins, tzinfo=zone)
    closing = dt.datetime.combine(first, ends, tzinfo=zone)
    if closing <= opening:
        closing += dt.timedelta(days=1)
    return opening, closing


def session_name(session: Session) -> str:
    """'Week 3' or 'Day 1'."""
    return f"Week {session.week}" if session.week is not None else f"Day {session.day}"


def _key(session: Session) -> str:
    """What identifies a session in the plan whatever its dates and title: w3, d1-0900-1030."""
    key = f"w{session.week}" if session.week is not None else f"d{session.day}"
    return key + (f"-{session.time.replace(':', '')}" if session.time else "")


def session_keys(plan: Plan) -> list[str]:
    """Each session's key, with -2, -3 ... for a second and third session of the same key."""
    seen: dict[str, int] = {}
    keys = []
    for session in plan.sessions:
        key = _key(session)
        seen[key] = seen.get(key, 0) + 1
        keys.append(key if seen[key] == 1 else f"{key}-{seen[key]}")
    return keys


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def uid(plan: Plan, what: str) -> str:
    return f"{what}@{_slug(plan.id)}.{UID_DOMAIN}"


def _calendar(name: str, description: str, zone_name: str, refresh: dt.timedelta) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", name)  # RFC 7986
    calendar.add("x-wr-calname", name)  # the name most calendar apps read
    calendar.add("description", description)
    calendar.add("x-wr-caldesc", description)
    calendar.add("x-wr-timezone", zone_name)
    calendar.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", vDuration(refresh))
    return calendar


def _event(uid_: str, stamp: dt.datetime, summary: str, start, end=None, description: str = "",
           busy: bool = False, categories: list[str] | None = None) -> Event:
    event = Event()
    event.add("uid", uid_)
    event.add("dtstamp", stamp)
    event.add("summary", summary)
    event.add("dtstart", start)
    if end is not None:
        event.add("dtend", end)
    if description:
        event.add("description", description)
    if categories:
        event.add("categories", categories)
    event.add("transp", "OPAQUE" if busy else "TRANSPARENT")
    return event


def _with_zone(calendar: Calendar, zone_name: str, first: dt.date, last: dt.date) -> bytes:
    """The calendar with a VTIMEZONE for the plan's zone (none is needed for UTC) and for any
    other zone an event uses, covering the calendar's dates."""
    begin, end = dt.date(first.year - 1, 1, 1), dt.date(last.year + 2, 1, 1)
    if zone_name != "UTC":
        calendar.subcomponents.insert(0, Timezone.from_tzid(zone_name, first_date=begin,
                                                            last_date=end))
    calendar.add_missing_timezones(first_date=begin, last_date=end)
    return calendar.to_ical()


def _default_stamp(plan: Plan) -> dt.datetime:
    # The same plan gives the same file (a rebuilt book changes only when the plan does).
    return dt.datetime.combine(plan.start, dt.time(0, 0), tzinfo=dt.timezone.utc)


def plan_calendar(plan: Plan, catalogue: dict, stamp: dt.datetime | None = None) -> bytes:
    """The plan's sessions, facilitated discussions and deadlines as an iCalendar file."""
    zone = zone_of(plan)
    stamp = stamp or _default_stamp(plan)
    calendar = _calendar(plan.title, f"Sessions, discussions and deadlines of {plan.title}. "
                                     f"Time zone: {plan.timezone}.",
                         plan.timezone, PLAN_REFRESH)
    last_day = plan.start
    for session, key in zip(plan.sessions, session_keys(plan)):
        start, end = session_span(session, plan.start, zone)
        first, last = session.dates(plan.start)
        last_day = max(last_day, last)
        name = f"{session_name(session)}: {session.title}"
        titles = [catalogue[m].module.title for m in session.modules if m in catalogue]
        about = [f"{MODE_TEXT[session.mode]} session of {plan.title}."]
        if titles:
            about.append("Modules: " + "; ".join(titles) + ".")
        calendar.add_component(_event(
            uid(plan, f"session-{key}"), stamp, name, start, end, " ".join(about),
            busy=session.time is not None, categories=["Session", MODE_TEXT[session.mode]]))
        if session.discussion:
            calendar.add_component(_event(
                uid(plan, f"discussion-{key}"), stamp, f"Facilitated discussion: {session.title}",
                start, end, f"{session_name(session)} of {plan.title}: each study group's "
                "discussion of the session's topic, led by one of its participants (see the "
                "facilitation rota in the course room).", categories=["Discussion"]))
        for number, deadline in enumerate(session.deadlines, start=1):
            which = f"assignment-{_slug(deadline.assignment)}" if deadline.assignment else str(number)
            calendar.add_component(_event(
                uid(plan, f"deadline-{key}-{which}"), stamp, f"Due: {deadline.title}",
                last, last + dt.timedelta(days=1),
                f"Due by the end of {last:%A %d %B %Y} (time zone {plan.timezone}), the last day of "
                f"{session_name(session).lower()} ({session.title}) of {plan.title}.",
                categories=["Deadline"]))
    return _with_zone(calendar, plan.timezone, plan.start, last_day)


def turn_sessions(plan: Plan, label: str) -> list[tuple[Session, str]]:
    """The plan's sessions (with their keys) that a rota turn of `label` is for: those with
    that week or day number and a discussion (all of them when none has one)."""
    matching = [(s, k) for s, k in zip(plan.sessions, session_keys(plan)) if s.rota_label() == label]
    return [(s, k) for s, k in matching if s.discussion] or matching


def personal_calendar(plan: Plan | None, course: str, turns: list[dict], reviews: list[dict],
                      room_url: str, stamp: dt.datetime) -> bytes:
    """One participant's calendar: their facilitation turns, dated from the plan (`turns` as
    `reviewing.my_turns` gives them: session label, group, role), and the due dates of the
    review rounds they have tasks in (`reviews`: round id and name, due (UTC), number
    of tasks).

    It names nobody else: not the co-facilitator, not whose work is reviewed.
    """
    zone_name = plan.timezone if plan is not None else "UTC"
    title = plan.title if plan is not None else course
    calendar = _calendar(f"{title}: my turns and reviews",
                         f"Your facilitation turns and peer-review deadlines in {title}, from the "
                         "course room. This address is yours alone: do not share it.",
                         zone_name, FEED_REFRESH)
    plan_key = plan.id if plan is not None else course
    first = last = stamp.date()
    for turn in turns:
        for session, key in (turn_sessions(plan, turn["session"]) if plan is not None else []):
            start, end = session_span(session, plan.start, zone_of(plan))
            dates = session.dates(plan.start)
            first, last = min(first, dates[0]), max(last, dates[1])
            lead = "facilitate" if turn["role"] == "facilitator" else "co-facilitate"
            calendar.add_component(_event(
                f"turn-{_slug(turn['group'])}-{key}-{turn['role']}@{_slug(plan_key)}.{UID_DOMAIN}",
                stamp, f"My turn to {lead}: {session.title}", start, end,
                f"You {lead} the discussion of study group {turn['group']} in "
                f"{session_name(session).lower()} ({session.title}): open the thread with one of "
                f"the session's prompts and close it with a summary. Course room: {room_url}"
                "discussion", busy=session.time is not None, categories=["Facilitation"]))
    for review in reviews:
        due = review["due"].replace(tzinfo=dt.timezone.utc)
        first, last = min(first, due.date()), max(last, due.date())
        tasks = review["tasks"]
        calendar.add_component(_event(
            f"reviews-{review['id']}@{_slug(plan_key)}.{UID_DOMAIN}", stamp,
            f"Peer reviews due: {review['round']}", due,
            description=f"Submit your {tasks} peer review{'s' if tasks != 1 else ''} of round "
                        f"{review['round']} by this time. Course room: {room_url}reviews",
            categories=["Deadline"]))
    return _with_zone(calendar, zone_name, first, last)
