"""The course book in a real browser: Debian's Chromium through Playwright, on the online
course's book built by the real `igcb book --strict` and served on 127.0.0.1 as a static site.

Every page loads with a clean console and asks no outside host; no internal link is broken;
search finds a reading's term; the navigation works at phone width; axe-core finds no serious
or critical accessibility violation on the key pages; every image has alt text.
"""

from __future__ import annotations

import html as html_escape
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from browser import serve

from course.layout import REPO_ROOT
from course.plans import shipped_plans

PLAN = "online-course"
AXE = REPO_ROOT / ".venv" / "node_modules" / "axe-core" / "axe.min.js"
KEY_PAGES = ["intro.html", "syllabus.html", "schedule.html", "modules/what-is-ig/index.html",
             "modules/what-is-ig/lab.html"]
PHONE = {"width": 375, "height": 740}

pytestmark = pytest.mark.slow


def book_pages(html: Path) -> list[str]:
    """Every page of the book (not the theme's, the execution reports' or the no-server labs'
    files: tests/test_lite.py opens those)."""
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if p.relative_to(html).parts[0] not in ("_static", "reports", "_sources", "lite"))


@pytest.fixture(scope="module")
def site(shipped_book):
    result, html = shipped_book(PLAN)
    assert result.returncode == 0, result.stdout[-5000:]
    with serve(html) as base:
        yield base, html


@pytest.fixture
def page(browser):
    """A fresh page whose every request to a host other than 127.0.0.1 is refused and recorded
    (this machine has no Internet: a page that needs one would break for offline readers too)."""
    context = browser.new_context()
    opened = context.new_page()
    opened.outside = []
    opened.problems = []

    def route(request_route):
        host = urlsplit(request_route.request.url).hostname
        if host not in (None, "127.0.0.1"):
            opened.outside.append(request_route.request.url)
            return request_route.abort()
        return request_route.continue_()

    opened.route("**/*", route)
    opened.on("console", lambda m: opened.problems.append(f"console {m.type}: {m.text}")
              if m.type in ("error", "warning") else None)
    opened.on("pageerror", lambda e: opened.problems.append(f"page error: {e}"))
    opened.on("response", lambda r: opened.problems.append(f"HTTP {r.status}: {r.url}")
              if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    yield opened
    context.close()


def test_every_page_loads_with_a_clean_console_and_asks_no_outside_host(site, page):
    base, html = site
    pages = book_pages(html)
    assert len(pages) > 20
    for path in pages:
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
    assert not page.problems, "\n".join(page.problems)
    assert not page.outside, "\n".join(page.outside)


LINK = re.compile(r'<(?:a|link)\b[^>]*?\shref="([^"]*)"|<(?:img|script|source)\b[^>]*?\ssrc="([^"]*)"')


def test_no_internal_link_is_broken(site):
    """Every link, image, script and style a page names exists, anchors included."""
    _, html = site
    ids: dict[Path, set[str]] = {}

    def anchors(target: Path) -> set[str]:
        if target not in ids:
            ids[target] = set(re.findall(r'\sid="([^"]+)"', target.read_text(encoding="utf-8")))
        return ids[target]

    broken = []
    for path in book_pages(html):
        source = html / path
        for href, src in LINK.findall(source.read_text(encoding="utf-8")):
            url = html_escape.unescape(href or src)
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//") or not (parts.path or parts.fragment):
                continue  # an outside address, or an empty one
            # A fragment with "=" is a page's state (the compendium's filters), not an anchor.
            target = (source.parent / unquote(parts.path)).resolve() if parts.path else source
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{path}: {url} (no such file)")
            elif parts.fragment and "=" not in parts.fragment and target.suffix == ".html" and \
                    unquote(parts.fragment) not in anchors(target):
                broken.append(f"{path}: {url} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_search_finds_a_term_from_a_reading(site, page):
    base, _ = site
    page.goto(base + "search.html?q=NETmundial")
    results = page.locator("#search-results a")
    results.first.wait_for(timeout=30_000)
    found = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("modules/what-is-ig/reading.html" in href for href in found), found


def test_the_navigation_works_at_phone_width(site, browser):
    base, _ = site
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(base + "intro.html")
        # The table of contents, wherever the theme puts it (at this width, in a dialog).
        link = page.locator(".bd-docs-nav a:visible", has_text="Syllabus")
        assert link.count() == 0, "at 375 px the table of contents starts folded away"
        page.locator("button.primary-toggle:visible").first.click()
        link.first.wait_for(state="visible")
        link = link.first
        link.click()
        page.wait_for_url("**/syllabus.html")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], \
            "the page is wider than the phone"
    finally:
        context.close()


@pytest.mark.parametrize("path", KEY_PAGES)
def test_axe_finds_no_serious_or_critical_violation(site, page, path):
    base, _ = site
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [f"{v['id']} ({v['impact']}): {v['help']}: "
               + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:5])
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, "\n".join(serious)


@pytest.mark.parametrize("plan_path", shipped_plans(), ids=lambda p: p.stem)
def test_every_image_has_alt_text(shipped_book, plan_path):
    """Alt text that says something: not missing, not empty, not the image's file name; in
    every shipped plan's book (between them they hold every module)."""
    result, html = shipped_book(plan_path.stem)
    assert result.returncode == 0, result.stdout[-5000:]
    missing = []
    for path in book_pages(html):
        for tag in re.findall(r"<img\b[^>]*>", (html / path).read_text(encoding="utf-8")):
            alt = re.search(r'\salt="([^"]*)"', tag)
            text = html_escape.unescape(alt.group(1)).strip() if alt else ""
            if not text or re.search(r"\.(png|jpe?g|svg|gif)$", text, re.I):
                missing.append(f"{path}: {tag[:120]}")
    assert not missing, "\n".join(missing)
