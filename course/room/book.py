"""The plan's built book, served by the room to its people, with the annotation layer.

`book/<path>` serves the files of the built book (`--book DIR`, the html folder `igcb book`
writes) to logged-in people on the roster. HTML pages get, before `</head>`, the vendored
@recogito/text-annotator (installed into the venv by scripts/setup-venv.sh, served at
`vendor/text-annotator/`), the room's static/annotate.js and annotate.css, a JSON data
element (page, person, groups, API address, _xsrf token) and static/annotate-start.js, which
asks for the page's comments while the book's own files load. The public book is not touched: the
layer exists only in what the room sends.

Book pages run Jupyter Book's own scripts, so they get a Content-Security-Policy of their own:
scripts from the room's origin plus, by hash, exactly the inline scripts (and the two inline
onclick handlers of the theme's print and full-screen buttons) of that page; never
'unsafe-eval'. Styles may be inline (the theme and notebook outputs use style attributes);
comments are put in the page with textContent only, so no participant text becomes markup.

`book-annotations...` is the page script's JSON API (room cookie, X-XSRFToken header on every
request, as the hub requires for script requests); anything a person may not see is 404.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import mimetypes
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

from tornado import web

from course.cohort import annotations, reviewing
from course.room.base import JsonHandler, PageHandler

log = logging.getLogger("igcb.room")
TEXT_ANNOTATOR_VERSION = "4.1.1"  # keep equal to scripts/setup-venv.sh
VENDOR = "vendor/text-annotator/"
STATIC = Path(__file__).parent / "static"


def annotator_dist(prefix: Path | None = None) -> Path | None:
    """The library's dist/ folder in the venv (scripts/setup-venv.sh installs it), or None,
    logged, when it is missing or not the pinned version."""
    folder = Path(prefix or sys.prefix) / "node_modules" / "@recogito" / "text-annotator"
    dist = folder / "dist"
    try:
        version = json.loads((folder / "package.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        version = None
    if version is None or not (dist / "text-annotator.umd.js").is_file():
        log.error("the readings' annotation layer is missing: @recogito/text-annotator is not in "
                  "%s: run scripts/setup-venv.sh", folder)
        return None
    if version != TEXT_ANNOTATOR_VERSION:
        log.error("the readings' annotation layer: @recogito/text-annotator is %s in %s, not the "
                  "pinned %s: run scripts/setup-venv.sh", version, folder, TEXT_ANNOTATOR_VERSION)
        return None
    return dist


def book_file(root: Path, path: str) -> Path | None:
    """The file of the book at `path` (a folder means its index.html); None for anything that
    is not a file inside the book (.., absolute paths, dotfiles, links pointing out)."""
    if "\x00" in path or "\\" in path:
        return None
    parts = [p for p in path.split("/") if p]
    if any(p.startswith(".") for p in parts):
        return None
    target = root.joinpath(*parts)
    if not parts or path.endswith("/"):
        target = target / "index.html"
    try:
        resolved, base = target.resolve(strict=True), root.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(base) or not resolved.is_file():
        return None
    return resolved


class _ArticleText(HTMLParser):
    """The text of a page's annotated part, as the browser's textContent gives it: the first
    <article class="bd-article"> (Jupyter Book's content), else <main>, else the whole page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: dict[str, list[str]] = {"article": [], "main": [], "all": []}
        self.depth = {"article": 0, "main": 0}  # open elements of that name, once inside
        self.found = {"article": False, "main": False}
        self.closed = {"article": False, "main": False}

    def handle_starttag(self, tag, attrs):
        if tag not in self.depth or self.closed[tag]:
            return
        if self.depth[tag]:
            self.depth[tag] += 1
        elif tag == "main" or "bd-article" in (dict(attrs).get("class") or "").split():
            self.depth[tag], self.found[tag] = 1, True

    def handle_endtag(self, tag):
        if tag in self.depth and self.depth[tag]:
            self.depth[tag] -= 1
            self.closed[tag] = not self.depth[tag]

    def handle_data(self, data):
        self.parts["all"].append(data)
        for kind, depth in self.depth.items():
            if depth:
                self.parts[kind].append(data)

    def text(self) -> str:
        kind = next((k for k in ("article", "main") if self.found[k]), "all")
        return "".join(self.parts[kind])


def page_text(page_html: str) -> str:
    parser = _ArticleText()
    parser.feed(page_html)
    parser.close()
    return parser.text()


INLINE_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
HANDLER = re.compile(r"""<[a-z][^>]*?\son[a-z]+\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
JS_TYPES = {"", "text/javascript", "application/javascript", "module"}


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def book_csp(page_html: str) -> str:
    """The page's Content-Security-Policy: its own inline scripts by hash, nothing else inline."""
    scripts = set()
    for attrs, body in INLINE_SCRIPT.findall(page_html):
        if re.search(r"\ssrc\s*=", attrs, re.I):
            continue
        kind = re.search(r"""\stype\s*=\s*["']?([^"'\s>]*)""", attrs, re.I)
        if (kind.group(1).lower() if kind else "") in JS_TYPES:
            scripts.add(_sha256(body))
    handlers = {_sha256(html.unescape(a or b)) for a, b in HANDLER.findall(page_html)}
    script_src = " ".join(["'self'", *sorted(scripts)]
                          + (["'unsafe-hashes'", *sorted(handlers)] if handlers else []))
    return (f"default-src 'none'; script-src {script_src}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _json_for_html(data) -> str:
    """JSON safe inside a <script type="application/json"> element."""
    return (json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026"))


def _version(path: Path) -> str:
    try:
        return str(path.stat().st_mtime_ns)[-8:]
    except OSError:
        return "0"


def inject(page_html: str, prefix: str, data: dict, vendored: bool) -> str:
    """The page with the annotation layer added before </head>."""
    vendor = f"{prefix}{VENDOR}"
    tags = []
    if vendored:
        tags.append(f'<link rel="stylesheet" href="{vendor}text-annotator.css?v={TEXT_ANNOTATOR_VERSION}">')
    tags += [f'<link rel="stylesheet" href="{prefix}static/annotate.css?v={_version(STATIC / "annotate.css")}">',
             f'<script type="application/json" id="igcb-annotate">{_json_for_html(data)}</script>',
             f'<script async src="{prefix}static/annotate-start.js?v={_version(STATIC / "annotate-start.js")}"></script>']
    if vendored:
        tags.append(f'<script defer src="{vendor}text-annotator.umd.js?v={TEXT_ANNOTATOR_VERSION}"></script>')
    tags.append(f'<script defer src="{prefix}static/annotate.js?v={_version(STATIC / "annotate.js")}"></script>')
    layer = "\n".join(tags) + "\n"
    at = page_html.lower().find("</head>")
    return page_html[:at] + layer + page_html[at:] if at != -1 else layer + page_html


class BookCache:
    """Per built page: its HTML, text and CSP (read once per build), and whether its annotations
    were re-anchored against that build (once per build, per room process)."""

    def __init__(self):
        self.pages: dict[str, tuple] = {}  # page -> (stamp, html, text, csp)
        self.anchored: dict[str, tuple] = {}  # page -> stamp last re-anchored against

    def page(self, file: Path, page: str) -> tuple[tuple, str, str, str]:
        info = file.stat()  # before reading: a build writing it now shows up next time
        stamp = (info.st_mtime_ns, info.st_size)
        cached = self.pages.get(page)
        if cached is None or cached[0] != stamp:
            source = file.read_text("utf-8", errors="replace")
            cached = (stamp, source, page_text(source), book_csp(source))
            self.pages[page] = cached
        return cached


def _cache(handler) -> BookCache:
    return handler.application.settings.setdefault("igcb_book_cache", BookCache())


def _dist(handler) -> Path | None:
    settings = handler.application.settings
    if "igcb_annotator_dist" not in settings:
        settings["igcb_annotator_dist"] = annotator_dist()
    return settings["igcb_annotator_dist"]


def _book_root(room) -> Path | None:
    """The configured book folder when it holds a built book."""
    root = room.book_root
    return root if root is not None and (Path(root) / "index.html").is_file() else None


class BookPage(PageHandler):
    """A file of the built book; HTML pages with the annotation layer."""

    def check_xsrf_cookie(self):
        # The hub asks script-made requests for the _xsrf token even to read; but fonts and the
        # theme's own fetches of book files are same-origin "cors" GETs that cannot send it.
        # Reading a file of the book changes nothing, and Sec-Fetch-Site is set by the browser
        # (no page can forge it), so such a request is let through to the cookie check.
        if self.request.method in ("GET", "HEAD") and \
                self.request.headers.get("Sec-Fetch-Site") == "same-origin":
            return
        super().check_xsrf_cookie()

    def _not_built(self):
        if self.room.book_root is None:
            message = ("No book is configured for this course room: the room serves the readings "
                       "when started with --book DIR (igcb hub passes the book `igcb book` built).")
        else:
            message = (f"The readings have not been built yet: run igcb book"
                       f"{' --plan ' + self.room.course if self.room.course else ''}.")
        self.render_page("error.html", status=404, title="No readings yet", message=message)

    @web.authenticated
    def get(self, path: str):
        me = self.require_person()
        root = _book_root(self.room)
        if root is None:
            return self._not_built()
        file = book_file(Path(root), path)
        if file is None:
            raise web.HTTPError(404)
        page = file.relative_to(Path(root).resolve()).as_posix()
        if file.suffix.lower() not in (".html", ".htm"):
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            self.set_header("Content-Type", kind)
            self.set_header("Cache-Control", "private, max-age=3600")
            return self.finish(file.read_bytes())
        _, source, _, csp = _cache(self).page(file, page)
        with self.store.session() as s:
            choices = annotations.audience_choices(s, me.id)
        data = {"page": page, "api": self.url("book-annotations"), "xsrf": self.xsrf_token.decode("ascii"),
                "me": {"id": me.id, "name": me.name or me.id, "role": me.role},
                "groups": choices["groups"], "own_group": choices["own_group"],
                "moderation": self.url("moderation"), "room": self.url()}
        self.set_header("Content-Security-Policy", csp)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(inject(source, self.room.prefix, data, _dist(self) is not None))


class BookApi(JsonHandler):
    """JSON for the page script: the room's cookie, and the _xsrf token in X-XSRFToken."""

    async def prepare(self):
        await super().prepare()
        if self.current_user is None:  # also when a script request lacks X-XSRFToken
            raise web.HTTPError(403, reason="log in through the hub (and send X-XSRFToken)")
        if self.me is None:
            raise web.HTTPError(403, reason="not on this course's roster")

    def get_login_url(self):
        raise web.HTTPError(403)

    def book_page(self, page) -> tuple[str, str]:
        """(page, its text) for a page of the built book, re-anchoring the page's annotations
        the first time this build of the page is asked about; NotFound for anything else."""
        page = annotations.check_page(page)
        root = _book_root(self.room)
        file = book_file(Path(root), page) if root is not None else None
        if file is None or file.relative_to(Path(root).resolve()).as_posix() != page:
            raise reviewing.NotFound("no such page in the book")
        cache = _cache(self)
        stamp, _, text, _ = cache.page(file, page)
        if cache.anchored.get(page) != stamp:
            with self.transaction() as s:
                changed = annotations.reanchor(s, page, text)
            if changed["orphaned"] or changed["restored"]:
                log.info("annotations on %s: %d orphaned, %d found again after a rebuild", page,
                         len(changed["orphaned"]), len(changed["restored"]))
            cache.anchored[page] = stamp
        return page, text


class AnnotationsApi(BookApi):
    def get(self):
        me = self.require_person()
        page, _ = self.book_page(self.get_query_argument("page", ""))
        with self.transaction() as s:
            listing = annotations.page_annotations(s, me.id, page)
        self.send(listing)

    def post(self):
        me = self.require_person()
        data = self.body()
        try:
            page, text = self.book_page(data.get("page"))
        except reviewing.NotFound:
            raise reviewing.Invalid({"page": "not a page of the book"}) from None
        with self.transaction() as s:
            created = annotations.create(s, me.id, {**data, "page": page}, page_text=text)
        self.send(created, 201)


class AnnotationApi(BookApi):
    def get(self, annotation_id):
        me = self.require_person()
        with self.transaction() as s:
            item = annotations.get(s, me.id, annotation_id)
        self.send(item)

    def patch(self, annotation_id):
        me = self.require_person()
        data = self.body()
        with self.transaction() as s:
            edited = annotations.edit(s, me.id, annotation_id, data.get("body"))
        self.send(edited)  # committed above: the answer is the acknowledgement

    def delete(self, annotation_id):
        me = self.require_person()
        with self.transaction() as s:
            deleted = annotations.delete(s, me.id, annotation_id)
        self.send(deleted)


class RepliesApi(BookApi):
    def post(self, annotation_id):
        me = self.require_person()
        data = self.body()
        with self.transaction() as s:
            made = annotations.reply(s, me.id, annotation_id, data.get("body"))
        self.send(made, 201)


class FlagApi(BookApi):
    def post(self, annotation_id):
        from course.cohort import moderation  # written alongside; imported when first used

        me = self.require_person()
        data = self.body()
        reason = data.get("reason", "")
        with self.transaction() as s:
            # 404 for what this person cannot see, before moderation looks at it
            item = annotations.visible(s, me.id, annotation_id)
            result = moderation.flag(s, me.id, "annotation", item.id, reason)
        self.send({"flagged": item.id, **(result or {})}, 201)


ID = r"([0-9A-Za-z-]{1,64})"
HANDLERS = [
    (r"book/(.*)", BookPage),
    (r"book-annotations", AnnotationsApi),
    (rf"book-annotations/{ID}", AnnotationApi),
    (rf"book-annotations/{ID}/replies", RepliesApi),
    (rf"book-annotations/{ID}/flag", FlagApi),
]
