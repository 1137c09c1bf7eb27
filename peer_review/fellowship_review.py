"""Fellowship applications: their checks, their review by a panel, and their merit.

An application is a roster row (DESIGN.md's contract) with `statement`, `prior_participation`
(yes/no or the number of earlier events), `support_needed` (text), `cost` (a number, in the
programme's currency) and optionally `first_time` (yes/no; by default, no prior
participation), `birth_year` or `age_band` (for youth targets) and `language` (of the
statement; by default the applicant's first language). The panel is a roster too, optionally
with a `capacity` (applications a panellist can score).

The panel review reuses the peer-review engine: `allocation.allocate_reviews` with the panel
as a separate pool of reviewers and the country rule on (never a panellist of the applicant's
organisation or country; each panel drawn from as many stakeholder groups as the rules allow,
and from groups other than the applicant's wherever possible), and
`aggregation.aggregate_scores` (panellists' bias and reliability) for merit.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from peer_review import aggregation, allocation
from peer_review.roster import (RosterError, RosterProblem, check_capacity, normalise_language, org_keys,
                                validate_roster)

APPLICATION_COLUMNS = ("statement", "prior_participation", "support_needed", "cost")
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}
_BAND = re.compile(r"(\d{1,3})\s*(?:-|–|to)\s*(\d{1,3})|(\d{1,3})\s*\+")


def yes_no(value: str) -> bool | None:
    """yes/no (y/n, true/false, 1/0) as a bool; None for anything else."""
    text = str(value).strip().lower()
    return True if text in _YES else False if text in _NO else None


def parse_number(value: str) -> float | None:
    """A finite number written plainly, with optional thousands separators (1,200.50)."""
    text = str(value).strip().replace(",", "").replace("_", "")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def age_band_bounds(value: str) -> tuple[int, int | None] | None:
    """'18-24' -> (18, 24); '35+' -> (35, None); None if not a band."""
    match = _BAND.fullmatch(str(value).strip())
    if not match:
        return None
    if match.group(3) is not None:
        return int(match.group(3)), None
    low, high = int(match.group(1)), int(match.group(2))
    return (low, high) if low <= high else None


def _application_checks(frame: pd.DataFrame, problems: list[RosterProblem]) -> None:
    missing = [c for c in APPLICATION_COLUMNS if c not in frame.columns]
    problems += [RosterProblem(1, c, "", "missing column (the header row needs it)") for c in missing]
    if missing:
        return
    costs, prior, first = [], [], []
    has_first = "first_time" in frame.columns
    for i, row in enumerate(frame.to_dict("records")):
        line = i + 2
        cost = parse_number(row["cost"])
        if cost is None or cost < 0:
            problems.append(RosterProblem(line, "cost", row["cost"], "the cost of the support, a number of 0 or more"))
        costs.append(cost if cost is not None else 0.0)
        raw = str(row["prior_participation"]).strip()
        flag = yes_no(raw)
        count = int(raw) if raw.isascii() and raw.isdigit() else None
        if flag is None and count is None:
            problems.append(RosterProblem(line, "prior_participation", raw,
                                          "yes, no or the number of earlier events (0 or more)"))
        before = count > 0 if count is not None else bool(flag)
        prior.append(str(count) if count is not None else ("yes" if flag else "no"))
        if has_first and str(row["first_time"]).strip():
            stated = yes_no(row["first_time"])
            if stated is None:
                problems.append(RosterProblem(line, "first_time", row["first_time"], "yes or no (or empty)"))
            elif stated and before and (flag is not None or count is not None):
                problems.append(RosterProblem(line, "first_time", row["first_time"],
                                              f"no: prior_participation says {raw}"))
            first.append(bool(stated) if stated is not None else not before)
        else:
            first.append(not before)
    frame["cost"] = costs
    frame["prior_participation"] = prior
    frame["first_time"] = first
    if "birth_year" in frame.columns:
        years = []
        for i, value in enumerate(frame["birth_year"]):
            text = str(value).strip()
            if text and not (text.isascii() and text.isdigit() and 1900 <= int(text) <= 2100):
                problems.append(RosterProblem(i + 2, "birth_year", text, "a year of birth such as 1998 (or empty)"))
            years.append(int(text) if text.isascii() and text.isdigit() else None)
        frame["birth_year"] = pd.array(years, dtype="Int64")
    if "language" in frame.columns:  # of the statement; empty: the applicant's first language
        languages = []
        for i, value in enumerate(frame["language"]):
            text = str(value).strip()
            code = normalise_language(text) if text else ""
            if code is None:
                problems.append(RosterProblem(i + 2, "language", text, "an ISO 639-1 language code, e.g. en (or empty)"))
            languages.append(code or "")
        own = [str(v).split(";")[0] for v in frame["languages"]]
        frame["language"] = [code or lang for code, lang in zip(languages, own)]
    if "age_band" in frame.columns:
        for i, value in enumerate(frame["age_band"]):
            if str(value).strip() and age_band_bounds(value) is None:
                problems.append(RosterProblem(i + 2, "age_band", value, "an age band such as 18-24 or 35+ (or empty)"))


def check_applications(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate applications (every problem at once, as RosterError); a normalised copy:
    `cost` a float, `first_time` a bool, `prior_participation` 'yes', 'no' or a count,
    `birth_year` an integer or missing."""
    return validate_roster(frame, _application_checks)


def check_panel(panel: pd.DataFrame, applications: pd.DataFrame) -> pd.DataFrame:
    """Validate the panel roster (optional `capacity`); a panellist who is also an applicant
    is refused (they would score their competitors)."""
    applicant_ids = set(applications["id"])

    def checks(frame, problems):
        if "capacity" in frame.columns:
            check_capacity(frame, problems)
        for i, pid in enumerate(frame["id"]):
            if pid in applicant_ids:
                problems.append(RosterProblem(i + 2, "id", pid, "a panellist who is not also an applicant"))

    return validate_roster(panel, checks)


def allocate_panel(applications: pd.DataFrame, panel: pd.DataFrame, k: int = 3, seed: int = 0) -> pd.DataFrame:
    """Give each application k panellists; the panel's tasks, one row per (application,
    panellist), with an empty `score` column for the panellist to fill in.

    Both tables validated (check_applications, check_panel). Without capacities, loads are as
    even as the rules allow. Raises allocation.AllocationError when some application lacks k
    eligible panellists, or the capacities cannot carry every task (the message says which)."""
    subs = pd.DataFrame({"submission_id": applications["id"], "author_id": applications["id"]})
    if "language" in applications.columns:
        subs["language"] = applications["language"]
    tasks = allocation.allocate_reviews(subs, applications, k=k, seed=seed, reviewers=panel, avoid_country=True,
                                         spread_stakeholders=True)
    names = dict(zip(applications["id"], applications["name"]))
    panel_names = dict(zip(panel["id"], panel["name"]))
    out = pd.DataFrame({
        "application_id": tasks["submission_id"],
        "applicant": tasks["submission_id"].map(names),
        "panellist_id": tasks["reviewer_id"],
        "panellist": tasks["reviewer_id"].map(panel_names),
        "score": "",
    })
    order = {pid: i for i, pid in enumerate(panel["id"])}
    out = out.assign(_p=out["panellist_id"].map(order)).sort_values(["_p", "application_id"], kind="stable")
    return out.drop(columns="_p").reset_index(drop=True)


def panel_quality(tasks: pd.DataFrame, applications: pd.DataFrame, panel: pd.DataFrame, k: int) -> dict:
    """Counts that show the rules held: panellists per application, load, conflicts, the share of
    tasks across stakeholder groups and how many groups sit on each application's panel."""
    apps, pan = applications.set_index("id"), panel.set_index("id")
    per_app = tasks.groupby("application_id").size().reindex(applications["id"], fill_value=0)
    loads = tasks["panellist_id"].value_counts().reindex(panel["id"], fill_value=0)
    a, p = apps.loc[tasks["application_id"]], pan.loc[tasks["panellist_id"]]
    org_a, org_p = org_keys(a).to_numpy(), org_keys(p).to_numpy()
    groups = (tasks.assign(group=p["stakeholder_group"].to_numpy())
              .groupby("application_id")["group"].nunique())
    return {
        "applications": len(applications),
        "tasks": len(tasks),
        "panellists_per_application": (int(per_app.min()), int(per_app.max())),
        "k": k,
        "load": (int(loads.min()), int(loads.max())),
        "same_organisation": int(((org_a == org_p) & (org_a != "")).sum()),
        "same_country": int((a["country"].to_numpy() == p["country"].to_numpy()).sum()),
        "cross_stakeholder": float(np.mean(a["stakeholder_group"].to_numpy() != p["stakeholder_group"].to_numpy()))
        if len(tasks) else 1.0,
        "panel_groups": (int(groups.min()), float(groups.mean())) if len(groups) else (0, 0.0),
    }


def panel_summary(q: dict) -> list[str]:
    lo, hi = q["panellists_per_application"]
    return [
        f"{q['applications']} applications, {q['tasks']} panel tasks; panellists per application {lo}-{hi} "
        f"(k = {q['k']}); applications per panellist {q['load'][0]}-{q['load'][1]}",
        f"same organisation: {q['same_organisation']}; same country: {q['same_country']}; "
        f"cross-stakeholder {100 * q['cross_stakeholder']:.1f}%; stakeholder groups on a panel: "
        f"at least {q['panel_groups'][0]}, {q['panel_groups'][1]:.2f} on average",
    ]


_SCORE_COLUMNS = {"application_id": "submission_id", "panellist_id": "reviewer_id"}


_WORDS = (("a submission id", "an application id"), ("a reviewer id", "a panellist id"),
          ("one review per reviewer and submission", "one score per panellist and application"),
          ("the review was not done", "the panellist has not scored it"), ("no scored reviews", "no scores"))


def _renamed(err: RosterError) -> RosterError:
    """Problems found by the aggregation's checks, in the scores file's own words."""
    back = {v: k for k, v in _SCORE_COLUMNS.items()}
    problems = []
    for p in err.problems:
        expected = p.expected
        for old, new in _WORDS:
            expected = expected.replace(old, new)
        problems.append(RosterProblem(p.row, back.get(p.column, p.column), p.value, expected))
    return RosterError(problems)


def check_scores(scores: pd.DataFrame, applications: pd.DataFrame | None = None,
                 scale: tuple[float, float] | None = None) -> pd.DataFrame:
    """Validate the panel's scores (application_id, panellist_id, score; an empty score is a task
    not done); the rows with a score, in the aggregation's column names."""
    frame = scores.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("application_id", "panellist_id", "score") if c not in frame.columns]
    if missing:
        raise RosterError([RosterProblem(1, c, "", "missing column (the header row needs it)") for c in missing])
    frame = frame.drop(columns=[c for c in ("submission_id", "reviewer_id", "author_id") if c in frame.columns])
    frame = frame.rename(columns=_SCORE_COLUMNS)
    try:
        checked = aggregation.check_reviews(frame, scale)
    except RosterError as err:
        raise _renamed(err) from None
    if applications is not None:
        known = set(applications["id"])
        lines: dict[str, int] = {}
        for i, sid in enumerate(frame["submission_id"].astype(str).str.strip()):
            lines.setdefault(sid, i + 2)
        unknown = [sid for sid in dict.fromkeys(checked["submission_id"]) if sid not in known]
        if unknown:
            raise RosterError([RosterProblem(lines[s], "application_id", s, "the id of an application") for s in unknown])
    return checked


def aggregate_panel(scores: pd.DataFrame, applications: pd.DataFrame | None = None,
                    scale: tuple[float, float] | None = None, seed: int = 0,
                    iterations: int = 800) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Merit per application from the panel's scores with the reliability model
    (aggregation.aggregate_scores). Returns (merit, panellists): merit has id, merit, low, high
    (the 90% interval), sd, n_scores, flag, reason, and name when `applications` is given;
    panellists has panellist_id, n_scores, bias, noise_sd, flag, reason."""
    checked = check_scores(scores, applications, scale)
    grades, reviewers = aggregation.aggregate_scores(checked, scale=scale, seed=seed, iterations=iterations)
    merit = pd.DataFrame({
        "id": grades["submission_id"],
        "merit": grades["score"],
        "low": grades["low"],
        "high": grades["high"],
        "sd": grades["sd"],
        "n_scores": grades["n_reviews"],
        "flag": grades["flag"],
        "reason": grades["reason"],
    })
    if applications is not None:
        order = {aid: i for i, aid in enumerate(applications["id"])}
        merit.insert(1, "name", merit["id"].map(dict(zip(applications["id"], applications["name"]))))
        merit = merit.assign(_o=merit["id"].map(order)).sort_values("_o").drop(columns="_o").reset_index(drop=True)
    panellists = reviewers.rename(columns={"reviewer_id": "panellist_id", "n_reviews": "n_scores"})
    return merit, panellists


def unscored(merit: pd.DataFrame, applications: pd.DataFrame) -> list[str]:
    """Applications without any score from the panel."""
    have = set(merit["id"])
    return [aid for aid in applications["id"] if aid not in have]
