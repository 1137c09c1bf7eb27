"""The `igcb` command: a thin edge over the `course` and `peer_review` packages.

Each area's commands live in `course/commands/<area>.py` and are registered here.
User errors (course.errors.UserError) end with exit status 2 and one message, never a traceback.
"""

import sys

import click

from course.errors import UserError


class Group(click.Group):
    """A click group that turns UserError into a clean exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(2)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="igcb")
def main():
    """igcb: Internet Governance capacity building on the Jupyter stack.

    Build the course book from a course plan, check modules and plans,
    and run cohorts (study groups, tutors, peer facilitation, peer review).
    """


def _register() -> None:
    from course.commands import (catalogue, cohort, compendium, evaluation, exchanges, fellowships,
                                 grading, hub, mail, report, rounds, store, translate)

    for area in (catalogue, grading, cohort, hub, store, rounds, mail, evaluation, report,
                 compendium, fellowships, exchanges, translate):
        for command in area.COMMANDS:
            main.add_command(command)


_register()
