"""Peer-review allocation: hard rules on random cohorts, late submissions, anonymity, messages."""

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from course.cli import main
from peer_review.allocation import AllocationError, allocate_reviews, author_view
from peer_review.roster import org_keys
from peer_review_strategies import people

EXAMPLES = "peer_review/examples"


def submissions_for(roster, languages=None):
    return pd.DataFrame({
        "submission_id": [f"s-{i}" for i in roster["id"]],
        "author_id": roster["id"],
        **({"language": languages} if languages is not None else {}),
    })


def check_hard_rules(allocation, roster, subs, k):
    people_ = roster.set_index("id")
    per_sub = allocation.groupby("submission_id")["reviewer_id"].agg(["size", "nunique"])
    assert set(per_sub.index) == set(subs["submission_id"])
    assert (per_sub["size"] == k).all() and (per_sub["nunique"] == k).all()
    assert (allocation["author_id"] != allocation["reviewer_id"]).all()
    orgs = org_keys(roster).set_axis(roster["id"])
    oa, orv = orgs[allocation["author_id"]].to_numpy(), orgs[allocation["reviewer_id"]].to_numpy()
    assert not ((oa == orv) & (oa != "")).any()
    lang = dict(zip(subs["submission_id"], subs["language"] if "language" in subs else [people_.at[a, "languages"].split(";")[0] for a in subs["author_id"]]))
    for sid, rid in zip(allocation["submission_id"], allocation["reviewer_id"]):
        assert lang[sid] in people_.at[rid, "languages"].split(";")
    assert set(allocation["reviewer_id"]) <= set(subs["author_id"])
    assert allocation["review_code"].is_unique


@settings(max_examples=40, deadline=None)
@given(roster=people(min_size=4, max_size=70, orgs=20), k=st.integers(1, 3), seed=st.integers(0, 5))
def test_hard_rules_on_random_cohorts(roster, k, seed):
    subs = submissions_for(roster)
    try:
        allocation = allocate_reviews(subs, roster, k=k, seed=seed)
    except AllocationError as err:
        # Only when some submission truly lacks k eligible reviewers.
        assert "eligible reviewers" in str(err) or "at most" in str(err)
        return
    check_hard_rules(allocation, roster, subs, k)
    loads = allocation["reviewer_id"].value_counts().reindex(roster["id"], fill_value=0)
    assert loads.max() <= k + 1
    assert allocation["review_code"].str.fullmatch(r"R-[A-Z2-9]{8}").all()


@settings(max_examples=25, deadline=None)
@given(roster=people(min_size=8, max_size=60, orgs=1000), k=st.integers(1, 3), seed=st.integers(0, 5))
def test_everyone_reviews_exactly_k_when_only_self_is_excluded(roster, k, seed):
    roster = roster.assign(organisation=roster["id"])  # nobody shares an organisation
    subs = submissions_for(roster)
    allocation = allocate_reviews(subs, roster, k=k, seed=seed)
    check_hard_rules(allocation, roster, subs, k)
    assert (allocation["reviewer_id"].value_counts() == k).all()
    assert allocation["reviewer_id"].nunique() == len(roster)


@settings(max_examples=25, deadline=None)
@given(roster=people(min_size=10, max_size=60, languages=("en", "fr"), orgs=30), seed=st.integers(0, 5))
def test_language_rule_with_mixed_languages(roster, seed):
    langs = [l.split(";")[-1] for l in roster["languages"]]
    subs = submissions_for(roster, langs)
    try:
        allocation = allocate_reviews(subs, roster, k=2, seed=seed)
    except AllocationError:
        return
    check_hard_rules(allocation, roster, subs, 2)


@settings(max_examples=10, deadline=None)
@given(roster=people(min_size=10, max_size=50, orgs=40), seed=st.integers(0, 1000))
def test_same_input_and_seed_same_allocation(roster, seed):
    subs = submissions_for(roster)
    try:
        first = allocate_reviews(subs, roster, k=3, seed=seed)
    except AllocationError:
        return
    pd.testing.assert_frame_equal(first, allocate_reviews(subs, roster, k=3, seed=seed))


@settings(max_examples=15, deadline=None)
@given(roster=people(min_size=12, max_size=50, orgs=1000), late=st.integers(1, 5), seed=st.integers(0, 5))
def test_late_submissions_keep_earlier_assignments(roster, late, seed):
    roster = roster.assign(organisation=roster["id"])
    subs = submissions_for(roster)
    early = allocate_reviews(subs.iloc[:-late], roster, k=3, seed=seed)
    both = allocate_reviews(subs, roster, k=3, seed=seed, existing=early)
    pd.testing.assert_frame_equal(both.iloc[: len(early)], early)
    check_hard_rules(both, roster, subs, 3)
    loads = both["reviewer_id"].value_counts()
    assert loads.max() <= 4


def test_cross_stakeholder_other_group_and_history_preferences():
    rows = [{"id": f"p{i:02d}", "stakeholder_group": ["government", "academia", "civil_society", "private_sector"][i % 4],
             "region": "Europe", "organisation": f"O{i}", "languages": "en", "timezone": "Europe/Paris"} for i in range(24)]
    roster = pd.DataFrame(rows)
    subs = submissions_for(roster)
    groups = pd.DataFrame({"id": roster["id"], "group": [i // 6 for i in range(24)]})
    first = allocate_reviews(subs, roster, k=3, seed=1, groups=groups)
    stake = roster.set_index("id")["stakeholder_group"]
    assert (stake[first["author_id"]].to_numpy() != stake[first["reviewer_id"]].to_numpy()).all()
    gmap = groups.set_index("id")["group"]
    assert (gmap[first["author_id"]].to_numpy() != gmap[first["reviewer_id"]].to_numpy()).all()
    within = allocate_reviews(subs, roster, k=3, seed=1, groups=groups, within_groups=True)
    assert (gmap[within["author_id"]].to_numpy() == gmap[within["reviewer_id"]].to_numpy()).mean() > 0.9
    second = allocate_reviews(subs, roster, k=3, seed=2, history=first)
    met = set(zip(first["author_id"], first["reviewer_id"])) | set(zip(first["reviewer_id"], first["author_id"]))
    assert not any(pair in met for pair in zip(second["author_id"], second["reviewer_id"]))


def test_authors_never_see_reviewers():
    roster = pd.read_csv(f"{EXAMPLES}/roster.csv", dtype=str, keep_default_na=False)
    from peer_review.roster import validate_roster

    roster = validate_roster(roster)
    subs = pd.read_csv(f"{EXAMPLES}/submissions.csv", dtype=str)
    allocation = allocate_reviews(subs, roster, k=3, seed=1)
    view = author_view(allocation)
    assert list(view.columns) == ["submission_id", "author_id", "review_code"]
    for shown, reviewer in zip(view.itertuples(index=False), allocation["reviewer_id"]):
        assert all(reviewer not in str(cell) for cell in shown)


def test_infeasible_allocation_names_the_submission():
    rows = [{"id": f"p{i}", "stakeholder_group": "academia", "region": "Europe", "organisation": "",
             "languages": "en", "timezone": "Europe/Paris"} for i in range(5)]
    rows[0]["languages"] = "de"
    roster = pd.DataFrame(rows)
    subs = submissions_for(roster, ["de", "en", "en", "en", "en"])
    with pytest.raises(AllocationError, match=r"s-p0 \(author p0, language de\): only 0 eligible reviewers"):
        allocate_reviews(subs, roster, k=2)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_allocate_command(tmp_path):
    out, authors = tmp_path / "allocation.csv", tmp_path / "authors.csv"
    result = run("reviews", "allocate", f"{EXAMPLES}/submissions.csv", "--roster", f"{EXAMPLES}/roster.csv",
                 "-k", "3", "--seed", "1", "--authors-out", authors, "-o", out)
    assert result.exit_code == 0, result.output
    assert "cross-stakeholder reviews" in result.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["submission_id", "author_id", "reviewer_id", "review_code"]
    assert "reviewer_id" not in pd.read_csv(authors).columns


@pytest.mark.parametrize(
    "submissions, message",
    [
        ("submission_id,author_id\nm1,p01\nm1,p02\n", "row 3, column submission_id: 'm1': a unique submission id (also on row 2)"),
        ("submission_id,author_id\nm1,p99\n", "row 2, column author_id: 'p99': the id of a person in the roster"),
        ("submission_id,author_id\nm1,p01\nm2,p01\n", "row 3, column author_id: 'p01': one submission per author"),
        ("submission_id,author_id,language\nm1,p01,xx\n", "row 2, column language: 'xx': an ISO 639-1 language code"),
        ("submission_id,writer\nm1,p01\n", "row 1, column author_id: missing column"),
        ("submission_id,author_id,language\nm1,p01,fr\nm2,p02,en\nm3,p03,en\n", "m1 (author p01, language fr): only 0 eligible reviewers"),
    ],
    ids=["duplicate-submission", "unknown-author", "two-per-author", "bad-language", "missing-column", "no-reviewers"],
)
def test_allocate_bad_inputs_exit_2(tmp_path, submissions, message):
    path = tmp_path / "subs.csv"
    path.write_text(submissions, encoding="utf-8")
    out = tmp_path / "allocation.csv"
    result = run("reviews", "allocate", path, "--roster", f"{EXAMPLES}/roster.csv", "-k", "2", "-o", out)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: ")
    assert message in result.stderr
    assert not out.exists()


def test_large_runs_report_their_stages_and_small_runs_stay_quiet(monkeypatch, tmp_path):
    from course.cli import main
    from course.commands import cohort

    examples = Path(__file__).parent.parent / "peer_review/examples"
    args = ["reviews", "allocate", str(examples / "submissions.csv"),
            "--roster", str(examples / "roster.csv"), "-k", "3", "--seed", "1",
            "-o", str(tmp_path / "allocation.csv")]
    quiet = CliRunner().invoke(main, args)
    assert quiet.exit_code == 0 and quiet.stderr == ""
    monkeypatch.setattr(cohort, "PROGRESS_ROWS", 10)
    loud = CliRunner().invoke(main, args)
    assert loud.exit_code == 0
    assert "s] solving" in loud.stderr and "s] writing" in loud.stderr
