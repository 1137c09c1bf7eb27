"""`igcb report`: the cohort report (HTML and PDF) for one cohort or several.

The work is in course.cohort.report_data (reading a store) and course.evaluation.report
(statistics, plots, HTML, PDF); this module picks the stores and the plan, shows progress,
and writes the folder all or nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from course.cohort.db import sqlite_url
from course.cohort.report_data import read_cohort
from course.commands.output import safe_frame
from course.commands.store import cohort_session, open_cohort, store_options
from course.errors import UserError
from course.evaluation.instruments import instruments_path, load_plan_instruments
from course.evaluation.report import Cohort, Report, build_report, draw_figures, render_html
from course.printing import CHROMIUM, print_pdf
from course.layout import Layout
from course.modules import load_catalogue
from course.plans import find_plan, load_named_plan


def _progress(message: str) -> None:
    click.echo(message, err=True)


def store_url(given: str) -> str:
    """A database URL as given, or the SQLite store of a file or a state folder."""
    if "://" in given:
        return given
    path = Path(given)
    if path.is_dir():
        return sqlite_url(path)
    if not path.exists():
        raise UserError(f"--cohorts {given}: no such file or folder (give a database URL, a "
                        "cohort.sqlite file or a state folder)")
    return f"sqlite:///{path.resolve()}"


def cohort_label(url: str) -> str:
    """A short name for a store: its state folder (or file) name, or its database name."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    database = parsed.database or "memory"
    if parsed.get_backend_name() == "sqlite":
        path = Path(database)
        return path.parent.name if path.name == "cohort.sqlite" and path.parent.name else path.stem
    return database


def _unique(labels: list[str]) -> list[str]:
    out = []
    for label in labels:
        candidate, n = label, 1
        while candidate in out:
            n += 1
            candidate = f"{label} ({n})"
        out.append(candidate)
    return out


def read_cohorts(urls: list[str], plan_name: str | None) -> list[Cohort]:
    """Each store read in one transaction, with its plan (--plan, else the store's) and the
    plan's instruments."""
    layout = Layout.default()
    catalogue, _ = load_catalogue(layout.modules)
    labels = _unique([cohort_label(u) for u in urls])
    cohorts = []
    for n, (url, label) in enumerate(zip(urls, labels), start=1):
        _progress(f"report: reading cohort {n}/{len(urls)} ({label}) ...")
        store = open_cohort(None, url)
        with cohort_session(store) as session:
            data = read_cohort(session)
        name = plan_name or data.settings.get("plan")
        if not name:
            raise UserError(f"{label}: the cohort store has no plan: run `igcb cohort init --plan "
                            "PLAN` first, or give --plan")
        plan_file = find_plan(name, layout.plans)
        plan = load_named_plan(name, layout.plans)
        course = data.settings.get("course")
        if plan_name and course and course != plan.id:
            raise UserError(f"--plan {plan_name}: the cohort store {label} holds course "
                            f"{course!r}, not {plan.id!r}")
        cohort = Cohort(label=label, plan=plan, data=data)
        if instruments_path(plan_file).exists():
            cohort.instruments = load_plan_instruments(plan_file, plan, catalogue)
        else:
            cohort.problem = f"no file {instruments_path(plan_file)}"
        cohorts.append(cohort)
    return cohorts


def _check_folder(folder: Path, force: bool) -> Path:
    """The output folder's parent; refuses a non-empty folder unless --force, and a file."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder}: exists and is not a folder: choose a new folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise UserError(f"{folder}: exists and is not empty: choose a new folder, or give --force "
                        "to replace it")
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{folder}: folder {parent} does not exist")
    return parent


def write_report(report: Report, folder: Path, force: bool, pdf: bool, chromium: str = CHROMIUM) -> None:
    """index.html, report.pdf, plots/*.png and data/*.csv, written beside `folder` first and
    renamed into place only when all are written."""
    parent = _check_folder(folder, force)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
    except OSError as err:
        raise UserError(f"{folder}: cannot write in {parent} ({err.strerror})") from None
    try:
        mask = os.umask(0)
        os.umask(mask)
        tmp.chmod(0o777 & ~mask)  # mkdtemp's folder is private; the report is not
        (tmp / "plots").mkdir()
        (tmp / "data").mkdir()
        for figure in report.figures:
            (tmp / "plots" / f"{figure.name}.png").write_bytes(figure.png)
            safe_frame(figure.csv_frame()).to_csv(tmp / "data" / f"{figure.name}.csv", index=False)
        for table in report.tables:
            safe_frame(table.csv_frame()).to_csv(tmp / "data" / f"table-{table.name}.csv", index=False)
        (tmp / "index.html").write_text(render_html(report), encoding="utf-8")
        if pdf:
            _progress("report: printing the PDF with Chromium ...")
            _print(tmp / "index.html", tmp / "report.pdf", chromium)
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=parent))
            old.rmdir()
            folder.rename(old)
        tmp.rename(folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"{folder}: cannot write the report ({err.strerror or err})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _print(html: Path, pdf: Path, chromium: str) -> None:
    try:
        print_pdf(html, pdf, chromium)
    except FileNotFoundError:
        raise UserError(f"no Chromium at {chromium} to print the PDF: install Debian's chromium "
                        "(scripts/setup-venv.sh does), or give --no-pdf for the HTML alone") from None
    except Exception as err:  # Playwright's errors: the browser would not start or print
        if type(err).__module__.startswith("playwright"):
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"Chromium at {chromium} could not print the PDF ({first}): "
                            "give --no-pdf for the HTML alone") from None
        raise


@click.command("report")
@click.option("--cohorts", "several", is_flag=True,
              help="Report on the stores given as arguments (database URLs, cohort.sqlite files "
                   "or state folders), one cohort each, instead of --db/--state.")
@click.argument("stores", nargs=-1, metavar="[URL_OR_SQLITE_FILE]...")
@click.option("--plan", "plan_name", metavar="NAME", help="Course plan (default: the plan each store was initialised with).")
@click.option("-o", "--output", "folder", required=True, type=click.Path(path_type=Path),
              help="Folder to write: index.html, report.pdf, plots/, data/ (must be new or empty).")
@click.option("--pdf/--no-pdf", default=True, show_default=True, help="Also print report.pdf with Chromium.")
@click.option("--force", is_flag=True, help="Replace the output folder if it is not empty.")
@click.option("--chromium", default=CHROMIUM, show_default=True, metavar="PATH",
              help="The Chromium that prints the PDF.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Seed of the bootstrap intervals.")
@store_options
def report(several, stores, plan_name, folder, pdf, force, chromium, seed, state, db):
    """Write the cohort report: HTML, PDF, plots and their data.

    The funnel from enrolled to completed, completion and scores by stakeholder group, region
    and gender, knowledge gain, item analysis, self-assessment, reaction, peer review,
    facilitation, tutor load and alumni outcomes. Counts of fewer than five people are
    suppressed everywhere. With --cohorts, one report for several stores, e.g.

    \b
        igcb report --cohorts .hub/a postgresql+psycopg://host/b -o out
    """
    if stores and not several:
        raise UserError(f"{stores[0]}: give --cohorts to report on several stores")
    if several and not stores:
        raise UserError("--cohorts: name the stores (database URLs, SQLite files or state folders)")
    if several and (state or db):
        raise UserError("give --cohorts STORES or --db/--state, not both")
    _check_folder(folder, force)
    if pdf and not Path(chromium).exists():
        raise UserError(f"no Chromium at {chromium} to print the PDF: install Debian's chromium "
                        "(scripts/setup-venv.sh does), or give --no-pdf for the HTML alone")
    if several:
        urls = [store_url(s) for s in stores]
    else:
        store = open_cohort(state, db)
        urls = [store.engine.url.render_as_string(hide_password=False)]
        store.close()
    cohorts = read_cohorts(urls, plan_name)
    layout = Layout.default()
    catalogue, _ = load_catalogue(layout.modules)
    result = build_report(cohorts, catalogue, progress=_progress, seed=seed)
    draw_figures(result, progress=_progress)
    write_report(result, folder, force, pdf, chromium)
    click.echo(f"wrote {folder}/index.html" + (f" and {folder}/report.pdf" if pdf else "") +
               f": {len(result.sections)} sections, {len(result.figures)} plots, "
               f"{len(result.tables)} tables")


COMMANDS = [report]
