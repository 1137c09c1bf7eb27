"""The cohort report's statistics (course/evaluation/statistics.py) on data with known answers:
planted learning gains and bad items, textbook values of alpha and ICC, and the suppression
of small groups."""

import math

import numpy as np
import pandas as pd
import pytest

from course.evaluation import statistics as st
from course.evaluation.instruments import score_knowledge
from evaluation_fixtures import shipped_plan, simulate_knowledge


@pytest.fixture(scope="module")
def instruments():
    return shipped_plan()[3]


def _knowledge(instruments, n: int, gain: float, seed: int):
    """(scores before, after, item scores after, options, roles, expected shares before and after)."""
    rng = np.random.default_rng(seed)
    test, pre, post, roles, expected = simulate_knowledge(instruments, rng.normal(0, 1, n), gain, rng)
    before = pd.Series([score_knowledge(test, a)[1] for a in pre])
    after = pd.Series([score_knowledge(test, a)[1] for a in post])
    items = pd.DataFrame([score_knowledge(test, a)[0] for a in post])
    options = {item.id: len(item.options) for item in test.items}
    return before, after, items, options, roles, expected


# --- knowledge gain ------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_planted_gain_is_recovered_within_its_interval(instruments, seed):
    before, after, _, _, _, (pre_share, post_share) = _knowledge(instruments, 400, 0.8, seed)
    gain = st.paired_gain(before, after)
    assert gain["n"] == 400
    assert gain["low"] <= post_share.mean() - pre_share.mean() <= gain["high"]
    assert 0 < gain["low"] < gain["high"] < 0.3
    assert gain["p"] < 1e-6
    # the normalised gain's interval holds the planted one, (E post - E pre) / (1 - E pre)
    planted_g = (post_share.mean() - pre_share.mean()) / (1 - pre_share.mean())
    g = st.normalised_gain(before, after, seed=seed)
    assert g["class_low"] <= planted_g <= g["class_high"]
    assert g["class_low"] < g["class_g"] < g["class_high"]


def test_no_gain_gives_an_interval_around_zero(instruments):
    before, after, _, _, _, (pre_share, post_share) = _knowledge(instruments, 400, 0.0, 5)
    gain = st.paired_gain(before, after)
    assert np.allclose(pre_share, post_share)
    assert gain["low"] < 0 < gain["high"]


def test_paired_gain_uses_only_people_with_both_scores():
    pre = pd.Series([0.2, 0.4, 0.6, np.nan], index=["a", "b", "c", "d"])
    post = pd.Series([0.5, 0.6, 0.7, 0.9], index=["a", "b", "c", "d"])
    gain = st.paired_gain(pre, post)
    assert gain["n"] == 3
    assert gain["gain"] == pytest.approx(0.2)
    t = 4.302652729911275  # t(0.975, 2)
    sd = np.std([0.3, 0.2, 0.1], ddof=1)
    assert gain["low"] == pytest.approx(0.2 - t * sd / math.sqrt(3))


def test_normalised_gain_leaves_out_a_perfect_score_before():
    pre = pd.Series([0.5, 0.0, 1.0])
    post = pd.Series([0.75, 0.5, 1.0])
    g = st.normalised_gain(pre, post)
    assert g["class_g"] == pytest.approx((0.75 - 0.5) / (1 - 0.5))
    assert g["n_individual"] == 2
    assert g["mean_g"] == pytest.approx((0.5 + 0.5) / 2)


# --- item analysis -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 3])
def test_the_planted_bad_items_are_named_and_the_good_ones_not(instruments, seed):
    _, _, items, options, roles, _ = _knowledge(instruments, 600, 0.8, seed)
    table, alpha = st.item_analysis(items, options)
    named = set(table.loc[table["rewrite"], "item"])
    assert named == {roles["chance"], roles["negative"]}
    reasons = table.set_index("item")["reason"]
    assert "discrimination" in reasons[roles["negative"]] and "below 0.15" in reasons[roles["negative"]]
    assert table.set_index("item").loc[roles["negative"], "discrimination"] < 0
    chance = table.set_index("item").loc[roles["chance"]]
    assert abs(chance["facility"] - 0.25) < 0.06 and abs(chance["discrimination"]) < 0.15
    assert all(reasons[i] == "" for i in roles["good"])
    assert 0.7 < alpha < 0.95


def test_an_item_almost_everyone_gets_right_is_named_with_its_reason():
    rng = np.random.default_rng(0)
    ability = rng.normal(0, 1, 300)
    items = pd.DataFrame({f"i{j}": (rng.random(300) < 1 / (1 + np.exp(-2 * (ability - b)))).astype(int)
                          for j, b in enumerate(np.linspace(-1, 1, 8))})
    items["easy"] = (rng.random(300) < 0.99).astype(int)
    table, _ = st.item_analysis(items, dict.fromkeys(items.columns, 4))
    row = table.set_index("item").loc["easy"]
    assert not table.set_index("item").loc["i3", "rewrite"]
    # 1 to 4 of 300 got it wrong: its facility is not to be shown, nor the threshold it crossed
    wrong = int(300 - items["easy"].sum())
    assert row["few"] == (0 < wrong < 5) and row["rewrite"]
    assert row["reason"].startswith("all but fewer than five answered it right" if row["few"] else
                                    f"facility {row['facility']:.2f} is above 0.95")
    assert "0." not in row["reason"].split(";")[0] or not row["few"]


def test_alpha_and_discrimination_on_known_data():
    data = pd.DataFrame([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]], columns=["a", "b", "c"])
    # item variances 0.25 + 1/3 + 0.25, total variance 5/3: alpha = 3/2 (1 - 0.8333/1.6667)
    assert st.cronbach_alpha(data) == pytest.approx(0.75)
    table, alpha = st.item_analysis(data, dict.fromkeys(data.columns, 2))
    assert alpha == pytest.approx(0.75)
    rest = data[["b", "c"]].sum(axis=1)
    assert table.loc[0, "discrimination"] == pytest.approx(np.corrcoef(data["a"], rest)[0, 1])
    assert table.loc[0, "alpha_if_deleted"] == pytest.approx(st.cronbach_alpha(data[["b", "c"]]))
    # the same as alpha from the mean inter-item covariance, on random data
    rng = np.random.default_rng(1)
    x = pd.DataFrame((rng.random((50, 6)) < 0.5 + 0.3 * rng.normal(0, 1, (50, 1))).astype(int))
    cov = x.cov().to_numpy()
    k = cov.shape[0]
    mean_cov = (cov.sum() - np.trace(cov)) / (k * (k - 1))
    expected = k * mean_cov / (np.trace(cov) / k + (k - 1) * mean_cov)
    assert st.cronbach_alpha(x) == pytest.approx(expected)
    assert math.isnan(st.cronbach_alpha(pd.DataFrame({"a": [1, 1], "b": [1, 1]})))


# --- peer review -----------------------------------------------------------------------------------

def test_icc_matches_shrout_and_fleiss():
    # Shrout and Fleiss (1979), Table 2: six targets rated by four judges; ICC(1,1) = 0.17,
    # ICC(1,4) = 0.44.
    ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    frame = pd.DataFrame([{"submission_id": s, "total": v} for s, row in enumerate(ratings) for v in row])
    result = st.review_reliability(frame)
    assert result["icc"] == pytest.approx(0.1657, abs=5e-4)
    assert result["icc_k"] == pytest.approx(0.4428, abs=5e-4)
    assert result["k0"] == pytest.approx(4)
    assert result["low"] < result["icc"] < result["high"]


def test_icc_of_agreeing_and_of_random_reviewers():
    rng = np.random.default_rng(0)
    quality = rng.normal(6, 2, 200)
    same = pd.DataFrame([{"submission_id": s, "total": q} for s, q in enumerate(quality) for _ in range(3)])
    assert st.review_reliability(same)["icc"] == pytest.approx(1.0)
    noise = same.assign(total=rng.normal(6, 2, len(same)))
    result = st.review_reliability(noise)
    assert result["low"] < 0 < result["high"]
    lone = pd.concat([noise, pd.DataFrame([{"submission_id": 999, "total": 5.0}])])
    assert st.review_reliability(lone)["submissions"] == 200  # one review says nothing of agreement


# --- suppression ------------------------------------------------------------------------------------

def _people(sizes: dict[str, int], done: dict[str, int]) -> pd.DataFrame:
    rows = []
    for gender, n in sizes.items():
        rows += [{"gender": gender, "done": i < done[gender], "score": 50.0 + i} for i in range(n)]
    return pd.DataFrame(rows)


def test_a_group_of_four_is_suppressed_and_the_next_smallest_with_it():
    frame = _people({"female": 40, "male": 30, "non_binary": 4, "undisclosed": 7},
                    {"female": 30, "male": 20, "non_binary": 2, "undisclosed": 6})
    table = st.breakdown(frame, "gender", counts={"completed": "done"}, means={"score": "score"})
    rows = table.set_index("gender")
    assert list(rows.loc["non_binary"]) == [st.SMALL, st.SMALL, st.HIDDEN, st.SMALL, st.HIDDEN]
    # the next smallest (seven people) is hidden too, so All - the rest does not give four
    assert list(rows.loc["undisclosed"]) == [st.HIDDEN, st.HIDDEN, st.HIDDEN, st.HIDDEN, st.HIDDEN]
    assert rows.loc["female", "people"] == 40 and rows.loc["female", "completed"] == 30
    assert rows.loc["male", "completed_share"] == pytest.approx(20 / 30)
    assert rows.loc[st.TOTAL, "people"] == 81 and rows.loc[st.TOTAL, "completed"] == 58
    assert rows.loc["female", "score_mean"] == pytest.approx(np.mean(50.0 + np.arange(40)))
    assert not any(isinstance(v, (int, float)) for v in rows.loc["non_binary"])


def test_a_small_count_in_a_large_group_is_suppressed_with_a_partner():
    frame = _people({"female": 40, "male": 30, "undisclosed": 12},
                    {"female": 30, "male": 3, "undisclosed": 9})
    rows = st.breakdown(frame, "gender", counts={"completed": "done"}).set_index("gender")
    assert rows.loc["male", "people"] == 30  # the group is large: shown
    assert rows.loc["male", "completed"] == st.SMALL and rows.loc["male", "completed_share"] == st.HIDDEN
    assert rows.loc["undisclosed", "completed"] == st.HIDDEN  # 9, the next smallest
    assert rows.loc["female", "completed"] == 30 and rows.loc[st.TOTAL, "completed"] == 42


def test_two_small_groups_need_no_partner_and_a_tiny_cohort_shows_nothing():
    frame = _people({"female": 40, "male": 30, "non_binary": 3, "undisclosed": 4},
                    {"female": 1, "male": 30, "non_binary": 0, "undisclosed": 1})
    rows = st.breakdown(frame, "gender", counts={"completed": "done"}).set_index("gender")
    assert rows.loc["male", "people"] == 30 and rows.loc["female", "people"] == 40
    assert rows.loc["non_binary", "people"] == st.SMALL and rows.loc["undisclosed", "people"] == st.SMALL
    # female's one completion is small, like the two small groups' counts; together the three
    # hidden cells would be the 2 that All - 30 leaves: male's thirty are hidden too
    assert rows.loc["female", "completed"] == st.SMALL and rows.loc["male", "completed"] == st.HIDDEN
    assert rows.loc["male", "completed_share"] == st.HIDDEN and rows.loc[st.TOTAL, "completed"] == 32
    tiny = st.breakdown(_people({"female": 2, "male": 2}, {"female": 1, "male": 2}), "gender",
                        counts={"completed": "done"})
    assert all(st.is_hidden(v) for v in tiny[["people", "completed", "completed_share"]].to_numpy().ravel())


def test_hidden_cells_never_add_up_to_one_to_four():
    """36 people in one group and one in each of two others: the two small rows together are
    All - 36 = 2 people, whose completions and mean gain would follow; so the large row is
    hidden too, and with it every mean that rests on a hidden count (an audit recovered one
    person's gain this way)."""
    frame = _people({"female": 36, "male": 1, "non_binary": 1}, {"female": 19, "male": 1, "non_binary": 1})
    rows = st.breakdown(frame, "gender", counts={"completed": "done"}, means={"score": "score"})
    body = rows[rows["gender"] != st.TOTAL]
    assert all(st.is_hidden(v) for v in body.drop(columns="gender").to_numpy().ravel())
    assert list(rows.iloc[-1][["people", "completed"]]) == [38, 21]


def test_those_not_counted_are_a_cell_too():
    """Active 22 of 23 says one person was not: the count is hidden, with a partner in its
    column; the total's complement too (the audit found 1 inactive person by difference)."""
    frame = _people({"female": 40, "male": 23, "undisclosed": 12},
                    {"female": 30, "male": 22, "undisclosed": 6})
    rows = st.breakdown(frame, "gender", counts={"completed": "done"}).set_index("gender")
    assert rows.loc["male", "people"] == 23 and rows.loc["male", "completed"] == st.HIDDEN
    assert rows.loc["male", "completed_share"] == st.HIDDEN
    assert rows.loc["undisclosed", "completed"] == st.HIDDEN  # the partner: All - the rest
    assert rows.loc["female", "completed"] == 30
    almost = st.breakdown(_people({"female": 40, "male": 30}, {"female": 39, "male": 29}), "gender",
                          counts={"completed": "done"}).set_index("gender")
    assert all(st.is_hidden(v) for v in almost["completed"])  # 70 - 68 and each row's 1


def test_a_row_of_five_to_nine_marks_every_hidden_count_alike():
    """Six enrolled, five active: 'x' (five or more) of six would say one was not active; in
    such a row a small count is marked 'x' too, so the mark says nothing of the number."""
    assert list(st.funnel(range(6), range(5), range(2))["people"]) == [6, st.HIDDEN, st.HIDDEN]
    assert list(st.funnel(range(12), range(7), range(2))["people"]) == [12, 7, st.SMALL]


def test_rows_named_to_hide_are_hidden_with_a_partner():
    table = pd.DataFrame({"g": ["a", "b", "c", st.TOTAL], "people": [20, 9, 30, 59]})
    shown = st.suppress_counts(table, "people", hide=[1])
    assert shown.at[1, "people"] == st.HIDDEN and shown.at[0, "people"] == st.HIDDEN  # the next smallest
    assert shown.at[2, "people"] == 30 and shown.at[3, "people"] == 59


def test_the_funnel_and_option_counts_are_suppressed():
    table = st.funnel(range(100), range(97), range(3))
    assert list(table["people"]) == [100, st.HIDDEN, st.SMALL]  # 97 active would say 3 were not
    assert list(st.funnel(range(100), range(90), range(30))["people"]) == [100, 90, 30]
    assert st.funnel(range(4), range(4), None)["people"].tolist()[:2] == [st.SMALL, st.SMALL]
    one = st.choice_summary(pd.Series(["a"] * 10 + ["b"] * 3 + ["c"] * 7), ["a", "b", "c"])
    assert list(one["people"]) == [10, st.SMALL, st.HIDDEN, 20]
    several = st.choice_summary(pd.Series([["a", "b"]] * 10 + [["b"]] * 3 + [["c"]] * 2),
                                ["a", "b", "c"], multi=True)
    assert list(several["people"]) == [10, st.HIDDEN, st.SMALL, 15]  # 13 of 15 would say 2 did not choose b
    likert = st.likert_summary(pd.DataFrame({"q": [5] * 18 + [3] + [4] * 7}),
                               [("q", "Q", ["1", "2", "3", "4", "5"])])
    # one small point (3) in a row that adds up to n: with n and the mean shown, the other
    # points would give it, so the row shows none of its points
    assert [likert.at[0, p] for p in "12345"] == [st.SMALL, st.SMALL, st.SMALL, st.HIDDEN, st.HIDDEN]
    assert likert.at[0, "top_two"] == st.HIDDEN and likert.at[0, "top_two_share"] == st.HIDDEN
    assert likert.at[0, "n"] == 26 and likert.at[0, "mean"] == pytest.approx((5 * 18 + 3 + 28) / 26)
    plenty = st.likert_summary(pd.DataFrame({"q": [5] * 18 + [3] * 6 + [4] * 7}), [("q", "Q", list("12345"))])
    assert [plenty.at[0, p] for p in "12345"] == [0, 0, 6, 7, 18] and plenty.at[0, "top_two"] == 25


def test_a_mean_near_an_end_of_the_scale_is_hidden():
    """26 answers averaging 4.96 of 5 say that one person answered 4."""
    almost = st.likert_summary(pd.DataFrame({"q": [5] * 25 + [4]}), [("q", "Q", list("12345"))])
    assert almost.at[0, "mean"] == st.HIDDEN
    spread = st.likert_summary(pd.DataFrame({"q": [5] * 15 + [4] * 6 + [3] * 5}), [("q", "Q", list("12345"))])
    assert spread.at[0, "mean"] == pytest.approx((75 + 24 + 15) / 26)


def test_loads_and_histograms_of_fewer_than_five_are_hidden():
    assert st.quantiles([3, 5, 8, 9])["max"] == st.HIDDEN
    seven = st.number_summary(pd.Series([1, 2, 2, 3, 5, 8, 13]))  # its median is one person's answer
    assert seven["n"] == 7 and seven["total"] == 34 and seven["median"] == st.HIDDEN
    assert st.number_summary(pd.Series(range(10)))["median"] == 4.5
    few = st.number_summary(pd.Series([0] * 11 + [1]))  # one of twelve gave one training
    assert few["n"] == 12 and few["total"] == few["mean"] == st.HIDDEN
    five = st.quantiles([3, 5, 8, 9, 30])  # its quartiles would be the loads themselves
    assert five["n"] == 5 and five["mean"] == 11 and five["max"] == five["median"] == st.HIDDEN
    assert st.quantiles(list(range(1, 11)))["max"] == 10
    hist = st.histogram([1, 2, 6, 7, 8, 9, 11, 12, 13, 14, 15], [0, 5, 10, 16], unit="tutors")
    assert list(hist["tutors"]) == [st.SMALL, st.SMALL, 5, 11]
