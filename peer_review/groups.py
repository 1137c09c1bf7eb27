"""Study groups: shared language and even sizes (hard), then diversity.

Plan: an integer program decides how many groups each language gets and how
many people of each language profile go where; within each language pool
people are dealt round-robin in stakeholder/region/organisation order, which
spreads every stakeholder group over as many groups as it can reach; a swap
search between people of the same stakeholder group then improves regions,
organisations and gender balance without touching the stakeholder mix.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

from peer_review.roster import language_sets, org_keys

# Weights of the swap search: organisation clashes first, then regions, then gender.
_W_ORG, _W_REGION, _W_GENDER = 100, 10, 1


class GroupingError(ValueError):
    """The hard rules cannot be met; `unplaced` lists (person id, reason)."""

    def __init__(self, message: str, unplaced: list[tuple[str, str]]):
        self.unplaced = unplaced
        lines = [message] + [f"  {pid}: {why}" for pid, why in unplaced]
        super().__init__("\n".join(lines))


@lru_cache(maxsize=None)
def utc_offset_hours(name: str) -> float:
    """UTC offset in hours, averaged over a January and a July day (DST seasons)."""
    zone = ZoneInfo(name)
    total = 0.0
    for month in (1, 7):
        moment = datetime(2025, month, 15, 12, tzinfo=timezone.utc).astimezone(zone)
        total += moment.utcoffset().total_seconds() / 3600
    return total / 2


def group_sizes(n: int, size: int) -> tuple[int, int, int]:
    """(number of groups, base size q, number of groups of size q+1)."""
    n_groups = max(1, math.ceil(n / size))
    return n_groups, n // n_groups, n % n_groups


def _plan_languages(langs: list[frozenset[str]], n_groups: int, q: int, r: int):
    """Decide groups per language and people per (profile, language) with an integer program."""
    profiles = sorted(set(langs), key=lambda s: sorted(s))
    count = Counter(langs)
    speakers = Counter(l for s in langs for l in s)
    languages = sorted(speakers, key=lambda l: (-speakers[l], l))
    rank = {l: i for i, l in enumerate(languages)}
    # variables: y[profile, lang] ..., g[lang] ..., z[lang] ...
    y_index = [(p, l) for p in profiles for l in sorted(p)]
    ny, nl = len(y_index), len(languages)
    nv = ny + 2 * nl
    g0, z0 = ny, ny + nl
    rows, lo, hi = [], [], []

    def row():
        return np.zeros(nv)

    for p in profiles:
        a = row()
        for j, (pp, _) in enumerate(y_index):
            if pp == p:
                a[j] = 1
        rows.append(a), lo.append(count[p]), hi.append(count[p])
    for i, l in enumerate(languages):
        a = row()
        for j, (_, ll) in enumerate(y_index):
            if ll == l:
                a[j] = 1
        a[g0 + i] = -q
        a[z0 + i] = -1
        rows.append(a), lo.append(0), hi.append(0)
        a = row()
        a[z0 + i], a[g0 + i] = 1, -1
        rows.append(a), lo.append(-np.inf), hi.append(0)
    a = row()
    a[z0 : z0 + nl] = 1
    rows.append(a), lo.append(r), hi.append(r)
    a = row()
    a[g0 : g0 + nl] = 1
    rows.append(a), lo.append(n_groups), hi.append(n_groups)
    # Fewest groups outside the most spoken languages: bigger pools, more diversity.
    cost = np.zeros(nv)
    for i, l in enumerate(languages):
        cost[g0 + i] = rank[l]
    res = milp(
        cost,
        constraints=LinearConstraint(np.array(rows), lo, hi),
        integrality=np.ones(nv),
        bounds=Bounds(0, np.inf),
    )
    if res.status != 0 or res.x is None:
        return None
    x = np.round(res.x).astype(int)
    y = {key: x[j] for j, key in enumerate(y_index) if x[j] > 0}
    pools = {l: (x[g0 + i], x[z0 + i]) for i, l in enumerate(languages) if x[g0 + i] > 0}
    return y, pools


def _explain_languages(frame: pd.DataFrame, langs, q: int) -> list[tuple[str, str]]:
    """Name the people the language rule cannot place, and why."""
    speakers = Counter(l for s in langs for l in s)
    only = defaultdict(list)
    for pid, s in zip(frame["id"], langs):
        if len(s) == 1:
            only[next(iter(s))].append(pid)
    out = []
    for pid, s in zip(frame["id"], langs):
        best = max(speakers[l] for l in s)
        if best < q:
            out.append((pid, f"speaks {';'.join(sorted(s))}; at most {best} people share one of these but a group needs {q}"))
    if out:
        return out
    for lang, people in sorted(only.items()):
        need = math.ceil(len(people) / (q + 1))
        if need * q > speakers[lang]:
            why = (
                f"speaks only {lang}: {len(people)} people speak only {lang} and {speakers[lang]} speak it, "
                f"which cannot make groups of {q}-{q + 1}"
            )
            out += [(pid, why) for pid in people]
    if out:
        return out
    main = max(speakers, key=lambda l: speakers[l])
    return [(pid, f"does not speak {main}, and the other languages cannot fill groups of {q}-{q + 1}") for pid, s in zip(frame["id"], langs) if main not in s]


def _tz_blocks(order: np.ndarray, offsets: np.ndarray, sizes: list[int], max_spread: float):
    """Cut people sorted by UTC offset into blocks of whole groups whose spread fits."""
    blocks, too_wide = [], []
    start, pos = 0, 0
    block_sizes: list[int] = []
    for s in sizes:
        chunk = order[pos : pos + s]
        if offsets[chunk].max() - offsets[chunk].min() > max_spread:
            too_wide.append(chunk)
        if block_sizes and offsets[order[pos + s - 1]] - offsets[order[start]] > max_spread:
            blocks.append((order[start:pos], block_sizes))
            start, block_sizes = pos, []
        block_sizes.append(s)
        pos += s
    blocks.append((order[start:pos], block_sizes))
    return blocks, too_wide


def _deal(members: np.ndarray, sizes: list[int], keys: list[np.ndarray], rng) -> list[np.ndarray]:
    """Deal people round-robin, sorted by the keys (most important first)."""
    tiebreak = rng.permutation(len(members))
    order = np.lexsort([tiebreak] + [k[members] for k in reversed(keys)])
    sorted_members = members[order]
    n_groups = len(sizes)
    # Round-robin gives groups 0..(m mod B)-1 one extra person: put the big sizes first.
    assert sorted(sizes, reverse=True) == [len(sorted_members[i::n_groups]) for i in range(n_groups)]
    return [sorted_members[i::n_groups] for i in range(n_groups)]


class _Groups:
    """Group membership with running counts, for the swap search."""

    def __init__(self, groups: list[np.ndarray], region, org, gender):
        self.members = [[int(p) for p in g] for g in groups]
        self.region, self.org, self.gender = list(region), list(org), list(gender)
        self.of = {}
        self.rc, self.oc, self.gc = [], [], []
        for gi, g in enumerate(self.members):
            for p in g:
                self.of[p] = gi
            self.rc.append(Counter(self.region[p] for p in g))
            self.oc.append(Counter(self.org[p] for p in g if self.org[p] >= 0))
            self.gc.append([sum(self.gender[p] == k for p in g) for k in range(3)])

    def needs_work(self, gi: int, p: int) -> bool:
        """Is p duplicated in its group (region or organisation), or is the group's gender unbalanced?"""
        o = self.org[p]
        gc = self.gc[gi]
        return self.rc[gi][self.region[p]] > 1 or (o >= 0 and self.oc[gi][o] > 1) or abs(gc[0] - gc[1]) > 1

    def _side(self, gi, out_p, in_p) -> int:
        """Change of group gi's cost when out_p leaves and in_p joins."""
        d = 0
        ro, ri = self.region[out_p], self.region[in_p]
        if ro != ri:
            rc = self.rc[gi]
            # region cost is size - distinct regions
            d += _W_REGION * ((rc[ro] == 1) - (rc.get(ri, 0) == 0))
        oo, oi = self.org[out_p], self.org[in_p]
        if oo != oi:
            oc = self.oc[gi]
            if oo >= 0 and oc[oo] >= 2:
                d -= _W_ORG
            if oi >= 0 and oc.get(oi, 0) >= 1:
                d += _W_ORG
        go, gn = self.gender[out_p], self.gender[in_p]
        if go != gn:
            f, m = self.gc[gi][0], self.gc[gi][1]
            nf = f - (go == 0) + (gn == 0)
            nm = m - (go == 1) + (gn == 1)
            d += _W_GENDER * (abs(nf - nm) - abs(f - m))
        return d

    def swap_delta(self, p, q) -> int:
        return self._side(self.of[p], p, q) + self._side(self.of[q], q, p)

    def _move(self, gi, p, sign):
        self.rc[gi][self.region[p]] += sign
        if self.org[p] >= 0:
            self.oc[gi][self.org[p]] += sign
        self.gc[gi][self.gender[p]] += sign

    def swap(self, p, q):
        gp, gq = self.of[p], self.of[q]
        self._move(gp, p, -1), self._move(gp, q, +1)
        self._move(gq, q, -1), self._move(gq, p, +1)
        self.of[p], self.of[q] = gq, gp
        self.members[gp][self.members[gp].index(p)] = q
        self.members[gq][self.members[gq].index(q)] = p


def _improve(groups: list[np.ndarray], stake, region, org, gender, rng, passes: int = 4, tries: int = 10):
    state = _Groups(groups, region, org, gender)
    by_stake = defaultdict(list)
    for g in state.members:
        for p in g:
            by_stake[stake[p]].append(p)
    by_stake = {s: np.array(sorted(v)) for s, v in by_stake.items()}
    for _ in range(passes):
        improved = 0
        for gi in range(len(state.members)):
            for p in list(state.members[gi]):
                if state.of[p] != gi or not state.needs_work(gi, p):
                    continue
                pool = by_stake[stake[p]]
                if len(pool) < 2:
                    continue
                best, best_q = 0, None
                for q in rng.choice(pool, size=min(tries, len(pool)), replace=False).tolist():
                    if state.of[q] == gi:
                        continue
                    d = state.swap_delta(p, q)
                    if d < best:
                        best, best_q = d, q
                if best_q is not None:
                    state.swap(p, best_q)
                    improved += 1
        if improved == 0:
            break
    return [np.array(m) for m in state.members]


def form_groups(roster: pd.DataFrame, size: int, seed: int = 0, max_tz_spread: float | None = None,
                progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Form study groups from a validated roster.

    Returns columns `id`, `group` (1, 2, ...) then the roster's other columns,
    ordered by group. Raises GroupingError naming the people who cannot be placed.
    `progress`, if given, is called with a short message at the start of each stage.
    """
    progress = progress or (lambda message: None)
    if size < 2:
        raise ValueError("group size must be at least 2")
    n = len(roster)
    if n == 0:
        raise GroupingError("the roster has nobody in it", [])
    rng = np.random.default_rng(seed)
    roster = roster.reset_index(drop=True)
    langs = language_sets(roster)
    n_groups, q, r = group_sizes(n, size)
    progress(f"planning {n_groups} groups of {q}-{q + 1} by language")
    plan = _plan_languages(langs, n_groups, q, r)
    if plan is None:
        raise GroupingError(
            f"no way to form {n_groups} groups of {q}-{q + 1} that each share a language; these people cannot be placed:",
            _explain_languages(roster, langs, q),
        )
    y, pools = plan

    # Which people of each language profile go to which pool.
    by_profile = defaultdict(list)
    for i, s in enumerate(langs):
        by_profile[s].append(i)
    pool_members = defaultdict(list)
    for profile, people in sorted(by_profile.items(), key=lambda kv: sorted(kv[0])):
        people = list(rng.permutation(people))
        for lang in sorted(profile):
            take = y.get((profile, lang), 0)
            pool_members[lang] += people[:take]
            people = people[take:]

    def codes(column):
        return pd.factorize(roster[column].astype(str), sort=True)[0]

    stake, region = codes("stakeholder_group"), codes("region")
    orgs = org_keys(roster)
    org = np.where(orgs == "", -1, pd.factorize(orgs, sort=True)[0])
    gender = np.select([roster["gender"] == "female", roster["gender"] == "male"], [0, 1], 2)
    offsets = np.array([utc_offset_hours(t) for t in roster["timezone"]]) if max_tz_spread is not None else None
    # Big stakeholder groups first, so the round-robin wraps them evenly.
    stake_rank = pd.Series(stake).map(pd.Series(stake).value_counts(sort=False).rank(ascending=False, method="first")).to_numpy()

    final: list[np.ndarray] = []
    too_wide_people = []
    progress(f"forming groups in {len(pools)} language pool(s): dealing people, then swapping to spread regions, organisations and gender")
    for lang in sorted(pools, key=lambda l: (-pools[l][0], l)):
        g_l, z_l = pools[lang]
        members = np.array(sorted(pool_members[lang]))
        sizes = [q + 1] * z_l + [q] * (g_l - z_l)
        if offsets is None:
            blocks = [(members, sizes)]
        else:
            order = members[np.lexsort((members, offsets[members]))]
            blocks, too_wide = _tz_blocks(order, offsets, sizes, max_tz_spread)
            too_wide_people += too_wide
        for block_members, block_sizes in blocks:
            dealt = _deal(block_members, sorted(block_sizes, reverse=True), [stake_rank, region, org, gender], rng)
            final += _improve(dealt, stake, region, org, gender, rng)
    if too_wide_people:
        unplaced = []
        for chunk in too_wide_people:
            spread = offsets[chunk].max() - offsets[chunk].min()
            for p in chunk:
                unplaced.append((roster["id"][p], f"time zone {roster['timezone'][p]} (UTC{offsets[p]:+g}) cannot join a group spanning at most {max_tz_spread:g} h (nearest group spans {spread:g} h)"))
        raise GroupingError(f"no grouping keeps every group within {max_tz_spread:g} hours of time zones; these people cannot be placed:", unplaced)

    group_of = np.empty(n, dtype=int)
    for gi, g in enumerate(final):
        group_of[g] = gi + 1
    out = roster.copy()
    out.insert(1, "group", group_of)
    out = out.sort_values(["group", "id"], kind="stable").reset_index(drop=True)
    cols = ["id", "group"] + [c for c in roster.columns if c != "id"]
    return out[cols]


def group_key(label) -> tuple:
    """Sort key for group labels: 2 before 10 when labels are numbers read from a CSV."""
    text = str(label)
    return (0, int(text), "") if text.isascii() and text.isdigit() else (1, 0, text)


def shared_languages(groups: pd.DataFrame) -> dict:
    """The languages every member of each group speaks."""
    out = {}
    for g, members in groups.groupby("group", sort=True):
        sets = language_sets(members)
        out[g] = frozenset.intersection(*sets) if sets else frozenset()
    return out
