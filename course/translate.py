"""Translated editions of the book: Sphinx's gettext route, with sphinx-intl's catalogues.

`igcb translate init --lang fr --plan P` stages the plan's book sources as `igcb book` does,
runs Sphinx's gettext builder on them (one message catalogue per page: `gettext_compact` is
off) and updates the catalogues in `translations/fr/LC_MESSAGES/` at the repository's root the
way `sphinx-intl update` does: new messages are added, translated ones are kept, messages that
changed a little keep their old translation marked fuzzy, and messages no longer used are kept
at the end of the file as obsolete (and come back if the text returns).

A plan with `language: fr` builds the French edition: `igcb book` copies the catalogues to the
build folder (Sphinx compiles them there, never in the repository) and gives Sphinx their
folder as `locale_dirs`. A message with no translation, or a fuzzy one, shows in English. The
build counts what its pages show translated (this module is also the Sphinx extension that
does it); `igcb translate status` counts what the catalogues hold.
"""

import datetime as dt
import io
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import babel
import babel.dates
import pycountry
import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from sphinx_intl import catalog as po

from course import book
from course.pages import language_name
from course.errors import UserError
from course.modules import CatalogueEntry
from course.plans import Plan

SOURCE_LANGUAGE = "en"  # the language the modules and the generated pages are written in
FOLDER = "translations"  # at the repository's root: translations/<lang>/LC_MESSAGES/**.po
LINE_WIDTH = 76  # sphinx-intl's


def long_date(date: dt.date, lang: str) -> str:
    """A date written out in the language, e.g. '15 February 2027', '15 février 2027'."""
    try:
        return babel.dates.format_date(date, "dd MMMM y", locale=lang)
    except (babel.UnknownLocaleError, ValueError):
        return babel.dates.format_date(date, "dd MMMM y", locale=SOURCE_LANGUAGE)


def check_language(code: str) -> str:
    """A language code for a translation (ISO 639-1, not the source language), or a
    UserError saying what is expected."""
    if not re.fullmatch(r"[a-z]{2}", code) or pycountry.languages.get(alpha_2=code) is None:
        raise UserError(f"--lang {code!r}: not an ISO 639-1 language code; give two lower-case "
                        "letters, e.g. fr (French), es (Spanish), ar (Arabic), pt (Portuguese)")
    if code == SOURCE_LANGUAGE:
        raise UserError(f"--lang {code!r}: the book is written in English; give the language "
                        "to translate it into, e.g. fr")
    return code


def catalogue_folder(root: Path, lang: str) -> Path:
    """Where the catalogues of one language live: translations/<lang>/LC_MESSAGES."""
    return root / FOLDER / lang / "LC_MESSAGES"


def catalogue_files(folder: Path) -> dict[str, Path]:
    """The .po files under a LC_MESSAGES folder, by domain (the page's name, e.g.
    `modules/what-is-ig/reading`)."""
    if not folder.is_dir():
        return {}
    return {path.relative_to(folder).with_suffix("").as_posix(): path
            for path in sorted(folder.rglob("*.po")) if path.is_file()}


def book_pages(toc_text: str | bytes) -> list[str]:
    """The pages of a staged book, from its `_toc.yml`, in reading order: each page's catalogue
    domain, since `gettext_compact` is off."""
    toc = yaml.safe_load(toc_text)
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections", []))
            walk(entry.get("chapters", []))

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return list(dict.fromkeys(pages))


# --- counting what is translated ---------------------------------------------------------------

LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Counts:
    translated: int = 0
    total: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.translated + other.translated, self.total + other.total)

    @property
    def percent(self) -> int:
        """The share translated, rounded down (100 only when everything is translated)."""
        return 100 * self.translated // self.total if self.total else 100


def needs_translation(msgid: str) -> bool:
    """Messages with no letter in them (a number, a dash, "#") read the same in any language."""
    return bool(LETTER.search(msgid))


def count(catalog: Catalog) -> Counts:
    """The catalogue's messages that need translating, and those translated (a fuzzy
    translation does not count: Sphinx does not use it, the English shows)."""
    messages = [m for m in catalog if m.id and isinstance(m.id, str) and needs_translation(m.id)]
    return Counts(sum(bool(m.string) and not m.fuzzy for m in messages), len(messages))


def read_catalogue(path: Path, content: bytes | None = None) -> Catalog:
    """A .po file (or its content), or a UserError naming the file and what is wrong."""
    try:
        data = path.read_bytes() if content is None else content
        return read_po(io.BytesIO(data), abort_invalid=True)
    except OSError as err:
        raise UserError(f"{path}: cannot read it ({err.strerror or err})") from None
    except Exception as err:  # babel's PoFileError, ValueError and UnicodeDecodeError alike
        message = " ".join(str(err).split()) or type(err).__name__
        raise UserError(f"{path}: not a valid .po message catalogue: {message}") from None


def page_counts(folder: Path, pages: list[str] | None = None) -> dict[str, Counts | None]:
    """Counts per page's catalogue in folder (None: the page has no catalogue). `pages`: the
    pages to count (default: every catalogue in the folder)."""
    files = catalogue_files(folder)
    return {page: count(read_catalogue(files[page])) if page in files else None
            for page in (pages if pages is not None else list(files))}


def group_of(page: str) -> str:
    """A module's pages count together: `modules/<id>/...` -> `module <id>`."""
    parts = page.split("/")
    return f"module {parts[1]}" if len(parts) >= 3 and parts[0] == "modules" else page


def total(counts: dict[str, Counts | None]) -> Counts:
    return sum((c for c in counts.values() if c is not None), Counts())


def edition_summary(lang: str, counts: dict[str, Counts | None],
                    untranslated: Counts = Counts()) -> str:
    """What `igcb book` says about a translated edition. `untranslated`: the messages of the
    pages with no catalogue, when known (the book's build counts them)."""
    overall = total(counts) + untranslated
    text = (f"{language_name(lang)} edition: {overall.percent}% of messages translated "
            f"({overall.translated} of {overall.total})")
    if overall.translated < overall.total:
        text += "; untranslated text appears in English"
    missing = [page for page, c in counts.items() if c is None]
    if missing:
        text += (f"\n      {len(missing)} page(s) have no catalogue yet and appear in English "
                 f"({', '.join(missing)}): run `igcb translate init --lang {lang}` with this plan")
    return text


def status_rows(counts: dict[str, Counts | None]) -> list[list[str]]:
    """One row per page, a row per module (its pages together), and the whole."""
    rows, groups = [], {}
    for page, c in counts.items():
        rows.append([page, *(_cells(c))])
        group = group_of(page)
        if group != page and c is not None:
            groups[group] = groups.get(group, Counts()) + c
    rows += [[group, *_cells(c)] for group, c in groups.items()]
    rows.append(["all", *_cells(total(counts))])
    return rows


def _cells(c: Counts | None) -> list[str]:
    if c is None:
        return ["-", "-", "no catalogue"]
    return [str(c.translated), str(c.total), f"{c.percent}%"]


# --- the edition's catalogues at build time ----------------------------------------------------

GLUE_ROLE = re.compile(r"(\{glue(?::[a-z]+)?\}`)([^`]+)(`)")


def glue_from_notebook(text: str, notebook: str) -> str:
    """A translated message's glue roles made to name their notebook.

    Sphinx parses a translation on its own, away from the notebook's glued values, so
    {glue:text}`year` must say {glue:text}`lab.ipynb::year` there; translators copy the
    English role as it is, and the book's build adds the notebook.

    >>> glue_from_notebook("de {glue:text}`first:d` à {glue}`other.ipynb::last`", "lab.ipynb")
    'de {glue:text}`lab.ipynb::first:d` à {glue}`other.ipynb::last`'
    """
    return GLUE_ROLE.sub(lambda m: m.group(0) if "::" in m.group(2)
                         else f"{m.group(1)}{notebook}::{m.group(2)}{m.group(3)}", text)


def staged_catalogue(path: Path, notebook: str | None) -> bytes:
    """The .po file as the build uses it (a notebook's with its glue roles naming it), or a
    UserError naming a broken one."""
    content = path.read_bytes()
    catalog = read_catalogue(path, content)
    if notebook is None or b"{glue" not in content:
        return content
    for message in catalog:
        if message.id and isinstance(message.string, str) and "{glue" in message.string:
            message.string = glue_from_notebook(message.string, notebook)
    out = io.BytesIO()
    write_po(out, catalog, width=LINE_WIDTH)
    return out.getvalue()


def stage_catalogues(plan: Plan, catalogue: dict[str, CatalogueEntry], root: Path,
                     target: Path) -> Path | None:
    """Copy the plan's language's catalogues to `target/<lang>/LC_MESSAGES` (touching only
    what changed, so Sphinx recompiles and rereads only what changed) and return `target`, the
    book's `locale_dirs`; None for an English plan. A UserError when there is no catalogue."""
    if plan.language == SOURCE_LANGUAGE:
        return None
    source = catalogue_folder(root, plan.language)
    files = catalogue_files(source)
    if not files:
        raise UserError(
            f"plan {plan.id!r}: language: {plan.language!r} ({language_name(plan.language)}) "
            f"has no message catalogue in {source}: run `igcb translate init --lang "
            f"{plan.language} --plan {plan.id}`, translate the .po files it writes, and build "
            f"again (or set `language: {SOURCE_LANGUAGE}`)")
    staged = target / plan.language / "LC_MESSAGES"
    notebooks = {f"modules/{module_id}/{name.removesuffix('.ipynb')}": name
                 for module_id in plan.module_ids for name in catalogue[module_id].module.notebooks}
    for domain, path in files.items():
        copy = staged / f"{domain}.po"
        content = staged_catalogue(path, notebooks.get(domain))
        if not (copy.is_file() and copy.read_bytes() == content):
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(content)
    for path in sorted(staged.rglob("*"), reverse=True):
        domain = path.relative_to(staged).with_suffix("").as_posix()
        if path.is_file() and path.suffix in (".po", ".mo") and domain not in files:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return target


# --- writing the catalogues: `igcb translate init` ---------------------------------------------

def gettext_files(plan: Plan, catalogue: dict[str, CatalogueEntry], book_dir: Path,
                  work: Path) -> dict[str, bytes]:
    """The book's staged sources for Sphinx's gettext builder: as `igcb book` stages them, with
    no notebook execution (outputs are not translated) and no source locations in the
    catalogues (they would name the temporary build folder)."""
    files = book.staged_files(plan, catalogue, book_dir, work / "cache", downloads=True)
    config = yaml.safe_load(files["_config.yml"])
    config["execute"]["execute_notebooks"] = "off"
    config["sphinx"]["config"].update(gettext_location=False, gettext_uuid=False,
                                      project="igcb course book")
    files["_config.yml"] = yaml.safe_dump(config, sort_keys=False,
                                          allow_unicode=True).encode("utf-8")
    return files


def extract_messages(files: dict[str, bytes], work: Path) -> Path:
    """Run Sphinx's gettext builder (through Jupyter Book) on the staged sources; return the
    folder of the .pot templates, one per page."""
    source = work / "source"
    book.sync_tree(source, files)
    command = [book.jupyter_book_command(), "build", str(source), "--path-output", str(work),
               "--builder", "custom", "--custom-builder", "gettext", "-q"]
    result = subprocess.run(command, capture_output=True, text=True)
    pot = work / "_build" / "gettext"
    if result.returncode != 0 or not pot.is_dir():
        raise UserError("Sphinx's gettext builder failed on the book's sources "
                        f"(jupyter-book exit status {result.returncode}):\n"
                        + (result.stdout + result.stderr).strip()[-3000:])
    return pot


def revive_obsolete(catalog: Catalog, template: Catalog) -> None:
    """Bring back obsolete messages (`#~`) whose text is in the template again, with their
    translations: babel's update only matches current messages."""
    for key in [k for k in catalog.obsolete if k in template and k not in catalog]:
        message = catalog.obsolete.pop(key)
        catalog[message.id] = message


def updated_catalogue(target: Path, existing: bytes | None, template: Catalog,
                      lang: str) -> Catalog:
    """The page's catalogue after `sphinx-intl update`: the template for a new page, else the
    existing catalogue updated from the template (translations kept)."""
    if existing is None:
        template.locale = lang
        return template
    catalog = read_catalogue(target, existing)
    revive_obsolete(catalog, template)
    po.update_with_fuzzy(catalog, template)
    return catalog


@dataclass(frozen=True)
class Written:
    path: Path
    status: str  # created, updated, unchanged
    added: int = 0
    removed: int = 0
    counts: Counts = Counts()


def write_catalogues(pot_dir: Path, folder: Path, lang: str) -> list[Written]:
    """Create or update folder's .po files from the .pot templates; every file or none."""
    results, pending = [], []
    for pot in sorted(pot_dir.rglob("*.pot")):
        domain = pot.relative_to(pot_dir).with_suffix("").as_posix()
        target = folder / f"{domain}.po"
        existing = target.read_bytes() if target.is_file() else None
        before = set() if existing is None else \
            {m.id for m in read_catalogue(target, existing) if m.id}
        catalog = updated_catalogue(target, existing, po.load_po(str(pot)), lang)
        after = {m.id for m in catalog if m.id}
        if existing is None:
            status = "created"
        elif before != after:
            status = "updated"
        else:
            status = "unchanged"
        results.append(Written(target, status, len(after - before), len(before - after),
                               count(catalog)))
        if status != "unchanged":
            pending.append((target, catalog))
    _write_all(pending)
    return results


def _write_all(pending: list[tuple[Path, Catalog]]) -> None:
    temporary = []
    try:
        for target, catalog in pending:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                       dir=target.parent)
            os.close(fd)
            temporary.append((tmp, target))
            po.dump_po(tmp, catalog, width=LINE_WIDTH)
            os.chmod(tmp, 0o666 & ~_umask())
        for tmp, target in temporary:
            os.replace(tmp, target)
    except OSError as err:
        raise UserError(f"cannot write the catalogues in {pending[0][0].parent}: "
                        f"{err.strerror or err}") from None
    finally:
        for tmp, _ in temporary:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def init_catalogues(plan: Plan, catalogue: dict[str, CatalogueEntry], book_dir: Path,
                    lang: str) -> list[Written]:
    """Extract the plan's book's messages and create or update its catalogues in
    translations/<lang>/LC_MESSAGES at the repository's root (`book_dir`'s parent)."""
    with tempfile.TemporaryDirectory(prefix="igcb-gettext-") as tmp:
        work = Path(tmp)
        pot_dir = extract_messages(gettext_files(plan, catalogue, book_dir, work), work)
        return write_catalogues(pot_dir, catalogue_folder(book_dir.parent, lang), lang)


# --- a Sphinx extension for translated editions ------------------------------------------------
#
# `igcb book` loads it (as `course.translate`) when it builds a translated edition.

REPORT = "translated.json"  # in the build's locale folder: what each page shows translated


def _toc_captions(app, doctree) -> None:
    """Translate the captions of the table of contents ("This course", "Modules" ...).

    Jupyter Book inserts the contents' toctree after Sphinx's translation transform has run, so
    the gettext builder extracts the captions (in the root page's catalogue) but Sphinx never
    translates them; this does, as the transform would, before the contents are collected."""
    from sphinx import addnodes

    translator, found = _page_catalogue(app)
    for node in doctree.findall(addnodes.toctree):
        if found and node.get("caption"):
            node["translated"] = bool(_messages(translator).get(node["caption"]))
            node["caption"] = translator.gettext(node["caption"])


def _messages(translator) -> dict[str, str]:
    """A gettext translator's messages, its fallbacks' too (as Sphinx's transform reads them)."""
    chain = []
    while translator is not None:
        chain.append(getattr(translator, "_catalog", None) or {})
        translator = getattr(translator, "_fallback", None)
    merged: dict[str, str] = {}
    for messages in reversed(chain):
        merged |= messages
    return merged


def _page_catalogue(app):
    from sphinx.locale import init as init_locale
    from sphinx.util.i18n import docname_to_domain

    domain = docname_to_domain(app.env.docname, app.config.gettext_compact)
    dirs = [os.path.join(app.srcdir, folder) for folder in app.config.locale_dirs]
    return init_locale(dirs, app.config.language, domain)


def _count_messages(app, doctree) -> None:
    """Count the page's messages (each text once) and those it shows translated: Sphinx marks
    a message's node `translated` when the page has a catalogue."""
    from sphinx.util.nodes import extract_messages

    shown: dict[str, bool] = {}
    for node, message in extract_messages(doctree):
        if needs_translation(message) and not _in_output(node):
            shown[message] = shown.get(message, False) or bool(node.get("translated"))
    _, found = _page_catalogue(app)
    _counts(app.env)[app.env.docname] = (sum(shown.values()), len(shown), bool(found))


def _in_output(node) -> bool:
    """Text a notebook's code printed or drew (a chart's alt text): not in the catalogues."""
    while node is not None:
        if "cell_output" in node.get("classes", []):
            return True
        node = node.parent
    return False


def _counts(env) -> dict:
    if not hasattr(env, "igcb_translated"):
        env.igcb_translated = {}
    return env.igcb_translated


def _purge(app, env, docname) -> None:
    _counts(env).pop(docname, None)


def _merge(app, env, docnames, other) -> None:
    _counts(env).update({d: c for d, c in _counts(other).items() if d in docnames})


def _write_report(app, exception) -> None:
    if exception is None and app.config.locale_dirs:
        counts = {d: c for d, c in _counts(app.env).items() if d in app.env.found_docs}
        report = Path(app.config.locale_dirs[0]) / REPORT
        report.write_text(json.dumps(counts, indent=0, sort_keys=True), encoding="utf-8")


def built_summary(lang: str, locale: Path, pages: list[str]) -> str:
    """What the book's build showed translated, as `edition_summary` says it: the messages on
    its pages now, so text changed since the catalogues were updated counts as untranslated."""
    report = json.loads((locale / REPORT).read_text(encoding="utf-8"))
    counts = {page: Counts(*report[page][:2]) if report[page][2] else None
              for page in pages if page in report}
    untranslated = sum((Counts(0, report[page][1]) for page in counts if counts[page] is None),
                       Counts())
    return edition_summary(lang, counts, untranslated)


def setup(app) -> dict:
    app.connect("doctree-read", _toc_captions, priority=400)
    app.connect("doctree-read", _count_messages, priority=450)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("build-finished", _write_report)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
