"""Fellowship selection: the most merit within the seats, the budget and the committee's targets.

An exact 0-1 program solved with OR-Tools CP-SAT: a variable per applicant, merit in
thousandths of a point and costs in hundredths of the currency (integers, so the optimum is
exact to that precision), at most `seats` chosen, their costs within `budget`, and each
target a linear constraint on how many chosen fellows count towards it: at least or at most
a number, or a share of those chosen (a share p is kept as count >= p x chosen, exactly).

Targets (a YAML mapping; see `parse_targets`) count fellows by stakeholder group, region,
gender, first-time applicants, applicants from LDCs, LLDCs or SIDS (the UN lists in
data/country_groups.csv) and youth. Follow-through adds to merit: an applicant the alumni
register shows following through on an earlier fellowship gets a bonus in merit points.

Every applicant is explained against the solution. The *cut* is the lowest merit among the
chosen fellows whom no target holds; a target holds a fellow when it counts them and is
exactly met, so giving their seat to someone it does not count would break it. A chosen
fellow below the cut is held by a target (named); an applicant left out is either below
every chosen fellow they could replace, or each swap would break the budget, a maximum or a
target held by the fellow they would replace (named). On an optimal selection these are
the only possibilities: a swap that broke nothing and raised merit would be a better
selection.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

from peer_review.fellowship_review import age_band_bounds, parse_number, yes_no
from peer_review.roster import (GENDERS, REGIONS, STAKEHOLDER_GROUPS, RosterError, RosterProblem,
                                normalise_country, normalise_gender, normalise_region, normalise_stakeholder)

MERIT_UNIT = 1000  # merit in thousandths of a point (the aggregation rounds to that)
COST_UNIT = 100  # costs in hundredths of the currency
SHARE_UNIT = 10_000  # shares in hundredths of a per cent

GROUP_KINDS = {
    "stakeholder_group": (STAKEHOLDER_GROUPS, normalise_stakeholder, "stakeholder group"),
    "region": (REGIONS, normalise_region, "region"),
    "gender": (GENDERS, normalise_gender, "gender"),
}
FLAG_KINDS = {
    "first_time": "first-time applicants",
    "ldc": "applicants from LDCs",
    "lldc": "applicants from LLDCs",
    "sids": "applicants from SIDS",
    "priority_countries": "applicants from LDCs, LLDCs or SIDS",
    "youth": "youth",
}
BOUNDS = ("min", "max", "min_share", "max_share")
DEFAULT_BONUS = 0.5  # merit points for an alumnus who followed through


class TargetError(ValueError):
    """A targets file with problems; `problems` lists them ('field: what is wrong')."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class NoSelection(ValueError):
    """No selection is possible (or none was found); the message says why."""


class InfeasibleTargets(NoSelection):
    """No selection meets the targets; the message names the target(s) that cannot be met."""


class BudgetTooSmall(NoSelection):
    """The budget is below every application's cost, so no one can be chosen; the message names
    the budget and the cheapest application's cost."""


@dataclass(frozen=True)
class Target:
    """One bound on how many chosen fellows count towards a group: at least/at most a count,
    or a share (in SHARE_UNIT) of the fellows chosen."""

    kind: str
    value: str  # the group (stakeholder group, region, gender); "" for the other kinds
    lower: bool  # at least (True) or at most
    count: int | None
    share: int | None
    field: str  # where it is in the targets file, e.g. region.Africa.min
    age_limit: int | None = None  # youth: the oldest age counted

    @property
    def label(self) -> str:
        if self.kind in GROUP_KINDS:
            return f"{GROUP_KINDS[self.kind][2]} {self.value}"
        if self.kind == "youth":
            return f"youth aged {self.age_limit} or under"
        return FLAG_KINDS[self.kind]

    @property
    def wanted(self) -> str:
        amount = f"{self.count}" if self.count is not None else f"{self.share / 100:g}%"
        return f"{'at least' if self.lower else 'at most'} {amount}"

    def __str__(self) -> str:
        return f"{self.label}: {self.wanted}"

    def bound_at(self, n: int) -> int:
        """The count this target asks for when n fellows are chosen."""
        if self.count is not None:
            return self.count
        exact = self.share * n
        return -(-exact // SHARE_UNIT) if self.lower else exact // SHARE_UNIT

    def met(self, count: int, n: int) -> bool:
        return count >= self.bound_at(n) if self.lower else count <= self.bound_at(n)


# --- the targets file -----------------------------------------------------------------------

def _share(value) -> int | None:
    """0.4, or '40%', as hundredths of a per cent (4000); None if not a share."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            return None
        number = parse_number(text[:-1])
        number = None if number is None else number / 100
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        return None
    if number is None or not 0 <= number <= 1:
        return None
    return round(number * SHARE_UNIT)


def _bounds(kind: str, value: str, spec, where: str, problems: list[str], age_limit=None) -> list[Target]:
    if not isinstance(spec, dict) or not spec:
        problems.append(f"{where}: expected bounds such as {{min: 3}} or {{min_share: 0.4}} (min, max, min_share, max_share)")
        return []
    out = []
    for key, amount in spec.items():
        at = f"{where}.{key}"
        if key == "age_limit" and kind == "youth":
            continue
        if key not in BOUNDS:
            problems.append(f"{at}: unknown bound (one of {', '.join(BOUNDS)})")
            continue
        if key in ("min", "max"):
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                problems.append(f"{at}: a whole number of fellows, 0 or more (found {amount!r})")
                continue
            out.append(Target(kind, value, key == "min", amount, None, at, age_limit))
        else:
            share = _share(amount)
            if share is None:
                problems.append(f"{at}: a share between 0 and 1, e.g. 0.4 or '40%' (found {amount!r})")
                continue
            out.append(Target(kind, value, key == "min_share", None, share, at, age_limit))
    counts = {t.lower: t.count for t in out if t.count is not None}
    if counts.get(True) is not None and counts.get(False) is not None and counts[True] > counts[False]:
        problems.append(f"{where}: min {counts[True]} is above max {counts[False]}")
    shares = {t.lower: t.share for t in out if t.share is not None}
    if shares.get(True) is not None and shares.get(False) is not None and shares[True] > shares[False]:
        problems.append(f"{where}: min_share is above max_share")
    return out


def parse_targets(data) -> list[Target]:
    """The committee's targets from a parsed YAML mapping, e.g.

        stakeholder_group: {civil_society: {min: 3}, private_sector: {max: 2}}
        region: {Africa: {min_share: 0.3}, Arab States: {min: 2}}
        gender: {female: {min_share: 0.5}}
        first_time: {min_share: 0.6}
        ldc: {min: 3}
        lldc: {min: 1}
        sids: {min: 1}
        priority_countries: {min: 6}    # from an LDC, an LLDC or a SIDS
        youth: {min: 4, age_limit: 30}  # aged 30 or under in the selection year

    Raises TargetError listing every problem with its field.
    """
    if data is None:
        return []
    if not isinstance(data, dict):
        raise TargetError([f"(top level): expected a mapping of targets, found {type(data).__name__}"])
    problems: list[str] = []
    targets: list[Target] = []
    kinds = list(GROUP_KINDS) + list(FLAG_KINDS)
    for kind, spec in data.items():
        if kind not in kinds:
            problems.append(f"{kind}: unknown kind of target (one of {', '.join(kinds)})")
            continue
        if kind in GROUP_KINDS:
            vocabulary, normalise, _ = GROUP_KINDS[kind]
            if not isinstance(spec, dict) or not spec:
                problems.append(f"{kind}: expected groups with bounds, e.g. {{{vocabulary[0]}: {{min: 2}}}}")
                continue
            seen: dict[str, str] = {}
            for group, bounds in spec.items():
                value = normalise(str(group))
                if value is None:
                    problems.append(f"{kind}.{group}: unknown {kind.replace('_', ' ')} (one of {', '.join(vocabulary)})")
                    continue
                if value in seen:
                    problems.append(f"{kind}.{group}: the same group as {kind}.{seen[value]}")
                    continue
                seen[value] = str(group)
                targets += _bounds(kind, value, bounds, f"{kind}.{group}", problems)
        else:
            age_limit = None
            if kind == "youth":
                age_limit = spec.get("age_limit") if isinstance(spec, dict) else None
                if isinstance(age_limit, bool) or not isinstance(age_limit, int) or not 1 <= age_limit <= 120:
                    problems.append(f"youth.age_limit: the oldest age counted as youth, a whole number, e.g. 30 "
                                    f"(found {age_limit!r})")
                    age_limit = 0
            targets += _bounds(kind, "", spec, kind, problems, age_limit)
    if problems:
        raise TargetError(problems)
    return targets


# --- reference data: country groups, alumni, merit -------------------------------------------

def _flag(value) -> bool | None:
    text = str(value).strip().lower()
    return True if text in ("x", "yes", "y", "true", "1") else False if text in ("", "no", "n", "false", "0") else None


def check_country_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """A country-groups table (country as ISO alpha-2, ldc, lldc, sids marked x/yes or empty/no):
    country and three bool columns. Raises RosterError naming rows and columns."""
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    need = ("country", "ldc", "lldc", "sids")
    problems = [RosterProblem(1, c, "", "missing column (the header row needs it)") for c in need if c not in frame.columns]
    if problems:
        raise RosterError(problems)
    out = {c: [] for c in need}
    seen: dict[str, int] = {}
    for i, row in enumerate(frame.astype(str).to_dict("records")):
        line = i + 2
        code = normalise_country(row["country"])
        if code is None:
            problems.append(RosterProblem(line, "country", row["country"], "an ISO 3166-1 alpha-2 country code, e.g. NP"))
        elif code in seen:
            problems.append(RosterProblem(line, "country", row["country"], f"one row per country (also on row {seen[code]})"))
        else:
            seen[code] = line
        out["country"].append(code or "")
        for column in need[1:]:
            flag = _flag(row[column])
            if flag is None:
                problems.append(RosterProblem(line, column, row[column], "x (a member) or empty"))
            out[column].append(bool(flag))
    if problems:
        raise RosterError(problems)
    return pd.DataFrame(out)


def check_alumni(frame: pd.DataFrame) -> pd.DataFrame:
    """The alumni register (e.g. `igcb alumni export`): id and/or email to match applicants, and
    either a `follow_through` column (yes/no or a number from 0 to 1) or the register's
    will_mentor, will_host_intern and will_teach (an alumnus who offered any of them counts as
    following through). Returns id, email, follow_through (0 to 1)."""
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    problems = []
    if "id" not in frame.columns and "email" not in frame.columns:
        problems.append(RosterProblem(1, "id", "", "an id or email column, to find applicants in the register"))
    flags = [c for c in ("will_mentor", "will_host_intern", "will_teach") if c in frame.columns]
    if "follow_through" not in frame.columns and not flags:
        problems.append(RosterProblem(1, "follow_through", "",
                                      "a follow_through column, or will_mentor / will_host_intern / will_teach"))
    if problems:
        raise RosterError(problems)
    frame = frame.astype(object).fillna("").astype(str)
    values = []
    for i, row in enumerate(frame.to_dict("records")):
        line = i + 2
        if "follow_through" in frame.columns:
            raw = row["follow_through"].strip()
            flag = yes_no(raw)
            number = parse_number(raw) if flag is None else float(flag)
            if number is None or not 0 <= number <= 1:
                problems.append(RosterProblem(line, "follow_through", raw, "yes, no or a number from 0 to 1"))
                number = 0.0
            values.append(number)
            continue
        offered = False
        for column in flags:
            flag = yes_no(row[column]) if row[column].strip() else False
            if flag is None:
                problems.append(RosterProblem(line, column, row[column], "yes or no"))
            offered = offered or bool(flag)
        values.append(1.0 if offered else 0.0)
    if problems:
        raise RosterError(problems)
    return pd.DataFrame({
        "id": frame["id"].str.strip() if "id" in frame.columns else "",
        "email": frame["email"].str.strip().str.lower() if "email" in frame.columns else "",
        "follow_through": values,
    })


def follow_through(applications: pd.DataFrame, alumni: pd.DataFrame | None) -> np.ndarray:
    """Each applicant's follow-through (0 to 1) from the checked register, matched by id or by
    email; 0 for applicants not in it (no record is no evidence either way)."""
    out = np.zeros(len(applications))
    if alumni is None or alumni.empty:
        return out
    by_id: dict[str, float] = {}
    by_email: dict[str, float] = {}
    for aid, email, value in zip(alumni["id"], alumni["email"], alumni["follow_through"]):
        if aid:
            by_id[aid] = max(by_id.get(aid, 0.0), value)
        if email:
            by_email[email] = max(by_email.get(email, 0.0), value)
    emails = applications["email"].astype(str).str.strip().str.lower()
    for i, (aid, email) in enumerate(zip(applications["id"], emails)):
        out[i] = max(by_id.get(aid, 0.0), by_email.get(email, 0.0) if email else 0.0)
    return out


def check_merit(merit: pd.DataFrame, applications: pd.DataFrame) -> pd.DataFrame:
    """Merit per application (id, merit; optional low and high, the interval), as floats, in the
    applications' order. Every application needs a merit of 0 or more."""
    frame = merit.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    problems = [RosterProblem(1, c, "", "missing column (the header row needs it)") for c in ("id", "merit") if c not in frame.columns]
    if problems:
        raise RosterError(problems)
    frame = frame.astype(object).fillna("").astype(str)
    known = set(applications["id"])
    rows: dict[str, dict] = {}
    for i, row in enumerate(frame.to_dict("records")):
        line, aid = i + 2, row["id"].strip()
        if aid not in known:
            problems.append(RosterProblem(line, "id", aid, "the id of an application"))
            continue
        if aid in rows:
            problems.append(RosterProblem(line, "id", aid, f"one merit per application (also on row {rows[aid]['line']})"))
            continue
        value = parse_number(row["merit"])
        if value is None or value < 0:
            problems.append(RosterProblem(line, "merit", row["merit"], "a number, 0 or more"))
            value = 0.0
        entry = {"line": line, "merit": value}
        for column in ("low", "high"):
            if column in frame.columns and row[column].strip():
                number = parse_number(row[column])
                if number is None:
                    problems.append(RosterProblem(line, column, row[column], "a number (or empty)"))
                entry[column] = number
        rows[aid] = entry
    missing = [aid for aid in applications["id"] if aid not in rows]
    if missing and not problems:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        problems.append(RosterProblem(None, "merit", "", f"no merit for application(s) {shown}: score them, "
                                                         "or leave them out of the applications"))
    if problems:
        raise RosterError(problems)
    ids = applications["id"].tolist()
    return pd.DataFrame({
        "id": ids,
        "merit": [rows[a]["merit"] for a in ids],
        "low": [rows[a].get("low", np.nan) for a in ids],
        "high": [rows[a].get("high", np.nan) for a in ids],
    })


# --- who counts towards what ----------------------------------------------------------------

def youth_flags(applications: pd.DataFrame, age_limit: int, year: int) -> tuple[np.ndarray, int]:
    """Who is youth (aged `age_limit` or under in `year`), and how many applicants have no usable
    age (no birth year, and no age band wholly on one side of the limit): they count as not youth."""
    n = len(applications)
    young = np.zeros(n, dtype=bool)
    unknown = 0
    births = applications["birth_year"] if "birth_year" in applications.columns else pd.Series([pd.NA] * n)
    bands = applications["age_band"] if "age_band" in applications.columns else pd.Series([""] * n)
    for i, (born, band) in enumerate(zip(births, bands)):
        if not pd.isna(born):
            young[i] = year - int(born) <= age_limit
            continue
        bounds = age_band_bounds(band) if str(band).strip() else None
        if bounds is None:
            unknown += 1
        elif bounds[1] is not None and bounds[1] <= age_limit:
            young[i] = True
        elif bounds[0] <= age_limit:
            unknown += 1  # the band straddles the limit
    return young, unknown


def target_members(applications: pd.DataFrame, targets: list[Target], country_groups: pd.DataFrame,
                   year: int) -> tuple[np.ndarray, dict]:
    """A (targets x applicants) table of who counts towards each target, and notes (e.g. how many
    ages are unknown for a youth target)."""
    groups = country_groups.set_index("country")
    countries = applications["country"]
    flags = {c: countries.map(groups[c]).fillna(False).to_numpy(dtype=bool) for c in ("ldc", "lldc", "sids")}
    flags["priority_countries"] = flags["ldc"] | flags["lldc"] | flags["sids"]
    flags["first_time"] = applications["first_time"].to_numpy(dtype=bool)
    notes = {}
    rows = []
    for t in targets:
        if t.kind in GROUP_KINDS:
            rows.append((applications[t.kind] == t.value).to_numpy())
        elif t.kind == "youth":
            young, unknown = youth_flags(applications, t.age_limit, year)
            notes["youth_unknown"] = unknown
            rows.append(young)
        else:
            rows.append(flags[t.kind])
    return (np.array(rows, dtype=bool).reshape(len(targets), len(applications)), notes)


# --- the solver -----------------------------------------------------------------------------

@dataclass
class Solved:
    status: str  # optimal | feasible | infeasible | unknown
    chosen: np.ndarray | None
    value: int | None  # total merit of the best selection found, in MERIT_UNIT
    bound: int | None  # no selection does better (equals value when optimal)
    seconds: float


def _model(w, c, seats, budget, members, targets, keep=None, objective=True, assume=False):
    model = cp_model.CpModel()
    n = len(w)
    x = [model.new_bool_var(f"x{i}") for i in range(n)]
    total = cp_model.LinearExpr.sum(x)
    model.add(total <= seats)
    model.add(cp_model.LinearExpr.weighted_sum(x, [int(v) for v in c]) <= int(budget))
    for i in np.flatnonzero(np.asarray(c) > budget):
        model.add(x[i] == 0)
    literals = []
    for j, (t, m) in enumerate(zip(targets, members)):
        if keep is not None and not keep[j]:
            continue
        count = cp_model.LinearExpr.sum([x[i] for i in np.flatnonzero(m)])
        if t.count is not None:
            constraint = model.add(count >= t.count) if t.lower else model.add(count <= t.count)
        else:
            lhs, rhs = SHARE_UNIT * count, t.share * total
            constraint = model.add(lhs >= rhs) if t.lower else model.add(lhs <= rhs)
        if assume:
            literal = model.new_bool_var(f"t{j}")
            constraint.only_enforce_if(literal)
            literals.append((j, literal))
    if objective:
        model.maximize(cp_model.LinearExpr.weighted_sum(x, [int(v) for v in w]))
    return model, x, literals


def _solver(seconds: float, workers: int | None, params: dict | None = None) -> cp_model.CpSolver:
    """One worker by default: the search is then deterministic (same input, same selection)
    unless the time limit stops it. CP-SAT's presolve is off: on this model (a few dense
    constraints over thousands of Booleans) it spends seconds deriving dominance clauses,
    while the LP bound alone proves the optimum in a fraction of a second.

    `params`: more CP-SAT parameters by name (SatParameters fields), e.g. a limit that does not
    depend on the clock ({"max_deterministic_time": 0.01}, {"max_number_of_conflicts": 100},
    {"stop_after_first_solution": True}): tests use them to stop the search at a reproducible
    point. None (the default) leaves the solver as above."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, seconds)
    solver.parameters.num_workers = workers or 1
    solver.parameters.cp_model_presolve = False
    for name, value in (params or {}).items():
        setattr(solver.parameters, name, value)
    return solver


def solve(w, c, seats, budget, members, targets, keep=None, seconds: float = 30.0,
          hint: np.ndarray | None = None, workers: int | None = None, solver_params: dict | None = None) -> Solved:
    """The selection of most merit (w, integers) within seats, budget (costs c, integers) and the
    targets kept (`keep`, a mask; all by default). A `hint` (a feasible selection) speeds it up.
    `solver_params`: more CP-SAT parameters (see `_solver`), e.g. a deterministic limit."""
    start = time.monotonic()
    model, x, _ = _model(w, c, seats, budget, members, targets, keep)
    if hint is not None:
        for var, on in zip(x, hint):
            model.add_hint(var, bool(on))
    solver = _solver(seconds, workers, solver_params)
    status = solver.solve(model)
    elapsed = time.monotonic() - start
    if status == cp_model.INFEASIBLE:
        return Solved("infeasible", None, None, None, elapsed)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Solved("unknown", None, None, None, elapsed)
    chosen = np.array([solver.boolean_value(v) for v in x], dtype=bool)
    value = int(np.dot(np.asarray(w, dtype=np.int64), chosen))
    bound = value if status == cp_model.OPTIMAL else int(math.floor(solver.best_objective_bound + 1e-6))
    return Solved("optimal" if status == cp_model.OPTIMAL else "feasible", chosen, value, max(bound, value), elapsed)


def _plain_problems(c, seats, budget, members, targets) -> list[str]:
    """Targets that cannot be met on their own, found by counting (clear messages)."""
    out = []
    for t, m in zip(targets, members):
        if not t.lower or t.count is None or t.count == 0:
            continue
        have = int(m.sum())
        if have < t.count:
            out.append(f"{t.label}: at least {t.count} wanted, only {have} applicant{'s' if have != 1 else ''}")
        elif t.count > seats:
            out.append(f"{t.label}: at least {t.count} wanted, only {seats} seat{'s' if seats != 1 else ''}")
        else:
            cheapest = int(np.sort(np.asarray(c)[m])[: t.count].sum())
            if cheapest > budget:
                out.append(f"{t.label}: at least {t.count} wanted; the {t.count} cheapest cost {fmt_cost(cheapest)}, "
                           f"above the budget of {fmt_cost(budget)}")
    by_kind: dict[str, int] = {}
    for t in targets:
        if t.kind in GROUP_KINDS and t.lower and t.count:
            by_kind[t.kind] = by_kind.get(t.kind, 0) + t.count
    for kind, wanted in by_kind.items():
        if wanted > seats:
            out.append(f"{kind.replace('_', ' ')} targets: at least {wanted} wanted in all "
                       f"(each fellow counts towards one), only {seats} seats")
    return out


def _core(c, seats, budget, members, targets, seconds: float) -> tuple[list[int], bool]:
    """Targets that cannot all be met, none of them needed (dropping any one makes the rest
    possible): CP-SAT's infeasible assumptions, then each dropped in turn while the rest stay
    infeasible. Returns (indices, whether that minimality was proven in time)."""
    deadline = time.monotonic() + seconds
    w = np.zeros(len(c), dtype=np.int64)
    model, _, literals = _model(w, c, seats, budget, members, targets, objective=False, assume=True)
    model.add_assumptions([lit for _, lit in literals])
    solver = _solver(max(1.0, deadline - time.monotonic()), 1)
    if solver.solve(model) != cp_model.INFEASIBLE:
        return list(range(len(targets))), False
    index = {lit.index: j for j, lit in literals}
    core = sorted(index[i] for i in solver.sufficient_assumptions_for_infeasibility() if i in index)
    minimal = True
    for j in list(core):
        keep = np.zeros(len(targets), dtype=bool)
        keep[[k for k in core if k != j]] = True
        left = deadline - time.monotonic()
        if left <= 0:
            minimal = False
            break
        status = solve(w, c, seats, budget, members, targets, keep=keep, seconds=left, workers=1).status
        if status == "infeasible":
            core.remove(j)
        elif status == "unknown":
            minimal = False
    return core, minimal


# --- explanations ---------------------------------------------------------------------------

def fmt_merit(units: int | float) -> str:
    return f"{round(units / MERIT_UNIT, 3):g}"


def fmt_cost(units: int | float) -> str:
    value = units / COST_UNIT
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.2f}"


def _names(items) -> str:
    items = list(dict.fromkeys(items))
    return ", ".join(items)


def explain(w, c, chosen, seats, budget, members, targets, proven: bool = True) -> tuple[list[str], list[dict], dict]:
    """Why each applicant was or was not chosen, consistent with the selection `chosen`.

    Returns (reasons, details, facts): a sentence per applicant; per applicant a dict of what the
    sentence rests on (`held`: the targets holding a chosen fellow; for the others `relation`
    to the cut, `blocks`: why adding them, and why each swap for a lower-merit fellow, fails:
    'seats', 'budget', 'max:<target>', 'min:<target>', 'share:<target>'); facts: the cut (None
    when targets hold every fellow chosen, or no one is chosen), counts, the budget left.
    """
    w = np.asarray(w, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    chosen = np.asarray(chosen, dtype=bool)
    members = np.asarray(members, dtype=bool).reshape(len(targets), len(w))
    n = int(chosen.sum())
    left = int(budget - c[chosen].sum())
    counts = members[:, chosen].sum(axis=1) if len(targets) else np.zeros(0, dtype=int)
    bound = np.array([t.bound_at(n) for t in targets], dtype=np.int64)
    lower = np.array([t.lower for t in targets], dtype=bool)
    tight_min = lower & (counts <= bound)
    tight_max = ~lower & (counts >= bound)
    share = np.array([t.share is not None for t in targets], dtype=bool)
    labels = [t.label for t in targets]

    idx = np.flatnonzero(chosen)
    held = members[:, idx] & tight_min[:, None]  # targets x chosen
    free = ~held.any(axis=0)
    cut = int(w[idx][free].min()) if free.any() else None
    reasons: list[str] = [""] * len(w)
    details: list[dict] = [{} for _ in w]

    def who(t: int) -> str:
        return f"{labels[t]} ({targets[t].wanted}, {counts[t]} chosen)"

    others = np.flatnonzero(~chosen)
    for pos, i in enumerate(idx):
        h = np.flatnonzero(held[:, pos])
        details[i] = {"held": [labels[t] for t in h]}
        if h.size and (cut is None or w[i] < cut):
            below = ("every fellow chosen is held by a target" if cut is None
                     else f"merit {fmt_merit(w[i])} is below the cut {fmt_merit(cut)}")
            reasons[i] = f"chosen for the target{'s' if h.size > 1 else ''} {_names(who(t) for t in h)}, although {below}"
            continue
        where = "at" if w[i] == cut else "above"
        text = f"chosen: merit {fmt_merit(w[i])}, {where} the cut {fmt_merit(cut)}"
        higher = others[w[others] > w[i]]
        if higher.size and int(c[higher].max()) - c[i] > left:
            text += f"; its cost {fmt_cost(c[i])} fits the budget where some higher-merit applicants' costs do not"
        if h.size:
            text += f" (also needed for {_names(labels[t] for t in h)})"
        reasons[i] = text

    wc, cc, mc = w[idx], c[idx], members[:, idx]
    for j in others:
        mj = members[:, j]
        relation = "none" if cut is None else "above" if w[j] > cut else "at" if w[j] == cut else "below"
        head = f"not chosen: merit {fmt_merit(w[j])}" + ("" if cut is None else
                                                          f" is {relation} the cut {fmt_merit(cut)}" if relation != "at"
                                                          else f" equals the cut {fmt_merit(cut)}")
        blocks: set[str] = set()
        parts: list[str] = []
        # Adding j to the selection.
        add: list[str] = []
        add_targets: list[tuple[str, int]] = []  # ("share" | "max", target)
        if n >= seats:
            add.append("seats")
        if c[j] > left:
            add.append("budget")
        for t in range(len(targets)):
            if share[t]:
                if not targets[t].met(counts[t] + int(mj[t]), n + 1):
                    add_targets.append(("share", t))
            elif not lower[t] and mj[t] and counts[t] >= bound[t]:
                add_targets.append(("max", t))
        blocks.update(add + [f"{kind}:{labels[t]}" for kind, t in add_targets])
        # Swapping j for a fellow of lower merit (the number chosen stays, so shares act as counts).
        low = wc < w[j]
        swap_free = np.zeros(0, dtype=int)
        mins = maxes = np.zeros((len(targets), 0), dtype=bool)
        by_target = over = np.zeros(0, dtype=bool)
        if low.any():
            mins = held[:, low] & ~mj[:, None]  # targets the fellow holds and j does not count towards
            maxes = (tight_max & mj)[:, None] & ~mc[:, low]  # maxima j would break
            by_target = (mins | maxes).any(axis=0)
            over = (c[j] - cc[low]) > left
            for t in np.flatnonzero(mins.any(axis=1)):
                blocks.add(f"min:{labels[t]}")
            for t in np.flatnonzero(maxes.any(axis=1)):
                blocks.add(f"max:{labels[t]}")
            if (over & ~by_target).any():
                blocks.add("budget")
            swap_free = np.flatnonzero(~by_target & ~over)
        if w[j] <= 0:
            reasons[j] = f"not chosen: merit {fmt_merit(w[j])} adds nothing to the total"
            details[j] = {"relation": relation, "blocks": sorted(blocks)}
            continue
        if not (add or add_targets) or swap_free.size:
            # Only possible when the solver stopped before proving the selection best.
            reasons[j] = (head + "; it would fit, but the solver stopped before proving the selection best"
                          if not proven else head + "; an equally good selection leaves it out")
            details[j] = {"relation": relation, "blocks": sorted(blocks), "unproven": True}
            continue
        # Why it cannot simply be added: the seats, if they are full; else each reason.
        if "seats" in add:
            parts.append(f"all {seats} seats are taken" + ("" if low.any() else " by higher merit"))
        elif "budget" in add:
            parts.append(f"its cost {fmt_cost(c[j])} is more than the {fmt_cost(max(left, 0))} left in the budget")
        for kind, t in add_targets if "seats" not in add else []:
            if kind == "max":
                parts.append(f"the maximum for {labels[t]} ({targets[t].wanted}) is reached")
            else:
                parts.append(f"one more fellow would break {labels[t]} ({targets[t].wanted})")
        if low.any():
            # Each lower-merit fellow stays for the first of: a target holding them, a maximum
            # the swap would break, the budget.
            k = int(low.sum())
            by_min = mins.any(axis=0)
            by_max = ~by_min & maxes.any(axis=0)
            by_budget = ~by_min & ~by_max
            if by_min.any():
                names = _names(labels[t] for t in np.flatnonzero(mins.any(axis=1)))
                which = "the" if by_min.all() else f"{int(by_min.sum())} of the"
                parts.append(f"{which} {k} fellow{'s' if k > 1 else ''} with lower merit "
                             f"{'are' if by_min.sum() > 1 else 'is'} held by targets it does not count towards ({names})")
            if by_max.any():
                names = _names(labels[t] for t in np.flatnonzero(maxes[:, by_max].any(axis=1)))
                m = int(by_max.sum())
                whose = (f"any of the {k} fellows with lower merit" if by_max.all() and k > 1 else
                         "the fellow with lower merit" if by_max.all() else
                         f"{m} other lower-merit fellow{'s' if m > 1 else ''}" if by_min.any() else
                         f"{m} of the {k} fellows with lower merit")
                parts.append(f"taking the seat of {whose} would break the maximum for {names}")
            if by_budget.any():  # these swaps fail on the budget alone
                frees = int(cc[low][by_budget].max())
                rest = "a lower-merit fellow" if by_budget.all() else "any other lower-merit fellow"
                if "budget" in add and "seats" not in add:  # the cost and what is left are already said
                    parts.append(f"replacing {rest} frees at most {fmt_cost(frees)}, not enough")
                else:
                    parts.append(f"its cost {fmt_cost(c[j])} does not fit: {fmt_cost(max(left, 0))} of the budget is "
                                 f"left, and replacing {rest} frees at most {fmt_cost(frees)}")
        reasons[j] = head + "; " + "; ".join(parts)
        details[j] = {"relation": relation, "blocks": sorted(blocks)}
    facts = {"cut": cut, "chosen": n, "left": left, "counts": counts.tolist(), "held_below_cut":
             int(sum(1 for pos, i in enumerate(idx) if held[:, pos].any() and (cut is None or w[i] < cut)))}
    return reasons, details, facts


# --- the whole selection --------------------------------------------------------------------

@dataclass
class Selection:
    table: pd.DataFrame  # id, name, selected, merit, follow_through_bonus, cost, counts_towards, reasons
    details: list[dict]
    targets: list[Target]
    target_rows: list[dict]  # per target: wanted, achieved, merit cost (low, high)
    seats: int
    budget: float
    spent: float
    filled: int
    total: float  # total merit of the selection (with bonuses)
    bound: float  # no selection does better
    proven: bool
    seconds: float
    cut: float | None
    unconstrained: tuple[float, float | None] | None  # best total with no targets (value, bound)
    notes: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float:
        return 0.0 if self.proven or self.bound <= 0 else (self.bound - self.total) / self.bound


def select_fellows(applications: pd.DataFrame, merit: pd.DataFrame, seats: int, budget: float,
                   targets: list[Target] | None = None, country_groups: pd.DataFrame | None = None,
                   year: int | None = None, alumni: pd.DataFrame | None = None, bonus: float = DEFAULT_BONUS,
                   time_limit: float = 30.0, target_costs: bool = True, workers: int | None = None,
                   progress: Callable[[str], None] | None = None, solver_params: dict | None = None) -> Selection:
    """Choose fellows: most total merit (plus the follow-through bonus) within `seats`, `budget`
    and the targets; explain every applicant; say what each target costs in merit.

    `applications` checked by fellowship_review.check_applications, `merit` by check_merit (in
    the same order), `country_groups` by check_country_groups, `alumni` by check_alumni.
    `year` is the selection's (ages for youth targets). `time_limit` bounds the whole run:
    half for the selection, the rest shared by the solves without each target that price
    them. `solver_params` (more CP-SAT parameters for every solve, see `_solver`) lets tests
    stop the search at a reproducible point instead of the clock; None by default.

    Raises NoSelection when no one can be chosen: BudgetTooSmall when the budget is below every
    application's cost (checked before solving, naming the cheapest), InfeasibleTargets naming
    the target(s) that cannot be met.
    """
    if year is None and any(t.kind == "youth" for t in (targets or [])):
        raise ValueError("a youth target needs the year of the selection")
    progress = progress or (lambda message: None)
    targets = list(targets or [])
    if country_groups is None:
        country_groups = pd.DataFrame({"country": [], "ldc": [], "lldc": [], "sids": []})
    start = time.monotonic()
    ft = follow_through(applications, alumni)
    extra = np.round(bonus * ft, 3)
    w = np.round((merit["merit"].to_numpy(dtype=float) + extra) * MERIT_UNIT).astype(np.int64)
    c = np.round(applications["cost"].to_numpy(dtype=float) * COST_UNIT).astype(np.int64)
    b = int(math.floor(budget * COST_UNIT + 1e-6))
    members, notes_raw = target_members(applications, targets, country_groups, year)

    if len(c) and int(c.min()) > b:
        cheapest = int(np.argmin(c))  # the first of the cheapest, in file order
        raise BudgetTooSmall(
            f"a budget of {fmt_cost(b)} is below every application's cost: the cheapest, "
            f"{applications['id'].iloc[cheapest]} ({applications['name'].iloc[cheapest]}), costs "
            f"{fmt_cost(c[cheapest])}, so no one can be chosen")
    plain = _plain_problems(c, seats, b, members, targets)
    if plain:
        raise InfeasibleTargets("the targets cannot be met:\n" + "\n".join(f"  {p}" for p in plain))
    progress(f"selecting {seats} of {len(w)} applicants with {len(targets)} targets")
    main = solve(w, c, seats, b, members, targets, seconds=time_limit / 2 if target_costs and targets else time_limit,
                 workers=workers, solver_params=solver_params)
    if main.status == "infeasible":
        progress("the targets cannot all be met: finding which")
        core, minimal = _core(c, seats, b, members, targets, max(5.0, time_limit / 2))
        listed = "\n".join(f"  {targets[j]} ({int(members[j].sum())} applicants)" for j in core)
        which = ("without any one of them the others can be met" if minimal
                 else "the time limit stopped the search for the fewest")
        raise InfeasibleTargets(f"these targets cannot all be met with {seats} seats and a budget of {fmt_cost(b)} "
                                f"({which}):\n{listed}")
    if main.status == "unknown":
        raise InfeasibleTargets(f"no selection found within {time_limit:g} s (the solver could not even find one "
                                "that meets the targets): allow more time with --time-limit")
    chosen = main.chosen

    unconstrained = None
    rows = []
    if targets and target_costs:
        left_time = max(1.0, time_limit - (time.monotonic() - start))
        each = left_time / (len(targets) + 1)
        progress(f"pricing the targets: {len(targets) + 1} solves, up to {each:.1f} s each")

        def price(keep) -> tuple[tuple, tuple]:
            """Best total with fewer targets (value, bound), and what the dropped ones cost
            (low, high); dropping targets can only help, and the selection stays allowed, so
            the best is at least the selection's. None where the time limit left it unknown."""
            relaxed = solve(w, c, seats, b, members, targets, keep=keep, seconds=each, hint=chosen, workers=workers,
                            solver_params=solver_params)
            value = relaxed.value if relaxed.value is not None else main.value
            bound = relaxed.bound
            cost = (max(0, value - main.bound) / MERIT_UNIT, None if bound is None else max(0, bound - main.value) / MERIT_UNIT)
            return (value / MERIT_UNIT, None if bound is None else bound / MERIT_UNIT), cost

        unconstrained, _ = price(np.zeros(len(targets), dtype=bool))
        for j, t in enumerate(targets):
            keep = np.ones(len(targets), dtype=bool)
            keep[j] = False
            rows.append({"target": t, "cost": price(keep)[1]})
    elif targets:
        rows = [{"target": t, "cost": None} for t in targets]

    progress("explaining the selection")
    reasons, details, facts = explain(w, c, chosen, seats, b, members, targets, proven=main.status == "optimal")
    n = int(chosen.sum())
    for row, count, t in zip(rows, facts["counts"], targets):
        row["achieved"] = int(count)
        row["wanted_now"] = t.bound_at(n)
        row["binding"] = (count <= t.bound_at(n)) if t.lower else (count >= t.bound_at(n))
    names = [t.label for t in targets]
    table = pd.DataFrame({
        "id": applications["id"],
        "name": applications["name"],
        "selected": np.where(chosen, "yes", "no"),
        "merit": merit["merit"].to_numpy(dtype=float),
        "follow_through_bonus": extra,
        "cost": applications["cost"].to_numpy(dtype=float),
        "counts_towards": ["; ".join(names[t] for t in np.flatnonzero(members[:, i])) for i in range(len(w))],
        "reasons": reasons,
    })
    notes = []
    if notes_raw.get("youth_unknown"):
        notes.append(f"{notes_raw['youth_unknown']} applicants have no usable age (birth_year, or an age band "
                     "wholly on one side of the youth limit) and do not count as youth")
    cut = facts["cut"]
    if cut is not None and "low" in merit.columns:
        lo, hi = merit["low"].to_numpy(dtype=float), merit["high"].to_numpy(dtype=float)
        close = np.flatnonzero((lo * MERIT_UNIT <= cut) & (cut <= hi * MERIT_UNIT))
        if close.size:
            notes.append(f"{close.size} applicants' merit intervals contain the cut {fmt_merit(cut)} "
                         f"({int(chosen[close].sum())} chosen, {int((~chosen[close]).sum())} not): close calls "
                         "the panel's scores cannot separate")
    return Selection(
        table=table, details=details, targets=targets, target_rows=rows, seats=seats, budget=b / COST_UNIT,
        spent=float(c[chosen].sum()) / COST_UNIT, filled=n, total=main.value / MERIT_UNIT,
        bound=main.bound / MERIT_UNIT, proven=main.status == "optimal", seconds=time.monotonic() - start,
        cut=None if cut is None else cut / MERIT_UNIT, unconstrained=unconstrained, notes=notes)


def _range(lo: float, hi: float | None) -> str:
    if hi is None:
        return f"at least {lo:g} (the time limit stopped the proof)"
    return f"{lo:g}" if abs(hi - lo) < 1e-9 else f"between {lo:g} and {hi:g}"


def _nobody_chosen(s: Selection) -> str:
    """The summary's line for an empty selection, saying plainly why no one is chosen."""
    worth = np.round((s.table["merit"] + s.table["follow_through_bonus"]).to_numpy(dtype=float) * MERIT_UNIT) > 0
    if not worth.any():
        return "no one chosen: no applicant has merit above 0, so no selection adds any"
    if not s.targets:
        return "no one chosen" + ("" if s.proven else ": the solver stopped before finding a selection that adds merit")
    if not s.proven:
        rule = "the solver stopped before finding a selection that meets the targets and adds merit"
    elif worth.all():
        rule = "no selection of one or more fellows meets the targets"
    else:
        rule = "no selection with anyone of merit above 0 meets the targets"
    return (f"no one chosen: {rule} (e.g. a maximum of 0, or a share no selection can meet); "
            "each applicant's reason names what blocks them")


def selection_summary(s: Selection) -> list[str]:
    """What `igcb fellowships select` prints."""
    proof = ("optimal (proven)" if s.proven else
             f"best found {s.total:g}, no selection above {s.bound:g} (gap {100 * s.gap:.2f}%): the time limit "
             "stopped the proof")
    lines = [
        f"chose {s.filled} of {len(s.table)} applicants for {s.seats} seats; spent {fmt_cost(s.spent * COST_UNIT)} "
        f"of {fmt_cost(s.budget * COST_UNIT)}",
        f"total merit {s.total:g}: {proof}; solved in {s.seconds:.1f} s",
    ]
    if s.filled == 0:
        lines.append(_nobody_chosen(s))
    elif s.cut is not None:
        lines.append(f"cut {s.cut:g} (the lowest merit chosen without a target's help)")
    else:  # only targets can hold every fellow chosen
        lines.append("every fellow chosen is held by a target (no merit cut)")
    if s.targets:
        if s.unconstrained is not None:
            value, bound = s.unconstrained
            together = (max(0.0, value - s.bound), None if bound is None else max(0.0, bound - s.total))
            lines.append(f"without any target: total merit {_range(value, bound)}; the targets together cost "
                         f"{_range(*together)}")
        lines.append("targets (wanted; chosen; the merit each costs: the best total without it, less this one's):")
        for row in s.target_rows:
            t = row["target"]
            cost = "not priced" if row.get("cost") is None else _range(*row["cost"])
            state = "met exactly" if row["binding"] else "met"
            lines.append(f"  {t.label}: {t.wanted}; {row['achieved']} chosen ({state}); merit cost {cost}")
    lines += [f"note: {n}" for n in s.notes]
    return lines
