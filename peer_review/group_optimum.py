"""The best stakeholder diversity study groups can reach, proven (OR-Tools CP-SAT).

The hard rules are form_groups': everyone in exactly one group; n_groups groups of q or
q+1 people, r of them of q+1 (`group_sizes`); every group sharing a language; and, when
given, every group's UTC offsets within `max_tz_spread` hours.

Pool model (`groups.pool_model`). Give every group one of the languages its members share
and, under a time-zone rule, one of the windows of offsets [w, w + max_tz_spread] that holds
its members (`groups.tz_windows`: one for each offset w where the window holds someone no
earlier one does, so every group fits one). Call the people of the groups given language l
and window w "pool (l, w)". Any grouping then has, per pool, G groups holding c_s people of
stakeholder group s, so it reaches at most sum_s min(c_s, G) in that pool. Conversely,
dealing a pool's people round-robin in stakeholder order puts each stakeholder group in
exactly min(c_s, G) of the pool's groups, and keeps the rules (one language, one window).
So the best stakeholder diversity of any grouping is exactly the best, over the ways to
split people into pools of whole groups, of the pools' sum of sum_s min(c_s, G): a small
integer program over people *types* (languages, offset, stakeholder group), whatever the
cohort's size. form_groups solves it to plan its pools (then organisations and regions);
`prove_optimum` solves it again, with more time and workers, as the proof.

Group model. `prove_optimum(by_groups=True)` solves the literal model instead, with
variables per group (people of each type in it), for the tests to check the pool model
against on small cohorts.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable

import pandas as pd
from ortools.sat.python import cp_model

from peer_review.groups import GroupingError, cp_solver, group_sizes, pool_model, utc_offset_hours
from peer_review.roster import language_sets

# Seconds between progress lines while the solver runs.
PROGRESS_EVERY = 10.0


class _Watch(cp_model.CpSolverSolutionCallback):
    """Follows a running solve (best value found, best bound proven) and reports it now and then."""

    def __init__(self, solver: cp_model.CpSolver, what: str, limit: float, progress: Callable[[str], None]):
        super().__init__()
        self.best, self.bound = None, None
        self.what, self.limit, self.progress = what, limit, progress
        self._stop = threading.Event()
        solver.best_bound_callback = self._on_bound

    def on_solution_callback(self) -> None:
        self.best = self.objective_value

    def _on_bound(self, bound: float) -> None:
        self.bound = bound

    def __enter__(self):
        self.start = time.monotonic()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _tick(self) -> None:
        while not self._stop.wait(PROGRESS_EVERY):
            best = f"{self.best:.0f}" if self.best is not None else "none yet"
            bound = f"{self.bound:.0f}" if self.bound is not None else "not yet"
            self.progress(f"{self.what}: {time.monotonic() - self.start:.0f} s (limit {self.limit:.0f} s); "
                          f"best grouping found {best}, proven bound {bound}")


def _run(model: cp_model.CpModel, what: str, seconds: float, workers: int, progress, work: float | None) -> tuple:
    """Solve with a time limit, reporting progress; (status, best value or None, proven bound or None)."""
    solver = cp_solver(work=work, seconds=seconds, workers=workers)
    with _Watch(solver, what, seconds, progress) as watch:
        status = solver.solve(model, watch)
    if status == cp_model.INFEASIBLE:
        raise GroupingError("no grouping meets the hard rules", [])
    if status == cp_model.MODEL_INVALID:
        raise RuntimeError(f"{what}: invalid model")
    solved = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    best = int(round(solver.objective_value)) if solved else None
    # Without a solution the solver's final bound means nothing (it reads 0); the last one it
    # announced while searching still holds.
    bound = solver.best_objective_bound if solved else watch.bound
    return status, best, (int(math.floor(bound + 1e-6)) if bound is not None and math.isfinite(bound) else None)


def _types(roster: pd.DataFrame, offsets: bool) -> list[tuple]:
    """Each person's type: (languages, stakeholder group, UTC offset or 0)."""
    off = [utc_offset_hours(t) for t in roster["timezone"]] if offsets else [0.0] * len(roster)
    return list(zip(language_sets(roster), roster["stakeholder_group"].astype(str), off))


def _group_model(roster: pd.DataFrame, size: int, max_tz_spread: float | None) -> cp_model.CpModel:
    """One set of variables per group: how many people of each type (languages, stakeholder, offset) it gets."""
    n_groups, q, r = group_sizes(len(roster), size)
    types = Counter(_types(roster, max_tz_spread is not None))
    type_list = sorted(types, key=lambda t: (sorted(t[0]), t[1], t[2]))
    speakers = Counter()
    for t in type_list:
        for lang in t[0]:
            speakers[lang] += types[t]
    languages = sorted(l for l in speakers if speakers[l] >= q)
    stakes = sorted({t[1] for t in type_list})
    offsets = sorted({t[2] for t in type_list})
    model = cp_model.CpModel()
    groups = range(n_groups)
    x = {(gi, t): model.new_int_var(0, min(types[t], q + 1), "") for gi in groups for t in type_list}
    lang = {(gi, l): model.new_bool_var("") for gi in groups for l in languages}
    big = {gi: model.new_bool_var("") for gi in groups}
    present = {(gi, s): model.new_bool_var("") for gi in groups for s in stakes}
    for t in type_list:
        model.add(sum(x[gi, t] for gi in groups) == types[t])
    model.add(sum(big.values()) == r)
    for gi in groups:
        model.add_exactly_one(lang[gi, l] for l in languages)
        model.add(sum(x[gi, t] for t in type_list) == q + big[gi])
        for l in languages:
            others = [x[gi, t] for t in type_list if l not in t[0]]
            if others:
                model.add(sum(others) == 0).only_enforce_if(lang[gi, l])
        for s in stakes:
            model.add(sum(x[gi, t] for t in type_list if t[1] == s) >= 1).only_enforce_if(present[gi, s])
        if max_tz_spread is not None:
            seen = {o: model.new_bool_var("") for o in offsets}
            for o in offsets:
                model.add(sum(x[gi, t] for t in type_list if t[2] == o) == 0).only_enforce_if(seen[o].negated())
            for i, a in enumerate(offsets):
                for b in offsets[i + 1 :]:
                    if b - a > max_tz_spread:
                        model.add_bool_or([seen[a].negated(), seen[b].negated()])
    # Groups are interchangeable: order them by language, larger groups first within one.
    index = {l: i for i, l in enumerate(languages)}
    order = {gi: sum(2 * index[l] * lang[gi, l] for l in languages) + 1 - big[gi] for gi in groups}
    for gi in groups[:-1]:
        model.add(order[gi] <= order[gi + 1])
    for s in stakes:
        model.add(sum(present[gi, s] for gi in groups) <= min(sum(types[t] for t in type_list if t[1] == s), n_groups))
    model.maximize(sum(present.values()))
    return model


def prove_optimum(roster: pd.DataFrame, size: int, max_tz_spread: float | None = None,
                  groups: pd.DataFrame | None = None, time_limit: float = 120.0,
                  progress: Callable[[str], None] | None = None, workers: int | None = None,
                  by_groups: bool = False, work_limit: float | None = None) -> dict:
    """The best stakeholder diversity any grouping of `roster` under the hard rules can reach.

    `groups`, form_groups' answer for the same roster, size and time-zone rule, is a grouping
    the answer cannot be below. `by_groups` solves the group-by-group model instead (to check
    the pool model). `work_limit` also stops each solve after
    that much of CP-SAT's deterministic time (the same on any machine).

    Returns `optimum` (None when the time limit stopped the solver first), `best` (the best
    value of a grouping known), `proven_bound` (no grouping does better; equals `optimum`
    when proven), `stopped` (the time limit ended the search before a proof), `method`
    and `seconds`.
    """
    progress = progress or (lambda message: None)
    workers = workers or min(8, os.cpu_count() or 1)
    start = time.monotonic()
    deadline = start + time_limit
    n_groups, q, r = group_sizes(len(roster), size)
    counts = roster["stakeholder_group"].astype(str).value_counts()
    upper = int(counts.clip(upper=n_groups).sum())
    best = int(groups.groupby("group")["stakeholder_group"].nunique().sum()) if groups is not None else 0
    langs, stake = language_sets(roster), roster["stakeholder_group"].astype(str)
    method = "the grouping reaches the upper bound"
    if by_groups:
        steps = [("CP-SAT, group by group", None)]
    else:
        # Without the time-zone rule first: its optimum bounds the rule's, and is often reached.
        steps = [("CP-SAT, pools by language", None)]
        if max_tz_spread is not None:
            steps.append(("CP-SAT, pools by language and time zone", [utc_offset_hours(t) for t in roster["timezone"]]))
    for method, offsets in steps:
        if best >= upper:
            break
        if by_groups:
            model = _group_model(roster, size, max_tz_spread)
        else:
            types = Counter(zip(langs, offsets or [0.0] * len(roster), stake))
            built = pool_model(types, n_groups, q, r, max_tz_spread if offsets else None)
            if built is None:
                raise GroupingError("no grouping meets the hard rules", [])
            model, _, _, _, reach, _ = built
            model.add(sum(reach(2)) <= upper)
            model.maximize(sum(reach(2)))
        what = f"proving the best stakeholder diversity ({method.removeprefix('CP-SAT, ')})"
        progress(what)
        _, value, bound = _run(model, what, deadline - time.monotonic(), workers, progress, work_limit)
        if value is not None and (by_groups or offsets or max_tz_spread is None):
            best = max(best, value)  # a pool's value is reached by dealing it (see the module's docstring)
        if bound is not None:
            upper = min(upper, bound)
    proven = best >= upper
    return {
        "optimum": upper if proven else None,
        "best": best,
        "proven_bound": upper,
        "stopped": not proven,
        "method": method,
        "seconds": time.monotonic() - start,
    }
