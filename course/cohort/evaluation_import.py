"""Answers imported from a survey tool, and assignment totals copied from nbgrader, into the store.

Both take rows already read and checked (course.evaluation.survey_import, the gradebook) and
change the store in the caller's transaction, all or nothing, audited.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from course.cohort.db import StoreError, audit
from course.cohort.evaluation import (find_instrument, mark_submitted,
                                     update_alumni_from_follow_up)
from course.cohort.models import AssignmentScore, Consent, EvaluationAnswer, Person, utcnow
from course.evaluation.instruments import Kind, check_answers, normalise_answers, questions


def import_answers(session: Session, instruments, plan, catalogue, instrument_id: str,
                   occasion: str, rows, source: str, actor: str) -> dict[str, int]:
    """Store the rows (person_id, answers, source_row, submitted_at) as submitted answers.

    All or nothing: an unknown person, someone who is not a participant, someone who withdrew
    their consent, or answers the instrument does not take end in a StoreError naming every
    such row. An answer a person submitted in the room is kept (the row is skipped); a draft
    or an earlier import is replaced. Importing implies the survey tool collected the
    person's consent: it is recorded as "collected by <source>".
    Returns {added, replaced, skipped}.
    """
    instrument = find_instrument(instruments, instrument_id, occasion)
    form = questions(instrument, plan, catalogue)
    ids = [row[0] for row in rows]
    refused = refused_people(session, ids)
    problems, first = [], {}
    for person_id, answers, source_row, _ in rows:
        where = source.removeprefix("import:") + (f", row {source_row}" if source_row else "")
        if person_id in refused:
            problems.append(f"{where}: {refused[person_id]}")
        elif person_id in first:
            problems.append(f"{where}: {person_id} is also on row {first[person_id]}")
        first.setdefault(person_id, source_row)
        for qid, message in check_answers(form, answers, final=False).items():
            problems.append(f"{where}: {qid}: {message}")
    if problems:
        raise StoreError("the import changes nothing:\n  " + "\n  ".join(problems))

    stored = {a.person_id: a for a in session.scalars(select(EvaluationAnswer).where(
        EvaluationAnswer.instrument == instrument_id, EvaluationAnswer.occasion == occasion,
        EvaluationAnswer.person_id.in_(ids)))}
    consented = set(session.scalars(select(Consent.person_id).where(
        Consent.person_id.in_(ids), Consent.kind == "evaluation")))
    now = utcnow()
    counts = {"added": 0, "replaced": 0, "skipped": 0}
    skipped = []
    for person_id, answers, source_row, submitted_at in rows:
        answer = stored.get(person_id)
        if answer is not None and answer.state == "submitted" and answer.source == "room":
            counts["skipped"] += 1
            skipped.append(person_id)
            continue
        if answer is None:
            answer = EvaluationAnswer(person_id=person_id, instrument=instrument_id,
                                      occasion=occasion, created_at=now)
            session.add(answer)
            counts["added"] += 1
        else:
            counts["replaced"] += 1
        mark_submitted(answer, instrument, normalise_answers(form, answers), now, submitted_at)
        answer.source, answer.source_row = source, source_row
        if person_id not in consented:
            session.add(Consent(person_id=person_id, kind="evaluation",
                                text=f"collected by {source}", given_at=now))
            consented.add(person_id)
        if instrument.kind is Kind.follow_up:
            update_alumni_from_follow_up(session, person_id, instrument, answer.answers)
    session.flush()
    audit(session, actor, "evaluation.import", f"{instrument_id}:{occasion}", source=source,
          **counts, skipped_people=skipped)
    return counts


def who_may_answer(session: Session) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """Everyone's (id, e-mail), to find who answered a survey, and why some of them may not."""
    people = [(pid, email) for pid, email in session.execute(select(Person.id, Person.email))]
    return people, refused_people(session, [pid for pid, _ in people])


def refused_people(session: Session, ids) -> dict[str, str]:
    """Those of `ids` whose answers cannot be imported, with the reason: not in the store, not
    a participant, or withdrawn (their consent, of any kind)."""
    ids = list(dict.fromkeys(ids))
    people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(ids)))}
    withdrew = set(session.scalars(select(Consent.person_id).where(
        Consent.person_id.in_(ids), Consent.withdrawn_at.is_not(None))))
    out = {}
    for person_id in ids:
        person = people.get(person_id)
        if person is None:
            out[person_id] = f"{person_id!r} is not a person of the cohort"
        elif person.role != "participant":
            out[person_id] = f"{person_id} is a {person.role}, not a participant"
        elif person_id in withdrew:
            out[person_id] = (f"{person_id} withdrew their consent: their answers are not kept; "
                              "remove the row from the file")
    return out


def copy_grades(session: Session, totals, actor: str) -> dict:
    """Make the store's assignment scores those of `totals` (person_id, assignment, score,
    max_score): every earlier row goes. People not participants of the store are left out
    and named in the result: {"copied": n, "people": n, "left_out": [ids]}."""
    totals = list(totals)
    participants = set(session.scalars(select(Person.id).where(Person.role == "participant")))
    kept = [t for t in totals if t[0] in participants]
    left_out = sorted({t[0] for t in totals if t[0] not in participants})
    seen = set()
    for person_id, assignment, _, _ in kept:
        if (person_id, assignment) in seen:
            raise StoreError(f"{person_id} has two totals for assignment {assignment!r}")
        seen.add((person_id, assignment))
    session.execute(delete(AssignmentScore))
    now = utcnow()
    session.add_all(AssignmentScore(person_id=p, assignment=a, score=float(s), max_score=float(m),
                                    copied_at=now) for p, a, s, m in kept)
    session.flush()
    result = {"copied": len(kept), "people": len({t[0] for t in kept}), "left_out": left_out}
    audit(session, actor, "evaluation.grades", "assignment_scores",
          assignments=sorted({t[1] for t in kept}), **result)
    return result
