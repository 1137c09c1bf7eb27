"""Score aggregation with reviewer bias and reliability: PG1 (Piech et al., 2013), made robust.

Model: a review z = s_submission + b_reviewer + e, where the noise e has the reviewer's own
scale and heavy tails (Student t: a review now and then far off costs little), and priors
s ~ N(mu, var_s), b ~ N(m_b, var_b), reviewer precision tau ~ Gamma(alpha, beta). The prior
scales, alpha and the t's degrees of freedom are learnt from the data (the partial pooling
that shrinks a reviewer with three reviews towards the typical one); no reviewer is taken to
be more precise than 3% of the scale, so reviews that agree exactly do not make the model
certain. A review at the top or
bottom of the scale says "at least" or "at most" (censored). Reviewers who give every text one
score carry no information on quality and are left out. Tutor scores fix their submissions'
scores, so reviews of them (the calibration samples among them) are direct evidence of each
reviewer's bias and reliability, and of the peers' mean bias m_b against the tutors (with no
tutor scores at all, m_b is 0: scores are then on the peers' own standard). Optionally
(`learn_scale`) the reviews are z = slope * s + b + e, with the peers' slope learnt from the
tutor-scored texts too (reviewers who compress the scale).

We draw from the posterior by Gibbs sampling (every step a closed-form conditional, vectorised
over reviews), with one extra move that shifts all scores against all biases, the direction
plain Gibbs explores slowly, and overrelaxed draws of scores and biases. The score is the
posterior mean and the 90% interval runs from the posterior's 5% to its 95% quantile, both
from the mixture of each score's conditional normals over the sweeps (Rao-Blackwellised, so
steadier than counting draws); the interval includes the uncertainty of the reviewers' biases
and reliabilities and of the model's own parameters.
The sampler takes a seed: same input, same seed, same output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammainc, gammaincinv, gammaln, ndtr, ndtri

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
    authors = frame["author_id"].tolist() if "author_id" in frame.columns else [None] * len(frame)
    for i, (sid, rid, raw, val, author) in enumerate(zip(frame["submission_id"].tolist(), frame["reviewer_id"].tolist(),
                                                         frame["score"].tolist(), scores.tolist(), authors)):
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
        if rid and author == rid:
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


NOISE_FLOOR = 0.03  # no reviewer is more precise than this (sd, as a share of the scale): rubrics are coarse
TAU_MAX = 1.0 / NOISE_FLOOR**2
SLOPE_SD = 0.25  # prior sd of the peers' scale against the tutors' (1: the same), when learnt
MB_SD = 0.05  # prior sd of the peers' mean bias against tutors, as a share of the scale
RELAX = -0.8  # overrelaxation of the score and bias draws
NU_GRID = np.array([1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 10.0, 20.0, 50.0, 200.0])  # t degrees of freedom
ALPHA_GRID = np.exp(np.linspace(np.log(0.5), np.log(50.0), 24))  # shape of the reviewer precision prior


def _flat_reviewers(z: np.ndarray, rev: np.ndarray, n_r: int) -> np.ndarray:
    """Reviewers who gave one score to 3 or more texts: no information on quality."""
    n = np.bincount(rev, minlength=n_r)
    lo = np.full(n_r, np.inf)
    hi = np.full(n_r, -np.inf)
    np.minimum.at(lo, rev, z)
    np.maximum.at(hi, rev, z)
    return (n >= 3) & (hi - lo < 1e-9)


def _truncated_normal(rng, mean, sd, bound, above: bool):
    """Draws from N(mean, sd) restricted to >= bound (above) or <= bound."""
    a = (bound - mean) / sd
    u = rng.random(len(mean))
    if above:
        x = -ndtri(u * ndtr(-a))
        return np.maximum(mean + sd * np.nan_to_num(x, posinf=0.0, neginf=0.0), bound)
    x = ndtri(u * ndtr(a))
    return np.minimum(mean + sd * np.nan_to_num(x, posinf=0.0, neginf=0.0), bound)


def _gibbs(z, sub, rev, n_s, n_r, anchored, anchor_val, use, cens_hi, cens_lo, lo, hi, sweeps, seed, learn_scale):
    """Gibbs sampling of the PG1 model with t noise, on scores in units of about the scale's
    width, centred on the reviews' median (so that the weak priors below are in the data's own
    units; lo and hi are the scale's ends in those units). Returns, for the kept sweeps (float32,
    one row a sweep), each score's conditional mean and sd given the rest (their mixture is the
    Rao-Blackwellised posterior of the score), and posterior means of b and of each reviewer's
    effective precision."""
    rng = np.random.default_rng(seed)
    n_use_s = np.bincount(sub[use], minlength=n_s)
    n_use_r = np.bincount(rev[use], minlength=n_r)
    active = n_use_r > 0
    free = ~anchored
    zu, su, ru = z[use].astype(float), sub[use], rev[use]  # zu: latent scores (censored ones move)
    hi_u, lo_u = cens_hi[use], cens_lo[use]
    anch_u = anchored[su]
    learn_mb = bool(anch_u.any())  # with anchored reviews, the peers' mean bias is learnt

    med = pd.Series(zu).groupby(su).median().reindex(range(n_s)).to_numpy()
    s = np.where(anchored, anchor_val, np.where(np.isnan(med), np.nanmean(med) if n_use_s.any() else 0.0, med))
    b = np.zeros(n_r)
    r = zu - s[su]
    sigma2 = max(float(np.var(r)) if len(r) else 0.0, 1e-3)
    tau = np.full(n_r, 1.0 / sigma2)
    lam = np.ones(len(zu))
    mu, var_s, var_b, m_b = float(np.mean(s)), max(float(np.var(s)), 1e-3), sigma2 / 4, 0.0
    alpha, beta, nu = 2.0, 2.0 * sigma2, 4.0
    # weak priors, in units of the scale's width: scores spread about a sixth of it, biases
    # and noise a tenth, each worth about two pseudo-observations; the scores' mean within it
    a_s, b_s = 1.0, (1 / 6) ** 2
    a_b, b_b = 1.0, (1 / 10) ** 2
    a_beta, b_beta = 1.0, 1.0 / (1 / 10) ** 2  # beta / alpha is the typical noise variance
    centre, var_mu = 0.0, 1.0
    var_mb = MB_SD**2  # the peers' mean bias against the tutors: a few tenths of a point on 0-10
    slope = 1.0  # the peers' scale against the tutors' (below 1: compressed)
    learn_slope = learn_scale and learn_mb

    burn = sweeps // 4
    keep = sweeps - burn
    # the summaries use at most about 300 of the kept sweeps (plenty) and 20 million numbers
    thin = max(1, int(np.ceil(keep / 300)), int(np.ceil(keep * n_s / 2e7)))
    cond_mean = np.empty(((keep + thin - 1) // thin, n_s), dtype=np.float32)
    cond_sd = np.empty_like(cond_mean)
    b_sum = np.zeros(n_r)
    prec_sum = np.zeros(n_r)  # effective precision of each reviewer's reviews, summed over draws
    n_anch = int(anchored.sum())
    s_anch = anchor_val[anchored]
    for sweep in range(sweeps):
        # censored reviews: the latent score beyond the scale's end
        if hi_u.any() or lo_u.any():
            m = slope * s[su] + b[ru]
            sd = 1.0 / np.sqrt(tau[ru] * lam)
            zu[hi_u] = _truncated_normal(rng, m[hi_u], sd[hi_u], hi, above=True)
            zu[lo_u] = _truncated_normal(rng, m[lo_u], sd[lo_u], lo, above=False)
        # per-review weights of the t noise (a scale mixture of normals)
        r = zu - slope * s[su] - b[ru]
        lam = rng.standard_gamma((nu + 1) / 2, len(zu)) * (2.0 / (nu + tau[ru] * r**2))
        w = tau[ru] * lam
        # submissions
        gamma = 1.0 / var_s
        den = gamma + slope**2 * np.bincount(su, w, n_s)
        num = gamma * mu + slope * np.bincount(su, w * (zu - b[ru]), n_s)
        m_s, sd_s = num / den, 1.0 / np.sqrt(den)
        s = np.where(anchored, anchor_val, _relaxed(rng, m_s, sd_s, s))
        if sweep >= burn and (sweep - burn) % thin == 0:
            cond_mean[(sweep - burn) // thin] = np.where(anchored, anchor_val, m_s)
            cond_sd[(sweep - burn) // thin] = np.where(anchored, 1e-9, sd_s)
        # reviewers' biases
        eta = 1.0 / var_b
        den_b = eta + np.bincount(ru, w, n_r)
        num_b = eta * m_b + np.bincount(ru, w * (zu - slope * s[su]), n_r)
        b = _relaxed(rng, num_b / den_b, 1.0 / np.sqrt(den_b), b)
        # one move along the direction plain Gibbs explores slowly: all free scores and their
        # mean up by c, all biases (and their mean) down by slope * c; only the anchored
        # reviews, the anchored scores' prior, mu's prior and m_b's (or, with m_b fixed at 0,
        # the biases') prior change, so c has a normal conditional
        r = zu - slope * s[su] - b[ru]
        wa, ra = w[anch_u], r[anch_u]
        d = s_anch - mu
        prec_c = slope**2 * wa.sum() + gamma * n_anch + 1.0 / var_mu
        pull = -slope * (wa * ra).sum() + gamma * d.sum() + (centre - mu) / var_mu
        if learn_mb:
            prec_c += slope**2 / var_mb
            pull += slope * m_b / var_mb
        else:
            prec_c += slope**2 * eta * active.sum()
            pull += slope * eta * b[active].sum()
        c = pull / prec_c + rng.standard_normal() / np.sqrt(prec_c)
        s[free] += c
        mu += c
        b -= slope * c
        m_b -= slope * c if learn_mb else 0.0
        if learn_slope:
            # the peers' scale: its normal conditional given the scores, then a move that
            # stretches all free scores (and mu, var_s) by k and divides the slope by k, which
            # changes only the anchored terms and the priors (Metropolis-Hastings on log k)
            prec_l = np.sum(w * s[su] ** 2) + 1.0 / SLOPE_SD**2
            slope = (np.sum(w * s[su] * (zu - b[ru])) + 1.0 / SLOPE_SD**2) / prec_l + rng.standard_normal() / np.sqrt(prec_l)
            k = float(np.exp(0.05 * rng.standard_normal()))
            ya, sa = zu[anch_u] - b[ru][anch_u], s[su][anch_u]
            log_ratio = (-0.5 * np.sum(wa * ((ya - slope / k * sa) ** 2 - (ya - slope * sa) ** 2))
                         - 0.5 * np.sum((s_anch - k * mu) ** 2 / (k**2 * var_s) - (s_anch - mu) ** 2 / var_s)
                         - n_anch * np.log(k)
                         - 0.5 * ((k * mu - centre) ** 2 - (mu - centre) ** 2) / var_mu + np.log(k)
                         - 2 * (a_s + 1) * np.log(k) - b_s / (k**2 * var_s) + b_s / var_s + 2 * np.log(k)
                         - 0.5 * ((slope / k - 1) ** 2 - (slope - 1) ** 2) / SLOPE_SD**2 - np.log(k))
            if np.log(rng.random()) < log_ratio:
                s[free] *= k
                mu *= k
                var_s *= k**2
                slope /= k
        r = zu - slope * s[su] - b[ru]
        # reviewers' precisions, and the t's degrees of freedom
        shape = alpha + n_use_r / 2
        rate = beta + np.bincount(ru, lam * r**2, n_r) / 2
        tau = _gamma_below(rng, shape, rate, TAU_MAX)
        logp = (len(lam) * (NU_GRID / 2 * np.log(NU_GRID / 2) - gammaln(NU_GRID / 2))
                + (NU_GRID / 2 - 1) * np.log(lam).sum() - NU_GRID / 2 * lam.sum())
        nu = float(rng.choice(NU_GRID, p=_softmax(logp)))
        # the priors' parameters
        t_act = tau[active]
        beta = rng.gamma(a_beta + alpha * len(t_act), 1.0 / (b_beta + t_act.sum()))
        logp = (ALPHA_GRID * len(t_act) * np.log(beta) - len(t_act) * gammaln(ALPHA_GRID)
                + (ALPHA_GRID - 1) * np.log(t_act).sum())
        alpha = float(rng.choice(ALPHA_GRID, p=_softmax(logp)))
        var_s = 1.0 / rng.gamma(a_s + n_s / 2, 1.0 / (b_s + ((s - mu) ** 2).sum() / 2))
        prec = n_s / var_s + 1.0 / var_mu
        mu = float((s.sum() / var_s + centre / var_mu) / prec + rng.standard_normal() / np.sqrt(prec))
        b_act = b[active]
        var_b = 1.0 / rng.gamma(a_b + len(b_act) / 2, 1.0 / (b_b + ((b_act - m_b) ** 2).sum() / 2))
        if learn_mb:
            prec = len(b_act) / var_b + 1.0 / var_mb
            m_b = float(b_act.sum() / var_b / prec + rng.standard_normal() / np.sqrt(prec))
        if sweep >= burn:
            b_sum += b
            prec_sum += np.bincount(ru, w, n_r) / np.maximum(n_use_r, 1)
    return cond_mean, cond_sd, b_sum / keep, prec_sum / keep


def _gamma_below(rng, shape, rate, top):
    """Draws from Gamma(shape, rate) restricted to <= top (by inversion where the bound bites)."""
    x = rng.gamma(shape, 1.0 / rate)
    over = x > top
    if over.any():
        u = rng.random(int(over.sum())) * gammainc(shape[over], rate[over] * top)
        x[over] = np.minimum(gammaincinv(shape[over], u) / rate[over], top)
    return x


def _relaxed(rng, mean, sd, old):
    """A draw from N(mean, sd) by Adler's overrelaxation: it goes to the other side of the mean,
    which keeps the chain from creeping along the scores-against-biases ridge."""
    return mean + RELAX * (old - mean) + np.sqrt(1 - RELAX**2) * sd * rng.standard_normal(len(mean))


def _mixture_summary(m, sd, lo, hi):
    """Mean (of the score kept within the scale), sd, 5% and 95% quantiles of each column's
    mixture of normals N(m[t], sd[t])."""
    m, sd = m.astype(float), sd.astype(float)
    a, b = (lo - m) / sd, (hi - m) / sd
    pa, pb = ndtr(a), ndtr(b)
    clipped = lo * pa + hi * (1 - pb) + m * (pb - pa) + sd * (_phi(a) - _phi(b))
    mean = clipped.mean(axis=0)
    total_sd = np.sqrt((sd**2).mean(axis=0) + m.var(axis=0))
    quantiles = []
    for p in (0.05, 0.95):
        # Newton's method on the mixture's distribution function, from the normal approximation
        x = m.mean(axis=0) + ndtri(p) * total_sd
        for _ in range(10):
            u = (x - m) / sd
            f = ndtr(u).mean(axis=0) - p
            if np.abs(f).max() < 1e-4:
                break
            d = (_phi(u) / sd).mean(axis=0)
            x = x - np.clip(f / np.maximum(d, 1e-12), -total_sd, total_sd)
        quantiles.append(np.clip(x, lo, hi))
    return mean, total_sd, quantiles[0], quantiles[1]


def _phi(x):
    x = np.clip(x, -40.0, 40.0)  # beyond, the density is 0 anyway (and x**2 could overflow)
    return np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)


def _softmax(logp: np.ndarray) -> np.ndarray:
    p = np.exp(logp - logp.max())
    return p / p.sum()


def aggregate_scores(
    reviews: pd.DataFrame,
    tutor_scores: pd.DataFrame | None = None,
    scale: tuple[float, float] | None = None,
    disagreement: float | None = None,
    iterations: int = 800,
    seed: int = 0,
    wide: float = 0.30,
    learn_scale: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Estimate each submission's score with a 90% interval; flag disagreements, wide
    intervals and undiscriminating or erratic reviewers.

    Returns (grades, reviewers). grades: submission_id, score (posterior mean), n_reviews,
    flag, reason, median, mean, sd (posterior standard deviation), tutor_scored, low, high
    (the 90% interval). reviewers: reviewer_id, n_reviews, bias, noise_sd, flag, reason.
    `scale` is (lowest, highest) possible score, by default the range seen (only with a
    scale is a review at its end read as censored); `disagreement` is the review range that
    raises a flag, by default 40% of the scale; an interval wider than `wide` of the scale
    raises one too. `iterations` is the number of Gibbs sweeps, `seed` the sampler's seed.
    With `learn_scale`, the peers' scale against the tutors' (reviews compressed towards the
    middle, say) is learnt from the tutor-scored texts too: worth it when reviewers compress
    the scale and the calibration samples span it; with a few tutor-scored texts close
    together it is a guess that moves every score at once, so it is off by default.
    """
    frame = check_reviews(reviews, scale)
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
    flat = _flat_reviewers(z, rev_codes, n_r)
    rev_max = pd.Series(z).groupby(rev_codes).max().reindex(range(n_r)).to_numpy()

    anchored = np.zeros(n_s, dtype=bool)
    anchor_val = np.zeros(n_s)
    if tutor_scores is not None and len(tutor_scores):
        t = check_tutor_scores(tutor_scores, scale)
        pos = pd.Index(subs).get_indexer(t["submission_id"])
        ok = pos >= 0
        anchored[pos[ok]] = True
        anchor_val[pos[ok]] = t["score"].to_numpy()[ok]

    use = ~flat[rev_codes]
    censored = scale is not None
    cens_hi = censored & (z >= hi)
    cens_lo = censored & (z <= lo)
    # The model runs on a unit that fits both the scale and the reviews (the scale's width,
    # unless the reviews use only a sliver of an absurdly wide scale), centred on their median.
    centre = float(np.median(z))
    span = float(z.max() - z.min()) or max(abs(centre), 1.0)
    unit = min(width, 4 * span) if width > 1e-9 else 1.0
    cond_mean, cond_sd, b, prec = _gibbs((z - centre) / unit, sub_codes, rev_codes, n_s, n_r, anchored,
                                         (anchor_val - centre) / unit, use, cens_hi, cens_lo,
                                         (lo - centre) / unit, (hi - centre) / unit, max(int(iterations), 8), seed,
                                         learn_scale)
    score, post_sd, low, high = _mixture_summary(cond_mean, cond_sd, (lo - centre) / unit, (hi - centre) / unit)
    # back to the scale's units; a tutor's score is certain
    score, low, high = (np.round(np.clip(np.where(anchored, anchor_val, centre + unit * x), lo, hi), 3)
                        for x in (score, low, high))
    low, high = np.minimum(low, score), np.maximum(high, score)
    post_sd, b, prec = np.where(anchored, 0.0, post_sd * unit), b * unit, prec / unit**2

    median = pd.Series(z).groupby(sub_codes).median().to_numpy()
    mean = np.bincount(sub_codes, z, n_s) / n_per_sub
    # Disagreement among the informative reviews of a submission.
    zr = pd.Series(np.where(use, z, np.nan))
    spread = (zr.groupby(sub_codes).max() - zr.groupby(sub_codes).min()).reindex(range(n_s)).fillna(0).to_numpy()
    reasons = [[f"reviews disagree (range {x:g})"] if x > disagreement else [] for x in spread]
    n_informative = np.bincount(sub_codes, use.astype(float), n_s).astype(int)
    for i in np.flatnonzero((n_informative == 0) & ~anchored):
        reasons[i].append("only undiscriminating reviewers")
    for i in np.flatnonzero((high - low > wide * width) & ~anchored):
        reasons[i].append(f"wide interval ({low[i]:g} to {high[i]:g})")
    reasons = ["; ".join(r) for r in reasons]
    grades = pd.DataFrame({
        "submission_id": subs.astype(str),
        "score": score,
        "n_reviews": n_per_sub,
        "flag": [bool(r) for r in reasons],
        "reason": reasons,
        "median": median,
        "mean": np.round(mean, 3),
        "sd": np.round(post_sd, 3),
        "tutor_scored": anchored,
        "low": low,
        "high": high,
    })

    # Flat reviewers are outside the model: their bias and spread from the scores' estimates.
    resid = z - score[sub_codes]
    flat_bias = np.bincount(rev_codes, resid, n_r) / np.maximum(n_per_rev, 1)
    flat_sd = np.sqrt(np.maximum(np.bincount(rev_codes, resid**2, n_r) / np.maximum(n_per_rev, 1) - flat_bias**2, 0))
    bias = np.where(flat, flat_bias, b)
    noise_sd = np.where(flat, flat_sd, 1.0 / np.sqrt(np.maximum(prec, 1e-12)))
    typical = float(np.median(noise_sd[~flat])) if (~flat).any() else 0.0
    rev_reasons = []
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
        "bias": np.round(bias, 3),
        "noise_sd": np.round(noise_sd, 3),
        "flag": [bool(r) for r in rev_reasons],
        "reason": rev_reasons,
    })
    return grades, reviewers


def rmse(estimate: pd.Series, truth: pd.Series) -> float:
    """Root mean squared error of estimates against true scores (aligned on index)."""
    diff = estimate.reindex(truth.index) - truth
    return float(np.sqrt(np.mean(diff.to_numpy() ** 2)))
