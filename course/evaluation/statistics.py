"""The cohort report's statistics: pure functions on pandas and numpy (no I/O).

Counts of people are protected before they are shown (DESIGN.md, Privacy): a count of 1 to 4
people is shown as SMALL ("<5"), and any count whose complement is 1 to 4 is hidden too (97
of 100 active would say that 3 were not). When that leaves a small count computable from what
is shown (a total minus the other cells of its column, or of its row when the row's counts
add up to its people) another cell is hidden too (secondary suppression). A hidden count of 5
or more is shown as HIDDEN ("x"), and so is every hidden count in a row of 5 to 9 people
(where "five or more" would say how many were left out); rates and means that rest on a
hidden count are HIDDEN too. Zero is shown: it names nobody.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

MIN_CELL = 5
SMALL = "<5"  # a count of fewer than five people (0 to 4)
HIDDEN = "x"  # hidden so that a small count cannot be worked out from the others (5 or more)
TOTAL = "All"

# Items to rewrite: at or below chance + this, above EASY, or discriminating below WEAK.
ABOVE_CHANCE = 0.1
EASY = 0.95
WEAK = 0.15


def is_hidden(value) -> bool:
    return isinstance(value, str) and value in (SMALL, HIDDEN)


def is_missing(value) -> bool:
    """None, NaN or pandas' NA: no value at all (unlike a hidden one)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _small(value) -> bool:
    return 0 < value < MIN_CELL


def small_remainder(total, part) -> bool:
    """Whether showing `part` of `total` people would show that 1 to 4 were left out."""
    return _small(total - part)


def few_right_or_wrong(right, n) -> bool:
    """Whether 1 to 4 of `n` answered an item right, or wrong (its facility would say so)."""
    return _small(right) or _small(n - right)


def _marker(value) -> str:
    return SMALL if value < MIN_CELL else HIDDEN


# --- suppression -------------------------------------------------------------------------------

def _exposed(values: np.ndarray, cells: list[int], bases: np.ndarray | None) -> bool:
    """Whether hidden `cells` whose total is known could be worked out: one alone, or together
    1 to 4 people (or, with `bases`, leaving 1 to 4 of their rows' people out)."""
    return len(cells) == 1 or _small(sum(values[i] for i in cells)) or (
        bases is not None and _small(sum(bases[i] - values[i] for i in cells)))


def _hide_partners(values: np.ndarray, hidden: np.ndarray, index: Sequence[int], total_known: bool,
                   bases: np.ndarray | None = None) -> bool:
    """Secondary suppression in one set of cells that add up to a total: hide the smallest
    shown cell while the hidden ones could be worked out from the total, alone (one hidden)
    or together (they add up to 1 to 4 people, or, with `bases`, leave 1 to 4 of their rows'
    people out). `total_known`: the total is shown (else a total hidden with every cell shown
    is their sum). True when a cell was hidden."""
    index, changed = list(index), False
    while True:
        cells = [i for i in index if hidden[i]]
        shown = [i for i in index if not hidden[i]]
        if not shown:
            return changed
        exposed = _exposed(values, cells, bases) if total_known else not cells
        if not exposed or (not cells and total_known):
            return changed
        hidden[min(shown, key=lambda i: (values[i], i))] = True
        changed = True


def suppress_counts(table: pd.DataFrame, base: str, counts: Sequence[str] = (),
                    rates: dict[str, str] | None = None, means: dict[str, str] | None = None,
                    exclusive: bool = False, total_row: bool = True, hide: Iterable[int] = ()) -> pd.DataFrame:
    """The table with its small counts of people hidden (see the module's docstring).

    `base` is each row's number of people; `counts` are columns counting some of them (people
    who completed, chose an option, ...); `exclusive`: the counts of a row add up to its base
    (the options of a single-choice question), so a row with one hidden count hides another.
    `total_row`: the last row is the total of the others (a breakdown), so the rows of each
    column add up to it; else the rows are independent (one question a row).
    `rates` maps a derived column to the count it rests on (the base when it names the base);
    `means` maps a mean column to the count of people behind it. `hide`: rows (positions)
    whose people are hidden whatever their number (they would give away others). The result has the same
    columns, with SMALL or HIDDEN in place of hidden numbers (object columns).
    """
    rates, means = rates or {}, means or {}
    counts = [c for c in counts if c != base]
    columns = [base, *counts, *means.values()]
    columns = list(dict.fromkeys(columns))
    values = {c: table[c].fillna(0).to_numpy(dtype=float) for c in columns}
    hidden = {c: np.array([_small(v) for v in values[c]], dtype=bool) for c in columns}
    n_rows = len(table)
    for i in hide:
        hidden[base][i] = True

    def hide_rows():  # a row whose people are hidden hides everything in it
        for i in range(n_rows):
            if hidden[base][i]:
                for c in columns:
                    hidden[c][i] = True

    if total_row and n_rows and values[base][-1] < MIN_CELL:  # the whole table is too small
        for c in columns:
            hidden[c][:] = True
    changed = True
    while changed:
        changed = False
        hide_rows()
        if not exclusive:  # the people of a row who are not counted are a cell of people too
            for c in counts:
                for i in range(n_rows):
                    if not hidden[c][i] and small_remainder(values[base][i], values[c][i]):
                        hidden[c][i] = changed = True
        if exclusive:  # the counts of a row add up to its people
            for i in range(n_rows):
                row_values = np.array([values[c][i] for c in counts])
                row_hidden = np.array([hidden[c][i] for c in counts])
                if row_hidden.any() and _hide_partners(row_values, row_hidden, range(len(counts)),
                                                       total_known=not hidden[base][i]):
                    for c, h in zip(counts, row_hidden):
                        hidden[c][i] = h
                    changed = True
        if total_row:  # the rows of each column add up to its last row
            body = range(n_rows - 1)
            for c in columns:
                bases = None
                if c != base and not any(hidden[base][i] for i in body if hidden[c][i]):
                    bases = values[base]
                if _hide_partners(values[c], hidden[c], body, total_known=not hidden[c][-1], bases=bases):
                    changed = True
                cells = [i for i in body if hidden[c][i]]
                if (cells and len(cells) == len(body) and not hidden[c][-1]  # nothing left to partner
                        and _exposed(values[c], cells, bases)):
                    hidden[c][-1] = changed = True
    out = table.copy().astype(object)
    for c in columns:
        for i in range(n_rows):
            if hidden[c][i]:
                # in a row of 5 to 9 people shown, "five or more" would leave 1 to 4 out: every
                # hidden count there is marked alike
                alike = c != base and not hidden[base][i] and values[base][i] < 2 * MIN_CELL
                out.iat[i, out.columns.get_loc(c)] = HIDDEN if alike else _marker(values[c][i])
    for derived, source in rates.items():
        for i in range(n_rows):
            if hidden[source][i]:
                out.iat[i, out.columns.get_loc(derived)] = HIDDEN
    for derived, source in means.items():  # a mean of five or more values names nobody
        for i in range(n_rows):  # (and its count, hidden, would follow from it and the others')
            if hidden[base][i] or hidden[source][i] or values[source][i] < MIN_CELL:
                out.iat[i, out.columns.get_loc(derived)] = HIDDEN
    return out


def breakdown(frame: pd.DataFrame, by: str, counts: dict[str, str] | None = None,
              means: dict[str, str] | None = None, order: Iterable | None = None,
              base: str = "people", missing: str = "not given", hide: Iterable = ()) -> pd.DataFrame:
    """Counts, shares and means of `frame`'s rows (people) by the values of column `by`, with a
    last row TOTAL; suppressed.

    `counts` maps an output name to a boolean column (people who ...): the table has the count
    and `<name>_share` (of the row's people). `means` maps an output name to a numeric column
    (NaN = no value): the table has `<name>_n` (people with a value) and `<name>_mean`.
    `order` lists the categories first (others follow by size); empty values are `missing`.
    `hide`: categories whose row is hidden whatever its size (see suppress_counts).
    """
    counts, means = counts or {}, means or {}
    labels = frame[by].fillna("").astype(str).replace("", missing)
    found = labels.value_counts()
    first = [x for x in (order or []) if x in found.index]
    rest = [x for x in found.index if x not in first]
    categories = first + sorted(rest, key=lambda x: (-found[x], x))
    rows = []
    for category in [*categories, None]:
        part = frame if category is None else frame[labels == category]
        row = {by: TOTAL if category is None else category, base: len(part)}
        for name, column in counts.items():
            k = int(part[column].fillna(False).astype(bool).sum())
            row[name] = k
            row[f"{name}_share"] = k / len(part) if len(part) else math.nan
        for name, column in means.items():
            x = pd.to_numeric(part[column], errors="coerce").dropna()
            row[f"{name}_n"] = len(x)
            row[f"{name}_mean"] = float(x.mean()) if len(x) else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    return suppress_counts(
        table, base, list(counts) + [f"{m}_n" for m in means],
        rates={f"{c}_share": c for c in counts}, means={f"{m}_mean": f"{m}_n" for m in means},
        hide=[i for i, category in enumerate(table[by]) if category in set(hide)])


def histogram(values: Sequence[float], edges: Sequence[float], labels: Sequence[str] | None = None,
              unit: str = "people") -> pd.DataFrame:
    """How many values fall in each bin [edges[i], edges[i+1]) (the last bin closed), with a
    TOTAL row; counts of fewer than five suppressed."""
    values = np.asarray(list(values), dtype=float)
    counts, _ = np.histogram(values, bins=np.asarray(edges, dtype=float))
    labels = list(labels) if labels is not None else [
        f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(len(edges) - 1)]
    table = pd.DataFrame({"bin": [*labels, TOTAL], unit: [*counts.tolist(), int(counts.sum())]})
    return suppress_counts(table, unit)


# --- the funnel ----------------------------------------------------------------------------------

def funnel(enrolled: Iterable[str], active: Iterable[str], completed: Iterable[str] | None) -> pd.DataFrame:
    """Stage (enrolled, active, completed), people, share of enrolled; suppressed.

    `completed` None: not known (no grades); its row says so with NaN.
    """
    enrolled = set(enrolled)
    stages = [("enrolled", len(enrolled)), ("active", len(set(active) & enrolled))]
    if completed is not None:
        stages.append(("completed", len(set(completed) & enrolled)))
    table = pd.DataFrame({"stage": [s for s, _ in stages], "people": [n for _, n in stages]})
    n = len(enrolled)
    table["share"] = table["people"] / n if n else math.nan
    # Each stage is a count of the enrolled: checked against the rest of them.
    wide = pd.DataFrame([{"people": n, **{s: k for s, k in stages[1:]},
                          **{f"{s}_share": k / n if n else math.nan for s, k in stages[1:]}}])
    shown = suppress_counts(wide, "people", [s for s, _ in stages[1:]],
                            rates={f"{s}_share": s for s, _ in stages[1:]}, total_row=False)
    out = table.astype(object)
    out.loc[0, "people"] = shown.at[0, "people"]
    if is_hidden(shown.at[0, "people"]):
        out.loc[0, "share"] = HIDDEN
    for i, (stage, _) in enumerate(stages[1:], start=1):
        out.loc[i, "people"] = shown.at[0, stage]
        out.loc[i, "share"] = shown.at[0, f"{stage}_share"]
    if completed is None:
        out.loc[len(out)] = ["completed", math.nan, math.nan]
    return out


# --- knowledge gain -------------------------------------------------------------------------------

def mean_interval(x: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean with its Student-t interval; NaN bounds below two values."""
    x = np.asarray(list(x), dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def paired_gain(pre: pd.Series, post: pd.Series, level: float = 0.95) -> dict:
    """The gain post - pre of the people with both (aligned on the index): n, the means, the
    mean gain with its t interval, and the paired t-test's p."""
    both = pd.concat([pre.rename("pre"), post.rename("post")], axis=1).dropna()
    diff = (both["post"] - both["pre"]).to_numpy(dtype=float)
    gain, low, high = mean_interval(diff, level)
    p = math.nan
    if len(diff) >= 2 and diff.std(ddof=1) > 0:
        p = float(stats.ttest_rel(both["post"], both["pre"]).pvalue)
    return {"n": len(both), "pre_mean": float(both["pre"].mean()) if len(both) else math.nan,
            "post_mean": float(both["post"].mean()) if len(both) else math.nan,
            "gain": gain, "low": low, "high": high, "p": p}


def normalised_gain(pre: pd.Series, post: pd.Series, seed: int = 0, resamples: int = 2000,
                    level: float = 0.95) -> dict:
    """Hake's normalised gain on shares correct (0..1) of the people with both scores.

    class_g = (mean post - mean pre) / (1 - mean pre), with a percentile bootstrap interval
    (`resamples` draws of people, seeded); mean_g = the mean of each person's
    (post - pre) / (1 - pre), people with pre = 1 left out, with a t interval.
    """
    both = pd.concat([pre.rename("pre"), post.rename("post")], axis=1).dropna()
    x, y = both["pre"].to_numpy(dtype=float), both["post"].to_numpy(dtype=float)
    out = {"n": len(x), "class_g": math.nan, "class_low": math.nan, "class_high": math.nan,
           "n_individual": 0, "mean_g": math.nan, "mean_low": math.nan, "mean_high": math.nan}
    if len(x) == 0:
        return out

    def hake(pre_mean, post_mean):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pre_mean < 1, (post_mean - pre_mean) / (1 - pre_mean), np.nan)

    out["class_g"] = float(hake(x.mean(), y.mean()))
    if len(x) >= 2:
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, len(x), size=(resamples, len(x)))
        boot = hake(x[draws].mean(axis=1), y[draws].mean(axis=1))
        boot = boot[~np.isnan(boot)]
        if len(boot):
            out["class_low"], out["class_high"] = (float(v) for v in np.percentile(
                boot, [50 - level * 50, 50 + level * 50]))
    keep = x < 1
    individual = (y[keep] - x[keep]) / (1 - x[keep])
    out["n_individual"] = int(keep.sum())
    out["mean_g"], out["mean_low"], out["mean_high"] = mean_interval(individual, level)
    return out


# --- item analysis --------------------------------------------------------------------------------

def cronbach_alpha(scores: pd.DataFrame) -> float:
    """Cronbach's alpha of item scores (rows people, columns items); NaN below two items or
    when the totals do not vary."""
    data = scores.dropna().to_numpy(dtype=float)
    k = data.shape[1] if data.ndim == 2 else 0
    if k < 2 or len(data) < 2:
        return math.nan
    total_var = data.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return math.nan
    return float(k / (k - 1) * (1 - data.var(axis=0, ddof=1).sum() / total_var))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def item_analysis(scores: pd.DataFrame, options: dict[str, int]) -> tuple[pd.DataFrame, float]:
    """Facility, discrimination and alpha if deleted of each item; the test's alpha.

    `scores`: rows people, columns item ids, values 0/1 (people with a missing item left out).
    `options`: item id -> number of options (chance = 1 / options). Facility is the share
    right; discrimination the corrected item-total correlation (point-biserial of the item
    with the total of the other items). An item is to be rewritten when its facility is at
    or below chance + 0.1, above 0.95, or its discrimination below 0.15; `reason` says which.
    `few`: 1 to 4 people answered it right, or wrong (its facility is not to be shown).
    """
    data = scores.dropna()
    matrix = data.to_numpy(dtype=float)
    total = matrix.sum(axis=1) if matrix.size else np.zeros(0)
    rows = []
    for j, item in enumerate(data.columns):
        x = matrix[:, j] if matrix.size else np.zeros(0)
        facility = float(x.mean()) if len(x) else math.nan
        discrimination = _correlation(x, total - x)
        rest = data.drop(columns=item)
        chance = 1 / options[item] if options.get(item) else math.nan
        reasons = []
        right = int(x.sum())
        few = few_right_or_wrong(right, len(x))
        if few:  # said without the facility, and whatever the thresholds (which would narrow it)
            reasons.append("fewer than five answered it right" if _small(right) else
                           "all but fewer than five answered it right: almost everyone gets it right")
        elif not math.isnan(facility):
            if facility <= chance + ABOVE_CHANCE + 1e-12:
                reasons.append(f"facility {facility:.2f} is at or below chance ({chance:.2f}) + "
                               f"{ABOVE_CHANCE:g}: answered as if by guessing")
            elif facility > EASY:
                reasons.append(f"facility {facility:.2f} is above {EASY:g}: almost everyone "
                               "gets it right")
        if not math.isnan(facility):
            if math.isnan(discrimination):
                if not reasons:
                    reasons.append("discrimination cannot be computed (no variation)")
            elif discrimination < WEAK:
                reasons.append(f"discrimination {discrimination:.2f} is below {WEAK:g}: "
                               + ("people who do well on the rest of the test get it wrong more often"
                                  if discrimination < 0 else "it hardly separates those who know "
                                  "from those who do not"))
        rows.append({"item": item, "n": len(x), "options": options.get(item), "chance": chance,
                     "facility": facility, "few": few, "discrimination": discrimination,
                     "alpha_if_deleted": cronbach_alpha(rest) if rest.shape[1] >= 2 else math.nan,
                     "rewrite": bool(reasons), "reason": "; ".join(reasons)})
    table = pd.DataFrame(rows, columns=["item", "n", "options", "chance", "facility", "few",
                                        "discrimination", "alpha_if_deleted", "rewrite", "reason"])
    return table, cronbach_alpha(data)


# --- peer review --------------------------------------------------------------------------------------

def review_reliability(reviews: pd.DataFrame, level: float = 0.95) -> dict:
    """How far reviewers of the same submission agree: ICC(1) of review totals.

    `reviews`: columns submission_id, total (submitted reviews). Submissions with fewer than
    two reviews are left out. One-way random effects (Shrout and Fleiss ICC(1,1)), with k0 for
    unequal numbers of reviews, its F-based interval, and ICC(1,k0) for the mean of k0 reviews
    (Spearman-Brown); also the mean correlation of pairs of reviews of one submission.
    """
    data = reviews.dropna(subset=["total"])
    sizes = data.groupby("submission_id")["total"].transform("size")
    data = data[sizes >= 2]
    out = {"submissions": int(data["submission_id"].nunique()), "reviews": len(data),
           "icc": math.nan, "low": math.nan, "high": math.nan, "icc_k": math.nan,
           "k0": math.nan, "pair_correlation": math.nan}
    g, n = out["submissions"], out["reviews"]
    if g < 3:
        return out
    groups = data.groupby("submission_id")["total"]
    means, counts = groups.mean(), groups.size()
    grand = data["total"].mean()
    ssb = float((counts * (means - grand) ** 2).sum())
    ssw = float(((data["total"] - groups.transform("mean")) ** 2).sum())
    msb, msw = ssb / (g - 1), ssw / (n - g)
    k0 = (n - float((counts ** 2).sum()) / n) / (g - 1)
    out["k0"] = k0
    if msw == 0:
        out["icc"] = out["icc_k"] = 1.0 if msb > 0 else math.nan
    else:
        f = msb / msw
        out["icc"] = (msb - msw) / (msb + (k0 - 1) * msw)
        out["icc_k"] = (msb - msw) / msb if msb > 0 else math.nan
        a = 1 - level
        f_low = f / stats.f.ppf(1 - a / 2, g - 1, n - g)
        f_high = f * stats.f.ppf(1 - a / 2, n - g, g - 1)
        out["low"] = (f_low - 1) / (f_low + k0 - 1)
        out["high"] = (f_high - 1) / (f_high + k0 - 1)
    # Every ordered pair of two reviews of one submission, both ways (so order does not matter).
    pairs = data[["submission_id", "total"]].reset_index(drop=True)
    pairs["i"] = range(len(pairs))
    joined = pairs.merge(pairs, on="submission_id")
    joined = joined[joined["i_x"] != joined["i_y"]]
    out["pair_correlation"] = _correlation(joined["total_x"].to_numpy(float),
                                           joined["total_y"].to_numpy(float))
    return out


# --- survey answers -------------------------------------------------------------------------------

def option_counts(values: pd.Series, options: Sequence, multi: bool = False) -> list[int]:
    """How many answers chose each option (a multi answer is a list and counts for each)."""
    counts = dict.fromkeys(range(len(options)), 0)
    where = {option: i for i, option in enumerate(options)}
    for value in values.dropna():
        for chosen in (value if multi and isinstance(value, list) else [value]):
            if chosen in where:
                counts[where[chosen]] += 1
    return list(counts.values())


def likert_summary(answers: pd.DataFrame, questions: Sequence[tuple[str, str, Sequence[str]]]) -> pd.DataFrame:
    """One row per scale question: question id, text, n, the count of each scale point
    (columns "1".."k"), the mean and the share in the top two points; suppressed per row.

    `answers`: rows people, columns question ids, values 1..k (NaN unanswered);
    `questions`: (id, text, scale labels). Questions with different scales get the widest
    scale's columns (NaN where a scale has no such point).
    """
    width = max((len(labels) for _, _, labels in questions), default=0)
    points = [str(i) for i in range(1, width + 1)]
    rows = []
    for qid, text, labels in questions:
        x = pd.to_numeric(answers[qid], errors="coerce").dropna() if qid in answers else pd.Series(dtype=float)
        row = {"question": qid, "text": text, "n": len(x)}
        for i in range(1, width + 1):
            row[str(i)] = int((x == i).sum()) if i <= len(labels) else 0
        row["mean"] = float(x.mean()) if len(x) else math.nan
        top = int((x >= len(labels) - 1).sum())
        row["top_two"] = top
        row["top_two_share"] = top / len(x) if len(x) else math.nan
        rows.append(row)
    table = pd.DataFrame(rows, columns=["question", "text", "n", *points, "mean", "top_two", "top_two_share"])
    shown = suppress_counts(table, "n", points, means={"mean": "n"}, exclusive=True, total_row=False)
    # The mean and n with the shown points would give the hidden ones (two unknowns, two
    # sums): a row with a hidden point hides all its points and the top two; n and the mean stay.
    for i, (_, _, labels) in enumerate(questions):
        if any(is_hidden(shown.at[i, p]) for p in points) or is_hidden(shown.at[i, "n"]):
            for column in [*points, "top_two"]:
                shown.at[i, column] = _marker(table.at[i, column])
            shown.at[i, "top_two_share"] = HIDDEN
        # A mean 1 to 4 points in all from the top or the bottom of the scale says who is
        # there (26 answers averaging 4.96 of 5: one person answered 4).
        n, mean = table.at[i, "n"], table.at[i, "mean"]
        if n and (_small(round(n * (len(labels) - mean))) or _small(round(n * (mean - 1)))):
            shown.at[i, "mean"] = HIDDEN
    return shown


def choice_summary(values: pd.Series, options: Sequence[str], multi: bool = False) -> pd.DataFrame:
    """Option, people who chose it, their share of those who answered; a last row TOTAL (those
    who answered); suppressed (options of a single choice add up to the total)."""
    answered = values.dropna()
    if multi:
        answered = answered[answered.map(lambda v: isinstance(v, list) and len(v) > 0)]
    counts = option_counts(answered, options, multi)
    n = len(answered)
    table = pd.DataFrame({"option": [*options, TOTAL], "people": [*counts, n]})
    table["share"] = table["people"] / n if n else math.nan
    if multi:  # each option against those who did not choose it
        wide = pd.DataFrame([{"n": n, **{f"o{i}": c for i, c in enumerate(counts)}}])
        shown = suppress_counts(wide, "n", [f"o{i}" for i in range(len(options))], total_row=False)
        cells = [shown.at[0, f"o{i}"] for i in range(len(options))] + [shown.at[0, "n"]]
    else:
        cells = list(suppress_counts(table[["people"]], "people")["people"])
    out = table.astype(object)
    out["people"] = cells
    out["share"] = [HIDDEN if is_hidden(c) else s for c, s in zip(cells, table["share"])]
    return out


def hidden_number_stats(n: int, total: float) -> list[str]:
    """Which of total, mean and median of `n` whole-number answers (0 or more) to hide: all when
    the total is 1 to 4 (it says how few answered more than 0), the median below ten answers
    (of five to nine, it is one person's answer)."""
    if _small(total):
        return ["total", "mean", "median"]
    return ["median"] if n < 2 * MIN_CELL else []


def number_summary(values: pd.Series) -> dict:
    """n, total, mean, median of whole-number answers (None and text left out); NaN (and
    n hidden) when fewer than five answered; the median hidden below ten."""
    x = pd.to_numeric(values, errors="coerce").dropna()
    if len(x) < MIN_CELL:
        return {"n": SMALL if len(x) else 0, "total": HIDDEN if len(x) else 0,
                "mean": HIDDEN if len(x) else math.nan, "median": HIDDEN if len(x) else math.nan}
    out = {"n": len(x), "total": float(x.sum()), "mean": float(x.mean()), "median": float(x.median())}
    return out | dict.fromkeys(hidden_number_stats(len(x), out["total"]), HIDDEN)


def share_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """(share, low, high): k of n with its Wilson score interval."""
    if n == 0:
        return math.nan, math.nan, math.nan
    z = float(stats.norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def quantiles(values: Sequence[float]) -> dict:
    """Minimum, quartiles and maximum of a load (e.g. participants per tutor); hidden below
    five values (each would be one person's), and all but the mean below ten (the quartiles of
    five to nine values are some of those values, and with the mean give the rest)."""
    x = np.asarray(list(values), dtype=float)
    if len(x) < MIN_CELL:
        return {"n": SMALL if len(x) else 0, **{k: HIDDEN for k in ("min", "q1", "median", "q3", "max", "mean")}}
    if len(x) < 2 * MIN_CELL:
        return {"n": len(x), **{k: HIDDEN for k in ("min", "q1", "median", "q3", "max")}, "mean": float(x.mean())}
    q = np.percentile(x, [0, 25, 50, 75, 100])
    return {"n": len(x), "min": float(q[0]), "q1": float(q[1]), "median": float(q[2]),
            "q3": float(q[3]), "max": float(q[4]), "mean": float(x.mean())}
