"""A small built book and annotation bodies for the room's attack and durability tests.

The book is written by hand (an index, one reading, a stylesheet) rather than built with
`igcb book`: the room serves whatever HTML files `--book DIR` holds, and these tests attack the
room, not the build (tests/test_annotations.py uses a real build).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from course.layout import Layout
from course.modules import load_catalogue
from course.plans import load_named_plan
from course.room import calendar

READING = "modules/sample/reading.html"
SECRET = "SECRET-OUTSIDE-THE-BOOK"  # a file next to the book, never served
PASSAGES = [
    "The regional internet registries allocate address blocks to network operators.",
    "Country code top-level domains are run by a manager in each country.",
    "The Internet Governance Forum meets once a year and takes no decisions.",
    "Standards bodies such as the IETF publish their documents openly.",
    "National regulators license operators and set rules for consumer protection.",
    "Multistakeholder processes let civil society speak next to governments.",
]


def _page(title: str, up: str, content: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<link rel="stylesheet" href="{up}_static/book.css"></head><body><main>'
            f'<article class="bd-article" role="main"><h1>{title}</h1>{content}</article>'
            '</main></body></html>\n')


def make_book(folder: Path) -> Path:
    """The html folder of a tiny built book; SECRET lies beside it, outside the book."""
    html = folder / "book" / "_build" / "html"
    (html / "modules" / "sample").mkdir(parents=True)
    (html / "_static").mkdir()
    (html / "index.html").write_text(_page(
        "Readings", "", f'<p><a href="{READING}">Sample reading</a></p>'), encoding="utf-8")
    (html / READING).write_text(_page(
        "Sample reading", "../../", "".join(f"<p>{p}</p>" for p in PASSAGES)), encoding="utf-8")
    (html / "_static" / "book.css").write_text("article { max-width: 40em; }\n", encoding="utf-8")
    (folder / "book" / "_build" / "secret.txt").write_text(SECRET, encoding="utf-8")
    return html


def annotation(passage: int, body: str, audience: str = "group", **extra) -> dict:
    """What the page script sends to create a comment on PASSAGES[passage]."""
    text = "".join(PASSAGES)
    exact = PASSAGES[passage]
    at = text.index(exact)
    return {"id": str(uuid.uuid4()), "page": READING, "body": body, "audience": audience,
            "target": [{"source": f"book/{READING}", "selector": [
                {"type": "TextQuoteSelector", "exact": exact, "prefix": text[max(0, at - 10):at],
                 "suffix": text[at + len(exact):at + len(exact) + 10]},
                {"type": "TextPositionSelector", "start": at, "end": at + len(exact)}]}],
            **extra}


def plan_sessions() -> list[dict]:
    """The shipped online course's sessions, as the room passes them (calendar.sessions)."""
    layout = Layout.default()
    catalogue, _ = load_catalogue(layout.modules)
    return calendar.sessions(load_named_plan("online-course", layout.plans), catalogue)
