"""A small built book and a cohort for the annotation tests and bench (real `igcb book`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from click.testing import CliRunner

from course.layout import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = REPO_ROOT / "peer_review" / "examples"
READING = "modules/sample/reading.html"  # the reading's page in the built book

# The passages the tests comment on: one that a rebuild changes, one it keeps.
CHANGING = "The regional internet registries allocate address blocks to network operators"
CHANGED = "Five regional registries hand out address space to the operators"
KEPT = "Country code top-level domains are run by a manager in each country"
EARLIER = "This reading introduces who runs the numbers and names of the Internet."


def reading_markdown(changed: bool = False, extra_paragraphs: int = 0) -> str:
    first = CHANGED if changed else CHANGING
    intro = EARLIER if not changed else EARLIER.replace("introduces", "presents, briefly,")
    paragraphs = [
        "# Sample reading", intro,
        "## Numbers",
        f"{first} in their region, following policies their communities write in open meetings.",
        "## Names",
        f"{KEPT}, under policies agreed with the local Internet community.",
    ]
    paragraphs += [f"Paragraph {n}: multistakeholder bodies such as the IGF, ICANN, the RIRs and "
                   f"national regulators each meet, consult and publish decisions on topic {n}, "
                   f"and participants comment on them in writing before session {n % 12 + 1}."
                   for n in range(1, extra_paragraphs + 1)]
    return "\n\n".join(paragraphs)


def write_reading(course: Path, changed: bool = False, extra_paragraphs: int = 0) -> None:
    path = course / "modules" / "01-sample" / "reading.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [nbformat.v4.new_markdown_cell(reading_markdown(changed, extra_paragraphs)),
                      nbformat.v4.new_code_cell("print(1 + 1)")]
    nbformat.write(notebook, path)


def mini_course(folder: Path, extra_paragraphs: int = 0) -> Path:
    """A copy of the one-module fixture course, with this repository's book/ and our reading."""
    root = folder / "mini"
    shutil.copytree(FIXTURES / "mini", root)
    shutil.copytree(REPO_ROOT / "book", root / "book", ignore=shutil.ignore_patterns("_build"))
    write_reading(root, extra_paragraphs=extra_paragraphs)
    return root


def build_book(course: Path, out: Path) -> Path:
    """`igcb book --plan mini` (the real Jupyter Book build); the html folder."""
    result = subprocess.run([sys.executable, "-m", "course", "book", "--plan", "mini", "--out", str(out)],
                            env=dict(os.environ, IGCB_ROOT=str(course)), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert result.returncode == 0, result.stdout[-3000:]
    html = out / "_build" / "html"
    assert (html / READING).is_file(), result.stdout[-3000:]
    return html


def make_groups_cohort(db_url: str) -> None:
    """The example roster in the store at `db_url`, in study groups of six, with tutors."""
    from course.cli import main

    runner = CliRunner()
    for args in (["cohort", "init", "--plan", "online-course", "--roster", str(EXAMPLES / "roster.csv"),
                  "--tutors", str(EXAMPLES / "tutors.csv")],
                 ["cohort", "groups", "--size", "6"], ["cohort", "tutors"]):
        result = runner.invoke(main, [*args, "--db", db_url], env={"IGCB_HUB_ADMIN": "coord"},
                               catch_exceptions=False)
        assert result.exit_code == 0, f"igcb {' '.join(args)}: {result.output}"


def groups_of(store) -> dict[str, list[str]]:
    """group label -> its members' ids, and "tutor:<label>" -> the group's tutor."""
    from sqlalchemy import select

    from course.cohort.models import Membership, TutorAssignment

    out: dict[str, list[str]] = {}
    with store.session() as s:
        for m in s.scalars(select(Membership).order_by(Membership.person_id)):
            out.setdefault(m.group_label, []).append(m.person_id)
        for t in s.scalars(select(TutorAssignment)):
            out[f"tutor:{t.group_label}"] = [t.tutor_id]
    return out
