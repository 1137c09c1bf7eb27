"""`igcb fellowships ...`: review fellowship applications with a panel, and select fellows.

File I/O lives here; the algorithms are in peer_review.fellowship_review and peer_review.selection.
"""

from __future__ import annotations

import datetime
from importlib import resources
from pathlib import Path

import click
import pandas as pd

from course.commands.cohort import INPUT_FILE, _count_rows, _echo, _progress, read_table
from course.commands.output import SEED, FiniteFloat, write_csv, write_outputs
from course.errors import Problem, UserError
from course.yamlfile import load_yaml
from peer_review import allocation, fellowship_review as review, selection
from peer_review.roster import RosterError, read_csv_bytes

_CSV = click.Path(dir_okay=False, path_type=Path)


def _refuse(path: Path, err: RosterError) -> UserError:
    return UserError.from_problems([Problem(path, str(p)) for p in err.problems])


def read_applications(path: Path) -> pd.DataFrame:
    """Applications: a roster with statement, prior_participation, support_needed and cost."""
    frame = read_table(path)
    try:
        return review.check_applications(frame)
    except RosterError as err:
        raise _refuse(path, err) from None


def _checked(path: Path, check, *args, required: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = read_table(path, required)
    try:
        return check(frame, *args)
    except RosterError as err:
        raise _refuse(path, err) from None


def country_groups(path: Path | None) -> pd.DataFrame:
    """The UN LDC, LLDC and SIDS lists shipped in peer_review/data (or the committee's own file)."""
    if path is not None:
        return _checked(path, selection.check_country_groups)
    source = resources.files("peer_review") / "data" / "country_groups.csv"
    return selection.check_country_groups(read_csv_bytes(source.read_bytes()))


def read_targets(path: Path) -> list[selection.Target]:
    data, problems = load_yaml(path)
    if problems:
        raise UserError.from_problems(problems)
    try:
        return selection.parse_targets(data)
    except selection.TargetError as err:
        raise UserError.from_problems([Problem(path, p) for p in err.problems]) from None


@click.group()
def fellowships():
    """Fellowships: a panel reviews the applications, its scores become merit, and the
    committee selects fellows within seats, budget and its diversity targets."""


@fellowships.command("review")
@click.argument("applications_csv", type=INPUT_FILE)
@click.option("--panel", "panel_csv", type=INPUT_FILE, required=True,
              help="The panel: a roster (optionally with `capacity`, applications a panellist can score).")
@click.option("-k", "k", default=3, show_default=True, type=click.IntRange(1, 20), help="Panellists per application.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("-o", "--output", type=_CSV, required=True, help="The panel's tasks (CSV, with an empty score column).")
def review_command(applications_csv, panel_csv, k, seed, output):
    """Give every application k panellists (the panel's tasks).

    Never a panellist of the applicant's organisation or country; across stakeholder groups
    wherever possible; loads as even as the rules allow (or within a `capacity` column).
    Applications are read in their `language` column's language, else the applicant's first.
    """
    apps = read_applications(applications_csv)
    panel = _checked(panel_csv, review.check_panel, apps)
    try:
        tasks = review.allocate_panel(apps, panel, k=k, seed=seed)
    except RosterError as err:
        raise _refuse(applications_csv, err) from None
    except allocation.AllocationError as err:
        message = str(err).replace("submission", "application").replace("reviewer", "panellist").replace("author", "applicant")
        raise UserError(f"{applications_csv}: {message}") from None
    write_csv(tasks, output, [applications_csv, panel_csv])
    _echo(review.panel_summary(review.panel_quality(tasks, apps, panel, k)))
    click.echo(f"wrote {output}: each panellist fills in the score column")


@fellowships.command("score")
@click.argument("scores_csv", type=INPUT_FILE)
@click.option("--applications", "applications_csv", type=INPUT_FILE,
              help="The applications: scores must name them, and those left unscored are listed.")
@click.option("--scale", nargs=2, type=FiniteFloat(), help="Lowest and highest possible score (default: the range seen).")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the model's sampler.")
@click.option("--panel-out", type=_CSV, help="Also write each panellist's bias, noise and flags.")
@click.option("-o", "--output", type=_CSV, required=True, help="Merit per application (CSV).")
def score_command(scores_csv, applications_csv, scale, seed, panel_out, output):
    """Merit per application from the panel's scores.

    SCORES_CSV has application_id, panellist_id and score (the tasks `review` wrote, filled in).
    Each panellist's bias and reliability are modelled (as for peer review); each application
    gets its merit, a 90% interval and flags.
    """
    if scale and scale[0] >= scale[1]:
        raise UserError(f"--scale: the lowest score ({scale[0]:g}) must be below the highest ({scale[1]:g})")
    scale = tuple(scale) if scale else None
    apps = read_applications(applications_csv) if applications_csv else None
    table = read_table(scores_csv, ("application_id", "panellist_id", "score"))
    try:
        merit, panellists = review.aggregate_panel(table, apps, scale=scale, seed=seed)
    except RosterError as err:
        raise _refuse(scores_csv, err) from None
    outputs = [(merit, output)] + ([(panellists, panel_out)] if panel_out else [])
    write_outputs(outputs, [scores_csv, applications_csv])
    click.echo(f"{len(merit)} applications scored from {int(merit['n_scores'].sum())} scores; "
               f"{int(merit['flag'].sum())} flagged (scores disagree or the interval is wide), "
               f"{int(panellists['flag'].sum())} panellists flagged")
    for row in panellists[panellists["flag"]].head(10).itertuples():
        click.echo(f"  panellist {row.panellist_id}: {row.reason}")
    if apps is not None:
        missing = review.unscored(merit, apps)
        if missing:
            click.echo(f"not scored yet ({len(missing)}): {', '.join(missing[:20])}" + (" ..." if len(missing) > 20 else ""))
    click.echo(f"wrote {output}" + (f" and {panel_out}" if panel_out else ""))


@fellowships.command("select")
@click.argument("applications_csv", type=INPUT_FILE)
@click.option("--merit", "merit_csv", type=INPUT_FILE, required=True,
              help="Merit per application (id, merit; low and high if known), e.g. from `igcb fellowships score`.")
@click.option("--seats", type=click.IntRange(1, None), required=True, help="Fellowships to award (at most).")
@click.option("--budget", type=FiniteFloat(min=0), required=True, help="Money for the fellows' support (the applications' currency).")
@click.option("--targets", "targets_yml", type=INPUT_FILE, help="The committee's diversity targets (YAML).")
@click.option("--alumni", "alumni_csv", type=INPUT_FILE,
              help="The alumni register (e.g. `igcb alumni export`): applicants who followed through get a bonus.")
@click.option("--follow-through-bonus", default=selection.DEFAULT_BONUS, show_default=True, type=FiniteFloat(min=0),
              help="Merit points added for full follow-through (with --alumni).")
@click.option("--country-groups", "groups_csv", type=INPUT_FILE,
              help="Your own LDC/LLDC/SIDS list (country,ldc,lldc,sids) instead of the UN lists shipped.")
@click.option("--year", type=click.IntRange(1900, 2200), help="Year of the selection, for youth targets (default: this year).")
@click.option("--time-limit", default=30.0, show_default=True, type=FiniteFloat(min=1), metavar="SECONDS",
              help="Stop the solver after this long; the answer then states its gap to the best possible.")
@click.option("--no-target-costs", is_flag=True, help="Skip pricing each target (one extra solve per target).")
@click.option("-o", "--output", type=_CSV, required=True, help="Every applicant: selected, merit, cost, reasons (CSV).")
def select_command(applications_csv, merit_csv, seats, budget, targets_yml, alumni_csv, follow_through_bonus,
                   groups_csv, year, time_limit, no_target_costs, output):
    """Select fellows: the most merit within seats, budget and targets.

    Exact (OR-Tools CP-SAT): proven optimal, or the gap stated. Reports what each target costs
    in merit, and writes for every applicant why they were or were not chosen.
    """
    progress = _progress(_count_rows(applications_csv))
    apps = read_applications(applications_csv)
    merit = _checked(merit_csv, selection.check_merit, apps)
    targets = read_targets(targets_yml) if targets_yml else []
    alumni = _checked(alumni_csv, selection.check_alumni) if alumni_csv else None
    groups = country_groups(groups_csv)
    try:
        result = selection.select_fellows(
            apps, merit, seats, budget, targets, groups, year=year or datetime.date.today().year, alumni=alumni,
            bonus=follow_through_bonus if alumni is not None else 0.0, time_limit=time_limit,
            target_costs=not no_target_costs, progress=progress)
    except selection.BudgetTooSmall as err:
        raise UserError(f"--budget: {err}") from None
    except selection.NoSelection as err:  # InfeasibleTargets, or no selection found in time
        raise UserError(f"{targets_yml or applications_csv}: {err}") from None
    write_csv(result.table, output, [applications_csv, merit_csv, targets_yml, alumni_csv, groups_csv])
    _echo(selection.selection_summary(result))
    click.echo(f"wrote {output}")


COMMANDS = [fellowships]
