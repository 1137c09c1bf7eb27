"""The room's JSON API (README: "The course room's API"): the same rules as the pages."""

from __future__ import annotations

from course.cohort import reviewing
from course.room.base import ApiHandler


class Me(ApiHandler):
    def get(self):
        me = self.me
        with self.transaction() as s:
            group = reviewing.my_group(s, me.id)
            turns = reviewing.my_turns(s, me.id)
        self.send({"id": me.id, "name": me.name, "role": me.role, "group": group, "turns": turns})


class Tasks(ApiHandler):
    def get(self):
        with self.transaction() as s:
            answer = {"rounds": reviewing.review_tasks(s, self.me.id)}
        self.send(answer)


class Task(ApiHandler):
    def get(self, code):
        with self.transaction() as s:
            answer = reviewing.get_task(s, self.me.id, code)
        self.send(answer)

    def put(self, code):
        data = self.body()
        items = data.get("items") or {}
        if not isinstance(items, dict) or not all(isinstance(v, dict) for v in items.values()):
            return self.send({"error": "items: an object of criterion -> {score, comment}", "status": 400}, 400)
        scores = {k: v.get("score") for k, v in items.items()}
        comments = {k: v.get("comment", "") for k, v in items.items()}
        submit = data.get("state", "draft") == "submitted"
        with self.transaction() as s:
            result = reviewing.save_review(s, self.me.id, code, scores, comments, submit)
        self.send(result)


class Sample(ApiHandler):
    def get(self, sample_id):
        with self.transaction() as s:
            answer = reviewing.get_sample(s, self.me.id, int(sample_id))
        self.send(answer)

    def put(self, sample_id):
        scores = self.body().get("scores") or {}
        if not isinstance(scores, dict):
            return self.send({"error": "scores: an object of criterion -> score", "status": 400}, 400)
        with self.transaction() as s:
            answer = reviewing.answer_sample(s, self.me.id, int(sample_id), scores)
        self.send(answer)


class Received(ApiHandler):
    def get(self):
        with self.transaction() as s:
            answer = {"rounds": reviewing.received(s, self.me.id)}
        self.send(answer)


class Queue(ApiHandler):
    def get(self):
        with self.transaction() as s:
            answer = {"queue": reviewing.queue(s, self.me.id)}
        self.send(answer)


class Submission(ApiHandler):
    def get(self, submission_id):
        with self.transaction() as s:
            answer = reviewing.submission_for_tutor(s, self.me.id, int(submission_id))
        self.send(answer)


class Score(ApiHandler):
    def put(self, submission_id):
        data = self.body()
        with self.transaction() as s:
            result = reviewing.set_score(s, self.me.id, int(submission_id), data.get("score"),
                                         str(data.get("note") or ""))
        result["gradebook"] = self.room.sync_gradebook(result)
        self.send(result)


HANDLERS = [
    (r"api/me", Me),
    (r"api/reviews/tasks", Tasks),
    (r"api/reviews/tasks/([A-Za-z0-9-]{1,20})", Task),
    (r"api/reviews/calibration/(\d{1,9})", Sample),
    (r"api/reviews/received", Received),
    (r"api/reviews/queue", Queue),
    (r"api/reviews/submissions/(\d{1,9})", Submission),
    (r"api/reviews/submissions/(\d{1,9})/score", Score),
]
