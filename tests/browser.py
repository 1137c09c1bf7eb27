"""Drive Debian's Chromium with Playwright (tests): launch it, serve a static site, log in at the
hub, weigh pages.

The browser is the system's /usr/bin/chromium (scripts/setup-venv.sh installs it), never one
downloaded by `playwright install`.
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Browser, BrowserContext, Error, Page, Request, sync_playwright

from hub_helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
# --no-sandbox: the tests run as root. The rest keep Chromium from calling hosts this machine
# cannot reach (updates, sync, field trials) and from needing a GPU.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
ROOM = "/services/room/"


@contextmanager
def chromium():
    """A running Chromium (headless), closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class QuietHandler(SimpleHTTPRequestHandler):
    """Static files, with the types a JupyterLite site needs, and no log on stderr."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".mjs": "text/javascript", ".js": "text/javascript"}

    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve(folder: Path):
    """A static web server for `folder` on 127.0.0.1 (a free port); yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def log_in(target: Browser | BrowserContext, hub_url: str, user: str, path: str = ROOM,
           **context_options) -> Page:
    """A page logged in through the hub's real login form, then at `path` (the room's home).

    `target` is a browser (a new context is made with `context_options`) or a context.
    Going through `next` keeps the hub from starting the user's own server.
    """
    context = target.new_context(**context_options) if isinstance(target, Browser) else target
    page = context.new_page()
    page.goto(f"{hub_url}/hub/login?next={quote(path)}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(f"{hub_url}{path}*")
    return page


class Dialogs:
    """Records (and dismisses) every alert, confirm or prompt a page opens."""

    def __init__(self, page: Page):
        self.messages: list[str] = []
        page.on("dialog", self._seen)

    def _seen(self, dialog) -> None:
        self.messages.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


class Weigher:
    """Sums what a page loads: the document and every response it causes (headers and body)."""

    def __init__(self, page: Page):
        self.page = page
        self.requests: list[Request] = []
        page.on("request", lambda request: self.requests.append(request))

    def weigh(self, url: str) -> tuple[int, list[tuple[str, int]]]:
        """Open `url`; (bytes in all, [(url, bytes)]). Bodies count as decoded (the larger)."""
        self.requests.clear()
        self.page.goto(url)
        self.page.wait_for_load_state("load")
        parts = []
        for request in list(self.requests):
            response = request.response()
            if response is None:
                continue
            response.finished()
            try:
                body = len(response.body())
            except Error:  # a redirect has no body
                body = 0
            headers = request.sizes()["responseHeadersSize"]
            parts.append((request.url, body + max(headers, 0)))
        return sum(size for _, size in parts), parts


def fields_without_label(page: Page) -> list[str]:
    """Form controls (not hidden) with no accessible label: a <label>, aria-label(ledby), or
    for buttons their text."""
    return page.eval_on_selector_all(
        "input:not([type=hidden]), textarea, select, button",
        """els => els.filter(e => {
            if (e.tagName === 'BUTTON') return !e.textContent.trim() && !e.getAttribute('aria-label');
            if (e.getAttribute('aria-label') || e.getAttribute('aria-labelledby')) return false;
            return !(e.labels && [...e.labels].some(l => l.textContent.trim()));
        }).map(e => e.outerHTML.slice(0, 120))""")
