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


_NODE_LIMIT = 5_000


def _spaced_pairs(lead_quota, co_quota, stake, match, tiebreak):
    """(lead, co) for every session with nobody in two consecutive sessions, or None.

    A depth-first search over sessions in order, trying pairs from another
    stakeholder group and with topic expertise first; it prunes as soon as
    someone has more turns left than the remaining sessions can hold without
    back-to-back turns (at most every other session). Turn counts are the
    quotas, so they stay as even as before.
    """
    m, n_sessions = match.shape
    people = range(m)
    left_lead = np.array(lead_quota, dtype=int)
    left_co = np.array(co_quota, dtype=int)

    def fits(t, pair):
        # After session t the R remaining sessions hold at most ceil(R/2) turns each, floor(R/2) for those in session t.
        rest = n_sessions - t - 1
        for p in people:
            cap = rest // 2 if p in pair else (rest + 1) // 2
            if left_lead[p] + left_co[p] > cap:
                return False
        return True

    def options(t, prev):
        pairs = [(p, q) for p in people if left_lead[p] > 0 and p not in prev
                 for q in people if q != p and left_co[q] > 0 and q not in prev]
        busy = left_lead + left_co
        # Another stakeholder group first, then topic expertise, then whoever has most turns left.
        return iter(sorted(pairs, key=lambda pq: (stake[pq[0]] == stake[pq[1]], -match[pq[0], t], -match[pq[1], t],
                                                  -(busy[pq[0]] + busy[pq[1]]), tiebreak[pq[0]], tiebreak[pq[1]])))

    # Depth-first: untried[t] holds the pairs of session t not tried yet; chosen[t] the one being tried.
    chosen: list[tuple[int, int] | None] = [None] * n_sessions
    untried = [options(0, ())]
    nodes = 0
    while untried:
        t = len(untried) - 1
        if chosen[t] is not None:  # the pair tried last here failed: give its turns back
            p, q = chosen[t]
            left_lead[p] += 1
            left_co[q] += 1
            chosen[t] = None
        pair = next(untried[t], None)
        if pair is None:
            untried.pop()
            continue
        nodes += 1
        if nodes > _NODE_LIMIT:
            return None
        p, q = pair
        left_lead[p] -= 1
        left_co[q] -= 1
        chosen[t] = pair
        if not fits(t, pair):
            continue
        if t + 1 == n_sessions:
            return [pq[0] for pq in chosen], [pq[1] for pq in chosen]
        untried.append(options(t + 1, pair))
    return None


def _cyclic_pairs(m: int, n_sessions: int, stake, tiebreak):
    """(lead, co) for every session from one cyclic order of the group: needs m >= 4.

    Turns are dealt along the order, two per session, so anyone's turns are at
    least m // 2 >= 2 sessions apart, and everyone's number of turns differs by
    at most one. Each person alternates leading and co-facilitating (with an
    even group each pair of the order alternates), so lead and co counts are
    each even too. Stakeholder groups are interleaved along the order so that
    partners mostly come from different groups.
    """
    sizes: dict = {}
    for s in stake:
        sizes[s] = sizes.get(s, 0) + 1
    by_size = sorted(range(m), key=lambda p: (-sizes[stake[p]], str(stake[p]), tiebreak[p]))
    order = [0] * m
    positions = list(range(0, m, 2)) + list(range(1, m, 2))
    for pos, p in zip(positions, by_size):
        order[pos] = p
    lead, co = [], []
    seen: dict = {}
    for t in range(n_sessions):
        a, b = order[(2 * t) % m], order[(2 * t + 1) % m]
        if m % 2 == 0:  # the same pairs come back: they take turns to lead
            h = seen.get(a, 0)
            seen[a] = h + 1
            a, b = (a, b) if h % 2 == 0 else (b, a)
        lead.append(a)
        co.append(b)
    return lead, co


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
            if m >= 4:  # big enough that nobody need be in two sessions in a row
                lead, co = _spaced_pairs(quota, co_quota, stake, match, tiebreak) or _cyclic_pairs(m, n_sessions, stake, tiebreak)
            else:
                slots = np.repeat(np.arange(m), co_quota)
                cost = np.zeros((n_sessions, len(slots)), dtype=np.int64)
                for t in range(n_sessions):
                    lp = lead[t]
                    # Also steer away from the neighbouring sessions' leads.
                    near = np.isin(slots, [lead[u] for u in (t - 1, t + 1) if 0 <= u < n_sessions])
                    cost[t] = np.where(slots == lp, _BAN, 0) + 5 * near + np.array([10 * (stake[q] == stake[lp]) - match[q, t] for q in slots])
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
        both = 0
        for _, part in rota.groupby("group", sort=False):
            pairs = [{a, b} - {""} for a, b in zip(part["facilitator_id"], part["co_facilitator_id"])]
            both += sum(bool(x & y) for x, y in zip(pairs, pairs[1:]))
        lines.append(f"co-facilitator pairs from different stakeholder groups: {100 * diff:.1f}%; "
                     f"someone in two sessions in a row (lead or co): {both}")
    return lines
