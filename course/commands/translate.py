"""`igcb translate ...`: message catalogues for a translated edition of the book (init, status)."""

from pathlib import Path

import click

from course import pages, translate
from course.check import load_checked_plan
from course.commands.output import print_table
from course.errors import UserError
from course.layout import Layout
from course.plans import DEFAULT_PLAN

PLAN_OPTION_HELP = "A shipped plan's name, or the path of a plan .yml file."


def _readable(path: Path, root: Path) -> str:
    """A path in the course repository, from the repository's root."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


@click.group("translate")
def translate_group():
    """Translate the book: gettext message catalogues in translations/<lang>/."""


@translate_group.command("init")
@click.option("--lang", required=True, help="The language to translate into (ISO 639-1, e.g. fr).")
@click.option("--plan", "plan_name", default=DEFAULT_PLAN, show_default=True,
              help=PLAN_OPTION_HELP)
def init(lang: str, plan_name: str):
    """Write or update the message catalogues of a plan's book: its generated pages (syllabus,
    schedule, module pages), its front pages and its modules' notebooks, one .po file per page
    in translations/LANG/LC_MESSAGES. Translations already made are kept."""
    lang = translate.check_language(lang)
    layout = Layout.default()
    plan, catalogue = load_checked_plan(plan_name, layout)
    modules = len(plan.module_ids)
    click.echo(f"Extracting the messages of the book of plan {plan.id!r} ({modules} "
               f"module{'' if modules == 1 else 's'}) with Sphinx's gettext builder")
    written = translate.init_catalogues(plan, catalogue, layout.book, lang)
    for item in written:
        counts = f"{item.counts.translated} of {item.counts.total} translated"
        if item.status == "created":
            detail = f"created, {item.counts.total} messages"
        elif item.status == "updated":
            detail = (f"updated: {item.added} new, {item.removed} no longer used (kept as "
                      f"obsolete), {counts}")
        else:
            detail = f"unchanged, {counts}"
        click.echo(f"  {_readable(item.path, layout.root)}: {detail}")
    overall = sum((item.counts for item in written), translate.Counts())
    folder = translate.catalogue_folder(layout.root, lang)
    click.echo(f"{len(written)} catalogues in {_readable(folder, layout.root)}: "
               f"{overall.percent}% of messages translated ({overall.translated} of "
               f"{overall.total}).")
    if overall.translated < overall.total:
        click.echo("Translate each msgstr (in a .po editor such as Poedit, or a text editor); "
                   "untranslated text appears in English.")
    click.echo(f"A plan with `language: {lang}` builds this edition: igcb book --plan {plan.id}")


@translate_group.command("status")
@click.option("--lang", default=None,
              help="The edition's language (ISO 639-1).  [default: the plan's language]")
@click.option("--plan", "plan_name", default=None,
              help=PLAN_OPTION_HELP + " Counts only its pages.  [default: every catalogue]")
def status(lang: str | None, plan_name: str | None):
    """How much of an edition is translated: overall, per page and per module."""
    layout = Layout.default()
    page_names = None
    if plan_name is not None:
        plan, catalogue = load_checked_plan(plan_name, layout)
        page_names = translate.book_pages(pages.table_of_contents(plan, catalogue))
        lang = lang or plan.language
    if lang is None:
        raise UserError("give --lang (e.g. --lang fr) or --plan")
    lang = translate.check_language(lang)
    folder = translate.catalogue_folder(layout.root, lang)
    if not translate.catalogue_files(folder):
        raise UserError(f"--lang {lang!r}: no message catalogue in "
                        f"{_readable(folder, layout.root)}: run "
                        f"`igcb translate init --lang {lang} --plan <plan>` first")
    counts = translate.page_counts(folder, page_names)
    print_table(["catalogue", "translated", "messages", "share"],
                translate.status_rows(counts))
    click.echo(translate.edition_summary(lang, counts))


COMMANDS = [translate_group]
