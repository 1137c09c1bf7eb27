"""Importing a roster into the cohort store: all or nothing, with a report of what changed.

The roster frames come validated and normalised (course.commands.cohort.read_roster). Running
the import again with a changed roster adds, updates and removes people; people who already
have work in the store are never deleted (they can be kept as withdrawn instead).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from course.cohort.db import StoreError, audit
from course.cohort.models import (Allocation, AlumniEntry, Annotation, AssignmentScore,
                                  CalibrationAnswer, CalibrationSample, Consent, ContentFlag,
                                  EvaluationAnswer, Flag, MailSetting, Membership, OutgoingMail,
                                  Person, Post, ReviewerRecord, ReviewRound, RotaEntry,
                                  Submission, Thread, TutorAssignment, TutorDecision)
from course.hub import USERNAME_RULE, username_problems
from peer_review.roster import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

ROSTER_COLUMNS = REQUIRED_COLUMNS[:7] + ("gender",) + REQUIRED_COLUMNS[7:] + ("expertise",)
TEXT_FIELDS = tuple(c for c in ROSTER_COLUMNS if c != "id")
KNOWN_COLUMNS = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS) | {"capacity", "share_email"}
# Changing these for someone with allocated review tasks may break the allocation's rules.
ALLOCATION_FIELDS = ("stakeholder_group", "organisation")
_YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False, "": False}


@dataclass
class Changes:
    """What an import changed: ids added, {id: changed fields}, ids removed and withdrawn."""

    added: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.withdrawn)

    def lines(self) -> list[str]:
        """The changes as lines to print."""
        if not self.any:
            return ["no changes"]
        out = []
        if self.added:
            out.append(f"added {len(self.added)}: {', '.join(self.added)}")
        if self.updated:
            out.append(f"updated {len(self.updated)}: " + "; ".join(
                f"{pid} ({', '.join(fields)})" for pid, fields in self.updated.items()))
        if self.removed:
            out.append(f"removed {len(self.removed)}: {', '.join(self.removed)}")
        if self.withdrawn:
            out.append(f"withdrawn {len(self.withdrawn)} (kept with their work): {', '.join(self.withdrawn)}")
        return out + [f"warning: {w}" for w in self.warnings]


def share_email_problems(frame: pd.DataFrame) -> list[tuple[int, str]]:
    """(index, value) for each `share_email` value that is not yes/no/true/false/1/0/blank."""
    if "share_email" not in frame.columns:
        return []
    return [(i, v) for i, v in enumerate(frame["share_email"]) if str(v).strip().lower() not in _YES]


def _wanted(frame: pd.DataFrame, role: str) -> dict[str, dict]:
    """The Person fields each row of a roster asks for."""
    extra_columns = [c for c in frame.columns if c not in KNOWN_COLUMNS]
    out = {}
    for row in frame.to_dict("records"):
        person = {name: str(row.get(name, "")) for name in TEXT_FIELDS}
        person["role"] = role
        person["capacity"] = int(row["capacity"]) if role == "tutor" else None
        person["share_email"] = _YES[str(row.get("share_email", "")).strip().lower()]
        # Blank cells are left out, so adding a column changes only the people who fill it in.
        person["extra"] = {c: str(row[c]) for c in extra_columns if str(row[c]) != ""}
        person["active"] = True
        out[str(row["id"])] = person
    return out


def _check_rosters(participants: pd.DataFrame, tutors: pd.DataFrame, coordinator: str | None) -> None:
    problems = []
    for what, frame in (("participants", participants), ("tutors", tutors)):
        ids = [str(v) for v in frame["id"]]
        problems += [f"{what}: {value!r}: expected {USERNAME_RULE}" for _, value in username_problems(ids)]
        problems += [f"{what}: {ids[i]}: share_email {value!r}: expected yes or no (or blank)"
                     for i, value in share_email_problems(frame)]
    both = sorted(set(participants["id"]) & set(tutors["id"]))
    problems += [f"{pid} is both a participant and a tutor: a person can have only one role"
                 for pid in both]
    if coordinator is not None:
        if username_problems([coordinator]):
            problems.append(f"coordinator {coordinator!r}: expected {USERNAME_RULE}")
        for what, frame in (("participants", participants), ("tutors", tutors)):
            if coordinator in set(frame["id"]):
                problems.append(f"{coordinator} is the coordinator and also in {what}: "
                                "a person can have only one role")
    if problems:
        raise StoreError("\n".join(problems))


def _plural(n: int, one: str, many: str | None = None) -> str:
    if n == 1:
        return f"a {one}" if one[0] not in "aeiou" else f"an {one}"
    return f"{n} {many or one + 's'}"


def work_of(session: Session, ids: list[str]) -> dict[str, list[str]]:
    """What each of `ids` has in the store that ties them to it, described in words."""
    if not ids:
        return {}
    work: dict[str, list[str]] = defaultdict(list)
    for pid, label in session.execute(select(Membership.person_id, Membership.group_label)
                                      .where(Membership.person_id.in_(ids))):
        work[pid].append(f"a membership of study group {label}")
    tutoring = defaultdict(list)
    for pid, label in session.execute(select(TutorAssignment.tutor_id, TutorAssignment.group_label)
                                      .where(TutorAssignment.tutor_id.in_(ids))):
        tutoring[pid].append(label)
    for pid, labels in tutoring.items():
        work[pid].append(f"the tutoring of study group{'s' if len(labels) > 1 else ''} {', '.join(sorted(labels))}")
    turns = Counter()
    for lead, co in session.execute(select(RotaEntry.facilitator_id, RotaEntry.co_facilitator_id)):
        for pid in (lead, co):
            if pid in ids:
                turns[pid] += 1
    for pid, n in turns.items():
        work[pid].append(_plural(n, "rota turn"))
    rounds = dict(session.execute(select(ReviewRound.id, ReviewRound.name)).all())
    in_round: dict[tuple[str, int], list[str]] = defaultdict(list)
    for pid, rid, n in session.execute(select(Allocation.reviewer_id, Allocation.round_id, func.count())
                                       .where(Allocation.reviewer_id.in_(ids))
                                       .group_by(Allocation.reviewer_id, Allocation.round_id)):
        in_round[pid, rid].append(_plural(n, "review task"))
    for pid, rid in session.execute(select(Submission.author_id, Submission.round_id)
                                    .where(Submission.author_id.in_(ids))):
        in_round[pid, rid].append("a submission")
    for pid, rid, n in session.execute(
            select(CalibrationAnswer.reviewer_id, CalibrationSample.round_id, func.count())
            .join(CalibrationSample, CalibrationSample.id == CalibrationAnswer.sample_id)
            .where(CalibrationAnswer.reviewer_id.in_(ids))
            .group_by(CalibrationAnswer.reviewer_id, CalibrationSample.round_id)):
        in_round[pid, rid].append(_plural(n, "calibration answer"))
    for pid, rid, n in session.execute(select(CalibrationSample.scored_by, CalibrationSample.round_id, func.count())
                                       .where(CalibrationSample.scored_by.in_(ids))
                                       .group_by(CalibrationSample.scored_by, CalibrationSample.round_id)):
        in_round[pid, rid].append(_plural(n, "scored calibration sample"))
    for pid, rid, n in session.execute(
            select(TutorDecision.tutor_id, Submission.round_id, func.count())
            .join(Submission, Submission.id == TutorDecision.submission_id)
            .where(TutorDecision.tutor_id.in_(ids))
            .group_by(TutorDecision.tutor_id, Submission.round_id)):
        in_round[pid, rid].append(_plural(n, "tutor decision"))
    for pid, rid in session.execute(select(ReviewerRecord.reviewer_id, ReviewerRecord.round_id)
                                    .where(ReviewerRecord.reviewer_id.in_(ids))):
        in_round[pid, rid].append("a reviewer record")
    for (pid, rid), items in sorted(in_round.items()):
        work[pid].append(f"{_and(items)} in round {rounds[rid]!r}")
    for pid, n in session.execute(select(Flag.decided_by, func.count()).where(Flag.decided_by.in_(ids))
                                  .group_by(Flag.decided_by)):
        work[pid].append(_plural(n, "decided flag"))
    for column, what in PERSONAL_ROWS:
        for pid, n in session.execute(select(column, func.count()).where(column.in_(ids))
                                      .group_by(column)):
            work[pid].append(_plural(n, what))
    return dict(work)


# Rows of the discussion, mail and evaluation tables that name a person: they keep the person
# in the store (as withdrawn), as their review work does.
PERSONAL_ROWS = [
    (Thread.opened_by, "opened thread"), (Post.author_id, "post"),
    (Annotation.author_id, "annotation"), (ContentFlag.flagged_by, "content flag"),
    (MailSetting.person_id, "e-mail setting"), (OutgoingMail.person_id, "e-mail message"),
    (EvaluationAnswer.person_id, "evaluation answer"), (Consent.person_id, "consent record"),
    (AlumniEntry.person_id, "alumni register entry"),
    (AssignmentScore.person_id, "assignment score"),
    (Post.hidden_by, "hidden post"), (Annotation.hidden_by, "hidden annotation"),
    (ContentFlag.decided_by, "moderation decision"),
]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def coordinator_id(session: Session) -> str | None:
    """The (active) coordinator's id, if the store has one."""
    return session.scalar(select(Person.id).where(Person.role == "coordinator", Person.active.is_(True))
                          .order_by(Person.id).limit(1))


def _with_allocations(session: Session, ids: list[str]) -> set[str]:
    """Those of `ids` who review or are reviewed in a (not withdrawn) review task."""
    if not ids:
        return set()
    reviewers = session.scalars(select(Allocation.reviewer_id).where(
        Allocation.reviewer_id.in_(ids), Allocation.withdrawn.is_(False)))
    authors = session.scalars(select(Submission.author_id).join(
        Allocation, Allocation.submission_id == Submission.id).where(
        Submission.author_id.in_(ids), Allocation.withdrawn.is_(False)))
    return set(reviewers) | set(authors)


def import_people(session: Session, participants: pd.DataFrame, tutors: pd.DataFrame,
                  coordinator: str | None, actor: str, withdraw: bool = False) -> Changes:
    """Make the store's people those of the rosters (and the coordinator); return the changes.

    People missing from the rosters are removed when they have no work in the store; with
    work, the import is refused (StoreError naming each and their work) unless `withdraw`,
    which keeps them as inactive. A coordinator of None leaves the stored coordinator as is.
    Raises StoreError (nothing changed) for ids that cannot be hub usernames, bad share_email
    values, or a person in both rosters.
    """
    _check_rosters(participants, tutors, coordinator)
    wanted = {**_wanted(participants, "participant"), **_wanted(tutors, "tutor")}
    if coordinator is not None:
        wanted[coordinator] = {"role": "coordinator", "active": True, "capacity": None}
    stored = {p.id: p for p in session.scalars(select(Person))}
    changes = Changes()

    gone = [pid for pid, p in stored.items() if pid not in wanted and p.active
            and (coordinator is not None or p.role != "coordinator")]
    role_changes = [pid for pid in wanted if pid in stored and stored[pid].role != wanted[pid]["role"]]
    work = work_of(session, sorted(set(gone) | set(role_changes)))
    refused = []
    for pid in role_changes:
        if pid in work:
            refused.append(f"{pid} cannot change from {stored[pid].role} to {wanted[pid]['role']}: "
                           f"they have {'; '.join(work[pid])}")
    if not withdraw:
        refused += [f"{pid} has {'; '.join(work[pid])}" for pid in sorted(gone) if pid in work]
    if refused:
        raise StoreError("these people have work in the store, so the import changes nothing "
                         "(keep them in the roster, or give --withdraw to keep them as withdrawn):\n  "
                         + "\n  ".join(refused))

    allocated = _with_allocations(session, [pid for pid in wanted if pid in stored])
    for pid, fields in wanted.items():
        person = stored.get(pid)
        if person is None:
            person = Person(id=pid, **{k: v for k, v in fields.items() if k != "role"}, role=fields["role"])
            session.add(person)
            changes.added.append(pid)
            audit(session, actor, "person.add", pid, role=fields["role"])
            continue
        changed = [name for name, value in fields.items() if getattr(person, name) != value]
        if not changed:
            continue
        detail = {name: [getattr(person, name), value] for name, value in fields.items() if name in changed}
        for name in changed:
            setattr(person, name, fields[name])
        changes.updated[pid] = changed
        audit(session, actor, "person.update", pid, **detail)
        moved = [name for name in changed if name in ALLOCATION_FIELDS]
        if moved and pid in allocated:
            changes.warnings.append(
                f"{pid}: {' and '.join(name.replace('_', ' ') for name in moved)} changed, but they "
                "already have allocated review tasks: the allocation is not redone")
    for pid in sorted(gone):
        if pid in work:
            stored[pid].active = False
            changes.withdrawn.append(pid)
            audit(session, actor, "person.withdraw", pid)
        else:
            session.delete(stored[pid])
            changes.removed.append(pid)
            audit(session, actor, "person.remove", pid, role=stored[pid].role)
    session.flush()
    return changes
