"""The course room's rules as store operations (course/cohort/reviewing.py), on SQLite and
PostgreSQL: calibration before reviewing, drafts and submissions, deadlines, feedback by review
code only, ratings and flags, the tutor's queue and score, reassigning a late reviewer's tasks."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from course.cohort import reviewing as rv
from course.cohort.db import open_store
from course.cohort.gradebook import close_and_grade
from course.cohort.models import (Allocation, AuditEntry, Membership, Person, Review,
                                  ReviewRound, Submission, TutorAssignment, utcnow)
from room_helpers import make_cohort


@pytest.fixture
def store(db_url, tmp_path):
    make_cohort(db_url, tmp_path / "cohort", calibration=2)
    opened = open_store(db_url, create=False)
    yield opened
    opened.close()


def full_review(rubric, score=2, comment="A specific comment that meets the minimum length, twice over."):
    scores = {c["id"]: score for c in rubric["criteria"]}
    return scores, {c["id"]: comment for c in rubric["criteria"]}


def tutor_of(s, person_id):
    group = s.scalar(select(Membership.group_label).where(Membership.person_id == person_id))
    return s.scalar(select(TutorAssignment.tutor_id).where(TutorAssignment.group_label == group))


def open_round(store):
    """Tutors score both calibration samples: the round opens."""
    with store.session() as s:
        rnd = s.scalar(select(ReviewRound))
        samples = rv.samples_for_tutor(s, "t01", rnd.id)
        assert rnd.state == "calibration" and len(samples) == 2
        for sample in samples:
            result = rv.score_sample(s, "t01", sample["sample_id"], full_review(rnd.rubric, 1)[0])
        assert result["round_state"] == "open"
        return rnd.id, rnd.rubric


def test_calibration_comes_first_and_shows_the_tutors_scores(store):
    with store.session() as s:
        [waiting] = rv.review_tasks(s, "p02")
        assert waiting["waiting"] and not waiting["tasks"]
        with pytest.raises(rv.NotFound):
            rv.get_task(s, "p02", s.scalar(select(Allocation.review_code).where(Allocation.reviewer_id == "p02")))
    round_id, rubric = open_round(store)
    with store.session() as s:
        [r] = rv.review_tasks(s, "p02")
        assert r["calibration"] and all(t["locked"] for t in r["tasks"])
        with pytest.raises(rv.Refused):
            rv.get_task(s, "p02", r["tasks"][0]["review_code"])
        for sample in r["calibration"]:
            view = rv.get_sample(s, "p02", sample["sample_id"])
            assert not view["answered"] and "comparison" not in view  # no peeking
            with pytest.raises(rv.Invalid):
                rv.answer_sample(s, "p02", sample["sample_id"], {})
            result = rv.answer_sample(s, "p02", sample["sample_id"], full_review(rubric, 2)[0])
            assert result["error"] == 1.0
            with pytest.raises(rv.Refused):
                rv.answer_sample(s, "p02", sample["sample_id"], full_review(rubric, 2)[0])
        [r] = rv.review_tasks(s, "p02")
        assert not r["calibration"] and not any(t["locked"] for t in r["tasks"])
        # p01 reads French only: the English samples are not theirs to score.
        [r] = rv.review_tasks(s, "p01")
        assert not r["calibration"] and r["tasks"]
        with pytest.raises(rv.NotFound):
            rv.get_sample(s, "p01", rv.samples_for_tutor(s, "t01", round_id)[0]["sample_id"])


def test_nobody_gets_their_own_text_as_a_calibration_sample(store):
    open_round(store)
    with store.session() as s:
        authors = {rv.get_sample.__name__: None}
        for sample in rv.samples_for_tutor(s, "t01", 1):
            author = s.scalar(select(Submission.author_id).join(
                rv.CalibrationSample, rv.CalibrationSample.submission_id == Submission.id)
                .where(rv.CalibrationSample.id == sample["sample_id"]))
            authors[sample["sample_id"]] = author
            with pytest.raises(rv.NotFound):
                rv.get_sample(s, author, sample["sample_id"])
            [r] = rv.review_tasks(s, author)
            assert sample["sample_id"] not in [c["sample_id"] for c in r["calibration"]]


def do_calibration(s, person_id, rubric):
    [r] = rv.review_tasks(s, person_id)
    for sample in r["calibration"]:
        rv.answer_sample(s, person_id, sample["sample_id"], full_review(rubric, 1)[0])
    return [t["review_code"] for t in rv.review_tasks(s, person_id)[0]["tasks"]]


def test_drafts_submissions_and_the_deadline(store):
    round_id, rubric = open_round(store)
    with store.session() as s:
        code, *_ = do_calibration(s, "p02", rubric)
        # A draft may be partial; a submission needs every score and a long enough comment.
        rv.save_review(s, "p02", code, {rubric["criteria"][0]["id"]: 1}, {}, submit=False)
        with pytest.raises(rv.Invalid) as err:
            rv.save_review(s, "p02", code, {rubric["criteria"][0]["id"]: 1}, {}, submit=True)
        assert f"score-{rubric['criteria'][1]['id']}" in err.value.errors
        scores, comments = full_review(rubric)
        with pytest.raises(rv.Invalid) as err:
            rv.save_review(s, "p02", code, {**scores, rubric["criteria"][0]["id"]: 7}, comments, submit=True)
        assert "choose one of 0, 1, 2" in err.value.errors[f"score-{rubric['criteria'][0]['id']}"]
        with pytest.raises(rv.Invalid):
            rv.save_review(s, "p02", code, scores, {k: "too short" for k in comments}, submit=True)
        with pytest.raises(rv.Invalid):
            rv.save_review(s, "p02", code, {**scores, "made-up": 1}, comments, submit=True)
        assert rv.save_review(s, "p02", code, scores, comments, submit=True)["total"] == 10
        assert rv.get_task(s, "p02", code)["state"] == "submitted"
        # Someone else's task is not there at all.
        with pytest.raises(rv.NotFound):
            rv.save_review(s, "p03", code, scores, comments, submit=True)
        s.get(ReviewRound, round_id).due = utcnow() - timedelta(hours=1)
    with store.session() as s:
        with pytest.raises(rv.Refused):
            rv.save_review(s, "p02", code, full_review(rubric, 0)[0], comments, submit=True)
        assert s.scalar(select(func.count()).select_from(AuditEntry)
                        .where(AuditEntry.actor == "p02", AuditEntry.action == "review.submit")) == 1


def submit_everything(store, rubric, skip=()):
    with store.session() as s:
        for pid in [p.id for p in s.scalars(select(Person).where(Person.role == "participant"))]:
            if pid in skip:
                continue
            codes = do_calibration(s, pid, rubric)
            for i, code in enumerate(codes):
                scores, comments = full_review(rubric, score=(i + len(pid)) % 3)
                rv.save_review(s, pid, code, scores, comments, submit=True)


def test_feedback_names_reviews_by_code_only_and_takes_ratings_and_flags(store):
    round_id, rubric = open_round(store)
    submit_everything(store, rubric)
    with store.session() as s:
        # The reviewer writes their own name into a comment: the author reads "[reviewer]".
        code = s.scalar(select(Allocation.review_code).join(Submission, Submission.id == Allocation.submission_id)
                        .where(Submission.author_id == "p05").order_by(Allocation.review_code).limit(1))
        reviewer = s.get(Person, s.get(Allocation, code).reviewer_id)
        first = rubric["criteria"][0]["id"]
        for item in s.scalars(select(rv.ReviewItem).where(rv.ReviewItem.review_code == code)):
            if item.criterion == first:
                item.comment = f"Signed, {reviewer.name} ({reviewer.email}, {reviewer.id})"
        assert rv.received(s, "p05")[0]["ready"] is False  # not before the round closes
    with store.session() as s:
        close_and_grade(s, "brief", None, "coord", force=True)
    with store.session() as s:
        [fb] = rv.received(s, "p05")
        assert fb["ready"] and fb["score"] is not None and fb["low"] <= fb["score"] <= fb["high"]
        text = repr(fb)
        reviewers = s.scalars(select(Person).join(Allocation, Allocation.reviewer_id == Person.id)
                              .join(Submission, Submission.id == Allocation.submission_id)
                              .where(Submission.author_id == "p05")).all()
        for person in reviewers:
            for word in [person.id, person.email, *person.name.split()]:
                assert word not in text
        assert "[reviewer]" in text
        assert [r["review_code"] for r in fb["reviews"]] == sorted(r["review_code"] for r in fb["reviews"])
        rv.rate_review(s, "p05", fb["reviews"][0]["review_code"], helpful=True)
        with pytest.raises(rv.NotFound):  # only the author rates
            rv.rate_review(s, "p06", fb["reviews"][0]["review_code"], helpful=False)
        with pytest.raises(rv.Invalid):
            rv.flag_review(s, "p05", fb["reviews"][1]["review_code"], "  ")
        rv.flag_review(s, "p05", fb["reviews"][1]["review_code"], "It insults me.")
        with pytest.raises(rv.Refused):
            rv.flag_review(s, "p05", fb["reviews"][1]["review_code"], "again")
        flagged = fb["reviews"][1]["review_code"]
        sub_id = fb["submission_id"]
        tutor = tutor_of(s, "p05")
        record = s.get(rv.ReviewerRecord, (round_id, s.get(Allocation, fb["reviews"][0]["review_code"]).reviewer_id))
        assert record.helpful == 1
    with store.session() as s:
        # The flag puts the submission in its tutor's queue, and in nobody else's.
        assert sub_id in [q["submission_id"] for q in rv.queue(s, tutor)]
        other = next(t for t in ("t01", "t02", "t03") if t != tutor and sub_id not in
                     [q["submission_id"] for q in rv.queue(s, t)])
        with pytest.raises(rv.NotFound):
            rv.submission_for_tutor(s, other, sub_id)
        with pytest.raises(rv.NotFound):
            rv.decide_flag(s, other, flagged, uphold=True)
        with pytest.raises(rv.NotFound):
            rv.queue(s, "p05")
        assert sub_id in [q["submission_id"] for q in rv.queue(s, "coord")]
        rv.decide_flag(s, tutor, flagged, uphold=True)
    with store.session() as s:
        sub = s.get(Submission, sub_id)
        assert sub.n_reviews == 2  # the upheld review no longer counts
        with pytest.raises(rv.Invalid):
            rv.set_score(s, tutor, sub_id, 11, "too high")
        with pytest.raises(rv.Invalid):
            rv.set_score(s, tutor, sub_id, 6, "")
        result = rv.set_score(s, tutor, sub_id, 6.5, "Two reviews disagreed; I read it myself.")
        assert result["points"] is None  # a CSV round has no gradebook
    with store.session() as s:
        [fb] = rv.received(s, "p05")
        assert fb["score"] == 6.5 and fb["scored_by"] == "tutor"
        assert sub_id not in [q["submission_id"] for q in rv.queue(s, tutor)]


def test_reassigning_a_late_reviewers_tasks(store):
    round_id, rubric = open_round(store)
    submit_everything(store, rubric, skip=("p07",))
    with store.session() as s:
        s.get(ReviewRound, round_id).due = utcnow() - timedelta(hours=1)
    with store.session() as s:
        with pytest.raises(rv.NotFound):
            rv.progress(s, "t01", round_id)  # the coordinator's page only
        progress = rv.progress(s, "coord", round_id)
        [late] = progress["late"]
        assert late["id"] == "p07" and progress["missing"] == late["tasks"] == late["missing"] > 0
        result = rv.reassign_late(s, "coord", round_id, "p07")
        assert len(result["moved"]) + len(result["kept"]) == late["tasks"] and result["moved"]
    with store.session() as s:
        for move in result["moved"]:
            old = s.get(Allocation, move["from"])
            assert old.withdrawn
            new = s.scalar(select(Allocation).where(Allocation.submission_id == old.submission_id,
                                                    Allocation.reviewer_id == move["to"]))
            sub = s.get(Submission, old.submission_id)
            assert new.reassigned_from == "p07" and move["to"] != sub.author_id
            assert sub.language in s.get(Person, move["to"]).languages.split(";")
        left = [t["review_code"] for r in rv.review_tasks(s, "p07") for t in r["tasks"]]
        assert left == result["kept"]
        with pytest.raises(rv.NotFound):
            rv.get_task(s, "p07", result["moved"][0]["from"])
        still_late = [r["id"] for r in rv.progress(s, "coord", round_id)["late"]]
        assert ("p07" in still_late) == bool(result["kept"])


def test_withdrawn_people_and_strangers_see_nothing(store):
    open_round(store)
    with store.session() as s:
        s.get(Person, "p08").active = False
    with store.session() as s:
        assert rv.person(s, "p08") is None and rv.person(s, "nobody") is None
        with pytest.raises(rv.NotFound):
            rv.tutor_groups(s, "p01")
        review = s.scalar(select(Review))
        assert review is None  # nothing submitted by the failed attempts above


def test_a_round_waiting_for_calibration_cannot_close_and_a_flag_is_decided_once(store):
    from course.cohort.db import StoreError

    with store.session() as s:
        with pytest.raises(StoreError, match="calibration samples"):
            close_and_grade(s, "brief", None, "coord", force=True)
    round_id, rubric = open_round(store)
    submit_everything(store, rubric)
    with store.session() as s:
        close_and_grade(s, "brief", None, "coord", force=True)
    with store.session() as s:
        [fb] = rv.received(s, "p03")
        code = fb["reviews"][0]["review_code"]
        rv.flag_review(s, "p03", code, "Rude.")
    with store.session() as s:
        rv.decide_flag(s, "coord", code, uphold=False)
    with store.session() as s:
        with pytest.raises(rv.Refused, match="dismissed already"):
            rv.decide_flag(s, "coord", code, uphold=True)


def test_author_names_leave_the_texts_reviewers_read_with_or_without_accents(store):
    from course.grading.written import anonymise

    assert anonymise("ETIENNE TREMBLAY wrote this; etienne@x.org", "Étienne Tremblay", "p16",
                     "etienne@x.org") == "[author] wrote this; [author]"


def test_opening_a_store_that_was_never_initialised_creates_nothing(tmp_path):
    from course.cohort.db import StoreError

    path = tmp_path / "state" / "cohort.sqlite"
    with pytest.raises(StoreError, match="run `igcb cohort init` first"):
        open_store(f"sqlite:///{path}", create=False)
    assert not path.exists()  # the room and every command refuse without leaving a file
