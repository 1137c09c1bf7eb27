"""The cohort report: the stores' tables -> sections of tables and plots -> HTML (and its PDF).

`build_report` takes cohorts already read (course.cohort.report_data) and returns a Report:
sections, each with notes, tables and figures (PNG bytes, alt text, the data behind them).
Every count of people passes through course.evaluation.statistics' suppression before it
is shown, in a table, a plot, its alt text or its CSV. `render_html` writes the page;
`course.printing.print_pdf` prints it with Chromium, offline. Writing the files is the command's job.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from course.cohort.report_data import CohortData
from course.evaluation import statistics as st
from course.evaluation.plots import bar_plot, grouped_plot, items_plot
from course.evaluation.instruments import InstrumentSet, Kind, questions
from course.modules import CatalogueEntry
from course.plans import Plan

TEMPLATES = Path(__file__).with_name("templates")
STAKEHOLDERS = ["government", "technical_community", "academia", "civil_society",
                "private_sector", "intergovernmental"]
REGIONS = ["Africa", "Arab States", "Asia-Pacific", "Latin America and Caribbean", "Europe",
           "North America"]
GENDERS = ["female", "male", "non_binary", "undisclosed"]
GRADES_HINT = "run `igcb evaluation grades` to copy them from nbgrader's gradebook"


def _say(message: str) -> None:  # the default progress: nothing
    pass


# --- what a report is made of ------------------------------------------------------------------

@dataclass
class Cohort:
    """One cohort to report on: its store's data, its plan and the plan's instruments (None
    when they cannot be loaded: `problem` says why)."""

    label: str
    plan: Plan
    data: CohortData
    instruments: InstrumentSet | None = None
    problem: str | None = None


@dataclass
class Table:
    """A table as shown: `frame` holds suppressed values; `columns` maps the columns shown to
    their headers, `formats` says how to write numbers (int, pct, num, num3, pp, text; "row":
    as the row's `kind` column says)."""

    name: str
    title: str
    frame: pd.DataFrame
    columns: dict[str, str]
    formats: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[list[str]]:
        def kind(row, column):
            kind = self.formats.get(column, "text")
            return row["kind"] if kind == "row" else kind

        return [[_cell(row[c], kind(row, c)) for c in self.columns]
                for row in self.frame.to_dict("records")]

    def csv_frame(self) -> pd.DataFrame:
        """The table's columns under their headers, numbers unformatted (shares 0..1)."""
        return _rounded(self.frame[list(self.columns)]).set_axis(list(self.columns.values()), axis=1)


@dataclass
class Figure:
    """A plot: its title, the alt text that says what it shows, its data, and how to draw it
    (`draw()` gives the PNG bytes; `draw_figures` fills `png`)."""

    name: str
    title: str
    alt: str
    data: pd.DataFrame
    draw: Callable[[], bytes]
    png: bytes = b""

    def csv_frame(self) -> pd.DataFrame:
        return _rounded(self.data)


@dataclass
class Section:
    id: str
    title: str
    intro: str = ""
    notes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)  # items to rewrite


@dataclass
class Report:
    title: str
    generated: str
    cohorts: list[dict]
    sections: list[Section]

    @property
    def figures(self) -> list[Figure]:
        return [f for s in self.sections for f in s.figures]

    @property
    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]


# --- formatting --------------------------------------------------------------------------------

def _cell(value, kind: str) -> str:
    if st.is_hidden(value):
        return value
    if st.is_missing(value):
        return "–"
    if kind == "int":
        return f"{int(value):,}"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "pts":
        return f"{value:+.1f}"
    if kind == "num":
        return f"{value:.2f}"
    if kind == "num3":
        return f"{value:.3f}"
    if kind == "bool":
        return "yes" if value else "no"
    return str(value)


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        out[column] = [round(v, 4) if isinstance(v, float) and not math.isnan(v) else v
                       for v in out[column]]
    return out


def label(value) -> str:
    """A category as people read it: civil_society -> civil society."""
    return str(value).replace("_", " ")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "x"


def _tag(suffix: str) -> str:
    """A name's ending for a plan's sections when the report covers several plans."""
    return f"-{_slug(suffix)}" if suffix else ""


def _shown(value, kind: str = "int") -> str:
    """A value in words (notes, alt text): hidden values say so, and a count of people
    (`kind` int) of 1 to 4 is hidden here too."""
    if value == st.SMALL or (kind == "int" and not st.is_hidden(value) and not st.is_missing(value)
                             and 0 < value < st.MIN_CELL):
        return "fewer than five"
    if value == st.HIDDEN:
        return "hidden"
    return _cell(value, kind)


# --- the people of the report --------------------------------------------------------------------

def assessed_assignments(plan: Plan) -> list[str]:
    """The nbgrader assignments the plan sets (its sessions' deadlines), in order: a module
    read without one (a second module of a week, a seminar's) does not count."""
    return list(dict.fromkeys(d.assignment for s in plan.sessions for d in s.deadlines if d.assignment))


def _submitted(data: CohortData) -> pd.DataFrame:
    answers = data["answers"]
    return answers[answers["state"] == "submitted"]


def participants(cohort: Cohort, index: int, catalogue: dict[str, CatalogueEntry]) -> pd.DataFrame:
    """One row per participant of the cohort: who they are (groups only), whether active,
    completed (NaN when no grades were copied), their assignment share and knowledge scores."""
    data = cohort.data
    people = data["people"]
    frame = people[people["role"] == "participant"][
        ["id", "stakeholder_group", "region", "gender"]].copy().reset_index(drop=True)
    frame.insert(0, "key", [f"{index}:{pid}" for pid in frame["id"]])
    frame["cohort"] = cohort.label
    reviews = data["reviews"].merge(data["allocations"], on="review_code")
    active = (set(data["answers"]["person_id"]) | set(data["posts"]["author_id"])
              | set(data["annotation_authors"]["author_id"])
              | set(reviews.loc[reviews["state"] == "submitted", "reviewer_id"])
              | set(data["assignment_scores"]["person_id"]))
    frame["active"] = frame["id"].isin(active)
    assessed = assessed_assignments(cohort.plan)
    scores = data["assignment_scores"]
    scores = scores[scores["assignment"].isin(assessed)]
    per = scores.groupby("person_id").agg(n=("assignment", "nunique"), score=("score", "sum"),
                                          max_score=("max_score", "sum"))
    frame["assignments"] = frame["id"].map(per["n"]).fillna(0).astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["score_pct"] = frame["id"].map(per["score"] / per["max_score"].where(per["max_score"] > 0))
    share = cohort.instruments.completion.assignments if cohort.instruments else 1.0
    if data["assignment_scores"].empty or not assessed:
        frame["completed"] = np.nan
    else:
        frame["completed"] = frame["assignments"] >= share * len(assessed) - 1e-9
    posted = set(data["posts"]["author_id"])
    grouped = set(data["memberships"]["person_id"])
    frame["in_group"] = frame["id"].isin(grouped)
    frame["never_posted"] = frame["in_group"] & ~frame["id"].isin(posted)
    frame["knowledge_pre"] = np.nan
    frame["knowledge_post"] = np.nan
    if cohort.instruments:
        tests = [i for i in cohort.instruments.instruments if i.kind is Kind.knowledge_test]
        if tests:
            answers = _submitted(data)
            answers = answers[answers["instrument"] == tests[0].id]
            for occasion in ("pre", "post"):
                got = answers[answers["occasion"] == occasion].set_index("person_id")["score"]
                frame[f"knowledge_{occasion}"] = frame["id"].map(got).astype(float)
    frame["knowledge_gain"] = 100 * (frame["knowledge_post"] - frame["knowledge_pre"])  # points
    return frame


# --- sections ---------------------------------------------------------------------------------------

LEFT_OUT = "the number would show how many of those enrolled did not (1 to 4): not shown"


def _people(n, enrolled: int):
    """A section's number of people as shown: hidden when it leaves 1 to 4 of those enrolled
    out (10 enrolled, 7 took both tests: 3 did not)."""
    return st.HIDDEN if not st.is_hidden(n) and st.small_remainder(enrolled, n) else n


def _breakdown_table(frame: pd.DataFrame, by: str, title: str, name: str, with_completion: bool,
                     order=None) -> Table:
    counts = {"active": "active"}
    if with_completion:
        counts["completed"] = "completed"
    means = {"score": "score_pct", "gain": "knowledge_gain"}
    shown = frame.assign(**{by: frame[by].map(label)})
    table = st.breakdown(shown, by, counts=counts, means=means,
                         order=[label(x) for x in order] if order else None)
    columns = {by: label(by).capitalize() if by != "cohort" else "Cohort", "people": "People",
               "active": "Active", "active_share": "Active (share)"}
    formats = {"people": "int", "active": "int", "active_share": "pct", "completed": "int",
               "completed_share": "pct", "score_n": "int", "score_mean": "pct", "gain_n": "int",
               "gain_mean": "pts"}
    if with_completion:
        columns |= {"completed": "Completed", "completed_share": "Completed (share)"}
    columns |= {"score_n": "With grades", "score_mean": "Mean assignment score",
                "gain_n": "Took both tests", "gain_mean": "Knowledge gain (points)"}
    return Table(name, title, table, columns, formats)


def _rate_plot(table: Table, by: str, rate: str, title: str, what: str) -> Figure:
    frame = table.frame
    body = frame[frame[by] != st.TOTAL]
    labels = list(body[by])
    count = rate.replace("_share", "")
    values = [r if not st.is_hidden(r) else (n if st.is_hidden(n) else c)
              for r, n, c in zip(body[rate], body["people"], body[count])]
    people = list(body["people"])
    words = [f"{l}: {_shown(v, 'pct') if not st.is_hidden(v) else 'not shown'} (people: {_shown(n)})"
             for l, v, n in zip(labels, values, people)]
    total = frame[frame[by] == st.TOTAL].iloc[0]
    alt = (f"Bar chart of the share of participants who {what}, by {label(by)}. "
           f"All: {_shown(total[rate], 'pct')} of {_shown(total['people'])}. " + "; ".join(words) + ".")
    png = partial(bar_plot, title, labels, values, f"share who {what} (%)", percent=True, limit=(0, 118))
    data = body[[by, "people", rate.replace("_share", ""), rate]].reset_index(drop=True)
    return Figure(f"{_slug(title)}", title, alt, data, png)


def funnel_section(frame: pd.DataFrame, cohorts: list[Cohort], graded: list[str]) -> Section:
    section = Section("funnel", "From enrolled to active to completed",
                      intro="Enrolled: participants in the store. Active: anything done in the "
                            "store (an answer to a test or survey, a post, an annotation, a "
                            "submitted review, an assignment grade). Completed: grades for at "
                            "least the instruments file's share (completion.assignments) of the "
                            "assignments the plan sets (its sessions' deadlines).")
    known = frame[frame["cohort"].isin(graded)]
    completed = set(known.loc[known["completed"].fillna(False).astype(bool), "key"]) if graded else None
    table = st.funnel(frame["key"], frame.loc[frame["active"], "key"], completed)
    if not graded:
        section.missing.append("No grades were copied into the store: completion is not known "
                               f"({GRADES_HINT}).")
    elif len(graded) < len(cohorts):
        missing = [c.label for c in cohorts if c.label not in graded]
        section.missing.append(f"No grades were copied for {', '.join(missing)}: their participants "
                               f"count as not completed here ({GRADES_HINT}).")
    section.tables.append(Table("funnel", "The funnel", table,
                                {"stage": "Stage", "people": "People", "share": "Share of enrolled"},
                                {"people": "int", "share": "pct"}))
    labels = list(table["stage"])
    values = [v if not st.is_missing(v) else np.nan for v in table["people"]]
    words = "; ".join(f"{s}: {_shown(v) if not st.is_missing(v) else 'not known'}" for s, v in zip(labels, values))
    png = partial(bar_plot, "Participants from enrolled to completed", labels, values, "people")
    section.figures.append(Figure("funnel", "Participants from enrolled to completed",
                                  f"Bar chart of the funnel, in people. {words}.", table, png))
    if len(cohorts) > 1:
        table = _breakdown_table(frame, "cohort", "By cohort", "by-cohort", bool(graded),
                                 order=[c.label for c in cohorts])
        if graded:  # a cohort without grades has no completion to show
            ungraded = ~table.frame["cohort"].isin([*graded, st.TOTAL])
            table.frame.loc[ungraded, ["completed", "completed_share"]] = np.nan
            if ungraded.any():  # nor a share of everyone
                table.frame.loc[table.frame["cohort"] == st.TOTAL, "completed_share"] = np.nan
        section.tables.append(table)
    return section


def groups_section(frame: pd.DataFrame, graded: list[str]) -> Section:
    section = Section("groups", "Completion and scores by stakeholder group, region and gender",
                      intro="Counts of people, with shares and means. Mean assignment score: "
                            "points over maximum points of a participant's graded assignments. "
                            "Knowledge gain: points (of 100) between the test before and after.")
    # Everyone is counted, as in the funnel: tables of two different populations would give
    # the people of one by difference.
    use = frame
    if graded and len(graded) < frame["cohort"].nunique():
        missing = [c for c in frame["cohort"].unique() if c not in graded]
        section.notes.append(f"No grades were copied for {', '.join(missing)}: their participants count as not "
                             "completed here, without an assignment score.")
    if not graded:
        section.missing.append(f"No grades were copied: completion and scores are not known ({GRADES_HINT}).")
    dims = [("stakeholder_group", "By stakeholder group", STAKEHOLDERS), ("region", "By region", REGIONS),
            ("gender", "By gender", GENDERS)]
    for by, title, order in dims:
        table = _breakdown_table(use, by, title, f"by-{_slug(by)}", bool(graded), order)
        section.tables.append(table)
        rate, what = ("completed_share", "completed") if graded else ("active_share", "were active")
        plot_title = f"Share who {what}, {title[0].lower() + title[1:]}"
        section.figures.append(_rate_plot(table, by, rate, plot_title, what))
    return section


def _group_cohorts(cohorts: list[Cohort]) -> dict[str, list[int]]:
    """Cohorts with instruments, by plan id (their instruments are compared together)."""
    groups: dict[str, list[int]] = {}
    for i, cohort in enumerate(cohorts):
        if cohort.instruments is not None:
            groups.setdefault(cohort.plan.id, []).append(i)
    return groups


def _answers_of(cohorts: list[Cohort], indexes: list[int], instrument: str, occasion: str) -> pd.DataFrame:
    """Submitted answers to one instrument on one occasion, with the person's key and cohort."""
    parts = []
    for i in indexes:
        answers = _submitted(cohorts[i].data)
        part = answers[(answers["instrument"] == instrument) & (answers["occasion"] == occasion)].copy()
        part["key"] = [f"{i}:{pid}" for pid in part["person_id"]]
        part["cohort"] = cohorts[i].label
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["key", "cohort", "answers", "item_scores", "score", "submitted_at"])
    return pd.concat(parts, ignore_index=True)


def _values(answers: pd.DataFrame) -> pd.DataFrame:
    """The answers' {question: value} as a frame: rows keys, columns question ids."""
    if answers.empty:
        return pd.DataFrame()
    return pd.DataFrame(list(answers["answers"]), index=list(answers["key"]))


def knowledge_sections(cohorts: list[Cohort], indexes: list[int], catalogue, suffix: str,
                       seed: int, enrolled: int) -> list[Section]:
    instruments = cohorts[indexes[0]].instruments
    out = []
    for test in (i for i in instruments.instruments if i.kind is Kind.knowledge_test):
        gain = Section(f"knowledge-{test.id}{_tag(suffix)}", f"Knowledge gain: {test.title}{suffix}",
                       intro="Share of the test's items answered right, before and after the "
                             "course, by the people who took both. Gain in points of 100 with a "
                             "95% t interval; normalised gain <g> (Hake): (after - before) / "
                             "(1 - before), of the class averages (95% bootstrap interval, "
                             "2,000 resamples, seeded) and the mean of each person's gain "
                             "(people with everything right before left out).")
        items = Section(f"items-{test.id}{_tag(suffix)}", f"Item analysis: {test.title}{suffix}",
                        intro="Of the answers after the course. Facility: share right. "
                              "Discrimination: the item's correlation with the rest of the test "
                              "(corrected item-total, point-biserial). An item is to be rewritten "
                              f"when its facility is at or below chance + {st.ABOVE_CHANCE:g} "
                              f"(chance = 1 / options), above {st.EASY:g}, or its discrimination "
                              f"is below {st.WEAK:g}.")
        pre = _answers_of(cohorts, indexes, test.id, "pre")
        post = _answers_of(cohorts, indexes, test.id, "post")
        before = pre.set_index("key")["score"].astype(float)
        after = post.set_index("key")["score"].astype(float)
        paired = st.paired_gain(before, after)
        n = paired["n"]
        by_module, hidden_items = None, {"before": set(), "after": set()}
        if n < st.MIN_CELL or st.is_hidden(_people(n, enrolled)):
            # (a mean beside a hidden number of people gives it back: both go)
            why = ("nobody has answered it before and after yet" if n == 0 else
                   "fewer than five people answered it before and after: not shown" if n < st.MIN_CELL else
                   f"those who took it before and after: {LEFT_OUT}")
            gain.missing.append(f"Knowledge test {test.id!r}: {why} (answers before: "
                                f"{_shown(_people(len(pre), enrolled))}, after: "
                                f"{_shown(_people(len(post), enrolled))}).")
        else:
            g = st.normalised_gain(before, after, seed=seed)
            rows = [("Mean share right before", paired["pre_mean"], np.nan, np.nan, n, "pct"),
                    ("Mean share right after", paired["post_mean"], np.nan, np.nan, n, "pct"),
                    ("Gain (points of 100)", 100 * paired["gain"], 100 * paired["low"],
                     100 * paired["high"], n, "pts"),
                    ("Normalised gain <g>, class averages", g["class_g"], g["class_low"],
                     g["class_high"], n, "num"),
                    ("Normalised gain, mean of individual gains", g["mean_g"], g["mean_low"],
                     g["mean_high"], g["n_individual"], "num")]
            table = pd.DataFrame(rows, columns=["measure", "value", "low", "high", "n", "kind"]).astype(object)
            if g["n_individual"] < st.MIN_CELL:
                table.loc[4, ["value", "low", "high"]] = st.HIDDEN
                table.at[4, "n"] = st.SMALL if g["n_individual"] else 0
            elif st.small_remainder(n, g["n_individual"]):
                table.at[4, "n"] = st.HIDDEN  # n less these is how many had everything right before
            gain.tables.append(Table(f"knowledge-gain-{test.id}{_tag(suffix)}", "Knowledge gain", table,
                                     {"measure": "Measure", "value": "Value", "low": "95% low",
                                      "high": "95% high", "n": "People"},
                                     {"value": "row", "low": "row", "high": "row", "n": "int"}))
            gain.notes.append(f"{n:,} people took the test before and after; mean gain "
                              f"{100 * paired['gain']:+.1f} points (95% interval {100 * paired['low']:+.1f} "
                              f"to {100 * paired['high']:+.1f}); normalised gain {g['class_g']:.2f} "
                              f"({g['class_low']:.2f} to {g['class_high']:.2f}).")
            by_module = (pre, post)  # drawn below, once the items whose facility is hidden are known
        # items, of the answers after (before, if there are none after); of those who took
        # both when the others are 1 to 4 (their scores would follow from the gain's means)
        paired_keys = set(before.dropna().index) & set(after.dropna().index)
        if n >= st.MIN_CELL:
            pre, post = (frame[frame["key"].isin(paired_keys)] if st.small_remainder(len(frame), n) else frame
                         for frame in (pre, post))
        source, when = (post, "after") if len(post) else (pre, "before")
        if len(source) < st.MIN_CELL or st.is_hidden(_people(len(source), enrolled)):
            items.missing.append(f"Knowledge test {test.id!r}: " + (
                "nobody has answered it yet: no item analysis." if source.empty else
                f"fewer than five answers {when} the course: no item analysis." if len(source) < st.MIN_CELL else
                f"the answers {when} the course: {LEFT_OUT}."))
        else:
            scores = pd.DataFrame(list(source["item_scores"].map(lambda d: d or {})),
                                  index=list(source["key"]))
            scores = scores.reindex(columns=[item.id for item in test.items])
            options = {item.id: len(item.options) for item in test.items}
            table, alpha = st.item_analysis(scores, options)
            facility_before = pd.Series(dtype=float)
            if len(pre) >= st.MIN_CELL and not st.is_hidden(_people(len(pre), enrolled)):
                before_scores = pd.DataFrame(list(pre["item_scores"].map(lambda d: d or {}))).reindex(
                    columns=[item.id for item in test.items])
                right, answered = before_scores.sum(), before_scores.notna().sum()
                facility_before = pd.Series({i: st.HIDDEN if not answered[i] or st.few_right_or_wrong(right[i], answered[i])
                                             else right[i] / answered[i] for i in right.index}, dtype=object)
            by_id = {item.id: item for item in test.items}
            table["module"] = [by_id[i].module for i in table["item"]]
            table["question"] = [by_id[i].question for i in table["item"]]
            table["facility_before"] = [facility_before.get(i, np.nan) for i in table["item"]]
            items.notes.append(f"Cronbach's alpha of the test {when} the course: {_cell(alpha, 'num')} "
                               f"({len(scores.dropna()):,} people, {len(test.items)} items).")
            bad = table[table["rewrite"]]
            items.items = [{"item": r.item, "module": r.module, "question": r.question,
                            "reason": r.reason} for r in bad.itertuples()]
            if bad.empty:
                items.notes.append("No item needs rewriting by these rules.")
            hidden_items[when] = set(table.loc[table["few"].astype(bool), "item"])
            hidden_items["before"] |= {i for i, f in facility_before.items() if st.is_hidden(f)}
            plotted = table[~table["few"]]
            table = table.astype(object)
            table.loc[table["few"].astype(bool), "facility"] = st.HIDDEN
            if len(plotted) < len(table):
                items.notes.append(f"{len(table) - len(plotted)} items were answered right, or wrong, by "
                                   "fewer than five people: their facility is hidden and they are not plotted.")
            items.tables.append(Table(f"items-{test.id}{_tag(suffix)}", "Items", table,
                                      {"item": "Item", "module": "Module", "question": "Question",
                                       "n": "People", "facility_before": "Facility before",
                                       "facility": "Facility", "discrimination": "Discrimination",
                                       "alpha_if_deleted": "Alpha if deleted", "reason": "To rewrite because"},
                                      {"n": "int", "facility_before": "num", "facility": "num",
                                       "discrimination": "num", "alpha_if_deleted": "num"}))
            title = f"Items of {test.title}: facility and discrimination{suffix}"
            worst = "; ".join(f"{r.item}: facility {_shown(r.facility, 'num')}, discrimination "
                              f"{_cell(r.discrimination, 'num')}" for r in table[table["rewrite"].astype(bool)].itertuples())
            alt = (f"Scatter plot of the {len(plotted)} items' facility (x) against discrimination (y), "
                   f"with lines at discrimination {st.WEAK:g} and facility {st.EASY:g} and chance + "
                   f"{st.ABOVE_CHANCE:g}. Cronbach's alpha {_cell(alpha, 'num')}. "
                   + (f"Marked to rewrite: {worst}." if worst else "No item is marked to rewrite."))
            data = table[["item", "module", "n", "options", "facility", "discrimination",
                          "alpha_if_deleted", "rewrite", "reason"]]
            items.figures.append(Figure(_slug(title), title, alt, data[~table["few"].astype(bool)],
                                        partial(items_plot, title, plotted)))
        if by_module is not None:  # a module's share with a hidden item would give that item back
            gain.figures.append(_module_figure(test, *by_module, suffix, hidden_items))
        out += [gain, items]
    return out


def _module_figure(test, pre: pd.DataFrame, post: pd.DataFrame, suffix: str,
                   hidden_items: dict[str, set]) -> Figure:
    """Share right before and after, by module, of the people who took both; hidden for a
    module with an item whose facility is hidden on that occasion (`hidden_items`)."""
    both = sorted(set(pre["key"]) & set(post["key"]))
    modules = list(dict.fromkeys(item.module for item in test.items))
    rows = []
    for occasion, frame in (("before", pre), ("after", post)):
        scores = pd.DataFrame(list(frame["item_scores"].map(lambda d: d or {})), index=list(frame["key"]))
        scores = scores.reindex(index=both)
        for module in modules:
            ids = [i.id for i in test.items if i.module == module]
            share = float(scores.reindex(columns=ids).mean(axis=1).mean()) if both else np.nan
            rows.append({"module": module, "occasion": occasion,
                         "share": st.HIDDEN if set(ids) & hidden_items.get(occasion, set()) else share})
    data = pd.DataFrame(rows).pivot(index="module", columns="occasion", values="share").reindex(modules)
    data = data.reset_index()[["module", "before", "after"]]
    data["people"] = len(both)
    title = f"{test.title}: share right before and after, by module{suffix}"
    words = "; ".join(f"{m}: {_shown(b, 'pct')} to {_shown(a, 'pct')}" for m, b, a in
                      zip(data["module"], data["before"], data["after"]))
    alt = (f"Grouped bar chart of the share of items answered right before and after the course, "
           f"for each module, by the {len(both):,} people who took the test twice. {words}.")
    png = partial(grouped_plot, title, list(data["module"]), {"before": [x for x in data["before"]],
                                                     "after": [x for x in data["after"]]},
                       "share right", limit=(0, 1))
    return Figure(_slug(title), title, alt, data, png)


def self_assessment_sections(cohorts, indexes, catalogue, suffix: str, enrolled: int) -> list[Section]:
    plan = cohorts[indexes[0]].plan
    instruments = cohorts[indexes[0]].instruments
    out = []
    for inst in (i for i in instruments.instruments if i.kind is Kind.self_assessment):
        section = Section(f"self-{inst.id}{_tag(suffix)}", f"Self-assessment by module: {inst.title}{suffix}",
                          intro=f"Each person's mean over the module's objectives, on the scale 1 "
                                f"({inst.scale[0]}) to {len(inst.scale)} ({inst.scale[-1]}); change "
                                "of the people who answered before and after, with a 95% t interval.")
        qs = questions(inst, plan, catalogue)
        modules = list(dict.fromkeys(q.module for q in qs))
        frames = {occ: _values(_answers_of(cohorts, indexes, inst.id, occ)) for occ in inst.occasions}
        rows = []
        for module in modules:
            ids = [q.id for q in qs if q.module == module]
            means = {occ: (f.reindex(columns=ids).apply(pd.to_numeric, errors="coerce").mean(axis=1).dropna()
                           if not f.empty else pd.Series(dtype=float)) for occ, f in frames.items()}
            pre, post = means.get("pre", pd.Series(dtype=float)), means.get("post", pd.Series(dtype=float))
            paired = st.paired_gain(pre, post)
            title = catalogue[module].module.title if module in catalogue else module
            rows.append({"module": module, "title": title, "n_before": len(pre),
                         "before": float(pre.mean()) if len(pre) else np.nan, "n_after": len(post),
                         "after": float(post.mean()) if len(post) else np.nan, "n_both": paired["n"],
                         "change": paired["gain"], "low": paired["low"], "high": paired["high"]})
        table = pd.DataFrame(rows, columns=["module", "title", "n_before", "before", "n_after",
                                            "after", "n_both", "change", "low", "high"])
        if table.empty or table[["n_before", "n_after"]].to_numpy().sum() == 0:
            section.missing.append(f"Self-assessment {inst.id!r}: no answers yet.")
            out.append(section)
            continue
        shown = table.astype(object)
        for n, columns in (("n_before", ["before"]), ("n_after", ["after"]),
                           ("n_both", ["change", "low", "high"])):
            for i, k in enumerate(table[n]):
                if 0 < k < st.MIN_CELL:
                    shown.at[i, n] = st.SMALL
                    for c in columns:
                        shown.at[i, c] = st.HIDDEN
        for i, row in table.iterrows():  # before (or after) less both: who answered only once
            if any(st.small_remainder(row[n], row["n_both"]) for n in ("n_before", "n_after")):
                shown.at[i, "n_both"] = st.HIDDEN  # and the change, whose steps would give it back
                shown.loc[i, ["change", "low", "high"]] = st.HIDDEN
            for n, mean in (("n_before", "before"), ("n_after", "after")):  # their means would follow
                if row["n_both"] >= st.MIN_CELL and st.small_remainder(row[n], row["n_both"]):
                    shown.at[i, mean] = st.HIDDEN
            for n, means in (("n_before", ["before"]), ("n_after", ["after"]), ("n_both", ["change", "low", "high"])):
                if st.is_hidden(_people(shown.at[i, n], enrolled)):  # the means' steps would give it back
                    shown.at[i, n] = st.HIDDEN
                    shown.loc[i, means] = st.HIDDEN
        section.tables.append(Table(f"self-{inst.id}{_tag(suffix)}", "By module", shown,
                                    {"module": "Module", "title": "Title", "n_before": "People before",
                                     "before": "Mean before", "n_after": "People after", "after": "Mean after",
                                     "n_both": "People both", "change": "Change", "low": "95% low", "high": "95% high"},
                                    {"n_before": "int", "before": "num", "n_after": "int", "after": "num",
                                     "n_both": "int", "change": "num", "low": "num", "high": "num"}))
        title = f"{inst.title}: mean by module, before and after{suffix}"
        words = "; ".join(f"{r['module']}: {_shown(r['before'], 'num')} to {_shown(r['after'], 'num')}"
                          for r in shown.to_dict("records"))
        alt = (f"Grouped bar chart of the mean self-assessment (1 to {len(inst.scale)}) for each module, "
               f"before and after the course. {words}.")
        png = partial(grouped_plot, title, list(shown["module"]), {"before": list(shown["before"]),
                                                          "after": list(shown["after"])},
                           f"mean (1-{len(inst.scale)})", limit=(0, len(inst.scale)))
        section.figures.append(Figure(_slug(title), title, alt,
                                      shown[["module", "n_before", "before", "n_after", "after", "n_both", "change", "low", "high"]], png))
        out.append(section)
    return out


def _texts_note(question: str, column: pd.Series) -> str:
    """How many wrote an answer to a text question; the texts themselves are never shown (nor
    a number that says how many of the people who answered the survey left it empty, 1 to 4)."""
    answered = int(column.map(lambda v: isinstance(v, str) and bool(v.strip())).sum())
    who = f"{_shown(answered)} people" if answered else "Nobody"
    if answered >= st.MIN_CELL and st.small_remainder(len(column), answered):
        who = "All but fewer than five people"
    return (f"{question} {who} wrote an answer (the report never shows the texts; the "
            "coordinator reads them in the store).")


def _survey_tables(section: Section, qs, values: pd.DataFrame, prefix: str, enrolled: int) -> list:
    """Tables of the answers to a survey's questions (notes for texts); its scale questions.
    Numbers of people who answered that leave 1 to 4 of the `enrolled` out are hidden."""
    scale_qs = [q for q in qs if q.type.value == "scale"]
    if scale_qs:
        table = st.likert_summary(values.reindex(columns=[q.id for q in scale_qs]),
                                  [(q.id, q.text, q.options) for q in scale_qs])
        table["scale"] = [f"1 = {q.options[0]} … {len(q.options)} = {q.options[-1]}" for q in scale_qs]
        width = max(len(q.options) for q in scale_qs)
        for i, k in enumerate(table["n"]):  # its points add up to it and its mean gives it back
            if st.is_hidden(_people(k, enrolled)) and not st.is_hidden(k):
                table.loc[i, ["n", *[str(p) for p in range(1, width + 1)], "mean", "top_two", "top_two_share"]] = st.HIDDEN
        columns = {"text": "Question", "n": "People", **{str(i): str(i) for i in range(1, width + 1)},
                   "mean": "Mean", "top_two_share": "Top two (share)", "scale": "Scale"}
        formats = {"n": "int", **{str(i): "int" for i in range(1, width + 1)}, "mean": "num",
                   "top_two_share": "pct"}
        section.tables.append(Table(f"{prefix}-scales", "Scale questions", table, columns, formats))
    for q in qs:
        column = values[q.id] if q.id in values.columns else pd.Series(dtype=object)
        if q.type.value in ("choice", "multi"):
            table = st.choice_summary(column, q.options, multi=q.type.value == "multi")
            if st.is_hidden(_people(table["people"].iloc[-1], enrolled)):  # the options would give it back
                table.loc[:, ["people", "share"]] = st.HIDDEN
            title = q.text + (" (several answers allowed)" if q.type.value == "multi" else "")
            section.tables.append(Table(f"{prefix}-{q.id}", title, table,
                                        {"option": "Answer", "people": "People", "share": "Share"},
                                        {"people": "int", "share": "pct"}))
        elif q.type.value == "number":
            summary = st.number_summary(column)
            if st.is_hidden(_people(summary["n"], enrolled)):
                summary = dict.fromkeys(summary, st.HIDDEN)
            table = pd.DataFrame([summary])
            section.tables.append(Table(f"{prefix}-{q.id}", q.text, table,
                                        {"n": "People", "total": "Total", "mean": "Mean", "median": "Median"},
                                        {"n": "int", "total": "int", "mean": "num", "median": "num"}))
        elif q.type.value == "text":
            section.notes.append(_texts_note(q.text, column))
    return scale_qs


def reaction_sections(cohorts, indexes, catalogue, suffix: str, enrolled: int) -> list[Section]:
    plan = cohorts[indexes[0]].plan
    instruments = cohorts[indexes[0]].instruments
    out = []
    for inst in (i for i in instruments.instruments if i.kind is Kind.reaction):
        section = Section(f"reaction-{inst.id}{_tag(suffix)}", f"Reaction: {inst.title}{suffix}")
        qs = questions(inst, plan, catalogue)
        answers = pd.concat([_answers_of(cohorts, indexes, inst.id, occ) for occ in inst.occasions],
                            ignore_index=True)
        if answers.empty:
            section.missing.append(f"Survey {inst.id!r}: no answers yet.")
            out.append(section)
            continue
        if st.is_hidden(_people(len(answers), enrolled)):
            section.missing.append(f"Survey {inst.id!r}: those who answered: {LEFT_OUT}.")
            out.append(section)
            continue
        section.notes.append(f"{_shown(len(answers))} people answered.")
        if len(answers) < st.MIN_CELL:
            section.missing.append(f"Survey {inst.id!r}: fewer than five people answered: not shown.")
            out.append(section)
            continue
        values = _values(answers)
        scale_qs = _survey_tables(section, qs, values, f"reaction-{inst.id}{_tag(suffix)}", enrolled)
        if scale_qs:
            table = section.tables[0].frame
            title = f"{inst.title}: mean answer per question{suffix}"
            labels = [q.id for q in scale_qs]
            words = "; ".join(f"{q.id}: {_shown(m, 'num')} of {len(q.options)} ({_shown(n)} people)"
                              for q, m, n in zip(scale_qs, table["mean"], table["n"]))
            alt = f"Bar chart of the mean answer to each scale question of the survey. {words}."
            top = max(len(q.options) for q in scale_qs)
            png = partial(bar_plot, title, labels, list(table["mean"]), f"mean (1 to {top})", limit=(0, top + 0.6))
            section.figures.append(Figure(_slug(title), title, alt,
                                          table.drop(columns=["text"]), png))
        out.append(section)
    return out


def _year(row) -> str:
    when = row["submitted_at"] if not st.is_missing(row["submitted_at"]) else row.get("updated_at")
    return str(pd.Timestamp(when).year) if not st.is_missing(when) else "unknown"


def follow_up_sections(cohorts, indexes, catalogue, suffix: str, enrolled: int) -> list[Section]:
    plan = cohorts[indexes[0]].plan
    instruments = cohorts[indexes[0]].instruments
    out = []
    for inst in (i for i in instruments.instruments if i.kind is Kind.follow_up):
        section = Section(f"followup-{inst.id}{_tag(suffix)}", f"Alumni outcomes: {inst.title}{suffix}",
                          intro="Follow-up answers by cohort and year of answer: participation in "
                                "Internet governance processes, roles, the multiplier effect "
                                "(trainings given, people trained), policy contributions, "
                                "employer support and barriers.")
        qs = questions(inst, plan, catalogue)
        answers = _answers_of(cohorts, indexes, inst.id, "followup")
        if answers.empty:
            section.missing.append(f"Follow-up survey {inst.id!r}: no answers yet (it opens "
                                   f"{inst.occasions['followup'].opens.months} months after the end).")
            out.append(section)
            continue
        if st.is_hidden(_people(len(answers), enrolled)):
            section.missing.append(f"Follow-up survey {inst.id!r}: those who answered: {LEFT_OUT}.")
            out.append(section)
            continue
        answers["wave"] = [f"{c} · {_year(r)}" for c, r in zip(answers["cohort"], answers.to_dict("records"))]
        values = _values(answers)
        values["wave"] = list(answers["wave"])
        order = sorted(values["wave"].unique())
        section.notes.append(f"{_shown(len(answers))} people answered, in {len(order)} cohort-year"
                             f"{'s' if len(order) != 1 else ''}.")
        prefix = f"followup-{inst.id}{_tag(suffix)}"
        for q in qs:
            column = values[q.id] if q.id in values.columns else pd.Series(None, index=values.index)
            if q.type.value in ("choice", "multi", "scale"):
                multi = q.type.value == "multi"
                options = q.options if q.type.value != "scale" else list(range(1, len(q.options) + 1))
                frame = pd.DataFrame({"wave": values["wave"]})
                answered = column.map(lambda v: not st.is_missing(v) and v != [])
                frame = frame[answered.to_numpy()]
                chosen = column[answered.to_numpy()]
                for k, option in enumerate(options):
                    frame[f"o{k}"] = [option in v if multi else v == option for v in chosen]
                if multi:
                    table = st.breakdown(frame, "wave", counts={f"o{k}": f"o{k}" for k in range(len(options))},
                                         order=order, base="people")
                    table = table.drop(columns=[f"o{k}_share" for k in range(len(options))])
                else:  # the options of a single answer add up to the people
                    table = _exclusive(frame, options, order)
                names = q.options
                columns = {"wave": "Cohort · year", "people": "Answered",
                           **{f"o{k}": names[k] for k in range(len(options))}}
                formats = {"people": "int", **{f"o{k}": "int" for k in range(len(options))}}
                title = q.text + (" (several answers allowed)" if multi else "")
                section.tables.append(Table(f"{prefix}-{q.id}", title, table, columns, formats))
                total = table[table["wave"] == st.TOTAL].iloc[0]
                plot_values = [total[f"o{k}"] for k in range(len(options))]
                words = "; ".join(f"{n}: {_shown(v)}" for n, v in zip(names, plot_values))
                figure_title = f"{_short(q.text, 80)}{suffix}"
                alt = (f"Bar chart of how many of the {_shown(total['people'])} people who answered "
                       f"\"{q.text}\" chose each answer. {words}.")
                png = partial(bar_plot, figure_title, [_short(n) for n in names], plot_values, "people")
                data = pd.DataFrame({"answer": names, "people": plot_values})
                section.figures.append(Figure(_slug(f"{prefix}-{q.id}"), figure_title, alt, data, png))
            elif q.type.value == "number":
                rows = []
                for wave in [*order, None]:
                    part = column if wave is None else column[(values["wave"] == wave).to_numpy()]
                    x = pd.to_numeric(part, errors="coerce").dropna()
                    rows.append({"wave": st.TOTAL if wave is None else wave, "people": len(x),
                                 "total": float(x.sum()), "mean": float(x.mean()) if len(x) else np.nan,
                                 "median": float(x.median()) if len(x) else np.nan})
                table = st.suppress_counts(pd.DataFrame(rows), "people",
                                           means={"total": "people", "mean": "people", "median": "people"})
                for i, row in enumerate(rows):
                    table.loc[i, st.hidden_number_stats(row["people"], row["total"])] = st.HIDDEN
                section.tables.append(Table(f"{prefix}-{q.id}", q.text, table,
                                            {"wave": "Cohort · year", "people": "Answered", "total": "Total",
                                             "mean": "Mean", "median": "Median"},
                                            {"people": "int", "total": "int", "mean": "num", "median": "num"}))
                if q.outcome in ("multiplier", "policy"):
                    body = table[table["wave"] != st.TOTAL]
                    figure_title = f"{_short(q.text, 60)}: total by cohort and year{suffix}"
                    words = "; ".join(f"{w}: {_shown(t)} (from {_shown(n)} people)"
                                      for w, t, n in zip(body["wave"], body["total"], body["people"]))
                    alt = f"Bar chart of the total answered to \"{q.text}\", by cohort and year. {words}."
                    png = partial(bar_plot, figure_title, list(body["wave"]), list(body["total"]), "total")
                    section.figures.append(Figure(_slug(f"{prefix}-{q.id}"), figure_title, alt,
                                                  body[["wave", "people", "total", "mean", "median"]].reset_index(drop=True), png))
            elif q.type.value == "text":
                section.notes.append(_texts_note(q.text, column))
        out.append(section)
    return out


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _exclusive(frame: pd.DataFrame, options, order) -> pd.DataFrame:
    """A breakdown whose option counts add up to each row's people (a single answer)."""
    counts = [f"o{k}" for k in range(len(options))]
    rows = []
    for wave in [*order, None]:
        part = frame if wave is None else frame[frame["wave"] == wave]
        rows.append({"wave": st.TOTAL if wave is None else wave, "people": len(part),
                     **{c: int(part[c].sum()) for c in counts}})
    return st.suppress_counts(pd.DataFrame(rows), "people", counts, exclusive=True)


def peer_review_section(cohorts: list[Cohort], frame: pd.DataFrame) -> Section:
    section = Section("peer-review", "Peer review: reliability and the ratings of reviews",
                      intro="Reliability: how far the reviewers of one submission agree on its "
                            "total, as ICC(1) (one-way random effects; 95% F interval) for one "
                            "review and ICC(1,k) for the mean of k reviews, and the correlation "
                            "of pairs of reviews of one submission. Helpful: the share of rated "
                            "reviews their authors found helpful.")
    rows = []
    for cohort in cohorts:
        data = cohort.data
        reviews = data["reviews"].merge(data["allocations"], on="review_code")
        reviews = reviews[(reviews["state"] == "submitted") & ~reviews["withdrawn"].astype(bool)]
        ratings = data["ratings"].merge(data["allocations"][["review_code", "round_id"]], on="review_code")
        records = data["reviewer_records"]
        for rnd in data["rounds"].itertuples():
            mine = reviews[reviews["round_id"] == rnd.id]
            rel = st.review_reliability(mine[["submission_id", "total"]])
            rated = ratings[ratings["round_id"] == rnd.id]
            rec = records[records["round_id"] == rnd.id]
            rows.append({"enrolled": int((frame["cohort"] == cohort.label).sum()),
                         "round": f"{cohort.label} · {rnd.name}" if len(cohorts) > 1 else rnd.name,
                         "submissions": int((data["submissions"]["round_id"] == rnd.id).sum()),
                         "reviews": len(mine), "reviewed": rel["submissions"], "icc": rel["icc"],
                         "low": rel["low"], "high": rel["high"], "icc_k": rel["icc_k"], "k0": rel["k0"],
                         "pair_r": rel["pair_correlation"], "rated": len(rated),
                         "helpful": int(rated["helpful"].astype(bool).sum()),
                         "reviewers": len(rec), "distrusted": int(rec["distrusted"].astype(bool).sum())})
    if not rows:
        section.missing.append("No review rounds in the store(s).")
        return section
    table = pd.DataFrame(rows)
    counted = ("submissions", "reviews", "reviewed", "rated", "helpful", "reviewers", "distrusted")
    total = {"round": st.TOTAL, **{c: int(table[c].sum()) for c in counted}}
    total |= {c: np.nan for c in ("icc", "low", "high", "icc_k", "k0", "pair_r")}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["helpful_share"] = table["helpful"] / table["rated"].where(table["rated"] > 0)
    shown = st.suppress_counts(table, "rated", ["helpful"], rates={"helpful_share": "helpful"})
    for base, counts in (("submissions", ["reviewed"]), ("reviews", []), ("reviewers", ["distrusted"])):
        short = [] if base == "reviews" else [  # 1 to 4 enrolled who did not submit, or review
            i for i in range(len(table) - 1) if st.small_remainder(table.at[i, "enrolled"], table.at[i, base])]
        part = st.suppress_counts(table[[base, *counts]], base, counts, hide=short)
        for column in (base, *counts):
            shown[column] = part[column]
    for i, k in enumerate(table["reviewed"]):  # an ICC of fewer than five submissions names people,
        if k < st.MIN_CELL or st.is_hidden(shown.at[i, "reviewed"]):  # k0 and the interval give their number
            for c in ("icc", "low", "high", "icc_k", "k0", "pair_r"):
                shown.at[i, c] = st.HIDDEN if k else np.nan
    section.tables.append(Table("peer-review", "Rounds", shown,
                                {"round": "Round", "submissions": "Submissions", "reviews": "Reviews submitted",
                                 "reviewed": "Submissions with 2+ reviews", "icc": "ICC(1)", "low": "95% low",
                                 "high": "95% high", "icc_k": "ICC(1,k)", "k0": "Reviews per submission (k)", "pair_r": "Pair r",
                                 "rated": "Reviews rated", "helpful": "Helpful", "helpful_share": "Helpful (share)",
                                 "reviewers": "Reviewers", "distrusted": "Distrusted reviewers"},
                                {"submissions": "int", "reviews": "int", "reviewed": "int", "icc": "num",
                                 "low": "num", "high": "num", "icc_k": "num", "k0": "num", "pair_r": "num",
                                 "rated": "int", "helpful": "int", "helpful_share": "pct", "reviewers": "int",
                                 "distrusted": "int"}))
    body = shown[shown["round"] != st.TOTAL]
    title = "Agreement of reviewers, ICC(1) of review totals, by round"
    words = "; ".join(f"{r}: {_shown(v, 'num')} (95% {_shown(l, 'num')} to {_shown(h, 'num')})"
                      for r, v, l, h in zip(body["round"], body["icc"], body["low"], body["high"]))
    alt = ("Bar chart of the agreement between reviewers of the same submission (ICC(1), 0 to 1), "
           f"by review round. {words}.")
    errors = [(l if not st.is_hidden(l) else np.nan, h if not st.is_hidden(h) else np.nan)
              for l, h in zip(body["low"], body["high"])]
    png = partial(bar_plot, title, list(body["round"]), list(body["icc"]), "ICC(1)", errors=errors, limit=(0, 1.1))
    section.figures.append(Figure("peer-review-icc", title, alt,
                                  body[["round", "reviewed", "icc", "low", "high", "icc_k", "pair_r"]].reset_index(drop=True), png))
    title = "Reviews their authors found helpful, by round"
    words = "; ".join(f"{r}: {_shown(v, 'pct')} of {_shown(n)} rated"
                      for r, v, n in zip(body["round"], body["helpful_share"], body["rated"]))
    alt = f"Bar chart of the share of rated reviews that their authors found helpful, by review round. {words}."
    png = partial(bar_plot, title, list(body["round"]), list(body["helpful_share"]), "helpful (%)", percent=True, limit=(0, 118))
    section.figures.append(Figure("peer-review-helpful", title, alt,
                                  body[["round", "rated", "helpful", "helpful_share"]].reset_index(drop=True), png))
    return section


def _by_group(people: pd.DataFrame) -> pd.Series:
    """How many of `people` in each stakeholder group (labelled as the tables label them)."""
    return people.groupby(people["stakeholder_group"].map(label)).size()


def facilitation_section(cohorts: list[Cohort], frame: pd.DataFrame) -> Section:
    section = Section("facilitation", "Facilitation coverage",
                      intro="Each turn of the rota is one participant facilitating one study "
                            "group's discussion in one session; it is covered when that "
                            "discussion was opened (an opening post). By the facilitator's "
                            "stakeholder group, and by session.")
    turns = []
    for i, cohort in enumerate(cohorts):
        data = cohort.data
        people = data["people"].set_index("id")
        opened = data["threads"].merge(data["posts"][data["posts"]["kind"] == "opening"][["thread_id"]],
                                       left_on="id", right_on="thread_id")
        opened = set(zip(opened["group_label"], opened["session"]))
        for row in data["rota"].itertuples():
            turns.append({"cohort": cohort.label, "session": str(row.session),
                          "stakeholder_group": people["stakeholder_group"].get(row.facilitator_id, ""),
                          "facilitator": f"{i}:{row.facilitator_id}",
                          "opened": (row.group_label, row.session) in opened})
    if not turns:
        section.missing.append("No facilitation rota in the store(s): run `igcb cohort rota`.")
    else:
        turns = pd.DataFrame(turns)
        shown = turns.assign(stakeholder_group=turns["stakeholder_group"].map(label))
        order = [label(s) for s in STAKEHOLDERS]
        groups = list(st.breakdown(shown, "stakeholder_group", base="turns", order=order)["stakeholder_group"])
        # who facilitated: people, so suppressed as such; a row of fewer than five facilitators
        # shows none of its turns (that they opened every one would be about them), and the
        # total is hidden when it leaves 1 to 4 participants who never facilitated
        people = shown.groupby("stakeholder_group")["facilitator"].nunique()
        people[st.TOTAL] = shown["facilitator"].nunique()
        counts = [people.get(g, 0) for g in groups]
        # 1 to 4 people never facilitated: of all enrolled (the total), of a group's people in study groups
        placed = _by_group(frame[frame["in_group"]])
        placed[st.TOTAL] = len(frame)
        short = [i for i, (g, k) in enumerate(zip(groups, counts)) if st.small_remainder(placed.get(g, 0), k)]
        who = st.suppress_counts(pd.DataFrame({"facilitators": counts}), "facilitators", hide=short)
        few = [g for g, f in zip(groups, who["facilitators"]) if st.is_hidden(f) and g != st.TOTAL]
        table = st.breakdown(shown, "stakeholder_group", counts={"opened": "opened"}, base="turns",
                             order=order, hide=few)
        table["facilitators"] = [st.HIDDEN if st.is_hidden(t) and not st.is_hidden(f) else f
                                 for t, f in zip(table["turns"], who["facilitators"])]
        section.tables.append(Table("facilitation-by-stakeholder-group",
                                    "Turns by the facilitator's stakeholder group", table,
                                    {"stakeholder_group": "Stakeholder group", "facilitators": "Facilitators",
                                     "turns": "Turns", "opened": "Opened", "opened_share": "Opened (share)"},
                                    {"facilitators": "int", "turns": "int", "opened": "int", "opened_share": "pct"}))
        facilitated = who["facilitators"].iloc[-1]
        section.notes.append(f"{_shown(facilitated)} participants facilitated {_shown(len(turns))} turns.")
        sessions = sorted(turns["session"].unique(), key=lambda s: (len(s), s))
        by_session = st.breakdown(turns, "session", counts={"opened": "opened"}, base="turns", order=sessions)
        section.tables.append(Table("facilitation-by-session", "Turns by session", by_session,
                                    {"session": "Session", "turns": "Turns", "opened": "Opened",
                                     "opened_share": "Opened (share)"},
                                    {"turns": "int", "opened": "int", "opened_share": "pct"}))
        body = by_session[by_session["session"] != st.TOTAL]
        title = "Discussions opened by their facilitator, by session"
        words = "; ".join(f"session {s}: {_shown(v, 'pct')} of {_shown(n)} turns"
                          for s, v, n in zip(body["session"], body["opened_share"], body["turns"]))
        alt = f"Bar chart of the share of rota turns whose discussion was opened, for each session. {words}."
        png = partial(bar_plot, title, [f"session {s}" for s in body["session"]], list(body["opened_share"]),
                       "opened (%)", percent=True, limit=(0, 118))
        section.figures.append(Figure("facilitation-by-session", title, alt,
                                      body[["session", "turns", "opened", "opened_share"]].reset_index(drop=True), png))
    grouped = frame[frame["in_group"]]
    if grouped.empty:
        section.missing.append("No study groups in the store(s): nobody could post.")
        return section
    # A group whose people in study groups are 1 to 4 short of its participants would name those
    # in no group: its row is hidden (and a partner with it).
    enrolled, placed = _by_group(frame), _by_group(grouped)
    short = [g for g in placed.index if st.small_remainder(enrolled.get(g, 0), placed[g])]
    table = st.breakdown(grouped.assign(stakeholder_group=grouped["stakeholder_group"].map(label)),
                         "stakeholder_group", counts={"never_posted": "never_posted"},
                         order=[label(s) for s in STAKEHOLDERS],
                         hide=short + ([st.TOTAL] if st.small_remainder(len(frame), len(grouped)) else []))
    total = table[table["stakeholder_group"] == st.TOTAL].iloc[0]
    section.notes.append(f"Participants in a study group who never posted in a discussion: "
                         f"{_shown(total['never_posted'])} of {_shown(total['people'])}.")
    section.tables.append(Table("never-posted", "Participants who never posted, by stakeholder group", table,
                                {"stakeholder_group": "Stakeholder group", "people": "In a study group",
                                 "never_posted": "Never posted", "never_posted_share": "Never posted (share)"},
                                {"people": "int", "never_posted": "int", "never_posted_share": "pct"}))
    return section


def tutor_section(cohorts: list[Cohort]) -> Section:
    section = Section("tutors", "Tutor load",
                      intro="Per tutor: study groups, participants in them, and escalations "
                            "settled (their decisions on peer-review grades and on flagged "
                            "reviews). Distributions only; no tutor is named.")
    rows = []
    for i, cohort in enumerate(cohorts):
        data = cohort.data
        people = data["people"]
        tutors = people.loc[people["role"] == "tutor", "id"]
        assigned = data["tutor_assignments"]
        size = data["memberships"].groupby("group_label").size()
        decisions = data["tutor_decisions"].groupby("tutor_id").size()
        flags = data["flags"][data["flags"]["outcome"].fillna("") != ""].groupby("decided_by").size()
        for tutor in tutors:
            mine = assigned[assigned["tutor_id"] == tutor]["group_label"]
            rows.append({"tutor": f"{i}:{tutor}", "groups": len(mine),
                         "participants": int(size.reindex(mine).fillna(0).sum()),
                         "escalations": int(decisions.get(tutor, 0) + flags.get(tutor, 0))})
    if not rows or not any(r["groups"] for r in rows):
        section.missing.append("No tutors assigned to study groups in the store(s): run `igcb cohort tutors`.")
        return section
    load = pd.DataFrame(rows)
    load = load[load["groups"] > 0]
    summary = pd.DataFrame([{"measure": name, **st.quantiles(load[column])} for name, column in
                            (("Study groups per tutor", "groups"), ("Participants per tutor", "participants"),
                             ("Escalations settled per tutor", "escalations"))])
    section.tables.append(Table("tutor-load", "Load per tutor", summary,
                                {"measure": "Per tutor", "n": "Tutors", "min": "Min", "q1": "Lower quartile",
                                 "median": "Median", "q3": "Upper quartile", "max": "Max", "mean": "Mean"},
                                {"n": "int", "min": "num", "q1": "num", "median": "num", "q3": "num",
                                 "max": "num", "mean": "num"}))
    low, top = int(load["participants"].min()), int(load["participants"].max())
    step = max(5, int(math.ceil((top - low + 1) / 8 / 5.0)) * 5)
    edges = list(range(low // step * step, top + step + 1, step))
    hist = st.histogram(load["participants"], edges,
                        labels=[f"{edges[k]}-{edges[k + 1] - 1}" for k in range(len(edges) - 1)], unit="tutors")
    section.tables.append(Table("tutors-by-participants", "Tutors by number of participants", hist,
                                {"bin": "Participants", "tutors": "Tutors"}, {"tutors": "int"}))
    body = hist[hist["bin"] != st.TOTAL]
    title = "Tutors by the number of participants they follow"
    words = "; ".join(f"{b} participants: {_shown(v)} tutors" for b, v in zip(body["bin"], body["tutors"]))
    alt = f"Bar chart of how many tutors follow how many participants. {words}."
    png = partial(bar_plot, title, list(body["bin"]), list(body["tutors"]), "tutors")
    section.figures.append(Figure("tutors-by-participants", title, alt, body.reset_index(drop=True), png))
    return section


def alumni_section(cohorts: list[Cohort]) -> Section:
    section = Section("alumni", "Alumni register",
                      intro="Participants who joined the alumni register, and what they offer.")
    parts = []
    for cohort in cohorts:
        entries = cohort.data["alumni"]
        participants = set(cohort.data["people"].loc[cohort.data["people"]["role"] == "participant", "id"])
        entries = entries[entries["person_id"].isin(participants)]
        parts.append(entries.assign(cohort=cohort.label))
    entries = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if entries.empty:
        section.missing.append("Nobody has joined the alumni register yet.")
        return section
    for column in ("will_mentor", "will_host_intern", "will_teach"):
        entries[column] = entries[column].astype(bool)
    table = st.breakdown(entries, "cohort", counts={"mentor": "will_mentor", "host": "will_host_intern",
                                                    "teach": "will_teach"},
                         order=[c.label for c in cohorts], base="alumni")
    section.tables.append(Table("alumni-register", "Register by cohort", table,
                                {"cohort": "Cohort", "alumni": "In the register", "mentor": "Will mentor",
                                 "host": "Will host an intern", "teach": "Will teach a module"},
                                {"alumni": "int", "mentor": "int", "host": "int", "teach": "int"}))
    total = table[table["cohort"] == st.TOTAL].iloc[0]
    section.notes.append(f"Register size: {_shown(total['alumni'])}; willing mentors: {_shown(total['mentor'])}.")
    body = table[table["cohort"] != st.TOTAL]
    title = "Alumni register and willing mentors, by cohort"
    words = "; ".join(f"{c}: {_shown(a)} alumni, {_shown(m)} mentors"
                      for c, a, m in zip(body["cohort"], body["alumni"], body["mentor"]))
    alt = f"Grouped bar chart of the alumni register's size and its willing mentors, by cohort. {words}."
    png = partial(grouped_plot, title, list(body["cohort"]), {"in the register": list(body["alumni"]),
                                                     "will mentor": list(body["mentor"])}, "people")
    section.figures.append(Figure("alumni-register", title, alt,
                                  body[["cohort", "alumni", "mentor", "host", "teach"]].reset_index(drop=True), png))
    return section


# --- the whole report -----------------------------------------------------------------------------

def _enrolled(frame: pd.DataFrame, cohorts: list[Cohort], indexes: list[int]) -> int:
    """The participants counted in the cohorts of `indexes`."""
    return int(frame["cohort"].isin([cohorts[i].label for i in indexes]).sum())


def build_report(cohorts: list[Cohort], catalogue: dict[str, CatalogueEntry],
                 progress: Callable[[str], None] = _say, seed: int = 0,
                 generated: datetime | None = None) -> Report:
    """Every section of the report (plots not drawn yet: see `draw_figures`)."""
    progress("report: computing the funnel and the breakdowns ...")
    frame = pd.concat([participants(c, i, catalogue) for i, c in enumerate(cohorts)], ignore_index=True)
    graded = [c.label for c in cohorts if not c.data["assignment_scores"].empty]
    sections = [funnel_section(frame, cohorts, graded), groups_section(frame, graded)]
    overview_missing = []
    for cohort in cohorts:
        if cohort.instruments is None:
            overview_missing.append(f"{cohort.label}: no evaluation instruments ({cohort.problem}); "
                                    "tests and surveys are not reported for it.")
    groups = _group_cohorts(cohorts)
    enrolled_in = {plan_id: _enrolled(frame, cohorts, indexes) for plan_id, indexes in groups.items()}
    for plan_id, enrolled in enrolled_in.items():
        if enrolled < 2 * st.MIN_CELL:  # with so few, any count's marks would narrow it to people
            overview_missing.append(f"Plan {plan_id}: fewer than ten participants: its tests and surveys "
                                    "are not reported.")
    reported = {plan_id: indexes for plan_id, indexes in groups.items() if enrolled_in[plan_id] >= 2 * st.MIN_CELL}
    for plan_id, indexes in reported.items():
        suffix = f" ({plan_id})" if len(groups) > 1 else ""
        progress(f"report: tests and surveys of plan {plan_id} ...")
        enrolled = enrolled_in[plan_id]
        sections += knowledge_sections(cohorts, indexes, catalogue, suffix, seed, enrolled)
        sections += self_assessment_sections(cohorts, indexes, catalogue, suffix, enrolled)
        sections += reaction_sections(cohorts, indexes, catalogue, suffix, enrolled)
    progress("report: peer review, facilitation and tutors ...")
    sections += [peer_review_section(cohorts, frame), facilitation_section(cohorts, frame), tutor_section(cohorts)]
    progress("report: alumni ...")
    sections.append(alumni_section(cohorts))
    for plan_id, indexes in reported.items():
        suffix = f" ({plan_id})" if len(groups) > 1 else ""
        sections += follow_up_sections(cohorts, indexes, catalogue, suffix, enrolled_in[plan_id])
    if overview_missing:
        sections[0].missing = overview_missing + sections[0].missing
    _unique_names(sections)
    withdrawn = sum(c.data.withdrawn for c in cohorts)
    # Each cohort's people as the by-cohort table shows them (suppressed with its partners).
    by_cohort = {row["cohort"]: row["people"] for t in sections[0].tables if t.name == "by-cohort"
                 for row in t.frame.to_dict("records")}
    info = [{"label": c.label, "course": c.data.settings.get("course", "?"), "plan": c.plan.id,
             "start": c.plan.start.isoformat(),
             "participants": _shown(by_cohort.get(label(c.label),
                                                  int((c.data["people"]["role"] == "participant").sum())))}
            for c in cohorts]
    title = (f"Cohort report: {cohorts[0].label}" if len(cohorts) == 1
             else f"Cohort report: {len(cohorts)} cohorts")
    report = Report(title, (generated or datetime.now()).strftime("%Y-%m-%d %H:%M"), info, sections)
    if withdrawn:
        sections[0].notes.append(f"People who withdrew their consent are left out of every count "
                                 f"({_shown(withdrawn)}).")
    return report


def draw_figures(report: Report, progress: Callable[[str], None] = _say) -> None:
    """Draw every plot of the report (the slow part), saying how far it is."""
    figures = report.figures
    for n, figure in enumerate(figures, start=1):
        if n == 1 or n % 5 == 0 or n == len(figures):
            progress(f"report: plotting {n}/{len(figures)} ...")
        figure.png = figure.draw()


def _unique_names(sections: list[Section]) -> None:
    seen: dict[str, int] = {}
    for thing in [x for s in sections for x in (*s.tables, *s.figures)]:
        kind = "table" if isinstance(thing, Table) else "plot"
        key = f"{kind}:{thing.name}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            thing.name = f"{thing.name}-{seen[key]}"


# --- output ---------------------------------------------------------------------------------------

def render_html(report: Report) -> str:
    """The report as one HTML page; plots at plots/<name>.png, data at data/<name>.csv."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return env.get_template("report.html").render(report=report, SMALL=st.SMALL, HIDDEN=st.HIDDEN, TOTAL=st.TOTAL)
