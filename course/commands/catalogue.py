"""Commands over the curriculum: modules, plans, check, book."""

import re
from pathlib import Path

import click

from course.book import build_book
from course.check import check_course, load_checked_plan
from course.commands.output import print_table
from course.errors import UserError
from course.layout import Layout
from course.modules import SLUG, load_catalogue
from course.plans import DEFAULT_PLAN, load_plan, plan_path, shipped_plans


def _layout() -> Layout:
    return Layout.default()


@click.command()
def modules():
    """List the modules: id, title, level, hours, topics, assessment."""
    catalogue, problems = load_catalogue(_layout().modules)
    if problems:
        raise UserError.from_problems(problems)
    rows = [[e.module.id, e.module.title, e.module.level.value, f"{e.module.duration:g}",
             ", ".join(e.module.topics), e.module.assessment or "none"]
            for e in catalogue.values()]
    print_table(["id", "title", "level", "hours", "topics", "assessment"], rows)


@click.command()
def check():
    """Validate every module and plan; exit 2 listing every problem."""
    layout = _layout()
    problems = check_course(layout)
    if problems:
        raise UserError.from_problems(problems)
    catalogue, _ = load_catalogue(layout.modules)
    click.echo(f"ok: {len(catalogue)} modules and {len(shipped_plans(layout.plans))} plans")


@click.command()
def plans():
    """List the shipped course plans."""
    layout = _layout()
    rows = []
    for path in shipped_plans(layout.plans):
        plan, problems = load_plan(path)
        if problems:
            raise UserError.from_problems(problems)
        default = " (default)" if plan.id == DEFAULT_PLAN else ""
        rows.append([plan.id + default, plan.format.value, str(len(plan.sessions)),
                     str(len(plan.module_ids)), plan.title])
    print_table(["plan", "format", "sessions", "modules", "title"], rows)


@click.command("new-plan")
@click.argument("name")
@click.option("--from", "source", default=DEFAULT_PLAN, show_default=True,
              help="The plan to copy.")
def new_plan(name: str, source: str):
    """Copy a plan as NAME (course/plans/NAME.yml) for an institution to adapt."""
    layout = _layout()
    if not re.fullmatch(SLUG, name):
        raise UserError(f"plan name {name!r}: use lower-case letters (a-z), digits and single "
                        "dashes between them, e.g. my-course-2027")
    source_path = plan_path(source, layout.plans)
    if not source_path.is_file():
        raise UserError(f"plan {source!r} not found")
    plan, problems = load_plan(source_path)
    if problems:
        raise UserError.from_problems(problems)
    target = layout.plans / f"{name}.yml"
    if target.exists():
        raise UserError(f"{target} already exists: choose another name or edit it")
    text = source_path.read_text(encoding="utf-8")
    text = text.replace(f"id: {plan.id}\n", f"id: {name}\n", 1)
    target.write_text(text, encoding="utf-8")
    click.echo(f"Wrote {target}: edit its title, start date, sessions and modules, "
               f"then run `igcb check` and `igcb book --plan {name}`.")


@click.command()
@click.option("--plan", "plan_name", default=DEFAULT_PLAN, show_default=True,
              help="A shipped plan's name, or the path of a plan .yml file.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Build folder; the HTML goes to OUT/_build/html.  [default: book]")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Notebook execution cache, which builds of several plans may share.  "
                   "[default: OUT/_build/.jupyter_cache]")
@click.option("--strict", is_flag=True, help="Treat Sphinx warnings as errors.")
def book(plan_name: str, out: Path | None, cache: Path | None, strict: bool):
    """Build the course book for a plan."""
    layout = _layout()
    plan, catalogue = load_checked_plan(plan_name, layout)
    index = build_book(plan, catalogue, layout.book, out or layout.book, strict=strict,
                       cache=cache)
    click.echo(f"The book is ready: {index}")


COMMANDS = [modules, check, plans, new_plan, book]
