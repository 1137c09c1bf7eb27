"""The compendium of programmes: each kind of bad record named with its file and field,
`igcb check` over compendium/, and `igcb compendium add`, `export` and `stale`.

The records here are written by the tests into temporary folders, from a made-up
programme at example.org: they are not facts about any real programme.
"""

import csv
import datetime as dt
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import run_igcb
from course import compendium, pages
from course.compendium import Record, check_compendium, load_compendium, load_record
from course.layout import Layout
from course.modules import load_catalogue

TODAY = dt.date.today()
CATALOGUE, _ = load_catalogue(Layout.default().modules)
TOPICS = compendium.topic_vocabulary(CATALOGUE)


def good(**changes) -> dict:
    """A valid record (a made-up programme)."""
    record = {
        "id": "sample-school",
        "name": "Sample School on Internet Governance",
        "organisers": ["Example Association", "Example University"],
        "type": "school",
        "modality": "blended",
        "level": "foundation",
        "topics": ["internet-governance", "cybersecurity"],
        "target_groups": ["youth", "policy_makers"],
        "regions": ["Africa"],
        "countries": ["KE"],
        "languages": ["en", "sw"],
        "cost": "free",
        "funding": "Travel covered for some participants",
        "dates": "Once a year",
        "apply": "Open call on the website",
        "url": "https://school.example.org/",
        "sources": ["https://school.example.org/about/"],
        "checked": TODAY - dt.timedelta(days=10),
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not DROP}


DROP = object()


def write(folder: Path, data: dict, name: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or data['id']}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def problems_of(folder: Path) -> list[str]:
    return [str(p) for p in check_compendium(folder, TOPICS)]


# --- the schema -----------------------------------------------------------------------------

def test_a_good_record_loads_as_written(tmp_path):
    path = write(tmp_path, good())
    record, problems = load_record(path)
    assert problems == []
    assert record.data()["checked"] == (TODAY - dt.timedelta(days=10)).isoformat()
    assert record.type.value == "school" and record.countries == ["KE"]
    assert problems_of(tmp_path) == []


def test_unknown_optional_fields_may_be_left_out_null_or_blank(tmp_path):
    data = good(modality=None, level="", cost=DROP, funding=None, dates="  ", apply=DROP,
                topics=DROP, target_groups=DROP, countries=DROP)
    record, problems = load_record(write(tmp_path, data))
    assert problems == []
    assert (record.modality, record.level, record.cost, record.dates) == (None, None, None, None)
    assert record.topics == [] and record.target_groups == []


BAD = [
    ("unknown type", {"type": "university"},
     "type: Input should be 'school', 'online_course', 'academic_programme', 'fellowship', "
     "'mentoring', 'internship_exchange' or 'webinar_series' (found 'university')"),
    ("topic outside the vocabulary", {"topics": ["internet-governance", "cybersecurty"]},
     "topics[2]: 'cybersecurty' is not a topic of any module (compendium/README.md lists "
     "them); did you mean 'cybersecurity'?"),
    ("topic not a slug", {"topics": ["Cyber Security"]}, "topics[1]: String should match pattern"),
    ("unknown country", {"countries": ["KE", "XX"]},
     "countries[2]: expected an ISO 3166-1 alpha-2 country code in capitals, e.g. ZA "
     "(found 'XX')"),
    ("country in small letters", {"countries": ["ke"]}, "countries[1]: expected an ISO 3166-1 "
     "alpha-2 country code in capitals, e.g. ZA; did you mean 'KE'? (found 'ke')"),
    ("country name", {"countries": ["Kenya"]}, "countries[1]: expected an ISO 3166-1 alpha-2"),
    ("unknown language", {"languages": ["xx"]},
     "languages[1]: expected an ISO 639-1 language code in small letters, e.g. en (found 'xx')"),
    ("language name", {"languages": ["English"]}, "languages[1]: expected an ISO 639-1"),
    ("three-letter language", {"languages": ["eng"]}, "languages[1]: expected an ISO 639-1"),
    ("no language", {"languages": []}, "languages: List should have at least 1 item"),
    ("unknown region", {"regions": ["Africa", "Mars"]},
     "regions[2]: expected one of Africa, Arab States, Asia-Pacific, Latin America and "
     "Caribbean, Europe, North America, Global (found 'Mars')"),
    ("no region", {"regions": DROP}, "regions: missing required field"),
    ("unknown target group", {"target_groups": ["students"]}, "target_groups[1]: Input should be"),
    ("unknown level", {"level": "expert"}, "level: Input should be 'awareness', 'foundation' or "
     "'advanced' (found 'expert')"),
    ("unknown modality", {"modality": "hybrid"}, "modality: Input should be 'online', "
     "'face_to_face' or 'blended' (found 'hybrid')"),
    ("unknown cost", {"cost": "cheap"}, "cost: Input should be 'free', 'fee' or 'varies'"),
    ("http url", {"url": "http://school.example.org/"},
     "url: expected an https:// address (http and other schemes are refused) "
     "(found 'http://school.example.org/')"),
    ("url with a space", {"url": "https://school.example .org/"},
     "url: an address may not contain spaces"),
    ("url without a host", {"url": "https:///about"}, "url: not a well-formed address"),
    ("url without a domain", {"url": "https://localhost/"}, "url: not a well-formed address"),
    ("url not an address", {"url": "school.example.org"}, "url: expected an https:// address"),
    ("url with a bad port", {"url": "https://school.example.org:99999/"},
     "url: not a well-formed address"),
    ("url with markup", {"url": 'https://school.example.org/"><script>'},
     "url: an address may not contain"),
    ("http source", {"sources": ["https://school.example.org/", "http://example.org/x"]},
     "sources[2]: expected an https:// address"),
    ("missing sources", {"sources": DROP}, "sources: missing required field"),
    ("empty sources", {"sources": []}, "sources: List should have at least 1 item"),
    ("checked in the future", {"checked": TODAY + dt.timedelta(days=3)},
     f"checked: {TODAY + dt.timedelta(days=3)} is in the future: give the date the facts were "
     "checked"),
    ("checked missing", {"checked": DROP}, "checked: missing required field"),
    ("checked a number", {"checked": 20261201}, "checked: expected a date written as YYYY-MM-DD"),
    ("checked not a date", {"checked": "last week"}, "checked: Input should be a valid date"),
    ("no organiser", {"organisers": []}, "organisers: List should have at least 1 item"),
    ("blank organiser", {"organisers": ["  "]}, "organisers[1]: String should have at least 1"),
    ("missing name", {"name": DROP}, "name: missing required field"),
    ("missing type", {"type": DROP}, "type: missing required field"),
    ("unknown field", {"website": "https://school.example.org/"},
     "website: unknown field (check the spelling)"),
    ("a value listed twice", {"languages": ["en", "sw", "en"]}, "languages: 'en' is listed twice"),
    ("a topic listed twice", {"topics": ["igf", "igf"]}, "topics: 'igf' is listed twice"),
]


@pytest.mark.parametrize("change, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_each_kind_of_bad_record_is_named_with_file_and_field(tmp_path, change, message):
    path = write(tmp_path, good(**change), name="sample-school")
    found = problems_of(tmp_path)
    assert any(p.startswith(f"{path}: {message}") for p in found), found


def test_every_problem_of_a_record_is_listed_at_once(tmp_path):
    path = write(tmp_path, good(type="university", countries=["XX"], url="http://x.example.org/"))
    found = problems_of(tmp_path)
    assert [p.split(": ")[1] for p in found] == ["type", "countries[1]", "url"]
    assert all(p.startswith(f"{path}: ") for p in found)


def test_id_must_be_the_file_name(tmp_path):
    path = write(tmp_path, good(), name="another-name")
    assert problems_of(tmp_path) == [
        f"{path}: id: 'sample-school' does not match the file name (expected 'another-name')"]


def test_a_key_given_twice_in_the_yaml_is_refused(tmp_path):
    path = tmp_path / "sample-school.yml"
    text = yaml.safe_dump(good(), sort_keys=False)
    path.write_text(text + "name: Another name\n", encoding="utf-8")
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{path}: not valid YAML (line ")
    assert "'name' is given twice (first on line 2)" in problem


def test_an_impossible_date_and_broken_yaml_are_named(tmp_path):
    text = yaml.safe_dump(good(checked=DROP), sort_keys=False)
    (tmp_path / "sample-school.yml").write_text(text + "checked: 2026-02-30\n")
    (tmp_path / "broken.yml").write_text("id: broken\nname: [unclosed\n")
    (tmp_path / "list.yml").write_text("- just\n- a list\n")
    found = problems_of(tmp_path)
    assert any("sample-school.yml: not valid YAML" in p and "'2026-02-30' is not a real date" in p
               for p in found)
    assert any("broken.yml: not valid YAML (line" in p for p in found)
    assert any("list.yml: expected a mapping of fields (key: value), found list" in p
               for p in found)


def test_two_records_with_one_address_are_both_named(tmp_path):
    second = write(tmp_path, good(id="z-school", name="Other", url="https://SCHOOL.example.org"))
    write(tmp_path, good())
    assert problems_of(tmp_path) == [
        f"{second}: url: 'https://SCHOOL.example.org' is also the address of sample-school.yml: "
        "one record per programme"]


def test_files_that_are_not_records(tmp_path):
    write(tmp_path, good())
    (tmp_path / "README.md").write_text("# not a record\n")
    yaml_file = write(tmp_path, good(id="other", url="https://other.example.org/"), name="other")
    yaml_file.rename(tmp_path / "other.yaml")
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'other.yaml'}: records are named <id>.yml: rename it other.yml"]


def test_a_missing_or_empty_folder_is_an_empty_compendium(tmp_path):
    assert load_compendium(tmp_path / "nowhere") == ([], [])
    (tmp_path / "empty").mkdir()
    assert load_compendium(tmp_path / "empty") == ([], [])
    (tmp_path / "file").write_text("x")
    assert problems_of(tmp_path / "file") == [
        f"{tmp_path / 'file'}: not a folder (the compendium is a folder of .yml files)"]


def test_topics_are_not_checked_while_the_vocabulary_is_unknown(tmp_path):
    write(tmp_path, good(topics=["no-such-topic"]))
    assert check_compendium(tmp_path, None) == []
    assert len(check_compendium(tmp_path, TOPICS)) == 1


# --- igcb check -----------------------------------------------------------------------------

def test_igcb_check_checks_the_compendium(mini_course):
    folder = mini_course / "compendium"
    write(folder, good(topics=["testing"]))
    (folder / "README.md").write_text("How to add a record.\n")
    result = run_igcb("check", root=mini_course)
    assert result.exit_code == 0, result.output

    write(folder, good(id="bad", url="https://bad.example.org/", topics=["testing"],
                       languages=["English"]))
    write(folder, good(id="off-topic", url="https://off.example.org/", topics=["cybersecurity"]))
    result = run_igcb("check", root=mini_course)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"{folder / 'bad.yml'}: languages[1]: expected an ISO 639-1" in result.output
    # The mini course's only module has the topic `testing`: that is its whole vocabulary.
    assert f"{folder / 'off-topic.yml'}: topics[1]: 'cybersecurity' is not a topic of any " \
        "module" in result.output


def test_a_bad_record_stops_the_book_before_building(mini_course, tmp_path):
    write(mini_course / "compendium", good(topics=["testing"], url="http://x.example.org/"))
    result = run_igcb("book", "--plan", "mini", "--out", str(tmp_path / "out"), root=mini_course)
    assert result.exit_code == 2
    assert "sample-school.yml: url: expected an https:// address" in result.output
    assert not (tmp_path / "out").exists()


# --- what the book shows (pure functions; the browser tests open the built pages) -----------

def records(*changes: dict) -> list[Record]:
    return [Record.model_validate(good(**c)) for c in changes]


def test_module_pages_list_programmes_by_topics_shared():
    found = records(
        {"id": "a", "name": "Alpha", "topics": ["cybersecurity"]},
        {"id": "b", "name": "Beta", "topics": ["cybersecurity", "csirt", "privacy"]},
        {"id": "c", "name": "Gamma", "topics": ["privacy"]},
        {"id": "d", "name": "aardvark", "topics": ["csirt"]},
    )
    related = compendium.related_programmes(["cybersecurity", "csirt"], found)
    assert [(r.id, shared) for r, shared in related] == [
        ("b", ["cybersecurity", "csirt"]), ("d", ["csirt"]), ("a", ["cybersecurity"])]
    many = records(*({"id": f"p{i:02}", "name": f"P{i:02}", "topics": ["igf"]} for i in range(12)))
    assert [r.id for r, _ in compendium.related_programmes(["igf"], many)] == \
        [f"p{i:02}" for i in range(8)]


def test_the_compendium_page_comes_after_the_modules_and_before_about(mini_course):
    from course.plans import load_plan
    plan, _ = load_plan(mini_course / "course/plans/mini.yml")
    catalogue, _ = load_catalogue(mini_course / "modules")
    toc = yaml.safe_load(pages.table_of_contents(plan, catalogue))
    assert [p["caption"] for p in toc["parts"]] == \
        ["This course", "Modules", "Continue learning", "About"]
    assert toc["parts"][2]["chapters"] == [{"file": "compendium"}]


def test_record_text_cannot_break_out_of_the_page():
    hostile = records({"name": "</script><script>alert(1)</script> ```{raw} html",
                       "funding": "a & b <img src=x onerror=alert(2)>"})
    page = pages.compendium_page(hostile, TOPICS)
    data = page.split('<script type="application/json" id="cmp-data">')[1].split("</script>")[0]
    assert "<" not in data and ">" not in data and "&" not in data
    assert json.loads(data)["records"][0]["name"] == hostile[0].name
    assert all(not line.startswith("```") for line in page.splitlines()[:-1]
               if line not in ("```{raw} html", "```"))
    section = "\n".join(pages.continue_learning(["cybersecurity"], hostile))
    assert "<script>" not in section and "&lt;/script&gt;&lt;script&gt;" in section
    assert "&#96;&#96;&#96;" in section


# --- igcb compendium add --------------------------------------------------------------------

FLAGS = ["--id", "sample-school", "--name", "Sample School on Internet Governance",
         "--organisers", "Example Association; Example University", "--type", "school",
         "--modality", "blended", "--level", "foundation", "--topics", "internet-governance",
         "--topics", "cybersecurity", "--target-groups", "youth;policy_makers",
         "--regions", "africa", "--countries", "ke", "--languages", "EN;sw", "--cost", "free",
         "--funding", "Travel covered for some participants", "--dates", "Once a year",
         "--apply", "Open call on the website", "--url", "https://school.example.org/",
         "--sources", "https://school.example.org/about/",
         "--checked", (TODAY - dt.timedelta(days=10)).isoformat()]


def add(folder: Path, *args: str, input: str | None = None):
    from click.testing import CliRunner

    from course.cli import main
    return CliRunner().invoke(main, ["compendium", "add", "--folder", str(folder), *args],
                              input=input, catch_exceptions=False)


def test_add_writes_a_valid_record_from_flags(tmp_path):
    result = add(tmp_path, *FLAGS, "--no-interactive")
    assert result.exit_code == 0, result.output
    path = tmp_path / "sample-school.yml"
    assert f"Wrote {path}" in result.output
    record, problems = load_record(path)
    assert problems == []
    assert record == Record.model_validate(good())  # codes and region spelt as the contract
    assert "checked: " + (TODAY - dt.timedelta(days=10)).isoformat() in path.read_text()
    assert problems_of(tmp_path) == []


@pytest.mark.parametrize("typed, region", [
    ("latin america", "Latin America and Caribbean"), ("Latin  America", "Latin America and Caribbean"),
    ("LAC", "Latin America and Caribbean"), ("caribbean", "Latin America and Caribbean"),
    ("latam", "Latin America and Caribbean"), ("latin america and the caribbean", "Latin America and Caribbean"),
    ("asia pacific", "Asia-Pacific"), ("arab region", "Arab States"), ("north america", "North America"),
    ("worldwide", "Global"), ("GLOBAL", "Global"),
])
def test_add_takes_a_region_as_people_type_it(tmp_path, typed, region):
    flags = dict(zip(FLAGS[::2], FLAGS[1::2])) | {"--regions": typed}
    result = add(tmp_path, *[x for pair in flags.items() for x in pair], "--no-interactive")
    assert result.exit_code == 0, result.output
    record, problems = load_record(tmp_path / "sample-school.yml")
    assert problems == [] and record.regions == [region]


def test_add_refuses_a_region_it_cannot_read(tmp_path):
    flags = dict(zip(FLAGS[::2], FLAGS[1::2])) | {"--regions": "Africa;oceania"}
    result = add(tmp_path, *[x for pair in flags.items() for x in pair], "--no-interactive")
    assert result.exit_code == 2 and "compendium add: regions[2]: expected one of Africa" in result.output
    assert list(tmp_path.iterdir()) == []


def test_add_with_only_the_required_flags_leaves_the_rest_empty(tmp_path):
    required = ["--id", "x", "--name", "X", "--organisers", "Example", "--type", "fellowship",
                "--regions", "Global", "--languages", "fr", "--url", "https://x.example.org/",
                "--sources", "https://x.example.org/", "--checked", TODAY.isoformat()]
    assert add(tmp_path, *required, "--no-interactive").exit_code == 0
    data = yaml.safe_load((tmp_path / "x.yml").read_text())
    assert data["modality"] is None and data["topics"] == [] and data["funding"] is None


def test_add_refuses_bad_values_naming_each_field_and_writes_nothing(tmp_path):
    bad = dict(zip(FLAGS[::2], FLAGS[1::2]))
    bad.update({"--type": "university", "--countries": "XX", "--languages": "english",
                "--url": "http://school.example.org/", "--topics": "cybersecurty",
                "--checked": (TODAY + dt.timedelta(days=1)).isoformat(), "--level": "expert"})
    result = add(tmp_path, *[x for pair in bad.items() for x in pair], "--no-interactive")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for field in ("type:", "countries[1]:", "languages[1]:", "url:", "topics[1]:", "checked:",
                  "level:"):
        assert f"compendium add: {field}" in result.output
    assert list(tmp_path.iterdir()) == []


def test_add_without_a_terminal_names_the_missing_fields(tmp_path):
    result = add(tmp_path, "--name", "X", "--type", "school", "--no-interactive")
    assert result.exit_code == 2
    assert ("missing required field(s): --id, --organisers, --regions, --languages, --url, "
            "--sources, --checked") in result.output
    assert list(tmp_path.iterdir()) == []


def test_add_asks_for_missing_fields_and_asks_again_after_a_bad_answer(tmp_path):
    write(tmp_path, good(id="taken", url="https://taken.example.org/"))
    answers = "\n".join([
        "Sample School on Internet Governance",  # name
        "taken",                                 # id: refused, a record has it
        "",                                      # id: the default, from the name
        "Example Association",                   # organisers
        "university", "school",                  # type: refused, then accepted
        "cybersecurity;igf",                     # topics
        "Africa",                                # regions
        "xx", "en",                              # languages: refused, then accepted
        "http://school.example.org/", "https://school.example.org/",   # url
        "https://school.example.org/about/",     # sources
        "",                                      # checked: today
    ]) + "\n"
    result = add(tmp_path, "--interactive", input=answers)
    assert result.exit_code == 0, result.output
    assert "Error: type: Input should be 'school'" in result.output
    assert "Error: languages[1]: expected an ISO 639-1 language code" in result.output
    assert "Error: url: expected an https:// address" in result.output
    assert f"Error: id: {tmp_path / 'taken'}.yml already exists; choose another id" \
        in result.output
    record, problems = load_record(tmp_path / "sample-school-on-internet-governance.yml")
    assert problems == []
    assert (record.type.value, record.languages, record.checked) == ("school", ["en"], TODAY)
    assert record.topics == ["cybersecurity", "igf"]


def test_add_asks_when_run_in_a_terminal(tmp_path):
    """The real command on a pseudo-terminal: it notices the terminal and asks."""
    args = [sys.executable, "-m", "course", "compendium", "add", "--folder", str(tmp_path),
            *FLAGS[:FLAGS.index("--checked")]]
    master, slave = pty.openpty()
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    os.write(master, b"\n")  # checked: accept today's date
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the command ended and closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert process.wait(timeout=60) == 0, output.decode()
    assert b"Date the facts were checked against the sources (YYYY-MM-DD)" in output
    record, _ = load_record(tmp_path / "sample-school.yml")
    assert record.checked == TODAY


def test_add_never_overwrites_a_record(tmp_path):
    path = write(tmp_path, good(name="The original"))
    before = path.read_bytes()
    result = add(tmp_path, *FLAGS, "--no-interactive")
    assert result.exit_code == 2
    assert f"{path} already exists: igcb compendium add never overwrites a record" \
        in result.output
    assert path.read_bytes() == before


def test_add_refuses_a_second_record_of_one_programme(tmp_path):
    write(tmp_path, good(id="first"), name="first")
    result = add(tmp_path, *FLAGS, "--no-interactive")
    assert result.exit_code == 2
    assert "url: 'https://school.example.org/' is already the address of" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.yml"]


# --- igcb compendium export and stale -------------------------------------------------------

def test_export_csv_joins_lists_and_neutralises_formulas(tmp_path):
    folder = tmp_path / "c"
    write(folder, good(funding="=HYPERLINK(\"https://evil.example.org\")", dates=DROP))
    write(folder, good(id="other", name="Other", url="https://other.example.org/",
                       organisers=["@Example"], topics=[]))
    out = tmp_path / "programmes.csv"
    result = run_igcb("compendium", "export", "--format", "csv", "-o", str(out),
                      "--folder", str(folder))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == list(compendium.FIELDS)
    assert [r["id"] for r in rows] == ["other", "sample-school"]
    school = rows[1]
    assert school["organisers"] == "Example Association;Example University"
    assert school["languages"] == "en;sw"
    assert school["topics"] == "internet-governance;cybersecurity"
    assert school["funding"] == "'=HYPERLINK(\"https://evil.example.org\")"
    assert school["dates"] == "" and school["checked"] == good()["checked"].isoformat()
    assert rows[0]["organisers"] == "'@Example" and rows[0]["topics"] == ""


def test_export_json_gives_the_records(tmp_path):
    folder = tmp_path / "c"
    write(folder, good())
    out = tmp_path / "programmes.json"
    result = run_igcb("compendium", "export", "--format", "json", "-o", str(out),
                      "--folder", str(folder))
    assert result.exit_code == 0, result.output
    (data,) = json.loads(out.read_text(encoding="utf-8"))
    assert Record.model_validate(data) == Record.model_validate(good())


def test_export_of_a_bad_compendium_writes_nothing(tmp_path):
    folder = tmp_path / "c"
    write(folder, good(languages=["english"]))
    out = tmp_path / "programmes.csv"
    result = run_igcb("compendium", "export", "-o", str(out), "--folder", str(folder))
    assert result.exit_code == 2
    assert "sample-school.yml: languages[1]: expected an ISO 639-1" in result.output
    assert not out.exists()
    result = run_igcb("compendium", "export", "--format", "xml", "-o", str(out),
                      "--folder", str(folder))
    assert result.exit_code == 2 and "'xml' is not one of 'csv', 'json'" in result.output
    write(folder, good())
    result = run_igcb("compendium", "export", "-o", str(tmp_path / "no/such/x.csv"),
                      "--folder", str(folder))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_stale_lists_old_checks_oldest_first(tmp_path):
    folder = tmp_path / "c"
    for name, days in [("recent", 30), ("old", 400), ("older", 900), ("edge", 365)]:
        write(folder, good(id=name, name=name.title(), url=f"https://{name}.example.org/",
                           checked=TODAY - dt.timedelta(days=days)))
    result = run_igcb("compendium", "stale", "--folder", str(folder))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("2 of 4 records were checked more than 365 days ago")
    assert [line.split()[0] for line in lines[3:]] == ["older", "old"]
    assert lines[3].split()[1:3] == [(TODAY - dt.timedelta(days=900)).isoformat(), "900"]
    result = run_igcb("compendium", "stale", "--days", "20", "--folder", str(folder))
    assert [line.split()[0] for line in result.output.splitlines()[3:]] == \
        ["older", "old", "edge", "recent"]
    result = run_igcb("compendium", "stale", "--days", "1000", "--folder", str(folder))
    assert result.exit_code == 0
    assert result.output == "No record was checked more than 1000 days ago (4 records).\n"
    assert run_igcb("compendium", "stale", "--days", "-1", "--folder", str(folder)).exit_code == 2
