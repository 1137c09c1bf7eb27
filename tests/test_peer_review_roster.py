"""Roster validation: every problem at once, normalisation, and the `igcb roster check` messages."""

import pandas as pd
import pytest
from click.testing import CliRunner

from cli_helpers import ok, refused
from course.cli import main
from course.layout import REPO_ROOT
from peer_review.roster import RosterError, read_csv_bytes, validate_roster

EXAMPLES = REPO_ROOT / "peer_review" / "examples"

HEADER = "id,name,email,stakeholder_group,region,country,organisation,gender,languages,timezone,expertise\n"
GOOD = "p1,Ann,ann@example.org,government,Africa,KE,Org A,female,en,Africa/Nairobi,dns\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def write(tmp_path, text, name="roster.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_normalises_case_spaces_and_lists():
    frame = read_csv_bytes((HEADER + "  p1 ,Ann,ann@example.org,Civil Society,latin america and caribbean,ke,Org,Non-binary, EN ; fr ;en,africa/nairobi,Human Rights; DNS\n").encode())
    out = validate_roster(frame)
    row = out.iloc[0]
    assert row["id"] == "p1"
    assert row["stakeholder_group"] == "civil_society"
    assert row["region"] == "Latin America and Caribbean"
    assert row["country"] == "KE"
    assert row["gender"] == "non_binary"
    assert row["languages"] == "en;fr"
    assert row["timezone"] == "Africa/Nairobi"
    assert row["expertise"] == "human-rights;dns"


def test_extra_columns_are_kept():
    frame = read_csv_bytes((HEADER.rstrip("\n") + ",cohort_note\n" + GOOD.rstrip("\n") + ",hello\n").encode())
    assert validate_roster(frame)["cohort_note"].tolist() == ["hello"]


def test_every_problem_reported_at_once_with_row_and_column():
    text = HEADER + GOOD + (
        "p1,Bo,bo@example.org,army,Mars,XX,Org B,male,en;zz,Mars/Olympus,\n"
        ",Cy,cy@example.org,academia,Europe,FR,Org C,male,fr,Europe/Paris,\n"
    )
    with pytest.raises(RosterError) as info:
        validate_roster(read_csv_bytes(text.encode()))
    found = {(p.row, p.column) for p in info.value.problems}
    assert found == {(3, "id"), (3, "stakeholder_group"), (3, "region"), (3, "country"), (3, "languages"), (3, "timezone"), (4, "id")}
    dup = next(p for p in info.value.problems if p.row == 3 and p.column == "id")
    assert dup.value == "p1" and "row 2" in dup.expected


def test_missing_columns_listed():
    with pytest.raises(RosterError) as info:
        read_csv_bytes(b"id,name\np1,Ann\n", required=("id", "region", "timezone"))
    assert [p.column for p in info.value.problems] == ["region", "timezone"]


@pytest.mark.parametrize(
    "content, message",
    [
        (HEADER + GOOD + "p1,Bo,bo@example.org,government,Africa,KE,Org,male,en,Africa/Nairobi,\n", "row 3, column id: 'p1': a unique id (also on row 2)"),
        (HEADER + GOOD + ",Bo,bo@example.org,government,Africa,KE,Org,male,en,Africa/Nairobi,\n", "row 3, column id: an id is required"),
        (HEADER + GOOD.replace("government", "army"), "row 2, column stakeholder_group: 'army': one of government, technical_community"),
        (HEADER + GOOD.replace("Africa,", "Atlantis,"), "row 2, column region: 'Atlantis': one of Africa"),
        (HEADER + GOOD.replace(",KE,", ",XX,"), "row 2, column country: 'XX': an ISO 3166-1 alpha-2 country code"),
        (HEADER + GOOD.replace(",en,", ",english,"), "row 2, column languages: 'english': ISO 639-1 language codes"),
        (HEADER + GOOD.replace("Africa/Nairobi", "Africa/Atlantis"), "row 2, column timezone: 'Africa/Atlantis': an IANA time zone name"),
        ("id,name\np1,Ann\n", "row 1, column region: missing column"),
        ("", "the file is empty"),
        ((HEADER + GOOD).encode("utf-8") + "p2,Zoë".encode("latin-1") + b",z@example.org,government,Africa,KE,O,female,en,Africa/Nairobi,\n", "row 3: the file is not UTF-8"),
    ],
    ids=["duplicate-id", "empty-id", "stakeholder", "region", "country", "language", "timezone", "missing-column", "empty-file", "not-utf8"],
)
def test_roster_check_bad_inputs_exit_2_with_message(tmp_path, content, message):
    path = write(tmp_path, content)
    result = run("roster", "check", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path}: ")
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_roster_check_ok_and_writes_normalised(tmp_path):
    path = write(tmp_path, HEADER + GOOD.replace("government", "Government"))
    out = tmp_path / "norm.csv"
    result = run("roster", "check", path, "-o", out)
    assert result.exit_code == 0, result.output
    assert "ok, 1 people" in result.output
    assert pd.read_csv(out)["stakeholder_group"].tolist() == ["government"]


def test_nothing_written_when_the_roster_is_bad(tmp_path):
    path = write(tmp_path, HEADER + GOOD.replace(",KE,", ",XX,"))
    out = tmp_path / "groups.csv"
    result = run("groups", path, "--size", "2", "-o", out)
    assert result.exit_code == 2
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n  \n", b"\n\n"])
def test_an_empty_file_or_only_a_byte_order_mark_is_named_empty(data):
    with pytest.raises(RosterError, match="the file is empty"):
        read_csv_bytes(data)


# --- rows csv cannot read, or with more cells than the header: every CSV input ---------------

# (the file, the command that reads it: {f} is the broken copy, {out} its output)
INPUTS = [
    ("roster.csv", ["roster", "check", "{f}", "-o", "{out}"]),
    ("applications.csv", ["fellowships", "review", "{f}", "--panel", EXAMPLES / "panel.csv", "-o", "{out}"]),
    ("panel.csv", ["fellowships", "review", EXAMPLES / "applications.csv", "--panel", "{f}", "-o", "{out}"]),
    ("candidates.csv", ["exchanges", "match", "{f}", EXAMPLES / "hosts.csv", "-o", "{out}"]),
    ("hosts.csv", ["exchanges", "match", EXAMPLES / "candidates.csv", "{f}", "-o", "{out}"]),
    ("submissions.csv", ["reviews", "allocate", "{f}", "--roster", EXAMPLES / "roster.csv", "-o", "{out}"]),
]


def broken(tmp_path, name, line, edit):
    """A copy of an example with `edit(cells)` giving the new text of `line` (header = line 1)."""
    lines = (EXAMPLES / name).read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[line - 1].rstrip("\r\n").split(",")
    lines[line - 1] = edit(cells) + "\n"
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path, lines[0].rstrip("\r\n").split(",")


def refused_writing_nothing(tmp_path, command, path):
    before = path.read_bytes()
    out = tmp_path / "out.csv"
    err = refused(*[str(a).replace("{f}", str(path)).replace("{out}", str(out)) for a in command])
    assert not out.exists() and path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert err.count("\n") == 1 and "Error tokenizing" not in err and "not a readable" not in err
    return err


@pytest.mark.parametrize("name, command", INPUTS, ids=[n for n, _ in INPUTS])
def test_a_row_with_too_many_cells_is_named(tmp_path, name, command):
    ok(*[str(a).replace("{f}", str(EXAMPLES / name)).replace("{out}", str(tmp_path / "good.csv"))
         for a in command])
    (tmp_path / "good.csv").unlink()
    path, header = broken(tmp_path, name, 9, lambda cells: ",".join(cells + ["x", "y"]))
    err = refused_writing_nothing(tmp_path, command, path)
    assert err.startswith(f"Error: {path}: row 9: {len(header) + 2} cells, the header has {len(header)}: "
                          "a comma or a quote out of place?\n"), err


@pytest.mark.parametrize("name, command", INPUTS, ids=[n for n, _ in INPUTS])
def test_a_stray_quote_is_named_with_its_row_and_column(tmp_path, name, command):
    path, header = broken(tmp_path, name, 5, lambda cells: ",".join([f'"{cells[0]}" x'] + cells[1:]))
    value = (EXAMPLES / name).read_text().splitlines()[4].split(",")[0]
    err = refused_writing_nothing(tmp_path, command, path)
    assert err.startswith(f"Error: {path}: row 5, column {header[0]}: '\"{value}\" x': text after the "
                          "closing quote of a quoted cell: put the whole cell in quotes and double each "
                          'quote inside it ("")\n'), err


def test_a_quote_never_closed_is_named_where_it_opens(tmp_path):
    path, _ = broken(tmp_path, "roster.csv", 4, lambda cells: ",".join(cells[:1] + ['"' + cells[1]] + cells[2:]))
    err = refused_writing_nothing(tmp_path, INPUTS[0][1], path)
    assert err.startswith(f"Error: {path}: row 4, column name: '\"Grace Okafor,grace.okafor@example.org,"), err
    assert "a quote opens this cell and is never closed, so the rest of the file would be one cell" in err


def test_rows_are_numbered_as_the_other_checks_number_them():
    # a blank line is skipped (row 3 is line 4), a cell may span lines (row 4 is lines 5 and 6)
    text = HEADER + GOOD + "\n" + GOOD.replace("p1,Ann", "p2,Bo") + GOOD.replace("Org A", '"Org\nA"').replace("p1", "p3")
    assert validate_roster(read_csv_bytes(text.encode()))["id"].tolist() == ["p1", "p2", "p3"]
    with pytest.raises(RosterError) as info:
        read_csv_bytes((text + GOOD.rstrip("\n") + ",x\n" + GOOD.replace("Ann", '"Ann" x')).encode())
    assert [str(p) for p in info.value.problems] == [
        "row 5: 12 cells, the header has 11: a comma or a quote out of place? (line 7 of the file)",
        "row 6, column name: '\"Ann\" x': text after the closing quote of a quoted cell: put the "
        'whole cell in quotes and double each quote inside it ("") (line 8 of the file)']
    with pytest.raises(RosterError) as info:  # the same problem with both rows: each is named
        read_csv_bytes((HEADER + GOOD.rstrip("\n") + ",x\n" + GOOD.rstrip("\n") + ",,y\n").encode())
    assert [p.row for p in info.value.problems] == [2, 3]


def test_empty_cells_after_the_last_column_are_dropped():
    # commas at the end of rows, as some spreadsheets write them; on the first row they used
    # to shift every column by one (pandas took the first column for the index)
    text = HEADER + GOOD.rstrip("\n") + ",\n" + GOOD.replace("p1", "p2").rstrip("\n") + ", ,\n"
    frame = validate_roster(read_csv_bytes(text.encode()))
    assert frame["id"].tolist() == ["p1", "p2"] and frame["name"].tolist() == ["Ann", "Ann"]
    assert list(frame.columns)[:3] == ["id", "name", "email"] and len(frame.columns) == 11
