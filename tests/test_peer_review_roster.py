"""Roster validation: every problem at once, normalisation, and the `igcb roster check` messages."""

import pandas as pd
import pytest
from click.testing import CliRunner

from course.cli import main
from peer_review.roster import RosterError, read_csv_bytes, validate_roster

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
