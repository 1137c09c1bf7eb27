"""Timed cases for peer_review; run by hand: python bench/peer_review.py [case ...].

Cases: groups, allocation, aggregation, mentoring (default: all). Figures go in
bench/README.md. Times are wall-clock for the pure functions on in-memory tables
(proving a grouping's optimum is timed on its own).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cohort import make_cohort, make_skewed_cohort, make_submissions, simulate_pg1  # noqa: E402
from peer_review.aggregation import aggregate_scores, rmse  # noqa: E402
from peer_review.allocation import allocate_reviews  # noqa: E402
from peer_review.group_optimum import prove_optimum  # noqa: E402
from peer_review.groups import cp_solver, form_groups, group_sizes, pool_model, shared_languages, utc_offset_hours  # noqa: E402
from peer_review.mentoring import greedy_match, match_mentors  # noqa: E402
from peer_review.quality import allocation_quality, group_quality  # noqa: E402
from peer_review.roster import language_sets, org_keys, validate_roster  # noqa: E402


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def check_groups(roster, groups, size, max_tz_spread):
    """The hard rules: everyone once, sizes within one of each other and at most `size`, a shared language, the spread."""
    sizes = groups.groupby("group").size()
    ok = sorted(groups["id"]) == sorted(roster["id"]) and sizes.max() - sizes.min() <= 1 and sizes.max() <= size
    ok &= all(shared_languages(groups).values())
    if max_tz_spread is not None:
        offsets = groups["timezone"].map(utc_offset_hours)
        ok &= bool(offsets.groupby(groups["group"]).agg(lambda x: x.max() - x.min()).max() <= max_tz_spread)
    return bool(ok)


def region_ceiling(roster, size, stake_optimum):
    """The most region diversity a grouping with `stake_optimum` stakeholder diversity can have
    (the pool model's bound: language pools cap regions as they cap stakeholder groups)."""
    n_groups, q, r = group_sizes(len(roster), size)
    types = Counter(zip(language_sets(roster), [0.0] * len(roster), roster["stakeholder_group"], roster["region"]))
    model, _, _, _, reach, _ = pool_model(types, n_groups, q, r)
    model.add(sum(reach(2)) >= stake_optimum)
    model.maximize(sum(reach(3)))
    solver = cp_solver(seconds=120, workers=2)
    solver.solve(model)
    return int(solver.best_objective_bound + 1e-6)


def bench_groups(sizes=(240, 500, 1000, 2000, 5000, 10_000), size=6, seeds=(0, 1, 2), max_tz_spread=None,
                 prove_up_to=10_000, time_limit=600.0):
    """Skewed, multilingual cohorts (bench/cohort.py make_skewed_cohort): diversity against its bound and the proven optimum."""
    rule = "" if max_tz_spread is None else f" max-tz-spread={max_tz_spread:g}"
    for n in sizes:
        for seed in seeds:
            roster = validate_roster(make_skewed_cohort(n, seed=seed, group_size=size))
            groups, seconds = timed(form_groups, roster, size=size, seed=seed, max_tz_spread=max_tz_spread)
            q = group_quality(groups)
            s_reached, s_bound = q["stakeholder_diversity"]
            r_reached, r_bound = q["region_diversity"]
            ceiling_text = ""
            line = (f"groups skewed n={n} seed={seed} size={size}{rule}: {seconds:.2f} s; hard rules held="
                    f"{check_groups(roster, groups, size, max_tz_spread)}; stakeholder diversity {s_reached} / bound {s_bound} "
                    f"= {100 * s_reached / s_bound:.2f}%")
            if n <= prove_up_to:
                proof = prove_optimum(roster, size, max_tz_spread=max_tz_spread, groups=groups, time_limit=time_limit)
                if proof["optimum"] is not None:
                    gap = proof["optimum"] - s_reached
                    line += f"; optimum {proof['optimum']} (proven, {proof['seconds']:.2f} s), gap {gap} ({100 * gap / proof['optimum']:.2f}%)"
                    if max_tz_spread is None:
                        ceiling = region_ceiling(roster, size, proof["optimum"])
                        ceiling_text = f" (at most {ceiling} = {100 * ceiling / r_bound:.1f}% with the stakeholder optimum)"
                else:
                    line += (f"; optimum NOT proven in {proof['seconds']:.0f} s: best found {proof['best']}, "
                             f"proven bound {proof['proven_bound']}, gap at most {proof['proven_bound'] - s_reached}")
            print(line + f"; regions {r_reached} / {r_bound} = {100 * r_reached / r_bound:.1f}%{ceiling_text}; "
                  f"organisation clashes {q['organisation_clashes']}", flush=True)


def bench_groups_easy(n=10_000, size=6, seed=1):
    """The earlier generator (bench/cohort.py make_cohort), for comparison with the figures before issue 10."""
    roster = validate_roster(make_cohort(n, seed=seed))
    groups, seconds = timed(form_groups, roster, size=size, seed=seed)
    q = group_quality(groups)
    s_reached, s_bound = q["stakeholder_diversity"]
    r_reached, r_bound = q["region_diversity"]
    print(f"groups n={n} size={size}: {seconds:.2f} s; {q['groups']} groups of {q['size_min']}-{q['size_max']}; "
          f"hard rules held={check_groups(roster, groups, size, None)}; stakeholder diversity {s_reached}/{s_bound} = "
          f"{100 * s_reached / s_bound:.2f}%; regions {r_reached}/{r_bound} = {100 * r_reached / r_bound:.1f}%; "
          f"organisation clashes {q['organisation_clashes']}", flush=True)


def check_allocation(allocation, roster, subs, k):
    people = roster.set_index("id")
    per_sub = allocation.groupby("submission_id")["reviewer_id"].nunique()
    ok = len(per_sub) == len(subs) and (per_sub == k).all() and (allocation.groupby("submission_id").size() == k).all()
    ok &= bool((allocation["author_id"] != allocation["reviewer_id"]).all())
    orgs = org_keys(roster).set_axis(roster["id"])
    oa, orv = orgs[allocation["author_id"]].to_numpy(), orgs[allocation["reviewer_id"]].to_numpy()
    ok &= not bool(((oa == orv) & (oa != "")).any())
    langs = dict(zip(roster["id"], language_sets(roster)))
    lang = dict(zip(subs["submission_id"], subs["language"]))
    ok &= all(lang[s] in langs[r] for s, r in zip(allocation["submission_id"], allocation["reviewer_id"]))
    loads = allocation["reviewer_id"].value_counts().reindex(subs["author_id"], fill_value=0)
    return ok, int(loads.min()), int(loads.max())


def bench_allocation(n, k=3, seed=1):
    roster = validate_roster(make_cohort(n, seed=seed))
    subs = make_submissions(roster)
    allocation, seconds = timed(allocate_reviews, subs, roster, k=k, seed=seed)
    ok, lo, hi = check_allocation(allocation, roster, subs, k)
    q = allocation_quality(allocation, roster, k)
    print(f"allocation n={n} k={k}: {seconds:.2f} s; hard rules held={ok}; reviews per reviewer {lo}-{hi}; "
          f"cross-stakeholder {100 * q['cross_stakeholder']:.2f}% (best possible {100 * q['cross_stakeholder_best']:.1f}%)")
    return roster, allocation


def bench_aggregation(n=10_000, k=3, seeds=(0, 1, 2)):
    roster = validate_roster(make_cohort(n, seed=7))
    allocation = allocate_reviews(make_submissions(roster), roster, k=k, seed=7)
    for seed in seeds:
        reviews, true = simulate_pg1(allocation, seed=seed)
        (grades, reviewers), seconds = timed(aggregate_scores, reviews, scale=(0.0, 10.0))
        g = grades.set_index("submission_id")
        model, median, mean = rmse(g["score"], true), rmse(g["median"], true), rmse(g["mean"], true)
        print(f"aggregation n={n} k={k} seed={seed}: {seconds:.2f} s; RMSE model {model:.3f}, median {median:.3f}, mean {mean:.3f}; "
              f"model error {100 * (1 - model / median):.1f}% below the median; flagged {int(g['flag'].sum())} submissions, "
              f"{int(reviewers['flag'].sum())} reviewers")


def bench_mentoring(n_mentees=5_000, n_mentors=1_000, seed=3):
    rng = np.random.default_rng(seed)
    mentees = validate_roster(make_cohort(n_mentees, seed=seed))
    mentors = validate_roster(make_cohort(n_mentors, seed=seed + 1, no_main_language=0.02))
    mentors["id"] = [f"m{i:05d}" for i in range(n_mentors)]
    mentors["capacity"] = rng.integers(2, 9, n_mentors)
    matches, seconds = timed(match_mentors, mentees, mentors)
    greedy, g_seconds = timed(greedy_match, mentees, mentors)
    got, g_got = (matches["mentor_id"] != "").sum(), (greedy["mentor_id"] != "").sum()
    print(f"mentoring {n_mentees} mentees, {n_mentors} mentors (capacity {int(mentors['capacity'].sum())}): optimal {seconds:.2f} s, "
          f"matched {got}, total fit {int(matches['fit'].sum())}; greedy {g_seconds:.2f} s, matched {g_got}, total fit {int(greedy['fit'].sum())}")


if __name__ == "__main__":
    cases = sys.argv[1:] or ["groups", "allocation", "aggregation", "mentoring"]
    if "groups" in cases:
        bench_groups()
        bench_groups(sizes=(240, 1000, 10_000), seeds=(0,), max_tz_spread=8.0)
        bench_groups_easy()
    if "allocation" in cases:
        bench_allocation(10_000)
        bench_allocation(100_000)
    if "aggregation" in cases:
        bench_aggregation()
    if "mentoring" in cases:
        bench_mentoring()
