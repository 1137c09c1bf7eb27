"""Study groups: hard rules on random rosters, diversity against its bound and its proven
optimum, determinism, messages."""

import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from course.cli import main
from peer_review.group_optimum import prove_optimum
from peer_review.groups import GroupingError, form_groups, shared_languages, utc_offset_hours
from peer_review.quality import diversity, group_quality, optimum_summary
from peer_review.roster import validate_roster
from peer_review_strategies import people

EXAMPLES = "peer_review/examples"
# bench/cohort.py's make_skewed_cohort(240, seed=7): civil society 35%, intergovernmental 2%,
# private sector 5%, 9% without English, Russian, Chinese, Indonesian and Portuguese pools of
# about a dozen speakers, a third of people sent with colleagues. The grouping of the old
# planner reached 164 / 171 of the stakeholder bound (95.9%) and 167 / 179 of the regions'.
SKEWED = Path(__file__).parent / "fixtures" / "skewed_cohort_240.csv"


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
    assert "stakeholder diversity" in result.output and "of the upper bound" in result.output
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


# --- skewed cohorts and the proven optimum ----------------------------------------------------

def read_roster(path) -> pd.DataFrame:
    return validate_roster(pd.read_csv(path, dtype=str, keep_default_na=False))


def check_tz_spread(groups, hours):
    offsets = groups["timezone"].map(utc_offset_hours)
    assert offsets.groupby(groups["group"]).agg(lambda x: x.max() - x.min()).max() <= hours


def test_skewed_multilingual_cohort_reaches_its_proven_optimum():
    roster = read_roster(SKEWED)
    groups = form_groups(roster, size=6, seed=0)
    check_hard_rules(roster, groups, 6)
    q = group_quality(groups)
    (stake, stake_bound), (regions, region_bound) = q["stakeholder_diversity"], q["region_diversity"]
    assert stake >= 0.985 * stake_bound
    assert regions >= 0.95 * region_bound
    assert q["organisation_clashes"] == 0
    proof = prove_optimum(roster, 6, groups=groups, time_limit=60, workers=1)
    assert not proof["stopped"]
    assert proof["optimum"] == stake < stake_bound  # the bound is out of reach; the optimum is reached


def test_skewed_cohort_under_a_time_zone_rule():
    roster = read_roster(SKEWED)
    groups = form_groups(roster, size=6, seed=0, max_tz_spread=8)
    check_hard_rules(roster, groups, 6)
    check_tz_spread(groups, 8)
    reached, bound = diversity(groups, "stakeholder_group")
    assert reached >= 0.985 * bound


def small_rosters():
    """Three languages and six time zones, so the rules bind."""
    return people(min_size=4, max_size=24, languages=("en", "fr", "es"))


@settings(max_examples=25, deadline=None)
@given(roster=small_rosters(), size=st.integers(2, 5), hours=st.sampled_from([None, 3.0, 8.0]))
def test_pool_model_is_exact_against_the_group_by_group_model(roster, size, hours):
    """The pool model (what form_groups plans with) and the literal model agree, and form_groups reaches them."""
    try:
        by_groups = prove_optimum(roster, size, max_tz_spread=hours, by_groups=True, time_limit=60, workers=1)
    except GroupingError:
        with pytest.raises(GroupingError):
            form_groups(roster, size=size, max_tz_spread=hours)
        with pytest.raises(GroupingError):
            prove_optimum(roster, size, max_tz_spread=hours, time_limit=60, workers=1)
        return
    groups = form_groups(roster, size=size, max_tz_spread=hours)
    check_hard_rules(roster, groups, size)
    if hours is not None:
        check_tz_spread(groups, hours)
    by_pools = prove_optimum(roster, size, max_tz_spread=hours, groups=groups, time_limit=60, workers=1)
    assert by_groups["optimum"] is not None
    assert by_pools["optimum"] == by_groups["optimum"] == diversity(groups, "stakeholder_group")[0]


def person(pid, stake, languages="en", zone="Africa/Accra"):
    return {"id": pid, "name": pid, "email": f"{pid}@example.org", "stakeholder_group": stake, "region": "Africa",
            "country": "GH", "organisation": "", "gender": "female", "languages": languages, "timezone": zone}


def test_prove_finds_an_optimum_below_the_bound():
    # Six speak only French (government, academia): one group; the other six make the other.
    rows = [person(f"f{i}", ["government", "academia"][i % 2], "fr") for i in range(6)]
    rows += [person(f"e{i}", ["government", "civil_society"][i % 2]) for i in range(6)]
    roster = validate_roster(pd.DataFrame(rows))
    groups = form_groups(roster, size=6)
    proof = prove_optimum(roster, 6, groups=groups, time_limit=30, workers=1)
    assert diversity(groups, "stakeholder_group") == (4, 6)
    assert proof["optimum"] == proof["proven_bound"] == 4 and not proof["stopped"]
    # Under a time-zone rule too: the same people, half of them ten hours away.
    rows = [person(f"a{i}", ["government", "academia"][i % 2]) for i in range(6)]
    rows += [person(f"b{i}", ["civil_society", "private_sector"][i % 2], zone="Australia/Brisbane") for i in range(6)]
    roster = validate_roster(pd.DataFrame(rows))
    assert prove_optimum(roster, 6, time_limit=30, workers=1)["optimum"] == 8
    groups = form_groups(roster, size=6, max_tz_spread=3)
    proof = prove_optimum(roster, 6, max_tz_spread=3, groups=groups, time_limit=30, workers=1)
    assert diversity(groups, "stakeholder_group") == (4, 8) and proof["optimum"] == 4


def test_a_solver_stopped_by_its_limit_says_so_and_gives_its_bound():
    roster = read_roster(SKEWED)
    groups = form_groups(roster, size=6, seed=0)
    reached, bound = diversity(groups, "stakeholder_group")
    proof = prove_optimum(roster, 6, groups=groups, by_groups=True, time_limit=60, workers=1, work_limit=0.01)
    assert proof["stopped"] and proof["optimum"] is None
    assert reached <= proof["best"] <= proof["proven_bound"] <= bound
    text = "\n".join(optimum_summary(reached, bound, proof))
    assert "NOT proven" in text and f"no grouping can reach more than {proof['proven_bound']}" in text
    assert f"upper bound {bound}" in text


def test_groups_command_proves_the_optimum_and_shows_the_gap(tmp_path):
    out = tmp_path / "groups.csv"
    result = CliRunner().invoke(main, ["groups", str(SKEWED), "--size", "6", "--prove", "--time-limit", "60", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "stakeholder diversity 170; best possible 170 (proven optimal" in result.output
    assert "gap 0 (0.0%); upper bound 171" in result.output
    assert "proving the best stakeholder diversity" in result.stderr  # progress
    assert len(pd.read_csv(out)) == 240
    for bad in ("0", "nan", "-5"):
        out.unlink(missing_ok=True)
        result = CliRunner().invoke(main, ["groups", str(SKEWED), "--prove", "--time-limit", bad, "-o", str(out)])
        assert result.exit_code == 2 and "--time-limit" in result.stderr and not out.exists()


def test_cohort_groups_command_proves_the_optimum(tmp_path):
    env = {"IGCB_DB_URL": None, "IGCB_HUB_ADMIN": None}
    state = tmp_path / "state"
    result = CliRunner().invoke(main, ["cohort", "init", "--plan", "online-course", "--roster", f"{EXAMPLES}/roster.csv",
                                       "--tutors", f"{EXAMPLES}/tutors.csv", "--state", str(state)], env=env)
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["cohort", "groups", "--size", "6", "--prove", "--time-limit", "30", "--state", str(state)], env=env)
    assert result.exit_code == 0, result.output
    assert "stored 4 study groups" in result.output
    line = next(l for l in result.output.splitlines() if "best possible" in l)
    reached, best = (int(x) for x in re.match(r"stakeholder diversity (\d+); best possible (\d+) ", line).groups())
    assert reached <= best and "proven optimal" in line and f"gap {best - reached} " in line
