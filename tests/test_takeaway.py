"""The book to take away: `igcb book` writes the whole book as a PDF (printed by Debian's
Chromium from Sphinx's one-page build) and its web pages as a zip, beside the pages, and the
front page links to both."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from course.takeaway import download_names, zip_folder


def igcb(*args: str, root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course", *args], text=True,
                          env=dict(os.environ, IGCB_ROOT=str(root)),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_zip_folder_keeps_relative_paths_and_leaves_out_what_it_is_told(tmp_path):
    site = tmp_path / "html"
    (site / "a" / "b").mkdir(parents=True)
    (site / "index.html").write_text("front")
    (site / "a" / "b" / "page.html").write_text("page")
    (site / "book.pdf").write_bytes(b"%PDF")
    size = zip_folder(site, site / "book-html.zip", leave_out={"book.pdf", "book-html.zip"})
    with zipfile.ZipFile(site / "book-html.zip") as archive:
        assert sorted(archive.namelist()) == ["a/b/page.html", "index.html"]
        assert archive.read("a/b/page.html") == b"page"
    assert size == (site / "book-html.zip").stat().st_size
    assert [p.name for p in site.iterdir() if p.name.startswith(".")] == []


def test_a_zip_that_fails_half_way_leaves_nothing_behind(tmp_path):
    site = tmp_path / "html"
    site.mkdir()
    (site / "a.html").write_text("front")
    (site / "b.html").symlink_to("/proc/self/mem")  # a file whose reading fails (EIO)
    with pytest.raises(OSError):
        zip_folder(site, tmp_path / "out.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["html"]


@pytest.mark.slow
def test_the_book_comes_with_its_pdf_and_zip_linked_from_the_front_page(mini_course, tmp_path):
    out = tmp_path / "out"
    result = igcb("book", "--plan", "mini", "--out", str(out), root=mini_course)
    assert result.returncode == 0, result.stdout[-3000:]
    html = out / "_build" / "html"
    names = download_names("mini")
    front = (html / "intro.html").read_text(encoding="utf-8")
    for name in names.values():
        assert f'href="{name}"' in front, f"the front page does not link to {name}"
    pdf = PdfReader(html / names["pdf"])
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert len(pdf.pages) >= 3
    assert "A mini course" in text and "Syllabus" in text and "Schedule" in text
    assert "1 / " in text, "page numbers at the foot"
    assert pdf.outline, "an outline from the headings"
    with zipfile.ZipFile(html / names["zip"]) as archive:
        inside = set(archive.namelist())
    assert {"index.html", "intro.html", "syllabus.html", "schedule.html"} <= inside
    assert not {names["pdf"], names["zip"]} & inside
    assert not any(n.startswith("lite/") for n in inside)
    assert not [p for p in html.iterdir() if p.name.endswith(".partial")]


def test_without_chromium_the_book_says_so_and_writes_no_download(mini_course, tmp_path):
    out = tmp_path / "out"
    result = igcb("book", "--plan", "mini", "--out", str(out), "--chromium",
                  str(tmp_path / "no-chromium"), root=mini_course)
    assert result.returncode == 2
    assert re.search(r"no Chromium at \S+no-chromium to print the book's PDF", result.stdout)
    html = out / "_build" / "html"
    assert not list(html.glob("mini.pdf")) and not list(html.glob("mini-html.zip"))
    assert not [p for p in html.iterdir() if p.name.endswith(".partial")]


def test_no_downloads_builds_the_pages_alone(mini_course, tmp_path):
    out = tmp_path / "out"
    result = igcb("book", "--plan", "mini", "--out", str(out), "--no-downloads", root=mini_course)
    assert result.returncode == 0, result.stdout[-3000:]
    html = out / "_build" / "html"
    assert (html / "intro.html").is_file() and not (html / "mini.pdf").exists()
    assert 'href="mini.pdf"' not in (html / "intro.html").read_text(encoding="utf-8")
