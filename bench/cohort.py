"""Generate realistic, skewed cohorts for the peer_review benchmarks.

Stakeholder groups and regions are unevenly represented, some organisations
send several people, and a minority of participants do not speak the
course's main language (English). The data are illustrative, not real people.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

STAKEHOLDERS = {
    "civil_society": 0.32,
    "government": 0.22,
    "academia": 0.18,
    "technical_community": 0.12,
    "private_sector": 0.11,
    "intergovernmental": 0.05,
}
# region: (share, [(country, time zone, other language or "")])
REGIONS = {
    "Africa": (0.35, [("KE", "Africa/Nairobi", "sw"), ("NG", "Africa/Lagos", ""), ("SN", "Africa/Dakar", "fr"),
                      ("CD", "Africa/Kinshasa", "fr"), ("ZA", "Africa/Johannesburg", ""), ("GH", "Africa/Accra", "")]),
    "Asia-Pacific": (0.22, [("IN", "Asia/Kolkata", "hi"), ("ID", "Asia/Jakarta", "id"), ("PH", "Asia/Manila", ""),
                            ("FJ", "Pacific/Fiji", ""), ("BD", "Asia/Dhaka", "bn")]),
    "Latin America and Caribbean": (0.15, [("BR", "America/Sao_Paulo", "pt"), ("MX", "America/Mexico_City", "es"),
                                           ("AR", "America/Argentina/Buenos_Aires", "es"), ("JM", "America/Jamaica", "")]),
    "Europe": (0.13, [("DE", "Europe/Berlin", "de"), ("FR", "Europe/Paris", "fr"), ("PL", "Europe/Warsaw", "pl"), ("GB", "Europe/London", "")]),
    "Arab States": (0.10, [("EG", "Africa/Cairo", "ar"), ("TN", "Africa/Tunis", "ar"), ("LB", "Asia/Beirut", "ar")]),
    "North America": (0.05, [("US", "America/New_York", ""), ("CA", "America/Toronto", "fr")]),
}
GENDERS = {"female": 0.48, "male": 0.46, "non_binary": 0.02, "undisclosed": 0.04}
TOPICS = ["infrastructure", "cybersecurity", "human-rights", "digital-economy", "dns", "data-protection",
          "access", "ai-governance", "content-policy", "standards"]


def make_cohort(n: int, seed: int = 0, no_main_language: float = 0.08) -> pd.DataFrame:
    """A roster of n people, following the DESIGN.md contract."""
    rng = np.random.default_rng(seed)
    stake = rng.choice(list(STAKEHOLDERS), size=n, p=list(STAKEHOLDERS.values()))
    region_names = list(REGIONS)
    region = rng.choice(region_names, size=n, p=[REGIONS[r][0] for r in region_names])
    country, tz, langs = [], [], []
    for reg in region:
        c, z, other = REGIONS[reg][1][rng.integers(len(REGIONS[reg][1]))]
        country.append(c)
        tz.append(z)
        if other and rng.random() < no_main_language / 0.6:
            langs.append(other)  # no English
        elif other:
            langs.append("en;" + other)
        else:
            langs.append("en")
    # Organisations: most people come alone; a third come with colleagues (2-15 from one
    # organisation, which then has a single stakeholder group).
    n_shared = max(1, n // 12)
    sizes = np.minimum(rng.geometric(0.3, n_shared) + 1, 15)
    shared_stake = rng.choice(list(STAKEHOLDERS), size=n_shared, p=list(STAKEHOLDERS.values()))
    slots = np.repeat(np.arange(n_shared), sizes)[: int(n * 0.35)]
    who = rng.permutation(n)[: len(slots)]
    organisation = np.array([f"Organisation {i:06d}" for i in range(n)], dtype=object)
    organisation[who] = [f"Shared organisation {o:05d}" for o in slots]
    stake = stake.astype(object)
    stake[who] = shared_stake[slots]
    gender = rng.choice(list(GENDERS), size=n, p=list(GENDERS.values()))
    expertise = [";".join(rng.choice(TOPICS, size=rng.integers(0, 4), replace=False)) for _ in range(n)]
    ids = [f"p{i:06d}" for i in range(n)]
    return pd.DataFrame({
        "id": ids,
        "name": [f"Participant {i}" for i in range(n)],
        "email": [f"{i}@example.org" for i in ids],
        "stakeholder_group": stake,
        "region": region,
        "country": country,
        "organisation": organisation,
        "gender": gender,
        "languages": langs,
        "timezone": tz,
        "expertise": expertise,
    })


def make_tutors(n: int, capacity: int, seed: int = 0) -> pd.DataFrame:
    """Tutors with a `capacity` column; most speak English, some a second language."""
    tutors = make_cohort(n, seed=seed + 1000, no_main_language=0.0)
    tutors["id"] = [f"t{i:04d}" for i in range(n)]
    tutors["capacity"] = capacity
    return tutors


def make_submissions(roster: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """One submission per participant, written in their first listed language."""
    return pd.DataFrame({
        "submission_id": [f"s{i:06d}" for i in range(len(roster))],
        "author_id": roster["id"].to_numpy(),
        "language": [str(l).split(";")[0] for l in roster["languages"]],
    })


def simulate_pg1(allocation: pd.DataFrame, seed: int = 0, careless: float = 0.05, rubber: float = 0.05,
                 scale=(0.0, 10.0)):
    """Reviews under the PG1 model of Piech et al. (2013): z = s + b_reviewer + noise/sqrt(tau_reviewer).

    Some reviewers are careless (very noisy), some rubber-stamp (always the maximum).
    Returns (reviews DataFrame, true scores Series by submission_id).
    """
    rng = np.random.default_rng(seed)
    subs = allocation["submission_id"].unique()
    true = pd.Series(np.clip(rng.normal(6.5, 1.5, len(subs)), *scale), index=subs)
    reviewers = allocation["reviewer_id"].unique()
    bias = pd.Series(rng.normal(0, 0.9, len(reviewers)), index=reviewers)
    tau = pd.Series(rng.gamma(4.0, 1.0 / 2.0, len(reviewers)), index=reviewers)  # precision, mean 2
    kind = pd.Series(rng.choice(["normal", "careless", "rubber"], size=len(reviewers),
                                p=[1 - careless - rubber, careless, rubber]), index=reviewers)
    tau[kind == "careless"] = 0.08
    s = true[allocation["submission_id"]].to_numpy()
    b = bias[allocation["reviewer_id"]].to_numpy()
    t = tau[allocation["reviewer_id"]].to_numpy()
    z = s + b + rng.normal(0, 1, len(s)) / np.sqrt(t)
    z = np.where(kind[allocation["reviewer_id"]].to_numpy() == "rubber", scale[1], z)
    z = np.clip(np.round(z * 2) / 2, *scale)  # half-point steps, as on a real form
    reviews = allocation[["submission_id", "author_id", "reviewer_id"]].copy()
    reviews["score"] = z
    return reviews, true
