"""Simulated peer reviews for the aggregation tests and bench (PG1 with bad reviewers).

PG1 (Piech et al., 2013): a review is the true score plus the reviewer's bias plus noise whose
spread is the reviewer's own. On top of that, as in real cohorts:

- careless reviewers (10% by default): heavy-tailed noise, 1.5 x Student t with 2 or 3 degrees
  of freedom (most of their scores near the truth, now and then one far off);
- rubber-stampers (4.5% by default): half give every text the top score, half one constant
  score (6.5 to 8.5);
- optionally lenient (or harsh) peers: a mean bias against the tutors; and reviewers who
  compress the scale: each reviewer's scores move only a share (1 - compression to 1) of
  the true score's distance from the cohort's mean, 6.5;
- tutor anchors: a small share of the submissions scored by a tutor;
- calibration samples: a few other texts a tutor scored, which every reviewer scores too
  (as the room asks them to before their review tasks); they come as pseudo-submissions
  "cal-1", "cal-2", ... with the tutor's score among the anchors.

Scores are half points on 0-10. Each participant writes one submission and reviews k others
(never their own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Simulation:
    reviews: pd.DataFrame  # submission_id, author_id, reviewer_id, score (calibration answers included)
    tutor_scores: pd.DataFrame  # submission_id, score: the anchors (tutor-scored submissions and calibration samples)
    true: pd.Series  # true score by submission id, real submissions only
    kind: pd.Series  # reviewer id -> normal, careless, rubber
    bias: pd.Series  # reviewer id -> true bias

    def held_out(self) -> pd.Index:
        """Real submissions no tutor scored: where the estimates are compared."""
        return self.true.index.difference(self.tutor_scores["submission_id"])


def simulate_reviews(n: int, seed: int, k: int = 3, careless: float = 0.10, rubber: float = 0.045,
                     tutor_share: float = 0.02, calibration: int = 3, lenient: float = 0.0,
                     compression: float = 0.0, scale=(0.0, 10.0)) -> Simulation:
    """A cohort of n participants reviewing each other under PG1 with careless and
    rubber-stamping reviewers; same arguments, same simulation."""
    lo, hi = scale
    rng = np.random.default_rng(seed)
    subs = np.array([f"s{i:05d}" for i in range(n)])
    people = np.array([f"p{i:05d}" for i in range(n)])
    true = np.clip(rng.normal(6.5, 1.5, n), lo, hi)
    bias = rng.normal(lenient, 0.9, n)
    sd = 1.0 / np.sqrt(rng.gamma(4.0, 0.5, n))  # precision ~ Gamma(4, 1/2), mean 2
    kind = rng.choice(np.array(["normal", "careless", "rubber"]), size=n, p=[1 - careless - rubber, careless, rubber])
    df = rng.choice([2.0, 3.0], size=n)
    slope = 1.0 - compression * rng.random(n) if compression else np.ones(n)
    stamp = np.where(rng.random(n) < 0.5, hi, rng.choice(np.arange(6.5, 9.0, 0.5), size=n))

    def score(sub_true: np.ndarray, who: np.ndarray) -> np.ndarray:
        noise = np.where(kind[who] == "careless", 1.5 * rng.standard_t(df[who]), rng.normal(size=len(who)) * sd[who])
        z = 6.5 + slope[who] * (sub_true - 6.5) + bias[who] + noise
        z = np.where(kind[who] == "rubber", stamp[who], z)
        return np.clip(np.round(z * 2) / 2, lo, hi)

    # allocation: in a random order, each submission goes to the next k participants
    order = rng.permutation(n)
    pos = np.repeat(np.arange(n), k)
    sub_idx = order[pos]
    rev_idx = order[(pos + np.tile(np.arange(1, k + 1), n)) % n]
    reviews = pd.DataFrame({"submission_id": subs[sub_idx], "author_id": people[sub_idx],
                            "reviewer_id": people[rev_idx], "score": score(true[sub_idx], rev_idx)})
    anchored = rng.choice(n, size=int(round(tutor_share * n)), replace=False)
    tutor = [pd.DataFrame({"submission_id": subs[anchored], "score": true[anchored]})]
    frames = [reviews]
    for c in range(1, calibration + 1):
        cal_true = float(np.clip(np.round(rng.normal(6.5, 1.5) * 2) / 2, lo, hi))
        who = np.arange(n)
        frames.append(pd.DataFrame({"submission_id": f"cal-{c}", "author_id": "tutor",
                                    "reviewer_id": people, "score": score(np.full(n, cal_true), who)}))
        tutor.append(pd.DataFrame({"submission_id": [f"cal-{c}"], "score": [cal_true]}))
    return Simulation(pd.concat(frames, ignore_index=True), pd.concat(tutor, ignore_index=True),
                      pd.Series(true, index=subs), pd.Series(kind, index=people), pd.Series(bias, index=people))


def errors(sim: Simulation, grades: pd.DataFrame) -> dict[str, float]:
    """RMSE of the model, the median and the mean on the held-out submissions, and how
    often the true score lies in the model's 90% interval."""
    g = grades.set_index("submission_id").loc[sim.held_out()]
    truth = sim.true.loc[g.index]
    rmse = {name: float(np.sqrt(np.mean((g[col] - truth) ** 2))) for name, col in
            (("model", "score"), ("median", "median"), ("mean", "mean"))}
    rmse["ratio"] = rmse["model"] / rmse["median"]
    rmse["coverage"] = float(np.mean((g["low"] <= truth) & (truth <= g["high"])))
    return rmse
