"""The book to take away: the whole book as one PDF, and its web pages as a zip, both made
offline and put beside the book's pages so that its front page can link to them.

The PDF is Sphinx's single-page build of the same staged sources (the notebooks come from the
execution cache, so nothing runs twice), printed by the same Chromium the tests and the cohort
report use. The zip holds the HTML folder as it is, minus the downloads themselves.
"""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from pathlib import Path

from course.errors import UserError
from course.printing import CHROMIUM, print_pdf


def download_names(plan_id: str) -> dict[str, str]:
    """The two files' names, as the front page links to them.

    >>> download_names("online-course")
    {'pdf': 'online-course.pdf', 'zip': 'online-course-html.zip'}
    """
    return {"pdf": f"{plan_id}.pdf", "zip": f"{plan_id}-html.zip"}


def front_page_note(plan_id: str) -> str:
    """The front page's paragraph (MyST with inline HTML) that links to the two files."""
    names = download_names(plan_id)
    return (f'**Take the book with you.** The whole book as a <a href="{names["pdf"]}">PDF</a>, '
            "to read offline or print; or its web pages as a "
            f'<a href="{names["zip"]}">zip file</a>: unzip it and open `index.html` in any '
            "browser, with no connection (the links to the course's hub and to other sites need "
            "one).")


def zip_folder(folder: Path, dest: Path, leave_out: set[str] = frozenset()) -> int:
    """Zip `folder`'s files (paths relative to it, in a stable order; hidden files, and names
    in `leave_out` at its top, are left out) into `dest`, written under a temporary name and renamed into
    place, so a stopped run leaves no half-written zip. Returns the zip's size in bytes."""
    partial = dest.with_name(f".{dest.name}.partial")
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and p.relative_to(folder).parts[0] not in leave_out
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(folder).as_posix())
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return dest.stat().st_size


def single_page_build(jupyter_book: str, source: Path, out: Path) -> Path:
    """Sphinx's one-page build of the staged sources into `out`; the path of its page."""
    result = subprocess.run([jupyter_book, "build", str(source), "--builder", "singlehtml",
                             "--path-output", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    folder = out / "_build" / "singlehtml"
    page = folder / "index.html"
    if result.returncode != 0 or not page.is_file():
        raise UserError("the one-page build for the PDF failed (jupyter-book exit status "
                        f"{result.returncode}):\n{result.stdout[-3000:]}")
    # Jupyter Book's index.html only redirects to the book's first page, which holds the book:
    # print that page, or the redirect would navigate away while Chromium prints.
    found = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"',
                      page.read_text(encoding="utf-8"), re.I)
    return folder / found.group(1) if found and (folder / found.group(1)).is_file() else page


def make_downloads(plan_id: str, jupyter_book: str, source: Path, build: Path,
                   chromium: str = CHROMIUM, progress=print) -> dict[str, int]:
    """Write `<plan>.pdf` and `<plan>-html.zip` into `build`/html; return their sizes."""
    html = build / "html"
    names = download_names(plan_id)
    progress("      the one-page edition, for the PDF")
    page = single_page_build(jupyter_book, source, build / "single")
    progress(f"      printing {names['pdf']} with Chromium")
    partial = html / f".{names['pdf']}.partial"
    try:
        print_pdf(page, partial, chromium, margins_mm=(18, 15), page_numbers=True)
        os.replace(partial, html / names["pdf"])
    except FileNotFoundError:
        raise UserError(f"no Chromium at {chromium} to print the book's PDF: install Debian's "
                        "chromium (scripts/setup-venv.sh does), or give --no-downloads") from None
    finally:
        partial.unlink(missing_ok=True)
    progress(f"      zipping the web pages into {names['zip']}")
    # The labs' site (lite/) needs a web server to run, so it stays out of the zip.
    zip_folder(html, html / names["zip"], leave_out={names["pdf"], names["zip"], "lite"})
    return {name: (html / name).stat().st_size for name in names.values()}
