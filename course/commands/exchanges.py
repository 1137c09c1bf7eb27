"""`igcb exchanges ...`: match candidates to host organisations for exchanges and internships."""

from __future__ import annotations

from pathlib import Path

import click

from course.commands.cohort import INPUT_FILE, _echo, read_table
from course.commands.output import SEED, write_csv
from course.errors import Problem, UserError
from peer_review import exchanges as matching
from peer_review.roster import RosterError


def read_checked(path: Path, validate):
    """A CSV file read and validated; every problem (file, row, column) ends in UserError."""
    frame = read_table(path)
    try:
        return validate(frame)
    except RosterError as err:
        raise UserError.from_problems([Problem(path, str(p)) for p in err.problems]) from None


@click.group()
def exchanges():
    """Exchanges and internships: match candidates to host organisations."""


@exchanges.command("match")
@click.argument("candidates_csv", type=INPUT_FILE)
@click.argument("hosts_csv", type=INPUT_FILE)
@click.option("--seed", default=0, show_default=True, type=SEED, help="Decides between equally good matches.")
@click.option("--other-country", is_flag=True, help="Never a host in the candidate's own country.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def match(candidates_csv, hosts_csv, seed, other_country, output):
    """Place candidates with hosts: as many as possible, then the best total fit.

    CANDIDATES_CSV is a roster with optional interests, preferred_regions, months
    (availability, e.g. jun-aug) and experience (years). HOSTS_CSV has id, organisation,
    country, region, stakeholder_group, capacity, languages (a candidate must speak one),
    and optional topics, months offered and requirements, e.g.
    `groups=civil_society|academia; languages=fr; topics=dns; min_experience=2`.
    A candidate never goes to their own organisation, nor to a host whose months offered
    share none with their availability (when both give months). The fit is compared with a
    greedy match (each candidate in turn to the best host with room).
    """
    tables, errors = [], []
    for path, validate in ((candidates_csv, matching.validate_candidates), (hosts_csv, matching.validate_hosts)):
        try:
            tables.append(read_checked(path, validate))
        except UserError as err:
            errors.append(str(err))
    if errors:
        raise UserError("\n".join(errors))
    candidates, hosts = tables
    result = matching.match_exchanges(candidates, hosts, seed=seed, other_country=other_country)
    greedy = matching.greedy_exchanges(candidates, hosts, other_country=other_country)
    write_csv(result, output, [candidates_csv, hosts_csv])
    _echo(matching.exchange_summary(result, greedy))
    click.echo(f"wrote {output}")


COMMANDS = [exchanges]
