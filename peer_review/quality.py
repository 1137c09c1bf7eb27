"""Quality figures for each step, against their upper bounds where one is known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from peer_review.groups import shared_languages, utc_offset_hours
from peer_review.roster import org_keys


def diversity(groups: pd.DataFrame, column: str) -> tuple[int, int]:
    """(sum over groups of distinct values, upper bound sum over values of min(count, groups)).

    The bound ignores languages and time zones, so it may be out of reach; for stakeholder
    groups, group_optimum.prove_optimum gives the best any grouping can do.
    """
    n_groups = groups["group"].nunique()
    reached = int(groups.groupby("group")[column].nunique().sum())
    bound = int(groups[column].value_counts().clip(upper=n_groups).sum())
    return reached, bound


def group_quality(groups: pd.DataFrame) -> dict:
    sizes = groups.groupby("group").size()
    stake = diversity(groups, "stakeholder_group")
    region = diversity(groups, "region")
    orgs = groups.assign(_org=org_keys(groups))
    orgs = orgs[orgs["_org"] != ""]
    clashes = int((orgs.groupby(["group", "_org"]).size() - 1).sum())
    g = groups["gender"] if "gender" in groups.columns else pd.Series("undisclosed", index=groups.index)
    per = pd.crosstab(groups["group"], g)
    # A roster with no one female (or male) has no such column: count zero for every group.
    imbalance = (per.reindex(columns=["female", "male"], fill_value=0)
                 .eval("female - male").abs())
    spread = groups.assign(_off=[utc_offset_hours(t) for t in groups["timezone"]]).groupby("group")["_off"].agg(lambda x: x.max() - x.min())
    return {
        "people": len(groups),
        "groups": int(groups["group"].nunique()),
        "size_min": int(sizes.min()),
        "size_max": int(sizes.max()),
        "share_a_language": all(bool(v) for v in shared_languages(groups).values()),
        "stakeholder_diversity": stake,
        "region_diversity": region,
        "organisation_clashes": clashes,
        "gender_imbalance_max": int(imbalance.max()) if len(imbalance) else 0,
        "tz_spread_max_hours": float(spread.max()),
    }


def _pct(pair: tuple[int, int]) -> str:
    reached, bound = pair
    return f"{reached} / {bound} ({100 * reached / bound:.1f}%)" if bound else "n/a"


def group_summary(q: dict) -> list[str]:
    return [
        f"{q['people']} people in {q['groups']} groups of {q['size_min']}-{q['size_max']}; every group shares a language: {'yes' if q['share_a_language'] else 'NO'}",
        f"stakeholder diversity (distinct groups per group, summed) {_pct(q['stakeholder_diversity'])} of the upper bound",
        f"region diversity {_pct(q['region_diversity'])} of the upper bound",
        f"same-organisation pairs in a group: {q['organisation_clashes']}; largest female/male gap in a group: {q['gender_imbalance_max']}; widest time-zone spread: {q['tz_spread_max_hours']:g} h",
    ]


def optimum_summary(reached: int, bound: int, proof: dict) -> list[str]:
    """A grouping's stakeholder diversity beside the proven optimum (group_optimum.prove_optimum's answer)."""
    how = f"{proof['method']}, {proof['seconds']:.1f} s"
    if proof["optimum"] is not None:
        best = proof["optimum"]
        gap = best - reached
        lines = [f"stakeholder diversity {reached}; best possible {best} (proven optimal: {how}); "
                 f"gap {gap} ({100 * gap / best if best else 0:.1f}%); upper bound {bound}"]
    else:
        top = proof["proven_bound"]
        gap = top - reached
        lines = [f"stakeholder diversity {reached}; the optimum is NOT proven: the solver stopped at its time limit "
                 f"({how}); no grouping can reach more than {top} (the best bound it proved), so the gap is at most "
                 f"{gap} ({100 * gap / top if top else 0:.1f}%); upper bound {bound}",
                 "a longer --time-limit may prove the optimum"]
    if proof["best"] > reached:
        lines.append(f"a grouping with stakeholder diversity {proof['best']} exists (the solver found one): "
                     f"these groups stop {proof['best'] - reached} short of it")
    return lines


def allocation_quality(allocation: pd.DataFrame, roster: pd.DataFrame, k: int, groups: pd.DataFrame | None = None,
                       history: pd.DataFrame | None = None) -> dict:
    people = roster.set_index("id")
    per_sub = allocation.groupby("submission_id").size()
    loads = allocation["reviewer_id"].value_counts().reindex(allocation["author_id"].unique(), fill_value=0)
    sa = people["stakeholder_group"].reindex(allocation["author_id"]).to_numpy()
    sr = people["stakeholder_group"].reindex(allocation["reviewer_id"]).to_numpy()
    cross = float(np.mean(sa != sr)) if len(allocation) else 1.0
    # Best possible cross share: a stakeholder group with over half the authors must review itself.
    counts = people["stakeholder_group"].reindex(allocation["author_id"].unique()).value_counts()
    n = counts.sum()
    forced = sum(k * max(0, 2 * c - n) for c in counts)
    best = 1 - forced / (k * n) if n else 1.0
    orgs = org_keys(people.reset_index())
    orgs.index = people.index
    oa, orv = orgs.reindex(allocation["author_id"]).to_numpy(), orgs.reindex(allocation["reviewer_id"]).to_numpy()
    out = {
        "submissions": int(per_sub.size),
        "reviews": len(allocation),
        "reviewers_per_submission": (int(per_sub.min()), int(per_sub.max())),
        "reviews_per_reviewer": (int(loads.min()), int(loads.max())),
        "self_reviews": int((allocation["author_id"] == allocation["reviewer_id"]).sum()),
        "same_organisation": int(((oa == orv) & (oa != "")).sum()),
        "cross_stakeholder": cross,
        "cross_stakeholder_best": best,
    }
    if groups is not None:
        gmap = dict(zip(groups["id"].astype(str), groups["group"].astype(str)))
        ga = allocation["author_id"].map(gmap)
        gr = allocation["reviewer_id"].map(gmap)
        out["other_group"] = float(np.mean(ga != gr))
    if history is not None and len(history):
        met = set(zip(history["author_id"].astype(str), history["reviewer_id"].astype(str)))
        met |= {(b, a) for a, b in met}
        out["met_before"] = int(sum((a, r) in met for a, r in zip(allocation["author_id"], allocation["reviewer_id"])))
    return out


def allocation_summary(q: dict) -> list[str]:
    lines = [
        f"{q['submissions']} submissions, {q['reviews']} reviews; reviewers per submission {q['reviewers_per_submission'][0]}-{q['reviewers_per_submission'][1]}; reviews per reviewer {q['reviews_per_reviewer'][0]}-{q['reviews_per_reviewer'][1]}",
        f"self reviews: {q['self_reviews']}; same organisation: {q['same_organisation']}",
        f"cross-stakeholder reviews {100 * q['cross_stakeholder']:.1f}% (best possible {100 * q['cross_stakeholder_best']:.1f}%)",
    ]
    if "other_group" in q:
        lines.append(f"reviews from another study group: {100 * q['other_group']:.1f}%")
    if "met_before" in q:
        lines.append(f"pairs who met before: {q['met_before']}")
    return lines


def aggregation_summary(grades: pd.DataFrame, reviewers: pd.DataFrame) -> list[str]:
    return [
        f"{len(grades)} submissions scored from {int(grades['n_reviews'].sum())} reviews ({int(grades['tutor_scored'].sum())} anchored by tutor scores)",
        f"flagged for a tutor: {int(grades['flag'].sum())} submissions with disagreeing reviews, "
        f"{int(reviewers['flag'].sum())} reviewers (same score for everything, or erratic)",
    ]
