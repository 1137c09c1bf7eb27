"""The evaluation pages of the real room (hub, room, SQLite store), answered and attacked.

The cohort is the example roster on a copy of the shipped awareness day, with its shipped
instruments, held today (UTC): the tests before the day closed last night, the knowledge
test after it and the survey are open, the alumni register is open (the day is the last
session) and the follow-up opens in six months. A participant gives consent, saves a draft
and submits; then the attacks: closed and future windows, a submitted answer changed, ids
changed in the URL, forged forms, the knowledge key looked for in every page a participant
can fetch, HTML in text answers; tutors cannot answer. Every refused attempt leaves the
evaluation's tables as they were.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from markupsafe import escape
from click.testing import CliRunner
from sqlalchemy import select

from course.cli import main
from course.cohort import evaluation as ev
from course.cohort.db import open_store
from course.cohort.models import AlumniEntry, AuditEntry, Consent, EvaluationAnswer, Person
from course.evaluation.instruments import instruments_path, load_plan_instruments
from course.layout import Layout
from course.modules import load_catalogue
from course.plans import load_plan
from room_helpers import EXAMPLES, PARTICIPANTS, ROOM, TUTORS, form_token, room_login, start_room_hub

SCRIPTED = ('<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
            '<a href="javascript:alert(1)">me</a> & "quotes"')


def esc(text: str) -> str:
    """Text as the room's templates escape it."""
    return str(escape(text))


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def plan_copy(folder: Path, plan_id: str, start: dt.date) -> Path:
    """A copy of a shipped plan starting on `start`, with its shipped instruments beside it."""
    shipped = Layout.default().plans / f"{plan_id}.yml"
    text, n = re.subn(r"(?m)^start: .*$", f"start: {start.isoformat()}", shipped.read_text(encoding="utf-8"))
    assert n == 1, "the shipped plan has no start line"
    path = folder / f"{plan_id}.yml"  # a plan's file name is its id
    instruments_path(path).parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    shutil.copy(instruments_path(shipped), instruments_path(path))
    return path


def init_cohort(url: str, plan: Path) -> None:
    result = CliRunner().invoke(main, ["cohort", "init", "--plan", str(plan), "--roster",
                                       str(EXAMPLES / "roster.csv"), "--tutors",
                                       str(EXAMPLES / "tutors.csv"), "--db", url],
                                env={"IGCB_HUB_ADMIN": "coord"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output


@dataclass
class Room:
    url: str
    store: object
    plan: object
    catalogue: dict
    instruments: object
    sessions: dict

    def session(self, who: str) -> requests.Session:
        if who not in self.sessions:
            self.sessions[who] = room_login(self.url, who)
        return self.sessions[who]

    def get(self, who: str, path: str) -> requests.Response:
        return self.session(who).get(f"{self.url}{ROOM}{path}", allow_redirects=False, timeout=60)

    def token(self, who: str) -> str:
        return next(c.value for c in self.session(who).cookies if c.name == "_xsrf" and c.path == ROOM)

    def post(self, who: str, path: str, data: dict | list, token: str | None = "own",
             headers: dict | None = None) -> requests.Response:
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        if token == "own":
            fields.append(("_xsrf", self.token(who)))
        elif token is not None:
            fields.append(("_xsrf", token))
        return self.session(who).post(f"{self.url}{ROOM}{path}", data=fields, headers=headers or {},
                                      allow_redirects=False, timeout=60)

    def items(self) -> list:
        return self.instruments.instrument("knowledge").items


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluation-room")
    url = f"sqlite:///{tmp}/cohort.sqlite"
    path = plan_copy(tmp / "plans", "awareness-day", utc_today())
    init_cohort(url, path)
    plan, problems = load_plan(path)
    assert not problems
    catalogue, _ = load_catalogue(Layout.default().modules)
    instruments = load_plan_instruments(path, plan, catalogue)
    store = open_store(url)
    hub = start_room_hub(tmp, url, PARTICIPANTS, TUTORS)
    try:
        yield Room(hub.url, store, plan, catalogue, instruments, {})
    finally:
        hub.stop()
        store.close()


def tables(store) -> tuple:
    """Everything the evaluation keeps, and the audit log's length."""
    with store.session() as s:
        answers = sorted((a.person_id, a.instrument, a.occasion, a.state, repr(a.answers), a.score)
                         for a in s.scalars(select(EvaluationAnswer)))
        consents = sorted((c.person_id, c.kind, c.withdrawn_at) for c in s.scalars(select(Consent)))
        alumni = sorted((e.person_id, e.role, e.country, e.topics) for e in s.scalars(select(AlumniEntry)))
        return answers, consents, alumni, len(s.scalars(select(AuditEntry.id)).all())


def main_of(page: requests.Response) -> str:
    found = re.search(r"<main[^>]*>(.*)</main>", page.text, re.S)
    assert found, page.text[:500]
    return found.group(1)


def knowledge_form(room: Room, answers: dict[str, str], action: str) -> list:
    return [(f"q-{k}", v) for k, v in answers.items()] + [("action", action)]


def key(room: Room) -> dict[str, str]:
    return {i.id: i.answer for i in room.items()}


def wrong(room: Room) -> dict[str, str]:
    return {i.id: next(o for o in i.options if o != i.answer) for i in room.items()}


def reaction_form(room: Room, **extra) -> list:
    questions = room.instruments.instrument("reaction").questions
    fields = [(f"q-{q.id}", "4") for q in questions if q.type.value == "scale"]
    return fields + [(f"q-{k}", v) for k, v in extra.items()] + [("action", "submit")]


# --- a participant answers ------------------------------------------------------------------

def test_a_participant_gives_consent_saves_a_draft_and_submits(room):
    P = "p01"
    listing = main_of(room.get(P, "evaluation"))
    assert "Knowledge test" in listing and room.instruments.consent.split(".")[0] in listing
    assert "I agree" in listing
    for row, window in (("knowledge-pre", "closed"), ("knowledge-post", "open now"),
                        ("reaction-post", "open now"), ("follow-up-6m-followup", "not yet")):
        cells = re.search(rf'<tr id="{row}">(.*?)</tr>', listing, re.S).group(1)
        assert window in cells, (row, cells)
    # the form asks for consent first, and comes back to the form after it
    form = room.get(P, "evaluation/knowledge/post")
    assert form.status_code == 200 and "Before you answer" in form.text and 'name="q-' not in form.text
    given = room.post(P, "evaluation/consent", {"next": "evaluation/knowledge/post"})
    assert given.status_code == 302 and given.headers["Location"] == f"{ROOM}evaluation/knowledge/post"
    form = room.get(P, "evaluation/knowledge/post")
    for item in room.items():
        assert f'name="q-{item.id}"' in form.text
    half = dict(list(key(room).items())[:3])
    draft = room.post(P, "evaluation/knowledge/post", knowledge_form(room, half, "draft"))
    assert draft.status_code == 302 and draft.headers["Location"].endswith("saved=draft")
    with room.store.session() as s:
        row = ev.get_answer(s, P, "knowledge", "post")
        assert (row.state, row.answers, row.score) == ("draft", half, None)
    again = room.get(P, "evaluation/knowledge/post")
    assert "Draft saved" not in again.text  # no notice without ?saved
    first = room.items()[0]
    assert re.search(rf'value="{re.escape(esc(first.answer))}" checked', again.text)
    # submitting with items unanswered: 400, each missing item named, the draft kept as it was
    refused = room.post(P, "evaluation/knowledge/post", knowledge_form(room, half, "submit"))
    assert refused.status_code == 400
    errors = re.search(r'<div class="error" role="alert" id="errors">(.*?)</div>', refused.text, re.S).group(1)
    assert errors.count("<li>") == len(room.items()) - 3
    assert f'href="#q-{room.items()[3].id}"' in errors
    with room.store.session() as s:
        assert ev.get_answer(s, P, "knowledge", "post").state == "draft"
    done = room.post(P, "evaluation/knowledge/post", knowledge_form(room, key(room), "submit"))
    assert done.status_code == 302 and done.headers["Location"].endswith("saved=submitted")
    with room.store.session() as s:
        row = ev.get_answer(s, P, "knowledge", "post")
        assert (row.state, row.score) == ("submitted", 1.0)
    shown = main_of(room.get(P, "evaluation/knowledge/post?saved=submitted"))
    assert "Your answer is submitted" in shown and "<form" not in shown.split("All my tests")[0]
    # the score waits until the post-test closes
    closes = ev.window(room.instruments.instrument("knowledge"), "post", room.plan)[1]
    assert f"after the end-of-course test closes ({closes:%Y-%m-%d})" in shown
    assert "100%" not in shown and "correctly" not in shown


def test_a_submitted_answer_cannot_be_changed(room):
    P = "p02"
    room.post(P, "evaluation/consent", {})
    assert room.post(P, "evaluation/knowledge/post", knowledge_form(room, wrong(room), "submit")).status_code == 302
    before = tables(room.store)
    for action in ("submit", "draft"):
        changed = room.post(P, "evaluation/knowledge/post", knowledge_form(room, key(room), action))
        assert changed.status_code == 409 and "final" in changed.text
    assert tables(room.store) == before


def test_closed_and_future_windows_and_other_ids_are_refused(room):
    P = "p03"
    room.post(P, "evaluation/consent", {})
    one = knowledge_form(room, dict(list(key(room).items())[:1]), "draft")
    before = tables(room.store)
    assert room.post(P, "evaluation/knowledge/pre", one).status_code == 409  # closed last night
    closed = main_of(room.get(P, "evaluation/knowledge/pre"))
    assert "This closed on" in closed and 'name="q-' not in closed
    assert room.post(P, "evaluation/self-assessment/pre", [("action", "draft")]).status_code == 409
    assert room.post(P, "evaluation/follow-up-6m/followup", [("q-role", "Minister"), ("action", "draft")]).status_code == 409
    assert "This opens on" in room.get(P, "evaluation/follow-up-6m/followup").text
    for path in ("evaluation/knowledge/followup", "evaluation/reaction/pre", "evaluation/no-such-test/post",
                 "evaluation/Knowledge/post", "evaluation/knowledge/POST", "evaluation/knowledge/post/p01",
                 "evaluation/knowledge", "evaluation/..%2Fknowledge/post", "evaluation/p01/knowledge/post"):
        assert room.get(P, path).status_code == 404, path
        assert room.post(P, path, one).status_code == 404, path
    # a form's fields for questions of another instrument, or made up, change nothing else
    mixed = one + [("q-satisfaction", "5"), ("q-wig-1-x", "1"), ("person_id", "p01")]
    assert room.post(P, "evaluation/knowledge/post", mixed).status_code == 302
    with room.store.session() as s:
        assert ev.get_answer(s, P, "knowledge", "post").answers == dict(list(key(room).items())[:1])
        assert ev.get_answer(s, "p01", "knowledge", "post").score == 1.0
    after = tables(room.store)
    assert [a for a in after[0] if a[0] != P] == [a for a in before[0] if a[0] != P]


def test_forged_forms_are_refused(room):
    P, Q = "p04", "p05"
    for who in (P, Q):
        room.session(who)
    room.post(P, "evaluation/consent", {})
    form = knowledge_form(room, key(room), "submit")
    before = tables(room.store)
    assert room.post(P, "evaluation/knowledge/post", form, token=None).status_code == 403
    assert room.post(P, "evaluation/knowledge/post", form, token=room.token(Q)).status_code == 403
    assert room.post(Q, "evaluation/consent", {}, token=None).status_code == 403
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        assert room.post(P, "evaluation/knowledge/post", form, headers=headers).status_code == 403
        assert room.post(Q, "evaluation/consent", {}, headers=headers).status_code == 403
        assert room.post(P, "evaluation/withdraw", {"confirm": "yes"}, headers=headers).status_code == 403
        assert room.post(P, "alumni", {"action": "leave"}, headers=headers).status_code == 403
    assert requests.post(f"{room.url}{ROOM}evaluation/consent", data={}, allow_redirects=False,
                         timeout=60).status_code == 403  # nobody logged in
    assert tables(room.store) == before
    # every form of the evaluation carries the sender's own token
    for path in ("evaluation", "evaluation/knowledge/post", "evaluation/withdraw", "alumni"):
        page = room.get(Q, path)
        assert page.status_code == 200 and page.text.count('name="_xsrf"') == page.text.count("<form")
        assert form_token(page.text) == room.token(Q)


def test_the_knowledge_key_never_reaches_a_participant(room):
    """Two participants, one all right and one all wrong: every page either can fetch is the
    same, but for their own answers and names; no score before the post-test closes."""
    right, wrongly = "p06", "p07"
    for who, answers in ((right, key(room)), (wrongly, wrong(room))):
        room.post(who, "evaluation/consent", {})
        done = room.post(who, "evaluation/knowledge/post", knowledge_form(room, answers, "submit"))
        assert done.status_code == 302
    # (the alumni page is left out: it offers each person their own organisation and country)
    paths = ("", "evaluation", "evaluation/knowledge/post", "evaluation/knowledge/pre",
             "evaluation/knowledge/post?saved=submitted", "evaluation/reaction/post",
             "evaluation/withdraw", "evaluation/self-assessment/pre")
    with room.store.session() as s:
        names = {who: s.get(Person, who).name for who in (right, wrongly)}
    for path in paths:
        pages = {}
        for who, answers in ((right, key(room)), (wrongly, wrong(room))):
            page = room.get(who, path)
            assert page.status_code == 200, (who, path)
            text = main_of(page)
            for value in answers.values():  # their own answers, shown read-only
                text = text.replace(f"<dd>{esc(value)}</dd>", "<dd>ANSWER</dd>")
            text = re.sub(r'name="_xsrf" value="[^"]+"', "", text)
            pages[who] = text.replace(esc(names[who]), "NAME")
            assert "item_scores" not in page.text and "correctly" not in page.text
        assert pages[right] == pages[wrongly], path


def test_text_answers_stay_text(room):
    P = "p08"
    room.post(P, "evaluation/consent", {})
    sent = room.post(P, "evaluation/reaction/post", reaction_form(room, best=SCRIPTED, improve=SCRIPTED))
    assert sent.status_code == 302
    with room.store.session() as s:
        assert ev.get_answer(s, P, "reaction", "post").answers["best"] == SCRIPTED
    page = room.get(P, "evaluation/reaction/post")
    body = main_of(page)
    assert "<script" not in body and "<img" not in body and 'href="javascript' not in body
    assert esc(SCRIPTED) in body
    assert "script-src" not in page.headers["Content-Security-Policy"]  # no script runs anyway
    # a draft shown again after an error keeps the text as text, in the textarea
    Q = "p09"
    room.post(Q, "evaluation/consent", {})
    again = room.post(Q, "evaluation/reaction/post", [("q-best", SCRIPTED), ("q-satisfaction", "9"),
                                                       ("action", "draft")])
    assert again.status_code == 400 and esc(SCRIPTED) in again.text and "<script" not in again.text


def test_tutors_and_the_coordinator_do_not_answer(room):
    before = tables(room.store)
    for who in ("t01", "coord"):
        assert "Only the course's participants answer" in room.get(who, "evaluation").text
        for path in ("evaluation/knowledge/post", "evaluation/reaction/post"):
            assert room.get(who, path).status_code == 404
            assert room.post(who, path, knowledge_form(room, key(room), "submit")).status_code == 404
        assert room.post(who, "evaluation/consent", {}).status_code == 404
        assert room.post(who, "evaluation/withdraw", {"confirm": "yes"}).status_code == 404
        assert room.post(who, "alumni", {"role": "Tutor", "organisation": "Uni", "country": "KE",
                                         "stakeholder_group": "academia", "consent": "yes"}).status_code == 404
    assert tables(room.store) == before
    assert room.get("t01", "evaluation/status").status_code == 404
    assert room.get("p01", "evaluation/status").status_code == 404
    status = room.get("coord", "evaluation/status")
    assert status.status_code == 200
    row = re.search(r'<tr id="knowledge-post">(.*?)</tr>', status.text, re.S).group(1)
    with room.store.session() as s:
        counts = next(r for r in ev.status_counts(s, "coord", room.instruments, room.plan)
                      if (r["instrument"], r["occasion"]) == ("knowledge", "post"))
    cells = re.findall(r"<td>(\d+)</td>", row)
    assert cells == [str(counts["answered"]), str(counts["drafts"]), str(counts["not_started"])]
    assert counts["answered"] >= 1


def test_joining_and_leaving_the_alumni_register(room):
    P = "p10"
    page = main_of(room.get(P, "alumni"))
    assert esc(room.instruments.alumni_consent.split(".")[0]) in page
    with room.store.session() as s:
        me = s.get(Person, P)
        assert f'value="{esc(me.organisation)}"' in page  # from the roster, to change
    fields = [("role", "Senior <b>analyst</b>"), ("organisation", "Ministry of ICT"), ("country", "ke"),
              ("stakeholder_group", "government"), ("topics", "internet-governance"),
              ("topics", "data-protection"), ("will_mentor", "yes")]
    before = tables(room.store)
    refused = room.post(P, "alumni", fields)
    assert refused.status_code == 400 and 'href="#consent"' in refused.text  # no consent ticked
    bad = room.post(P, "alumni", [f if f[0] != "country" else ("country", "XX") for f in fields]
                    + [("consent", "yes"), ("topics", "astrology")])
    assert bad.status_code == 400 and 'href="#country"' in bad.text and 'href="#topics"' in bad.text
    assert tables(room.store) == before
    joined = room.post(P, "alumni", fields + [("consent", "yes")])
    assert joined.status_code == 302
    with room.store.session() as s:
        entry = [r for r in ev.alumni_register(s) if r["id"] == P][0]
        assert (entry["role"], entry["country"], entry["topics"], entry["will_mentor"], entry["will_teach"]) == (
            "Senior <b>analyst</b>", "KE", "internet-governance;data-protection", True, False)
    shown = room.get(P, "alumni?done=joined").text
    assert "You are in the alumni register" in shown and "Senior &lt;b&gt;analyst&lt;/b&gt;" in shown
    left = room.post(P, "alumni", {"action": "leave"})
    assert left.status_code == 302
    with room.store.session() as s:
        assert s.get(AlumniEntry, P) is None and not ev.withdrawn(s, P)


def test_withdrawing_asks_first_then_deletes(room):
    P = "p11"
    room.post(P, "evaluation/consent", {})
    room.post(P, "evaluation/knowledge/post", knowledge_form(room, key(room), "submit"))
    room.post(P, "evaluation/reaction/post", reaction_form(room)[:2] + [("action", "draft")])
    room.post(P, "alumni", [("role", "Analyst"), ("organisation", "NIC"), ("country", "BR"),
                            ("stakeholder_group", "technical_community"), ("consent", "yes")])
    confirm = main_of(room.get(P, "evaluation/withdraw"))
    assert "your 2 answers" in confirm and "your entry in the alumni register" in confirm
    before = tables(room.store)
    unconfirmed = room.post(P, "evaluation/withdraw", {})
    assert unconfirmed.status_code == 400 and "tick the box" in unconfirmed.text
    assert tables(room.store) == before
    done = room.post(P, "evaluation/withdraw", {"confirm": "yes"})
    assert done.status_code == 302 and done.headers["Location"].endswith("done=withdrawn")
    with room.store.session() as s:
        assert s.scalars(select(EvaluationAnswer).where(EvaluationAnswer.person_id == P)).all() == []
        assert s.get(AlumniEntry, P) is None and ev.withdrawn(s, P)
    listing = room.get(P, "evaluation?done=withdrawn").text
    assert "You have withdrawn" in listing and "I agree" in listing  # consenting again is possible
    listing = main_of(room.get(P, "evaluation"))
    assert "You have withdrawn from the evaluation" in listing and "evaluation/withdraw" not in listing


def test_the_room_loads_the_plans_instruments_or_says_there_are_none(tmp_path):
    """At start-up the room loads the instruments beside the plan; a plan without them has no
    forms; a broken file stops the room with the file's problems (no traceback)."""
    from course.room.app import build_room
    from course.room.app import main as room_main

    url = f"sqlite:///{tmp_path}/cohort.sqlite"
    path = plan_copy(tmp_path / "plans", "awareness-day", utc_today())
    init_cohort(url, path)
    room = build_room(url, None, ROOM)
    assert [i.id for i in room.instruments.instruments] == [
        i.id for i in load_plan_instruments(path, room.plan, room.catalogue).instruments]
    room.store.close()

    shipped = instruments_path(path).read_text(encoding="utf-8")
    instruments_path(path).write_text(shipped.replace("plan: awareness-day", "plan: online-course"),
                                      encoding="utf-8")
    with pytest.raises(SystemExit, match=r"^room: .*awareness-day\.yml: plan: 'online-course'"):
        room_main(["--db", url])

    instruments_path(path).unlink()
    room = build_room(url, None, ROOM)
    assert room.instruments is None and room.plan.id == "awareness-day"
    me = Person(id="p01", role="participant", name="Amina")
    for template, text in (("evaluation.html", "This course has no tests or surveys in the room."),
                           ("alumni.html", "This course has no alumni register in the room.")):
        page = room.templates.get_template(template).render(
            me=me, url=lambda path="", **q: ROOM + path, xsrf="x", course="awareness-day",
            instruments=None, occasions=[], consent=False, form_path=None, done=None, opens=None,
            entry=None, errors={}, values={}, topics=[], groups=[], is_open=False, title="t")
        assert text in page
    room.store.close()
