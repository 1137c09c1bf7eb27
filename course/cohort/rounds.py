"""Review rounds in the store: open (texts, allocation, calibration samples), aggregate, close.

Each function works in the caller's transaction (one `Store.session()`), checks everything
before it changes anything, and records each change in the audit log. Scores are points on
the rubric's scale (0 to the sum of each criterion's highest level); the command converts
them to the gradebook cell's points.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from course.cohort.db import StoreError, audit
from course.cohort.models import (Allocation, CalibrationAnswer, CalibrationSample, Flag, Person,
                                  Rating, Review, ReviewerRecord, ReviewItem, ReviewRound,
                                  Submission, TutorDecision, utcnow)
from course.cohort.structure import groups_frame, people_frame
from course.grading.written import anonymise, rubric_scale
from peer_review import aggregation, allocation, quality
from peer_review.roster import RosterError, normalise_language

WIDE_INTERVAL = 0.30  # of the scale: a wider 90% interval flags the submission for a tutor
DISTRUST_CALIBRATION = 0.25  # mean error per criterion, as a share of a criterion's scale


# -- finding rounds ----------------------------------------------------------

def find_round(session: Session, name: str) -> ReviewRound:
    rnd = session.scalar(select(ReviewRound).where(ReviewRound.name == name))
    if rnd is None:
        known = ", ".join(session.scalars(select(ReviewRound.name).order_by(ReviewRound.id))) or "none"
        raise StoreError(f"no review round {name!r} (rounds: {known}): open it with `igcb reviews open {name}`")
    return rnd


def _as_round(session: Session, rnd: ReviewRound | str) -> ReviewRound:
    return find_round(session, rnd) if isinstance(rnd, str) else rnd


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def duration(delta: timedelta) -> str:
    """A time span as people read it: '2 d 3 h', '5 h 12 min' (nothing below 0)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * (not days)
    return " ".join(parts) or "0 min"


# -- opening -----------------------------------------------------------------

@dataclass
class OpenReport:
    """What `open_round` did: new round or late additions, tasks, samples, allocation quality."""

    name: str
    state: str
    created: bool
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    tasks: int = 0
    calibration: int = 0
    notes: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.created:
            out = [f"opened review round {self.name!r} ({self.state}): {len(self.added)} submissions, "
                   f"{self.tasks} review tasks"]
        elif self.added:
            out = [f"round {self.name!r} was already open: added {len(self.added)} late submissions "
                   f"({', '.join(self.added)}) with {self.tasks} new review tasks; the "
                   f"{len(self.already)} earlier submissions and their tasks are unchanged"]
        else:
            out = [f"round {self.name!r} is already open and has every submission "
                   f"({len(self.already)}): nothing changed"]
        if self.calibration:
            out.append(f"{self.calibration} calibration samples: tutors score them in the room, "
                       "then reviewers see their tasks")
        return out + self.summary + self.notes


def _check_submissions(session: Session, frame: pd.DataFrame) -> list[dict]:
    """The submissions as dicts with the author's Person; every problem in one StoreError."""
    missing = [c for c in ("author_id", "text") if c not in frame.columns]
    if missing:
        raise StoreError(f"submissions: missing column {', '.join(missing)}")
    rows, problems, seen = [], [], {}
    for i, record in enumerate(frame.to_dict("records")):
        author = str(record.get("author_id", "")).strip()
        where = str(record.get("where") or f"submission {record.get('source_id') or author or i + 1}")
        person = session.get(Person, author) if author else None
        if person is None or person.role != "participant" or not person.active:
            state = ("not in the store" if person is None else
                     "withdrawn" if not person.active else f"a {person.role}, not a participant")
            problems.append(f"{where}: author_id {author!r}: an active participant of the cohort "
                            f"store is required ({state})")
            continue
        if author in seen:
            problems.append(f"{where}: author_id {author!r}: one submission per author (also {seen[author]})")
            continue
        seen[author] = where
        text = str(record.get("text") or "").strip()
        if not text:
            problems.append(f"{where}: text: the submission's text is empty")
        raw = str(record.get("language") or "").strip()
        language = normalise_language(raw) if raw else (person.languages.split(";")[0].strip() if person.languages else "")
        if language is None:
            problems.append(f"{where}: language {raw!r}: expected an ISO 639-1 code, e.g. en")
        rows.append({"person": person, "source_id": str(record.get("source_id") or author),
                     "language": language or "", "text": text})
    if problems:
        raise StoreError("\n".join(problems))
    return rows


def _history(session: Session, exclude_round: int | None) -> pd.DataFrame:
    """Earlier rounds' (author_id, reviewer_id) pairs: the allocation avoids them."""
    query = (select(Submission.author_id, Allocation.reviewer_id)
             .join(Submission, Submission.id == Allocation.submission_id))
    if exclude_round is not None:
        query = query.where(Allocation.round_id != exclude_round)
    return pd.DataFrame(session.execute(query).all(), columns=["author_id", "reviewer_id"])


def _existing(session: Session, rnd: ReviewRound, active: set[str]) -> pd.DataFrame:
    """The round's current tasks (of authors still active: the allocator needs their roster rows)."""
    rows = session.execute(
        select(Allocation.submission_id, Submission.author_id, Allocation.reviewer_id, Allocation.review_code)
        .join(Submission, Submission.id == Allocation.submission_id)
        .where(Allocation.round_id == rnd.id, Allocation.withdrawn.is_(False))).all()
    frame = pd.DataFrame([[str(s), a, r, c] for s, a, r, c in rows],
                         columns=["submission_id", "author_id", "reviewer_id", "review_code"])
    return frame[frame["author_id"].isin(active)].reset_index(drop=True)


def _calibration_choice(subs: list[Submission], n: int, seed: int) -> list[Submission]:
    """n submissions, seeded, from the most common language first."""
    rng = np.random.default_rng(seed)
    counts = Counter(s.language for s in subs)
    chosen: list[Submission] = []
    for language in sorted(counts, key=lambda lang: (-counts[lang], lang)):
        pool = sorted((s for s in subs if s.language == language), key=lambda s: s.author_id)
        chosen += [pool[i] for i in rng.permutation(len(pool))[: n - len(chosen)]]
        if len(chosen) == n:
            break
    return chosen


def open_round(session: Session, name: str, submissions: pd.DataFrame, rubric: dict, k: int,
               due: datetime | None, calibration: int, seed: int, actor: str, source: str,
               notebook: str = "", grade_id: str = "", points: float | None = None,
               within_groups: bool = False) -> OpenReport:
    """Open round `name` with `submissions` (source_id, author_id, language, text[, where]).

    Opening an open round again adds only the submissions of authors not in it yet (late),
    allocated around the tasks already given, which never change. A closed round, or one
    with another rubric, is refused. `where` (optional) names each row in error messages.
    """
    rnd = session.scalar(select(ReviewRound).where(ReviewRound.name == name))
    if rnd is not None and rnd.state == "closed":
        raise StoreError(f"round {name!r} was closed on {_stamp(rnd.closed_at or rnd.opened_at)}: it takes "
                         "no more submissions (open a round under another name for resubmissions)")
    if rnd is not None and rnd.rubric != rubric:
        raise StoreError(f"round {name!r} is already open with another rubric: a round keeps the rubric "
                         "it opened with (give the same --rubric, or open a round under another name)")
    if calibration < 0 or k < 1:
        raise StoreError("k must be 1 or more and --calibration 0 or more")
    notes: list[str] = []
    already: list[str] = []
    if rnd is not None:
        # Submissions already in the round stay as they are (even if their author withdrew since).
        already = sorted(session.scalars(select(Submission.author_id).where(Submission.round_id == rnd.id)))
        if "author_id" in submissions.columns:
            submissions = submissions[~submissions["author_id"].astype(str).str.strip().isin(already)]
    rows = _check_submissions(session, submissions)
    if rnd is not None:
        if k != rnd.k:
            notes.append(f"the round keeps k = {rnd.k} (it opened with it)")
        if calibration:
            notes.append("calibration samples are chosen when a round opens: none added now")
        if due is not None and due != rnd.due:
            notes.append(f"due date moved from {_stamp(rnd.due) if rnd.due else 'none'} to {_stamp(due)}")
            audit(session, actor, "round.due", name, due=due.isoformat(), was=rnd.due.isoformat() if rnd.due else None)
            rnd.due = due
        if not rows:
            return OpenReport(name, rnd.state, False, [], already, notes=notes)
    elif not rows:
        raise StoreError(f"round {name!r}: no submissions to review")
    elif calibration > len(rows):
        raise StoreError(f"--calibration {calibration}: more samples than submissions ({len(rows)})")
    created = rnd is None
    if created:
        rnd = ReviewRound(name=name, state="calibration" if calibration else "open", source=source,
                          rubric=rubric, k=k, seed=seed, notebook=notebook, grade_id=grade_id,
                          points=points, due=due, opened_at=utcnow())
        session.add(rnd)
        session.flush()

    new = []
    for row in rows:
        person = row["person"]
        new.append(Submission(round_id=rnd.id, author_id=person.id, source_id=row["source_id"],
                              language=row["language"], late=not created,
                              text=anonymise(row["text"], person.name, person.id, person.email)))
    session.add_all(new)
    session.flush()

    roster = people_frame(session, "participant")
    groups = groups_frame(session)
    groups = groups if len(groups) else None
    history = _history(session, None if created else rnd.id)
    existing = None if created else _existing(session, rnd, set(roster["id"]))
    todo = pd.DataFrame({"submission_id": [str(s.id) for s in new],
                         "author_id": [s.author_id for s in new],
                         "language": [s.language for s in new]})
    try:
        result = allocation.allocate_reviews(todo, roster, k=rnd.k, seed=rnd.seed, groups=groups,
                                             within_groups=within_groups, history=history,
                                             existing=existing)
    except allocation.AllocationError as err:
        raise StoreError(f"round {name!r}: {err}") from None
    except RosterError as err:
        raise StoreError(f"round {name!r}: {err}") from None
    taken = set() if existing is None else set(existing["review_code"])
    fresh = result[~result["review_code"].isin(taken)]
    for row in fresh.itertuples():
        session.add(Allocation(review_code=row.review_code, round_id=rnd.id,
                               submission_id=int(row.submission_id), reviewer_id=row.reviewer_id))

    samples = []
    if created and calibration:
        for sub in _calibration_choice(new, calibration, rnd.seed):
            samples.append(CalibrationSample(round_id=rnd.id, submission_id=sub.id,
                                             language=sub.language, text=sub.text))
        session.add_all(samples)
    added = sorted(s.author_id for s in new)
    if created:
        audit(session, actor, "round.open", name, source=source, k=rnd.k, seed=rnd.seed,
              due=due.isoformat() if due else None, submissions=added, tasks=len(fresh),
              calibration=len(samples), state=rnd.state)
    else:
        audit(session, actor, "round.add-late", name, submissions=added, tasks=len(fresh))
    session.flush()
    summary = quality.allocation_summary(quality.allocation_quality(result, roster, rnd.k, groups, history))
    return OpenReport(name, rnd.state, created, added, already, len(fresh), len(samples), notes, summary)


# -- aggregating -------------------------------------------------------------

@dataclass
class Model:
    """The aggregation's inputs and outputs for one round."""

    reviews: pd.DataFrame  # submission_id, reviewer_id, score (real reviews that count)
    anchors: dict[str, float]  # submission id (str) -> tutor's score
    grades: pd.DataFrame  # aggregate_scores' grades (real and calibration pseudo-submissions)
    reviewers: pd.DataFrame  # aggregate_scores' reviewers


@dataclass
class AggregateReport:
    name: str
    scored: int = 0
    tutor: int = 0
    no_reviews: list[str] = field(default_factory=list)
    flagged: dict[str, str] = field(default_factory=dict)  # author -> flags
    distrusted: dict[str, str] = field(default_factory=dict)  # reviewer -> reason

    def lines(self) -> list[str]:
        out = [f"round {self.name!r}: {self.scored} submissions scored ({self.tutor} by a tutor), "
               f"{len(self.no_reviews)} without reviews, {len(self.flagged)} flagged for tutors, "
               f"{len(self.distrusted)} reviewers distrusted"]
        out += [f"  flagged {author}: {flags}" for author, flags in sorted(self.flagged.items())]
        out += [f"  distrusted reviewer {rid}: {why}" for rid, why in sorted(self.distrusted.items())]
        return out


def _total(scores: dict | None) -> float | None:
    values = [float(v) for v in (scores or {}).values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return float(sum(values)) if values else None


def _counted_reviews(session: Session, rnd: ReviewRound) -> pd.DataFrame:
    """Submitted reviews of the round's live tasks, without those whose flag a tutor upheld."""
    rows = session.execute(
        select(Allocation.review_code, Allocation.submission_id, Allocation.reviewer_id, Review.total,
               Flag.outcome)
        .join(Review, Review.review_code == Allocation.review_code)
        .outerjoin(Flag, Flag.review_code == Allocation.review_code)
        .where(Allocation.round_id == rnd.id, Allocation.withdrawn.is_(False),
               Review.state == "submitted")).all()
    missing = [code for code, _, _, total, _ in rows if total is None]
    sums = dict(session.execute(select(ReviewItem.review_code, func.sum(ReviewItem.score))
                                .where(ReviewItem.review_code.in_(missing))
                                .group_by(ReviewItem.review_code)).all()) if missing else {}
    out = []
    for code, sid, rid, total, outcome in rows:
        score = total if total is not None else sums.get(code)
        if outcome != "upheld" and score is not None:
            out.append((str(sid), rid, float(score), code))
    return pd.DataFrame(out, columns=["submission_id", "reviewer_id", "score", "review_code"])


def _anchors(session: Session, rnd: ReviewRound, subs: list[Submission],
             by_author: dict[str, float] | None) -> dict[str, float]:
    """Tutor scores by submission id: the latest decision in the room, else the one passed in
    (the formgrader's), else one kept from an earlier run, else a calibration sample's."""
    lo, hi = rubric_scale(rnd.rubric)
    ids = {s.id for s in subs}
    out: dict[str, float] = {}
    for sample in session.scalars(select(CalibrationSample).where(CalibrationSample.round_id == rnd.id)):
        total = _total(sample.tutor_scores)
        if sample.submission_id in ids and total is not None:
            out[str(sample.submission_id)] = total
    for sub in subs:
        if sub.score_source == "tutor" and sub.score is not None:
            out[str(sub.id)] = sub.score
        if by_author and by_author.get(sub.author_id) is not None:
            out[str(sub.id)] = float(by_author[sub.author_id])
    decisions = session.scalars(select(TutorDecision).where(TutorDecision.submission_id.in_(ids))
                                .order_by(TutorDecision.at, TutorDecision.id)) if ids else []
    for decision in decisions:
        out[str(decision.submission_id)] = decision.score
    return {sid: min(max(float(v), lo), hi) for sid, v in out.items()}


def _calibration_reviews(session: Session, rnd: ReviewRound) -> tuple[list[tuple], dict[str, float]]:
    """Calibration answers as reviews of pseudo-submissions "cal-<id>", anchored at the tutor's total."""
    reviews, anchors = [], {}
    for sample in session.scalars(select(CalibrationSample).where(CalibrationSample.round_id == rnd.id)):
        total = _total(sample.tutor_scores)
        if total is None:
            continue
        anchors[f"cal-{sample.id}"] = total
        for answer in session.scalars(select(CalibrationAnswer).where(CalibrationAnswer.sample_id == sample.id)):
            score = _total(answer.scores)
            if score is not None:
                reviews.append((f"cal-{sample.id}", answer.reviewer_id, score))
    return reviews, anchors


def fit_round(session: Session, rnd: ReviewRound, anchors: dict[str, float] | None = None) -> Model:
    """Run the aggregation model on the round's counted reviews and calibration answers."""
    subs = session.scalars(select(Submission).where(Submission.round_id == rnd.id)).all()
    counted = _counted_reviews(session, rnd)
    tutor = _anchors(session, rnd, subs, anchors)
    cal_reviews, cal_anchors = _calibration_reviews(session, rnd)
    frame = pd.concat([counted[["submission_id", "reviewer_id", "score"]],
                       pd.DataFrame(cal_reviews, columns=["submission_id", "reviewer_id", "score"])],
                      ignore_index=True)
    grades = pd.DataFrame(columns=["submission_id", "score", "n_reviews", "flag", "reason", "sd", "tutor_scored",
                                   "low", "high"])
    reviewers = pd.DataFrame(columns=["reviewer_id", "n_reviews", "bias", "noise_sd", "flag", "reason"])
    if len(frame):
        fixed = {**tutor, **cal_anchors}
        tutor_frame = pd.DataFrame({"submission_id": list(fixed), "score": list(fixed.values())})
        grades, reviewers = aggregation.aggregate_scores(frame, tutor_frame, scale=rubric_scale(rnd.rubric),
                                                         wide=WIDE_INTERVAL)
    return Model(counted, tutor, grades, reviewers)


def refresh_reviewer_records(session: Session, rnd: ReviewRound | str, model: Model | None = None) -> dict[str, ReviewerRecord]:
    """One ReviewerRecord per reviewer of the round: reviews, model bias and noise, calibration
    error, the authors' ratings, upheld flags, and whether they are distrusted (and why)."""
    rnd = _as_round(session, rnd)
    model = model or fit_round(session, rnd)
    widths = [max(lvl["points"] for lvl in c["levels"]) - min(lvl["points"] for lvl in c["levels"])
              for c in rnd.rubric["criteria"]]
    limit = DISTRUST_CALIBRATION * (sum(widths) / len(widths))
    tasks = session.execute(select(Allocation.reviewer_id, Review.state, Rating.helpful, Flag.outcome)
                            .outerjoin(Review, Review.review_code == Allocation.review_code)
                            .outerjoin(Rating, Rating.review_code == Allocation.review_code)
                            .outerjoin(Flag, Flag.review_code == Allocation.review_code)
                            .where(Allocation.round_id == rnd.id, Allocation.withdrawn.is_(False))).all()
    errors = session.execute(select(CalibrationAnswer.reviewer_id, func.avg(CalibrationAnswer.error))
                             .join(CalibrationSample, CalibrationSample.id == CalibrationAnswer.sample_id)
                             .where(CalibrationSample.round_id == rnd.id)
                             .group_by(CalibrationAnswer.reviewer_id)).all()
    errors = {rid: float(e) for rid, e in errors if e is not None}
    fitted = {r.reviewer_id: r for r in model.reviewers.itertuples()}
    stats: dict[str, dict] = {rid: {"n": 0, "helpful": 0, "unhelpful": 0, "upheld": 0}
                              for rid in sorted({t[0] for t in tasks} | set(errors))}
    for rid, state, helpful, outcome in tasks:
        s = stats[rid]
        s["n"] += state == "submitted"
        s["helpful"] += helpful is True
        s["unhelpful"] += helpful is False
        s["upheld"] += outcome == "upheld"
    existing = {r.reviewer_id: r for r in session.scalars(select(ReviewerRecord).where(ReviewerRecord.round_id == rnd.id))}
    for rid, record in existing.items():
        if rid not in stats:
            session.delete(record)
    out = {}
    for rid, s in stats.items():
        fit = fitted.get(rid)
        error = errors.get(rid)
        reasons = [fit.reason] if fit is not None and fit.flag else []
        if error is not None and error > limit:
            reasons.append(f"calibration error {error:.2g} points per criterion (more than {limit:.2g})")
        if s["upheld"]:
            reasons.append(f"{s['upheld']} review{'s' if s['upheld'] > 1 else ''} flagged and the flag upheld")
        record = existing.get(rid) or ReviewerRecord(round_id=rnd.id, reviewer_id=rid)
        record.n_reviews = s["n"]
        record.bias = float(fit.bias) if fit is not None else None
        record.noise_sd = float(fit.noise_sd) if fit is not None else None
        record.calibration_error = error
        record.helpful, record.unhelpful, record.flags_upheld = s["helpful"], s["unhelpful"], s["upheld"]
        record.distrusted = bool(reasons)
        record.reason = "; ".join(reasons)
        session.add(record)
        out[rid] = record
    session.flush()
    return out


def aggregate_round(session: Session, rnd: ReviewRound | str, anchors: dict[str, float] | None = None,
                    actor: str = "igcb") -> AggregateReport:
    """Score every submission of the round from its reviews (tutor scores fixed); store the
    scores, 90% intervals, flags and reviewer records. Running it again gives the same result.

    `anchors` maps author ids to tutor scores from outside the room (the formgrader), in
    rubric points; a tutor's latest decision in the room takes precedence.
    """
    rnd = _as_round(session, rnd)
    model = fit_round(session, rnd, anchors)
    records = refresh_reviewer_records(session, rnd, model)
    grades = {g.submission_id: g for g in model.grades.itertuples()}
    counted = model.reviews.groupby("submission_id")["reviewer_id"].agg(list).to_dict()
    report = AggregateReport(rnd.name)
    report.distrusted = {rid: r.reason for rid, r in records.items() if r.distrusted}
    for sub in session.scalars(select(Submission).where(Submission.round_id == rnd.id).order_by(Submission.id)):
        sid = str(sub.id)
        reviewers = counted.get(sid, [])
        sub.n_reviews = len(reviewers)
        if sid in model.anchors:
            sub.score = sub.low = sub.high = round(model.anchors[sid], 3)
            sub.score_source, sub.flags = "tutor", ""
            report.scored += 1
            report.tutor += 1
            continue
        if not reviewers:
            sub.score = sub.low = sub.high = None
            sub.score_source, sub.flags = "", "no reviews"
            report.no_reviews.append(sub.author_id)
            report.flagged[sub.author_id] = sub.flags
            continue
        grade = grades[sid]  # the posterior mean and 90% interval, within the scale
        sub.score, sub.low, sub.high = float(grade.score), float(grade.low), float(grade.high)
        sub.score_source = "peer"
        flags = [r for r in str(grade.reason).split("; ") if r]  # disagreement, wide interval, ...
        if len(reviewers) < rnd.k:
            flags.append("fewer than k reviews")
        if any(r in report.distrusted for r in reviewers):
            flags.append("a distrusted reviewer")
        sub.flags = "; ".join(flags)
        report.scored += 1
        if flags:
            report.flagged[sub.author_id] = sub.flags
    audit(session, actor, "round.aggregate", rnd.name, scored=report.scored, tutor=report.tutor,
          no_reviews=len(report.no_reviews), flagged=len(report.flagged),
          distrusted=sorted(report.distrusted))
    session.flush()
    return report


# -- closing -----------------------------------------------------------------

@dataclass
class CloseReport:
    aggregate: AggregateReport
    closed_at: datetime
    again: bool  # the round was closed before: aggregated again

    def lines(self) -> list[str]:
        head = (f"round {self.aggregate.name!r} was closed on {_stamp(self.closed_at)}: aggregated again"
                if self.again else f"closed round {self.aggregate.name!r} on {_stamp(self.closed_at)}")
        return [head] + self.aggregate.lines()


def close_round(session: Session, name: str, actor: str, now: datetime | None = None,
                anchors: dict[str, float] | None = None, force: bool = False) -> CloseReport:
    """Close round `name` after its deadline and grace period (or now, with `force`) and
    aggregate its reviews. Closing a closed round again only aggregates again."""
    now = now or utcnow()
    rnd = find_round(session, name)
    if rnd.state == "calibration":
        raise StoreError(f"round {name!r} is still waiting for tutors to score its calibration "
                         "samples (the room's Tutor page): nobody has reviewed anything yet")
    again = rnd.state == "closed"
    until = rnd.due + timedelta(hours=rnd.grace_hours) if rnd.due is not None else None
    early = not again and until is not None and now < until
    if early and not force:
        raise StoreError(f"round {name!r} is due {_stamp(rnd.due)}, with {rnd.grace_hours:g} h of grace "
                         f"until {_stamp(until)}: {duration(until - now)} left (--force closes it now)")
    report = aggregate_round(session, rnd, anchors=anchors, actor=actor)
    if not again:
        rnd.state, rnd.closed_at = "closed", now
        audit(session, actor, "round.close", name, early=early)
    session.flush()
    return CloseReport(report, rnd.closed_at, again)


# -- the gradebook's side ----------------------------------------------------

def to_cell_points(rnd: ReviewRound, score: float) -> float:
    """Rubric points as the gradebook cell's points."""
    lo, hi = rubric_scale(rnd.rubric)
    return round((score - lo) / (hi - lo) * rnd.points, 3)


def to_rubric_points(rnd: ReviewRound, points: float) -> float:
    lo, hi = rubric_scale(rnd.rubric)
    return lo + float(points) / rnd.points * (hi - lo)


def _submissions(session: Session, rnd: ReviewRound) -> dict[str, Submission]:
    return {s.author_id: s for s in session.scalars(select(Submission).where(Submission.round_id == rnd.id))}


def tutor_grades(session: Session, rnd: ReviewRound, manual: dict[str, float | None]) -> dict[str, float]:
    """The gradebook's manual grades that a tutor gave (not what the store wrote), in rubric points."""
    out = {}
    for author, sub in _submissions(session, rnd).items():
        value = manual.get(author)
        if value is not None and (sub.gradebook_written is None or abs(value - sub.gradebook_written) > 1e-6):
            out[author] = to_rubric_points(rnd, value)
    return out


def gradebook_updates(session: Session, rnd: ReviewRound, tutor_graded: set[str]) -> dict[str, float]:
    """Cell points to write for each scored submission whose gradebook grade is not a tutor's."""
    return {author: to_cell_points(rnd, sub.score) for author, sub in _submissions(session, rnd).items()
            if sub.score is not None and author not in tutor_graded}


def record_gradebook(session: Session, rnd: ReviewRound, written: dict[str, float], actor: str) -> None:
    """Remember what was written into the gradebook (so a tutor's later grade stands out)."""
    subs = _submissions(session, rnd)
    for author, points in written.items():
        subs[author].gradebook_written = points
    audit(session, actor, "round.gradebook", rnd.name, written=written)
    session.flush()


__all__ = ["AggregateReport", "CloseReport", "Model", "OpenReport",
           "aggregate_round", "close_round", "find_round", "fit_round", "gradebook_updates",
           "open_round", "record_gradebook", "refresh_reviewer_records", "to_cell_points",
           "to_rubric_points", "tutor_grades"]
