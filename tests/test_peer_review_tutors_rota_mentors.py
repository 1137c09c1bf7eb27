"""Tutors, facilitation rota and mentoring: hard rules, balance, optimality, messages."""

import itertools

import numpy as np
import pandas as pd
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from course.cli import main
from peer_review.groups import form_groups, shared_languages
from peer_review.mentoring import greedy_match, match_mentors
from peer_review.rota import make_rota
from peer_review.tutors import TutorError, assign_tutors
from peer_review_strategies import people

EXAMPLES = "peer_review/examples"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@settings(max_examples=25, deadline=None)
@given(roster=people(min_size=6, max_size=60, languages=("en", "fr")), staff=people(min_size=1, max_size=8, languages=("en", "fr")),
       capacity=st.integers(0, 6), seed=st.integers(0, 3))
def test_tutors_share_language_within_capacity_and_even(roster, staff, capacity, seed):
    try:
        groups = form_groups(roster, size=5, seed=seed)
    except ValueError:
        return
    staff = staff.assign(id=[f"t{i}" for i in range(len(staff))], capacity=capacity)
    try:
        result = assign_tutors(groups, staff, seed=seed)
    except TutorError as err:
        assert "capacity" in str(err) or "no tutor speaks" in str(err)
        return
    assert sorted(result["group"]) == sorted(groups["group"].unique())
    langs = shared_languages(groups)
    tl = dict(zip(staff["id"], staff["languages"].str.split(";")))
    for g, t in zip(result["group"], result["tutor_id"]):
        assert langs[g] & set(tl[t])
    loads = result["tutor_id"].value_counts()
    assert (loads <= capacity).all()
    if staff["languages"].eq("en").all() and groups.groupby("group")["languages"].apply(lambda s: all("en" in x for x in s)).all():
        full = loads.reindex(staff["id"], fill_value=0)
        assert full.max() - full.min() <= 1


def test_tutor_capacity_shortfall_message(tmp_path):
    groups = tmp_path / "groups.csv"
    assert run("groups", f"{EXAMPLES}/roster.csv", "--size", "3", "-o", groups).exit_code == 0
    result = run("tutors", groups, f"{EXAMPLES}/tutors.csv", "-o", tmp_path / "tutors.csv")
    assert result.exit_code == 2
    assert "total tutor capacity is 6 but there are 8 groups" in result.stderr


def test_tutors_command(tmp_path):
    groups = tmp_path / "groups.csv"
    assert run("groups", f"{EXAMPLES}/roster.csv", "-o", groups).exit_code == 0
    result = run("tutors", groups, f"{EXAMPLES}/tutors.csv", "-o", tmp_path / "tutors.csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "tutors.csv")
    assert list(table.columns[:2]) == ["group", "tutor_id"] and len(table) == 4


def test_tutors_file_without_capacity_is_refused(tmp_path):
    groups = tmp_path / "groups.csv"
    run("groups", f"{EXAMPLES}/roster.csv", "-o", groups)
    staff = pd.read_csv(f"{EXAMPLES}/tutors.csv", dtype=str).drop(columns="capacity")
    staff.to_csv(tmp_path / "t.csv", index=False)
    result = run("tutors", groups, tmp_path / "t.csv", "-o", tmp_path / "out.csv")
    assert result.exit_code == 2 and "row 1, column capacity: missing column" in result.stderr


@settings(max_examples=30, deadline=None)
@given(roster=people(min_size=2, max_size=40), n_sessions=st.integers(1, 12), co=st.booleans(), seed=st.integers(0, 3))
def test_rota_even_and_no_back_to_back(roster, n_sessions, co, seed):
    groups = form_groups(roster, size=6, seed=seed)
    rota = make_rota(groups, [frozenset({"dns"}) if t % 2 else frozenset() for t in range(n_sessions)], co_facilitators=co, seed=seed)
    for g, members in groups.groupby("group"):
        part = rota[rota["group"] == g]
        assert list(part["session"]) == list(range(1, n_sessions + 1))
        counts = part["facilitator_id"].value_counts().reindex(members["id"], fill_value=0)
        assert counts.max() - counts.min() <= 1
        seq = part["facilitator_id"].tolist()
        if len(members) > 1:
            assert all(a != b for a, b in zip(seq, seq[1:]))
        if co and len(members) > 1:
            assert (part["co_facilitator_id"] != part["facilitator_id"]).all()
            co_counts = part["co_facilitator_id"].value_counts().reindex(members["id"], fill_value=0)
            assert co_counts.max() - co_counts.min() <= 1
            stake = members.set_index("id")["stakeholder_group"]
            if stake.nunique() == len(stake):  # everyone different: pairs must differ
                assert (stake[part["facilitator_id"]].to_numpy() != stake[part["co_facilitator_id"]].to_numpy()).all()



@settings(max_examples=40, deadline=None)
@given(roster=people(min_size=4, max_size=40), size=st.integers(4, 9), n_sessions=st.integers(1, 30), seed=st.integers(0, 5),
       topics=st.lists(st.sampled_from(["dns", "access", ""]), min_size=30, max_size=30))
def test_rota_with_co_facilitators_nobody_in_consecutive_sessions(roster, size, n_sessions, seed, topics):
    groups = form_groups(roster, size=size, seed=seed)
    sessions = [frozenset({topics[t]} - {""}) for t in range(n_sessions)]
    rota = make_rota(groups, sessions, co_facilitators=True, seed=seed)
    assert rota.equals(make_rota(groups, sessions, co_facilitators=True, seed=seed))  # deterministic with the seed
    for g, members in groups.groupby("group"):
        part = rota[rota["group"] == g]
        assert list(part["session"]) == list(range(1, n_sessions + 1))
        lead, co = part["facilitator_id"].tolist(), part["co_facilitator_id"].tolist()
        assert all(a != b and b != "" for a, b in zip(lead, co))  # every session has a lead and a different co
        for column in ("facilitator_id", "co_facilitator_id"):
            counts = part[column].value_counts().reindex(members["id"], fill_value=0)
            assert counts.max() - counts.min() <= 1
        if len(members) >= 4:  # one lead and one co per session: back-to-back turns are avoidable
            for t in range(1, n_sessions):
                assert not {lead[t], co[t]} & {lead[t - 1], co[t - 1]}, (g, t + 1)


def test_rota_prefers_topic_expertise():
    base = {"stakeholder_group": "academia", "region": "Europe", "organisation": "", "languages": "en", "timezone": "Europe/Paris"}
    groups = pd.DataFrame([dict(base, id="a", group=1, expertise="dns"), dict(base, id="b", group=1, expertise=""),
                           dict(base, id="c", group=1, expertise="")])
    rota = make_rota(groups, [frozenset({"dns"}), frozenset(), frozenset()], seed=0)
    assert rota.loc[0, "facilitator_id"] == "a"


def test_rota_command_with_plan_and_bad_options(tmp_path):
    groups = tmp_path / "groups.csv"
    run("groups", f"{EXAMPLES}/roster.csv", "-o", groups)
    result = run("rota", groups, "--plan", "online-course", "--co-facilitators", "-o", tmp_path / "rota.csv")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "rota.csv")
    assert list(table.columns) == ["group", "session", "facilitator_id", "co_facilitator_id"]
    result = run("rota", groups, "-o", tmp_path / "r.csv")
    assert result.exit_code == 2 and "give either --sessions N or --plan PLAN" in result.stderr
    result = run("rota", groups, "--plan", "no-such-plan", "-o", tmp_path / "r.csv")
    assert result.exit_code == 2 and "no such plan" in result.stderr


def _mentor_tables(n_e, n_m, seed):
    rng = np.random.default_rng(seed)
    topics = ["dns", "access", "rights", "security"]
    base = {"stakeholder_group": "academia", "region": "Europe", "timezone": "Europe/Paris"}
    mentees = pd.DataFrame([dict(base, id=f"e{i}", organisation=f"O{rng.integers(3)}", languages=rng.choice(["en", "fr", "en;fr"]),
                                 expertise=";".join(rng.choice(topics, rng.integers(0, 3), replace=False))) for i in range(n_e)])
    mentors = pd.DataFrame([dict(base, id=f"m{i}", organisation=f"O{rng.integers(3)}", languages=rng.choice(["en", "fr", "en;fr"]),
                                 expertise=";".join(rng.choice(topics, rng.integers(0, 4), replace=False)), capacity=int(rng.integers(0, 3)))
                            for i in range(n_m)])
    return mentees, mentors


def _brute_force(mentees, mentors):
    """Best (matched, fit) by trying every assignment: tiny cases only."""
    slots = [j for j, c in enumerate(mentors["capacity"]) for _ in range(c)]
    best = (0, 0)
    ml = [set(x.split(";")) for x in mentees["languages"]]
    tl = [set(x.split(";")) for x in mentors["languages"]]
    mt = [set(filter(None, x.split(";"))) for x in mentees["expertise"]]
    tt = [set(filter(None, x.split(";"))) for x in mentors["expertise"]]
    options = []
    for i in range(len(mentees)):
        ok = [None] + [j for j in set(slots) if ml[i] & tl[j] and mentees["organisation"][i] != mentors["organisation"][j]]
        options.append(ok)
    for choice in itertools.product(*options):
        used = [c for c in choice if c is not None]
        if any(used.count(j) > mentors["capacity"][j] for j in set(used)):
            continue
        fit = sum(len(mt[i] & tt[j]) for i, j in enumerate(choice) if j is not None)
        best = max(best, (len(used), fit))
    return best


@settings(max_examples=30, deadline=None)
@given(n_e=st.integers(1, 5), n_m=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_mentoring_is_optimal_and_obeys_the_rules(n_e, n_m, seed):
    mentees, mentors = _mentor_tables(n_e, n_m, seed)
    result = match_mentors(mentees, mentors)
    matched = result[result["mentor_id"] != ""]
    m = mentors.set_index("id")
    e = mentees.set_index("id")
    assert (matched["mentor_id"].value_counts() <= m["capacity"][matched["mentor_id"].value_counts().index]).all()
    for a, b in zip(matched["mentee_id"], matched["mentor_id"]):
        assert set(e.at[a, "languages"].split(";")) & set(m.at[b, "languages"].split(";"))
        assert e.at[a, "organisation"] != m.at[b, "organisation"]
    assert (len(matched), int(result["fit"].sum())) == _brute_force(mentees, mentors)
    greedy = greedy_match(mentees, mentors)
    assert (len(matched), int(result["fit"].sum())) >= ((greedy["mentor_id"] != "").sum(), int(greedy["fit"].sum()))


def test_mentors_command(tmp_path):
    out = tmp_path / "matches.csv"
    result = run("mentors", f"{EXAMPLES}/roster.csv", f"{EXAMPLES}/tutors.csv", "-o", out)
    assert result.exit_code == 0, result.output
    assert "greedy match" in result.output
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(table.columns[:2]) == ["mentee_id", "mentor_id"]
    assert (table["mentor_id"] != "").sum() == 6
