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
    return _roster(rng, n, stake, region, country, organisation, langs, tz)


# The hard case (issue 10): civil society a third, two near-absent stakeholder groups,
# about 8% who do not speak English, and a few languages spoken by only a handful.
SKEWED_STAKEHOLDERS = {
    "civil_society": 0.34,
    "government": 0.25,
    "academia": 0.20,
    "technical_community": 0.14,
    "private_sector": 0.04,
    "intergovernmental": 0.03,
}
# region: (share, [(country, time zone, other language or "", share of its people without English)])
SKEWED_REGIONS = {
    "Africa": (0.35, [("KE", "Africa/Nairobi", "sw", 0.0), ("NG", "Africa/Lagos", "", 0.0), ("SN", "Africa/Dakar", "fr", 0.2),
                      ("CD", "Africa/Kinshasa", "fr", 0.2), ("ZA", "Africa/Johannesburg", "", 0.0), ("GH", "Africa/Accra", "", 0.0),
                      ("ET", "Africa/Addis_Ababa", "am", 0.0), ("MZ", "Africa/Maputo", "pt", 0.2)]),
    "Asia-Pacific": (0.22, [("IN", "Asia/Kolkata", "hi", 0.0), ("ID", "Asia/Jakarta", "id", 0.05), ("PH", "Asia/Manila", "", 0.0),
                            ("FJ", "Pacific/Fiji", "", 0.0), ("BD", "Asia/Dhaka", "bn", 0.0), ("CN", "Asia/Shanghai", "zh", 0.25),
                            ("KZ", "Asia/Almaty", "ru", 0.2)]),
    "Latin America and Caribbean": (0.15, [("BR", "America/Sao_Paulo", "pt", 0.2), ("MX", "America/Mexico_City", "es", 0.1),
                                           ("AR", "America/Argentina/Buenos_Aires", "es", 0.1), ("JM", "America/Jamaica", "", 0.0),
                                           ("HT", "America/Port-au-Prince", "fr", 0.15)]),
    "Europe": (0.13, [("DE", "Europe/Berlin", "de", 0.0), ("FR", "Europe/Paris", "fr", 0.1), ("PL", "Europe/Warsaw", "pl", 0.0),
                      ("GB", "Europe/London", "", 0.0), ("RU", "Europe/Moscow", "ru", 0.3), ("ES", "Europe/Madrid", "es", 0.05),
                      ("PT", "Europe/Lisbon", "pt", 0.05)]),
    "Arab States": (0.10, [("EG", "Africa/Cairo", "ar", 0.1), ("TN", "Africa/Tunis", "ar;fr", 0.15), ("LB", "Asia/Beirut", "ar;fr", 0.1),
                           ("MA", "Africa/Casablanca", "ar;fr", 0.15)]),
    "North America": (0.05, [("US", "America/New_York", "", 0.0), ("CA", "America/Toronto", "fr", 0.05)]),
}

# Share of English speakers who also speak each of these, wherever they live.
SECOND_LANGUAGES = {"fr": 0.06, "es": 0.05, "ar": 0.015, "pt": 0.015, "ru": 0.015, "zh": 0.005}


def make_skewed_cohort(n: int, seed: int = 0, group_size: int = 6) -> pd.DataFrame:
    """A roster of n people that is hard to group well (the skewed cohort of issue 10).

    Stakeholder groups as in SKEWED_STAKEHOLDERS (private sector 4%, intergovernmental 3%);
    about 8% speak no English (French, Spanish, Arabic, Portuguese, Russian, Chinese, some
    French and Arabic), so their language pools are small; organisations send 2-15 colleagues,
    who share stakeholder group and country (not always languages). Each language spoken
    by people without English then gets bilingual speakers (who also speak English) up to
    twice what whole groups of `group_size` - 1 to `group_size` need: small pools, where
    who joins them decides the diversity. The data are illustrative, not real people.
    """
    rng = np.random.default_rng(seed)
    stake = rng.choice(list(SKEWED_STAKEHOLDERS), size=n, p=list(SKEWED_STAKEHOLDERS.values())).astype(object)
    region_names = list(SKEWED_REGIONS)
    region = rng.choice(region_names, size=n, p=[SKEWED_REGIONS[r][0] for r in region_names]).astype(object)
    place = np.array([rng.integers(len(SKEWED_REGIONS[reg][1])) for reg in region])
    # Organisations: a third of people come with colleagues (2-15), who share their
    # stakeholder group, region and country; each colleague's languages are their own.
    organisation = np.array([f"Organisation {i:06d}" for i in range(n)], dtype=object)
    who = rng.permutation(n)
    pos, o = 0, 0
    while pos < int(n * 0.35) - 1:
        k = min(int(rng.geometric(0.3)) + 1, 15, int(n * 0.35) - pos)
        members = who[pos : pos + k]
        for column in (stake, region, place):
            column[members] = column[members[0]]
        organisation[members] = f"Shared organisation {o:05d}"
        pos, o = pos + k, o + 1
    country, tz, langs = [], [], []
    for reg, i in zip(region, place):
        c, z, other, without_en = SKEWED_REGIONS[reg][1][i]
        country.append(c)
        tz.append(z)
        if other and rng.random() < without_en:
            langs.append(other)
        elif other and rng.random() < 0.6:
            langs.append("en;" + other)
        else:
            langs.append("en")
    # English speakers anywhere may have learnt a world language too.
    for i, v in enumerate(langs):
        if "en" in v.split(";"):
            for lang, share in SECOND_LANGUAGES.items():
                if lang not in v.split(";") and rng.random() < share:
                    langs[i] = v = v + ";" + lang
    langs = np.array(langs, dtype=object)
    # Enough bilingual speakers for each language of people without English, with a choice.
    for lang in sorted({l for v in langs if "en" not in v.split(";") for l in v.split(";")}):
        without = sum(1 for v in langs if "en" not in v.split(";") and v.split(";")[0] == lang)
        speakers = sum(1 for v in langs if lang in v.split(";"))
        need = 2 * group_size * max(1, -(-without // (group_size - 1))) if without else 0
        english = [i for i in rng.permutation(n) if "en" in langs[i].split(";") and lang not in langs[i].split(";")]
        for i in english[: max(0, need - speakers)]:
            langs[i] += ";" + lang
    return _roster(rng, n, stake, region, country, organisation, langs, tz)



def _roster(rng, n: int, stake, region, country, organisation, langs, tz) -> pd.DataFrame:
    """The roster table, with gender and expertise drawn here."""
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
