"""Study groups: hard rules on random rosters, diversity against its bound, determinism, messages."""

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from course.cli import main
from peer_review.groups import GroupingError, form_groups, shared_languages, utc_offset_hours
from peer_review.quality import diversity, group_quality
from peer_review_strategies import people

EXAMPLES = "peer_review/examples"


def check_hard_rules(roster, groups, size):
    assert sorted(groups["id"]) == sorted(roster["id"])  # everyone exactly once
    sizes = groups.groupby("group").size()
    assert sizes.max() - sizes.min() <= 1
    assert sizes.max() <= size
    assert all(shared_languages(groups).values())
    assert list(groups.columns[:2]) == ["id", "group"]
    assert set(roster.columns) <= set(groups.columns)


@settings(max_examples=40, deadline=None)
@given(roster=people(min_size=2, max_size=80), size=st.integers(2, 8), seed=st.integers(0, 5))
def test_one_language_hard_rules_and_best_stakeholder_diversity(roster, size, seed):
    groups = form_groups(roster, size=size, seed=seed)
    check_hard_rules(roster, groups, size)
    reached, bound = diversity(groups, "stakeholder_group")
    assert reached == bound


@settings(max_examples=40, deadline=None)
@given(roster=people(min_size=2, max_size=60, languages=("en", "fr", "es")), size=st.integers(2, 6), seed=st.integers(0, 3))
def test_mixed_languages_place_everyone_or_say_who_cannot_be_placed(roster, size, seed):
    try:
        groups = form_groups(roster, size=size, seed=seed)
    except GroupingError as err:
        assert err.unplaced, "an infeasible roster must name people"
        assert {pid for pid, _ in err.unplaced} <= set(roster["id"])
        return
    check_hard_rules(roster, groups, size)


@settings(max_examples=15, deadline=None)
@given(roster=people(min_size=6, max_size=50), seed=st.integers(0, 3), hours=st.sampled_from([0, 3, 8]))
def test_time_zone_spread_respected_when_grouping_succeeds(roster, seed, hours):
    try:
        groups = form_groups(roster, size=4, seed=seed, max_tz_spread=hours)
    except GroupingError as err:
        assert "cannot be placed" in str(err) and err.unplaced
        return
    check_hard_rules(roster, groups, 4)
    offsets = groups["timezone"].map(utc_offset_hours)
    spread = offsets.groupby(groups["group"]).agg(lambda x: x.max() - x.min())
    assert spread.max() <= hours


@settings(max_examples=10, deadline=None)
@given(roster=people(min_size=5, max_size=60, languages=("en", "fr")), seed=st.integers(0, 100))
def test_same_input_and_seed_same_groups(roster, seed):
    try:
        first = form_groups(roster, size=5, seed=seed)
    except GroupingError:
        return
    pd.testing.assert_frame_equal(first, form_groups(roster, size=5, seed=seed))


def test_avoidable_organisation_clashes_are_avoided():
    rows = []
    for i in range(30):
        rows.append({"id": f"p{i:02d}", "stakeholder_group": ["government", "academia", "civil_society"][i % 3],
                     "region": "Africa", "organisation": f"Org {i % 5}", "gender": "female", "languages": "en",
                     "timezone": "Africa/Nairobi"})
    roster = pd.DataFrame(rows)  # 6 groups of 5, each organisation has 6 people: one per group is possible
    groups = form_groups(roster, size=5, seed=2)
    assert group_quality(groups.assign(name="", email="", country="KE", expertise=""))["organisation_clashes"] == 0


def test_language_minority_gets_its_own_group_and_the_impossible_is_named():
    base = {"stakeholder_group": "academia", "region": "Europe", "organisation": "", "gender": "male", "timezone": "Europe/Paris"}
    rows = [dict(base, id=f"e{i}", languages="en") for i in range(8)] + [dict(base, id=f"f{i}", languages="fr") for i in range(4)]
    groups = form_groups(pd.DataFrame(rows), size=4, seed=0)
    assert set(groups.loc[groups["id"].str.startswith("f"), "group"]) == {groups.loc[groups["id"] == "f0", "group"].iat[0]}
    rows = [dict(base, id=f"e{i}", languages="en") for i in range(8)] + [dict(base, id="x1", languages="de")]
    with pytest.raises(GroupingError) as info:
        form_groups(pd.DataFrame(rows), size=4, seed=0)
    assert [pid for pid, _ in info.value.unplaced] == ["x1"]
    assert "speaks de" in str(info.value)


def test_groups_command_writes_csv_and_reports_diversity(tmp_path):
    out = tmp_path / "groups.csv"
    result = CliRunner().invoke(main, ["groups", f"{EXAMPLES}/roster.csv", "--size", "6", "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "stakeholder diversity" in result.output and "of the best possible" in result.output
    table = pd.read_csv(out)
    assert list(table.columns[:2]) == ["id", "group"] and len(table) == 24


def test_groups_command_exit_2_names_who_cannot_be_placed(tmp_path):
    roster = pd.read_csv(f"{EXAMPLES}/roster.csv", dtype=str, keep_default_na=False)
    roster.loc[roster["id"] == "p18", "languages"] = "de"
    path = tmp_path / "roster.csv"
    roster.to_csv(path, index=False)
    out = tmp_path / "groups.csv"
    result = CliRunner().invoke(main, ["groups", str(path), "--size", "6", "-o", str(out)])
    assert result.exit_code == 2
    assert "cannot be placed" in result.stderr
    assert "p18: speaks de" in result.stderr
    assert not out.exists()


def test_quality_of_groups_where_nobody_gave_a_gender():
    roster = pd.read_csv(f"{EXAMPLES}/roster.csv", dtype=str).fillna("")
    for gender in ("", None):
        table = roster.assign(gender=gender) if gender is not None else roster.drop(columns=["gender"])
        table = table.assign(group=[str(i % 4 + 1) for i in range(len(table))])
        assert group_quality(table)["gender_imbalance_max"] == 0
