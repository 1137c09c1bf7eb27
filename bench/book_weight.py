"""Weigh the course book as a reader's browser gets it: the bytes each key page makes
Chromium download (HTML, styles, scripts, fonts, images), and the size of the book to take
away (PDF, zip of the pages) and of the no-server labs' site.

Run by hand, not in the test suite:

    .venv/bin/python bench/book_weight.py [--plan online-course] [--html BUILT/_build/html]

Without --html it builds the plan's book (with the downloads and the no-server labs) into a
temporary folder first. Pages are served on 127.0.0.1 and loaded in a fresh browser context
each (an empty cache: a first visit); requests to other hosts are refused and counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser import chromium, serve  # noqa: E402  (tests/browser.py: Debian's Chromium)


KEY_PAGES = ["intro.html", "syllabus.html", "schedule.html", "compendium.html",
             "modules/what-is-ig/index.html", "modules/what-is-ig/reading.html",
             "modules/what-is-ig/lab.html", "modules/development-access/lab.html",
             "search.html"]


def kind(content_type: str, url: str) -> str:
    for name, marks in [("html", ["text/html"]), ("css", ["text/css"]),
                        ("js", ["javascript"]), ("font", ["font", ".woff"]),
                        ("image", ["image/"])]:
        if any(m in content_type or url.endswith(m) for m in marks):
            return name
    return "other"


def weigh(browser, url: str) -> dict[str, int]:
    """Bytes downloaded to show `url` on a first visit, by kind, and requests to other hosts."""
    context = browser.new_context()
    page = context.new_page()
    sizes: dict[str, int] = defaultdict(int)
    outside = []

    def route(r):
        if r.request.url.startswith("http://127.0.0.1"):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    def done(response):
        try:
            body = response.body()
        except Exception:  # a redirect or an aborted request has no body
            return
        sizes[kind(response.headers.get("content-type", ""), response.url)] += len(body)

    page.route("**/*", route)
    page.on("response", done)
    page.goto(url, wait_until="networkidle")
    context.close()
    sizes["outside requests"] = len(outside)
    return dict(sizes)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default="online-course")
    parser.add_argument("--html", type=Path, help="an already built book's html folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        html = args.html
        if html is None:
            out = Path(tmp) / "book"
            subprocess.run([sys.executable, "-m", "course", "book", "--plan", args.plan,
                            "--out", str(out), "--lite"], check=True, env=dict(os.environ))
            html = out / "_build" / "html"
        with serve(html) as base, chromium() as browser:
            print("| page | total KiB | HTML | CSS | JS | fonts | images | other | outside requests |")
            print("|---|---|---|---|---|---|---|---|---|")
            for path in KEY_PAGES:
                if not (html / path).is_file():
                    continue
                s = weigh(browser, base + path)
                total = sum(v for k, v in s.items() if k != "outside requests")
                cells = [s.get(k, 0) / 1024 for k in ("html", "css", "js", "font", "image", "other")]
                print(f"| {path} | {total / 1024:,.0f} | " + " | ".join(f"{c:,.0f}" for c in cells)
                      + f" | {s['outside requests']} |")
        print()
        for name in (f"{args.plan}.pdf", f"{args.plan}-html.zip"):
            if (html / name).is_file():
                print(f"{name}: {(html / name).stat().st_size / 2**20:.1f} MiB")
        if (html / "lite").is_dir():
            print(f"lite/ (the no-server labs' site): {folder_size(html / 'lite') / 2**20:.1f} MiB")
        pages = [p for p in html.rglob("*.html") if "lite" not in p.relative_to(html).parts]
        print(f"the book's HTML folder without lite/: {(folder_size(html) - folder_size(html / 'lite') if (html / 'lite').is_dir() else folder_size(html)) / 2**20:.1f} MiB, {len(pages)} pages")


if __name__ == "__main__":
    main()
