"""A Sphinx extension for the course book, so its pages load with a clean browser console.

Jupyter Book 1.x with Sphinx 7 adds sphinx-thebe's inline configuration script twice, and the
second copy throws "Identifier 'THEBE_JS_URL' has already been declared" on every page; the
book theme leaves the colour mode empty until a reader picks one, which the theme's script
reports as an error; and a site without an icon makes every browser ask for a missing
/favicon.ico. Three controls of the theme fail axe-core's serious rules (a name that does not
contain the visible text, and the table of contents' unnamed expand buttons), and the
pydata theme 0.17's header adds a second, hidden sidebar button that takes the click handlers
from the book theme's own, so at phone width the table of contents never opened
(pydata-sphinx-theme issue 2451): `accessible` mends them in every page once the pages are
written. Listed in book/_config.yml under
`sphinx: extra_extensions`.
"""

import re
from pathlib import Path

FAVICON = Path(__file__).parent / "book_static" / "favicon.svg"


def _defaults(app, config) -> None:
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}
    if not config.html_favicon:
        config.html_favicon = str(FAVICON)


def unique_scripts(scripts: list) -> list:
    """The page's scripts with repeats dropped, first copy kept (same file or same body)."""
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        # An inline script is registered once with filename None and once with "".
        key = (getattr(script, "filename", str(script)) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    return unique


def _page(app, pagename, templatename, context, doctree) -> None:
    if "script_files" in context:
        context["script_files"] = unique_scripts(context["script_files"])


def accessible(page: str) -> str:
    """A page's HTML with the theme's three accessibility faults mended.

    >>> accessible('<details><summary><span class="toctree-toggle"></span></summary>')
    '<details><summary aria-label="Show or hide the pages of this part"><span class="toctree-toggle"></span></summary>'
    """
    # The search field's visible text ("Search Ctrl+K") must be part of its name: drop the
    # shorter aria-label and let the text name it.
    page = re.sub(r'(<button class="btn search-button-field[^"]*"[^>]*?) aria-label="Search"',
                  r"\1", page)
    # The colour-mode button's icons carry titles, which Font Awesome turns into text inside
    # the button: drop them; the button keeps its name, "Color mode".
    page = re.sub(r'(<i [^>]*?class="theme-switch [^>]*?)\s+title="[^"]*"', r"\1", page)
    # The hidden header button that takes the sidebar's click handlers (see above).
    page = re.sub(r'<button class="pst-navbar-icon sidebar-toggle primary-toggle"[^>]*>.*?</button>\s*',
                  "", page, count=1, flags=re.S)
    return page.replace("<summary><span class=\"toctree-toggle\"",
                        '<summary aria-label="Show or hide the pages of this part">'
                        '<span class="toctree-toggle"')


def _mend_pages(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        for path in Path(app.outdir).rglob("*.html"):
            text = path.read_text(encoding="utf-8")
            mended = accessible(text)
            if mended != text:
                path.write_text(mended, encoding="utf-8")


def setup(app):
    app.connect("config-inited", _defaults)
    # Sphinx stops this event at the first handler that returns a value: run before the others.
    app.connect("html-page-context", _page, priority=100)
    app.connect("build-finished", _mend_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
