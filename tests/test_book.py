"""`igcb book`: the real Jupyter Book build of every shipped plan, strict, and its cache."""

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course.layout import REPO_ROOT, Layout
from course.modules import load_catalogue
from course.pages import schedule_rows
from course.plans import load_plan, shipped_plans


def igcb(*args: str, root: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `igcb` command, as a user would, capturing everything it prints."""
    env = dict(os.environ, **({"IGCB_ROOT": str(root)} if root else {}))
    return subprocess.run([sys.executable, "-m", "course", *args], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def reading_order(html: Path) -> list[str]:
    """Follow the pages' rel="next" links from the front page: the book's reading order."""
    order, page = [], html / "intro.html"
    while page is not None and len(order) < 200:
        order.append(page.relative_to(html).as_posix())
        found = re.search(r'<link rel="next" title="[^"]*" href="([^"]+)"', page.read_text())
        page = (page.parent / found.group(1)).resolve() if found else None
    return order


def translated_messages(language: str, page: str) -> dict[str, str]:
    """A page's translations in the shipped catalogues (none for English)."""
    if language == "en":
        return {}
    from babel.messages.pofile import read_po

    with open(REPO_ROOT / f"translations/{language}/LC_MESSAGES/{page}.po", "rb") as po:
        return {m.id: m.string for m in read_po(po) if m.id and m.string}


def executed(output: str) -> list[str]:
    return sorted(Path(p).name for p in re.findall(r"(\S+\.ipynb): Executing notebook", output))


def test_mini_book_builds_and_rebuilds_only_what_changed(mini_course, tmp_path):
    out = tmp_path / "out"
    first = igcb("book", "--plan", "mini", "--out", str(out), "--strict", root=mini_course)
    assert first.returncode == 0, first.stdout
    assert executed(first.stdout) == ["lab.ipynb", "reading.ipynb"]
    assert f"The book is ready: {out / '_build/html/index.html'}" in first.stdout
    assert "[1/2]" in first.stdout and "[2/2]" in first.stdout  # progress

    again = igcb("book", "--plan", "mini", "--out", str(out), "--strict", root=mini_course)
    assert again.returncode == 0 and executed(again.stdout) == []

    lab = mini_course / "modules/01-sample/lab.ipynb"
    notebook = nbformat.read(lab, as_version=4)
    notebook.cells[1].source += "\ntable.mean()"
    nbformat.write(notebook, lab)
    edited = igcb("book", "--plan", "mini", "--out", str(out), "--strict", root=mini_course)
    assert edited.returncode == 0 and executed(edited.stdout) == ["lab.ipynb"]


def test_a_failing_notebook_fails_the_build(mini_course, tmp_path):
    lab = mini_course / "modules/01-sample/lab.ipynb"
    notebook = nbformat.read(lab, as_version=4)
    notebook.cells[1].source = "1 / 0"
    nbformat.write(notebook, lab)
    result = igcb("book", "--plan", "mini", "--out", str(tmp_path / "out"), root=mini_course)
    assert result.returncode == 2
    assert "ZeroDivisionError" in result.stdout
    assert "Error: the book did not build" in result.stdout


def test_a_broken_plan_stops_before_building(mini_course, tmp_path):
    plan = mini_course / "course/plans/mini.yml"
    plan.write_text(plan.read_text().replace("modules: [sample]", "modules: [nothing]"))
    result = igcb("book", "--plan", "mini", "--out", str(tmp_path / "out"), root=mini_course)
    assert result.returncode == 2
    assert "course/plans/mini.yml: sessions[1].modules: unknown module 'nothing'" in result.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("plan_path", shipped_plans(), ids=lambda p: p.stem)
def test_every_shipped_plan_builds_strictly(plan_path, shipped_book):
    plan, _ = load_plan(plan_path)
    result, html = shipped_book(plan.id)
    assert result.returncode == 0, result.stdout[-5000:]
    expected = ["intro.html", "syllabus.html", "schedule.html"]
    catalogue = {e.name.split("-", 1)[1]: e for e in Layout.default().modules.iterdir()
                 if e.is_dir() and not e.name.startswith(".")}
    for module_id in plan.module_ids:
        expected.append(f"modules/{module_id}/index.html")
        for page in sorted(catalogue[module_id].glob("*.ipynb")):
            assert (html / f"modules/{module_id}/{page.stem}.html").is_file()
    order = reading_order(html)
    modules_in_order = list(dict.fromkeys(
        p.split("/")[1] for p in order if p.startswith("modules/")))
    assert modules_in_order == plan.module_ids
    assert order[:3] == expected[:3] and order[-1] == "about.html"
    assert [p for p in order if p.endswith("index.html")] == expected[3:]
    schedule = (html / "schedule.html").read_text()
    catalogue_entries, _ = load_catalogue(Layout.default().modules)
    dates = translated_messages(plan.language, "schedule")
    for row in schedule_rows(plan, catalogue_entries):
        assert f"<td><p>{dates.get(row['date'], row['date'])}</p></td>" in schedule
    assert plan.title in (html / "intro.html").read_text()


def test_labs_open_in_the_plan_hub_through_nbgitpuller(mini_course, tmp_path):
    result = igcb("book", "--plan", "mini", "--out", str(tmp_path / "out"), "--strict",
                  root=mini_course)
    assert result.returncode == 0, result.stdout
    link = ('href="https://hub.example.org/hub/user-redirect/git-pull?'
            'repo=https%3A%2F%2Fexample.org%2Figcb%2Fcourse&amp;branch=main&amp;'
            'urlpath=lab%2Ftree%2Fcourse%2Fmodules%2F01-sample%2Flab.ipynb"')
    html = tmp_path / "out/_build/html/modules/sample"
    assert link in (html / "index.html").read_text()
    assert link in (html / "lab.html").read_text()
    assert "git-pull" not in (html / "reading.html").read_text()
