"""A Sphinx extension for the course book, so its pages load with a clean browser console.

Jupyter Book 1.x with Sphinx 7 adds sphinx-thebe's inline configuration script twice, and the
second copy throws "Identifier 'THEBE_JS_URL' has already been declared" on every page; the
book theme leaves the colour mode empty until a reader picks one, which the theme's script
reports as an error; and a site without an icon makes every browser ask for a missing
/favicon.ico. Listed in book/_config.yml under `sphinx: extra_extensions`.
"""

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


def setup(app):
    app.connect("config-inited", _defaults)
    # Sphinx stops this event at the first handler that returns a value: run before the others.
    app.connect("html-page-context", _page, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
