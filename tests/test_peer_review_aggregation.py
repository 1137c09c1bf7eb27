"""Score aggregation: beats the median under PG1, flags, anchors, and bad-input messages."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from course.cli import main
from peer_review.aggregation import aggregate_scores, rmse

EXAMPLES = "peer_review/examples"


def simulate(n_subs=600, k=4, seed=0, rubber=0.05, careless=0.05):
    """Reviews drawn from PG1: z = true + bias + noise / sqrt(precision), on a 0-10 scale."""
    rng = np.random.default_rng(seed)
    true = pd.Series(rng.normal(6.5, 1.5, n_subs), index=[f"s{i}" for i in range(n_subs)])
    n_rev = n_subs
    bias = rng.normal(0, 1.0, n_rev)
    tau = rng.gamma(4, 0.5, n_rev)
    kind = rng.choice(3, n_rev, p=[1 - rubber - careless, careless, rubber])
    tau[kind == 1] = 0.08
    rows = []
    for i, sid in enumerate(true.index):
        for j in (i + 1 + np.arange(k)) % n_rev:
            z = 10.0 if kind[j] == 2 else true[sid] + bias[j] + rng.normal() / np.sqrt(tau[j])
            rows.append({"submission_id": sid, "author_id": f"a{i}", "reviewer_id": f"r{j}", "score": float(np.clip(round(z * 2) / 2, 0, 10))})
    return pd.DataFrame(rows), true, kind


@pytest.mark.parametrize("seed", [0, 1])
def test_model_beats_the_median_by_15_percent(seed):
    reviews, true, _ = simulate(seed=seed)
    grades, _ = aggregate_scores(reviews, scale=(0, 10))
    grades = grades.set_index("submission_id")
    assert rmse(grades["score"], true) < 0.85 * rmse(grades["median"], true)


def test_rubber_stamp_reviewers_are_flagged_and_outputs_have_the_contract_columns():
    reviews, _, kind = simulate(seed=3)
    grades, reviewers = aggregate_scores(reviews, scale=(0, 10))
    assert {"submission_id", "score", "n_reviews", "flag"} <= set(grades.columns)
    assert (grades["n_reviews"] == 4).all()
    flagged = set(reviewers.loc[reviewers["reason"].str.contains("always the maximum"), "reviewer_id"])
    assert flagged == {f"r{j}" for j in np.flatnonzero(kind == 2)}
    assert grades["score"].between(0, 10).all()


def test_disagreement_is_flagged():
    rows = [("a", "r1", 9), ("a", "r2", 1), ("a", "r3", 5), ("b", "r1", 6), ("b", "r2", 6.5), ("b", "r3", 6)]
    reviews = pd.DataFrame(rows, columns=["submission_id", "reviewer_id", "score"])
    grades, _ = aggregate_scores(reviews, scale=(0, 10))
    flags = grades.set_index("submission_id")["flag"]
    assert flags["a"] and not flags["b"]
    assert "disagree" in grades.set_index("submission_id").at["a", "reason"]


def test_tutor_scores_anchor_and_calibrate_bias():
    # r1 is 2 points harsh; the tutor's score on s1 reveals it, which corrects s2.
    rows = [("s1", "r1", 4), ("s2", "r1", 5), ("s1", "r2", 6), ("s3", "r2", 7), ("s3", "r3", 7), ("s2", "r3", 7)]
    reviews = pd.DataFrame(rows, columns=["submission_id", "reviewer_id", "score"])
    tutor = pd.DataFrame({"submission_id": ["s1"], "score": [6.0]})
    grades, reviewers = aggregate_scores(reviews, tutor, scale=(0, 10))
    g = grades.set_index("submission_id")
    assert g.at["s1", "score"] == 6.0 and g.at["s1", "tutor_scored"]
    assert reviewers.set_index("reviewer_id").at["r1", "bias"] < 0
    assert g.at["s2", "score"] > 5.0


def test_same_input_same_output():
    reviews, _, _ = simulate(n_subs=100, seed=5)
    pd.testing.assert_frame_equal(aggregate_scores(reviews)[0], aggregate_scores(reviews)[0])


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_aggregate_command(tmp_path):
    out, revs = tmp_path / "grades.csv", tmp_path / "reviewers.csv"
    result = run("reviews", "aggregate", f"{EXAMPLES}/reviews.csv", "--tutor-scores", f"{EXAMPLES}/tutor_scores.csv",
                 "--scale", "0", "10", "--reviewers-out", revs, "-o", out)
    assert result.exit_code == 0, result.output
    assert "reviewer p11: gives every submission the same score (always the maximum)" in result.output
    grades = pd.read_csv(out)
    assert len(grades) == 24 and grades.set_index("submission_id").at["memo-02", "score"] == 3.0


@pytest.mark.parametrize(
    "reviews, message",
    [
        ("submission_id,reviewer_id,score\ns1,r1,great\n", "row 2, column score: 'great': a number"),
        ("submission_id,reviewer_id,score\ns1,r1,5\ns1,r1,6\n", "row 3, column reviewer_id: 'r1': one review per reviewer and submission"),
        ("submission_id,author_id,reviewer_id,score\ns1,a1,a1,5\n", "row 2, column reviewer_id: 'a1': a reviewer other than the author"),
        ("submission_id,reviewer_id\ns1,r1\n", "row 1, column score: missing column"),
        ("submission_id,reviewer_id,score\ns1,r1,\n", "no scored reviews"),
    ],
    ids=["not-a-number", "duplicate", "self-review", "missing-column", "no-scores"],
)
def test_aggregate_bad_inputs_exit_2(tmp_path, reviews, message):
    path = tmp_path / "reviews.csv"
    path.write_text(reviews, encoding="utf-8")
    result = run("reviews", "aggregate", path, "-o", tmp_path / "grades.csv")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: ")
    assert message in result.stderr
    assert not (tmp_path / "grades.csv").exists()
