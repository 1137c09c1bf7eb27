"""The course room under attack: other people's ids on every route, CSRF, injection, and
whether a reviewer can be identified by the people they reviewed.

One real JupyterHub for the module, with the room as its service over a real SQLite cohort
store (`make_cohort`'s example cohort) holding three rounds of the same briefs:

- `brief`: calibration scored by a tutor, every task reviewed (one left as a draft), closed
  with `igcb reviews close --force`; then authors rate reviews and two of them flag one;
- `memo`: open; two participants have not done the calibration yet, two are late, and the
  coordinator has reassigned the tasks of one of them;
- `essay`: still waiting for its calibration samples to be scored.

and the discussion (issue 14), made through the store's own operations: each study group's
session-1 thread with replies, a hidden post and a flag; P's group's session-2 thread, closed;
comments on a reading of a small built book (group and cohort audience, replies, hidden ones,
flags); the outbox with digests, turn reminders, one message given up on and one sent. Every
text of it carries a token (qqXqq) the leak scans look for.

Every refused attempt must leave every table of the store as it was.
"""

import html
import json
import random
import re
import socket
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from course.cli import main
from course.cohort import annotations, mail, moderation, reviewing
from course.cohort import discussion as threads
from course.cohort.db import open_store
from course.cohort.models import (Allocation, Annotation, Base, CalibrationSample, ContentFlag,
                                  Membership, OutgoingMail, Person, Post, Review, ReviewRound,
                                  RotaEntry, Submission, Thread, TutorAssignment, utcnow)
from course.room import api, book, discussion, evaluation, feeds, mailer, pages, staff
from discussion_fixtures import READING, SECRET, annotation, make_book, plan_sessions
from room_helpers import (PARTICIPANTS, ROOM, TUTORS, api_token, form_token, make_cohort,
                          room_login, start_room_hub)

STRANGER = "zed"  # a hub user of the course whom the cohort store does not know
COMMENT = ("The brief states its recommendation; naming who acts next and citing one source "
           "would make it stronger.")
RUBRIC = ("recommendation", "concepts", "stakeholder-perspectives", "evidence-and-context", "clarity")
SCORES = {f"score-{c}": "1" for c in RUBRIC}
REVIEW = {**SCORES, **{f"comment-{c}": COMMENT for c in RUBRIC}, "action": "submit"}
REVIEW_JSON = {"items": {c: {"score": 1, "comment": COMMENT} for c in RUBRIC}, "state": "submitted"}
SCORES_JSON = {"scores": {c: 1 for c in RUBRIC}}
SCORE = {"score": "7", "note": "Settled by the tutor."}


# --- the cohort ------------------------------------------------------------------------------

def fold(text: str) -> str:
    """Text as a reader takes it: entities and %-escapes decoded, accents and case dropped."""
    text = html.unescape(unquote(html.unescape(text)))
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def igcb(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--db", url], env={"IGCB_HUB_ADMIN": "coord"},
                                catch_exceptions=False)
    assert result.exit_code == 0, f"igcb {' '.join(args)}: {result.output}"
    return result.output


def _items(rubric: dict, rng: random.Random, reviewer: Person | None = None) -> tuple[dict, dict]:
    """Scores and comments for a whole review; a reviewer signs two comments with who they are
    (the second time with their first name in capitals, without its accents: ETIENNE)."""
    scores = {c["id"]: rng.choice([lvl["points"] for lvl in c["levels"]]) for c in rubric["criteria"]}
    comments = {c["id"]: COMMENT for c in rubric["criteria"]}
    if reviewer is not None:
        first, second = list(comments)[:2]
        comments[first] = f"I am {reviewer.name} ({reviewer.email}); {COMMENT}"
        first_name = fold(reviewer.name.split()[0]).upper()
        comments[second] = f"{COMMENT} Ask {first_name} ({reviewer.id}) if unclear."
    return scores, comments


def _calibrate(s, round_name: str, people, rubric: dict, rng: random.Random) -> None:
    """These people score the calibration samples of a round they still have to score."""
    for person in people:
        for rnd in reviewing.review_tasks(s, person):
            for sample in rnd["calibration"] if rnd["round"]["name"] == round_name else []:
                reviewing.answer_sample(s, person, sample["sample_id"], _items(rubric, rng)[0])


def fill_store(url: str, folder: Path) -> dict:
    """The three rounds described above; the people and ids the attacks use, by name."""
    make_cohort(url, folder / "data", calibration=2)
    briefs = str(folder / "data" / "briefs.csv")
    for name, seed in (("memo", "1"), ("essay", "2")):
        igcb(url, "reviews", "open", name, "--from-csv", briefs, "-k", "3", "--calibration", "2",
             "--seed", seed)
    store = open_store(url)
    rng = random.Random(7)
    with store.session() as s:
        rounds = {r.name: r for r in s.scalars(select(ReviewRound))}
        B, M, E = (rounds[n].id for n in ("brief", "memo", "essay"))
        rubric = rounds["brief"].rubric
        assert tuple(c["id"] for c in rubric["criteria"]) == RUBRIC, "the rubric changed: update RUBRIC"
        samples = {r.id: s.scalars(select(CalibrationSample).where(CalibrationSample.round_id == r.id)
                                   .order_by(CalibrationSample.id)).all() for r in rounds.values()}
        for round_id, tutor in ((B, "t01"), (M, "t02")):  # brief and memo open; essay waits
            for sample in samples[round_id]:
                reviewing.score_sample(s, tutor, sample.id, _items(rubric, rng)[0])
        subs = {(sub.round_id, sub.author_id): sub.id for sub in s.scalars(select(Submission))}
        author = {sub_id: person for (_, person), sub_id in subs.items()}
        sample_author = {sm.id: author[sm.submission_id] for v in samples.values() for sm in v}
        tasks = s.scalars(select(Allocation).order_by(Allocation.review_code)).all()
        by, on = {}, {}  # (round, reviewer) -> tasks; submission -> tasks
        for a in tasks:
            by.setdefault((a.round_id, a.reviewer_id), []).append(a.review_code)
            on.setdefault(a.submission_id, []).append(a.review_code)
        group = dict(s.execute(select(Membership.person_id, Membership.group_label)).all())
        tutor_of = dict(s.execute(select(TutorAssignment.group_label, TutorAssignment.tutor_id)).all())
        people = {p.id: p for p in s.scalars(select(Person))}

        # P: the author of one of memo's calibration samples. PC and PX have not scored memo's
        # samples, L and L2 are late, W has one task left. T tutors groups but not P's; Q is
        # in one of T's groups.
        P = sample_author[samples[M][0].id]
        others = [p for p in PARTICIPANTS if p != P]
        PC, PX, L, L2, W = others[3], others[7], others[11], others[15], others[19]
        T = next(t for t in TUTORS if t != tutor_of[group[P]] and t in tutor_of.values())
        Q = next(p for p in PARTICIPANTS if tutor_of[group[p]] == T)
        draft, flagged, rated = on[subs[(B, P)]]
        w_task = by[(M, W)][0]

        _calibrate(s, "brief", PARTICIPANTS, rubric, rng)
        _calibrate(s, "memo", set(PARTICIPANTS) - {PC, PX}, rubric, rng)
        for a in tasks:
            late = a.round_id == M and (a.reviewer_id in (PC, PX, L, L2) or a.review_code == w_task)
            if a.round_id != E and not late:
                scores, comments = _items(rubric, rng, people[a.reviewer_id])
                reviewing.save_review(s, a.reviewer_id, a.review_code, scores, comments,
                                      submit=a.review_code != draft)
        moved = reviewing.reassign_late(s, "coord", M, L)["moved"]
        assert moved, "the late reviewer's tasks could not be reassigned"
        others_task = {r: next(a.review_code for a in tasks if a.round_id == r and a.reviewer_id != P
                               and author[a.submission_id] != P and a.review_code != draft)
                       for r in (B, M)}
        ids = dict(
            P=P, PC=PC, PX=PX, L=L, L2=L2, W=W, T=T, Q=Q,
            round_brief=B, round_memo=M, round_essay=E,
            sample_own=samples[M][0].id, sample_memo=samples[M][1].id,
            sample_brief=next(sm.id for sm in samples[B] if sample_author[sm.id] != P),
            sample_essay=samples[E][0].id, sample_essay_2=samples[E][1].id,
            px_sample=next(sm.id for sm in samples[M] if sample_author[sm.id] != PX),
            pc_sample=next(sm.id for sm in samples[M] if sample_author[sm.id] != PC),
            task_mine_closed=by[(B, P)][0], task_mine_open=by[(M, P)][0], task_mine_calib=by[(E, P)][0],
            task_other_closed=others_task[B], task_other_open=others_task[M],
            code_other_author=others_task[B],
            task_of_me_open=on[subs[(M, P)]][0], task_of_me=rated, code_draft_of_me=draft,
            code_flagged=flagged, task_pc=by[(M, PC)][0], task_withdrawn=moved[0]["from"], w_task=w_task,
            sub_p=subs[(B, P)], sub_in_t=subs[(B, Q)], code_flag_in_t=on[subs[(B, Q)]][0],
            code_unflagged_in_t=on[subs[(B, Q)]][1],
        )
    igcb(url, "reviews", "close", "brief", "--force")
    with store.session() as s:
        reviewing.flag_review(s, P, flagged, "It mocks my country.")
        reviewing.flag_review(s, Q, ids["code_flag_in_t"], "It is about someone else's brief.")
        for (round_id, person), sub_id in subs.items():
            if round_id == B and person not in (P, Q) and rng.random() < 0.3:
                reviewing.rate_review(s, person, on[sub_id][0], rng.random() < 0.5)
    store.close()
    return ids


TOKEN = re.compile(r"qq[A-Z]+[0-9]*qq")


def tok(kind: str, group: str = "") -> str:
    return f"qq{kind}{group}qq"


# The failed message's fate and the turn reminders: a day in the week before the course starts.
BEFORE_START = datetime(2027, 2, 24, 9, 0)
ROOM_URL = "https://hub.example.org/services/room/"


def fill_discussion(url: str, ids: dict) -> dict:
    """The discussion described above; the ids the attacks use, by name (P's group is GP,
    Q's is GQ, tutored by T)."""
    plan = plan_sessions()
    P, Q, T = ids["P"], ids["Q"], ids["T"]
    store = open_store(url)
    with store.session() as s:
        group = dict(s.execute(select(Membership.person_id, Membership.group_label)).all())
        tutor_of = dict(s.execute(select(TutorAssignment.group_label, TutorAssignment.tutor_id)).all())
        members: dict = {}
        for person, label in sorted(group.items()):
            members.setdefault(label, []).append(person)
        GP, GQ = group[P], group[Q]
        assert GP != GQ and tutor_of[GQ] == T != tutor_of[GP]
        first, note, hidden_note = {}, {}, {}
        for g in sorted(members):
            lead = s.get(RotaEntry, (g, "1")).facilitator_id
            a, b, c = [m for m in members[g] if m not in (lead, P)][:3]
            threads.open_thread(s, lead, g, "1", f"Who governs? {tok('T', g)}",
                                f"Our opening {tok('O', g)}", plan)
            first[g] = threads.reply(s, a, g, "1", f"A view {tok('R', g)}", plan)["post_id"]
            threads.reply(s, b, g, "1", f"An answer {tok('RR', g)}", plan, parent_id=first[g])
            rude = threads.reply(s, c, g, "1", f"Rude {tok('H', g)}", plan)["post_id"]
            threads.reply(s, a, g, "1", f"Please not {tok('RH', g)}", plan, parent_id=rude)
            moderation.hide(s, tutor_of[g], "post", rude, f"Insult {tok('HR', g)}")
            moderation.flag(s, b, "post", first[g], f"Off topic {tok('F', g)}")
            if g == GP:
                ids["post_hidden_p"] = rude
            note[g] = annotations.create(s, a, annotation(0, f"A note {tok('A', g)}"))["id"]
            reply = annotations.reply(s, b, note[g], f"A reply {tok('AR', g)}")["id"]
            bad = annotations.reply(s, c, note[g], f"A rude reply {tok('ARH', g)}")["id"]
            moderation.hide(s, tutor_of[g], "annotation", bad, f"Rude {tok('ARHR', g)}")
            hidden_note[g] = annotations.create(s, c, annotation(1, f"A rude note {tok('AH', g)}"))["id"]
            moderation.hide(s, tutor_of[g], "annotation", hidden_note[g], f"Rude {tok('AHR', g)}")
            moderation.flag(s, b, "annotation", note[g], f"Unkind {tok('AF', g)}")
            if g == GP:
                ids["reply_p"] = reply
        # P's own posts and comments, one of each hidden
        mine = threads.reply(s, P, GP, "1", f"My view {tok('RP')}", plan)["post_id"]
        my_rude = threads.reply(s, P, GP, "1", f"My rude post {tok('HP')}", plan)["post_id"]
        moderation.hide(s, tutor_of[GP], "post", my_rude, f"Insult {tok('HPR')}")
        my_note = annotations.create(s, P, annotation(2, f"My note {tok('AP')}"))["id"]
        to_edit = annotations.create(s, P, annotation(3, f"My draft {tok('APE')}"))["id"]
        to_delete = annotations.create(s, P, annotation(4, f"My mistake {tok('APD')}"))["id"]
        my_bad = annotations.create(s, P, annotation(5, f"My rude note {tok('APH')}"))["id"]
        moderation.hide(s, tutor_of[GP], "annotation", my_bad, f"Rude {tok('APHR')}")
        # P's group's session 2: opened, answered and closed by its facilitator
        lead = s.get(RotaEntry, (GP, "2")).facilitator_id
        replier = next(m for m in members[GP] if m != lead)
        threads.open_thread(s, lead, GP, "2", f"Week two {tok('TT')}", f"Opening {tok('OT')}", plan)
        threads.reply(s, replier, GP, "2", f"A point {tok('RT')}", plan)
        threads.close_thread(s, lead, GP, "2", f"We agreed {tok('ST')}", plan)
        # comments for the whole cohort by a member of GQ (one hidden, one answered from GP);
        # T's comment for GQ
        author, other = [m for m in members[GQ] if m != Q][:2]
        cohort = annotations.create(s, author, annotation(2, f"For all {tok('AC')}", "cohort"))["id"]
        annotations.reply(s, next(m for m in members[GP] if m != P), cohort, f"Thanks {tok('ACR')}")
        cohort_hidden = annotations.create(s, other, annotation(3, f"Rude, for all {tok('ACH')}",
                                                                "cohort"))["id"]
        moderation.hide(s, T, "annotation", cohort_hidden, f"Rude {tok('ACHR')}")
        tutors_note = annotations.create(s, T, annotation(4, f"Tutor's note {tok('AT')}", group=GQ))["id"]
        # the outbox: digests of the posts above; a week before the course, turn reminders
        assert mail.queue_due(s, utcnow() + timedelta(minutes=1), plan, ROOM_URL, "online-course")
        assert mail.queue_due(s, BEFORE_START, plan, ROOM_URL, "online-course")
        failed, sent = mail.claim_batch(s, BEFORE_START, limit=2)
        mail.mark_failed(s, failed["id"], "550 5.1.1 no such mailbox", BEFORE_START, max_attempts=1)
        mail.mark_sent(s, sent["id"], BEFORE_START)
    store.close()
    wide = lambda label: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in label)  # noqa: E731
    arabic = lambda label: "".join(chr(0x0660 + int(c)) if c.isdigit() else c for c in label)  # noqa: E731
    return dict(
        group_p=GP, group_q=GQ, reading=READING,
        # look-alikes of the labels, percent-encoded for URLs (full-width, Arabic-Indic digits,
        # a zero-width space after it)
        group_p_wide=quote(wide(GP)), group_p_arabic=quote(arabic(GP)), group_p_zw=quote(GP + "\u200b"),
        group_q_wide=wide(GQ), group_q_zw=GQ + "\u200b",
        post_p_other=first[GP], post_q=first[GQ], post_p_mine=mine, post_my_hidden=my_rude,
        ann_p=my_note, ann_p_edit=to_edit, ann_p_del=to_delete, ann_my_hidden=my_bad,
        ann_p_other=note[GP], ann_hidden_p=hidden_note[GP], ann_q=note[GQ], ann_cohort=cohort,
        ann_cohort_hidden=cohort_hidden, ann_t=tutors_note, reply_p=ids["reply_p"],
        post_hidden_p=ids["post_hidden_p"], mail_failed=failed["id"], mail_sent=sent["id"],
        lead_p2=lead)


def snapshot(engine) -> dict:
    """Every row of every table, in primary-key order."""
    with engine.connect() as c:
        return {t.name: c.execute(select(t).order_by(*t.primary_key.columns)).all()
                for t in Base.metadata.sorted_tables}


BOOK_API = "book-annotations"
# What a browser adds to the book page script's fetch() of the room
SCRIPT = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "empty"}


@dataclass
class Room:
    url: str  # the hub
    store: object
    ids: dict
    sessions: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    xsrfs: dict = field(default_factory=dict)
    reached: dict = field(default_factory=dict)  # person -> what the leak scans fetched

    def user(self, who: str) -> str:
        return self.ids.get(who, who)

    def session(self, who: str) -> requests.Session:
        user = self.user(who)
        if user not in self.sessions:
            self.sessions[user] = room_login(self.url, user)
        return self.sessions[user]

    def xsrf(self, who: str) -> str:
        """The _xsrf token of this person's room forms (the value of the room's _xsrf cookie)."""
        user = self.user(who)
        if user not in self.xsrfs:
            self.xsrfs[user] = next(c.value for c in self.session(who).cookies
                                    if c.name == "_xsrf" and c.path == ROOM)
        return self.xsrfs[user]

    def token(self, who: str) -> str:
        user = self.user(who)
        if user not in self.tokens:
            self.tokens[user] = api_token(self.url, self.session(who), user)
        return self.tokens[user]

    def call(self, who: str | None, method: str, path: str, body=None, headers=None,
             xsrf: str | None = "valid") -> requests.Response:
        """`path` below the room as `who` (None: nobody logged in); api/ with their hub token;
        book-annotations as the book page's script sends it (cookie, JSON, X-XSRFToken)."""
        url = f"{self.url}{ROOM}{path}"
        headers = dict(headers or {})
        if path.startswith("api/"):
            if who is not None:
                headers["Authorization"] = f"token {self.token(who)}"
            return requests.request(method, url, json=body if method != "GET" else None,
                                    headers=headers, allow_redirects=False, timeout=60)
        session = self.session(who) if who is not None else requests.Session()
        if path.startswith(BOOK_API):
            headers = {**SCRIPT, **headers}
            if xsrf is not None and who is not None:
                headers["X-XSRFToken"] = self.xsrf(who) if xsrf == "valid" else xsrf
            return session.request(method, url, json=body, headers=headers, allow_redirects=False,
                                   timeout=60)
        data = dict(body or {})
        if method == "POST" and xsrf is not None and who is not None:
            data["_xsrf"] = self.xsrf(who) if xsrf == "valid" else xsrf
        return session.request(method, url, data=data or None, headers=headers,
                               allow_redirects=False, timeout=60)


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("room-access")
    url = f"sqlite:///{tmp}/cohort.sqlite"
    ids = fill_store(url, tmp)
    ids |= fill_discussion(url, ids)
    store = open_store(url)
    hub = start_room_hub(tmp, url, PARTICIPANTS + [STRANGER], TUTORS,
                         room_args=("--book", str(make_book(tmp))))
    try:
        room = Room(hub.url, store, ids)
        # The first look at a page of a build re-anchors its comments (a write, once per build):
        # done here, so that it is not counted as a change made by an attack.
        assert room.call("P", "GET", f"book-annotations?page={READING}").status_code == 200
        yield room
    finally:
        hub.stop()
        store.close()


def fill(template: str, ids: dict) -> str:
    return template.format(**ids)


def filled(body, ids: dict):
    if isinstance(body, dict):
        return {k: filled(v, ids) for k, v in body.items()}
    return fill(body, ids) if isinstance(body, str) else body


# --- every route, and who may not use it how ------------------------------------------------

# Each route of the room (pages.py, staff.py, discussion.py, book.py, mailer.py, api.py), with
# each method it answers, a body its rightful user could send, and that user (P a participant,
# T a tutor outside P's group, coord).
NEW_NOTE = annotation(5, f"A new note {tok('APN')}")
ALUMNI_FORM = {"role": "Analyst", "organisation": "Somewhere", "country": "KE",
               "stakeholder_group": "government", "topics": "internet-governance",
               "consent": "yes"}
ROUTES = [
    ("GET", "", None, "P"),
    ("GET", "reviews", None, "P"),
    ("GET", "reviews/calibration/{sample_memo}", None, "P"),
    ("POST", "reviews/calibration/{px_sample}", SCORES, "PX"),
    ("GET", "reviews/task/{task_mine_open}", None, "P"),
    ("POST", "reviews/task/{w_task}", {**REVIEW, "action": "draft"}, "W"),
    ("GET", "feedback", None, "P"),
    ("POST", "feedback/{task_of_me}/rate", {"helpful": "yes"}, "P"),
    ("POST", "feedback/{task_of_me}/flag", {"reason": "Not about my brief."}, "P"),
    ("GET", "tutor", None, "T"),
    ("GET", "tutor/submission/{sub_in_t}", None, "T"),
    ("POST", "tutor/submission/{sub_in_t}", SCORE, "T"),
    ("POST", "tutor/flag/{code_flag_in_t}", {"decision": "dismiss"}, "T"),
    ("GET", "tutor/calibration/{round_essay}", None, "T"),
    ("POST", "tutor/calibration/{round_essay}", {"sample_id": "{sample_essay}", **SCORES}, "T"),
    ("GET", "coordinator", None, "coord"),
    ("GET", "coordinator/round/{round_memo}", None, "coord"),
    ("POST", "coordinator/round/{round_memo}/reassign", {"reviewer_id": "{L2}"}, "coord"),
    ("POST", "coordinator/round/{round_memo}/close", {"force": "yes"}, "coord"),
    ("GET", "api/me", None, "P"),
    ("GET", "api/reviews/tasks", None, "P"),
    ("GET", "api/reviews/tasks/{task_mine_open}", None, "P"),
    ("PUT", "api/reviews/tasks/{w_task}", {**REVIEW_JSON, "state": "draft"}, "W"),
    ("GET", "api/reviews/calibration/{sample_memo}", None, "P"),
    ("PUT", "api/reviews/calibration/{px_sample}", SCORES_JSON, "PX"),
    ("GET", "api/reviews/received", None, "P"),
    ("GET", "api/reviews/queue", None, "T"),
    ("GET", "api/reviews/submissions/{sub_in_t}", None, "T"),
    ("PUT", "api/reviews/submissions/{sub_in_t}/score", {"score": 7, "note": "Settled."}, "T"),
    # discussion.py, book.py, mailer.py
    ("GET", "discussion", None, "P"),
    ("GET", "discussion/participation.csv", None, "T"),
    ("GET", "discussion/{group_p}/1", None, "P"),
    ("POST", "discussion/{group_p}/1", {"action": "reply", "body": f"Agreed {tok('RPN')}"}, "P"),
    ("GET", "moderation", None, "T"),
    ("POST", "moderation", {"kind": "post", "item_id": "{post_q}", "action": "keep"}, "T"),
    ("GET", "book/{reading}", None, "P"),
    ("GET", "book-annotations?page={reading}", None, "P"),
    ("POST", "book-annotations", NEW_NOTE, "P"),
    ("GET", "book-annotations/{ann_p}", None, "P"),
    ("PATCH", "book-annotations/{ann_p_edit}", {"body": f"Changed {tok('APX')}"}, "P"),
    ("DELETE", "book-annotations/{ann_p_del}", None, "P"),
    ("POST", "book-annotations/{ann_p_other}/replies", {"body": f"Yes {tok('APR')}"}, "P"),
    ("POST", "book-annotations/{ann_cohort}/flag", {"reason": f"Wrong {tok('APF')}"}, "P"),
    ("GET", "mail", None, "P"),
    ("POST", "mail", {"digest": "daily", "reminders": "off"}, "P"),
    ("GET", "coordinator/mail", None, "coord"),
    ("POST", "coordinator/mail/{mail_failed}/retry", None, "coord"),
    # evaluation.py: the shipped online-course instruments, whose windows have not opened yet
    ("GET", "evaluation", None, "P"),
    ("POST", "evaluation/consent", {"next": "evaluation"}, "P"),
    ("GET", "evaluation/withdraw", None, "W"),
    ("POST", "evaluation/withdraw", {"confirm": "yes"}, "W"),
    ("GET", "evaluation/status", None, "coord"),
    ("GET", "evaluation/knowledge/pre", None, "P"),
    ("POST", "evaluation/knowledge/pre", {"action": "draft"}, "P"),
    ("GET", "alumni", None, "P"),
    ("POST", "alumni", ALUMNI_FORM, "P"),
    # feeds.py: the calendar page (the feed itself is anonymous by design: its address is the
    # key; tests/test_calendar_feed.py attacks it)
    ("GET", "calendar", None, "P"),
    ("POST", "calendar", {"action": "new"}, "P"),
]
# Forms whose window is not open in this room: the handler is reached, and refuses (409).
NOT_OPEN_YET = ("evaluation/knowledge/pre", "alumni")
# Forms that answer with a page rather than a redirect: it shows a secret once (the calendar
# address), which a redirect would have to carry in its URL.
SHOWN_ONCE = ("calendar",)
ROOM_HANDLERS = (pages.HANDLERS + staff.HANDLERS + discussion.HANDLERS + book.HANDLERS
                 + mailer.HANDLERS + api.HANDLERS + evaluation.HANDLERS
                 + [h for h in feeds.HANDLERS if h[1] is not feeds.Feed])


def test_the_tables_cover_every_route_and_method():
    """A new route or method of the room fails here until the tables below attack it."""
    handled = set()
    for pattern, handler in ROOM_HANDLERS:
        for method in ("get", "post", "put", "patch", "delete"):
            owner = next(c for c in handler.__mro__ if method in c.__dict__)
            if owner.__module__.startswith("course.room"):
                handled.add((method.upper(), pattern))
    tabled = set()
    for method, template, _, _ in ROUTES:
        path = fill(template, {k: "1" for k in re.findall(r"{(\w+)}", template)}).split("?")[0]
        found = [p for p, _ in ROOM_HANDLERS if re.fullmatch(p, path)]
        assert len(found) == 1, f"{template}: matches {found}"
        tabled.add((method, found[0]))
    assert tabled == handled


# (who, method, path, body, status): who is a name in the store's ids (P, T, ...) or a user id.
ATTACKS = [
    # a participant (P) with other people's ids, and ids of the wrong state
    ("P", "GET", "reviews/calibration/{sample_own}", None, 404),  # a sample of P's own text
    ("P", "POST", "reviews/calibration/{sample_own}", SCORES, 404),
    ("P", "GET", "reviews/calibration/{sample_essay}", None, 404),  # round still in calibration
    ("P", "POST", "reviews/calibration/{sample_essay}", SCORES, 404),
    ("P", "GET", "reviews/calibration/999999999", None, 404),
    ("P", "POST", "reviews/calibration/{sample_memo}", SCORES, 409),  # answered already
    ("P", "POST", "reviews/calibration/{sample_brief}", SCORES, 409),  # round closed
    ("P", "GET", "reviews/task/{task_other_open}", None, 404),  # another reviewer's task
    ("P", "POST", "reviews/task/{task_other_open}", REVIEW, 404),
    ("P", "GET", "reviews/task/{task_other_closed}", None, 404),
    ("P", "POST", "reviews/task/{task_other_closed}", REVIEW, 404),
    ("P", "GET", "reviews/task/{task_of_me_open}", None, 404),  # a review of P's own text
    ("P", "POST", "reviews/task/{task_of_me_open}", REVIEW, 404),
    ("P", "GET", "reviews/task/{task_of_me}", None, 404),
    ("P", "POST", "reviews/task/{task_mine_closed}", REVIEW, 409),  # P's task, round closed
    ("P", "GET", "reviews/task/{task_mine_calib}", None, 404),  # P's task, round in calibration
    ("P", "POST", "reviews/task/{task_mine_calib}", REVIEW, 404),
    ("P", "GET", "reviews/task/{task_withdrawn}", None, 404),
    ("P", "GET", "reviews/task/R-NOSUCHCODE", None, 404),
    ("P", "POST", "feedback/{code_other_author}/rate", {"helpful": "no"}, 404),  # another author's
    ("P", "POST", "feedback/{code_other_author}/flag", {"reason": "x"}, 404),
    ("P", "POST", "feedback/{task_mine_closed}/rate", {"helpful": "yes"}, 404),  # P wrote it
    ("P", "POST", "feedback/{task_mine_closed}/flag", {"reason": "x"}, 404),
    ("P", "POST", "feedback/{task_of_me_open}/rate", {"helpful": "no"}, 404),  # round open
    ("P", "POST", "feedback/{task_of_me_open}/flag", {"reason": "x"}, 404),
    ("P", "POST", "feedback/{code_draft_of_me}/rate", {"helpful": "no"}, 404),  # never submitted
    ("P", "POST", "feedback/{code_draft_of_me}/flag", {"reason": "x"}, 404),
    ("P", "POST", "feedback/{code_flagged}/flag", {"reason": "again"}, 409),  # flagged already
    ("P", "POST", "feedback/R-NOSUCHCODE/rate", {"helpful": "yes"}, 404),
    ("P", "GET", "tutor", None, 404),
    ("P", "GET", "tutor/submission/{sub_p}", None, 404),
    ("P", "POST", "tutor/submission/{sub_p}", {"score": "10", "note": "mine"}, 404),
    ("P", "POST", "tutor/flag/{code_flagged}", {"decision": "uphold"}, 404),
    ("P", "GET", "tutor/calibration/{round_essay}", None, 404),
    ("P", "POST", "tutor/calibration/{round_essay}", {"sample_id": "{sample_essay}", **SCORES}, 404),
    ("P", "GET", "coordinator", None, 404),
    ("P", "GET", "coordinator/round/{round_memo}", None, 404),
    ("P", "POST", "coordinator/round/{round_memo}/reassign", {"reviewer_id": "{L2}"}, 404),
    ("P", "POST", "coordinator/round/{round_memo}/close", {"force": "yes"}, 404),
    ("P", "GET", "api/reviews/tasks/{task_other_open}", None, 404),
    ("P", "PUT", "api/reviews/tasks/{task_other_open}", REVIEW_JSON, 404),
    ("P", "GET", "api/reviews/tasks/{task_of_me}", None, 404),
    ("P", "GET", "api/reviews/tasks/{task_mine_calib}", None, 404),
    ("P", "PUT", "api/reviews/tasks/{task_mine_closed}", REVIEW_JSON, 409),
    ("P", "GET", "api/reviews/calibration/{sample_own}", None, 404),
    ("P", "PUT", "api/reviews/calibration/{sample_own}", SCORES_JSON, 404),
    ("P", "GET", "api/reviews/calibration/{sample_essay}", None, 404),
    ("P", "PUT", "api/reviews/calibration/{sample_memo}", SCORES_JSON, 409),
    ("P", "GET", "api/reviews/queue", None, 404),
    ("P", "GET", "api/reviews/submissions/{sub_p}", None, 404),
    ("P", "PUT", "api/reviews/submissions/{sub_p}/score", {"score": 10, "note": "mine"}, 404),
    # a reviewer who has not scored the calibration samples; one whose tasks were reassigned
    ("PC", "GET", "reviews/task/{task_pc}", None, 409),
    ("PC", "POST", "reviews/task/{task_pc}", REVIEW, 409),
    ("PC", "GET", "api/reviews/tasks/{task_pc}", None, 409),
    ("PC", "PUT", "api/reviews/tasks/{task_pc}", REVIEW_JSON, 409),
    ("L", "GET", "reviews/task/{task_withdrawn}", None, 404),
    ("L", "POST", "reviews/task/{task_withdrawn}", REVIEW, 404),
    ("L", "PUT", "api/reviews/tasks/{task_withdrawn}", REVIEW_JSON, 404),
    # a tutor (T) outside P's group
    ("T", "GET", "coordinator", None, 404),
    ("T", "GET", "coordinator/round/{round_memo}", None, 404),
    ("T", "POST", "coordinator/round/{round_memo}/reassign", {"reviewer_id": "{L2}"}, 404),
    ("T", "POST", "coordinator/round/{round_memo}/close", {"force": "yes"}, 404),
    ("T", "GET", "tutor/submission/{sub_p}", None, 404),
    ("T", "POST", "tutor/submission/{sub_p}", SCORE, 404),
    ("T", "GET", "tutor/submission/999999999", None, 404),
    ("T", "POST", "tutor/flag/{code_flagged}", {"decision": "uphold"}, 404),
    ("T", "POST", "tutor/flag/{code_unflagged_in_t}", {"decision": "uphold"}, 404),
    ("T", "POST", "tutor/flag/R-NOSUCHCODE", {"decision": "dismiss"}, 404),
    ("T", "GET", "tutor/calibration/999999999", None, 404),
    ("T", "POST", "tutor/calibration/{round_essay}", {"sample_id": "{sample_memo}", **SCORES}, 404),
    ("T", "POST", "tutor/calibration/{round_memo}", {"sample_id": "{sample_memo}", **SCORES}, 409),
    ("T", "POST", "tutor/calibration/{round_brief}", {"sample_id": "{sample_brief}", **SCORES}, 409),
    ("T", "GET", "reviews/task/{task_mine_closed}", None, 404),
    ("T", "POST", "reviews/task/{task_mine_open}", REVIEW, 404),
    ("T", "GET", "reviews/calibration/{sample_memo}", None, 404),
    ("T", "POST", "feedback/{task_of_me}/rate", {"helpful": "no"}, 404),
    ("T", "GET", "api/reviews/submissions/{sub_p}", None, 404),
    ("T", "PUT", "api/reviews/submissions/{sub_p}/score", {"score": 1, "note": "no"}, 404),
    ("T", "GET", "api/reviews/tasks/{task_other_open}", None, 404),
    ("T", "PUT", "api/reviews/calibration/{sample_memo}", SCORES_JSON, 404),
    # the coordinator, with ids that are nobody's or of the wrong state
    ("coord", "POST", "coordinator/round/{round_memo}/reassign", {"reviewer_id": "{L}"}, 404),
    ("coord", "POST", "coordinator/round/{round_memo}/reassign", {"reviewer_id": "nobody"}, 404),
    ("coord", "POST", "coordinator/round/{round_memo}/reassign", {"reviewer_id": "{T}"}, 404),
    ("coord", "POST", "coordinator/round/{round_brief}/reassign", {"reviewer_id": "{L2}"}, 409),
    ("coord", "POST", "coordinator/round/{round_essay}/reassign", {"reviewer_id": "{L2}"}, 409),
    ("coord", "GET", "coordinator/round/999999999", None, 404),
    ("coord", "POST", "coordinator/round/999999999/reassign", {"reviewer_id": "{L2}"}, 404),
    ("coord", "POST", "coordinator/round/999999999/close", {"force": "yes"}, 404),
    ("coord", "POST", "tutor/calibration/{round_essay}", {"sample_id": "{sample_brief}", **SCORES}, 404),
    ("coord", "GET", "reviews/task/{task_other_open}", None, 404),
    ("coord", "POST", "feedback/{task_of_me}/flag", {"reason": "x"}, 404),
    ("coord", "PUT", "api/reviews/tasks/{task_other_open}", REVIEW_JSON, 404),
    ("coord", "PUT", "api/reviews/calibration/{sample_memo}", SCORES_JSON, 404),
]

# The discussion: P in GP, Q in GQ (another group), T tutoring GQ and not GP.
REPLY = {"action": "reply", "body": "Let me in."}
NOTE_ATTEMPTS = [("GET", "", None), ("PATCH", "", {"body": "Mine now."}), ("DELETE", "", None),
                 ("POST", "/replies", {"body": "Hello."}), ("POST", "/flag", {"reason": "Probing."})]
ATTACKS += [
    # another group's thread, by its URL: not there for a participant or tutor of another group
    *[(who, method, "discussion/{group_p}/" + label, body, 404)
      for who in ("Q", "T") for label in ("1", "2", "3")
      for method, body in (("GET", None), ("POST", REPLY))],
    *[(who, "POST", "discussion/{group_p}/1", body, 404) for who in ("Q", "T") for body in (
        {"action": "reply", "body": "Under yours.", "post_id": "{post_p_other}"},
        {"action": "flag", "post_id": "{post_p_other}", "reason": "x"},
        {"action": "hide", "post_id": "{post_p_other}", "reason": "x"},
        {"action": "unhide", "post_id": "{post_hidden_p}"},
        {"action": "edit", "post_id": "{post_p_other}", "body": "Rewritten."},
        {"action": "close", "summary": "Closed by a stranger."},
        {"action": "swap", "facilitator_id": "{Q}"},
        {"action": "open", "title": "Mine", "body": "x"},
        {"action": "no-such-action"})],
    ("T", "GET", "discussion/{group_p}/1?prompt=2", None, 404),
    # one's own thread, with another group's post ids
    ("Q", "POST", "discussion/{group_q}/1", {"action": "reply", "body": "x", "post_id": "{post_p_other}"}, 404),
    ("Q", "POST", "discussion/{group_q}/1", {"action": "flag", "post_id": "{post_p_other}", "reason": "x"}, 404),
    ("Q", "POST", "discussion/{group_q}/1", {"action": "edit", "post_id": "{post_p_mine}", "body": "x"}, 404),
    ("T", "POST", "discussion/{group_q}/1", {"action": "hide", "post_id": "{post_p_other}", "reason": "x"}, 404),
    ("T", "POST", "discussion/{group_q}/1", {"action": "unhide", "post_id": "{post_hidden_p}"}, 404),
    ("P", "POST", "discussion/{group_p}/1", {"action": "reply", "body": "x", "post_id": "{post_q}"}, 404),
    # in one's own group: what is not one's own, not visible, or not a participant's to do
    ("P", "POST", "discussion/{group_p}/1", {"action": "edit", "post_id": "{post_p_other}", "body": "x"}, 404),
    ("P", "POST", "discussion/{group_p}/1", {"action": "reply", "body": "x", "post_id": "{post_hidden_p}"}, 404),
    ("P", "POST", "discussion/{group_p}/1", {"action": "flag", "post_id": "{post_hidden_p}", "reason": "x"}, 404),
    ("P", "POST", "discussion/{group_p}/1", {"action": "edit", "post_id": "{post_hidden_p}", "body": "x"}, 404),
    ("P", "POST", "discussion/{group_p}/1", {"action": "hide", "post_id": "{post_p_other}", "reason": "x"}, 404),
    ("P", "POST", "discussion/{group_p}/1", {"action": "unhide", "post_id": "{post_my_hidden}"}, 404),
    ("P", "POST", "discussion/{group_p}/1", {"action": "swap", "facilitator_id": "{P}"}, 404),
    ("P", "POST", "discussion/{group_p}/1", {"action": "edit", "post_id": "{post_my_hidden}", "body": "x"}, 409),
    ("P", "POST", "discussion/{group_p}/1", {"action": "flag", "post_id": "{post_p_mine}", "reason": "x"}, 409),
    ("P", "POST", "discussion/{group_p}/1", {"action": "open", "title": "Again", "body": "x"}, 409),
    ("P", "POST", "discussion/{group_p}/2", {"action": "reply", "body": "Too late."}, 409),  # closed
    ("P", "POST", "discussion/{group_p}/2", {"action": "close", "summary": "Again."}, 409),
    ("lead_p2", "POST", "discussion/{group_p}/2", {"action": "close", "summary": "Again."}, 409),
    ("P", "GET", "discussion/{group_p}/99", None, 404),  # no such session
    ("P", "GET", "discussion/99/1", None, 404),  # no such group
    # staff pages: not a participant's; another tutor's items are not there
    ("P", "GET", "moderation", None, 404),
    ("P", "GET", "discussion/participation.csv", None, 404),
    *[(who, "POST", "moderation", {"kind": kind, "item_id": item, "action": action, "reason": "x"}, 404)
      for who in ("P", "Q") for kind, item, action in (
          ("post", "{post_p_other}", "hide"), ("post", "{post_my_hidden}", "unhide"),
          ("post", "{post_q}", "keep"), ("annotation", "{ann_p_other}", "keep"),
          ("annotation", "{ann_my_hidden}", "unhide"))],
    *[("T", "POST", "moderation", {"kind": kind, "item_id": item, "action": action, "reason": "x"}, 404)
      for kind, item, action in (
          ("post", "{post_p_other}", "hide"), ("post", "{post_p_other}", "keep"),
          ("post", "{post_hidden_p}", "unhide"), ("annotation", "{ann_p_other}", "hide"),
          ("annotation", "{ann_p_other}", "keep"), ("annotation", "{ann_hidden_p}", "unhide"),
          ("annotation", "{reply_p}", "hide"))],
    ("T", "POST", "moderation", {"kind": "post", "item_id": "{post_q}", "action": "unhide"}, 409),
    ("T", "POST", "moderation", {"kind": "annotation", "item_id": "{ann_cohort_hidden}", "action": "hide",
                                 "reason": "x"}, 409),
    # the outbox is the coordinator's
    *[(who, method, path, None, 404) for who in ("P", "T") for method, path in (
        ("GET", "coordinator/mail"), ("POST", "coordinator/mail/{mail_failed}/retry"))],
    ("coord", "POST", "coordinator/mail/{mail_sent}/retry", None, 409),
    ("coord", "POST", "coordinator/mail/999999999/retry", None, 404),
    # comments on the readings: another group's, hidden ones, replies to them, by id
    *[(who, method, "book-annotations/" + item + tail, body, 404)
      for who, item in (("Q", "{ann_p}"), ("Q", "{ann_p_other}"), ("Q", "{reply_p}"), ("Q", "{ann_hidden_p}"),
                        ("T", "{ann_p}"), ("T", "{reply_p}"), ("T", "{ann_my_hidden}"), ("T", "{ann_p_edit}"),
                        ("P", "{ann_q}"), ("P", "{ann_t}"), ("P", "{ann_hidden_p}"),
                        ("P", "{ann_cohort_hidden}"), ("coord", "NOT-AN-ID"))
      for method, tail, body in NOTE_ATTEMPTS],
    # one's own group's: readable, not another's to change
    ("P", "PATCH", "book-annotations/{ann_p_other}", {"body": "Changed by P."}, 404),
    ("P", "DELETE", "book-annotations/{ann_p_other}", None, 404),
    ("P", "PATCH", "book-annotations/{reply_p}", {"body": "Changed by P."}, 404),
    ("P", "DELETE", "book-annotations/{reply_p}", None, 404),
    ("P", "POST", "book-annotations/{reply_p}/replies", {"body": "One level only."}, 404),
    ("P", "PATCH", "book-annotations/{ann_my_hidden}", {"body": "Unhide by editing."}, 409),
    ("P", "POST", "book-annotations/{ann_p}/flag", {"reason": "My own."}, 409),
    ("P", "POST", "book-annotations", {**annotation(0, "For GQ."), "group": "{group_q}"}, 400),
    ("T", "POST", "book-annotations", {**annotation(0, "For GP."), "group": "{group_p}"}, 400),
    ("P", "GET", "book-annotations?page=modules/sample/nothing.html", None, 404),
    ("P", "GET", "book-annotations?page=../secret.txt", None, 400),
    # the evaluation: only participants answer, only the coordinator sees the counts
    ("P", "GET", "evaluation/status", None, 404),
    ("T", "GET", "evaluation/status", None, 404),
    ("T", "GET", "evaluation/knowledge/pre", None, 404),
    ("T", "POST", "evaluation/knowledge/pre", {"action": "draft"}, 404),
    ("T", "POST", "alumni", ALUMNI_FORM, 404),
    ("P", "GET", "evaluation/no-such-test/pre", None, 404),
    ("P", "GET", "evaluation/reaction/pre", None, 404),  # an occasion it does not have
    ("P", "POST", "evaluation/knowledge/pre", {"action": "submit", "wig-1": "x"}, 409),
]
# Somebody the store does not know: refused everywhere, even with real ids.
ATTACKS += [(STRANGER, method, path, body, 403) for method, path, body, _ in ROUTES]
# Nobody logged in: pages send them to log in, forms and the APIs refuse.
ATTACKS += [(None, method, path, body, 401 if path.startswith("api/") else 403 if path.startswith(BOOK_API)
             else 302 if method == "GET" else 403)
            for method, path, body, _ in ROUTES]


def _attack_id(row) -> str:
    who, method, path, _, status = row
    return f"{who}-{method}-{path}-{status}"


@pytest.mark.parametrize("row", ATTACKS, ids=_attack_id)
def test_refused_and_nothing_changes(room, row):
    who, method, template, body, status = row
    path = fill(template, room.ids)
    before = snapshot(room.store.engine)
    reply = room.call(who, method, path, filled(body, room.ids))
    assert reply.status_code == status, f"{method} {path} as {who}: {reply.status_code} {reply.text[:300]}"
    assert snapshot(room.store.engine) == before, f"{method} {path} as {who} changed the store"
    if path.startswith(("api/", BOOK_API)):  # an error and nothing else
        assert reply.headers["Content-Type"].startswith("application/json")
        assert reply.json()["status"] == status and set(reply.json()) <= {"error", "status", "fields"}
    elif status != 400:  # a refusal shows no text, review or form (400 shows the sender's form again)
        assert not re.search(r'class="(text|review|criterion)"|<form', reply.text)


@pytest.mark.parametrize("method,template,body,user", [r for r in ROUTES if r[1].startswith("api/")])
def test_the_api_takes_no_cookie_and_no_made_up_token(room, method, template, body, user):
    path, body = fill(template, room.ids), filled(body, room.ids)
    before = snapshot(room.store.engine)
    url = f"{room.url}{ROOM}{path}"
    cookie = room.session(user).request(method, url, json=body, allow_redirects=False, timeout=60)
    made_up = requests.request(method, url, json=body, headers={"Authorization": "token 0123abcd"},
                               allow_redirects=False, timeout=60)
    assert (cookie.status_code, made_up.status_code) == (401, 401)
    assert snapshot(room.store.engine) == before


@pytest.mark.parametrize("method,template,body,user", [r for r in ROUTES if r[0] == "GET"])
def test_the_rightful_user_gets_each_page(room, method, template, body, user):
    """The ids of the tables are real: their owner gets 200 where others get refused."""
    reply = room.call(user, method, fill(template, room.ids))
    assert reply.status_code == 200, f"{template} as {user}: {reply.status_code}"
    if 'name="_xsrf"' in reply.text:  # what the CSRF test sends is what the forms carry
        assert form_token(reply.text) == room.xsrf(user)


# --- CSRF ------------------------------------------------------------------------------------

CROSS_SITE = {"Origin": "https://evil.example", "Referer": "https://evil.example/win-a-prize",
              "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
WRONG_XSRF = "2|0123abcd|00112233445566778899aabbccddeeff|1700000000"


@pytest.mark.parametrize("method,template,body,user",
                         [r for r in ROUTES if r[0] == "POST" and not r[1].startswith(BOOK_API)],
                         ids=lambda v: v if isinstance(v, str) and "/" in v else None)
def test_every_form_needs_its_senders_own_xsrf_token(room, method, template, body, user):
    path, body = fill(template, room.ids), filled(body, room.ids)
    someone_else = "p02" if room.user(user) != "p02" else "p03"
    attempts = {"no _xsrf": {"xsrf": None}, "a wrong _xsrf": {"xsrf": WRONG_XSRF},
                "another user's _xsrf": {"xsrf": room.xsrf(someone_else)},
                "cross-site, no _xsrf": {"xsrf": None, "headers": CROSS_SITE},
                "cross-site, with the _xsrf": {"headers": CROSS_SITE},
                "another site's Origin, with the _xsrf": {"headers": {"Origin": "http://127.0.0.1:1"}},
                "Sec-Fetch-Site: cross-site, with the _xsrf": {"headers": {"Sec-Fetch-Site": "cross-site"}}}
    for name, how in attempts.items():
        before = snapshot(room.store.engine)
        reply = room.call(user, method, path, body, **how)
        assert reply.status_code == 403, f"{path} with {name}: {reply.status_code}"
        assert snapshot(room.store.engine) == before, f"{path} with {name} changed the store"
    # The same form from the room's own page, with the sender's token, does reach the handler.
    same_site = {"Origin": room.url, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
    if template.endswith("/close"):  # closing memo would end the other tests' round: one that is not there
        reply = room.call(user, method, path.replace(str(room.ids["round_memo"]), "999999999"), body,
                          headers=same_site)
        assert reply.status_code == 404
        return
    if template in NOT_OPEN_YET:
        reply = room.call(user, method, path, body, headers=same_site)
        assert reply.status_code == 409, f"{path}: {reply.status_code} {reply.text[:300]}"
        return
    reply = room.call(user, method, path, body, headers=same_site)
    expected = 200 if template in SHOWN_ONCE else 302
    assert reply.status_code == expected, f"{path}: {reply.status_code} {reply.text[:300]}"
    assert snapshot(room.store.engine) != before


@pytest.mark.parametrize("method,template,body,user", [r for r in ROUTES if r[1].startswith(BOOK_API)],
                         ids=lambda v: v if isinstance(v, str) and len(v) > 5 else None)
def test_every_script_request_needs_its_senders_own_xsrf_header(room, method, template, body, user):
    """The book page's script sends the room's _xsrf token in X-XSRFToken: without it, with
    another's, or from another site, its requests (reading ones too) change and show nothing."""
    path, body = fill(template, room.ids), filled(body, room.ids)
    someone_else = "p02" if room.user(user) != "p02" else "p03"
    attempts = {"no X-XSRFToken": {"xsrf": None}, "a wrong X-XSRFToken": {"xsrf": WRONG_XSRF},
                "another user's X-XSRFToken": {"xsrf": room.xsrf(someone_else)},
                "cross-site, with the token": {"headers": {"Sec-Fetch-Site": "cross-site"}},
                "another site's Origin, with the token": {"headers": {"Origin": "https://evil.example"}}}
    for name, how in attempts.items():
        before = snapshot(room.store.engine)
        reply = room.call(user, method, path, body, **how)
        assert reply.status_code == 403, f"{method} {path} with {name}: {reply.status_code}"
        assert "qq" not in reply.text and reply.json()["status"] == 403
        assert snapshot(room.store.engine) == before, f"{method} {path} with {name} changed the store"
    reply = room.call(user, method, path, body, headers={"Origin": room.url})
    assert reply.status_code == (201 if method == "POST" else 200), f"{path}: {reply.status_code} {reply.text}"
    assert method == "GET" or snapshot(room.store.engine) != before


def test_a_cross_site_page_cannot_read_or_use_the_api_with_cookies(room):
    """A page of another site fetching the room with the user's cookies gets no data."""
    cors = {**CROSS_SITE, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}
    reply = room.session("P").get(f"{room.url}{ROOM}feedback", headers=cors, allow_redirects=False,
                                  timeout=60)
    assert reply.status_code != 200 and "Review " not in reply.text
    assert "Access-Control-Allow-Origin" not in reply.headers
    before = snapshot(room.store.engine)
    put = room.session("W").put(f"{room.url}{ROOM}api/reviews/tasks/{room.ids['w_task']}",
                                json={**REVIEW_JSON, "state": "draft"}, headers=cors, timeout=60)
    assert put.status_code == 401 and "Access-Control-Allow-Origin" not in put.headers
    assert snapshot(room.store.engine) == before


# --- injection -------------------------------------------------------------------------------

def raw_get(room: Room, who: str | None, path: bytes) -> tuple[int, bytes]:
    """GET the room's `path` exactly as given (no client normalises `..` or encodings away)."""
    host, port = urlsplit(room.url).hostname, urlsplit(room.url).port
    headers = [f"Host: {host}:{port}", "Connection: close", "User-Agent: attack"]
    if who is not None and path.startswith(b"api/"):
        headers.append(f"Authorization: token {room.token(who)}")
    elif who is not None:
        headers.append("Cookie: " + "; ".join(f"{c.name}={c.value}" for c in room.session(who).cookies
                                              if ROOM.startswith(c.path.rstrip("/") + "/")))
    request = b"GET %s%s HTTP/1.1\r\n%s\r\n\r\n" % (ROOM.encode(), path, "\r\n".join(headers).encode())
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(request)
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


# (who, path as sent, status): 404 from the room, never 500 nor a file outside static/.
PATH_INJECTIONS = [
    ("P", b"reviews/task/R-1'%20OR%20'1'='1", 404),
    ("P", b"reviews/task/R-1%27%3B%20DROP%20TABLE%20reviews%3B--", 404),
    ("P", b"reviews/task/R-1'--", 404),
    ("P", b"reviews/task/" + b"R" * 4000, 404),
    ("P", b"reviews/task/R-%C3%84%C3%96%E2%80%AE", 404),
    ("P", b"reviews/calibration/1%20OR%201=1", 404),
    ("P", b"reviews/calibration/1;DROP%20TABLE%20people", 404),
    ("P", b"reviews/calibration/" + b"9" * 10, 404),
    ("P", b"reviews/calibration/" + b"9" * 4000, 404),
    ("P", b"reviews/calibration/%D9%A3", 404),  # an Arabic-Indic digit
    ("P", b"feedback/R-1'--/rate", 404),
    ("T", b"tutor/submission/-1", 404),
    ("T", b"tutor/submission/1.5", 404),
    ("T", b"tutor/submission/0x10", 404),
    ("T", b"tutor/submission/1%00", 404),
    ("coord", b"coordinator/round/1%3BDROP%20TABLE%20review_rounds", 404),
    ("coord", b"coordinator/round/" + b"1" * 20, 404),
    ("P", b"api/reviews/tasks/R-1'%20OR%20'1'='1", 404),
    ("P", b"api/reviews/submissions/99999999999999999999", 404),
    ("P", b"api/reviews/calibration/%EF%BC%91", 404),  # a full-width digit one
    ("P", b"static/../app.py", 404),
    ("P", b"static/../../cohort/db.py", 404),
    ("P", b"static/%2e%2e/app.py", 404),
    ("P", b"static/%2E%2E%2Fapp.py", 404),
    ("P", b"static/..%2fapp.py", 404),
    ("P", b"static/..%5capp.py", 404),
    ("P", b"static/.%2e/base.py", 404),
    ("P", b"static/%252e%252e/app.py", 404),
    ("P", b"static/....//app.py", 404),
    ("P", b"static/..;/app.py", 404),
    ("P", b"static/%2fetc%2fpasswd", 404),
    ("P", b"static//etc/passwd", 404),
    ("P", b"static/../../../../../../etc/passwd", 404),
    ("P", b"static/room.css%00.py", 404),
    ("P", b"static/", 404),
    ("P", b"static/..", 404),
    ("P", b"static/nothing.css", 404),
    (None, b"static/../app.py", 404),
    # the readings: only files of the book (`secret.txt` lies next to it)
    ("P", b"book/../secret.txt", 404),
    ("P", b"book/%2e%2e/secret.txt", 404),
    ("P", b"book/.%2e/secret.txt", 404),
    ("P", b"book/..%2fsecret.txt", 404),
    ("P", b"book/..%5csecret.txt", 404),
    ("P", b"book/%252e%252e/secret.txt", 404),
    ("P", b"book/modules/sample/..%2f..%2f..%2fsecret.txt", 404),
    ("P", b"book/modules/%2e%2e/%2e%2e/%2e%2e/secret.txt", 404),
    ("P", b"book/_static/../../secret.txt", 404),
    ("P", b"book/%2fetc%2fpasswd", 404),
    ("P", b"book//etc/passwd", 404),
    ("P", b"book/modules/sample/reading.html%00.css", 404),
    ("P", b"book/%00", 404),
    ("P", b"book/.hidden", 404),
    ("P", b"book/modules/sample/reading.html/..", 404),
    ("P", b"book/" + b"x" * 5000, 404),
    ("P", b"book/" + b"a/" * 1500 + b"b.html", 404),
    ("P", b"book/nothing.html", 404),
    ("P", b"book-annotations/..%2f..%2fsecret.txt", 404),
    ("P", b"discussion/..%2f..%2fsecret.txt/1", 404),
    ("P", b"discussion/%2e%2e/%2e%2e", 404),
    # raw non-ASCII bytes in the request line: the hub's proxy refuses them before the room
    ("P", "book/modules/sample/réading.html".encode(), 400),
    ("P", "reviews/task/R-ÄÖ".encode(), 400),
    ("P", "reviews/calibration/٣".encode(), 400),
    (None, "static/../ä/app.py".encode(), 400),
]


@pytest.mark.parametrize("who,path,status", PATH_INJECTIONS,
                         ids=lambda v: v.decode("ascii", "replace")[:60] if isinstance(v, bytes) else None)
def test_odd_paths_get_404_and_no_file_outside_static(room, who, path, status):
    before = snapshot(room.store.engine)
    answer, body = raw_get(room, who, path)
    assert answer == status, f"{path!r}: {answer} {body[:300]!r}"
    for secret in (b"def make_app", b"import ", b"root:x:0:0", b"open_store", SECRET.encode()):
        assert secret not in body
    assert snapshot(room.store.engine) == before


def test_static_files_are_served(room):
    status, body = raw_get(room, None, b"static/room.css")
    assert status == 200 and b"{" in body


QUERY_INJECTIONS = [
    ("T", "tutor/submission/{sub_in_t}?notice=%3Cscript%3Ealert(1)%3C/script%3E%27%20OR%201=1--"),
    ("P", "feedback?done=%3Cscript%3Ealert(1)%3C/script%3E"),
    ("P", "reviews/task/{task_mine_open}?saved=%3Cimg%20src=x%20onerror=alert(1)%3E"),
    ("coord", "coordinator/round/{round_memo}?notice=%3Cimg%20src=x%20onerror=alert(1)%3E"),
]


@pytest.mark.parametrize("who,template", QUERY_INJECTIONS)
def test_query_parameters_are_shown_as_text(room, who, template):
    reply = room.call(who, "GET", fill(template, room.ids))
    assert reply.status_code == 200
    assert "<script" not in reply.text and "<img" not in reply.text


# Form and JSON bodies with SQL, huge numbers and non-ASCII: refused, nothing written.
BODY_INJECTIONS = [
    ("coord", "POST", "coordinator/round/{round_memo}/reassign", {"reviewer_id": "x' OR '1'='1"}, 404),
    ("coord", "POST", "coordinator/round/{round_memo}/reassign", {"reviewer_id": "{L2}\u202e"}, 404),
    ("T", "POST", "tutor/calibration/{round_essay}", {"sample_id": "1 OR 1=1", **SCORES}, 404),
    ("T", "POST", "tutor/calibration/{round_essay}", {"sample_id": "9" * 30, **SCORES}, 404),
    ("T", "POST", "tutor/calibration/{round_essay}", {"sample_id": "-1", **SCORES}, 404),
    ("T", "POST", "tutor/calibration/{round_essay}", {"sample_id": "{sample_essay_2}",
                                                       "score-clarity": "1; DROP TABLE people"}, 400),
    ("T", "POST", "tutor/submission/{sub_in_t}", {"score": "1; DROP TABLE people", "note": "x"}, 400),
    ("T", "POST", "tutor/submission/{sub_in_t}", {"score": "nan", "note": "x"}, 400),
    ("T", "POST", "tutor/submission/{sub_in_t}", {"score": "1e999", "note": "x"}, 400),
    ("T", "PUT", "api/reviews/submissions/{sub_in_t}/score", {"score": "1 OR 1=1", "note": "x"}, 400),
    ("T", "PUT", "api/reviews/submissions/{sub_in_t}/score", {"score": [1], "note": "x"}, 400),
    ("T", "PUT", "api/reviews/submissions/{sub_in_t}/score", {"score": 10 ** 400, "note": "x"}, 400),
    ("P", "POST", "reviews/task/{task_mine_open}", {**REVIEW, "score-clarity": "2' OR '1'='1"}, 400),
    ("P", "PUT", "api/reviews/tasks/{task_mine_open}",
     {"items": {"clarity": {"score": "2; DROP TABLE reviews", "comment": COMMENT}}, "state": "submitted"},
     400),
    ("P", "PUT", "api/reviews/tasks/{task_mine_open}", {"items": ["clarity"], "state": "submitted"}, 400),
    ("P", "PUT", "api/reviews/tasks/{task_mine_open}",
     {"items": {"'; DROP TABLE reviews; --": {"score": 1, "comment": COMMENT}}, "state": "submitted"}, 400),
    ("PC", "PUT", "api/reviews/calibration/{pc_sample}", {"scores": "'; DROP TABLE people; --"}, 400),
    ("PC", "PUT", "api/reviews/calibration/{pc_sample}", {"scores": {"clarity": 10 ** 400}}, 400),
    ("PC", "POST", "reviews/calibration/{pc_sample}", {**SCORES, "score-clarity": "9" * 400}, 400),
    ("P", "POST", "feedback/{code_flagged}/flag", {"reason": "x" * 5000}, 400),
    ("P", "POST", "feedback/{task_of_me}/flag", {"reason": "x" * 2001}, 400),
]


@pytest.mark.parametrize("row", BODY_INJECTIONS, ids=_attack_id)
def test_odd_bodies_are_refused_and_nothing_changes(room, row):
    test_refused_and_nothing_changes(room, row)


def test_a_body_that_is_not_json_is_refused(room):
    before = snapshot(room.store.engine)
    for data in (b"items=1", b"[1, 2]", b"\xff\xfe", b'{"items": '):
        reply = requests.put(f"{room.url}{ROOM}api/reviews/tasks/{room.ids['task_mine_open']}", data=data,
                             headers={"Authorization": f"token {room.token('P')}"}, timeout=60)
        assert reply.status_code == 400, data
    assert snapshot(room.store.engine) == before


# --- odd input on the discussion's routes ----------------------------------------------------

def _note(**change) -> dict:
    return {**annotation(0, f"Odd {tok('ODD')}"), **change}


ODD_INPUTS = [
    # thread forms: too long, empty, post ids that are not a post of the thread, odd actions
    ("P", "POST", "discussion/{group_p}/1", {"action": "reply", "body": "x" * 10001}, 400),
    ("P", "POST", "discussion/{group_p}/1", {"action": "reply", "body": "x" * 2_000_000}, 400),
    ("P", "POST", "discussion/{group_p}/1", {"action": "reply", "body": " \t\r\n "}, 400),
    ("P", "POST", "discussion/{group_p}/1", {"action": "edit", "post_id": "{post_p_mine}", "body": ""}, 400),
    *[("P", "POST", "discussion/{group_p}/1", {"action": "reply", "body": "x", "post_id": bad}, 404)
      for bad in ("abc", "-1", "+1", "1.5", "0x10", "9" * 30, "1 OR 1=1", "\u0663", "\uff11", "0",
                  "{ann_p_other}")],  # an Arabic-Indic and a full-width digit; a comment's id
    ("P", "POST", "discussion/{group_p}/1", {"action": "", "body": "x"}, 400),
    ("P", "POST", "discussion/{group_p}/1", {"action": "DELETE", "body": "x"}, 400),
    ("P", "POST", "discussion/{group_p}/1", {"action": "edit", "body": "no post id"}, 400),
    ("P", "POST", "discussion/{group_p}/1", {"action": "flag", "post_id": "{post_p_other}", "reason": "x" * 2001}, 400),
    ("P", "POST", "discussion/{group_p}/3", {"action": "reply", "body": "Not open yet."}, 409),
    ("T", "POST", "discussion/{group_q}/1", {"action": "swap", "facilitator_id": "{P}"}, 400),
    ("T", "POST", "discussion/{group_q}/1", {"action": "swap", "facilitator_id": "{Q}", "co_facilitator_id": "{Q}"}, 400),
    ("T", "POST", "discussion/{group_q}/1", {"action": "close", "summary": "x" * 10001}, 400),
    # a group or session label that looks like the real one is not it
    *[(who, method, f"discussion/{group}/{label}", body, 404)
      for who, method, body in (("P", "GET", None), ("P", "POST", {"action": "reply", "body": "x"}))
      for group, label in (("{group_p_wide}", "1"), ("{group_p_arabic}", "1"), ("{group_p_zw}", "1"),
                           ("0{group_p}", "1"), ("{group_p}%20", "1"), ("{group_p}.", "1"),
                           ("{group_p}", "01"), ("{group_p}", "1.0"), ("{group_p}", "%EF%BC%91"),
                           ("{group_p}", "1%00"), ("{group_p}", ".."))],
    # the prompt chosen by the query: odd digits and numbers are the first prompt, not an error
    *[("P", "GET", f"discussion/{{group_p}}/{label}?prompt={prompt}", None, 200)
      for label in ("1", "3") for prompt in ("%C2%B2", "%D9%A3", "-1", "0", "9" * 5000, "%00")],
    # the moderation form: an id of another kind, odd ids and actions, bad reasons
    *[("T", "POST", "moderation", {"kind": kind, "item_id": item, "action": "hide", "reason": "x"}, 404)
      for kind, item in (("annotation", "{post_q}"), ("post", "{ann_q}"), ("thread", "{post_q}"),
                         ("post", "-1"), ("post", "{post_q} OR 1=1"), ("post", "9" * 30),
                         ("annotation", "../{ann_q}"), ("annotation", "x" * 65), ("", "{post_q}"))],
    ("T", "POST", "moderation", {"kind": "post", "item_id": "{post_q}", "action": "delete"}, 400),
    ("T", "POST", "moderation", {"kind": "post", "item_id": "{post_q}", "action": "hide", "reason": "x" * 2001}, 400),
    ("T", "POST", "moderation", {"kind": "post", "item_id": "{post_q}", "action": "hide", "reason": " "}, 400),
    # e-mail choices and the outbox
    *[("P", "POST", "mail", body, 400) for body in (
        {"digest": "hourly", "reminders": "on"}, {"digest": "DAILY", "reminders": "on"},
        {"digest": "\uff44\uff41\uff49\uff4c\uff59", "reminders": "on"},  # full-width "daily"
        {"digest": "daily", "reminders": "maybe"}, {"digest": "daily", "reminders": "1"}, {})],
    *[("coord", "POST", f"coordinator/mail/{mail_id}/retry", None, 404)
      for mail_id in ("0", "-1", "abc", "1.5", "9" * 10, "%D9%A3")],
    # the book page's JSON: not an object, not text, too long, not theirs, not a page of the book
    *[("P", "POST", BOOK_API, body, 400) for body in (
        [1, 2], "a string", 7, None,
        _note(id="not-a-uuid"), _note(id="{ann_q}"), _note(id=7),
        _note(page="../secret.txt"), _note(page="modules/sample/../../secret.html"),
        _note(page="modules/sample/nothing.html"), _note(page="modules/sample/reading.html\x00"),
        _note(page=["modules/sample/reading.html"]),
        _note(body="x" * 5001), _note(body=123), _note(body=""), _note(body=["x"]),
        _note(audience="everyone"), _note(audience=["group"]), _note(group="{group_q}"),
        _note(target=[]), _note(target={"selector": "x"}), _note(target=[{"selector": [{"type": "x"}]}] * 21))],
    ("P", "POST", BOOK_API, _note(body="x" * 300_000), 413),
    *[(who, "POST", BOOK_API, _note(group=group), 400) for who, group in (
        ("T", "{group_q_wide}"), ("T", "{group_q_zw}"), ("T", " {group_q}"), ("coord", "{group_q_wide}"),
        ("coord", "{group_q_zw}"), ("coord", "{group_q}\x00"), ("coord", "x" * 5000), ("coord", ["{group_q}"]))],
    *[("P", "PATCH", "book-annotations/{ann_p}", body, 400)
      for body in ([1], "x", {"body": None}, {"body": ["x"]}, {"body": "x" * 5001}, {"body": " "})],
    *[("P", "POST", "book-annotations/{ann_p_other}/replies", body, 400)
      for body in ([], {"body": {"x": 1}}, {"body": ""}, {})],
    *[("P", "POST", "book-annotations/{ann_p_other}/flag", body, 400)
      for body in ([], {"reason": ["x"]}, {"reason": {"a": 1}}, {"reason": 7}, {"reason": ""},
                   {"reason": "x" * 2001}, {})],
    # a post's id as a comment's, and ids that are no id
    *[("P", method, f"book-annotations/{item}", body, 404)
      for item in ("{post_p_other}", "{post_p_mine}", "-1", "a" * 65, "%00", "{ann_p}%20")
      for method, body in (("GET", None), ("PATCH", {"body": "x"}), ("DELETE", None))],
    ("P", "GET", "book-annotations?page=", None, 400),
    ("P", "GET", "book-annotations", None, 400),
    # (Tornado makes control characters of query and form fields spaces, and strips them)
    ("P", "GET", "book-annotations?page=modules/sample/reading.html%00", None, 200),
    ("P", "GET", "book-annotations?page=modules/sample/reading.html%00x", None, 400),
    ("P", "GET", "book-annotations?page=modules%2Fsample%2F..%2F..%2Fsecret.txt", None, 400),
    ("P", "GET", "book-annotations?page=index.html&page=../secret.txt", None, 400),
]


def _odd_id(row) -> str:
    who, method, path, body, status = row
    shown = f"{who}-{method}-{path}-{json.dumps(body, ensure_ascii=True)[:40] if body is not None else ''}-{status}"
    return shown if len(shown) < 120 else shown[:117] + "..."


@pytest.mark.parametrize("row", ODD_INPUTS, ids=_odd_id)
def test_odd_input_on_the_discussion_is_refused_and_nothing_changes(room, row):
    """Huge, empty or not text; ids not numbers, negative, of another kind; look-alike labels;
    odd JSON: a clear 4xx (200 for a page that ignores an odd query), never 500, no change."""
    who, method, template, body, status = row
    path = fill(template, room.ids)
    before = snapshot(room.store.engine)
    reply = room.call(who, method, path, filled(body, room.ids))
    assert reply.status_code == status, f"{method} {path[:200]} as {who}: {reply.status_code} {reply.text[:300]}"
    assert snapshot(room.store.engine) == before, f"{method} {path[:200]} as {who} changed the store"
    if path.startswith(BOOK_API) and status != 404:  # (a path no route takes: Tornado's own 404)
        assert reply.headers["Content-Type"].startswith("application/json")


def test_bodies_that_are_not_utf8_or_not_json_are_refused(room):
    session, token = room.session("P"), room.xsrf("P")
    thread = f"{room.url}{ROOM}discussion/{room.ids['group_p']}/1"
    before = snapshot(room.store.engine)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for data in (b"action=reply&body=%FF%FE", b"action=reply&body=\xff\xfe", b"action=%C3%28&body=x"):
        reply = session.post(thread, data=b"_xsrf=" + token.encode() + b"&" + data, headers=form,
                             allow_redirects=False, timeout=60)
        assert reply.status_code == 400, (data, reply.status_code)
    reply = session.post(thread, data=b'{"action": "reply", "body": "x"}', allow_redirects=False,
                         headers={"Content-Type": "application/json", "X-XSRFToken": token}, timeout=60)
    assert reply.status_code == 400  # no form fields: no action
    script = {**SCRIPT, "X-XSRFToken": token, "Content-Type": "application/json"}
    for path in (BOOK_API, f"{BOOK_API}/{room.ids['ann_p']}", f"{BOOK_API}/{room.ids['ann_p_other']}/replies",
                 f"{BOOK_API}/{room.ids['ann_p_other']}/flag"):
        method = "PATCH" if path.count("/") == 1 else "POST"
        for data in (b"\xff\xfe", b'{"body": "\xff"}', b'{"body": ', b"body=x", b"[1, 2]", b"null",
                     b'{"body": "x"}{"body": "y"}', b"\x00"):
            reply = session.request(method, f"{room.url}{ROOM}{path}", data=data, headers=script,
                                    allow_redirects=False, timeout=60)
            assert reply.status_code == 400, (path, data, reply.status_code, reply.text[:200])
            assert reply.json()["status"] == 400
    assert snapshot(room.store.engine) == before


@pytest.mark.parametrize("method,template", [
    ("HEAD", "discussion"), ("OPTIONS", "discussion/{group_p}/1"), ("DELETE", "discussion/{group_p}/1"),
    ("PUT", "discussion/{group_p}/1"), ("PATCH", "moderation"), ("DELETE", "mail"), ("HEAD", "book/{reading}"),
    ("POST", "book/{reading}"), ("PUT", "coordinator/mail"), ("DELETE", "coordinator/mail/{mail_failed}/retry"),
    ("GET", "coordinator/mail/{mail_failed}/retry"), ("POST", "discussion"), ("POST", "discussion/participation.csv"),
    ("OPTIONS", BOOK_API), ("HEAD", BOOK_API), ("PUT", BOOK_API), ("DELETE", BOOK_API), ("PATCH", BOOK_API),
    ("PUT", "book-annotations/{ann_p}"), ("POST", "book-annotations/{ann_p}"),
    ("GET", "book-annotations/{ann_p}/replies"), ("DELETE", "book-annotations/{ann_p}/flag"),
])
def test_methods_a_route_does_not_answer_get_405_and_change_nothing(room, method, template):
    """With the sender's own token (forms: _xsrf; script: X-XSRFToken), so the method is what
    is refused; the rightful user (the coordinator for the outbox)."""
    path = fill(template, room.ids)
    who = "coord" if "coordinator" in path else "T" if path.startswith("moderation") else "P"
    session, token = room.session(who), room.xsrf(who)
    headers = {**SCRIPT, "X-XSRFToken": token} if path.startswith(BOOK_API) else {"X-XSRFToken": token}
    before = snapshot(room.store.engine)
    reply = session.request(method, f"{room.url}{ROOM}{path}", headers=headers, allow_redirects=False, timeout=60)
    assert reply.status_code == 405, f"{method} {path}: {reply.status_code} {reply.text[:200]}"
    assert snapshot(room.store.engine) == before


def test_a_nul_byte_never_reaches_the_store(room):
    """PostgreSQL refuses NUL in text (the room would answer 500 there): forms (Tornado makes it
    a space), the book page's JSON and the reasons of flags keep none."""
    reply = room.call("P", "POST", f"discussion/{room.ids['group_p']}/1",
                      {"action": "reply", "body": f"before\x00after {tok('NUL')}"})
    assert reply.status_code == 302
    note = annotation(1, f"before\x00after {tok('NULA')}")
    assert room.call("P", "POST", BOOK_API, note).status_code == 201
    flagged = room.call("P", "POST", f"{BOOK_API}/{room.ids['ann_p_other']}/flag", {"reason": "before\x00after"})
    assert flagged.status_code == 201, flagged.text
    with room.store.session() as s:
        post = s.scalars(select(Post).where(Post.body.like(f"%{tok('NUL')}%"))).one()
        comment = s.get(Annotation, note["id"])
        flag = s.scalars(select(ContentFlag).where(ContentFlag.item_id == room.ids["ann_p_other"],
                                                   ContentFlag.flagged_by == room.user("P"))).one()
        assert "\x00" not in post.body and "\x00" not in comment.body and "\x00" not in flag.reason
        assert "before" in flag.reason and "after" in flag.reason


# --- anonymity of reviewers ------------------------------------------------------------------

def identity(person: Person) -> list[str]:
    """What names a person: id, e-mail, full name and each part of the name of 4+ letters."""
    words = [person.id, person.email, person.name] + [w for w in person.name.split() if len(w) >= 4]
    return sorted({fold(w) for w in words if w}, key=len, reverse=True)


def named(text: str, words: list[str]) -> list[str]:
    folded = fold(text)
    return [w for w in words if re.search(rf"(?<![0-9a-z]){re.escape(w)}(?![0-9a-z])", folded)]


def visible(reply: requests.Response, data=None) -> str:
    """Everything a reply shows its reader: body (or `data` for its JSON), headers (Location,
    ...) and the names of the cookies it sets."""
    cookies = reply.raw.headers.getlist("Set-Cookie") if reply.raw is not None else []
    parts = [f"{k}: {v}" for k, v in reply.headers.items() if k.lower() != "set-cookie"]
    parts += [c.split("=", 1)[0] for c in cookies]
    body = reply.text
    if reply.headers.get("Content-Type", "").startswith("application/json"):
        body = json.dumps(reply.json() if data is None else data, ensure_ascii=False)
    return "\n".join([body, *parts])


@dataclass
class Cohort:
    """Who is who, from the store: what the scan may and may not find where."""
    people: dict
    group: dict  # person -> group label
    members: dict  # label -> [person ids]
    tutor: dict  # label -> tutor id
    rota: dict  # label -> {facilitator and co-facilitator ids}
    reviewers: dict  # author -> {reviewer ids of every task on their texts, withdrawn or not}
    order: dict  # author -> [(review code, reviewer id)] of the closed round's submitted reviews


def cohort(store) -> Cohort:
    with store.session() as s:
        people = {p.id: p for p in s.scalars(select(Person))}
        for p in people.values():
            s.expunge(p)
        group = dict(s.execute(select(Membership.person_id, Membership.group_label)).all())
        members: dict = {}
        for pid, label in group.items():
            members.setdefault(label, []).append(pid)
        tutor = dict(s.execute(select(TutorAssignment.group_label, TutorAssignment.tutor_id)).all())
        rota: dict = {}
        for r in s.scalars(select(RotaEntry)):
            rota.setdefault(r.group_label, set()).update({r.facilitator_id, r.co_facilitator_id} - {None})
        reviewers: dict = {}
        order: dict = {}
        for a, author, state, rnd in s.execute(
                select(Allocation, Submission.author_id, Review.state, ReviewRound.state)
                .join(Submission, Submission.id == Allocation.submission_id)
                .join(ReviewRound, ReviewRound.id == Allocation.round_id)
                .outerjoin(Review, Review.review_code == Allocation.review_code)
                .order_by(Allocation.review_code)):
            reviewers.setdefault(author, set()).add(a.reviewer_id)
            if rnd == "closed" and state == "submitted":
                order.setdefault(author, []).append((a.review_code, a.reviewer_id))
    return Cohort(people, group, members, tutor, rota, reviewers, order)


def group_listing(page: str, me: str, c: Cohort) -> str:
    """The home page without its study-group listing and facilitation line, once both are
    checked to name exactly the people of my group (and its tutor), nobody else."""
    label = c.group[me]
    section = re.search(r'<section aria-labelledby="group-h">.*?</section>', page, re.S)
    assert section, "no study group on the home page"
    rows = re.findall(r"<tr><td>(.*?)</td>", section.group(0))
    assert sorted(html.unescape(r).removesuffix(" (you)") for r in rows) == \
        sorted(c.people[m].name for m in c.members[label])
    shared = {c.people[m].email for m in c.members[label] if c.people[m].share_email}
    for email in re.findall(r'href="mailto:([^"]+)"', section.group(0)):
        assert html.unescape(email) in shared | {c.people[c.tutor[label]].email}
    tutor = re.search(r"Your tutor: (.*?) \(", section.group(0))
    assert tutor and html.unescape(tutor.group(1)) == c.people[c.tutor[label]].name
    page = page.replace(section.group(0), "")
    line = re.search(r"<p>Discussion facilitated by <strong>(.*?)</strong>(?: with (.*?))?\.</p>", page)
    if line:
        names = {html.unescape(n) for n in line.groups() if n} - {"you"}
        assert names <= {c.people[m].name for m in c.rota.get(label, ())}
        page = page.replace(line.group(0), "")
    return page


def crawl(room: Room, who: str) -> dict[str, requests.Response]:
    """Every room page reachable from the home page by following links (GET, no forms)."""
    base = urlsplit(room.url)
    seen: dict[str, requests.Response] = {}
    todo = [ROOM]
    while todo:
        target = todo.pop()
        if target in seen:
            continue
        reply = room.session(who).get(f"{room.url}{target}", allow_redirects=False, timeout=60)
        seen[target] = reply
        links = re.findall(r'(?:href|src)="([^"]+)"', reply.text) + [reply.headers.get("Location") or ""]
        for link in filter(None, links):
            parts = urlsplit(urljoin(f"{room.url}{target}", html.unescape(link)))
            if parts.netloc == base.netloc and parts.path.startswith(ROOM):
                todo.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


def reachable(room: Room, who: str) -> dict[str, requests.Response]:
    """Everything `who` can fetch in the room: the pages reached by following links from the
    home page (discussion, threads, readings, e-mail, feedback ...), a participant's API answers
    (tasks, samples, reviews received), and the comments on the reading, listed and each by its
    id. Fetched once per person (the scans below share it)."""
    if who in room.reached:
        return room.reached[who]
    replies = crawl(room, who)
    if who in PARTICIPANTS:
        for path in ("api/me", "api/reviews/tasks", "api/reviews/received"):
            replies[path] = room.call(who, "GET", path)
        for rnd in replies["api/reviews/tasks"].json()["rounds"]:
            for task in rnd["tasks"]:
                replies[f"api/reviews/tasks/{task['review_code']}"] = room.call(
                    who, "GET", f"api/reviews/tasks/{task['review_code']}")
            for sample in rnd["calibration"]:
                replies[f"api/reviews/calibration/{sample['sample_id']}"] = room.call(
                    who, "GET", f"api/reviews/calibration/{sample['sample_id']}")
    listing = room.call(who, "GET", f"{BOOK_API}?page={READING}")
    replies[f"{BOOK_API}?page={READING}"] = listing
    for entry in listing.json()["annotations"] + listing.json()["orphaned"]:
        for item in (entry, *entry["replies"]):
            replies[f"{BOOK_API}/{item['id']}"] = room.call(who, "GET", f"{BOOK_API}/{item['id']}")
    room.reached[who] = replies
    return replies


def without_cohort_authors(data: dict, authors: dict) -> dict:
    """A comment for the whole cohort names its author to everyone, as a post names its author
    to the group: no sign of who reviewed whom. Checked to name its real author, then left out."""
    for entry in data.get("annotations", []) + data.get("orphaned", []) if "page" in data else [data]:
        for item in (entry, *entry.get("replies", [])):
            if item["audience"] == "cohort":
                assert item["author"] == authors[item["id"]], item
                item["author"] = ""
    return data


def test_no_participant_can_tell_who_reviewed_them(room):
    c = cohort(room.store)
    with room.store.session() as s:
        authors = {a.id: c.people[a.author_id].name or a.author_id for a in s.scalars(select(Annotation))}
        outbox = [(m.person_id, f"{m.to_addr}\n{m.subject}\n{m.body}") for m in s.scalars(select(OutgoingMail))]
    leaks, reached = [], {}
    for me in PARTICIPANTS:
        watch = {r: identity(c.people[r]) for r in c.reviewers[me] if r != me}
        # Where the group talks (threads, comments on the readings, e-mail), group-mates and
        # staff are named as authors and facilitators, a reviewer from one's own group among
        # them (as on the home page's group list): there, nobody outside the group may be named.
        mates = set(c.members[c.group[me]])
        known = {w for p in c.people.values() if p.id in mates or p.role != "participant" for w in identity(p)}
        outsiders = {p: [w for w in identity(c.people[p]) if w not in known]
                     for p in PARTICIPANTS if p not in mates}
        replies = reachable(room, me)
        assert any(p.startswith(f"{ROOM}discussion/") for p in replies), "the scan missed the threads"
        assert f"{ROOM}book/{READING}" in replies and f"{ROOM}mail" in replies
        for path, reply in replies.items():
            assert reply.status_code in (200, 302, 409), f"{me} {path}: {reply.status_code}"
            text = visible(reply)
            if path == ROOM:
                assert named(text, identity(c.people[me])), "the scan does not see names (own name)"
                text = group_listing(text, me, c)
            if path == "api/me":  # my group, exactly, and then nobody
                data = reply.json()
                assert sorted(m["id"] for m in data["group"]["members"]) == sorted(c.members[c.group[me]])
                assert data["group"]["tutor"]["id"] == c.tutor[c.group[me]]
                text = visible(reply, {k: v for k, v in data.items() if k != "group"})
            if path.startswith(BOOK_API):
                text = visible(reply, without_cohort_authors(reply.json(), authors))
            shared = path.startswith((f"{ROOM}discussion", f"{ROOM}book/", f"{ROOM}mail", BOOK_API))
            for reviewer, words in (outsiders if shared else watch).items():
                if found := named(text, words):
                    leaks.append(f"{me} sees {reviewer} ({', '.join(found)}) at {path}")
        # nor in the e-mail the room sends them (digests, reminders)
        for person, text in outbox:
            for reviewer, words in outsiders.items():
                if person == me and (found := named(text, words)):
                    leaks.append(f"{me} is sent the name of {reviewer} ({', '.join(found)})")
        reached[me] = replies
    assert not leaks, "\n".join(leaks[:30])
    assert {person for person, _ in outbox} & set(PARTICIPANTS), "no e-mail to scan"
    # the scan sees what it looks for: a comment for the whole cohort names its author, of
    # another group, to P (left out above)
    with room.store.session() as s:
        author = s.get(Annotation, room.ids["ann_cohort"]).author_id
    listing = reached[room.user("P")][f"{BOOK_API}?page={READING}"]
    assert c.group[author] != c.group[room.user("P")] and named(visible(listing), identity(c.people[author]))
    # the scan sees what it looks for: the coordinator's list of a round's reviewers names them
    progress = room.call("coord", "GET", f"coordinator/round/{room.ids['round_memo']}").text
    me = room.ids["P"]
    with room.store.session() as s:
        current = set(s.scalars(select(Allocation.reviewer_id).join(Submission).where(
            Submission.author_id == me, Allocation.round_id == room.ids["round_memo"],
            ~Allocation.withdrawn)))
    assert current and all(named(progress, identity(c.people[r])) for r in current)
    # and every participant did reach their feedback, their tasks or else their calibration
    for me, replies in reached.items():
        pending = me in (room.ids["PC"], room.ids["PX"])
        assert f"{ROOM}feedback" in replies
        assert any(p.startswith(f"{ROOM}reviews/{'calibration' if pending else 'task'}/") for p in replies), me


@dataclass
class Sight:
    """What one person may see of the discussion, from the store's rows (not the room's rules)."""
    must: set = field(default_factory=set)  # tokens they see somewhere in the room
    never: set = field(default_factory=set)  # tokens they see nowhere
    threads: set = field(default_factory=set)  # (group, session) of threads they open
    notes: set = field(default_factory=set)  # ids of the comments they read


def sights(store) -> dict[str, Sight]:
    """For each participant and tutor: their group's (their groups') threads and comments, and
    the cohort's comments, are theirs to see; hidden ones only when they wrote them (a tutor:
    or moderates them), with the hiding reason; flags only a group's staff."""
    with store.session() as s:
        group = dict(s.execute(select(Membership.person_id, Membership.group_label)).all())
        tutored: dict = {}
        for label, tutor in s.execute(select(TutorAssignment.group_label, TutorAssignment.tutor_id)):
            tutored.setdefault(tutor, set()).add(label)
        threads_ = {t.id: t for t in s.scalars(select(Thread))}
        posts = s.scalars(select(Post)).all()
        notes = {a.id: a for a in s.scalars(select(Annotation))}
        flags = s.scalars(select(ContentFlag)).all()
    post_group = {str(p.id): threads_[p.thread_id].group_label for p in posts}
    out = {}
    for me in PARTICIPANTS + TUTORS:
        mine, staff = (tutored.get(me, set()), True) if me in TUTORS else ({group[me]}, False)
        sight = out[me] = Sight()

        def shown(ok: bool, text: str, sight=sight) -> None:
            (sight.must if ok else sight.never).update(TOKEN.findall(text or ""))

        for t in threads_.values():
            shown(t.group_label in mine, t.title)
            if t.group_label in mine:
                sight.threads.add((t.group_label, t.session))
        for p in posts:
            ours = threads_[p.thread_id].group_label in mine
            shown(ours and (p.hidden_at is None or staff or p.author_id == me), p.body)
            shown(ours and (staff or p.author_id == me), p.hidden_reason)
        for a in notes.values():
            root = notes[a.parent_id] if a.parent_id else a

            def unhidden(x, root=root):
                return x.hidden_at is None or x.author_id == me or (staff and x.group_label in mine)

            ok = (root.audience == "cohort" or root.group_label in mine or root.author_id == me) \
                and unhidden(root) and unhidden(a)
            shown(ok, a.body)
            shown(ok, a.hidden_reason)  # a hidden one shown: to its author or a moderator
            if ok:
                sight.notes.add(a.id)
        for f in flags:  # the group's staff read them in the moderation queue
            flagged = post_group.get(f.item_id) if f.kind == "post" else \
                getattr(notes.get(f.item_id), "group_label", None)
            if f.flagged_by != me and not (staff and flagged in mine):
                sight.never.update(TOKEN.findall(f.reason))
        sight.must -= sight.never  # a token in two texts (none here): the stricter rule
    return out


def test_nobody_sees_another_groups_discussion_nor_what_is_hidden(room):
    """Each participant and tutor, through every page and answer they reach and by every thread
    and comment id of the store: another group's threads and comments, hidden posts and
    comments of others and the reasons they were hidden, and others' flags appear nowhere; what
    is theirs to see does (so the scan reads what it should)."""
    seen_of = sights(room.store)
    with room.store.session() as s:
        keys = s.execute(select(Thread.group_label, Thread.session)).all()
        notes = s.scalars(select(Annotation.id)).all()
        outbox = [(m.person_id, f"{m.subject}\n{m.body}") for m in s.scalars(select(OutgoingMail))]
    leaks, wrong = [], []
    for me, sight in seen_of.items():
        assert sight.must and sight.never and sight.notes
        replies = dict(reachable(room, me))
        for g, label in keys:  # every thread and every comment, by id: there when theirs only
            reply = replies[f"discussion/{g}/{label}"] = room.call(me, "GET", f"discussion/{g}/{label}")
            if reply.status_code != (200 if (g, label) in sight.threads else 404):
                wrong.append(f"{me} GET discussion/{g}/{label}: {reply.status_code}")
        for note in notes:
            reply = replies[f"{BOOK_API}/{note}"] = room.call(me, "GET", f"{BOOK_API}/{note}")
            if reply.status_code != (200 if note in sight.notes else 404):
                wrong.append(f"{me} GET {BOOK_API}/{note}: {reply.status_code}")
        found = set()
        for path, reply in replies.items():
            text = visible(reply)
            found |= set(TOKEN.findall(text))
            for token in sorted(set(TOKEN.findall(text)) & sight.never):
                leaks.append(f"{me} sees {token} at {path}")
        for person, text in outbox:
            if person == me:
                leaks += [f"{me} is sent {t}" for t in sorted(set(TOKEN.findall(text)) & sight.never)]
        missing = sight.must - found
        assert not missing, f"{me} does not see {sorted(missing)}: the scan misses pages"
    assert not wrong, "\n".join(wrong[:30])
    assert not leaks, "\n".join(leaks[:30])


def test_feedback_shows_reviews_by_code_with_the_reviewers_signature_removed(room):
    c = cohort(room.store)
    by_id_order = []
    for author, reviews in c.order.items():
        feedback = room.call(author, "GET", "feedback").text
        received = room.call(author, "GET", "api/reviews/received").json()["rounds"]
        shown = [r["review_code"] for rnd in received if rnd["ready"] for r in rnd["reviews"]]
        codes = [code for code, _ in reviews]
        assert shown == codes == sorted(codes)
        assert re.findall(r'<article class="review" id="([^"]+)"', feedback) == codes
        by_id_order.append([code for code, _ in sorted(reviews, key=lambda cr: cr[1])] == codes)
        for rnd in received:
            for review in rnd.get("reviews", []):
                first, second = review["items"][:2]
                assert first["comment"] == f"I am [reviewer] ([reviewer]); {COMMENT}"
                assert second["comment"] == f"{COMMENT} Ask [reviewer] ([reviewer]) if unclear."
                assert html.escape(first["comment"], quote=False) in feedback
                assert "reviewer_id" not in json.dumps(review)
    assert not all(by_id_order), "every author's reviews happen to be in reviewer order: no test"


def test_posting_on_feedback_names_nobody(room):
    """The answers to an author's rating and (refused) flag: redirect, cookies, error page."""
    c = cohort(room.store)
    me = room.ids["P"]
    watch = [w for r in c.reviewers[me] if r != me for w in identity(c.people[r])]
    for action, body in (("rate", {"helpful": "no"}), ("flag", {"reason": ""})):
        reply = room.call("P", "POST", f"feedback/{room.ids['task_of_me']}/{action}", body)
        assert reply.status_code in (302, 400)
        assert not named(visible(reply), watch), action
