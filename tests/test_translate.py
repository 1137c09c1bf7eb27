"""Translated editions: `igcb translate init/status`, and a plan with `language: fr` building the
French edition from the catalogues in translations/fr/ (the real gettext builder and book)."""

import html as html_module
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from babel.messages.pofile import read_po

from conftest import run_igcb
from course.layout import REPO_ROOT
from course.translate import glue_from_notebook

MESSAGES = "translations/fr/LC_MESSAGES"
GENERATED = ["intro", "about", "syllabus", "schedule", "compendium", "modules/sample/index"]
MODULE = ["modules/sample/reading", "modules/sample/lab"]


def igcb(*args: str, root: Path) -> subprocess.CompletedProcess:
    """The real `igcb` command in its own process, as a user runs it."""
    env = dict(os.environ, IGCB_ROOT=str(root))
    return subprocess.run([sys.executable, "-m", "course", *args], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def catalogue(root: Path, page: str):
    with open(root / MESSAGES / f"{page}.po", "rb") as handle:
        return read_po(handle)


def translate(root: Path, page: str, translations: dict[str, str]) -> None:
    """Fill in msgstr lines by hand, as a translator does in a text editor."""
    path = root / MESSAGES / f"{page}.po"
    text = path.read_text(encoding="utf-8")
    for msgid, msgstr in translations.items():
        entry = f'msgid "{msgid}"\nmsgstr ""\n'
        assert entry in text, f"{msgid!r} is not an untranslated message of {page}.po"
        text = text.replace(entry, f'msgid "{msgid}"\nmsgstr "{msgstr}"\n')
    path.write_text(text, encoding="utf-8")


def set_language(root: Path, language: str) -> None:
    plan = root / "course/plans/mini.yml"
    plan.write_text(plan.read_text().replace("language: en", f"language: {language}"))


def words(text: str) -> str:
    """Text with its spaces (no-break ones too) made single spaces."""
    return " ".join(text.split())


def page_text(path: Path, whole: bool = False) -> str:
    """The text of a book page's article (or of the whole page, its navigation too), tags
    removed."""
    page = path.read_text(encoding="utf-8")
    if not whole:
        page = page[page.index("<article"):page.index("</article>")]
    return words(html_module.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def initialised(mini_course) -> Path:
    result = run_igcb("translate", "init", "--lang", "fr", "--plan", "mini", root=mini_course)
    assert result.exit_code == 0, result.output
    return mini_course


def test_init_writes_a_catalogue_for_each_generated_page_and_notebook(initialised):
    root = initialised
    written = sorted(p.relative_to(root / MESSAGES).with_suffix("").as_posix()
                     for p in (root / MESSAGES).rglob("*.po"))
    assert written == sorted(GENERATED + MODULE)
    ids = {page: {m.id for m in catalogue(root, page) if m.id} for page in GENERATED + MODULE}
    assert {"Syllabus", "A sample module", "List the parts of a module"} <= ids["syllabus"]
    assert {"Schedule", "Facilitated discussion", "The only week"} <= ids["schedule"]
    assert {"Objectives", "First prompt.", "*For the facilitator:* Advice."} \
        <= ids["modules/sample/index"]
    assert {"This course", "Modules", "How to use this book"} <= ids["intro"]  # contents too
    assert ids["modules/sample/reading"] == {"Sample reading", "Some text.", "A section",
                                             "More text."}
    assert {"Sample lab", "Reads its data."} <= ids["modules/sample/lab"]
    assert not any("print(" in i or "read_csv" in i for i in ids["modules/sample/lab"])  # code
    assert all(not m.string for page in ids for m in catalogue(root, page) if m.id)


def test_init_says_what_it_wrote(mini_course):
    result = run_igcb("translate", "init", "--lang", "fr", "--plan", "mini", root=mini_course)
    assert result.exit_code == 0, result.output
    assert "translations/fr/LC_MESSAGES/modules/sample/reading.po: created, 4 messages" \
        in result.output
    assert "8 catalogues in translations/fr/LC_MESSAGES: 0% of messages translated" \
        in result.output


def test_rerunning_init_keeps_the_translations(initialised):
    root = initialised
    translate(root, "modules/sample/reading", {"Some text.": "Un peu de texte.",
                                               "More text.": "Davantage de texte.",
                                               "A section": "Une section"})
    reading = root / "modules/01-sample/reading.ipynb"
    notebook = nbformat.read(reading, as_version=4)
    original = notebook.cells[0].source
    notebook.cells[0].source = original.replace("More text.", "More text here.").replace(
        "## A section\n\n", "") + "\n\nBrand new words."
    nbformat.write(notebook, reading)

    again = run_igcb("translate", "init", "--lang", "fr", "--plan", "mini", root=root)
    assert again.exit_code == 0, again.output
    assert "modules/sample/reading.po: updated: 2 new, 2 no longer used (kept as obsolete), " \
           "1 of 4 translated" in again.output
    assert "syllabus.po: unchanged" in again.output
    messages = {m.id: m for m in catalogue(root, "modules/sample/reading") if m.id}
    assert messages["Some text."].string == "Un peu de texte."  # kept
    assert messages["Brand new words."].string == ""  # new, to translate
    # A message that changed a little keeps its old translation, marked fuzzy: the book shows
    # the English until a translator checks it.
    assert messages["More text here."].string == "Davantage de texte."
    assert messages["More text here."].fuzzy
    assert "A section" not in messages  # no longer used ...
    text = (root / MESSAGES / "modules/sample/reading.po").read_text(encoding="utf-8")
    assert '#~ msgid "A section"\n#~ msgstr "Une section"' in text  # ... but kept, obsolete

    notebook.cells[0].source = original  # the section is back
    nbformat.write(notebook, reading)
    third = run_igcb("translate", "init", "--lang", "fr", "--plan", "mini", root=root)
    assert third.exit_code == 0, third.output
    messages = {m.id: m for m in catalogue(root, "modules/sample/reading") if m.id}
    assert messages["A section"].string == "Une section"  # back, with its translation
    assert not messages["A section"].fuzzy


def test_the_share_translated_counts_translated_messages_only(tmp_path):
    folder = tmp_path / MESSAGES
    folder.mkdir(parents=True)
    (folder / "syllabus.po").write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Syllabus"\nmsgstr "Programme"\n\n'
        'msgid "Level"\nmsgstr "Niveau"\n\n'
        'msgid "Hours"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Audience: everyone"\nmsgstr "Public : tout le monde"\n\n'
        'msgid "2027"\nmsgstr ""\n\n'  # no letters: nothing to translate, not counted
        '#~ msgid "Old"\n#~ msgstr "Ancien"\n', encoding="utf-8")  # obsolete: not counted
    (folder / "modules/x").mkdir(parents=True)
    (folder / "modules/x/reading.po").write_text(
        'msgid "A"\nmsgstr "Un"\n\nmsgid "B"\nmsgstr ""\n', encoding="utf-8")
    result = run_igcb("translate", "status", "--lang", "fr", root=tmp_path)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[2:-1]}
    assert rows["syllabus"] == ["2", "4", "50%"]
    assert rows["modules/x/reading"] == ["1", "2", "50%"]
    assert rows["module"] == ["x", "1", "2", "50%"]
    assert rows["all"] == ["3", "6", "50%"]
    assert result.output.splitlines()[-1] == (
        "French edition: 50% of messages translated (3 of 6); untranslated text appears in "
        "English")


@pytest.mark.parametrize("lang, message", [
    ("xx", "--lang 'xx': not an ISO 639-1 language code; give two lower-case letters"),
    ("french", "--lang 'french': not an ISO 639-1 language code"),
    ("FR", "--lang 'FR': not an ISO 639-1 language code"),
    ("en", "--lang 'en': the book is written in English; give the language to translate it "
           "into"),
])
def test_a_wrong_language_code_is_refused_and_nothing_is_written(mini_course, lang, message):
    for command in ("init", "status"):
        result = run_igcb("translate", command, "--lang", lang, root=mini_course)
        assert result.exit_code == 2
        assert result.output.startswith(f"Error: {message}")
        assert len(result.output.strip().splitlines()) == 1
    assert not (mini_course / "translations").exists()


def test_a_plan_in_a_language_with_no_catalogue_stops_before_building(mini_course, tmp_path):
    set_language(mini_course, "de")
    result = igcb("book", "--plan", "mini", "--out", str(tmp_path / "out"), root=mini_course)
    assert result.returncode == 2
    assert "Error: plan 'mini': language: 'de' (German) has no message catalogue in " \
           f"{mini_course / 'translations/de/LC_MESSAGES'}: run `igcb translate init --lang de " \
           "--plan mini`" in result.stdout
    assert "Traceback" not in result.stdout
    assert not (tmp_path / "out/_build/html").exists()
    status = run_igcb("translate", "status", "--plan", "mini", root=mini_course)
    assert status.exit_code == 2
    assert "Error: --lang 'de': no message catalogue in" in status.output


def test_a_broken_catalogue_is_named(initialised, tmp_path):
    (initialised / MESSAGES / "intro.po").write_bytes(b'msgid "Welcome\nmsgstr \xff\n')
    set_language(initialised, "fr")
    result = igcb("book", "--plan", "mini", "--out", str(tmp_path / "out"), root=initialised)
    assert result.returncode == 2
    assert f"Error: {initialised / MESSAGES / 'intro.po'}: not a valid .po message catalogue" \
        in result.stdout
    assert "Traceback" not in result.stdout


@pytest.mark.slow
def test_a_french_plan_builds_the_french_edition_with_english_where_untranslated(initialised,
                                                                                tmp_path):
    root = initialised
    translate(root, "modules/sample/reading", {"Sample reading": "Lecture d'exemple",
                                               "Some text.": "Un peu de texte."})
    translate(root, "intro", {"This course": "Ce cours"})  # a caption of the contents
    (root / MESSAGES / "modules/sample/lab.po").unlink()  # a page with no catalogue yet
    set_language(root, "fr")
    out = tmp_path / "out"
    result = igcb("book", "--plan", "mini", "--out", str(out), "--strict", root=root)
    assert result.returncode == 0, result.stdout

    html = out / "_build/html"
    reading = page_text(html / "modules/sample/reading.html")
    assert "Lecture d’exemple" in reading and "Un peu de texte." in reading  # translated
    assert "More text." in reading and "A section" in reading  # not yet: English
    assert "Some text." not in reading
    assert 'lang="fr"' in (html / "modules/sample/reading.html").read_text()
    assert "Reads its data." in page_text(html / "modules/sample/lab.html")
    assert '<span class="caption-text">Ce cours</span>' in (html / "syllabus.html").read_text()
    assert "Syllabus" in page_text(html / "syllabus.html")  # untranslated generated page

    # The share counts every page's messages, once each: those of the catalogues (as `igcb
    # translate status` counts them) and the lab's three, which has no catalogue.
    status = run_igcb("translate", "status", "--plan", "mini", root=root)
    total = next(line.split() for line in status.output.splitlines() if line.startswith("all "))
    assert total[:2] == ["all", "3"]  # the "all" row: all, translated, messages, share
    messages = int(total[2]) + 3
    assert (f"French edition: {100 * 3 // messages}% of messages translated "
            f"(3 of {messages}); untranslated text appears in English") in result.stdout
    assert "1 page(s) have no catalogue yet and appear in English (modules/sample/lab)" \
        in result.stdout

    # The reading changes after its translation: the book shows the new English, and says so.
    reading = root / "modules/01-sample/reading.ipynb"
    notebook = nbformat.read(reading, as_version=4)
    notebook.cells[0].source = notebook.cells[0].source.replace("Some text.", "Some new text.")
    nbformat.write(notebook, reading)
    again = igcb("book", "--plan", "mini", "--out", str(out), "--strict", root=root)
    assert again.returncode == 0, again.stdout
    assert "Some new text." in page_text(html / "modules/sample/reading.html")
    assert (f"French edition: {100 * 2 // messages}% of messages translated "
            f"(2 of {messages}); untranslated text appears in English") in again.stdout


def test_glue_roles_in_a_translation_name_their_notebook():
    assert glue_from_notebook("de {glue:text}`first_year:d` à {glue:text}`last_year:d`",
                              "lab.ipynb") == \
        "de {glue:text}`lab.ipynb::first_year:d` à {glue:text}`lab.ipynb::last_year:d`"
    assert glue_from_notebook("{glue}`n` et {glue:md}`other.ipynb::m`", "reading.ipynb") == \
        "{glue}`reading.ipynb::n` et {glue:md}`other.ipynb::m`"
    assert glue_from_notebook("sans rôle `code`", "lab.ipynb") == "sans rôle `code`"


# --- the shipped French edition --------------------------------------------------------------

FRENCH_PLAN = "journee-sensibilisation"


@pytest.mark.slow
def test_the_shipped_french_edition_builds_strictly_from_its_catalogues(shipped_book):
    result, html = shipped_book(FRENCH_PLAN)
    assert result.returncode == 0, result.stdout[-5000:]
    assert "French edition: 100% of messages translated" in result.stdout
    assert "no catalogue yet" not in result.stdout
    pages = {"intro": "intro.html", "syllabus": "syllabus.html", "schedule": "schedule.html",
             "about": "about.html", "compendium": "compendium.html",
             "modules/what-is-ig/index": "modules/what-is-ig/index.html",
             "modules/what-is-ig/reading": "modules/what-is-ig/reading.html",
             "modules/what-is-ig/lab": "modules/what-is-ig/lab.html"}
    for page, file in pages.items():
        assert 'lang="fr"' in (html / file).read_text()
        text = page_text(html / file, whole=True)
        # Each page shows its catalogue's French: every translation written in plain text
        # (no markup, quotes or apostrophes that Sphinx would change) is on the page.
        plain = [words(m.string) for m in catalogue(REPO_ROOT, page) if m.id and m.string
                 and m.string != m.id and not re.search(r"[*`\[{'\"«]", m.string)]
        assert plain, page
        missing = [s for s in plain if s not in text]
        assert missing == [], page
    reading = page_text(html / "modules/what-is-ig/reading.html")
    assert "Forum sur la gouvernance de l’Internet (FGI)" in reading
    assert "Pacte numérique mondial" in reading
    lab = page_text(html / "modules/what-is-ig/lab.html")
    assert re.search(r"de 2006 à 20\d\d", lab)  # glued values inside a translated message
    assert '<span class="caption-text">Poursuivre sa formation</span>' in \
        (html / "intro.html").read_text()
