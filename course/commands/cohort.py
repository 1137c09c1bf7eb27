"""Commands for running a cohort: roster, study groups, tutors, rota, peer review, mentoring.

File I/O lives here; the algorithms are in the `peer_review` package.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import click
import pandas as pd

from course.commands.output import SEED, FiniteFloat, write_csv, write_outputs
from course.errors import Problem, UserError
from course.layout import Layout
from course.modules import load_catalogue
from course.plans import load_named_plan
from peer_review import aggregation, allocation, group_optimum, groups as grouping, mentoring, quality, rota as rotas, roster as rosters, tutors as tutoring

_CSV = click.Path(dir_okay=False, path_type=Path)
INPUT_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _problems(path: Path, err: rosters.RosterError) -> UserError:
    return UserError.from_problems([Problem(path, str(p)) for p in err.problems])


def read_table(path: Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV file as a table of strings; bad files end in UserError."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot read: {err.strerror}") from None
    try:
        return rosters.read_csv_bytes(data, required)
    except rosters.RosterError as err:
        raise _problems(path, err) from None


def read_roster(path: Path, capacity: bool = False, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read and validate a roster (with `capacity` for tutors and mentors)."""
    frame = read_table(path, extra)

    def checks(table, problems):
        if capacity:
            rosters.check_capacity(table, problems)

    try:
        return rosters.validate_roster(frame, checks)
    except rosters.RosterError as err:
        raise _problems(path, err) from None


def read_groups(path: Path) -> pd.DataFrame:
    frame = read_roster(path, extra=("group",))
    bad = [Problem(path, f"row {i + 2}, column group: expected a group label") for i, g in enumerate(frame["group"]) if g == ""]
    if bad:
        raise UserError.from_problems(bad)
    return frame




# Inputs with more rows than this report their stages on stderr (they run for seconds or more).
PROGRESS_ROWS = 2_000


def _count_rows(*paths: Path | None) -> int:
    """Data rows in the largest of some CSV files (lines after the header), counted cheaply."""
    rows = 0
    for path in paths:
        if path is not None:
            try:
                with path.open("rb") as handle:
                    rows = max(rows, sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1)
            except OSError:
                pass  # reading it properly reports the problem
    return rows


def _progress(rows: int) -> Callable[[str], None] | None:
    """A stage reporter (stderr, with elapsed seconds) for large inputs; None keeps small runs quiet."""
    if rows <= PROGRESS_ROWS:
        return None
    return _reporter()


def _reporter() -> Callable[[str], None]:
    """Report stages on stderr with the seconds since this call."""
    start = time.monotonic()

    def report(message: str) -> None:
        click.echo(f"[{time.monotonic() - start:5.1f}s] {message}", err=True)

    return report


def _quiet(message: str) -> None:
    pass


def _echo(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


@click.group()
def roster():
    """Check a roster of participants."""


@roster.command("check")
@click.argument("roster_csv", type=INPUT_FILE)
@click.option("--capacity", is_flag=True, help="Also require a `capacity` column (tutors, mentors).")
@click.option("-o", "--output", type=_CSV, help="Write the normalised roster here.")
def roster_check(roster_csv, capacity, output):
    """Validate ROSTER_CSV; list every problem (row, column, value, what was expected)."""
    table = read_roster(roster_csv, capacity=capacity)
    click.echo(f"{roster_csv}: ok, {len(table)} people")
    for column in ("stakeholder_group", "region"):
        counts = table[column].value_counts()
        click.echo(f"  {column}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    langs = pd.Series([l for v in table["languages"] for l in v.split(";")]).value_counts()
    click.echo("  languages: " + ", ".join(f"{k} {v}" for k, v in langs.items()))
    if output:
        write_csv(table, output, [roster_csv])


PROVE = click.option("--prove", is_flag=True,
                     help="Also compute the best stakeholder diversity possible under the same rules (CP-SAT) and the gap to it.")
TIME_LIMIT = click.option("--time-limit", default=120.0, show_default=True, type=FiniteFloat(min=1), metavar="SECONDS",
                          help="With --prove: stop the solver after this long and report the best bound it proved.")


def prove_groups(table: pd.DataFrame, result: pd.DataFrame, size: int, max_tz_spread: float | None,
                 time_limit: float) -> None:
    """--prove: the groups' stakeholder diversity beside the proven optimum, with progress on stderr."""
    proof = group_optimum.prove_optimum(table, size, max_tz_spread=max_tz_spread, groups=result,
                                        time_limit=time_limit, progress=_reporter())
    _echo(quality.optimum_summary(*quality.diversity(result, "stakeholder_group"), proof))


@click.command()
@click.argument("roster_csv", type=INPUT_FILE)
@click.option("--size", default=6, show_default=True, type=click.IntRange(2, 30), help="Target group size (no group is larger).")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--max-tz-spread", type=FiniteFloat(min=0), help="Hours of UTC offset a group may span (synchronous meetings).")
@PROVE
@TIME_LIMIT
@click.option("-o", "--output", type=_CSV, required=True)
def groups(roster_csv, size, seed, max_tz_spread, prove, time_limit, output):
    """Form diverse study groups that each share a language."""
    progress = _progress(_count_rows(roster_csv))
    say = progress or _quiet
    say(f"reading and validating {roster_csv}")
    table = read_roster(roster_csv)
    try:
        result = grouping.form_groups(table, size=size, seed=seed, max_tz_spread=max_tz_spread, progress=progress)
    except grouping.GroupingError as err:
        raise UserError(f"{roster_csv}: {err}") from None
    say(f"writing {output}")
    write_csv(result, output, [roster_csv])
    _echo(quality.group_summary(quality.group_quality(result)))
    click.echo(f"wrote {output}")
    if prove:
        prove_groups(table, result, size, max_tz_spread, time_limit)


@click.command()
@click.argument("groups_csv", type=INPUT_FILE)
@click.argument("tutors_csv", type=INPUT_FILE)
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("-o", "--output", type=_CSV, required=True)
def tutors(groups_csv, tutors_csv, seed, output):
    """Give each study group a tutor who speaks its language, within capacity."""
    table = read_groups(groups_csv)
    staff = read_roster(tutors_csv, capacity=True)
    try:
        result = tutoring.assign_tutors(table, staff, seed=seed)
    except tutoring.TutorError as err:
        raise UserError(f"{tutors_csv}: {err}") from None
    write_csv(result, output, [groups_csv, tutors_csv])
    _echo(tutoring.tutor_summary(result, staff))
    click.echo(f"wrote {output}")


def _plan_sessions(plan_name: str):
    """Facilitated sessions of a plan: (labels, topics per session)."""
    layout = Layout.default()
    plan = load_named_plan(plan_name, layout.plans)
    # Topics only sharpen the choice of facilitators: a broken catalogue leaves them out.
    catalogue, bad = load_catalogue(layout.modules)
    topics_of = {} if bad else {mid: set(e.module.topics) for mid, e in catalogue.items()}
    labels, topics = [], []
    for session in plan.sessions:
        if session.discussion:
            labels.append(session.week if session.week is not None else session.day)
            topics.append(frozenset(set(session.modules).union(*(topics_of.get(m, set()) for m in session.modules))))
    if not labels:
        raise UserError(f"plan {plan.id!r}: no session has discussion: true")
    return labels, topics


@click.command()
@click.argument("groups_csv", type=INPUT_FILE)
@click.option("--sessions", type=click.IntRange(1, 366), help="Number of facilitated sessions.")
@click.option("--plan", "plan_name", help="A course plan (name or YAML path): its sessions with discussion: true.")
@click.option("--co-facilitators", is_flag=True, help="Add a co-facilitator from another stakeholder group.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("-o", "--output", type=_CSV, required=True)
def rota(groups_csv, sessions, plan_name, co_facilitators, seed, output):
    """Who facilitates each group's discussion in each session."""
    if (sessions is None) == (plan_name is None):
        raise UserError("give either --sessions N or --plan PLAN")
    table = read_groups(groups_csv)
    if plan_name:
        labels, topics = _plan_sessions(plan_name)
    else:
        labels, topics = list(range(1, sessions + 1)), [frozenset()] * sessions
    result = rotas.make_rota(table, topics, co_facilitators=co_facilitators, seed=seed, labels=labels)
    write_csv(result, output, [groups_csv])
    _echo(rotas.rota_summary(result, table))
    click.echo(f"wrote {output}")


@click.group()
def reviews():
    """Peer review: review rounds in the cohort store (open, close), or CSV files (allocate, aggregate)."""


@reviews.command("allocate")
@click.argument("submissions_csv", type=INPUT_FILE)
@click.option("--roster", "roster_csv", type=INPUT_FILE, required=True)
@click.option("--groups", "groups_csv", type=INPUT_FILE, help="Study groups: reviewers come from other groups.")
@click.option("--within-groups", is_flag=True, help="Prefer reviewers from the author's own study group.")
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(1, 20), help="Reviewers per submission.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--history", "history_csv", type=INPUT_FILE, help="Earlier allocations (author_id, reviewer_id): pairs to avoid.")
@click.option("--existing", "existing_csv", type=INPUT_FILE, help="An earlier allocation to keep; only new (late) submissions are allocated.")
@click.option("--authors-out", type=_CSV, help="Also write what authors may see (submission_id, author_id, review_code).")
@click.option("-o", "--output", type=_CSV, required=True)
def reviews_allocate(submissions_csv, roster_csv, groups_csv, within_groups, k, seed, history_csv, existing_csv, authors_out, output):
    """Give every submission k peer reviewers."""
    progress = _progress(_count_rows(submissions_csv, roster_csv))
    say = progress or _quiet
    say(f"reading and validating {roster_csv}" + (f", {groups_csv}" if groups_csv else "") + f" and {submissions_csv}")
    people = read_roster(roster_csv)
    subs = read_table(submissions_csv, ("submission_id", "author_id"))
    group_table = read_groups(groups_csv) if groups_csv else None
    history = read_table(history_csv, ("author_id", "reviewer_id")) if history_csv else None
    existing = read_table(existing_csv, ("submission_id", "author_id", "reviewer_id", "review_code")) if existing_csv else None
    try:
        result = allocation.allocate_reviews(subs, people, k=k, seed=seed, groups=group_table, within_groups=within_groups,
                                             history=history, existing=existing, progress=progress)
    except rosters.RosterError as err:
        raise _problems(submissions_csv, err) from None
    except allocation.AllocationError as err:
        raise UserError(f"{submissions_csv}: {err}") from None
    say(f"writing {output}" + (f" and {authors_out}" if authors_out else ""))
    outputs = [(result, output)] + ([(allocation.author_view(result), authors_out)] if authors_out else [])
    write_outputs(outputs, [submissions_csv, roster_csv, groups_csv, history_csv, existing_csv])
    say("checking the allocation")
    _echo(quality.allocation_summary(quality.allocation_quality(result, people, k, group_table, history)))
    click.echo(f"wrote {output}" + (f" and {authors_out}" if authors_out else ""))


@reviews.command("aggregate")
@click.argument("reviews_csv", type=INPUT_FILE)
@click.option("--tutor-scores", "tutor_csv", type=INPUT_FILE, help="Tutor scores (submission_id, score): anchors.")
@click.option("--scale", nargs=2, type=FiniteFloat(), help="Lowest and highest possible score (default: the range seen).")
@click.option("--disagreement", type=FiniteFloat(min=0), help="Review range that flags a submission (default 40% of the scale).")
@click.option("--reviewers-out", type=_CSV, help="Also write per-reviewer bias, noise and flags.")
@click.option("-o", "--output", type=_CSV, required=True)
def reviews_aggregate(reviews_csv, tutor_csv, scale, disagreement, reviewers_out, output):
    """Estimate each submission's score from its reviews, modelling reviewer bias and reliability."""
    table = read_table(reviews_csv, ("submission_id", "reviewer_id", "score"))
    anchors = read_table(tutor_csv, ("submission_id", "score")) if tutor_csv else None
    if scale and scale[0] >= scale[1]:
        raise UserError(f"--scale: the lowest score ({scale[0]:g}) must be below the highest ({scale[1]:g})")
    scale = tuple(scale) if scale else None
    try:
        aggregation.check_reviews(table, scale)
    except rosters.RosterError as err:
        raise _problems(reviews_csv, err) from None
    try:
        if anchors is not None:
            aggregation.check_tutor_scores(anchors, scale)
    except rosters.RosterError as err:
        raise _problems(tutor_csv, err) from None
    grades, reviewers = aggregation.aggregate_scores(table, anchors, scale=scale, disagreement=disagreement)
    outputs = [(grades, output)] + ([(reviewers, reviewers_out)] if reviewers_out else [])
    write_outputs(outputs, [reviews_csv, tutor_csv])
    _echo(quality.aggregation_summary(grades, reviewers))
    for row in reviewers[reviewers["flag"]].head(10).itertuples():
        click.echo(f"  reviewer {row.reviewer_id}: {row.reason}")
    click.echo(f"wrote {output}" + (f" and {reviewers_out}" if reviewers_out else ""))


@click.command()
@click.argument("mentees_csv", type=INPUT_FILE)
@click.argument("mentors_csv", type=INPUT_FILE, required=False)
@click.option("--alumni", is_flag=True,
              help="Also take as mentors the alumni in the cohort store's register who are "
                   "willing to mentor (2 mentees each; a mentor in MENTORS_CSV too keeps that row).")
@click.option("--state", type=click.Path(file_okay=False, path_type=Path),
              help="With --alumni: the cohort's state folder (as for `igcb cohort`).")
@click.option("--db", metavar="URL", help="With --alumni: the cohort store's database URL.")
@click.option("-o", "--output", type=_CSV, required=True)
def mentors(mentees_csv, mentors_csv, alumni, state, db, output):
    """Match mentees to mentors: shared language, other organisation, best topic fit.

    Mentors come from MENTORS_CSV (a roster with capacity), from the alumni register
    (--alumni), or both.
    """
    if mentors_csv is None and not alumni:
        raise UserError("give MENTORS_CSV, or --alumni to take mentors from the alumni register, or both")
    if (state or db) and not alumni:
        raise UserError("--state and --db name the store of the alumni register: give --alumni too")
    mentee_table = read_roster(mentees_csv)
    tables = [read_roster(mentors_csv, capacity=True)] if mentors_csv else []
    if alumni:
        from course.commands.evaluation import alumni_mentors  # it imports this module

        register = alumni_mentors(state, db)
        if tables:
            register = register[~register["id"].isin(set(tables[0]["id"]))]
            if "interests" in tables[0].columns:  # mentoring reads interests when there is the column
                register = register.assign(interests=register["expertise"])
        tables.append(register)
    mentor_table = pd.concat(tables, ignore_index=True).fillna("") if len(tables) > 1 else tables[0]
    if mentor_table.empty:
        raise UserError("no mentors: no one in the alumni register is willing to mentor")
    result = mentoring.match_mentors(mentee_table, mentor_table)
    greedy = mentoring.greedy_match(mentee_table, mentor_table)
    write_csv(result, output, [mentees_csv, mentors_csv])
    _echo(mentoring.mentor_summary(result, greedy))
    missing = result[result["mentor_id"] == ""]
    if len(missing):
        click.echo(f"  unmatched (no mentor with room, a shared language and another organisation): {', '.join(missing['mentee_id'].head(20))}")
    click.echo(f"wrote {output}")


COMMANDS = [roster, groups, tutors, rota, reviews, mentors]
