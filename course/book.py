"""`igcb book`: stage a plan's book sources and build them with Jupyter Book.

The sources are staged in `OUT/_build/source` (front pages from `book/`, generated pages, and
the plan's module folders), writing only files whose content changed, so Sphinx and the
execution cache (`OUT/_build/.jupyter_cache`) redo only what an edit touched.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import click
import yaml

import nbformat

from course import compendium, ical, pages, translate
from course import lite, takeaway
from course.errors import UserError
from course.launch import launch_link
from course.modules import CatalogueEntry
from course.plans import Plan


EXTRA = "_extra"  # staged files Sphinx copies unchanged to the root of the HTML


def book_config(base: dict, plan: Plan, cache: Path, locale: Path | None = None,
                downloads: bool = False) -> dict:
    """The book's `_config.yml`: `book/_config.yml` with the plan's title, language and cache,
    and the translated edition's message catalogues (`locale`, see course/translate.py).
    With `downloads`, the front page links to the book's PDF and zip (course/takeaway.py)."""
    config = yaml.safe_load(yaml.safe_dump(base))  # a deep copy
    config["title"] = plan.title
    execute = config.setdefault("execute", {})
    execute["execute_notebooks"] = "cache"
    execute["cache"] = str(cache)
    parse = config.setdefault("parse", {})
    parse.setdefault("myst_substitutions", {}).update(
        plan_title=plan.title, plan_audience=plan.audience, plan_id=plan.id,
        plan_start=translate.long_date(plan.start, plan.language),
        plan_downloads=takeaway.front_page_note(plan.id) if downloads else "")
    sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
    sphinx["language"] = plan.language
    sphinx["gettext_compact"] = False  # a message catalogue per page: translations/<lang>/
    if locale is not None:
        sphinx["locale_dirs"] = [str(locale)]
        extensions = config["sphinx"].setdefault("extra_extensions", [])
        extensions.append("course.translate")  # translates the captions of the contents too
    # Files copied as they are to the root of the HTML: the plan's calendar, beside schedule.html.
    sphinx["html_extra_path"] = list(dict.fromkeys([*sphinx.get("html_extra_path", []), EXTRA]))
    return config


def lab_links(plan: Plan, entry: CatalogueEntry, repo_root: Path) -> dict[str, str]:
    """Each lab of the module and the link that opens it in the plan's hub (none without a hub)."""
    if plan.hub is None:
        return {}
    folder = entry.folder.resolve().relative_to(repo_root.resolve()).as_posix()
    return {name: launch_link(plan.hub, f"{folder}/{name}") for name in entry.module.labs}


def with_notes(notebook: bytes, notes: list[str]) -> bytes:
    """The notebook with a markdown cell of `notes` after its title cell (markdown only: the
    execution cache keys on code, so the notes do not cause re-execution)."""
    parsed = nbformat.reads(notebook.decode("utf-8"), as_version=4)
    parsed.cells.insert(1, nbformat.v4.new_markdown_cell("\n\n".join(notes)))
    return nbformat.writes(parsed).encode("utf-8")


def browser_labs(module_id: str, decisions: dict[str, lite.Decision]) -> dict:
    """A module's labs for its page when the book has the no-server labs: (link, compiled
    packages from the CDN) for a lab that runs in the browser, (None, missing imports) if not."""
    return {name: (lite.lite_link(module_id, name), d.from_cdn) if d.runs else (None, d.missing)
            for name, d in decisions.items()}


def lab_notes(plan_links: dict[str, str], module_id: str,
              decisions: dict[str, lite.Decision]) -> dict[str, list[str]]:
    """The notes put at the top of each lab of a module: the hub's link, and the browser's
    link or the hub-only note."""
    notes: dict[str, list[str]] = {}
    for name, link in plan_links.items():
        notes.setdefault(name, []).append(pages.launch_cell(link))
    for name, decision in decisions.items():
        notes.setdefault(name, []).append(
            pages.browser_cell(lite.lite_link(module_id, name), decision.from_cdn)
            if decision.runs else pages.hub_only_cell(decision.missing))
    return notes


def compendium_records(repo_root: Path, catalogue: dict[str, CatalogueEntry]) -> list:
    """The compendium's records (`compendium/` beside `book/`), or a UserError listing every
    problem in them."""
    problems = compendium.check_compendium(repo_root / compendium.FOLDER,
                                           compendium.topic_vocabulary(catalogue))
    if problems:
        raise UserError.from_problems(problems)
    records, _ = compendium.load_compendium(repo_root / compendium.FOLDER)
    return [record for _, record in records]


def staged_files(plan: Plan, catalogue: dict[str, CatalogueEntry], book_dir: Path,
                 cache: Path, locale: Path | None = None,
                 browser: dict[str, dict[str, lite.Decision]] | None = None,
                 downloads: bool = False) -> dict[str, bytes]:
    """Every file of the book's source tree, by relative path. `browser` holds, by module and
    lab, whether each lab runs in the browser (given when the no-server labs are built)."""
    browser = browser or {}
    base = yaml.safe_load((book_dir / "_config.yml").read_text(encoding="utf-8")) or {}
    repo_root = book_dir.parent
    records = compendium_records(repo_root, catalogue)
    config = "# Written by `igcb book` from book/_config.yml and the course plan.\n" + \
        yaml.safe_dump(book_config(base, plan, cache, locale, downloads), sort_keys=False,
                       allow_unicode=True)
    texts = {
        "_config.yml": config,
        "_toc.yml": pages.table_of_contents(plan, catalogue),
        "syllabus.md": pages.syllabus(plan, catalogue),
        "schedule.md": pages.schedule(plan, catalogue),
        f"{pages.COMPENDIUM_PAGE}.md": pages.compendium_page(
            records, compendium.topic_vocabulary(catalogue)),
    }
    links = {m: lab_links(plan, catalogue[m], repo_root) for m in plan.module_ids}
    for module_id in plan.module_ids:
        texts[pages.module_page_path(module_id) + ".md"] = pages.module_page(
            catalogue[module_id], catalogue, links[module_id], records,
            browser_labs(module_id, browser.get(module_id, {})))
    files = {name: text.encode("utf-8") for name, text in texts.items()}
    files[f"{EXTRA}/{ical.file_name(plan)}"] = ical.plan_calendar(plan, catalogue)
    for path in sorted(book_dir.glob("*.md")):
        files.setdefault(path.name, path.read_bytes())
    static = book_dir / "_static"  # the book's own scripts and styles (the compendium's)
    for path in sorted(static.rglob("*")) if static.is_dir() else []:
        if path.is_file() and not _ignored(path.relative_to(static)):
            files[f"_static/{path.relative_to(static).as_posix()}"] = path.read_bytes()
    for module_id in plan.module_ids:
        folder = catalogue[module_id].folder
        notes = lab_notes(links[module_id], module_id, browser.get(module_id, {}))
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and not _ignored(relative):
                content = path.read_bytes()
                if relative.as_posix() in notes:
                    content = with_notes(content, notes[relative.as_posix()])
                files[f"modules/{module_id}/{relative.as_posix()}"] = content
    return files


def _ignored(relative: Path) -> bool:
    return any(part.startswith(".") or part in ("__pycache__", "_build") for part in relative.parts) \
        or relative.name == "module.yml"


def sync_tree(target: Path, files: dict[str, bytes]) -> list[str]:
    """Make `target` hold exactly `files`, touching only what differs; return what changed."""
    changed = []
    for name, content in files.items():
        path = target / name
        if path.is_file() and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        changed.append(name)
    if target.is_dir():
        for path in sorted(target.rglob("*"), reverse=True):
            relative = path.relative_to(target).as_posix()
            if path.is_file() and relative not in files:
                path.unlink()
                changed.append(relative)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return changed


def build_book(plan: Plan, catalogue: dict[str, CatalogueEntry], book_dir: Path, out: Path,
               strict: bool = False, cache: Path | None = None, browser: bool = False,
               downloads: bool = False, chromium: str = takeaway.CHROMIUM) -> Path:
    """Stage and build the plan's book into `out`; return the path of `index.html`.

    With `browser`, also build the no-server labs (a JupyterLite site, course/lite.py) into
    the HTML's `lite/` folder, and link each lab page to it. With `downloads`, also write the
    whole book as a PDF (printed with `chromium`) and the pages as a zip beside them, linked
    from the front page (course/takeaway.py).

    `cache` is the execution cache (default `out/_build/.jupyter_cache`); builds of several
    plans may share one, so each notebook is executed once.
    """
    out = out.resolve()
    build = out / "_build"
    source = build / "source"
    cache = cache.resolve() if cache else build / ".jupyter_cache"
    click.echo(f"[1/2] Writing the book's pages for plan {plan.id!r} "
               f"({len(plan.module_ids)} modules) to {source}")
    locale = translate.stage_catalogues(plan, catalogue, book_dir.parent, build / "locale")
    labs = lite.plan_labs(plan, catalogue, lite.site_offer()) if browser else []
    decisions: dict[str, dict[str, lite.Decision]] = {}
    for lab in labs:
        decisions.setdefault(lab.module_id, {})[lab.name] = lab.decision
    changed = sync_tree(source, staged_files(plan, catalogue, book_dir, cache, locale,
                                             decisions, downloads))
    click.echo(f"      {len(changed)} file(s) changed since the last build")
    click.echo("[2/2] Running Jupyter Book (notebooks are executed once and cached)")
    command = [jupyter_book_command(), "build", str(source), "--path-output", str(out)]
    if strict:
        command += ["-W", "-n", "--keep-going"]
    result = subprocess.run(command)
    if result.returncode != 0:
        raise UserError(f"the book did not build (jupyter-book exit status {result.returncode}); "
                        f"see the messages above, and the execution reports in "
                        f"{build / 'html' / 'reports'}")
    if browser:
        click.echo("[+] Building the labs that run in the browser (JupyterLite, Pyodide)")
        site = lite.build_lite(labs, catalogue, build / "lite", build / "html" / lite.FOLDER)
        click.echo(f"      the labs' site is ready: {site / lite.APP / 'index.html'}")
    if downloads:
        click.echo("[+] Making the book to take away: a PDF of the whole book, a zip of its pages")
        sizes = takeaway.make_downloads(plan.id, jupyter_book_command(), source, build, chromium,
                                        progress=click.echo)
        click.echo("      " + ", ".join(f"{name} ({size / 2**20:.1f} MiB)"
                                        for name, size in sizes.items()))
    if locale is not None:
        pages = translate.book_pages((source / "_toc.yml").read_text(encoding="utf-8"))
        click.echo(translate.built_summary(plan.language, locale, pages))
    return build / "html" / "index.html"


def venv_command(name: str, package: str) -> str:
    """The `name` command beside this Python (the venv's), else the one on PATH; a UserError
    naming `package` when neither is there."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise UserError(f"{package} is not installed: run `make book` or "
                        "`pip install -e .` in the repository")
    return found


def jupyter_book_command() -> str:
    """The `jupyter-book` beside this Python (the venv's), else the one on PATH."""
    return venv_command("jupyter-book", "jupyter-book")
