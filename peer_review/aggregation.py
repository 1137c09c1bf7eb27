"""Score aggregation with reviewer bias and reliability (PG1 of Piech et al., 2013).

Model: review z = s_submission + b_reviewer + noise, noise ~ N(0, 1/tau_reviewer),
with priors s ~ N(mu, 1/gamma), b ~ N(0, 1/eta), tau ~ Gamma(alpha, beta).
We fit it by coordinate ascent on the posterior (each step a closed-form
conditional update), with the prior scales estimated from the data
(empirical Bayes). Tutor scores, where given, fix their submissions' scores,
which anchors the reviewers' biases.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from peer_review.roster import RosterError, RosterProblem


def _outside(scale: tuple[float, float] | None, value: float) -> str | None:
    if scale is not None and not scale[0] <= value <= scale[1]:
        return f"a score within the scale, {scale[0]:g} to {scale[1]:g}"
    return None


def check_reviews(reviews: pd.DataFrame, scale: tuple[float, float] | None = None) -> pd.DataFrame:
    """Validate a reviews table; rows with an empty score (review not done) are dropped."""
    frame = reviews.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    need = ("submission_id", "reviewer_id", "score")
    problems = [RosterProblem(1, c, "", "missing column (the header row needs it)") for c in need if c not in frame.columns]
    if problems:
        raise RosterError(problems)
    frame = frame.astype(object).fillna("").astype(str).apply(lambda c: c.str.strip())
    scores = pd.to_numeric(frame["score"], errors="coerce")
    seen: dict[tuple[str, str], int] = {}
    for i, (sid, rid, raw, val) in enumerate(zip(frame["submission_id"], frame["reviewer_id"], frame["score"], scores)):
        line = i + 2
        if not sid:
            problems.append(RosterProblem(line, "submission_id", "", "a submission id is required"))
        if not rid:
            problems.append(RosterProblem(line, "reviewer_id", "", "a reviewer id is required"))
        if raw and not np.isfinite(val):
            problems.append(RosterProblem(line, "score", raw, "a number (or empty if the review was not done)"))
        elif raw and val < 0:
            problems.append(RosterProblem(line, "score", raw, "points, 0 or more"))
        elif raw and (expected := _outside(scale, val)):
            problems.append(RosterProblem(line, "score", raw, expected))
        if sid and rid:
            if (sid, rid) in seen:
                problems.append(RosterProblem(line, "reviewer_id", rid, f"one review per reviewer and submission (also on row {seen[sid, rid]})"))
            seen[sid, rid] = line
        if "author_id" in frame.columns and rid and frame["author_id"].iat[i] == rid:
            problems.append(RosterProblem(line, "reviewer_id", rid, "a reviewer other than the author"))
    if problems:
        raise RosterError(problems)
    frame["score"] = scores
    frame = frame[frame["score"].notna()].reset_index(drop=True)
    if frame.empty:
        raise RosterError([RosterProblem(None, "score", "", "no scored reviews in the file")])
    return frame


def check_tutor_scores(tutor_scores: pd.DataFrame, scale: tuple[float, float] | None = None) -> pd.DataFrame:
    frame = tutor_scores.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    problems = [RosterProblem(1, c, "", "missing column (the header row needs it)") for c in ("submission_id", "score") if c not in frame.columns]
    if problems:
        raise RosterError(problems)
    frame = frame.astype(object).fillna("").astype(str).apply(lambda c: c.str.strip())
    scores = pd.to_numeric(frame["score"], errors="coerce")
    for i, (raw, val) in enumerate(zip(frame["score"], scores)):
        if not np.isfinite(val):
            problems.append(RosterProblem(i + 2, "score", raw, "a number"))
        elif val < 0:
            problems.append(RosterProblem(i + 2, "score", raw, "points, 0 or more"))
        elif expected := _outside(scale, val):
            problems.append(RosterProblem(i + 2, "score", raw, expected))
    dup = frame["submission_id"].duplicated()
    for i in np.flatnonzero(dup.to_numpy()):
        problems.append(RosterProblem(int(i) + 2, "submission_id", frame["submission_id"].iat[i], "one tutor score per submission"))
    if problems:
        raise RosterError(problems)
    frame["score"] = scores
    return frame[["submission_id", "score"]]


def aggregate_scores(
    reviews: pd.DataFrame,
    tutor_scores: pd.DataFrame | None = None,
    scale: tuple[float, float] | None = None,
    disagreement: float | None = None,
    iterations: int = 100,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Estimate each submission's score; flag disagreements and undiscriminating reviewers.

    Returns (grades, reviewers). grades: submission_id, score, n_reviews, flag,
    reason, median, mean, sd (posterior standard deviation). reviewers:
    reviewer_id, n_reviews, bias, noise_sd, flag, reason.
    `scale` is (lowest, highest) possible score, by default the range seen;
    `disagreement` is the review range that raises a flag, by default 40% of the scale.
    """
    frame = check_reviews(reviews)
    lo, hi = scale if scale is not None else (float(frame["score"].min()), float(frame["score"].max()))
    width = max(hi - lo, 1e-9)
    if disagreement is None:
        disagreement = 0.4 * width
    sub_codes, subs = pd.factorize(frame["submission_id"], sort=True)
    rev_codes, revs = pd.factorize(frame["reviewer_id"], sort=True)
    z = frame["score"].to_numpy(dtype=float)
    n_s, n_r = len(subs), len(revs)
    n_per_sub = np.bincount(sub_codes, minlength=n_s)
    n_per_rev = np.bincount(rev_codes, minlength=n_r)

    # Reviewers who give one score to everything (3+ reviews) carry no information on quality.
    rev_sd_raw = pd.Series(z).groupby(rev_codes).std(ddof=0).reindex(range(n_r), fill_value=np.nan).to_numpy()
    rev_max = pd.Series(z).groupby(rev_codes).max().reindex(range(n_r)).to_numpy()
    flat = (n_per_rev >= 3) & (rev_sd_raw < 1e-9)

    anchored = np.zeros(n_s, dtype=bool)
    anchor_val = np.zeros(n_s)
    if tutor_scores is not None and len(tutor_scores):
        t = check_tutor_scores(tutor_scores)
        pos = pd.Index(subs).get_indexer(t["submission_id"])
        ok = pos >= 0
        anchored[pos[ok]] = True
        anchor_val[pos[ok]] = t["score"].to_numpy()[ok]

    median = pd.Series(z).groupby(sub_codes).median().to_numpy()
    mean = np.bincount(sub_codes, z, n_s) / n_per_sub
    s = np.where(anchored, anchor_val, median)
    b = np.zeros(n_r)
    resid0 = z - s[sub_codes]
    sigma2 = max(float(np.var(resid0)), 1e-3 * width**2)
    alpha = 3.0  # prior strength on each reviewer's precision, in pseudo-reviews x2
    tau = np.full(n_r, 1.0 / sigma2)
    tau_floor = 1e-3 / sigma2
    var_s = max(float(np.var(s)), 1e-3 * width**2)
    var_b = sigma2 / 4
    v_s = np.zeros(n_s)
    v_b = np.zeros(n_r)
    # EM: point estimates plus posterior variances, so the prior widths do not collapse.
    for _ in range(iterations):
        mu = float(np.mean(s))
        gamma, eta = 1.0 / var_s, 1.0 / var_b
        w = np.where(flat, tau_floor, tau)
        num = gamma * mu + np.bincount(sub_codes, w[rev_codes] * (z - b[rev_codes]), n_s)
        den = gamma + np.bincount(sub_codes, w[rev_codes], n_s)
        s_new = np.where(anchored, anchor_val, num / den)
        v_s = np.where(anchored, 0.0, 1.0 / den)
        den_b = eta + tau * n_per_rev
        b = np.bincount(rev_codes, tau[rev_codes] * (z - s_new[sub_codes]), n_r) / den_b
        v_b = 1.0 / den_b
        resid2 = (z - s_new[sub_codes] - b[rev_codes]) ** 2 + v_s[sub_codes] + v_b[rev_codes]
        sigma2 = max(float(np.mean(resid2)), 1e-3 * width**2)
        beta = alpha * sigma2
        tau = (alpha + n_per_rev / 2) / (beta + np.bincount(rev_codes, resid2, n_r) / 2)
        free = ~anchored
        var_s = max(float(np.mean((s_new[free] - mu) ** 2 + v_s[free])) if free.any() else var_s, 1e-3 * width**2)
        var_b = max(float(np.mean(b**2 + v_b)), 1e-4 * width**2)
        done = np.max(np.abs(s_new - s)) < 1e-6 * width
        s = s_new
        if done:
            break
    w = np.where(flat, tau_floor, tau)
    post_sd = 1.0 / np.sqrt(gamma + np.bincount(sub_codes, w[rev_codes], n_s))
    post_sd[anchored] = 0.0
    score = np.clip(s, lo, hi)

    # Disagreement among the informative reviews of a submission.
    informative = ~flat[rev_codes]
    zr = pd.Series(np.where(informative, z, np.nan))
    spread = (zr.groupby(sub_codes).max() - zr.groupby(sub_codes).min()).reindex(range(n_s)).fillna(0).to_numpy()
    reasons = [f"reviews disagree (range {x:g})" if x > disagreement else "" for x in spread]
    n_informative = np.bincount(sub_codes, informative.astype(float), n_s).astype(int)
    for i in np.flatnonzero((n_informative == 0) & ~anchored):
        reasons[i] = "; ".join(filter(None, [reasons[i], "only undiscriminating reviewers"]))
    grades = pd.DataFrame({
        "submission_id": subs.astype(str),
        "score": np.round(score, 3),
        "n_reviews": n_per_sub,
        "flag": [bool(r) for r in reasons],
        "reason": reasons,
        "median": median,
        "mean": np.round(mean, 3),
        "sd": np.round(post_sd, 3),
        "tutor_scored": anchored,
    })

    rev_reasons = []
    noise_sd = 1.0 / np.sqrt(tau)
    typical = float(np.median(noise_sd))
    for j in range(n_r):
        if flat[j]:
            extra = " (always the maximum)" if rev_max[j] >= hi else ""
            rev_reasons.append(f"gives every submission the same score{extra}")
        elif n_per_rev[j] >= 3 and noise_sd[j] > 2.5 * typical:
            rev_reasons.append("scores far from the consensus (erratic)")
        else:
            rev_reasons.append("")
    reviewers = pd.DataFrame({
        "reviewer_id": revs.astype(str),
        "n_reviews": n_per_rev,
        "bias": np.round(b, 3),
        "noise_sd": np.round(noise_sd, 3),
        "flag": [bool(r) for r in rev_reasons],
        "reason": rev_reasons,
    })
    return grades, reviewers


def rmse(estimate: pd.Series, truth: pd.Series) -> float:
    """Root mean squared error of estimates against true scores (aligned on index)."""
    diff = estimate.reindex(truth.index) - truth
    return float(np.sqrt(np.mean(diff.to_numpy() ** 2)))
