"""Synthetic cohorts with planted effects, written to a real cohort store through its models.

Shared by tests/test_report*.py and bench/report_bench.py. Seeded: the same arguments give the
same store. What is planted (see `Planted`): a learning gain on the shipped plan's knowledge
test, one item answered at chance and one that discriminates negatively, a gender cell of
exactly four people (non_binary), skewed stakeholder groups and regions, people who speak no
English, study groups with tutors and a rota, discussions that some facilitators never
open, people who never post, a peer-review round, survey answers (texts included, one of
them HTML) and follow-up answers, the alumni register, grades, and two people who withdrew
their consent. The data are illustrative, not real people.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import insert

from course.cohort.db import open_store
from course.cohort.models import (Allocation, AlumniEntry, Annotation, AssignmentScore,
                                  Consent, EvaluationAnswer, Flag, Membership, Person, Post,
                                  Rating, Review, ReviewerRecord, ReviewRound, RotaEntry,
                                  Setting, StudyGroup, Submission, Thread, TutorAssignment,
                                  TutorDecision)
from course.evaluation.instruments import (InstrumentSet, Kind, load_plan_instruments, plan_end,
                                           questions, score_knowledge, window)
from course.evaluation.report import assessed_assignments
from course.layout import Layout
from course.modules import load_catalogue
from course.plans import find_plan, load_named_plan

PLAN = "online-course"
STAKEHOLDERS = {"civil_society": 0.34, "government": 0.25, "academia": 0.20,
                "technical_community": 0.14, "private_sector": 0.04, "intergovernmental": 0.03}
REGIONS = {"Africa": (0.35, ["KE", "SN", "NG", "ET"]), "Asia-Pacific": (0.22, ["IN", "ID", "CN"]),
           "Latin America and Caribbean": (0.15, ["BR", "MX", "AR"]),
           "Europe": (0.13, ["DE", "FR", "PL"]), "Arab States": (0.10, ["EG", "TN", "LB"]),
           "North America": (0.05, ["US", "CA"])}
OTHER_LANGUAGES = {"SN": "fr", "ET": "am", "CN": "zh", "BR": "pt", "MX": "es", "AR": "es",
                   "FR": "fr", "EG": "ar", "TN": "ar", "LB": "ar", "DE": "de", "ID": "id"}
SMALL_GENDER = "non_binary"  # exactly four people: a cell the report must suppress
# Completion (grades for enough assignments) differs by stakeholder group.
COMPLETION = {"civil_society": 0.72, "government": 0.64, "academia": 0.80,
              "technical_community": 0.70, "private_sector": 0.50, "intergovernmental": 0.60}
HTML_TEXT = "<script>alert('report')</script><b>never rendered</b>"


@dataclass
class Planted:
    """What a generated cohort holds, to compare the report with."""

    participants: int  # counted: without the people who withdrew
    withdrawn: list[str]
    true_gain: float  # expected post - pre share right of the people who took both
    chance_item: str
    negative_item: str
    good_items: list[str]
    small_cell: tuple[str, str] = ("gender", SMALL_GENDER)
    never_active: int = 0
    facts: dict = field(default_factory=dict)


def shipped_plan():
    """(plan file, plan, catalogue, instruments) of the shipped plan the cohorts follow."""
    layout = Layout.default()
    catalogue, _ = load_catalogue(layout.modules)
    path = find_plan(PLAN, layout.plans)
    plan = load_named_plan(PLAN, layout.plans)
    return path, plan, catalogue, load_plan_instruments(path, plan, catalogue)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def simulate_knowledge(instruments: InstrumentSet, ability: np.ndarray, gain: float,
                       rng: np.random.Generator, chance_item: int = 0, negative_item: int = 1):
    """Answers to the knowledge test before and after, by people of `ability` (logits).

    Good items follow a 3PL-like model: chance + (1 - chance) * sigmoid(1.8 (theta - b)),
    with theta = ability before and ability + `gain` after. Item `chance_item` is answered
    by guessing; item `negative_item` is got right less often the abler one is.
    Returns (the test, answers before, answers after, item ids by role, each person's expected
    share right before and after).
    """
    test = next(i for i in instruments.instruments if i.kind is Kind.knowledge_test)
    items = test.items
    difficulty = np.linspace(-0.5, 1.5, len(items))
    rng.shuffle(difficulty)

    def probabilities(theta):
        p = np.empty((len(theta), len(items)))
        for j, item in enumerate(items):
            chance = 1 / len(item.options)
            if j == chance_item:
                p[:, j] = chance
            elif j == negative_item:
                p[:, j] = _sigmoid(-2.5 * theta + 0.3)
            else:
                p[:, j] = chance + (1 - chance) * _sigmoid(1.8 * (theta - difficulty[j]))
        return p

    def answer(p):
        right = rng.random(p.shape) < p
        out = []
        for row in right:
            answers = {}
            for j, item in enumerate(items):
                if row[j]:
                    answers[item.id] = item.answer
                else:
                    wrong = [o for o in item.options if o != item.answer]
                    answers[item.id] = wrong[rng.integers(len(wrong))]
            out.append(answers)
        return out

    p_pre, p_post = probabilities(ability), probabilities(ability + gain)
    expected = (p_pre.mean(axis=1), p_post.mean(axis=1))
    roles = {"chance": items[chance_item].id, "negative": items[negative_item].id,
             "good": [it.id for j, it in enumerate(items) if j not in (chance_item, negative_item)]}
    return test, answer(p_pre), answer(p_post), roles, expected


def roster(n: int, rng: np.random.Generator, prefix: str = "p") -> pd.DataFrame:
    """Skewed, multilingual participants; exactly four of gender SMALL_GENDER."""
    stake = rng.choice(list(STAKEHOLDERS), size=n, p=list(STAKEHOLDERS.values()))
    regions = list(REGIONS)
    region = rng.choice(regions, size=n, p=[REGIONS[r][0] for r in regions])
    country = [REGIONS[r][1][rng.integers(len(REGIONS[r][1]))] for r in region]
    languages = []
    for c in country:
        other = OTHER_LANGUAGES.get(c)
        if other and rng.random() < 0.15:
            languages.append(other)  # no English
        elif other:
            languages.append(f"en;{other}")
        else:
            languages.append("en")
    gender = rng.choice(["female", "male", "undisclosed"], size=n, p=[0.5, 0.44, 0.06]).astype(object)
    gender[rng.choice(n, size=4, replace=False)] = SMALL_GENDER
    return pd.DataFrame({"id": [f"{prefix}{i:05d}" for i in range(n)], "stakeholder_group": stake,
                         "region": region, "country": country, "gender": gender,
                         "languages": languages})


def _code(rng) -> str:
    return "R-" + "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"), size=8))


def make_cohort(url: str, n: int = 150, seed: int = 0, gain: float = 0.8, answers: bool = True,
                grades: bool = True, followup_year: int | None = None, prefix: str = "p") -> Planted:
    """Write a cohort of `n` participants to the (new, empty) store at `url`.

    `answers=False`: people, groups, rota and discussions only (no tests, surveys, reviews,
    grades or alumni): an empty cohort for the report. `gain`: the learning gain in logits.
    `followup_year`: the year the follow-up answers are dated (default: the survey's window).
    """
    rng = np.random.default_rng(seed)
    _, plan, catalogue, instruments = shipped_plan()
    people = roster(n, rng, prefix)
    ids = list(people["id"])
    tutors = [f"{prefix}t{i:03d}" for i in range(max(2, n // 30))]
    coordinator = f"{prefix}coord"
    group_size = plan.cohort.group_size
    order = rng.permutation(n)
    groups = {f"G{k + 1:03d}": [ids[i] for i in order[k * group_size:(k + 1) * group_size]]
              for k in range(math.ceil(n / group_size))}
    group_of = {pid: g for g, members in groups.items() for pid in members}
    tutor_of = {g: tutors[k % len(tutors)] for k, g in enumerate(groups)}
    silent = set(rng.choice(ids, size=max(1, rng.binomial(n, 0.1)), replace=False))  # never post
    idle = set(rng.choice(sorted(silent), size=max(1, rng.binomial(len(silent), 0.3)), replace=False))  # nothing
    withdrawn = [str(pid) for pid in rng.choice(sorted(set(ids) - idle), size=2, replace=False)]
    start = dt.datetime.combine(plan.start, dt.time(9))
    end = dt.datetime.combine(plan_end(plan), dt.time(9))
    stake = dict(zip(people["id"], people["stakeholder_group"]))
    rows: dict = {m: [] for m in (Setting, Person, StudyGroup, Membership, TutorAssignment,
                                  RotaEntry, Thread, Post, Annotation, ReviewRound, Submission,
                                  Allocation, Review, Rating, Flag, TutorDecision, ReviewerRecord,
                                  Consent, EvaluationAnswer, AlumniEntry, AssignmentScore)}
    rows[Setting] = [{"key": "course", "value": plan.id}, {"key": "plan", "value": PLAN},
                     {"key": "created_at", "value": start.isoformat()}]
    for p in people.to_dict("records"):
        rows[Person].append({"id": p["id"], "role": "participant", "name": f"Participant {p['id']}",
                             "email": f"{p['id']}@example.org", "stakeholder_group": p["stakeholder_group"],
                             "region": p["region"], "country": p["country"], "gender": p["gender"],
                             "languages": p["languages"], "organisation": f"Org {p['id']}",
                             "timezone": "UTC", "expertise": "", "active": True, "extra": {}})
    for t in tutors:
        rows[Person].append({"id": t, "role": "tutor", "name": f"Tutor {t}", "email": f"{t}@example.org",
                             "capacity": 6, "languages": "en", "active": True, "extra": {}})
    rows[Person].append({"id": coordinator, "role": "coordinator", "name": "Coordinator",
                         "active": True, "extra": {}})
    for g, members in groups.items():
        rows[StudyGroup].append({"label": g, "language": "en"})
        rows[TutorAssignment].append({"group_label": g, "tutor_id": tutor_of[g], "language": "en"})
        rows[Membership] += [{"person_id": pid, "group_label": g} for pid in members]
    # The rota and the discussions: private-sector facilitators open less often.
    labels = [str(s.week if s.week is not None else s.day) for s in plan.sessions if s.discussion]
    thread_id = 0
    for g, members in groups.items():
        for k, label in enumerate(labels):
            lead = members[k % len(members)]
            rows[RotaEntry].append({"group_label": g, "session": label, "facilitator_id": lead})
            chance = 0.55 if stake[lead] == "private_sector" else 0.9
            if lead in idle or rng.random() > chance:
                continue
            thread_id += 1
            at = start + dt.timedelta(weeks=int(label) - 1, hours=1)
            rows[Thread].append({"id": thread_id, "group_label": g, "session": label,
                                 "title": f"Week {label}", "opened_by": lead, "opened_at": at})
            rows[Post].append({"thread_id": thread_id, "author_id": lead, "kind": "opening",
                               "body": f"Let us discuss week {label}.", "created_at": at})
            for who in rng.choice(members, size=min(len(members), 4), replace=False):
                if who not in silent:
                    rows[Post].append({"thread_id": thread_id, "author_id": who, "kind": "reply",
                                       "body": HTML_TEXT, "created_at": at + dt.timedelta(hours=5)})
    for pid in rng.choice(sorted(set(ids) - silent), size=max(1, n // 5), replace=False):
        rows[Annotation].append({"id": str(uuid.UUID(int=int(rng.integers(2**63)))), "page": "modules/x.html",
                                 "author_id": pid, "audience": "group", "group_label": group_of[pid],
                                 "body": HTML_TEXT, "created_at": start, "updated_at": start})
    planted = Planted(participants=n - len(withdrawn), withdrawn=withdrawn, true_gain=math.nan,
                      chance_item="", negative_item="", good_items=[], never_active=len(idle))
    if answers:
        _answers(rows, rng, instruments, plan, catalogue, people, ids, idle, withdrawn, start, end,
                 gain, grades, followup_year, groups, tutor_of, planted)
    for pid in withdrawn:  # what `withdraw` leaves: the consents, marked withdrawn
        rows[Consent] = [r for r in rows[Consent] if r["person_id"] != pid]
        rows[Consent].append({"person_id": pid, "kind": "evaluation", "text": "consent",
                              "given_at": start, "withdrawn_at": end})
    store = open_store(url)
    try:
        with store.session() as session:
            for model, values in rows.items():
                if values:
                    session.execute(insert(model), values)
    finally:
        store.close()
    return planted


def _answers(rows, rng, instruments, plan, catalogue, people, ids, idle, withdrawn, start, end,
             gain, grades, followup_year, groups, tutor_of, planted: Planted) -> None:
    n = len(ids)
    stake = dict(zip(people["id"], people["stakeholder_group"]))
    counted = [pid for pid in ids if pid not in idle and pid not in withdrawn]
    ability = dict(zip(ids, rng.normal(0, 1, n)))
    took_pre = [pid for pid in counted if rng.random() < 0.92]
    took_post = [pid for pid in took_pre if rng.random() < 0.8]
    test, pre, post, roles, expected = simulate_knowledge(
        instruments, np.array([ability[p] for p in counted]), gain, rng)
    index = {pid: i for i, pid in enumerate(counted)}
    planted.chance_item, planted.negative_item, planted.good_items = roles["chance"], roles["negative"], roles["good"]
    before, after = expected
    planted.true_gain = float(np.mean([after[index[p]] - before[index[p]] for p in took_post]))

    def answer(pid, instrument, occasion, values, when, item_scores=None, score=None):
        rows[EvaluationAnswer].append({
            "person_id": pid, "instrument": instrument, "occasion": occasion, "state": "submitted",
            "answers": values, "item_scores": item_scores, "score": score, "source": "room",
            "created_at": when, "updated_at": when, "submitted_at": when})

    for pid in counted:
        rows[Consent].append({"person_id": pid, "kind": "evaluation", "text": instruments.consent,
                              "given_at": start})
    for occasion, who, table, when in (("pre", took_pre, pre, start), ("post", took_post, post, end)):
        for pid in who:
            values = table[index[pid]]
            item_scores, score = score_knowledge(test, values)
            answer(pid, test.id, occasion, values, when, item_scores, score)
    # A draft is activity, never an answer in the report.
    drafter = next((p for p in counted if p not in took_pre), None)
    if drafter:
        rows[EvaluationAnswer].append({"person_id": drafter, "instrument": test.id, "occasion": "pre",
                                       "state": "draft", "answers": {}, "source": "room",
                                       "created_at": start, "updated_at": start})
    for inst in instruments.instruments:
        qs = questions(inst, plan, catalogue)
        if inst.kind is Kind.self_assessment:
            for occasion, who, shift, when in (("pre", took_pre, 0.0, start), ("post", took_post, 1.0, end)):
                for pid in who:
                    values = {q.id: int(np.clip(round(2.3 + 0.6 * ability[pid] + shift + rng.normal(0, 0.7)),
                                                1, len(q.options))) for q in qs}
                    answer(pid, inst.id, occasion, values, when)
        elif inst.kind is Kind.reaction:
            for pid in took_post:
                answer(pid, inst.id, "post", _survey(qs, rng, ability[pid]), end)
        elif inst.kind is Kind.follow_up:
            opens, _ = window(inst, "followup", plan)
            if followup_year:
                opens = opens.replace(year=followup_year)
            for pid in took_post:
                if rng.random() < 0.55:
                    answer(pid, inst.id, "followup", _survey(qs, rng, ability[pid]),
                           opens + dt.timedelta(days=int(rng.integers(0, 28))))
    # Grades: completers have all or all but one of the assignments the plan sets, others few.
    assessed = assessed_assignments(plan)
    completers = set()
    if grades:
        for pid in counted:
            complete = rng.random() < COMPLETION[stake[pid]]
            k = len(assessed) - int(rng.integers(0, 2)) if complete else int(rng.integers(0, 5))
            completers |= {pid} if complete else set()
            for a in rng.choice(assessed, size=k, replace=False):
                rows[AssignmentScore].append({"person_id": pid, "assignment": str(a),
                                              "score": float(np.clip(rng.normal(7 + ability[pid], 1.5), 0, 10)),
                                              "max_score": 10.0, "copied_at": end})
    planted.facts["completers"] = len(completers)
    # The alumni register.
    for pid in took_post:
        if rng.random() < 0.45:
            rows[Consent].append({"person_id": pid, "kind": "alumni", "text": instruments.alumni_consent,
                                  "given_at": end})
            rows[AlumniEntry].append({"person_id": pid, "role": "Analyst", "organisation": f"Org {pid}",
                                      "country": "KE", "stakeholder_group": stake[pid], "topics": "dns",
                                      "will_mentor": bool(rng.random() < 0.3),
                                      "will_host_intern": bool(rng.random() < 0.1),
                                      "will_teach": bool(rng.random() < 0.2), "joined_at": end, "updated_at": end})
    _reviews(rows, rng, counted, ability, groups, tutor_of, end)


def _survey(qs, rng, ability: float) -> dict:
    values = {}
    for q in qs:
        kind = q.type.value
        if kind == "scale":
            values[q.id] = int(np.clip(round(3.6 + 0.4 * ability + rng.normal(0, 0.9)), 1, len(q.options)))
        elif kind == "choice":
            values[q.id] = q.options[int(rng.integers(len(q.options)))]
        elif kind == "multi":
            picked = [o for o in q.options if rng.random() < 0.3]
            values[q.id] = picked or [q.options[-1]]
        elif kind == "number":
            base = int(rng.poisson(1.5))
            values[q.id] = int(min(q.max, base * int(rng.poisson(20)) if "people" in q.id else base))
        elif kind == "text" and rng.random() < 0.5:
            values[q.id] = HTML_TEXT if rng.random() < 0.2 else "Meeting colleagues from other regions."
    return values


def _reviews(rows, rng, counted, ability, groups, tutor_of, end) -> None:
    """One peer-review round of policy memos: three reviews each; reviewers agree moderately."""
    rows[ReviewRound].append({"id": 1, "name": "policy-memo", "state": "closed", "k": 3,
                              "rubric": {"criteria": [{"id": "argument", "title": "Argument",
                                                       "levels": [{"points": 0, "description": "weak"},
                                                                  {"points": 10, "description": "strong"}]}],
                                         "min_comment": 0},
                              "points": 10.0, "opened_at": end, "closed_at": end})
    authors = [pid for pid in counted if rng.random() < 0.85]
    group_of = {pid: g for g, members in groups.items() for pid in members}
    quality = {pid: float(np.clip(6 + 1.5 * ability[pid] + rng.normal(0, 1), 0, 10)) for pid in authors}
    bias = {pid: rng.normal(0, 0.6) for pid in authors}
    given: dict[str, list] = {pid: [] for pid in authors}
    codes = set()
    for sid, pid in enumerate(authors, start=1):
        rows[Submission].append({"id": sid, "round_id": 1, "author_id": pid, "text": "memo",
                                 "score": quality[pid], "n_reviews": 3, "added_at": end})
        others = [a for a in authors if a != pid]
        for reviewer in rng.choice(others, size=min(3, len(others)), replace=False):
            code = _code(rng)
            while code in codes:
                code = _code(rng)
            codes.add(code)
            rows[Allocation].append({"review_code": code, "round_id": 1, "submission_id": sid,
                                     "reviewer_id": reviewer, "assigned_at": end})
            if rng.random() < 0.9:
                total = float(np.clip(round(quality[pid] + bias[reviewer] + rng.normal(0, 1.2)), 0, 10))
                rows[Review].append({"review_code": code, "state": "submitted", "total": total,
                                     "updated_at": end, "submitted_at": end})
                given[reviewer].append(code)
                if rng.random() < 0.7:
                    helpful = bool(rng.random() < 0.75)
                    rows[Rating].append({"review_code": code, "helpful": helpful, "at": end})
                    given[reviewer][-1] = (code, helpful)
                if rng.random() < 0.01:
                    rows[Flag].append({"review_code": code, "reason": "rude", "at": end,
                                       "outcome": "dismissed", "decided_by": tutor_of[group_of[pid]]})
        if rng.random() < 0.05:
            rows[TutorDecision].append({"submission_id": sid, "tutor_id": tutor_of[group_of[pid]],
                                        "score": quality[pid], "note": "settled", "at": end})
    for reviewer, done in given.items():
        if done:
            rated = [x[1] for x in done if isinstance(x, tuple)]
            rows[ReviewerRecord].append({"round_id": 1, "reviewer_id": reviewer, "n_reviews": len(done),
                                         "bias": bias[reviewer], "helpful": sum(rated),
                                         "unhelpful": len(rated) - sum(rated),
                                         "distrusted": bool(rng.random() < 0.03)})
