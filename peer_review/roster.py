"""Read, validate and normalise a roster (participants, tutors, mentors).

The roster contract is in DESIGN.md. `validate_roster` reports every problem at
once through `RosterError`; it returns a normalised copy of the table.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd
import pycountry

STAKEHOLDER_GROUPS = (
    "government",
    "technical_community",
    "academia",
    "civil_society",
    "private_sector",
    "intergovernmental",
)
REGIONS = (
    "Africa",
    "Arab States",
    "Asia-Pacific",
    "Latin America and Caribbean",
    "Europe",
    "North America",
)
GENDERS = ("female", "male", "non_binary", "undisclosed")
REQUIRED_COLUMNS = (
    "id",
    "name",
    "email",
    "stakeholder_group",
    "region",
    "country",
    "organisation",
    "languages",
    "timezone",
)
OPTIONAL_COLUMNS = ("gender", "expertise")

# Spellings people use in spreadsheets, mapped to the contract's values.
_STAKEHOLDER_ALIASES = {
    "technical": "technical_community",
    "tech_community": "technical_community",
    "academic": "academia",
    "civil": "civil_society",
    "cso": "civil_society",
    "ngo": "civil_society",
    "private": "private_sector",
    "business": "private_sector",
    "igo": "intergovernmental",
    "intergovernmental_organisation": "intergovernmental",
    "intergovernmental_organization": "intergovernmental",
    "gov": "government",
}
_REGION_ALIASES = {
    "asia pacific": "Asia-Pacific",
    "asia and the pacific": "Asia-Pacific",
    "latin america and the caribbean": "Latin America and Caribbean",
    "latin america & caribbean": "Latin America and Caribbean",
    "lac": "Latin America and Caribbean",
    "arab region": "Arab States",
}
_GENDER_ALIASES = {"f": "female", "m": "male", "woman": "female", "man": "male", "nonbinary": "non_binary", "": "undisclosed"}


@dataclass(frozen=True)
class RosterProblem:
    """One problem: file line (header = 1), column, the value found, what was expected."""

    row: int | None
    column: str | None
    value: str
    expected: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        found = f"{self.value!r}: " if self.value != "" else ""
        prefix = ", ".join(where)
        return f"{prefix}: {found}{self.expected}" if prefix else f"{found}{self.expected}"


class RosterError(ValueError):
    """A roster (or other input table) with problems; `problems` lists them all."""

    def __init__(self, problems: list[RosterProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UnreadableCsv(ValueError):
    """A CSV text that `csv.reader` cannot split into cells.

    `record` counts the records read before the bad one (blank lines included), `line` is the
    file line of the trouble, `cell` the bad cell's place in its record (0 = first; None when
    not found), `value` that cell's raw text (shortened) and `what` says in plain words what
    is wrong and how to mend it.
    """

    def __init__(self, record: int, line: int, cell: int | None, value: str, what: str):
        self.record, self.line, self.cell, self.value, self.what = record, line, cell, value, what
        super().__init__(what)


SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|'"}


def csv_records(text: str, delimiter: str = ",", skipinitialspace: bool = False):
    """(first file line, cells) of each record of a CSV text, a blank line being []; a quoted
    cell may span lines. Quotes are read strictly: UnreadableCsv names the record, line and
    cell that cannot be read (a quote never closed, text after a closing quote)."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(lines), delimiter=delimiter, skipinitialspace=skipinitialspace, strict=True)
    line, record = 1, 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise _unreadable(err, "".join(lines[line - 1:]), record, line, delimiter,
                              skipinitialspace) from None
        yield line, cells
        line, record = reader.line_num + 1, record + 1


def _unreadable(err: csv.Error, rest: str, record: int, line: int, delimiter: str,
                skipinitialspace: bool) -> UnreadableCsv:
    """What csv.reader's error means, found by walking the record from its first line the way
    csv.reader does (quote character ", quotes doubled inside a quoted cell)."""
    cell, start, state = 0, 0, "start"
    for at, char in enumerate(rest):
        if state == "start":
            if char == " " and skipinitialspace:
                start = at + 1
            elif char == '"':
                state = "quoted"
            elif char == delimiter:
                cell, start = cell + 1, at + 1
            elif char in "\r\n":
                break
            else:
                state = "plain"
        elif state == "plain":
            if char == delimiter:
                cell, start, state = cell + 1, at + 1, "start"
            elif char in "\r\n":
                break
        elif state == "quoted":
            if char == '"':
                state = "closed"
        elif char == '"':  # a quote doubled inside a quoted cell
            state = "quoted"
        elif char == delimiter:
            cell, start, state = cell + 1, at + 1, "start"
        elif char in "\r\n":
            break
        else:
            end = min(i for i in (rest.find(delimiter, at), rest.find("\n", at), rest.find("\r", at),
                                  len(rest)) if i >= 0)
            if char in SEPARATORS:  # e.g. "a";"b" read with commas
                mend = (f"are the cells separated by {SEPARATORS[char]} rather than "
                        f"{SEPARATORS.get(delimiter, repr(delimiter))}?")
            else:
                mend = 'put the whole cell in quotes and double each quote inside it ("")'
            return UnreadableCsv(record, line + _line_ends(rest[:at]), cell, _shorten(rest[start:end]),
                                 f"text after the closing quote of a quoted cell: {mend}")
    else:
        if state == "quoted":
            return UnreadableCsv(
                record, line + _line_ends(rest[:start]), cell, _shorten(rest[start:]),
                "a quote opens this cell and is never closed, so the rest of the file would be "
                'one cell: close the quote, or double a quote meant inside the cell ("")')
    if "field larger than field limit" in str(err):
        return UnreadableCsv(record, line, None, "", f"a cell longer than {csv.field_size_limit()} "
                             "characters (is a quote left open?)")
    return UnreadableCsv(record, line, None, "", f"cannot be read as CSV ({err})")


def _line_ends(text: str) -> int:
    """How many line ends (\\n, \\r\\n or \\r, as csv.reader splits lines) a text holds."""
    return len(re.findall(r"\r\n?|\n", text))


def _shorten(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def read_csv_bytes(data: bytes, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """Decode a UTF-8 CSV held in memory into a table of strings.

    Raises RosterError for an empty or non-UTF-8 file, a cell that cannot be read (a stray
    quote), rows with more cells than the header, or missing columns. Rows are numbered as the
    rest of the checks number them: header = row 1, blank lines skipped. Extra cells that are
    empty (commas at the end of a row) are dropped.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise RosterError(
            [RosterProblem(line, None, "", f"the file is not UTF-8 (byte {data[err.start]:#x} at offset {err.start}); save it as UTF-8")]
        ) from None
    if not text.strip():  # nothing, or only a byte-order mark and blanks
        raise RosterError([RosterProblem(None, None, "", "the file is empty; expected a header row and one row per record")])
    width = _check_cells(text)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True,
                            **({"usecols": range(width)} if width else {}))
    except (pd.errors.ParserError, csv.Error) as err:
        raise RosterError([RosterProblem(None, None, "", f"not a readable CSV file: {err}")]) from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise RosterError(
            [RosterProblem(1, c, "", "missing column (the header row needs it)") for c in missing]
        )
    return frame


def _check_cells(text: str) -> int | None:
    """RosterError for a cell csv cannot read or rows with more (non-empty) cells than the
    header; the header's width when some rows end in empty extra cells, else None.

    Rows are counted as pandas reads them: blank lines (also of spaces) are skipped."""
    header: list[str] | None = None
    row, wider, problems = 0, False, []
    try:
        for line, cells in csv_records(text, skipinitialspace=True):
            if len(cells) <= 1 and not "".join(cells).strip():
                continue
            row += 1
            if header is None:
                header = cells
            elif len(cells) > len(header):
                if any(c.strip() for c in cells[len(header):]):
                    where = f" (line {line} of the file)" if line != row else ""
                    problems.append(RosterProblem(row, None, "", f"{len(cells)} cells, the header has "
                                                  f"{len(header)}: a comma or a quote out of place?{where}"))
                else:
                    wider = True
    except UnreadableCsv as err:
        row += 1
        column = None
        if header is not None and err.cell is not None and err.cell < len(header):
            column = header[err.cell].strip().lower() or None  # as the other checks name it
        where = f" (line {err.line} of the file)" if err.line != row else ""
        cell = f"cell {err.cell + 1}: " if column is None and err.cell is not None else ""
        problems.append(RosterProblem(row, column, err.value, f"{cell}{err.what}{where}"))
    if problems:
        raise RosterError(problems)
    return len(header) if wider and header else None


def split_list(value: str) -> list[str]:
    """Split a `;` list (commas tolerated), dropping blanks and repeats, keeping order."""
    items = [p.strip() for p in re.split(r"[;,]", str(value))]
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def _key(value: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(value).strip().lower())


@lru_cache(maxsize=1)
def _timezones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def normalise_stakeholder(value: str) -> str | None:
    key = _key(value)
    key = _STAKEHOLDER_ALIASES.get(key, key)
    return key if key in STAKEHOLDER_GROUPS else None


def normalise_region(value: str) -> str | None:
    text = re.sub(r"\s+", " ", str(value).strip()).lower()
    for region in REGIONS:
        if region.lower() == text:
            return region
    return _REGION_ALIASES.get(text)


def normalise_country(value: str) -> str | None:
    code = str(value).strip().upper()
    return code if len(code) == 2 and pycountry.countries.get(alpha_2=code) else None


def normalise_language(value: str) -> str | None:
    code = str(value).strip().lower()
    return code if len(code) == 2 and pycountry.languages.get(alpha_2=code) else None


def normalise_timezone(value: str) -> str | None:
    return _timezones().get(str(value).strip().lower())


def normalise_gender(value: str) -> str | None:
    key = _key(value)
    key = _GENDER_ALIASES.get(key, key)
    return key if key in GENDERS else None


def _slug(value: str) -> str:
    return re.sub(r"[\s_]+", "-", value.strip().lower())


def validate_roster(frame: pd.DataFrame, extra_checks=None) -> pd.DataFrame:
    """Check a roster against the contract and return a normalised copy.

    Every problem is collected and raised together as RosterError. Rows are
    file lines (header = line 1). `extra_checks(frame, problems)` may add more.
    """
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    problems: list[RosterProblem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    problems += [RosterProblem(1, c, "", "missing column (the header row needs it)") for c in missing]
    if missing:
        raise RosterError(problems)
    if frame.empty:
        raise RosterError([RosterProblem(None, None, "", "the roster has a header but no people")])
    frame = frame.astype(object).fillna("").map(lambda v: re.sub(r"\s+", " ", str(v)).strip())

    ids = frame["id"]
    for i, value in ids.items():
        if value == "":
            problems.append(RosterProblem(i + 2, "id", "", "an id is required"))
    first_line: dict[str, int] = {}
    for i, value in ids.items():
        if value == "":
            continue
        if value in first_line:
            problems.append(RosterProblem(i + 2, "id", value, f"a unique id (also on row {first_line[value]})"))
        else:
            first_line[value] = i + 2

    def check(column: str, normalise, expected: str) -> None:
        out = []
        for i, value in frame[column].items():
            norm = normalise(value)
            if norm is None:
                problems.append(RosterProblem(i + 2, column, value, expected))
                norm = value
            out.append(norm)
        frame[column] = out

    check("stakeholder_group", normalise_stakeholder, "one of " + ", ".join(STAKEHOLDER_GROUPS))
    check("region", normalise_region, "one of " + ", ".join(REGIONS))
    check("country", normalise_country, "an ISO 3166-1 alpha-2 country code, e.g. KE")
    check("timezone", normalise_timezone, "an IANA time zone name, e.g. Africa/Nairobi")
    if "gender" in frame.columns:
        check("gender", normalise_gender, "one of " + ", ".join(GENDERS) + " (or empty)")
    else:
        frame["gender"] = "undisclosed"

    languages = []
    for i, value in frame["languages"].items():
        codes = split_list(value)
        if not codes:
            problems.append(RosterProblem(i + 2, "languages", value, "at least one ISO 639-1 code, e.g. en;fr"))
        good = []
        for code in codes:
            norm = normalise_language(code)
            if norm is None:
                problems.append(RosterProblem(i + 2, "languages", code, "ISO 639-1 language codes separated by ';', e.g. en;fr"))
            elif norm not in good:
                good.append(norm)
        languages.append(";".join(good))
    frame["languages"] = languages

    for i, value in frame["email"].items():
        if value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            problems.append(RosterProblem(i + 2, "email", value, "an email address like name@example.org (or empty)"))

    if "expertise" in frame.columns:
        frame["expertise"] = [";".join(dict.fromkeys(_slug(t) for t in split_list(v))) for v in frame["expertise"]]
    else:
        frame["expertise"] = ""

    if extra_checks is not None:
        extra_checks(frame, problems)
    if problems:
        problems.sort(key=lambda p: (p.row or 0))
        raise RosterError(problems)
    return frame.reset_index(drop=True)


def check_capacity(frame: pd.DataFrame, problems: list[RosterProblem], default: int | None = None) -> None:
    """Extra check for tutors and mentors: a non-negative whole `capacity`."""
    if "capacity" not in frame.columns:
        if default is None:
            problems.append(RosterProblem(1, "capacity", "", "missing column (the header row needs it)"))
            return
        frame["capacity"] = default
        return
    values = []
    for i, value in frame["capacity"].items():
        text = str(value).strip()
        if text.isascii() and text.isdigit():
            values.append(int(text))
        else:
            problems.append(RosterProblem(i + 2, "capacity", text, "a whole number of 0 or more"))
            values.append(0)
    frame["capacity"] = values


def language_sets(frame: pd.DataFrame) -> list[frozenset[str]]:
    """The languages of each person, as sets."""
    return [frozenset(v.split(";")) if v else frozenset() for v in frame["languages"]]


def topic_sets(frame: pd.DataFrame, column: str = "expertise") -> list[frozenset[str]]:
    if column not in frame.columns:
        return [frozenset()] * len(frame)
    return [frozenset(t for t in str(v).split(";") if t) for v in frame[column]]


def org_keys(frame: pd.DataFrame) -> pd.Series:
    """Organisation names compared loosely (case, spaces); empty means none."""
    return frame["organisation"].astype(str).str.strip().str.lower().str.replace(r"\s+", " ", regex=True)
