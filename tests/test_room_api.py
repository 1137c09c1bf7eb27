"""The course room's JSON API against a real hub and room, on SQLite and on PostgreSQL.

Hub API tokens only (a logged-in browser's cookies are refused); the same access rules as the
pages. Forms (not the API) need the _xsrf field. One hub per database; the tests of a hub
build on each other (each step also runs on demand, once, so any test can run alone).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
import requests
from sqlalchemy import select

from course.cohort import reviewing
from course.cohort.db import open_store
from course.cohort.models import (Allocation, CalibrationSample, Flag, Membership, Person,
                                  Review, ReviewRound, Submission, TutorAssignment,
                                  TutorDecision)
from pg_helpers import store_for_test
from room_helpers import (PARTICIPANTS, ROOM, TUTORS, api_token, form_token, make_cohort,
                          room_login, start_room_hub)

COMMENT = "A clear recommendation; the figures need a source and a date."




@dataclass
class Room:
    url: str
    store: object
    round_id: int
    criteria: list[str]
    samples: list[int]
    reviewer: str  # works through the API
    author: str  # whose text the reviewer reviews
    done: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def api(self, path: str) -> str:
        return f"{self.url}{ROOM}api/{path}"

    def page(self, path: str) -> str:
        return f"{self.url}{ROOM}{path}"

    def token(self, user: str) -> dict:
        if user not in self.tokens:
            self.tokens[user] = api_token(self.url, room_login(self.url, user), user)
        return {"Authorization": f"token {self.tokens[user]}"}

    def call(self, method: str, user: str, path: str, body=None) -> requests.Response:
        return requests.request(method, self.api(path), headers=self.token(user), json=body, timeout=30)

    def once(self, step):
        if step.__name__ not in self.done:
            self.done[step.__name__] = step(self)
        return self.done[step.__name__]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def room(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"room-api-{request.param}")
    with store_for_test(request, request.param, folder, "igcb_room_api") as url:
        make_cohort(url, folder / "cohort", calibration=2,
                    due=(date.today() + timedelta(days=7)).isoformat())
        store = open_store(url)
        try:
            with store.session() as s:
                rnd = s.scalars(select(ReviewRound)).one()
                samples = s.scalars(select(CalibrationSample.id).where(CalibrationSample.round_id == rnd.id)
                                    .order_by(CalibrationSample.id)).all()
                sampled = set(s.scalars(select(CalibrationSample.submission_id)))
                own = dict(s.execute(select(Submission.author_id, Submission.id)).all())
                # the samples' languages: a reviewer calibrates only on texts they read
                langs = set(s.scalars(select(CalibrationSample.language)))
                reads = {p.id: set(p.languages.split(";")) for p in s.scalars(select(Person))}
                # a reviewer (who reads every sample) and an author, neither a sample's author
                reviewer, author = s.execute(
                    select(Allocation.reviewer_id, Submission.author_id)
                    .join(Submission, Submission.id == Allocation.submission_id)
                    .where(Allocation.reviewer_id.in_([p for p in PARTICIPANTS if own[p] not in sampled
                                                       and langs <= reads[p]]),
                           Submission.id.not_in(sampled))
                    .order_by(Allocation.reviewer_id, Allocation.review_code)).first()
                criteria = [c["id"] for c in rnd.rubric["criteria"]]
            hub = start_room_hub(folder, url, PARTICIPANTS, TUTORS)
            try:
                yield Room(hub.url, store, rnd.id, criteria, list(samples), reviewer, author)
            finally:
                hub.stop()
        finally:
            store.close()


def tutor_opens_the_round(room: Room) -> None:
    """t01 scores both samples on the tutor's calibration form (with its _xsrf field)."""
    session = room_login(room.url, "t01")
    form = session.get(room.page(f"tutor/calibration/{room.round_id}"), timeout=30)
    token = form_token(form.text)
    for sample_id in room.samples:
        fields = {"sample_id": str(sample_id), **{f"score-{c}": "1" for c in room.criteria}}
        reply = session.post(room.page(f"tutor/calibration/{room.round_id}"),
                             data={**fields, "_xsrf": token}, allow_redirects=False, timeout=30)
        assert reply.status_code == 302, reply.text
    with room.store.session() as s:
        assert s.get(ReviewRound, room.round_id).state == "open"


def reviewer_calibrates(room: Room) -> None:
    room.once(tutor_opens_the_round)
    tasks = room.call("GET", room.reviewer, "reviews/tasks").json()["rounds"][0]
    for sample in tasks["calibration"]:
        reply = room.call("PUT", room.reviewer, f"reviews/calibration/{sample['sample_id']}",
                          {"scores": {c: 2 for c in room.criteria}})
        assert reply.status_code == 200, reply.text
        assert reply.json()["error"] == 1.0  # 2 against the tutor's 1, on every criterion
        assert [r["off_by"] for r in reply.json()["comparison"]] == [1] * len(room.criteria)


def the_round_closes(room: Room) -> None:
    """Every review submitted (through the store), then the coordinator's Close and grade."""
    room.once(reviewer_calibrates)
    rng = random.Random(5)
    with room.store.session() as s:
        rows = s.execute(select(Allocation.review_code, Allocation.reviewer_id)
                         .order_by(Allocation.review_code)).all()
    for code, reviewer in rows:
        with room.store.session() as s:
            for sample_id in room.samples:
                try:
                    reviewing.answer_sample(s, reviewer, sample_id, {c: 1 for c in room.criteria})
                except (reviewing.NotFound, reviewing.Refused):
                    pass
            task = reviewing.get_task(s, reviewer, code)
        if task["state"] == "submitted":
            continue
        with room.store.session() as s:
            reviewing.save_review(s, reviewer, code, {c: rng.choice([0, 1, 1, 2, 2]) for c in room.criteria},
                                  {c: COMMENT for c in room.criteria}, submit=True)
    session = room_login(room.url, "coord")
    page = session.get(room.page(f"coordinator/round/{room.round_id}"), timeout=30)
    reply = session.post(room.page(f"coordinator/round/{room.round_id}/close"),
                         data={"force": "yes", "_xsrf": form_token(page.text)}, timeout=30)
    assert reply.status_code == 200 and "round closed" in reply.text
    with room.store.session() as s:
        assert s.get(ReviewRound, room.round_id).state == "closed"


# -- the tests ------------------------------------------------------------------------------

def test_the_api_wants_a_hub_token_not_cookies(room):
    session = room_login(room.url, room.reviewer)
    assert session.get(room.page(""), timeout=30).status_code == 200  # the pages take the cookie
    with room.store.session() as s:
        code = s.scalars(select(Allocation.review_code).where(Allocation.reviewer_id == room.reviewer)).first()
    for method, path in (("GET", "me"), ("GET", "reviews/tasks"), ("PUT", f"reviews/tasks/{code}")):
        reply = session.request(method, room.api(path), json={"items": {}, "state": "draft"}, timeout=30)
        assert reply.status_code == 401, (method, reply.text)
        assert reply.json()["status"] == 401
    with room.store.session() as s:
        assert s.get(Review, code) is None
    assert requests.get(room.api("me"), timeout=30).status_code == 401
    for bad in ("token not-a-token", f"token {uuid.uuid4().hex}", "Bearer nonsense"):
        reply = requests.get(room.api("reviews/tasks"), headers={"Authorization": bad}, timeout=30)
        assert reply.status_code in (401, 403), (bad, reply.status_code)
    assert room.call("GET", room.reviewer, "me").status_code == 200


def test_a_form_post_needs_its_xsrf_field(room):
    session = room_login(room.url, "t01")
    form = session.get(room.page(f"tutor/calibration/{room.round_id}"), timeout=30)
    sample = room.samples[0]
    fields = {"sample_id": str(sample), **{f"score-{c}": "1" for c in room.criteria}}
    refused = session.post(room.page(f"tutor/calibration/{room.round_id}"), data=fields,
                           allow_redirects=False, timeout=30)
    assert refused.status_code == 403
    with room.store.session() as s:
        assert s.get(CalibrationSample, sample).tutor_scores is None
    room.once(tutor_opens_the_round)  # the same form, with the _xsrf field
    with room.store.session() as s:
        assert s.get(CalibrationSample, sample).tutor_scores == {c: 1.0 for c in room.criteria}
    assert form.status_code == 200


def test_me_tasks_and_calibration(room):
    room.once(tutor_opens_the_round)
    me = room.call("GET", room.reviewer, "me").json()
    with room.store.session() as s:
        person = s.get(Person, room.reviewer)
        group = s.get(Membership, room.reviewer).group_label
    assert (me["id"], me["name"], me["role"]) == (room.reviewer, person.name, "participant")
    assert me["group"]["label"] == group and room.reviewer in [m["id"] for m in me["group"]["members"]]
    if "reviewer_calibrates" not in room.done:
        rounds = room.call("GET", room.reviewer, "reviews/tasks").json()["rounds"]
        assert [r["round"]["name"] for r in rounds] == ["brief"]
        assert [c["number"] for c in rounds[0]["calibration"]] == [1, 2]
        assert rounds[0]["tasks"] and all(t["locked"] for t in rounds[0]["tasks"])
        locked = room.call("GET", room.reviewer, f"reviews/tasks/{rounds[0]['tasks'][0]['review_code']}")
        assert locked.status_code == 409 and "calibration" in locked.json()["error"]
        bad = room.call("PUT", room.reviewer, f"reviews/calibration/{room.samples[0]}",
                        {"scores": {room.criteria[0]: 2}})
        assert bad.status_code == 400 and f"score-{room.criteria[1]}" in bad.json()["fields"]
    room.once(reviewer_calibrates)
    rounds = room.call("GET", room.reviewer, "reviews/tasks").json()["rounds"]
    assert rounds[0]["calibration"] == [] and not any(t["locked"] for t in rounds[0]["tasks"])
    again = room.call("GET", room.reviewer, f"reviews/calibration/{room.samples[0]}").json()
    assert again["answered"] and [r["tutor"] for r in again["comparison"]] == [1] * len(room.criteria)


def test_drafts_submissions_and_a_missing_score(room):
    room.once(reviewer_calibrates)
    rounds = room.call("GET", room.reviewer, "reviews/tasks").json()["rounds"]
    code = rounds[0]["tasks"][0]["review_code"]
    first, last = room.criteria[0], room.criteria[-1]
    draft = room.call("PUT", room.reviewer, f"reviews/tasks/{code}",
                      {"items": {first: {"score": 2, "comment": "Half done."}}, "state": "draft"})
    assert draft.status_code == 200 and draft.json()["state"] == "draft"
    task = room.call("GET", room.reviewer, f"reviews/tasks/{code}").json()
    assert task["state"] == "draft" and task["items"][first] == {"score": 2.0, "comment": "Half done."}
    assert "IPv6" in task["text"] and task["editable"]

    items = {c: {"score": 1, "comment": COMMENT} for c in room.criteria}
    missing = {**items, last: {"comment": COMMENT}}
    refused = room.call("PUT", room.reviewer, f"reviews/tasks/{code}", {"items": missing, "state": "submitted"})
    assert refused.status_code == 400
    assert refused.json()["fields"] == {f"score-{last}": "a score is required"}
    assert room.call("GET", room.reviewer, f"reviews/tasks/{code}").json()["state"] == "draft"

    done = room.call("PUT", room.reviewer, f"reviews/tasks/{code}", {"items": items, "state": "submitted"})
    assert done.status_code == 200, done.text
    assert done.json() == {"review_code": code, "state": "submitted", "total": float(len(room.criteria))}
    task = room.call("GET", room.reviewer, f"reviews/tasks/{code}").json()
    assert task["state"] == "submitted" and all(v == {"score": 1.0, "comment": COMMENT} for v in task["items"].values())

    with room.store.session() as s:  # somebody else's task is not there at all
        other = s.scalars(select(Allocation.review_code).where(Allocation.reviewer_id != room.reviewer)).first()
    assert room.call("GET", room.reviewer, f"reviews/tasks/{other}").status_code == 404
    assert room.call("PUT", room.reviewer, f"reviews/tasks/{other}", {"items": items, "state": "submitted"}).status_code == 404
    assert room.call("PUT", room.reviewer, f"reviews/tasks/{code}", {"items": "x"}).status_code == 400


def test_received_before_and_after_the_round_closes(room):
    if "the_round_closes" not in room.done:
        room.once(reviewer_calibrates)
        before = room.call("GET", room.author, "reviews/received").json()["rounds"]
        assert [(r["round"]["name"], r["ready"]) for r in before] == [("brief", False)]
        assert "reviews" not in before[0] and "score" not in before[0]
    room.once(the_round_closes)
    after = room.call("GET", room.author, "reviews/received")
    mine = after.json()["rounds"][0]
    assert mine["ready"] and mine["low"] <= mine["score"] <= mine["high"]
    with room.store.session() as s:
        sub = s.scalars(select(Submission).where(Submission.author_id == room.author)).one()
        reviewers = s.execute(select(Allocation.review_code, Person)
                              .join(Person, Person.id == Allocation.reviewer_id)
                              .where(Allocation.submission_id == sub.id, ~Allocation.withdrawn)).all()
        assert (mine["score"], mine["low"], mine["high"]) == (sub.score, sub.low, sub.high)
    assert sorted(r["review_code"] for r in mine["reviews"]) == sorted(code for code, _ in reviewers)
    text = after.text
    for _, person in reviewers:
        assert f'"{person.id}"' not in text and person.name not in text and person.email not in text
    assert all(set(r) == {"review_code", "total", "items", "helpful", "flagged", "flag_reason",
                          "flag_outcome"} for r in mine["reviews"])


def test_tutor_queue_and_score(room):
    room.once(the_round_closes)
    # the author flags a review (a form in the room): the submission waits for its tutor
    session = room_login(room.url, room.author)
    page = session.get(room.page("feedback"), timeout=30)
    code = room.call("GET", room.author, "reviews/received").json()["rounds"][0]["reviews"][0]["review_code"]
    flagged = session.post(room.page(f"feedback/{code}/flag"),
                           data={"reason": "It is about me, not my brief.", "_xsrf": form_token(page.text)},
                           timeout=30)
    assert flagged.status_code == 200
    with room.store.session() as s:
        assert s.scalars(select(Flag).where(Flag.review_code == code)).one().outcome == ""
        sub = s.scalars(select(Submission).where(Submission.author_id == room.author)).one()
        tutor = s.get(TutorAssignment, s.get(Membership, room.author).group_label).tutor_id
    other = next(t for t in TUTORS if t != tutor)  # one group, one tutor

    assert room.call("GET", room.author, "reviews/queue").status_code == 404  # tutors only
    queue = room.call("GET", tutor, "reviews/queue").json()["queue"]
    entry = next(q for q in queue if q["submission_id"] == sub.id)
    assert "1 review(s) flagged by the author" in entry["reasons"] and entry["round"] == "brief"
    assert room.call("GET", other, f"reviews/submissions/{sub.id}").status_code == 404

    bad = room.call("PUT", tutor, f"reviews/submissions/{sub.id}/score", {"score": 12, "note": "x"})
    assert bad.status_code == 400 and bad.json()["fields"] == {"score": "a number from 0 to 10"}
    bare = room.call("PUT", tutor, f"reviews/submissions/{sub.id}/score", {"score": 6})
    assert bare.status_code == 400 and "note" in bare.json()["fields"]
    done = room.call("PUT", tutor, f"reviews/submissions/{sub.id}/score",
                     {"score": 6.5, "note": "Read it: sound, but no sources."})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["submission_id"], body["score"]) == (sub.id, 6.5)
    assert body["gradebook"] == "score saved (this round has no nbgrader gradebook)"
    view = room.call("GET", tutor, f"reviews/submissions/{sub.id}").json()
    assert (view["score"], view["score_source"]) == (6.5, "tutor")
    assert view["decisions"][-1]["note"] == "Read it: sound, but no sources."
    with room.store.session() as s:
        stored = s.get(Submission, sub.id)
        assert (stored.score, stored.low, stored.high, stored.score_source) == (6.5, 6.5, 6.5, "tutor")
        decision = s.scalars(select(TutorDecision).where(TutorDecision.submission_id == sub.id)).one()
        assert (decision.tutor_id, decision.score) == (tutor, 6.5)
    received = room.call("GET", room.author, "reviews/received").json()["rounds"][0]
    assert (received["score"], received["scored_by"]) == (6.5, "tutor")
