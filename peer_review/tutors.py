"""Tutors for study groups: a shared language and capacity (hard), even loads, then fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from peer_review.groups import group_key, shared_languages
from peer_review.roster import language_sets, topic_sets

_LOAD = 1000  # marginal cost per extra group on one tutor: evens loads before fit counts
_BAN = 10**9


class TutorError(ValueError):
    """No assignment meets the hard rules."""


def assign_tutors(groups: pd.DataFrame, tutors: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Give each group a tutor who speaks the group's shared language, within capacity.

    Returns group, tutor_id, language (a language tutor and group share), fit.
    Fit counts the group's expertise topics the tutor knows, plus one if the
    tutor's region is represented in the group.
    """
    rng = np.random.default_rng(seed)
    group_ids = sorted(groups["group"].unique().tolist(), key=group_key)
    glangs = shared_languages(groups)
    gtopics = {g: frozenset().union(*topic_sets(m)) for g, m in groups.groupby("group")}
    gregions = {g: set(m["region"]) for g, m in groups.groupby("group")}
    capacity = tutors["capacity"].astype(int).to_numpy()
    total = int(capacity.sum())
    if total < len(group_ids):
        raise TutorError(f"total tutor capacity is {total} but there are {len(group_ids)} groups; add tutors or raise capacity")
    tlangs = language_sets(tutors)
    ttopics = topic_sets(tutors)
    no_tutor = [g for g in group_ids if not any(glangs[g] & tl for tl, c in zip(tlangs, capacity) if c > 0)]
    if no_tutor:
        lines = [f"  group {g}: shares {';'.join(sorted(glangs[g])) or 'no language'}" for g in no_tutor]
        raise TutorError("no tutor speaks the language of these groups:\n" + "\n".join(lines))

    # One column per unit of tutor capacity; the j-th unit of a tutor costs more (even loads).
    order = rng.permutation(len(tutors))  # seeded tie-breaking among equal tutors
    slot_tutor = np.concatenate([np.full(capacity[t], t) for t in order if capacity[t] > 0])
    slot_rank = np.concatenate([np.arange(capacity[t]) for t in order if capacity[t] > 0])
    cost = np.empty((len(group_ids), len(slot_tutor)), dtype=np.int64)
    for i, g in enumerate(group_ids):
        per_tutor = np.array([
            _BAN if not (glangs[g] & tlangs[t]) else -(len(gtopics[g] & ttopics[t]) + (tutors["region"].iat[t] in gregions[g]))
            for t in range(len(tutors))
        ])
        cost[i] = np.where(per_tutor[slot_tutor] >= _BAN, _BAN, per_tutor[slot_tutor] + _LOAD * slot_rank)
    rows, cols = linear_sum_assignment(cost)
    if cost[rows, cols].max() >= _BAN:
        short = sorted({";".join(sorted(glangs[group_ids[r]])) for r, c in zip(rows, cols) if cost[r, c] >= _BAN})
        raise TutorError("not enough tutor capacity in these languages: " + ", ".join(short))
    out = []
    for r, c in zip(rows, cols):
        g, t = group_ids[r], slot_tutor[c]
        out.append({
            "group": g,
            "tutor_id": tutors["id"].iat[t],
            "language": sorted(glangs[g] & tlangs[t])[0],
            "fit": int(-(cost[r, c] - _LOAD * slot_rank[c])),
        })
    return pd.DataFrame(out).sort_values("group", key=lambda c: c.map(group_key), kind="stable").reset_index(drop=True)


def tutor_summary(assignment: pd.DataFrame, tutors: pd.DataFrame) -> list[str]:
    loads = assignment["tutor_id"].value_counts().reindex(tutors["id"], fill_value=0)
    used = tutors.set_index("id")["capacity"]
    return [
        f"{len(assignment)} groups, {int((loads > 0).sum())} of {len(tutors)} tutors used; groups per tutor {int(loads.min())}-{int(loads.max())}; none above capacity: {'yes' if (loads <= used).all() else 'NO'}",
        f"mean fit (shared expertise topics + region): {assignment['fit'].mean():.2f}",
    ]
