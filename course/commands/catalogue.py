"""Commands over the curriculum: modules, plans, check, book."""

import contextlib
import os
import re
import tempfile
from pathlib import Path

import click

from course.book import build_book
from course.check import check_course, load_checked_plan
from course.commands.output import print_table
from course.errors import UserError
from course.evaluation.instruments import instruments_path, load_instruments
from course.layout import Layout
from course.modules import SLUG, load_catalogue
from course.plans import DEFAULT_PLAN, load_plan, plan_path, shipped_plans
from course.printing import CHROMIUM
from course.yamlfile import parse_yaml


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
    """Copy a plan as NAME (course/plans/NAME.yml) for an institution to adapt, with its
    evaluation instruments (course/plans/evaluation/NAME.yml) if it has them."""
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
    files = [(target, text.replace(f"id: {plan.id}\n", f"id: {name}\n", 1))]
    source_evaluation = instruments_path(source_path)
    if source_evaluation.exists():
        target_evaluation = instruments_path(target)
        if target_evaluation.exists():
            raise UserError(f"{target_evaluation} already exists: choose another name or "
                            "remove it")
        files.append((target_evaluation, _evaluation_copy(source_evaluation, name)))
    _write_all(files)
    click.echo(f"Wrote {target}: edit its title, start date, sessions and modules, "
               f"then run `igcb check` and `igcb book --plan {name}`.")
    if len(files) > 1:
        click.echo(f"Wrote {files[1][0]}: the evaluation instruments, copied from "
                   f"{source_evaluation}; adapt them to the new plan's modules and dates.")


def _evaluation_copy(path: Path, name: str) -> str:
    """The text of an instruments file with its `plan:` set to name (comments kept)."""
    instruments, problems = load_instruments(path)
    if problems:
        raise UserError.from_problems(problems)
    text = path.read_text(encoding="utf-8-sig")
    pattern = rf"^plan:[ \t]*(['\"]?){re.escape(instruments.plan)}\1[ \t]*$"
    copy = re.sub(pattern, f"plan: {name}", text, count=1, flags=re.MULTILINE)
    if parse_yaml(copy).get("plan") != name:
        raise UserError(f"{path}: cannot find its `plan: {instruments.plan}` line to change; "
                        "write it on a line of its own")
    return copy


def _write_all(files: list[tuple[Path, str]]) -> None:
    """Write every file or none: each to a temporary file beside it, then all renamed."""
    written: list[tuple[str, Path]] = []
    placed: list[Path] = []
    made: list[Path] = []
    umask = os.umask(0)
    os.umask(umask)
    try:
        for path, text in files:
            if not path.parent.is_dir():
                path.parent.mkdir()
                made.append(path.parent)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            written.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(fd, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
                handle.write(text)
        for tmp, path in written:
            os.replace(tmp, path)
            placed.append(path)
    except OSError as err:
        for path in placed:
            path.unlink(missing_ok=True)
        for tmp, _ in written:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        names = ", ".join(str(path) for path, _ in files)
        raise UserError(f"cannot write {names}: {err.strerror or err}") from None
    finally:
        for tmp, _ in written:
            if os.path.exists(tmp):
                os.unlink(tmp)


@click.command()
@click.option("--plan", "plan_name", default=DEFAULT_PLAN, show_default=True,
              help="A shipped plan's name, or the path of a plan .yml file.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Build folder; the HTML goes to OUT/_build/html.  [default: book]")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Notebook execution cache, which builds of several plans may share.  "
                   "[default: OUT/_build/.jupyter_cache]")
@click.option("--strict", is_flag=True, help="Treat Sphinx warnings as errors.")
@click.option("--lite", is_flag=True,
              help="Also build the labs that run in the browser with no server (a JupyterLite "
                   "site in OUT/_build/html/lite, about 50 MB) and link each lab page to it.")
@click.option("--downloads/--no-downloads", default=True, show_default=True,
              help="Also write the whole book as a PDF and its pages as a zip, linked from the "
                   "front page (the PDF is printed with Chromium).")
@click.option("--chromium", default=CHROMIUM, show_default=True, metavar="PATH",
              help="The Chromium that prints the PDF.")
def book(plan_name: str, out: Path | None, cache: Path | None, strict: bool, lite: bool,
         downloads: bool, chromium: str):
    """Build the course book for a plan."""
    layout = _layout()
    plan, catalogue = load_checked_plan(plan_name, layout)
    index = build_book(plan, catalogue, layout.book, out or layout.book, strict=strict,
                       cache=cache, browser=lite, downloads=downloads, chromium=chromium)
    click.echo(f"The book is ready: {index}")


COMMANDS = [modules, check, plans, new_plan, book]
