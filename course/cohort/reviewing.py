"""What people do in the course room, as store operations: every access rule lives here.

Each function takes the session and the acting person's id, checks what that person may see
or change, and returns plain data (dicts and lists) for the room to render or send as JSON.
Anything not theirs is `NotFound`, the same answer as for something that does not exist, so
that probing ids tells nobody anything. Reviewers appear to authors only as review codes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from course.cohort.db import audit
from course.cohort.models import (Allocation, CalibrationAnswer, CalibrationSample, Flag,
                                  Membership, Person, Rating, Review, ReviewerRecord,
                                  ReviewItem, ReviewRound, RotaEntry, StudyGroup, Submission,
                                  TutorAssignment, TutorDecision, utcnow)
from course.cohort.rounds import aggregate_round, duration, refresh_reviewer_records, to_cell_points
from course.grading.written import rubric_scale
from course.redact import redact_person
from peer_review.allocation import new_review_codes
from peer_review.roster import org_keys

MAX_COMMENT = 5000
MAX_NOTE = 2000


class NotFound(Exception):
    """Nothing of that id that this person may see."""


class Refused(Exception):
    """The change is not allowed now (e.g. the round is closed); the message says why."""


class Invalid(Exception):
    """A form with problems: `errors` maps each field to what is wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# --- people ---------------------------------------------------------------------------------

def person(session: Session, person_id: str) -> Person | None:
    found = session.get(Person, person_id)
    return found if found is not None and found.active else None


def _group_of(session: Session, person_id: str) -> str | None:
    return session.scalar(select(Membership.group_label).where(Membership.person_id == person_id))


def _tutored_groups(session: Session, tutor_id: str) -> list[str]:
    return list(session.scalars(select(TutorAssignment.group_label)
                                .where(TutorAssignment.tutor_id == tutor_id)
                                .order_by(TutorAssignment.group_label)))


def _member_view(p: Person) -> dict:
    return {"id": p.id, "name": p.name, "stakeholder_group": p.stakeholder_group,
            "country": p.country, "email": p.email if p.share_email else ""}


def my_group(session: Session, person_id: str) -> dict | None:
    """The person's study group: members (e-mails of those who opted in), tutor, language."""
    label = _group_of(session, person_id)
    if label is None:
        return None
    members = session.scalars(select(Person).join(Membership, Membership.person_id == Person.id)
                              .where(Membership.group_label == label, Person.active)
                              .order_by(Person.name)).all()
    tutor = session.scalar(select(Person).join(TutorAssignment, TutorAssignment.tutor_id == Person.id)
                           .where(TutorAssignment.group_label == label))
    group = session.get(StudyGroup, label)
    return {"label": label, "language": group.language if group else "",
            "members": [_member_view(m) for m in members],
            "tutor": {"id": tutor.id, "name": tutor.name, "email": tutor.email} if tutor else None}


def my_turns(session: Session, person_id: str) -> list[dict]:
    """Sessions the person facilitates or co-facilitates, in order."""
    rows = session.scalars(select(RotaEntry).where(
        (RotaEntry.facilitator_id == person_id) | (RotaEntry.co_facilitator_id == person_id))).all()
    turns = [{"session": r.session, "group": r.group_label,
              "role": "facilitator" if r.facilitator_id == person_id else "co-facilitator"}
             for r in rows]
    return sorted(turns, key=lambda t: _session_key(t["session"]))


def facilitators(session: Session, group_label: str) -> dict[str, dict]:
    """session label -> {facilitator, co_facilitator} names for one group."""
    names = dict(session.execute(select(Person.id, Person.name)).all())
    out = {}
    for r in session.scalars(select(RotaEntry).where(RotaEntry.group_label == group_label)):
        out[r.session] = {"facilitator": names.get(r.facilitator_id, r.facilitator_id),
                          "facilitator_id": r.facilitator_id,
                          "co_facilitator": names.get(r.co_facilitator_id, "") if r.co_facilitator_id else ""}
    return out


def _session_key(label: str):
    return (0, int(label), "") if str(label).isascii() and str(label).isdigit() else (1, 0, str(label))


def tutor_groups(session: Session, tutor_id: str) -> list[dict]:
    """The groups a tutor follows, with their members (coordinator: every group)."""
    me = _require_staff(session, tutor_id)
    if me.role == "coordinator":
        labels = list(session.scalars(select(StudyGroup.label)))
    else:
        labels = _tutored_groups(session, tutor_id)
    out = []
    for label in sorted(labels, key=_session_key):
        members = session.scalars(select(Person).join(Membership, Membership.person_id == Person.id)
                                  .where(Membership.group_label == label).order_by(Person.name)).all()
        out.append({"label": label, "members": [{**_member_view(m), "email": m.email} for m in members]})
    return out


def _require_staff(session: Session, person_id: str) -> Person:
    me = person(session, person_id)
    if me is None or me.role not in ("tutor", "coordinator"):
        raise NotFound("no such page")
    return me


def require_coordinator(session: Session, person_id: str) -> Person:
    me = person(session, person_id)
    if me is None or me.role != "coordinator":
        raise NotFound("no such page")
    return me


# --- rounds and tasks -----------------------------------------------------------------------

def _round(session: Session, round_id: int) -> ReviewRound:
    found = session.get(ReviewRound, round_id)
    if found is None:
        raise NotFound("no such round")
    return found


def max_points(rubric: dict) -> float:
    return rubric_scale(rubric)[1]


def _pending_samples(session: Session, rnd: ReviewRound, person_id: str) -> list[CalibrationSample]:
    """Calibration samples this reviewer still has to score (never their own text)."""
    # One query, not three: it runs on every request about a task (see bench/room.py).
    answered = select(CalibrationAnswer.sample_id).where(CalibrationAnswer.reviewer_id == person_id)
    own = select(Submission.id).where(Submission.round_id == rnd.id, Submission.author_id == person_id)
    reads = (session.scalar(select(Person.languages).where(Person.id == person_id)) or "").split(";")
    return list(session.scalars(select(CalibrationSample).where(
        CalibrationSample.round_id == rnd.id, CalibrationSample.id.not_in(answered),
        CalibrationSample.language.in_(reads),  # only texts in a language the reviewer reads
        CalibrationSample.submission_id.is_(None) | CalibrationSample.submission_id.not_in(own))
        .order_by(CalibrationSample.id)))


def review_tasks(session: Session, person_id: str, now: datetime | None = None) -> list[dict]:
    """Per round with tasks for this person: calibration still to do, then the review tasks."""
    now = now or utcnow()
    allocations = session.scalars(select(Allocation).where(Allocation.reviewer_id == person_id,
                                                           ~Allocation.withdrawn)
                                  .order_by(Allocation.round_id, Allocation.review_code)).all()
    by_round: dict[int, list[Allocation]] = defaultdict(list)
    for a in allocations:
        by_round[a.round_id].append(a)
    out = []
    for round_id, tasks in by_round.items():
        rnd = session.get(ReviewRound, round_id)
        if rnd.state == "calibration":
            out.append({"round": _round_view(rnd, now), "waiting": True, "calibration": [], "tasks": []})
            continue
        pending = _pending_samples(session, rnd, person_id) if rnd.state == "open" else []
        states = dict(session.execute(select(Review.review_code, Review.state)
                                      .where(Review.review_code.in_([t.review_code for t in tasks]))).all())
        out.append({
            "round": _round_view(rnd, now),
            "waiting": False,
            "calibration": [{"sample_id": s.id, "number": i + 1} for i, s in enumerate(pending)],
            "tasks": [{"review_code": t.review_code, "state": states.get(t.review_code, "not started"),
                       "locked": bool(pending)} for t in tasks],
        })
    return out


def _round_view(rnd: ReviewRound, now: datetime) -> dict:
    return {"id": rnd.id, "name": rnd.name, "state": rnd.state,
            "due": rnd.due.isoformat(sep=" ", timespec="minutes") if rnd.due else None,
            "past_due": bool(rnd.due and now > rnd.due), "max_points": max_points(rnd.rubric)}


def _task(session: Session, person_id: str, code: str) -> tuple[Allocation, ReviewRound]:
    allocation = session.get(Allocation, code)
    if allocation is None or allocation.reviewer_id != person_id or allocation.withdrawn:
        raise NotFound("no such review task")
    rnd = session.get(ReviewRound, allocation.round_id)
    if rnd.state == "calibration":
        raise NotFound("no such review task")
    return allocation, rnd


def _items(session: Session, code: str) -> dict[str, dict]:
    return {i.criterion: {"score": i.score, "comment": i.comment}
            for i in session.scalars(select(ReviewItem).where(ReviewItem.review_code == code))}


def get_task(session: Session, person_id: str, code: str, now: datetime | None = None) -> dict:
    """One review task: the anonymised text, the rubric and the review so far."""
    now = now or utcnow()
    allocation, rnd = _task(session, person_id, code)
    if rnd.state == "open" and _pending_samples(session, rnd, person_id):
        raise Refused("score the calibration samples first")
    submission = session.get(Submission, allocation.submission_id)
    review = session.get(Review, code)
    return {"review_code": code, "round": _round_view(rnd, now), "rubric": rnd.rubric,
            "text": submission.text, "language": submission.language,
            "state": review.state if review else "not started",
            "items": _items(session, code),
            "editable": _editable(rnd, review, now)}


def _editable(rnd: ReviewRound, review: Review | None, now: datetime) -> bool:
    if rnd.state != "open":
        return False
    if review is not None and review.state == "submitted":
        return rnd.due is None or now <= rnd.due
    return True  # a task not yet submitted may still be done late while the round is open


def check_scores(rubric: dict, scores: dict, comments: dict | None, complete: bool) -> dict:
    """Validated {criterion: (score or None, comment)}; raises Invalid naming each field."""
    errors: dict[str, str] = {}
    out = {}
    minimum = int(rubric.get("min_comment", 0))
    known = {c["id"] for c in rubric["criteria"]}
    for field in set(scores) | set(comments or {}):
        if field not in known:
            errors[field] = "not a criterion of this rubric"
    for criterion in rubric["criteria"]:
        cid = criterion["id"]
        allowed = sorted({float(level["points"]) for level in criterion["levels"]})
        raw = scores.get(cid)
        value = None
        if raw is not None and str(raw).strip() != "":
            try:
                value = float(raw)
            except (TypeError, ValueError, OverflowError):  # e.g. 10 ** 400 from JSON
                value = None
            if value is None or value not in allowed:
                errors[f"score-{cid}"] = f"choose one of {', '.join(f'{p:g}' for p in allowed)}"
                value = None
        elif complete:
            errors[f"score-{cid}"] = "a score is required"
        comment = str((comments or {}).get(cid) or "").strip()
        if len(comment) > MAX_COMMENT:
            errors[f"comment-{cid}"] = f"at most {MAX_COMMENT} characters"
        elif complete and len(comment) < minimum:
            errors[f"comment-{cid}"] = f"at least {minimum} characters ({len(comment)} so far)"
        out[cid] = (value, comment)
    if errors:
        raise Invalid(errors)
    return out


def save_review(session: Session, person_id: str, code: str, scores: dict, comments: dict,
                submit: bool, now: datetime | None = None) -> dict:
    """Save a draft (partial is fine) or submit (every score and comment required)."""
    now = now or utcnow()
    allocation, rnd = _task(session, person_id, code)
    if rnd.state != "open":
        raise Refused(f"round {rnd.name!r} is {rnd.state}: reviews can no longer change")
    if _pending_samples(session, rnd, person_id):
        raise Refused("score the calibration samples first")
    review = session.get(Review, code)
    if not _editable(rnd, review, now):
        raise Refused("the deadline has passed: a submitted review can no longer be edited")
    if review is not None and review.state == "submitted" and not submit:
        raise Refused("this review is submitted: submit it again to change it")
    checked = check_scores(rnd.rubric, scores, comments, complete=submit)
    created = review is None
    if created:
        review = Review(review_code=code)
        session.add(review)
    review.state = "submitted" if submit else "draft"
    review.updated_at = now
    if submit:
        review.submitted_at = now
    scored = [v for v, _ in checked.values() if v is not None]
    review.total = float(sum(scored)) if len(scored) == len(checked) else None
    session.flush()
    existing = {} if created else {i.criterion: i for i in session.scalars(
        select(ReviewItem).where(ReviewItem.review_code == code))}
    for cid, (value, comment) in checked.items():
        item = existing.get(cid) or ReviewItem(review_code=code, criterion=cid)
        item.score, item.comment = value, comment
        session.add(item)
    audit(session, person_id, "review.submit" if submit else "review.draft", code, total=review.total)
    return {"review_code": code, "state": review.state, "total": review.total}


# --- calibration ----------------------------------------------------------------------------

def _sample_for_reviewer(session: Session, person_id: str, sample_id: int) -> tuple[CalibrationSample, ReviewRound]:
    sample = session.get(CalibrationSample, sample_id)
    if sample is None:
        raise NotFound("no such sample")
    rnd = session.get(ReviewRound, sample.round_id)
    mine = session.scalar(select(func.count()).select_from(Allocation).where(
        Allocation.round_id == rnd.id, Allocation.reviewer_id == person_id, ~Allocation.withdrawn))
    own = sample.submission_id is not None and session.scalar(
        select(Submission.author_id).where(Submission.id == sample.submission_id)) == person_id
    reads = session.get(Person, person_id).languages.split(";")
    if not mine or own or rnd.state == "calibration" or sample.language not in reads:
        raise NotFound("no such sample")
    return sample, rnd


def get_sample(session: Session, person_id: str, sample_id: int) -> dict:
    """A calibration sample for a reviewer; the tutor's scores only once they have answered."""
    sample, rnd = _sample_for_reviewer(session, person_id, sample_id)
    answer = session.get(CalibrationAnswer, (sample_id, person_id))
    view = {"sample_id": sample.id, "round": _round_view(rnd, utcnow()), "rubric": rnd.rubric,
            "text": sample.text, "answered": answer is not None}
    if answer is not None:
        view.update(_comparison(rnd.rubric, answer.scores, sample.tutor_scores or {}))
    return view


def _comparison(rubric: dict, mine: dict, tutor: dict) -> dict:
    rows = []
    for c in rubric["criteria"]:
        a, b = mine.get(c["id"]), tutor.get(c["id"])
        rows.append({"criterion": c["title"], "id": c["id"], "yours": a, "tutor": b,
                     "off_by": abs(a - b) if a is not None and b is not None else None})
    offs = [r["off_by"] for r in rows if r["off_by"] is not None]
    return {"comparison": rows, "error": sum(offs) / len(offs) if offs else None}


def answer_sample(session: Session, person_id: str, sample_id: int, scores: dict) -> dict:
    """Score a calibration sample once; returns how far from the tutor each score was."""
    sample, rnd = _sample_for_reviewer(session, person_id, sample_id)
    if rnd.state != "open":
        raise Refused(f"round {rnd.name!r} is {rnd.state}")
    if session.get(CalibrationAnswer, (sample_id, person_id)) is not None:
        raise Refused("you have scored this sample already")
    checked = check_scores({**rnd.rubric, "min_comment": 0}, scores, None, complete=True)
    given = {cid: value for cid, (value, _) in checked.items()}
    result = _comparison(rnd.rubric, given, sample.tutor_scores or {})
    session.add(CalibrationAnswer(sample_id=sample_id, reviewer_id=person_id, scores=given,
                                  error=result["error"] or 0.0))
    audit(session, person_id, "calibration.answer", str(sample_id), error=result["error"])
    return result


def samples_for_tutor(session: Session, tutor_id: str, round_id: int) -> list[dict]:
    _require_staff(session, tutor_id)
    rnd = _round(session, round_id)
    return [{"sample_id": s.id, "text": s.text, "tutor_scores": s.tutor_scores,
             "scored": s.tutor_scores is not None}
            for s in session.scalars(select(CalibrationSample).where(CalibrationSample.round_id == rnd.id)
                                     .order_by(CalibrationSample.id))]


def round_info(session: Session, staff_id: str, round_id: int) -> dict:
    """A round's name, state and rubric, for tutors and the coordinator."""
    _require_staff(session, staff_id)
    rnd = _round(session, round_id)
    return {**_round_view(rnd, utcnow()), "rubric": rnd.rubric}


def score_sample(session: Session, tutor_id: str, sample_id: int, scores: dict,
                 round_id: int | None = None) -> dict:
    """A tutor scores a calibration sample; the round opens once every sample is scored."""
    _require_staff(session, tutor_id)
    sample = session.get(CalibrationSample, sample_id)
    if sample is None or (round_id is not None and sample.round_id != round_id):
        raise NotFound("no such sample")
    rnd = session.get(ReviewRound, sample.round_id)
    if rnd.state == "closed":
        raise Refused(f"round {rnd.name!r} is closed")
    if rnd.state == "open" and sample.tutor_scores is not None:
        raise Refused("reviewers are already comparing against this score: it can no longer change")
    checked = check_scores({**rnd.rubric, "min_comment": 0}, scores, None, complete=True)
    sample.tutor_scores = {cid: value for cid, (value, _) in checked.items()}
    sample.scored_by, sample.scored_at = tutor_id, utcnow()
    audit(session, tutor_id, "calibration.score", str(sample_id), scores=sample.tutor_scores)
    session.flush()
    unscored = session.scalar(select(func.count()).select_from(CalibrationSample).where(
        CalibrationSample.round_id == rnd.id, CalibrationSample.tutor_scores.is_(None)))
    if rnd.state == "calibration" and not unscored:
        rnd.state = "open"
        audit(session, tutor_id, "round.open", rnd.name, reason="every calibration sample scored")
    return {"round_state": rnd.state, "unscored": unscored}


# --- feedback to authors --------------------------------------------------------------------

def _redact(text: str, reviewer: Person | None) -> str:
    """Take a reviewer's name, id and e-mail out of what an author reads."""
    if reviewer is None:
        return text
    return redact_person(text, reviewer.name, reviewer.id, reviewer.email, "[reviewer]")


def received(session: Session, person_id: str) -> list[dict]:
    """The person's feedback, per closed round: score, interval and reviews by code only."""
    out = []
    subs = session.scalars(select(Submission).where(Submission.author_id == person_id)
                           .order_by(Submission.round_id)).all()
    for sub in subs:
        rnd = session.get(ReviewRound, sub.round_id)
        if rnd.state != "closed":
            out.append({"round": {"id": rnd.id, "name": rnd.name, "state": rnd.state},
                        "submission_id": sub.id, "ready": False})
            continue
        out.append({"round": {"id": rnd.id, "name": rnd.name, "state": rnd.state,
                              "max_points": max_points(rnd.rubric)},
                    "submission_id": sub.id, "ready": True,
                    "score": sub.score, "low": sub.low, "high": sub.high,
                    "scored_by": "tutor" if sub.score_source == "tutor" else "peers",
                    "reviews": _reviews_of(session, sub, rnd, for_author=True)})
    return out


def _reviews_of(session: Session, sub: Submission, rnd: ReviewRound, for_author: bool) -> list[dict]:
    rows = session.execute(select(Allocation, Review).join(Review, Review.review_code == Allocation.review_code)
                           .where(Allocation.submission_id == sub.id, Review.state == "submitted")
                           .order_by(Allocation.review_code)).all()
    titles = {c["id"]: c["title"] for c in rnd.rubric["criteria"]}
    order = {cid: n for n, cid in enumerate(titles)}  # items in the rubric's order
    out = []
    for allocation, review in rows:
        reviewer = session.get(Person, allocation.reviewer_id) if for_author else None
        items = _items(session, review.review_code)
        rating = session.get(Rating, review.review_code)
        flag = session.scalar(select(Flag).where(Flag.review_code == review.review_code))
        view = {"review_code": review.review_code, "total": review.total,
                "items": [{"criterion": titles.get(cid, cid), "id": cid, "score": item["score"],
                           "comment": _redact(item["comment"], reviewer) if for_author else item["comment"]}
                          for cid, item in sorted(items.items(), key=lambda kv: order.get(kv[0], len(order)))],
                "helpful": rating.helpful if rating else None,
                "flagged": flag is not None, "flag_reason": flag.reason if flag else "",
                "flag_outcome": flag.outcome if flag else ""}
        if not for_author:
            record = session.get(ReviewerRecord, (rnd.id, allocation.reviewer_id))
            view["reviewer_distrusted"] = bool(record and record.distrusted)
            view["reviewer_note"] = record.reason if record else ""
        out.append(view)
    return out


def _own_review(session: Session, person_id: str, code: str) -> tuple[Review, Submission, ReviewRound]:
    allocation = session.get(Allocation, code)
    review = session.get(Review, code)
    if allocation is None or review is None or review.state != "submitted":
        raise NotFound("no such review")
    sub = session.get(Submission, allocation.submission_id)
    rnd = session.get(ReviewRound, sub.round_id)
    if sub.author_id != person_id or rnd.state != "closed":
        raise NotFound("no such review")
    return review, sub, rnd


def rate_review(session: Session, person_id: str, code: str, helpful: bool) -> dict:
    """The author says whether a review helped; it goes into the reviewer's record."""
    _, sub, rnd = _own_review(session, person_id, code)
    rating = session.get(Rating, code) or Rating(review_code=code, helpful=helpful)
    rating.helpful, rating.at = helpful, utcnow()
    session.add(rating)
    audit(session, person_id, "review.rate", code, helpful=helpful)
    session.flush()
    reviewer = session.get(Allocation, code).reviewer_id
    record = session.get(ReviewerRecord, (rnd.id, reviewer))
    if record is not None:  # the reviewer's record counts the ratings their reviews received
        counts = dict(session.execute(
            select(Rating.helpful, func.count()).join(Allocation, Allocation.review_code == Rating.review_code)
            .where(Allocation.round_id == rnd.id, Allocation.reviewer_id == reviewer)
            .group_by(Rating.helpful)).all())
        record.helpful, record.unhelpful = counts.get(True, 0), counts.get(False, 0)
    return {"review_code": code, "helpful": helpful}


def flag_review(session: Session, person_id: str, code: str, reason: str) -> dict:
    """The author flags a review as inappropriate: it goes to their tutor's queue."""
    _, sub, rnd = _own_review(session, person_id, code)
    reason = (reason or "").strip()
    if not reason:
        raise Invalid({"reason": "say briefly what is inappropriate"})
    if len(reason) > MAX_NOTE:
        raise Invalid({"reason": f"at most {MAX_NOTE} characters"})
    if session.scalar(select(Flag).where(Flag.review_code == code)) is not None:
        raise Refused("you have flagged this review already")
    session.add(Flag(review_code=code, reason=reason))
    audit(session, person_id, "review.flag", code)
    return {"review_code": code, "flagged": True}


# --- tutors ---------------------------------------------------------------------------------

def _may_tutor(session: Session, tutor: Person, author_id: str) -> bool:
    if tutor.role == "coordinator":
        return True
    group = _group_of(session, author_id)
    return group is not None and group in _tutored_groups(session, tutor.id)


def _pending_flags(session: Session, submission_id: int) -> list[Flag]:
    return list(session.scalars(select(Flag).join(Allocation, Allocation.review_code == Flag.review_code)
                                .where(Allocation.submission_id == submission_id, Flag.outcome == "")))


def queue(session: Session, tutor_id: str) -> list[dict]:
    """Submissions waiting for a tutor: flagged by the model or by their author, undecided."""
    me = _require_staff(session, tutor_id)
    decided = set(session.scalars(select(TutorDecision.submission_id)))
    out = []
    rounds = {r.id: r for r in session.scalars(select(ReviewRound).where(ReviewRound.state == "closed"))}
    for sub in session.scalars(select(Submission).where(Submission.round_id.in_(rounds)).order_by(Submission.id)):
        pending = _pending_flags(session, sub.id)
        reasons = [r for r in sub.flags.split("; ") if r] if sub.id not in decided else []
        if pending:
            reasons.append(f"{len(pending)} review(s) flagged by the author")
        if not reasons or not _may_tutor(session, me, sub.author_id):
            continue
        rnd = rounds[sub.round_id]
        out.append({"submission_id": sub.id, "round": rnd.name, "score": sub.score,
                    "low": sub.low, "high": sub.high, "n_reviews": sub.n_reviews,
                    "max_points": max_points(rnd.rubric), "reasons": reasons})
    return out


def submission_for_tutor(session: Session, tutor_id: str, submission_id: int) -> dict:
    me = _require_staff(session, tutor_id)
    sub = session.get(Submission, submission_id)
    if sub is None or not _may_tutor(session, me, sub.author_id):
        raise NotFound("no such submission")
    rnd = session.get(ReviewRound, sub.round_id)
    decisions = session.scalars(select(TutorDecision).where(TutorDecision.submission_id == sub.id)
                                .order_by(TutorDecision.id)).all()
    names = dict(session.execute(select(Person.id, Person.name)).all())
    return {"submission_id": sub.id, "round": {"id": rnd.id, "name": rnd.name, "state": rnd.state},
            "author": {"id": sub.author_id, "name": names.get(sub.author_id, "")},
            "text": sub.text, "score": sub.score, "low": sub.low, "high": sub.high,
            "flags": [r for r in sub.flags.split("; ") if r], "score_source": sub.score_source,
            "max_points": max_points(rnd.rubric),
            "reviews": _reviews_of(session, sub, rnd, for_author=False),
            "decisions": [{"tutor": names.get(d.tutor_id, d.tutor_id), "score": d.score,
                           "note": d.note, "at": d.at.isoformat(sep=" ", timespec="minutes")} for d in decisions]}


def set_score(session: Session, tutor_id: str, submission_id: int, score, note: str) -> dict:
    """A tutor's score overrides the peers'; returns what the gradebook must show."""
    me = _require_staff(session, tutor_id)
    sub = session.get(Submission, submission_id)
    if sub is None or not _may_tutor(session, me, sub.author_id):
        raise NotFound("no such submission")
    rnd = session.get(ReviewRound, sub.round_id)
    top = max_points(rnd.rubric)
    try:
        value = float(score)
    except (TypeError, ValueError, OverflowError):
        raise Invalid({"score": f"a number from 0 to {top:g}"}) from None
    if not 0 <= value <= top:
        raise Invalid({"score": f"a number from 0 to {top:g}"})
    note = (note or "").strip()
    if not note:
        raise Invalid({"note": "say why, for the author and the record"})
    if len(note) > MAX_NOTE:
        raise Invalid({"note": f"at most {MAX_NOTE} characters"})
    session.add(TutorDecision(submission_id=sub.id, tutor_id=tutor_id, score=value, note=note))
    sub.score = sub.low = sub.high = value
    sub.score_source = "tutor"
    audit(session, tutor_id, "submission.score", str(sub.id), score=value, note=note)
    return {"submission_id": sub.id, "score": value, "round": rnd.name,
            "author_id": sub.author_id,
            "points": to_cell_points(rnd, value) if rnd.points is not None else None}


def flagged_submission(session: Session, code: str) -> int:
    allocation = session.get(Allocation, code)
    if allocation is None:
        raise NotFound("no such review")
    return allocation.submission_id


def decide_flag(session: Session, tutor_id: str, code: str, uphold: bool) -> dict:
    """Uphold a flag (the review leaves the aggregation) or dismiss it."""
    me = _require_staff(session, tutor_id)
    flag = session.scalar(select(Flag).where(Flag.review_code == code))
    if flag is None:
        raise NotFound("no such flag")
    allocation = session.get(Allocation, code)
    sub = session.get(Submission, allocation.submission_id)
    if not _may_tutor(session, me, sub.author_id):
        raise NotFound("no such flag")
    if flag.outcome:
        raise Refused(f"this flag was {flag.outcome} already")
    flag.outcome = "upheld" if uphold else "dismissed"
    flag.decided_by = tutor_id
    audit(session, tutor_id, "flag.uphold" if uphold else "flag.dismiss", code)
    session.flush()
    rnd = session.get(ReviewRound, sub.round_id)
    if uphold:
        aggregate_round(session, rnd)
    refresh_reviewer_records(session, rnd)
    return {"review_code": code, "outcome": flag.outcome}


# --- coordinator ----------------------------------------------------------------------------

def rounds(session: Session, person_id: str) -> list[dict]:
    _require_staff(session, person_id)
    now = utcnow()
    return [_round_view(r, now) for r in session.scalars(select(ReviewRound).order_by(ReviewRound.id))]


def progress(session: Session, coordinator_id: str, round_id: int, now: datetime | None = None) -> dict:
    """Tasks done, drafts and missing per reviewer; who is late; time left."""
    require_coordinator(session, coordinator_id)
    now = now or utcnow()
    rnd = _round(session, round_id)
    rows = session.execute(select(Allocation, Review.state).outerjoin(Review, Review.review_code == Allocation.review_code)
                           .where(Allocation.round_id == rnd.id, ~Allocation.withdrawn)).all()
    per: dict[str, dict] = {}
    for allocation, state in rows:
        p = per.setdefault(allocation.reviewer_id, {"tasks": 0, "submitted": 0, "drafts": 0})
        p["tasks"] += 1
        p["submitted"] += state == "submitted"
        p["drafts"] += state == "draft"
    samples = session.scalar(select(func.count()).select_from(CalibrationSample)
                             .where(CalibrationSample.round_id == rnd.id))
    answered = dict(session.execute(select(CalibrationAnswer.reviewer_id, func.count())
                                    .join(CalibrationSample, CalibrationSample.id == CalibrationAnswer.sample_id)
                                    .where(CalibrationSample.round_id == rnd.id)
                                    .group_by(CalibrationAnswer.reviewer_id)).all())
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(per)))}
    reviewers = []
    for rid in sorted(per):
        p = per[rid]
        missing = p["tasks"] - p["submitted"]
        reviewers.append({"id": rid, "name": people[rid].name, "email": people[rid].email,
                          **p, "missing": missing, "calibration_done": answered.get(rid, 0),
                          "late": bool(missing and rnd.due and now > rnd.due)})
    total = sum(p["tasks"] for p in per.values())
    done = sum(p["submitted"] for p in per.values())
    left = (rnd.due - now) if rnd.due else None
    return {"round": _round_view(rnd, now), "tasks": total, "submitted": done,
            "drafts": sum(p["drafts"] for p in per.values()), "missing": total - done,
            "calibration_samples": samples,
            "time_left": (duration(left) if left > timedelta(0) else "past the deadline")
                         if left is not None else None,
            "grace_ends": (rnd.due + timedelta(hours=rnd.grace_hours)).isoformat(sep=" ", timespec="minutes") if rnd.due else None,
            "reviewers": reviewers, "late": [r for r in reviewers if r["late"]]}


def reassign_late(session: Session, coordinator_id: str, round_id: int, reviewer_id: str) -> dict:
    """Give a late reviewer's unsubmitted tasks to people who have finished theirs."""
    require_coordinator(session, coordinator_id)
    rnd = _round(session, round_id)
    if rnd.state != "open":
        raise Refused(f"round {rnd.name!r} is {rnd.state}")
    tasks = session.execute(select(Allocation).outerjoin(Review, Review.review_code == Allocation.review_code)
                            .where(Allocation.round_id == rnd.id, Allocation.reviewer_id == reviewer_id,
                                   ~Allocation.withdrawn,
                                   (Review.state.is_(None)) | (Review.state != "submitted"))).scalars().all()
    if not tasks:
        raise NotFound("that reviewer has no unfinished tasks in this round")
    rows = session.execute(select(Allocation, Review.state).outerjoin(Review, Review.review_code == Allocation.review_code)
                           .where(Allocation.round_id == rnd.id, ~Allocation.withdrawn)).all()
    load: dict[str, int] = defaultdict(int)
    unfinished: set[str] = set()
    reviewing: dict[int, set[str]] = defaultdict(set)
    for allocation, state in rows:
        load[allocation.reviewer_id] += 1
        reviewing[allocation.submission_id].add(allocation.reviewer_id)
        if state != "submitted":
            unfinished.add(allocation.reviewer_id)
    finished = [rid for rid in load if rid not in unfinished]
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(finished + [reviewer_id]), Person.active))}
    frame = pd.DataFrame([{"id": p.id, "organisation": p.organisation, "email": p.email} for p in people.values()]) \
        if people else pd.DataFrame(columns=["id", "organisation", "email"])
    orgs = dict(zip(frame["id"], org_keys(frame))) if len(frame) else {}
    moved, kept = [], []
    taken = set(session.scalars(select(Allocation.review_code)))
    for task in tasks:
        sub = session.get(Submission, task.submission_id)
        author = session.get(Person, sub.author_id)
        author_org = org_keys(pd.DataFrame([{"id": author.id, "organisation": author.organisation, "email": author.email}])).iloc[0]
        candidates = [rid for rid in finished if rid in people and rid != sub.author_id
                      and rid not in reviewing[sub.id]
                      and sub.language in people[rid].languages.split(";")
                      and not (author_org and orgs.get(rid) == author_org)]
        if not candidates:
            kept.append(task.review_code)
            continue
        chosen = min(candidates, key=lambda rid: (load[rid], people[rid].stakeholder_group == author.stakeholder_group, rid))
        code = new_review_codes(1, taken)[0]
        taken.add(code)
        task.withdrawn = True
        session.add(Allocation(review_code=code, round_id=rnd.id, submission_id=sub.id,
                               reviewer_id=chosen, reassigned_from=reviewer_id))
        load[chosen] += 1
        reviewing[sub.id].add(chosen)
        moved.append({"from": task.review_code, "to": chosen})
        audit(session, coordinator_id, "task.reassign", task.review_code, to=chosen, new_code=code)
    return {"moved": moved, "kept": kept}
