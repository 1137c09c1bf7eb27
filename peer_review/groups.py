"""Study groups: shared language, even sizes and time zones (hard), then diversity.

Plan: an integer program (CP-SAT, `plan_pools`) splits people into pools, one per language
(and time-zone window, under a time-zone rule), and decides how many groups each pool gets:
first for the best stakeholder diversity any grouping can reach (peer_review.group_optimum
explains why the pools make this exact), then for regions, less two for each pair of
colleagues the pools force together. Within each pool people are dealt round-robin in
stakeholder, region, organisation order, which puts every stakeholder group in as many of
the pool's groups as it can reach; a swap search between people of the same stakeholder
group then improves regions, organisations and gender balance without touching the
stakeholder mix.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

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


# Work limit of each planning solve (CP-SAT's deterministic time, roughly seconds on one core):
# the same input gives the same plan on any machine. A 10,000-person plan needs about 1.
PLAN_WORK_LIMIT = 20.0
# With a time-zone rule the model is larger and harder: a smaller limit for each step, after
# which the best plan found so far is used (see plan_pools).
TZ_WORK_LIMIT = 3.0
# Beyond this many people, the time-zone plan is the plan without the rule cut by offset
# (seconds, where the model would take minutes), unless that cut breaks the rule.
TZ_MODEL_MAX_PEOPLE = 2_000


def tz_windows(offsets, max_spread: float | None) -> list:
    """The time-zone windows pools are cut by: UTC offsets [w, w + max_spread] for each start w
    whose window holds people no earlier window holds ([None]: no rule, one window)."""
    if max_spread is None:
        return [None]
    values = sorted(set(offsets))
    windows, last_end = [], None
    for i, start in enumerate(values):
        end = max(j for j in range(i, len(values)) if values[j] - start <= max_spread)
        if end != last_end:
            windows.append(start)
            last_end = end
    return windows


def pool_model(types: Counter, n_groups: int, q: int, r: int, max_spread: float | None = None):
    """The pool model (see peer_review.group_optimum) over people types.

    A type is a tuple (languages, UTC offset, ...) with a count of people. A pool is a language
    and a time-zone window (`tz_windows`): its people speak the language and their offsets lie
    in the window. Returns None if someone fits no pool, else the model; its variables
    y[type, pool] (people of the type in the pool), g[pool] (groups of the pool), z[pool] (of
    them, groups of q+1); and functions `reach(i)` (variables whose sum is the diversity of the
    types' i-th field over the pools) and `excess(i)` (people of one value of the i-th field,
    if >= 0, beyond one per group of their pool: same-value pairs no grouping can avoid).
    """
    model = cp_model.CpModel()
    windows = tz_windows([t[1] for t in types], max_spread)

    def fits(t, pool):
        lang, start = pool
        return lang in t[0] and (start is None or start <= t[1] <= start + max_spread)

    languages = sorted({l for t in types for l in t[0]})
    room = Counter()
    for pool in ((l, w) for l in languages for w in windows):
        room[pool] = sum(count for t, count in types.items() if fits(t, pool))
    pools = [pool for pool in room if room[pool] >= q]
    y = {}
    for t, count in sorted(types.items(), key=lambda kv: (sorted(kv[0][0]), kv[0][1:])):
        options = [pool for pool in pools if fits(t, pool)]
        if not options:
            return None
        for pool in options:
            y[t, pool] = model.new_int_var(0, count, "")
        model.add(sum(y[t, pool] for pool in options) == count)
    g = {pool: model.new_int_var(0, min(n_groups, room[pool] // q), "") for pool in pools}
    z = {pool: model.new_int_var(0, min(r, n_groups), "") for pool in pools}
    members = {pool: [] for pool in pools}
    for (t, pool), var in y.items():
        members[pool].append((t, var))
    for pool in pools:
        model.add(sum(v for _, v in members[pool]) == q * g[pool] + z[pool])
        model.add(z[pool] <= g[pool])
    model.add(sum(z.values()) == r)
    model.add(sum(g.values()) == n_groups)

    def by_value(pool, field, keep=lambda value: True):
        values = defaultdict(list)
        for t, v in members[pool]:
            if keep(t[field]):
                values[t[field]].append(v)
        return [values[k] for k in sorted(values)]

    def reach(field: int) -> list:
        terms = []
        for pool in pools:
            for people in by_value(pool, field):
                w = model.new_int_var(0, n_groups, "")
                model.add(w <= sum(people))
                model.add(w <= g[pool])
                terms.append(w)
        return terms

    def excess(field: int) -> list:
        total = Counter()
        for t, count in types.items():
            total[t[field]] += count
        terms = []
        for pool in pools:
            for people in by_value(pool, field, lambda value: value >= 0 and total[value] > 1):
                e = model.new_int_var(0, n_groups * (q + 1), "")
                model.add(e >= sum(people) - g[pool])
                terms.append(e)
        return terms

    return model, y, g, z, reach, excess


def cp_solver(work: float | None = None, seconds: float | None = None, workers: int = 1) -> cp_model.CpSolver:
    """A CP-SAT solver; one worker and a work limit make it deterministic."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.linearization_level = 2  # the pool model's bound comes from its LP: ~100x faster
    if work is not None:
        solver.parameters.max_deterministic_time = work
    if seconds is not None:
        solver.parameters.max_time_in_seconds = max(0.1, seconds)
    return solver


class _OutOfWork(Exception):
    """The solver used up its work limit before finding any plan."""


@dataclass
class PoolPlan:
    """How many people of each type join each pool, and each pool's groups."""

    take: dict  # (type..., pool) -> people
    pools: dict  # pool (language, window start) -> (groups, of them groups of size q+1)
    values: list  # stakeholder diversity (reached by dealing each pool); region diversity - 2 x organisation excess


def _solve_steps(types: Counter, n_groups: int, q: int, r: int, max_spread, hint: PoolPlan | None,
                 bounds: list | None, work: float = PLAN_WORK_LIMIT) -> PoolPlan | None:
    """The pool model solved in two steps: the best stakeholder diversity, then, keeping it,
    the best region diversity less two for each pair of colleagues no grouping of the pools
    can keep apart (an avoidable pair of colleagues is worth two regions).

    `bounds` (the same steps' values without the time-zone rule) cap each step while the
    steps before it reached theirs, which lets the solver stop as soon as it meets them.
    """
    built = pool_model(types, n_groups, q, r, max_spread)
    if built is None:
        return None
    model, y, g, z, reach, excess = built
    if hint is not None:
        for (t, pool), var in y.items():
            model.add_hint(var, hint.take.get(t + (pool,), 0))
        for pool in g:
            model.add_hint(g[pool], hint.pools.get(pool, (0, 0))[0])
            model.add_hint(z[pool], hint.pools.get(pool, (0, 0))[1])
    solver, values, tight = None, [], bounds is not None
    for i, terms in enumerate((reach(2), reach(3) + [-2 * e for e in excess(4)])):
        if solver is not None:
            model.clear_hints()
            for var in list(y.values()) + list(g.values()) + list(z.values()):
                model.add_hint(var, solver.value(var))
        if tight:
            model.add(sum(terms) <= bounds[i])
        model.maximize(sum(terms))
        step = cp_solver(work=work)
        status = step.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if solver is None and status == cp_model.INFEASIBLE:
                return None
            if solver is None:
                raise _OutOfWork
            break
        solver = step
        value = int(round(solver.objective_value))
        values.append(value)
        tight = tight and value == bounds[i]
        model.add(sum(terms) >= value)
    take = {t + (pool,): solver.value(v) for (t, pool), v in y.items() if solver.value(v) > 0}
    pools = {pool: (solver.value(g[pool]), solver.value(z[pool])) for pool in g if solver.value(g[pool]) > 0}
    return PoolPlan(take, pools, values)


def _tz_sizes(offs: list[float], larger: int, q: int, max_spread: float) -> list[int] | None:
    """Sizes (q or q+1, `larger` of q+1) of consecutive groups of people sorted by UTC offset
    that each keep the spread, or None."""
    n = len(offs)

    def fits(start: int, size: int) -> bool:
        return offs[start + size - 1] - offs[start] <= max_spread

    reach = [0] * (n + 1)  # bit k of reach[i]: the first i people make groups, k of them of q+1
    reach[0] = 1
    for i in range(1, n + 1):
        bits = reach[i - q] if i >= q and fits(i - q, q) else 0
        if i >= q + 1 and fits(i - q - 1, q + 1):
            bits |= reach[i - q - 1] << 1
        reach[i] = bits & ((1 << (larger + 1)) - 1)
    if not (reach[n] >> larger) & 1:
        return None
    sizes, i, k = [], n, larger
    while i > 0:
        if k and i >= q + 1 and fits(i - q - 1, q + 1) and (reach[i - q - 1] >> (k - 1)) & 1:
            sizes.append(q + 1)
            i, k = i - q - 1, k - 1
        else:
            sizes.append(q)
            i -= q
    return sizes[::-1]


def _window_hint(flat: PoolPlan, q: int, max_spread: float) -> PoolPlan | None:
    """A start for the time-zone plan: each language pool of the plan without the rule, sorted by
    offset and cut into consecutive groups that keep the rule (None if a pool cannot)."""
    windows = tz_windows([key[1] for key in flat.take], max_spread)
    take, pools = Counter(), Counter()
    for pool, (g_p, z_p) in flat.pools.items():
        people = sorted((key[:-1] for key, count in flat.take.items() if key[-1] == pool for _ in range(count)),
                        key=lambda t: t[1])
        sizes = _tz_sizes([t[1] for t in people], z_p, q, max_spread)
        if sizes is None:
            return None
        # Consecutive groups share a pool while they fit one window (more mixing within it).
        pos, start = 0, None
        for size in sizes:
            chunk, pos = people[pos : pos + size], pos + size
            if start is None or chunk[-1][1] - start > max_spread:
                start = chunk[0][1]
            window = (pool[0], max(w for w in windows if w <= start))
            for t in chunk:
                take[t + (window,)] += 1
            g_w, z_w = pools.get(window, (0, 0))
            pools[window] = (g_w + 1, z_w + (size == q + 1))
    return PoolPlan(dict(take), dict(pools), [])


def _plan_values(plan: PoolPlan, counts: Counter) -> list[int]:
    """A plan's values as _solve_steps counts them."""
    per_pool = defaultdict(lambda: (Counter(), Counter(), Counter()))
    total_org = Counter()
    for t, count in counts.items():
        total_org[t[4]] += count
    for key, count in plan.take.items():
        stake, region, org = per_pool[key[-1]]
        stake[key[2]] += count
        region[key[3]] += count
        if key[4] >= 0 and total_org[key[4]] > 1:
            org[key[4]] += count
    values = [0, 0]
    for pool, (stake, region, org) in per_pool.items():
        groups = plan.pools[pool][0]
        values[0] += sum(min(c, groups) for c in stake.values())
        values[1] += sum(min(c, groups) for c in region.values()) - 2 * sum(max(0, c - groups) for c in org.values())
    return values


def plan_pools(types: Sequence[tuple], n_groups: int, q: int, r: int, max_spread: float | None = None) -> PoolPlan | None:
    """Best split into pools: stakeholder diversity, then regions and colleagues kept apart.

    `types` has one tuple a person: (languages, UTC offset, stakeholder, region, organisation
    or -1). None if no split meets the hard rules (or, with a time-zone rule, none was found
    within the work limit). Deterministic.
    """
    counts = Counter(types)
    try:
        flat = _solve_steps(counts, n_groups, q, r, None, None, None)
    except _OutOfWork:
        raise GroupingError("the planner found no grouping within its work limit; please report this roster", []) from None
    if flat is None or max_spread is None:
        return flat
    # The rule's plan starts from the plan without it, cut by offset, and stops at its values.
    hint = _window_hint(flat, q, max_spread)
    if hint is not None:
        hint.values = _plan_values(hint, counts)
        if hint.values == flat.values or len(types) > TZ_MODEL_MAX_PEOPLE:
            return hint
    try:
        return _solve_steps(counts, n_groups, q, r, max_spread, hint, flat.values, TZ_WORK_LIMIT)
    except _OutOfWork:
        if hint is not None:
            return hint
        raise GroupingError(f"the planner found no grouping within its work limit that keeps every group within "
                            f"{max_spread:g} hours of time zones (one may exist): try a wider --max-tz-spread", []) from None


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


# Swap partners tried per person and pass: all of them in small pools, a sample in large ones.
_SWAP_BUDGET = 40_000


def _improve(groups: list[np.ndarray], stake, region, org, gender, rng, passes: int = 4):
    state = _Groups(groups, region, org, gender)
    tries = max(10, _SWAP_BUDGET // max(1, sum(len(g) for g in groups)))
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


def _pool_key(pool) -> tuple:
    lang, start = pool
    return (lang, -math.inf if start is None else start)


def _explain_infeasible(roster, langs, types, n_groups, q, r, offsets, max_tz_spread):
    """Raise GroupingError naming the people the hard rules cannot place, and why."""
    no_tz = [t[:1] + (0.0,) + t[2:] for t in types]
    plan = plan_pools(no_tz, n_groups, q, r) if max_tz_spread is not None else None
    if plan is None:
        raise GroupingError(
            f"no way to form {n_groups} groups of {q}-{q + 1} that each share a language; these people cannot be placed:",
            _explain_languages(roster, langs, q),
        )
    # Languages alone fit: name who, in each language pool sorted by offset, lands in a group too wide.
    by_type = defaultdict(list)
    for i, key in enumerate(no_tz):
        by_type[key].append(i)
    unplaced = []
    for pool, (g_p, z_p) in sorted(plan.pools.items(), key=lambda kv: _pool_key(kv[0])):
        members = []
        for key, people in by_type.items():
            take = plan.take.get(key + (pool,), 0)
            members, by_type[key] = members + people[:take], people[take:]
        order = sorted(members, key=lambda i: (offsets[i], i))
        pos = 0
        for size in [q + 1] * z_p + [q] * (g_p - z_p):
            chunk, pos = order[pos : pos + size], pos + size
            spread = offsets[chunk].max() - offsets[chunk].min()
            if spread > max_tz_spread:
                unplaced += [(roster["id"][p], f"time zone {roster['timezone'][p]} (UTC{offsets[p]:+g}) cannot join a group "
                              f"spanning at most {max_tz_spread:g} h (nearest group spans {spread:g} h)") for p in chunk]
    raise GroupingError(f"no grouping keeps every group within {max_tz_spread:g} hours of time zones; "
                        "these people cannot be placed:", unplaced)


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

    def codes(column):
        return pd.factorize(roster[column].astype(str), sort=True)[0]

    stake, region = codes("stakeholder_group"), codes("region")
    orgs = org_keys(roster)
    org = np.where(orgs == "", -1, pd.factorize(orgs, sort=True)[0])
    gender = np.select([roster["gender"] == "female", roster["gender"] == "male"], [0, 1], 2)
    offsets = np.array([utc_offset_hours(t) for t in roster["timezone"]]) if max_tz_spread is not None else None
    # Big stakeholder groups first, so the round-robin wraps them evenly.
    stake_rank = pd.Series(stake).map(pd.Series(stake).value_counts(sort=False).rank(ascending=False, method="first")).to_numpy()

    progress(f"planning {n_groups} groups of {q}-{q + 1} by language" + ("" if offsets is None else " and time zone"))
    # Only organisations that sent several people matter to the plan (fewer types, same answer).
    colleagues = np.where((org >= 0) & (np.bincount(org + 1)[org + 1] > 1), org, -1)
    off = offsets.tolist() if offsets is not None else [0.0] * n
    types = list(zip(langs, off, stake.tolist(), region.tolist(), colleagues.tolist()))
    plan = plan_pools(types, n_groups, q, r, max_tz_spread)
    if plan is None:
        _explain_infeasible(roster, langs, types, n_groups, q, r, offsets, max_tz_spread)

    # Who of each type joins which pool; then deal each pool and swap within it.
    by_type = defaultdict(list)
    for i, key in enumerate(types):
        by_type[key].append(i)
    pool_members = defaultdict(list)
    for key, people in sorted(by_type.items(), key=lambda kv: (sorted(kv[0][0]), kv[0][1:])):
        people = rng.permutation(people).tolist()
        for pool in sorted((p for p in plan.pools if key + (p,) in plan.take), key=_pool_key):
            take = plan.take[key + (pool,)]
            pool_members[pool] += people[:take]
            people = people[take:]
    final: list[np.ndarray] = []
    progress(f"forming groups in {len(plan.pools)} pool(s): dealing people, then swapping to spread regions, organisations and gender")
    for pool in sorted(plan.pools, key=lambda p: (-plan.pools[p][0], _pool_key(p))):
        g_p, z_p = plan.pools[pool]
        members = np.array(sorted(pool_members[pool]))
        dealt = _deal(members, [q + 1] * z_p + [q] * (g_p - z_p), [stake_rank, region, org, gender], rng)
        final += _improve(dealt, stake, region, org, gender, rng)

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
