"""Review rounds and nbgrader's gradebook: closing a round with its grades, a tutor's score.

`igcb reviews close` and the room's "Close and grade" button run `close_and_grade`; the room
writes a tutor's override with `write_tutor_score`. The store's transaction is the caller's:
the gradebook is written inside it, so a failed gradebook write leaves the store unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from course.cohort.db import StoreError
from course.cohort.models import ReviewRound, Submission
from course.cohort.rounds import (CloseReport, close_round, find_round, gradebook_updates,
                                  record_gradebook, to_cell_points, tutor_grades)
from course.grading.written import gradebook_manual_scores, write_manual_scores


@dataclass
class Closed:
    """What closing did: the round's report and what went into the gradebook."""

    report: CloseReport
    to_gradebook: bool
    anchors: dict[str, float] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        agg = self.report.aggregate
        line = f"{agg.scored} scored, {len(agg.flagged)} flagged for tutors"
        if self.to_gradebook:
            line += (f", {len(self.written)} written to the gradebook, {len(self.anchors)} kept a "
                     f"tutor's grade, {len(self.skipped)} skipped (not autograded yet"
                     + (f": {', '.join(self.skipped)}" if self.skipped else "") + ")")
        return line


def uses_gradebook(rnd: ReviewRound) -> bool:
    return rnd.source == "nbgrader" and bool(rnd.points)


def close_and_grade(session: Session, name: str, course_root: Path | None, actor: str,
                    force: bool = False) -> Closed:
    """Close round `name`: tutors' gradebook grades as anchors, aggregate, write peer scores."""
    rnd = find_round(session, name)
    to_gradebook = uses_gradebook(rnd)
    if to_gradebook and course_root is None:
        raise StoreError(f"round {name!r} comes from nbgrader: give the course root of its gradebook")
    anchors: dict[str, float] = {}
    if to_gradebook:
        try:
            manual = gradebook_manual_scores(course_root, rnd.name, rnd.notebook, rnd.grade_id)
        except SQLAlchemyError as err:
            raise StoreError(f"{course_root}: cannot read the nbgrader gradebook: {err}") from None
        anchors = tutor_grades(session, rnd, manual)
    report = close_round(session, name, actor, anchors=anchors, force=force)
    closed = Closed(report, to_gradebook, anchors)
    if to_gradebook:
        updates = gradebook_updates(session, rnd, set(anchors))
        try:
            closed.written, closed.skipped = write_manual_scores(
                course_root, rnd.name, rnd.notebook, rnd.grade_id, updates)
        except SQLAlchemyError as err:
            raise StoreError(f"{course_root}: cannot write the nbgrader gradebook: {err}") from None
        record_gradebook(session, rnd, {s: updates[s] for s in closed.written}, actor)
    return closed


def write_tutor_score(session: Session, submission_id: int, course_root: Path | None) -> str:
    """Put a submission's (tutor-set) score into the gradebook; a short notice of what happened."""
    sub = session.get(Submission, submission_id)
    rnd = session.get(ReviewRound, sub.round_id)
    if not uses_gradebook(rnd):
        return "score saved (this round has no nbgrader gradebook)"
    if course_root is None:
        return "score saved; the room knows no course root, so `igcb reviews close` will write the gradebook"
    points = to_cell_points(rnd, sub.score)
    try:
        written, _ = write_manual_scores(course_root, rnd.name, rnd.notebook, rnd.grade_id,
                                         {sub.author_id: points})
    except SQLAlchemyError as err:
        raise StoreError(f"{course_root}: cannot write the nbgrader gradebook: {err}") from None
    if not written:
        return "score saved; not in the gradebook yet (the submission is not autograded)"
    sub.gradebook_written = points
    return "score saved and written to the gradebook"
