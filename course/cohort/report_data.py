"""What the cohort report reads from one store: one bulk query per table, as DataFrames.

Read only. People who withdrew their consent (`Consent.withdrawn_at` set, of any kind) are
left out of every frame, as are the rows that are theirs (answers, posts, reviews they wrote
or received, ...): they are never counted in a report. No names, e-mail addresses or texts
are read: the report shows aggregates only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from course.cohort.models import (Allocation, AlumniEntry, Annotation, AssignmentScore,
                                  Consent, EvaluationAnswer, Flag, Membership, Person, Post,
                                  Rating, Review, ReviewerRecord, ReviewRound, RotaEntry,
                                  Setting, Submission, Thread, TutorAssignment, TutorDecision)


@dataclass
class CohortData:
    """One store's tables for the report (see `read_cohort`), and its settings."""

    settings: dict[str, str]
    withdrawn: int  # people left out because they withdrew their consent
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]


# name -> (columns, the columns naming a person, who must not have withdrawn)
QUERIES = {
    "people": ([Person.id, Person.role, Person.stakeholder_group, Person.region, Person.country,
                Person.gender, Person.languages, Person.active], ["id"]),
    "memberships": ([Membership.person_id, Membership.group_label], ["person_id"]),
    "tutor_assignments": ([TutorAssignment.group_label, TutorAssignment.tutor_id], []),
    "rota": ([RotaEntry.group_label, RotaEntry.session, RotaEntry.facilitator_id,
              RotaEntry.co_facilitator_id], ["facilitator_id"]),
    "threads": ([Thread.id, Thread.group_label, Thread.session, Thread.opened_by], []),
    "posts": ([Post.id, Post.thread_id, Post.author_id, Post.kind, Post.created_at], ["author_id"]),
    "annotation_authors": ([Annotation.author_id], ["author_id"]),
    "rounds": ([ReviewRound.id, ReviewRound.name, ReviewRound.state], []),
    "submissions": ([Submission.id, Submission.round_id, Submission.author_id, Submission.score,
                     Submission.n_reviews], ["author_id"]),
    "allocations": ([Allocation.review_code, Allocation.round_id, Allocation.submission_id,
                     Allocation.reviewer_id, Allocation.withdrawn], ["reviewer_id"]),
    "reviews": ([Review.review_code, Review.state, Review.total, Review.submitted_at], []),
    "ratings": ([Rating.review_code, Rating.helpful], []),
    "reviewer_records": ([ReviewerRecord.round_id, ReviewerRecord.reviewer_id,
                          ReviewerRecord.n_reviews, ReviewerRecord.helpful,
                          ReviewerRecord.unhelpful, ReviewerRecord.distrusted], ["reviewer_id"]),
    "tutor_decisions": ([TutorDecision.submission_id, TutorDecision.tutor_id], []),
    "flags": ([Flag.review_code, Flag.outcome, Flag.decided_by], []),
    "answers": ([EvaluationAnswer.person_id, EvaluationAnswer.instrument,
                 EvaluationAnswer.occasion, EvaluationAnswer.state, EvaluationAnswer.answers,
                 EvaluationAnswer.item_scores, EvaluationAnswer.score,
                 EvaluationAnswer.submitted_at, EvaluationAnswer.updated_at], ["person_id"]),
    "assignment_scores": ([AssignmentScore.person_id, AssignmentScore.assignment,
                           AssignmentScore.score, AssignmentScore.max_score], ["person_id"]),
    "alumni": ([AlumniEntry.person_id, AlumniEntry.stakeholder_group, AlumniEntry.country,
                AlumniEntry.will_mentor, AlumniEntry.will_host_intern, AlumniEntry.will_teach,
                AlumniEntry.joined_at, AlumniEntry.updated_from], ["person_id"]),
}


def _frame(session: Session, columns) -> pd.DataFrame:
    result = session.execute(select(*columns))
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def read_cohort(session: Session) -> CohortData:
    """Every table the report needs, one query each (see QUERIES), without withdrawn people."""
    settings = dict(session.execute(select(Setting.key, Setting.value)).all())
    withdrawn = set(session.scalars(select(Consent.person_id)
                                    .where(Consent.withdrawn_at.is_not(None))))
    frames = {}
    for name, (columns, person_columns) in QUERIES.items():
        frame = _frame(session, columns)
        for column in person_columns:
            frame = frame[~frame[column].isin(withdrawn)]
        frames[name] = frame.reset_index(drop=True)
    frames["annotation_authors"] = frames["annotation_authors"].drop_duplicates()
    # Reviews of withdrawn authors' submissions go too (with their ratings and flags).
    kept = set(frames["submissions"]["id"])
    allocations = frames["allocations"]
    frames["allocations"] = allocations[allocations["submission_id"].isin(kept)].reset_index(drop=True)
    codes = set(frames["allocations"]["review_code"])
    for name in ("reviews", "ratings", "flags"):
        frames[name] = frames[name][frames[name]["review_code"].isin(codes)].reset_index(drop=True)
    frames["tutor_decisions"] = frames["tutor_decisions"][
        frames["tutor_decisions"]["submission_id"].isin(kept)].reset_index(drop=True)
    return CohortData(settings=settings, withdrawn=len(withdrawn), frames=frames)
