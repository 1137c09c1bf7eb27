"""Peer-facilitation rota: who leads each group's discussion in each session."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from peer_review.groups import group_key
from peer_review.roster import topic_sets

_BAN = 10**6


def _quotas(n_people: int, n_sessions: int, preference: np.ndarray, rng) -> np.ndarray:
    """Even counts (differ by at most one); the extra turns go to the best-suited people."""
    base, extra = divmod(n_sessions, n_people)
    quota = np.full(n_people, base)
    if extra:
        order = np.lexsort((rng.random(n_people), -preference))
        quota[order[:extra]] += 1
    return quota


def make_rota(groups: pd.DataFrame, sessions: list[frozenset[str]], co_facilitators: bool = False,
              seed: int = 0, labels: list | None = None) -> pd.DataFrame:
    """Build the rota for every group.

    `sessions` holds the topics of each facilitated session, in order (empty
    sets when topics are unknown). Returns group, session, facilitator_id and,
    with co-facilitators, co_facilitator_id (from another stakeholder group
    where the group allows it).
    """
    rng = np.random.default_rng(seed)
    labels = labels if labels is not None else list(range(1, len(sessions) + 1))
    n_sessions = len(sessions)
    rows = []
    by_group = dict(list(groups.groupby("group", sort=False)))
    for g in sorted(by_group, key=group_key):
        members = by_group[g].sort_values("id")
        ids = members["id"].tolist()
        stake = members["stakeholder_group"].tolist()
        skills = topic_sets(members)
        m = len(ids)
        match = np.array([[len(skills[p] & sessions[t]) > 0 for t in range(n_sessions)] for p in range(m)], dtype=int).reshape(m, n_sessions)
        quota = _quotas(m, n_sessions, match.sum(axis=1), rng)
        remaining = quota.copy()
        tiebreak = rng.random(m)
        lead = []
        prev = -1
        for t in range(n_sessions):
            ok = [p for p in range(m) if remaining[p] > 0 and p != prev] or [p for p in range(m) if remaining[p] > 0]
            # Most turns left first (this avoids back-to-back turns), then topic expertise.
            p = max(ok, key=lambda p: (remaining[p], match[p, t], tiebreak[p]))
            remaining[p] -= 1
            lead.append(p)
            prev = p
        co = [None] * n_sessions
        if co_facilitators and m > 1:
            # Co-facilitation turns also even, and heavier for those with fewer lead turns.
            co_quota = _quotas(m, n_sessions, -quota + 0.5 * match.sum(axis=1) / max(n_sessions, 1), rng)
            slots = np.repeat(np.arange(m), co_quota)
            cost = np.zeros((n_sessions, len(slots)), dtype=np.int64)
            for t in range(n_sessions):
                lp = lead[t]
                cost[t] = np.where(slots == lp, _BAN, 0) + np.array([10 * (stake[q] == stake[lp]) - match[q, t] for q in slots])
            r, c = linear_sum_assignment(cost)
            for t, j in zip(r, c):
                co[t] = slots[j] if slots[j] != lead[t] else None
        for t in range(n_sessions):
            row = {"group": g, "session": labels[t], "facilitator_id": ids[lead[t]]}
            if co_facilitators:
                row["co_facilitator_id"] = ids[co[t]] if co[t] is not None else ""
            rows.append(row)
    columns = ["group", "session", "facilitator_id"] + (["co_facilitator_id"] if co_facilitators else [])
    return pd.DataFrame(rows, columns=columns)


def rota_summary(rota: pd.DataFrame, groups: pd.DataFrame) -> list[str]:
    counts = rota.groupby(["group", "facilitator_id"]).size()
    members = groups.groupby("group")["id"].apply(list)
    spread = []
    repeats = 0
    for g, ids in members.items():
        c = counts.get(g, pd.Series(dtype=int)).reindex(ids, fill_value=0)
        spread.append(int(c.max() - c.min()))
        seq = rota.loc[rota["group"] == g, "facilitator_id"].tolist()
        repeats += sum(a == b for a, b in zip(seq, seq[1:]))
    lines = [
        f"{rota['group'].nunique()} groups x {rota['session'].nunique()} sessions; largest difference in turns within a group: {max(spread) if spread else 0}; back-to-back turns: {repeats}",
    ]
    if "co_facilitator_id" in rota.columns:
        people = groups.set_index("id")["stakeholder_group"]
        has = rota["co_facilitator_id"] != ""
        diff = (people.reindex(rota.loc[has, "facilitator_id"]).to_numpy() != people.reindex(rota.loc[has, "co_facilitator_id"]).to_numpy()).mean() if has.any() else 0
        lines.append(f"co-facilitator pairs from different stakeholder groups: {100 * diff:.1f}%")
    return lines
