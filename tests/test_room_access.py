"""The course room under attack: other people's ids on every route, CSRF, injection, and
whether a reviewer can be identified by the people they reviewed.

One real JupyterHub for the module, with the room as its service over a real SQLite cohort
store (`make_cohort`'s example cohort) holding three rounds of the same briefs:

- `brief`: calibration scored by a tutor, every task reviewed (one left as a draft), closed
  with `igcb reviews close --force`; then authors rate reviews and two of them flag one;
- `memo`: open; two participants have not done the calibration yet, two are late, and the
  coordinator has reassigned the tasks of one of them;
- `essay`: still waiting for its calibration samples to be scored.

Every refused attempt must leave every table of the store as it was.
"""

import html
import json
import random
import re
import socket
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from course.cli import main
from course.cohort import reviewing
from course.cohort.db import open_store
from course.cohort.models import (Allocation, Base, CalibrationSample, Membership, Person,
                                  Review, ReviewRound, RotaEntry, Submission, TutorAssignment)
from course.room import api, pages, staff
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


def snapshot(engine) -> dict:
    """Every row of every table, in primary-key order."""
    with engine.connect() as c:
        return {t.name: c.execute(select(t).order_by(*t.primary_key.columns)).all()
                for t in Base.metadata.sorted_tables}


@dataclass
class Room:
    url: str  # the hub
    store: object
    ids: dict
    sessions: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    xsrfs: dict = field(default_factory=dict)

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
        """`path` below the room as `who` (None: nobody logged in); api/ with their hub token."""
        url = f"{self.url}{ROOM}{path}"
        headers = dict(headers or {})
        if path.startswith("api/"):
            if who is not None:
                headers["Authorization"] = f"token {self.token(who)}"
            return requests.request(method, url, json=body if method != "GET" else None,
                                    headers=headers, allow_redirects=False, timeout=60)
        session = self.session(who) if who is not None else requests.Session()
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
    store = open_store(url)
    hub = start_room_hub(tmp, url, PARTICIPANTS + [STRANGER], TUTORS)
    try:
        yield Room(hub.url, store, ids)
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

# Each route of pages.py, staff.py and api.py, with each method it answers, a body its rightful
# user could send, and that user (P a participant, T a tutor outside P's group, coord).
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
]


def test_the_tables_cover_every_route_and_method():
    """A new route or method of the room fails here until the tables below attack it."""
    handled = set()
    for pattern, handler in pages.HANDLERS + staff.HANDLERS + api.HANDLERS:
        for method in ("get", "post", "put", "patch", "delete"):
            owner = next(c for c in handler.__mro__ if method in c.__dict__)
            if owner.__module__.startswith("course.room"):
                handled.add((method.upper(), pattern))
    tabled = set()
    for method, template, _, _ in ROUTES:
        path = fill(template, {k: "1" for k in re.findall(r"{(\w+)}", template)})
        found = [p for p, _ in pages.HANDLERS + staff.HANDLERS + api.HANDLERS if re.fullmatch(p, path)]
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
# Somebody the store does not know: refused everywhere, even with real ids.
ATTACKS += [(STRANGER, method, path, body, 403) for method, path, body, _ in ROUTES]
# Nobody logged in: pages send them to log in, forms and the API refuse.
ATTACKS += [(None, method, path, body, 401 if path.startswith("api/") else 302 if method == "GET" else 403)
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
    if path.startswith("api/"):  # an error and nothing else
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


@pytest.mark.parametrize("method,template,body,user", [r for r in ROUTES if r[0] == "POST"],
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
    reply = room.call(user, method, path, body, headers=same_site)
    assert reply.status_code == 302, f"{path}: {reply.status_code} {reply.text[:300]}"
    assert snapshot(room.store.engine) != before


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
    # raw non-ASCII bytes in the request line: the hub's proxy refuses them before the room
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
    for secret in (b"def make_app", b"import ", b"root:x:0:0", b"open_store"):
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


def test_no_participant_can_tell_who_reviewed_them(room):
    c = cohort(room.store)
    leaks, reached = [], {}
    for me in PARTICIPANTS:
        watch = {r: identity(c.people[r]) for r in c.reviewers[me] if r != me}
        replies = crawl(room, me)
        for path in ("api/me", "api/reviews/tasks", "api/reviews/received"):
            replies[path] = room.call(me, "GET", path)
        for rnd in replies["api/reviews/tasks"].json()["rounds"]:
            for task in rnd["tasks"]:
                replies[f"api/reviews/tasks/{task['review_code']}"] = room.call(
                    me, "GET", f"api/reviews/tasks/{task['review_code']}")
            for sample in rnd["calibration"]:
                replies[f"api/reviews/calibration/{sample['sample_id']}"] = room.call(
                    me, "GET", f"api/reviews/calibration/{sample['sample_id']}")
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
            for reviewer, words in watch.items():
                if found := named(text, words):
                    leaks.append(f"{me} sees {reviewer} ({', '.join(found)}) at {path}")
        reached[me] = replies
    assert not leaks, "\n".join(leaks[:30])
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
