"""The cohort store's tables (SQLAlchemy 2 declarative models).

One database holds one cohort. Times are stored in UTC (naive `datetime`, as both SQLite and
PostgreSQL keep them the same way). Review codes (`R-XXXXXXXX`) are the only handle an author
ever sees for a review; reviewer ids never leave the store towards the people reviewed.
Migrations live in migrations/versions/: change a model, then add a revision there.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("participant", "tutor", "coordinator")
ROUND_STATES = ("calibration", "open", "closed")
REVIEW_STATES = ("draft", "submitted")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """Cohort-wide settings, e.g. course (the plan id), plan, created_at."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Person(Base):
    """A participant, tutor or the coordinator; `id` is also their hub username."""

    __tablename__ = "people"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    stakeholder_group: Mapped[str] = mapped_column(String(40), default="")
    region: Mapped[str] = mapped_column(String(40), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    gender: Mapped[str] = mapped_column(String(20), default="")
    languages: Mapped[str] = mapped_column(String(100), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="")
    expertise: Mapped[str] = mapped_column(String(400), default="")
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Shown to the study group only when the person opted in (roster column share_email).
    share_email: Mapped[bool] = mapped_column(Boolean, default=False)
    # Withdrawn people keep their work in the store but get no new tasks.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)


class StudyGroup(Base):
    __tablename__ = "study_groups"
    label: Mapped[str] = mapped_column(String(32), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), default="")


class Membership(Base):
    """Which study group a participant is in (one each)."""

    __tablename__ = "memberships"
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True)
    group_label: Mapped[str] = mapped_column(ForeignKey("study_groups.label"), index=True)


class TutorAssignment(Base):
    __tablename__ = "tutor_assignments"
    group_label: Mapped[str] = mapped_column(ForeignKey("study_groups.label"), primary_key=True)
    tutor_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="")


class RotaEntry(Base):
    """Who facilitates a study group's discussion in one session (a week or day label)."""

    __tablename__ = "rota"
    group_label: Mapped[str] = mapped_column(ForeignKey("study_groups.label"), primary_key=True)
    session: Mapped[str] = mapped_column(String(32), primary_key=True)
    facilitator_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    co_facilitator_id: Mapped[str | None] = mapped_column(ForeignKey("people.id"), nullable=True)


class ReviewRound(Base):
    """One round of peer review of one piece of written work (usually an nbgrader assignment).

    `rubric` is {"criteria": [{"id", "title", "levels": [{"points", "description"}]}],
    "min_comment": int}; a review gives each criterion a score and a comment.
    """

    __tablename__ = "review_rounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="open")
    source: Mapped[str] = mapped_column(String(16), default="nbgrader")  # nbgrader | csv
    rubric: Mapped[dict] = mapped_column(JSON)
    k: Mapped[int] = mapped_column(Integer, default=3)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    # nbgrader: the notebook and grade cell the written answer comes from (points = its maximum)
    notebook: Mapped[str] = mapped_column(String(200), default="")
    grade_id: Mapped[str] = mapped_column(String(200), default="")
    points: Mapped[float | None] = mapped_column(Float, nullable=True)
    due: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    grace_hours: Mapped[float] = mapped_column(Float, default=48.0)
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Submission(Base):
    """A piece of written work in a round: its anonymised text and, once closed, its grade."""

    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("round_id", "author_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("review_rounds.id"), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    source_id: Mapped[str] = mapped_column(String(100), default="")  # id in the CSV, if any
    language: Mapped[str] = mapped_column(String(8), default="")
    text: Mapped[str] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Results of the last aggregation (points on the rubric's scale).
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    low: Mapped[float | None] = mapped_column(Float, nullable=True)
    high: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_reviews: Mapped[int] = mapped_column(Integer, default=0)
    flags: Mapped[str] = mapped_column(Text, default="")  # "; "-separated reasons
    score_source: Mapped[str] = mapped_column(String(16), default="")  # peer | tutor
    # What the store last wrote into the nbgrader gradebook (to tell it from a tutor's grade).
    gradebook_written: Mapped[float | None] = mapped_column(Float, nullable=True)


class CalibrationSample(Base):
    """A text tutors score before the round opens; reviewers score it first, then compare."""

    __tablename__ = "calibration_samples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("review_rounds.id"), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="")
    text: Mapped[str] = mapped_column(Text)
    tutor_scores: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # criterion -> points
    scored_by: Mapped[str | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    scored_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class CalibrationAnswer(Base):
    """A reviewer's scores for a calibration sample; `error` is mean |reviewer - tutor|."""

    __tablename__ = "calibration_answers"
    sample_id: Mapped[int] = mapped_column(ForeignKey("calibration_samples.id"), primary_key=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True)
    scores: Mapped[dict] = mapped_column(JSON)
    error: Mapped[float] = mapped_column(Float)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Allocation(Base):
    """A review task: one reviewer for one submission, known to the author by its code only."""

    __tablename__ = "allocations"
    review_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("review_rounds.id"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Set when the task was taken from a late reviewer and given to another.
    reassigned_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)


class Review(Base):
    """The review behind a task: a draft until submitted; editable until the deadline."""

    __tablename__ = "reviews"
    review_code: Mapped[str] = mapped_column(ForeignKey("allocations.review_code"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    total: Mapped[float | None] = mapped_column(Float, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ReviewItem(Base):
    """A score and a comment for one rubric criterion of a review."""

    __tablename__ = "review_items"
    review_code: Mapped[str] = mapped_column(ForeignKey("reviews.review_code"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")


class Rating(Base):
    """The author's feedback on a review: helpful or not."""

    __tablename__ = "ratings"
    review_code: Mapped[str] = mapped_column(ForeignKey("reviews.review_code"), primary_key=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Flag(Base):
    """An author's flag on a review as inappropriate; a tutor upholds or dismisses it."""

    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_code: Mapped[str] = mapped_column(ForeignKey("reviews.review_code"), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16), default="")  # "" | upheld | dismissed
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("people.id"), nullable=True)


class TutorDecision(Base):
    """A tutor's score for a submission, with a note; the latest one is the grade."""

    __tablename__ = "tutor_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    tutor_id: Mapped[str] = mapped_column(ForeignKey("people.id"))
    score: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ReviewerRecord(Base):
    """A reviewer's record in a round, from the last aggregation and the authors' ratings."""

    __tablename__ = "reviewer_records"
    round_id: Mapped[int] = mapped_column(ForeignKey("review_rounds.id"), primary_key=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True)
    n_reviews: Mapped[int] = mapped_column(Integer, default=0)
    bias: Mapped[float | None] = mapped_column(Float, nullable=True)
    noise_sd: Mapped[float | None] = mapped_column(Float, nullable=True)
    calibration_error: Mapped[float | None] = mapped_column(Float, nullable=True)
    helpful: Mapped[int] = mapped_column(Integer, default=0)
    unhelpful: Mapped[int] = mapped_column(Integer, default=0)
    flags_upheld: Mapped[int] = mapped_column(Integer, default=0)
    distrusted: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")


class AuditEntry(Base):
    """Who changed what, when: every change made through the store."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


# --- discussion: topic threads, annotations on the readings, moderation ----------------------

POST_KINDS = ("opening", "reply", "summary")
AUDIENCES = ("group", "cohort")
DIGESTS = ("off", "daily", "weekly")


class Thread(Base):
    """A study group's discussion of one session's topic, opened by its facilitator."""

    __tablename__ = "threads"
    __table_args__ = (UniqueConstraint("group_label", "session"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_label: Mapped[str] = mapped_column(ForeignKey("study_groups.label"), index=True)
    session: Mapped[str] = mapped_column(String(32))  # the rota's session label
    title: Mapped[str] = mapped_column(String(200))
    opened_by: Mapped[str] = mapped_column(ForeignKey("people.id"))
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # summary posted


class Post(Base):
    """The opening, a reply (to the thread or to another post) or the closing summary."""

    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"), nullable=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="reply")
    body: Mapped[str] = mapped_column(Text)  # Markdown, rendered through the sanitiser
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Hidden by a tutor or the coordinator: served only to them and to the author.
    hidden_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    hidden_by: Mapped[str | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    hidden_reason: Mapped[str] = mapped_column(Text, default="")


class Annotation(Base):
    """A comment on a passage of a book page (a W3C Web Annotation), or a reply to one.

    `target` is the annotation's W3C target (selectors as the client library writes them),
    `quote` the passage's text when it was made. Replies carry the root's audience. A passage
    that is no longer in the rebuilt page makes the annotation orphaned, never lost.
    """

    __tablename__ = "annotations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the client's UUID
    page: Mapped[str] = mapped_column(String(300), index=True)  # path of the page in the book
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("annotations.id"), nullable=True,
                                                  index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    audience: Mapped[str] = mapped_column(String(8), default="group")  # group | cohort
    group_label: Mapped[str | None] = mapped_column(ForeignKey("study_groups.label"),
                                                    nullable=True, index=True)
    target: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # None for replies
    quote: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    orphaned_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    hidden_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    hidden_by: Mapped[str | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    hidden_reason: Mapped[str] = mapped_column(Text, default="")


class ContentFlag(Base):
    """Someone's flag on a post or an annotation, for tutors and the coordinator to look at."""

    __tablename__ = "content_flags"
    __table_args__ = (UniqueConstraint("kind", "item_id", "flagged_by"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # post | annotation
    item_id: Mapped[str] = mapped_column(String(64), index=True)
    flagged_by: Mapped[str] = mapped_column(ForeignKey("people.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16), default="")  # "" | hidden | kept | deleted
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("people.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


# --- e-mail: what people want to receive, and what is waiting to be sent ---------------------

class MailSetting(Base):
    """A person's choice of e-mail: reminders on or off, and a digest of their group's posts."""

    __tablename__ = "mail_settings"
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    digest: Mapped[str] = mapped_column(String(8), default="weekly")  # off | daily | weekly
    last_digest_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class OutgoingMail(Base):
    """A message waiting to be sent, sent, or given up on after retries (shown to the coordinator).

    `key` says what the message is about (e.g. "turn:G01:3:alice"), so that it is queued once.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    to_addr: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    failed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # gave up


# --- evaluation: answers to the course's tests and surveys, consent, the alumni register -----

ANSWER_STATES = ("draft", "submitted")
CONSENT_KINDS = ("evaluation", "alumni")


class EvaluationAnswer(Base):
    """One person's answer to one instrument on one occasion (a knowledge test pre or post,
    a survey once): a draft until submitted, then final.

    `answers` maps question (or item) ids to what was answered; for a knowledge test
    `item_scores` maps item ids to 1 (the key) or 0, and `score` is their share, 0..1.
    `source` says where it came from: "room", or "import:<file name>" with `source_row`.
    """

    __tablename__ = "evaluation_answers"
    __table_args__ = (UniqueConstraint("person_id", "instrument", "occasion"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), index=True)
    instrument: Mapped[str] = mapped_column(String(64), index=True)
    occasion: Mapped[str] = mapped_column(String(16))  # pre | post | once
    state: Mapped[str] = mapped_column(String(16), default="draft")
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    item_scores: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(200), default="room")
    source_row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Consent(Base):
    """A person's consent: to the use of their answers in reports (evaluation), or to being in
    the alumni register (alumni). `text` is the consent text they agreed to. Withdrawing keeps
    the row, with `withdrawn_at`, and removes the person's answers and register entry."""

    __tablename__ = "consents"
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    text: Mapped[str] = mapped_column(Text, default="")
    given_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AlumniEntry(Base):
    """A participant who opted into the alumni register at the end of the course; the
    follow-up survey updates it. `topics` are slugs separated by ";"."""

    __tablename__ = "alumni"
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(200), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    stakeholder_group: Mapped[str] = mapped_column(String(40), default="")
    topics: Mapped[str] = mapped_column(String(400), default="")
    will_mentor: Mapped[bool] = mapped_column(Boolean, default=False)
    will_host_intern: Mapped[bool] = mapped_column(Boolean, default=False)
    will_teach: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_from: Mapped[str] = mapped_column(String(32), default="opt-in")  # | follow-up


class AssignmentScore(Base):
    """A participant's total on one assignment, copied from nbgrader's gradebook for the
    cohort report (`igcb evaluation grades`); no row means not submitted."""

    __tablename__ = "assignment_scores"
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"), primary_key=True)
    assignment: Mapped[str] = mapped_column(String(64), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    copied_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


# --- calendars: a participant's personal feed behind a secret address -----------------------

class CalendarFeed(Base):
    """A person's secret calendar address (course/cohort/feeds.py). Only the SHA-256 of its
    random token is kept, so the database does not hold a usable address; a new address
    replaces the old one, and revoking deletes the row (the old address answers 404)."""

    __tablename__ = "calendar_feeds"
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"),
                                           primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
