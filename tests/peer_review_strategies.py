"""Random rosters for the peer_review property tests."""

import pandas as pd
from hypothesis import strategies as st

from peer_review.roster import validate_roster

STAKEHOLDERS = ["government", "technical_community", "academia", "civil_society", "private_sector", "intergovernmental"]
REGIONS = ["Africa", "Arab States", "Asia-Pacific", "Latin America and Caribbean", "Europe", "North America"]
ZONES = ["Africa/Nairobi", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Fiji", "America/Sao_Paulo"]
GENDERS = ["female", "male", "non_binary", "undisclosed"]
TOPICS = ["dns", "cybersecurity", "human-rights", "access", "data-protection"]


@st.composite
def people(draw, min_size=2, max_size=60, languages=("en",), orgs=8):
    """A validated roster; everyone speaks the first language unless more are given."""
    n = draw(st.integers(min_size, max_size))
    rows = []
    for i in range(n):
        if len(languages) > 1:
            langs = draw(st.lists(st.sampled_from(languages), min_size=1, max_size=len(languages), unique=True))
        else:
            langs = list(languages)
        rows.append({
            "id": f"p{i:03d}",
            "name": f"Person {i}",
            "email": f"p{i}@example.org",
            "stakeholder_group": draw(st.sampled_from(STAKEHOLDERS)),
            "region": draw(st.sampled_from(REGIONS)),
            "country": "KE",
            "organisation": draw(st.one_of(st.just(""), st.integers(0, orgs).map(lambda o: f"Org {o}"))),
            "gender": draw(st.sampled_from(GENDERS)),
            "languages": ";".join(langs),
            "timezone": draw(st.sampled_from(ZONES)),
            "expertise": ";".join(draw(st.lists(st.sampled_from(TOPICS), max_size=2, unique=True))),
        })
    return validate_roster(pd.DataFrame(rows))


def table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)
