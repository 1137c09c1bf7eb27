"""The cohort's structure in the store: study groups, tutor assignments, the facilitation rota.

Readers return the DataFrames `peer_review` takes (roster-shaped, with a `group` column);
writers replace what was stored, all in the caller's transaction. Group labels and session
labels are stored as text (as they come back from a CSV file).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import pandas as pd
from sqlalchemy import JSON, delete, func, select
from sqlalchemy.orm import Session

from course.cohort.db import StoreError, audit
from course.cohort.models import (Allocation, Base, CalibrationSample, Membership, Person,
                                  Review, ReviewRound, RotaEntry, Setting, StudyGroup, Submission,
                                  TutorAssignment, utcnow)
from course.cohort.people import ROSTER_COLUMNS
from peer_review.groups import group_key, shared_languages


def get_setting(session: Session, key: str) -> str | None:
    """A cohort-wide setting (e.g. course, plan), or None when unset."""
    row = session.get(Setting, key)
    return row.value if row is not None else None


def set_setting(session: Session, actor: str, key: str, value: str) -> bool:
    """Set a cohort-wide setting; True when it changed (and was audited)."""
    row = session.get(Setting, key)
    if row is not None and row.value == value:
        return False
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value
    audit(session, actor, "setting.set", key, value=value)
    return True


def _roster_row(person: Person, capacity: bool = False) -> dict:
    row = {name: getattr(person, name) for name in ROSTER_COLUMNS}
    if capacity:
        row["capacity"] = person.capacity if person.capacity is not None else 0
    return row


def people_frame(session: Session, role: str) -> pd.DataFrame:
    """Active people of `role` as a roster (DESIGN.md columns, plus capacity for tutors), by id."""
    people = session.scalars(select(Person).where(Person.role == role, Person.active.is_(True))
                             .order_by(Person.id))
    columns = list(ROSTER_COLUMNS) + (["capacity"] if role == "tutor" else [])
    return pd.DataFrame([_roster_row(p, role == "tutor") for p in people], columns=columns)


def _group_language(members: pd.DataFrame, shared: frozenset[str]) -> str:
    """Of the languages all members share, the one they list first most often (then a-z)."""
    if not shared:
        return ""
    firsts = Counter(next((l for l in langs.split(";") if l in shared), "") for langs in members["languages"])
    return min(shared, key=lambda lang: (-firsts[lang], lang))


def groups_frame(session: Session) -> pd.DataFrame:
    """Active participants with their study group: id, group, then the roster columns.

    Ordered by group, then id (as `peer_review.groups.form_groups` returns them); withdrawn
    members are left out, so tutors and rota go to those still taking part.
    """
    rows = session.execute(select(Membership.group_label, Person)
                           .join(Person, Person.id == Membership.person_id)
                           .where(Person.active.is_(True)))
    records = [{"group": label, **_roster_row(person)} for label, person in rows]
    records.sort(key=lambda r: (group_key(r["group"]), r["id"]))
    columns = ["id", "group"] + [c for c in ROSTER_COLUMNS if c != "id"]
    return pd.DataFrame(records, columns=columns)


def tutors_frame(session: Session) -> pd.DataFrame:
    """The tutor of each study group: group, tutor_id, language."""
    rows = session.execute(select(TutorAssignment.group_label, TutorAssignment.tutor_id,
                                  TutorAssignment.language)).all()
    rows = sorted(rows, key=lambda r: group_key(r[0]))
    return pd.DataFrame([list(r) for r in rows], columns=["group", "tutor_id", "language"])


def rota_frame(session: Session) -> pd.DataFrame:
    """The facilitation rota: group, session, facilitator_id, co_facilitator_id ("" for none)."""
    rows = session.execute(select(RotaEntry.group_label, RotaEntry.session,
                                  RotaEntry.facilitator_id, RotaEntry.co_facilitator_id)).all()
    rows = sorted(rows, key=lambda r: (group_key(r[0]), group_key(r[1])))
    return pd.DataFrame([[g, s, f, c or ""] for g, s, f, c in rows],
                        columns=["group", "session", "facilitator_id", "co_facilitator_id"])


def _allocated_rounds(session: Session) -> list[str]:
    """Names of review rounds that already have review tasks."""
    return list(session.scalars(select(ReviewRound.name).where(
        select(Allocation.review_code).where(Allocation.round_id == ReviewRound.id).exists())
        .order_by(ReviewRound.name)))


def _check_people(session: Session, ids, role: str, what: str) -> None:
    known = set(session.scalars(select(Person.id).where(Person.role == role, Person.active.is_(True))))
    unknown = sorted({str(i) for i in ids} - known)
    if unknown:
        raise StoreError(f"{what}: not active {role}s in the store: {', '.join(unknown[:20])}")


def store_groups(session: Session, groups: pd.DataFrame, actor: str) -> dict[str, int]:
    """Replace the study groups and memberships with `groups` (columns id, group, languages).

    The old groups' tutor assignments and rota go too (they belong to the old groups); the
    counts removed are returned. Refused once a review round has allocated review tasks,
    since allocations were made from the groups.
    """
    rounds = _allocated_rounds(session)
    if rounds:
        raise StoreError("study groups cannot change: review tasks were allocated from them in "
                         f"round{'s' if len(rounds) > 1 else ''} {', '.join(repr(r) for r in rounds)}")
    if groups["id"].duplicated().any():
        twice = sorted(set(groups.loc[groups["id"].duplicated(), "id"]))
        raise StoreError(f"study groups: in more than one group: {', '.join(twice)}")
    _check_people(session, groups["id"], "participant", "study groups")
    frame = groups.assign(group=groups["group"].astype(str))
    dropped = {
        "tutor assignments": session.execute(delete(TutorAssignment)).rowcount,
        "rota entries": session.execute(delete(RotaEntry)).rowcount,
    }
    session.execute(delete(Membership))
    session.execute(delete(StudyGroup))
    session.flush()
    shared = shared_languages(frame)
    for label, members in frame.groupby("group", sort=False):
        session.add(StudyGroup(label=label, language=_group_language(members, shared[label])))
    session.flush()
    for pid, label in zip(frame["id"], frame["group"]):
        session.add(Membership(person_id=str(pid), group_label=label))
    audit(session, actor, "groups.store", "study_groups", groups=int(frame["group"].nunique()),
          members=len(frame), **{k.replace(" ", "_") + "_dropped": v for k, v in dropped.items()})
    session.flush()
    return dropped


def _check_groups(session: Session, labels, what: str) -> None:
    known = set(session.scalars(select(StudyGroup.label)))
    if not known:
        raise StoreError("no study groups yet: run `igcb cohort groups`")
    unknown = sorted({str(g) for g in labels} - known, key=group_key)
    if unknown:
        raise StoreError(f"{what}: no such study group in the store: {', '.join(unknown)}")


def store_tutors(session: Session, assignment: pd.DataFrame, actor: str) -> None:
    """Replace the tutor assignments with `assignment` (columns group, tutor_id, language)."""
    _check_groups(session, assignment["group"], "tutors")
    _check_people(session, assignment["tutor_id"], "tutor", "tutors")
    session.execute(delete(TutorAssignment))
    for row in assignment.itertuples():
        session.add(TutorAssignment(group_label=str(row.group), tutor_id=str(row.tutor_id),
                                    language=str(row.language)))
    audit(session, actor, "tutors.store", "tutor_assignments", groups=len(assignment),
          tutors=int(assignment["tutor_id"].nunique()))
    session.flush()


def store_rota(session: Session, rota: pd.DataFrame, actor: str) -> None:
    """Replace the rota with `rota` (group, session, facilitator_id[, co_facilitator_id]).

    Facilitators must be members of the group they facilitate.
    """
    _check_groups(session, rota["group"], "rota")
    members = {tuple(row) for row in session.execute(select(Membership.person_id, Membership.group_label))}
    co = rota["co_facilitator_id"] if "co_facilitator_id" in rota.columns else [""] * len(rota)
    outside = sorted({f"{p} (group {g})" for g, lead, c in zip(rota["group"], rota["facilitator_id"], co)
                      for p in (lead, c) if p and (str(p), str(g)) not in members})
    if outside:
        raise StoreError(f"rota: facilitators must be members of their group: {', '.join(outside[:20])}")
    session.execute(delete(RotaEntry))
    for g, s, lead, c in zip(rota["group"], rota["session"], rota["facilitator_id"], co):
        session.add(RotaEntry(group_label=str(g), session=str(s), facilitator_id=str(lead),
                              co_facilitator_id=str(c) if c else None))
    audit(session, actor, "rota.store", "rota", entries=len(rota),
          sessions=int(rota["session"].nunique()), co_facilitators=any(bool(c) for c in co))
    session.flush()


def cohort_status(session: Session, now: datetime | None = None) -> dict:
    """Where the cohort stands: people, groups, tutors, rota, and each review round's counts."""
    now = now or utcnow()
    people = {}
    for role, active, n in session.execute(select(Person.role, Person.active, func.count())
                                           .group_by(Person.role, Person.active)):
        people.setdefault(role, {"active": 0, "withdrawn": 0})["active" if active else "withdrawn"] += n
    count = lambda query: session.scalar(query) or 0  # noqa: E731
    status = {
        "people": people,
        "groups": count(select(func.count()).select_from(StudyGroup)),
        "members": count(select(func.count()).select_from(Membership)),
        "tutored_groups": count(select(func.count()).select_from(TutorAssignment)),
        "tutors_assigned": count(select(func.count(func.distinct(TutorAssignment.tutor_id)))),
        "rota_sessions": count(select(func.count(func.distinct(RotaEntry.session)))),
        "rota_entries": count(select(func.count()).select_from(RotaEntry)),
        "rounds": [],
    }
    for rnd in session.scalars(select(ReviewRound).order_by(ReviewRound.opened_at, ReviewRound.id)):
        tasks = session.execute(select(Allocation.review_code, Review.state)
                                .outerjoin(Review, Review.review_code == Allocation.review_code)
                                .where(Allocation.round_id == rnd.id, Allocation.withdrawn.is_(False))).all()
        samples = session.execute(select(CalibrationSample.tutor_scores)
                                  .where(CalibrationSample.round_id == rnd.id)).scalars().all()
        past_due = rnd.due is not None and now > rnd.due
        status["rounds"].append({
            "name": rnd.name,
            "state": rnd.state,
            "due": rnd.due,
            "submissions": count(select(func.count()).select_from(Submission)
                                 .where(Submission.round_id == rnd.id)),
            "tasks": len(tasks),
            "submitted": sum(state == "submitted" for _, state in tasks),
            "drafts": sum(state == "draft" for _, state in tasks),
            "late": sum(state != "submitted" for _, state in tasks) if past_due else 0,
            "calibration_samples": len(samples),
            "calibration_scored": sum(s is not None for s in samples),
        })
    return status


def _cell(value, is_json: bool):
    if value is None:
        return None
    if is_json:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def table_frames(session: Session) -> dict[str, pd.DataFrame]:
    """Every table of the store as a DataFrame (JSON columns as JSON text), parents first."""
    out = {}
    for table in Base.metadata.sorted_tables:
        json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
        keys = [c.name for c in table.columns]
        rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
        out[table.name] = pd.DataFrame(
            [[_cell(v, k in json_columns) for k, v in zip(keys, row)] for row in rows], columns=keys, dtype=object)
    return out
