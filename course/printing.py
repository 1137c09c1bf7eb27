"""Print an HTML page to PDF with Debian's Chromium through Playwright, offline: every request
that is not a file of the page's own folder is refused. Used by the cohort report and by the
book to take away; never `playwright install`, which would download a browser of its own.
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
# The page number and count at the foot of each page (Chromium fills in the two spans).
PAGE_NUMBERS = ('<div style="font-size:8px;width:100%;text-align:center;color:#444">'
                '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


def print_pdf(html: Path, pdf: Path, chromium: str = CHROMIUM, *, margins_mm=(15, 12),
              page_numbers: bool = False) -> None:
    """Print `html` to `pdf` (A4). `margins_mm` is (top and bottom, left and right). With
    `page_numbers`, each page has its number at the foot, and the PDF has an outline from the
    headings and is tagged for screen readers. FileNotFoundError when Chromium is missing."""
    if not Path(chromium).exists():
        raise FileNotFoundError(chromium)
    from playwright.sync_api import sync_playwright

    folder = html.resolve().parent.as_uri() + "/"

    def only_the_folder(route):
        if route.request.url.startswith(folder):
            route.continue_()
        else:
            route.abort()

    vertical, horizontal = (f"{m}mm" for m in margins_mm)
    options = {"format": "A4", "print_background": True,
               "margin": {"top": vertical, "bottom": vertical, "left": horizontal,
                          "right": horizontal}}
    if page_numbers:
        options.update(display_header_footer=True, header_template="<span></span>",
                       footer_template=PAGE_NUMBERS, outline=True, tagged=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_folder)
            page.goto(html.resolve().as_uri(), wait_until="load")
            page.emulate_media(media="print")
            page.pdf(path=str(pdf), **options)
        finally:
            browser.close()
