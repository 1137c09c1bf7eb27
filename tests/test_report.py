"""`igcb report` end to end: synthetic cohorts with planted effects in real stores (SQLite and
PostgreSQL), the report opened in real Chromium, its PDF read with pypdf, its CSV files."""

import csv
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy
from click.testing import CliRunner
from pypdf import PdfReader

from browser import chromium
from course.cli import main
from course.cohort.models import EvaluationAnswer
from course.evaluation import statistics as st
from course.layout import Layout
from evaluation_fixtures import HTML_TEXT, SMALL_GENDER, make_cohort


def igcb(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _numbers(cells) -> list[str]:
    """The cells that show a number (the marks <5 and x do not)."""
    return [c for c in cells if c not in (st.SMALL, st.HIDDEN) and re.search(r"\d", c)]


def open_in_chromium(folder: Path) -> dict:
    """Open index.html in Chromium: console errors, requests, and every <img>'s alt and size."""
    found = {"errors": [], "requests": []}
    with chromium() as browser:
        page = browser.new_page()
        page.on("console", lambda m: found["errors"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: found["errors"].append(str(e)))
        page.on("request", lambda r: found["requests"].append(r.url))
        page.goto((folder / "index.html").as_uri(), wait_until="load")
        found["images"] = page.eval_on_selector_all(
            "img", "els => els.map(e => ({src: e.getAttribute('src'), alt: e.getAttribute('alt'), "
                   "width: e.naturalWidth, complete: e.complete}))")
        found["gender_rows"] = page.eval_on_selector_all(
            "tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))"
                  ".filter(cells => cells[0] === 'non binary')")
        found["rewrite"] = page.eval_on_selector_all(".rewrite li strong", "els => els.map(e => e.textContent)")
        found["text"] = page.inner_text("body")
    return found


def _count(cell: str) -> int | None:
    return int(cell.replace(",", "")) if re.fullmatch(r"[\d,]+", cell) else None


# Columns of one table whose difference is a number of people: those not active, not
# completed, without grades; who answered only before or only after.
WHOLE_AND_PART = [("People", "Active"), ("People", "Completed"), ("People", "With grades"),
                  ("People", "Took both tests"), ("People before", "People both"),
                  ("People after", "People both")]


def assert_no_small_count_by_difference(folder: Path) -> None:
    """No CSV of the report lets one work out 1 to 4 people: as a column less another in a
    row, as stages or measures of different numbers of people, or as a scale question's hidden
    point from its mean and the other points (the ways an audit found)."""
    marks = (st.SMALL, st.HIDDEN)
    for path in sorted((folder / "data").glob("table-*.csv")):
        head, *body = _csv_rows(path)
        col = {h: i for i, h in enumerate(head)}
        for whole, part in WHOLE_AND_PART:
            if whole in col and part in col:
                for row in body:
                    a, b = _count(row[col[whole]]), _count(row[col[part]])
                    assert a is None or b is None or not 0 < a - b < 5, (path.name, whole, part, row)
                    # of 5 to 9 people, "<5" beside "x" (five or more) would say how many were left out
                    assert a is None or a >= 10 or row[col[part]] != st.SMALL, (path.name, whole, part, row)
        if head[:2] in (["Stage", "People"], ["Measure", "Value"]):  # the funnel; the knowledge gain
            counts = [c for c in (_count(row[col["People"]]) for row in body) if c is not None]
            assert all(not 0 < max(counts) - c < 5 for c in counts), (path.name, body)
        points = [h for h in head if h.isdigit()]
        for row in body if points else []:
            hidden = [row[col[p]] in marks for p in points]
            assert all(hidden) or not any(hidden), (path.name, row)


def check_report(folder: Path, group_of_four: bool = True) -> dict:
    """What every report must be: files, plots with alt text and CSV, no errors in Chromium,
    no participant text; `group_of_four`: the report's gender non_binary has four people (one
    cohort of make_cohort), never shown as a number. Returns what Chromium saw."""
    html = (folder / "index.html").read_text(encoding="utf-8")
    seen = open_in_chromium(folder)
    assert seen["errors"] == []
    assert all(url.startswith(folder.as_uri()) or url.startswith("data:") for url in seen["requests"])
    plots = sorted((folder / "plots").glob("*.png"))
    assert len(seen["images"]) == len(plots) > 0
    for image in seen["images"]:
        assert image["alt"] and len(image["alt"].strip()) > 20, image
        assert image["complete"] and image["width"] > 0, image  # it loaded
        name = Path(image["src"]).stem
        assert (folder / "plots" / f"{name}.png").exists()
        assert (folder / "data" / f"{name}.csv").exists(), f"no CSV for plot {name}"
    assert HTML_TEXT not in html and "never rendered" not in html and "<script>alert" not in html
    assert_no_small_count_by_difference(folder)
    if not group_of_four:
        return seen
    # the group of four (gender non_binary) never appears as a number, in HTML or CSV
    assert seen["gender_rows"]
    for cells in seen["gender_rows"]:
        assert _numbers(cells[1:]) == [], cells
    rows = 0
    for path in (folder / "data").glob("*.csv"):
        for row in _csv_rows(path):
            if row and row[0] in ("non binary", SMALL_GENDER):
                rows += 1
                assert _numbers(row[1:]) == [], (path.name, row)
    assert rows
    return seen


@pytest.fixture
def cohort_url(db_url):
    planted = make_cohort(db_url, n=140, seed=7)
    return db_url, planted


def test_report_of_one_cohort(cohort_url, tmp_path):
    url, planted = cohort_url
    out = tmp_path / "out" / "report"
    out.parent.mkdir()
    result = igcb("report", "--db", url, "-o", str(out))
    assert result.exit_code == 0, result.output + result.stderr
    for line in ("report: reading cohort 1/1", "report: plotting", "report: printing the PDF"):
        assert line in result.stderr
    assert [p.name for p in out.parent.iterdir()] == ["report"]  # no temporary folder left
    seen = check_report(out)
    # the PDF has every plot
    pdf = PdfReader(out / "report.pdf")
    assert sum(len(page.images) for page in pdf.pages) == len(seen["images"])
    # the planted bad items are named, the good ones are not
    assert sorted(seen["rewrite"]) == sorted([planted.chance_item, planted.negative_item])
    # the planted gain is recovered (within three standard errors: the 95% interval's coverage
    # is tested in test_report_statistics.py); withdrawn people are not counted
    gain = {row[0]: row for row in _csv_rows(out / "data" / "table-knowledge-gain-knowledge.csv")}
    value, low, high = (float(x) for x in gain["Gain (points of 100)"][1:4])
    assert low < value < high
    assert abs(value - 100 * planted.true_gain) < 3 * (high - low) / (2 * 1.96)
    funnel = {row[0]: row[1] for row in _csv_rows(out / "data" / "table-funnel.csv")}
    assert funnel["enrolled"] == str(planted.participants)
    assert "left out of every count (fewer than five)" in seen["text"]  # the two who withdrew
    assert "non binary" in seen["text"] and st.SMALL in seen["text"]


def test_several_cohorts_with_cohorts(db_url, tmp_path):
    make_cohort(db_url, n=70, seed=11, followup_year=2028)
    make_cohort(f"sqlite:///{tmp_path}/b/cohort.sqlite", n=60, seed=12, grades=False)
    make_cohort(f"sqlite:///{tmp_path}/c.sqlite", n=50, seed=13)
    out = tmp_path / "report"
    result = igcb("report", "--cohorts", db_url, str(tmp_path / "b"), str(tmp_path / "c.sqlite"),
                  "-o", str(out), "--no-pdf")
    assert result.exit_code == 0, result.output + result.stderr
    assert "report: reading cohort 3/3 (c)" in result.stderr
    assert not (out / "report.pdf").exists()
    seen = check_report(out, group_of_four=False)  # pooled: 4 + 4 (+ 4) non_binary people
    cohorts = [row[0] for row in _csv_rows(out / "data" / "table-by-cohort.csv")[1:]]
    assert cohorts[1:] == ["b", "c", st.TOTAL]
    waves = [row[0] for row in _csv_rows(out / "data" / "table-followup-follow-up-6m-trainings.csv")[1:]]
    assert any(w.endswith("2028") for w in waves) and any(w.endswith("2027") for w in waves)
    assert "No grades were copied for b" in seen["text"]


def test_an_empty_cohort_says_what_is_missing(db_url, tmp_path):
    make_cohort(db_url, n=30, seed=3, answers=False)
    out = tmp_path / "report"
    result = igcb("report", "--db", db_url, "-o", str(out))
    assert result.exit_code == 0, result.output + result.stderr
    seen = check_report(out)
    for missing in ("No grades were copied", "run `igcb evaluation grades`",
                    "nobody has answered it", "Survey 'reaction': no answers yet",
                    "No review rounds", "Nobody has joined the alumni register",
                    "Follow-up survey 'follow-up-6m': no answers yet"):
        assert missing in seen["text"], missing
    pdf = PdfReader(out / "report.pdf")
    assert sum(len(page.images) for page in pdf.pages) == len(seen["images"])
    # a plan without an instruments file: the report says so; a broken one is refused
    plans = tmp_path / "plans"
    plans.mkdir()
    shutil.copy(Layout.default().plans / "online-course.yml", plans)
    bare = igcb("report", "--db", db_url, "--plan", str(plans / "online-course.yml"),
                "-o", str(tmp_path / "bare"), "--no-pdf")
    assert bare.exit_code == 0, bare.stderr
    assert "no evaluation instruments" in (tmp_path / "bare" / "index.html").read_text(encoding="utf-8")
    (plans / "evaluation").mkdir()
    (plans / "evaluation" / "online-course.yml").write_text("plan: online-course\ninstruments: 3\n")
    broken = igcb("report", "--db", db_url, "--plan", str(plans / "online-course.yml"),
                  "-o", str(tmp_path / "broken"), "--no-pdf")
    assert broken.exit_code == 2 and "evaluation/online-course.yml" in broken.stderr
    assert not (tmp_path / "broken").exists()


def test_the_output_folder_is_written_all_or_nothing(tmp_path):
    state = tmp_path / "state"
    make_cohort(f"sqlite:///{state}/cohort.sqlite", n=30, seed=1)
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    refused = igcb("report", "--state", str(state), "-o", str(out), "--no-pdf")
    assert refused.exit_code == 2 and "exists and is not empty" in refused.stderr
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    # no Chromium: a clear error, and nothing written or left behind
    missing = igcb("report", "--state", str(state), "-o", str(tmp_path / "new"),
                   "--chromium", str(tmp_path / "no-chromium"))
    assert missing.exit_code == 2 and "--no-pdf" in missing.stderr and "no Chromium" in missing.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "state"]
    forced = igcb("report", "--state", str(state), "-o", str(out), "--no-pdf", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert not (out / "old.txt").exists() and (out / "index.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "state"]
    both = igcb("report", "--cohorts", str(state), "--db", "sqlite:///x.sqlite", "-o", str(tmp_path / "x"))
    assert both.exit_code == 2 and "not both" in both.stderr
    nowhere = igcb("report", "--cohorts", str(tmp_path / "nothing"), "-o", str(tmp_path / "x"))
    assert nowhere.exit_code == 2 and "no such file or folder" in nowhere.stderr


def test_no_count_of_one_to_four_by_difference(tmp_path):
    """A cohort of three without grades beside one of seventy, and two people with everything
    right before: the cohorts' header, the breakdowns (everyone counted, as in the funnel) and
    the knowledge gain give none of them away (each did, before an audit)."""
    big, tiny = f"sqlite:///{tmp_path}/big.sqlite", f"sqlite:///{tmp_path}/tiny/cohort.sqlite"
    make_cohort(big, n=70, seed=21)
    make_cohort(tiny, n=5, seed=22, grades=False, prefix="q")  # two of the five withdraw
    engine = sqlalchemy.create_engine(big)
    with engine.begin() as db:
        took_both = [pid for (pid,) in db.execute(sqlalchemy.text(
            "select person_id from evaluation_answers where occasion = 'post' and state = 'submitted' "
            "and instrument = 'knowledge' order by person_id limit 2"))]
        db.execute(sqlalchemy.update(EvaluationAnswer).where(
            EvaluationAnswer.person_id.in_(took_both), EvaluationAnswer.occasion == "pre",
            EvaluationAnswer.instrument == "knowledge").values(score=1.0))
    engine.dispose()
    out = tmp_path / "report"
    result = igcb("report", "--cohorts", str(tmp_path / "big.sqlite"), str(tmp_path / "tiny"), "-o", str(out),
                  "--no-pdf")
    assert result.exit_code == 0, result.output + result.stderr
    seen = check_report(out, group_of_four=False)
    enrolled = {row[0]: row[1] for row in _csv_rows(out / "data" / "table-funnel.csv")}["enrolled"]
    header = {}  # the cohorts' table at the top: the first rows that name them
    for line in seen["text"].splitlines():
        if line.startswith(("big\t", "tiny\t")):
            header.setdefault(line.split("\t")[0], line.split("\t")[-1])
    assert header["tiny"] == "fewer than five" and _count(header["big"]) is None, header
    assert _count(enrolled) == 68 + 3
    for name in ("table-by-gender.csv", "table-by-region.csv", "table-by-stakeholder-group.csv"):
        assert _csv_rows(out / "data" / name)[-1][:2] == [st.TOTAL, enrolled]
    gain = {row[0]: row[4] for row in _csv_rows(out / "data" / "table-knowledge-gain-knowledge.csv")}
    assert gain["Normalised gain, mean of individual gains"] == st.HIDDEN


def test_a_plan_with_fewer_than_ten_participants_reports_no_tests_or_surveys(tmp_path):
    """Eight people: every mark would narrow a count to people (a mean gives its number back,
    'x' of six is five), so the report keeps to the funnel and the tables that suppress."""
    make_cohort(f"sqlite:///{tmp_path}/eight.sqlite", n=10, seed=31)  # two of the ten withdraw
    out = tmp_path / "report"
    result = igcb("report", "--cohorts", str(tmp_path / "eight.sqlite"), "-o", str(out), "--no-pdf")
    assert result.exit_code == 0, result.output + result.stderr
    seen = check_report(out, group_of_four=False)
    assert "fewer than ten participants: its tests and surveys are not reported" in seen["text"]
    assert not list((out / "data").glob("table-knowledge-*.csv"))
    assert not list((out / "data").glob("table-reaction-*.csv"))
