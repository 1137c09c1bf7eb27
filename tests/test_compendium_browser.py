"""The compendium page and the module pages' "Continue learning" in real Chromium (Debian's,
through Playwright), on a book built by `igcb book --strict` from the mini course with a
compendium of generated records (illustrative: made-up programmes at example.org).

The page is opened from the disk (file://), as a static book is: no server.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from browser import fields_without_label
from course import compendium, pages
from course.compendium import Record
from course.layout import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures"
MODULE_TOPICS = ["testing", "cybersecurity", "privacy", "igf", "human-rights"]
HOSTILE = {
    "id": "hostile",
    "name": 'Evil <img src=x onerror="window.__pwned=1"> <b>bold</b> {{ plan_title }} ```',
    "funding": "</script><script>window.__pwned=2</script> & <i>more</i>",
}


# --- illustrative records (also used by bench/compendium_bench.py) --------------------------

ORGANISERS = ["Example Association", "Sample University", "Demo Foundation", "Société Exemple",
              "Illustrative Institute"]
NAMES = ["School on Internet Governance", "Escuela de Gobernanza de Internet",
         "Política Digital Fellowship", "Online Course in Cyber Policy", "Youth Mentoring Circle",
         "Exchange Programme", "Webinar Series on Data", "Master in Digital Policy"]
FREE_TEXT = ["Travel grant for selected participants", "Fee waivers on request", None,
             "Accommodation covered", None]
DATES = ["Every year in July", "Monthly", "Twice a year", None]
APPLY = ["Nomination by a member organisation", "Open call on the website", None]
COUNTRIES = ["KE", "BR", "FR", "IN", "US", "EG", "FJ"]
LANGUAGES = ["en", "fr", "es", "ar", "pt", "ru"]


def illustrative_records(n: int, topics: list[str], seed: int = 1) -> list[dict]:
    """n made-up records (labelled illustrative: example.org addresses), varied on every
    field the page filters or searches."""
    rng = random.Random(seed)
    today = dt.date.today()

    def some(pool, low, high):
        return rng.sample(pool, rng.randint(low, high))

    records = []
    for i in range(n):
        records.append({
            "id": f"illustrative-{i:04}",
            "name": f"{rng.choice(NAMES)} {i:04} (illustrative)",
            "organisers": some(ORGANISERS, 1, 2),
            "type": compendium.TYPES[i % len(compendium.TYPES)],
            "modality": rng.choice([*compendium.MODALITIES, None]),
            "level": rng.choice([*compendium.LEVELS, None]),
            "topics": some(topics, 0, min(3, len(topics))),
            "target_groups": some(list(compendium.TARGET_GROUPS), 0, 3),
            "regions": some(list(compendium.REGIONS), 1, 2),
            "countries": some(COUNTRIES, 0, 1),
            "languages": some(LANGUAGES, 1, 2),
            "cost": rng.choice([*compendium.COSTS, None]),
            "funding": rng.choice(FREE_TEXT),
            "dates": rng.choice(DATES),
            "apply": rng.choice(APPLY),
            "url": f"https://programme-{i:04}.example.org/",
            "sources": [f"https://programme-{i:04}.example.org/about"],
            "checked": today - dt.timedelta(days=rng.randint(0, 800)),
        })
    return records


def build_mini_book(folder: Path, records: list[dict], topics: list[str]) -> Path:
    """The mini course with these module topics and this compendium, built strictly by the
    real `igcb book`; the html folder."""
    root = folder / "mini"
    shutil.copytree(FIXTURES / "mini", root)
    shutil.copytree(REPO_ROOT / "book", root / "book", ignore=shutil.ignore_patterns("_build"))
    module = root / "modules/01-sample/module.yml"
    data = yaml.safe_load(module.read_text(encoding="utf-8"))
    data["topics"] = topics
    module.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (root / "compendium").mkdir()
    for record in records:
        (root / "compendium" / f"{record['id']}.yml").write_text(
            yaml.safe_dump(record, sort_keys=False, allow_unicode=True), encoding="utf-8")
    out = folder / "out"
    result = subprocess.run([sys.executable, "-m", "course", "book", "--plan", "mini", "--out",
                             str(out), "--strict"], env=dict(os.environ, IGCB_ROOT=str(root)),
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert result.returncode == 0, result.stdout[-5000:]
    return out / "_build" / "html"


# --- what the page should show, computed here ------------------------------------------------

def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if not "\u0300" <= c <= "\u036f").lower()


def expected(records: list[Record], q: str = "", **chosen) -> list[str]:
    """The names the page should list, in its order, for a search and filters."""
    terms = fold(q).split()
    found = []
    for r in sorted(records, key=lambda r: (r.name.casefold(), r.id)):
        words = [r.name, *r.organisers, r.funding, r.dates, r.apply,
                 *(pages.country_name(c) for c in r.countries)]
        text = fold("\n".join(w for w in words if w))
        if any(t not in text for t in terms):
            continue
        if "type" in chosen and r.type.value != chosen["type"]:
            continue
        if "topic" in chosen and chosen["topic"] not in r.topics:
            continue
        if "region" in chosen and chosen["region"] not in r.regions and not (
                chosen["region"] != "Global" and "Global" in r.regions):
            continue
        if "language" in chosen and chosen["language"] not in r.languages:
            continue
        if "level" in chosen and (r.level.value if r.level else None) != chosen["level"]:
            continue
        if "target" in chosen and chosen["target"] not in [g.value for g in r.target_groups]:
            continue
        if "cost" in chosen and (r.cost.value if r.cost else None) != chosen["cost"]:
            continue
        found.append(r.name)
    return found


def count_text(n: int, total: int) -> str:
    if n == total:
        return f"All {total} programmes"
    return "No programme matches" if n == 0 else f"{n} of {total} programmes match"


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """(html folder, records) of the mini course's book with 80 illustrative records and one
    whose text is HTML."""
    data = illustrative_records(80, MODULE_TOPICS, seed=7)
    data.append({**data[0], **HOSTILE, "topics": MODULE_TOPICS,
                 "url": "https://hostile.example.org/",
                 "sources": ["https://hostile.example.org/"]})
    html = build_mini_book(tmp_path_factory.mktemp("compendium-book"), data, MODULE_TOPICS)
    return html, [Record.model_validate(r) for r in data]


class Errors:
    """What a page reports as wrong: uncaught exceptions and console errors."""

    def __init__(self, page):
        self.found: list[str] = []
        page.on("pageerror", lambda err: self.found.append(f"pageerror: {err}"))
        page.on("console", lambda m: self.found.append(f"console: {m.text}")
                if m.type == "error" else None)


@pytest.fixture(scope="module")
def theme_noise(book, browser) -> list[str]:
    """The errors Jupyter Book's own theme reports on any page opened from the disk (the
    syllabus): the compendium must add none."""
    html, _ = book
    page = browser.new_page()
    errors = Errors(page)
    page.goto((html / "syllabus.html").as_uri())
    page.wait_for_load_state("load")
    page.close()
    return errors.found


@pytest.fixture
def open_page(book, browser, theme_noise):
    """Open a page of the book; after the test, its errors must be the theme's alone."""
    html, _ = book
    opened = []

    def go(path: str):
        page = browser.new_page()
        errors = Errors(page)
        opened.append((page, errors))
        page.goto((html / path).as_uri())
        page.wait_for_selector("#cmp-count, .cmp-related, #continue-learning")
        return page

    yield go
    for page, errors in opened:
        assert [e for e in errors.found if e not in theme_noise] == []
        assert page.evaluate("window.__pwned") is None
        page.close()


def listed(page) -> list[str]:
    """The names in the list now."""
    return page.eval_on_selector_all("#cmp-results > li h3 a", "as => as.map(a => a.textContent)")


def shown(page) -> list[str]:
    """Every name found, after pressing "Show more" until it goes."""
    while page.is_visible("#cmp-more"):
        page.click("#cmp-more")
    return listed(page)


def choose(page, q: str = "", **chosen) -> None:
    for key, value in chosen.items():
        page.select_option(f"#cmp-{key}", value)
    if q:
        page.fill("#cmp-q", q)


# --- the compendium page ----------------------------------------------------------------------

def test_every_programme_is_listed_with_its_facts_as_text(book, open_page):
    _, records = book
    page = open_page("compendium.html")
    assert page.inner_text("#cmp-count") == count_text(len(records), len(records))
    assert shown(page) == expected(records)
    first = sorted(records, key=lambda r: (r.name.casefold(), r.id))[0]
    item = page.locator("#cmp-results > li").first
    assert item.locator("h3 a").get_attribute("href") == first.url
    facts = item.locator("dl").text_content()
    assert compendium.LABELS["type"][first.type.value] in facts
    if first.modality:
        assert compendium.LABELS["modality"][first.modality.value] in facts
    assert first.checked.isoformat() in facts
    assert item.locator("dd a").first.get_attribute("href") == first.sources[0]


FILTERS = [
    {"type": "fellowship"},
    {"topic": "privacy"},
    {"region": "Europe"},          # Europe's programmes and the global ones
    {"region": "Global"},          # the global ones only
    {"language": "fr"},
    {"level": "advanced"},
    {"target": "youth"},
    {"cost": "free"},
    {"q": "example association"},  # an organiser
    {"q": "ESCUELA"},              # a name, any case
    {"q": "politica"},             # "Política": accents do not matter
    {"q": "travel grant"},         # funding (free text), both words
    {"q": "monthly"},              # dates
    {"q": "nomination"},           # how to apply
    {"q": "kenya"},                # a country's name
    {"type": "school", "language": "en", "region": "Africa"},
    {"q": "university", "cost": "fee", "topic": "igf"},
    {"target": "youth", "level": "advanced", "language": "en"},
    {"topic": "privacy", "region": "Europe", "cost": "free"},
    {"q": "sample university", "type": "school"},
    {"q": "no such programme anywhere"},
]


@pytest.mark.parametrize("chosen", FILTERS,
                         ids=lambda c: "+".join(f"{k}={v}" for k, v in c.items()))
def test_filters_and_search_give_the_right_programmes(book, open_page, chosen):
    _, records = book
    page = open_page("compendium.html")
    choose(page, **chosen)
    want = expected(records, **chosen)
    assert shown(page) == want
    assert page.inner_text("#cmp-count") == count_text(len(want), len(records))
    assert 0 < len(want) < len(records) or chosen.get("q", "").startswith("no such")


def test_the_filters_cover_each_kind_of_result():
    """The generated records make each filter above meaningful (checked without a browser)."""
    records = [Record.model_validate(r) for r in illustrative_records(80, MODULE_TOPICS, seed=7)]
    europe, only_global = expected(records, region="Europe"), expected(records, region="Global")
    assert set(only_global) < set(europe)
    assert len(expected(records, q="politica")) == len(expected(records, q="Política")) > 0


def test_the_count_is_announced_and_the_choice_kept_in_the_address(book, open_page):
    _, records = book
    page = open_page("compendium.html")
    status = page.locator("#cmp-count")
    assert status.get_attribute("role") == "status"
    assert status.get_attribute("aria-live") == "polite"
    choose(page, type="mentoring", language="en")
    n = len(expected(records, type="mentoring", language="en"))
    assert status.inner_text() == count_text(n, len(records))
    assert page.evaluate("location.hash") == "#type=mentoring&language=en"
    page.reload()
    page.wait_for_selector("#cmp-results > li")
    assert page.eval_on_selector("#cmp-type", "e => e.value") == "mentoring"
    assert len(shown(page)) == n
    page.evaluate("location.hash = '#region=Global&cost=fee'")
    page.wait_for_function("document.getElementById('cmp-region').value === 'Global'")
    assert shown(page) == expected(records, region="Global", cost="fee")
    assert page.eval_on_selector("#cmp-type", "e => e.value") == ""


def test_keyboard_only(book, open_page):
    _, records = book
    page = open_page("compendium.html")
    assert page.locator("#cmp-form input, #cmp-form select, #cmp-form button").count() == 9
    assert [f for f in fields_without_label(page) if 'id="cmp-' in f] == []
    page.focus("#cmp-q")
    page.keyboard.type("sample university")
    assert shown(page) == expected(records, q="sample university")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "cmp-type"
    page.keyboard.press("ArrowDown")  # the first type: school
    assert page.eval_on_selector("#cmp-type", "e => e.value") == "school"
    assert shown(page) == expected(records, q="sample university", type="school")
    for _ in range(7):  # topic, region, language, level, for, cost, then the button
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "cmp-clear"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "cmp-q"
    assert page.input_value("#cmp-q") == ""
    assert page.inner_text("#cmp-count") == count_text(len(records), len(records))
    page.keyboard.press("Enter")  # submitting the search form keeps the page
    page.wait_for_timeout(300)  # a navigation, if any, would have started
    assert page.url == (book[0] / "compendium.html").as_uri()
    assert listed(page) == expected(records)[:50]


def test_record_text_made_of_html_stays_text(book, open_page):
    page = open_page("compendium.html")
    choose(page, q="evil")
    assert shown(page) == [HOSTILE["name"]]
    item = page.locator("#cmp-results > li")
    assert HOSTILE["funding"] in item.text_content()
    assert page.locator("#cmp-results img, #cmp-results b, #cmp-results i, "
                        "#cmp-results script").count() == 0
    assert page.evaluate("window.__pwned") is None


def test_long_lists_come_fifty_at_a_time(book, open_page):
    _, records = book
    page = open_page("compendium.html")
    everything = expected(records)
    assert len(everything) == 81
    assert listed(page) == everything[:50]
    more = page.locator("#cmp-more")
    assert more.inner_text() == "Show 31 more (31 not shown yet)"
    more.focus()
    page.keyboard.press("Enter")
    assert listed(page) == everything
    assert not more.is_visible()
    assert page.evaluate("document.activeElement.textContent") == everything[50]
    choose(page, region="Europe")  # a new choice starts from the top again
    assert listed(page) == expected(records, region="Europe")[:50]


# --- module pages -------------------------------------------------------------------------------

def test_a_module_page_lists_its_programmes_and_links_to_the_filtered_page(book, open_page):
    _, records = book
    page = open_page("modules/sample/index.html")
    related = compendium.related_programmes(MODULE_TOPICS, records)
    listed = page.locator(".cmp-related li a")
    assert listed.all_inner_texts() == [r.name for r, _ in related]
    assert [a.get_attribute("href") for a in listed.all()] == [r.url for r, _ in related]
    assert related[0][0].id == "hostile"  # it shares all five topics
    assert page.locator(".cmp-related img, .cmp-related b").count() == 0
    links = page.locator("#continue-learning a[href*='#topic=']")
    assert {a.get_attribute("href") for a in links.all()} == {
        f"../../compendium.html#topic={t}" for t in MODULE_TOPICS
        if any(t in r.topics for r in records)}

    page.click("#continue-learning a[href$='#topic=privacy']")
    page.wait_for_url("**/compendium.html#topic=privacy")
    page.wait_for_selector("#cmp-results > li")
    assert page.eval_on_selector("#cmp-topic", "e => e.value") == "privacy"
    want = expected(records, topic="privacy")
    assert shown(page) == want
    assert page.inner_text("#cmp-count") == count_text(len(want), len(records))
