"""Answers from a survey tool's CSV export (KoboToolbox, LimeSurvey, Google Forms), read with
a mapping file that says which column holds what.

Pure: bytes and data in, rows and Problems out; course.cohort.evaluation_import stores them.
Rows are numbered as a spreadsheet shows them (header = row 1). A mapping file (YAML):

    person: {column: username, key: id}          # key: id (roster id) or email
    submitted_at:                                # optional
      column: _submission_time
      format: "%d/%m/%Y %H:%M"                   # strptime; default ISO 8601
      timezone: Africa/Nairobi                   # of times without an offset; default UTC
    delimiter: auto                              # auto, ",", ";", tab or "|"
    values: {A1: 1, A2: 2, A3: 3}                # recodings for every question
    questions:
      inf-1: knowledge/inf_1                     # question id: its column
      reasons:
        column: Why did you join?
        separator: ", "                          # multi answers in one cell
        values: {Work: My employer sent me}      # this question's recodings
      barriers:                                  # multi: one column per option
        columns: {Visas: "barriers[SQ002]", Language: "barriers[SQ004]"}

A recoding maps a cell's text to an option's text, or to its position (1 = the first option).
"""

from __future__ import annotations

import csv
import re
import zoneinfo
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from course.errors import Problem
from course.evaluation.instruments import check_answers, normalise_answers
from course.yamlfile import load_model
from peer_review.roster import UnreadableCsv, csv_records

DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\t": "\t", "|": "|"}
# One cell a row per option (LimeSurvey's multiple choice, KoboToolbox's split columns).
CHOSEN = {"1", "y", "yes", "true", "x", "checked", "selected"}
NOT_CHOSEN = {"", "0", "n", "no", "false", "unchecked", "not selected"}
NUMBER = re.compile(r"^[+-]?\d+(\.0+)?$")

Column = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Value = str | int


def _recodings(values):
    """Keys as text (Kobo's values are often numbers); YAML's yes/no/on/off, which it reads as
    true and false, refused: in a recoding they are meant as text."""
    if not isinstance(values, dict):
        return values
    for key, target in values.items():
        if isinstance(key, bool) or isinstance(target, bool):
            raise ValueError(f"{key!r}: {target!r}: YAML reads an unquoted Yes, No, On or Off as "
                             "true or false: put the text in quotes, e.g. \"Yes\": 1")
        if isinstance(target, float):
            raise ValueError(f"{key!r}: {target!r}: expected an option's text or position (1, 2, ...)")
    return {str(key): target for key, target in values.items()}


Recodings = Annotated[dict[str, Value], BeforeValidator(_recodings)]


class PersonColumn(BaseModel):
    """The column that says who answered: their roster id or their e-mail address."""

    model_config = ConfigDict(extra="forbid")
    column: Column
    key: Literal["id", "email"] = "id"


class DateColumn(BaseModel):
    """When the answer was submitted: ISO 8601 unless `format` (Python strptime) is given;
    times without an offset are in `timezone`."""

    model_config = ConfigDict(extra="forbid")
    column: Column
    format: Annotated[str, StringConstraints(min_length=1)] | None = None
    timezone: str = "UTC"


class QuestionColumns(BaseModel):
    """Where one question is: a column, or (multi questions) one column per option."""

    model_config = ConfigDict(extra="forbid")
    column: Column | None = None
    columns: dict[str, Column] | None = Field(default=None, min_length=1)
    values: Recodings = {}
    separator: Annotated[str, StringConstraints(min_length=1)] | None = None


class Mapping(BaseModel):
    """A mapping file: a survey export's columns to an instrument's questions."""

    model_config = ConfigDict(extra="forbid")
    person: PersonColumn
    submitted_at: DateColumn | None = None
    delimiter: Literal["auto", ",", ";", "tab", "\t", "|"] = "auto"
    values: Recodings = {}
    questions: dict[str, Column | QuestionColumns] = Field(min_length=1)

    def question(self, question_id: str) -> QuestionColumns | None:
        found = self.questions.get(question_id)
        return QuestionColumns(column=found) if isinstance(found, str) else found

    def recodings(self, question_id: str) -> dict[str, Value]:
        """The shared recodings, overridden by the question's own."""
        own = self.question(question_id)
        return {**self.values, **(own.values if own else {})}


class NotAnOption(ValueError):
    """A cell (or a recoding) that is none of the question's options."""


class Row(NamedTuple):
    """One person's answer as `import_answers` takes it."""

    person_id: str
    answers: dict
    source_row: int
    submitted_at: datetime | None


def _loose(text: str) -> str:
    """Text compared as people read it: case, and runs of spaces, ignored."""
    return re.sub(r"\s+", " ", str(text)).strip().casefold()


def _kind(question) -> str:
    return getattr(question.type, "value", question.type)


def _options_text(options) -> str:
    shown = ", ".join(repr(o) for o in options[:8])
    return shown + (", ..." if len(options) > 8 else "")


# --- the mapping file ---------------------------------------------------------------------

def load_mapping(path: Path, questions: list) -> tuple[Mapping | None, list[Problem]]:
    """Load a mapping file (strict YAML) and check it against the instrument's questions."""
    mapping, problems = load_model(Mapping, path)
    if mapping is None:
        return None, problems
    return mapping, check_mapping(mapping, path, questions)


def check_mapping(mapping: Mapping, path: Path, questions: list) -> list[Problem]:
    """Every mapped question exists, every required one is mapped, every recoding lands on an
    answer the question accepts."""
    by_id = {q.id: q for q in questions}
    problems = []

    def problem(message: str) -> None:
        problems.append(Problem(path, message))

    if mapping.questions and not set(mapping.questions) & set(by_id):
        mapped = ", ".join(list(mapping.questions)[:5])
        return [Problem(path, f"questions: none of the mapped questions ({mapped}"
                              f"{', ...' if len(mapping.questions) > 5 else ''}) is a question of "
                              f"this instrument (its questions: {', '.join(list(by_id)[:5])}"
                              f"{', ...' if len(by_id) > 5 else ''}): is this the mapping of "
                              "another instrument?")]
    for qid in mapping.questions:
        if qid not in by_id:
            problem(f"questions.{qid}: the instrument has no question {qid!r} "
                    f"(its questions: {', '.join(by_id)})")
    for q in questions:
        if q.required and q.id not in mapping.questions:
            problem(f"questions: required question {q.id!r} is not mapped to a column")
    for key, target in mapping.values.items():
        if not any(_recoding_fits(q, target) for q in questions):
            problem(f"values.{key}: {target!r} is not an answer of any question")
    for qid in mapping.questions:
        q, where = by_id.get(qid), mapping.question(qid)
        if q is None:
            continue
        field = f"questions.{qid}"
        if (where.column is None) == (where.columns is None):
            problem(f"{field}: give either column (one column) or columns (one column per option)")
            continue
        if where.columns is not None:
            if _kind(q) != "multi":
                problem(f"{field}.columns: only a multi question has one column per option "
                        f"({qid!r} is {_kind(q)}): give column")
            else:
                options = {_loose(o) for o in q.options}
                for option in where.columns:
                    if _loose(option) not in options:
                        problem(f"{field}.columns.{option}: not an option of {qid!r} "
                                f"(its options: {_options_text(q.options)})")
        if where.separator is not None and _kind(q) != "multi":
            problem(f"{field}.separator: only a multi question has several answers in a cell")
        if _kind(q) == "multi" and where.column is not None and where.separator is None:
            problem(f"{field}.separator: {qid!r} takes several answers: give the text between "
                    "them in a cell (Google Forms: \", \", KoboToolbox: \" \")")
        for key, target in where.values.items():
            if not _recoding_fits(q, target):
                problem(f"{field}.values.{key}: {target!r} is not an answer of {qid!r}"
                        + (f" (its options: {_options_text(q.options)})" if q.options else ""))
    if mapping.submitted_at is not None and _zone(mapping.submitted_at.timezone) is None:
        problem(f"submitted_at.timezone: {mapping.submitted_at.timezone!r}: expected an IANA "
                "time zone name, e.g. UTC or Africa/Nairobi")
    return problems


def _recoding_fits(question, target: Value) -> bool:
    try:
        _value(question, target)
        return True
    except ValueError:
        return False


def _zone(name: str):
    if name.strip().upper() == "UTC":
        return timezone.utc
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


# --- reading the export ------------------------------------------------------------------

def decode(data: bytes) -> str:
    """A CSV file's text: UTF-8, with or without the byte-order mark Excel and Kobo add."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ValueError("the file is UTF-16 (Excel's \"Unicode text\"): save it as "
                         "\"CSV UTF-8\" instead")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        row = data[: err.start].count(b"\n") + 1
        raise ValueError(f"the file is not UTF-8 (byte {data[err.start]:#x} on line {row}): "
                         "export it again as UTF-8 (\"CSV UTF-8\" in Excel)") from None


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header row into the most columns (`,` on a tie)."""
    first = text.splitlines()[0] if text else ""
    counts = {d: len(next(csv.reader([first], delimiter=d), [])) for d in (",", ";", "\t", "|")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def read_records(text: str, delimiter: str) -> tuple[list[list[str]], UnreadableCsv | None]:
    """The file's records (a quoted cell may span lines, a blank line is []) and, when a cell
    cannot be read, why (the records then stop before its row)."""
    records: list[list[str]] = []
    try:
        for _, cells in csv_records(text, delimiter):
            records.append(cells)
    except UnreadableCsv as err:
        return records, err
    return records, None


def unreadable(err: UnreadableCsv, header: list[str]) -> str:
    """A cell csv cannot read, as a message: row (header = 1), column, its text, what is wrong."""
    where = f"row {err.record + 1}"
    if err.line != err.record + 1:
        where += f" (line {err.line} of the file)"
    if err.cell is not None:
        name = header[err.cell].replace("\x00", "").strip() if err.cell < len(header) else ""
        where += f", column {name!r}" if name else f", cell {err.cell + 1}"
    found = f"{err.value!r}: " if err.value else ""
    return f"{where}: {found}{err.what}"


def read_survey(path: Path, data: bytes, mapping: Mapping, questions: list,
                people: list[tuple[str, str]], refused: dict[str, str] | None = None,
                ) -> tuple[list[Row], list[Problem]]:
    """The answers in a survey export, one Row per person; every problem at once.

    `people` lists (id, email) of the cohort's people, to find who answered; `refused` says
    why some of them cannot answer (a withdrawal, a tutor).
    """
    def fail(message: str) -> tuple[list[Row], list[Problem]]:
        return [], [Problem(path, message)]

    try:
        text = decode(data)
    except ValueError as err:
        return fail(str(err))
    if not text.strip():
        return fail("the file is empty; expected a header row and one row per answer")
    delimiter = (sniff_delimiter(text) if mapping.delimiter == "auto"
                 else DELIMITERS[mapping.delimiter])
    records, error = read_records(text, delimiter)
    if error is not None:
        return fail(unreadable(error, records[0] if records else []))
    header = [h.replace("\x00", "").strip() for h in records[0]]
    columns, problems = _find_columns(path, header, mapping)
    if problems:
        return [], problems
    rows = [(i + 1, r) for i, r in enumerate(records) if i > 0 and any(c.strip() for c in r)]
    if not rows:
        return fail("the file has a header row but no answers")
    by_id = {q.id: q for q in questions}
    ids = {pid for pid, _ in people}
    emails = {_loose(email): pid for pid, email in people if email}
    seen: dict[str, int] = {}
    out: list[Row] = []
    for line, record in rows:
        def bad(column: str, message: str) -> None:
            problems.append(Problem(path, f"row {line}, column {column!r}: {message}"))

        if len(record) > len(header) and any(c.strip() for c in record[len(header):]):
            problems.append(Problem(path, f"row {line}: {len(record)} cells, but the header "
                                          f"has {len(header)} columns"))
            continue
        # NUL is dropped: no database keeps it in text (PostgreSQL refuses it)
        cell = lambda index: record[index].replace("\x00", "").strip() if index < len(record) else ""  # noqa: E731
        person_id = _person(cell(columns["person"]), mapping.person, ids, emails, seen, line,
                            lambda m: bad(mapping.person.column, m))
        if person_id in (refused or {}):
            bad(mapping.person.column, f"{cell(columns['person'])!r}: {refused[person_id]}")
            person_id = None
        when = None
        if mapping.submitted_at is not None:
            raw = cell(columns["submitted_at"])
            try:
                when = parse_time(raw, mapping.submitted_at)
            except ValueError as err:
                bad(mapping.submitted_at.column, f"{raw!r}: {err}")
        answers, where = {}, {}
        for qid in mapping.questions:
            q, spec = by_id[qid], mapping.question(qid)
            if spec.columns is not None:
                value, messages = _from_option_columns(q, spec, columns, cell)
            else:
                where[qid] = spec.column
                try:
                    value = read_cell(q, cell(columns[qid]), spec.separator, mapping.recodings(qid))
                    messages = []
                except ValueError as err:
                    value, messages = None, [(spec.column, f"{cell(columns[qid])!r}: {err}")]
            for column, message in messages:
                bad(column, message)
            if value is not None and not messages:
                answers[qid] = value
        for qid, message in check_answers(questions, answers, final=False).items():
            bad(where.get(qid, qid), message)
        if person_id is not None:
            out.append(Row(person_id, normalise_answers(questions, answers), line, when))
    return ([], problems) if problems else (out, [])


def _find_columns(path, header, mapping) -> tuple[dict, list[Problem]]:
    """Where each mapped column is in the header (exact, else ignoring case and spaces)."""
    problems = []
    exact: dict[str, list[int]] = {}
    loose: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        exact.setdefault(h, []).append(i)
        loose.setdefault(_loose(h), []).append(i)

    def find(column: str, field: str) -> int | None:
        found = exact.get(column) or loose.get(_loose(column)) or []
        if len(found) == 1:
            return found[0]
        if found:
            problems.append(Problem(path, f"row 1, column {column!r} ({field} in the mapping): "
                                          f"the header has {len(found)} columns of that name"))
        else:
            shown = ", ".join(repr(h) for h in header[:12]) + (", ..." if len(header) > 12 else "")
            problems.append(Problem(path, f"row 1, column {column!r} ({field} in the mapping): "
                                          f"no such column in the file (its columns: {shown})"))
        return None

    columns = {"person": find(mapping.person.column, "person.column")}
    if mapping.submitted_at is not None:
        columns["submitted_at"] = find(mapping.submitted_at.column, "submitted_at.column")
    for qid in mapping.questions:
        spec = mapping.question(qid)
        if spec.column is not None:
            columns[qid] = find(spec.column, f"questions.{qid}")
        for option, column in (spec.columns or {}).items():
            columns[(qid, option)] = find(column, f"questions.{qid}.columns.{option}")
    return columns, problems


def _person(value, spec: PersonColumn, ids, emails, seen, line, bad) -> str | None:
    if not value:
        bad(f"empty: expected the person's {'roster id' if spec.key == 'id' else 'e-mail address'}")
        return None
    person_id = value if spec.key == "id" else emails.get(_loose(value))
    if person_id is None or person_id not in ids:
        what = "roster id" if spec.key == "id" else "e-mail address"
        bad(f"{value!r}: not a person of the cohort (no one has this {what})")
        return None
    if person_id in seen:
        bad(f"{value!r}: {person_id} answered twice (also on row {seen[person_id]}); "
            "keep one answer per person in the file")
        return None
    seen[person_id] = line
    return person_id


def parse_time(raw: str, spec: DateColumn) -> datetime | None:
    """A submitted-at cell as naive UTC (None when blank); ValueError says what was expected."""
    if not raw:
        return None
    try:
        if spec.format:
            when = datetime.strptime(raw, spec.format)
        else:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        expected = f"format {spec.format!r}" if spec.format else "ISO 8601, e.g. 2027-05-03T10:15:00"
        raise ValueError(f"not a date and time in {expected} (set submitted_at.format in the "
                         "mapping)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_zone(spec.timezone) or timezone.utc)
    try:
        return when.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        raise ValueError("not a date the store can keep (out of range)") from None


def read_cell(question, raw: str, separator: str | None, recodings: dict[str, Value]):
    """One cell as the question's answer (None when blank); ValueError says what was expected.
    Recodings are looked up ignoring case and spaces."""
    if raw == "":
        return None
    lookup = {_loose(k): v for k, v in recodings.items()}

    def value(text: str):
        return _value(question, lookup.get(_loose(text), text))

    try:
        if _kind(question) != "multi":
            return value(raw)
        out = []
        for token in split_multi(raw, separator, [*question.options, *recodings]):
            try:
                out.append(value(token))
            except NotAnOption as err:
                raise NotAnOption(f"{token!r} is {err}") from None
        return out
    except NotAnOption as err:
        hint = (f"the mapping recodes {_options_text(list(recodings))}" if recodings
                else "or recode it under values in the mapping")
        raise NotAnOption(f"{err}; {hint}") from None


def split_multi(raw: str, separator: str | None, known: list[str]) -> list[str]:
    """The answers in a multi cell. Known answers are taken whole first, so an option that
    holds the separator ("Yes, often" in a ", "-joined Google Forms cell) stays one answer."""
    if separator is None:
        return [raw]
    sep = separator.strip() or separator  # ", " splits at "," (spaces around are dropped)
    known = sorted({k.strip() for k in known if str(k).strip()}, key=len, reverse=True)

    def ends_here(after: str) -> bool:
        return after.strip() == "" or after.startswith(sep) or after.lstrip(" ").startswith(sep)

    out, rest = [], raw.strip()
    while rest:
        match = next((k for k in known if _loose(rest[: len(k)]) == _loose(k)
                      and ends_here(rest[len(k):])), None)
        if match is None:
            token, _, rest = rest.partition(sep)
        else:
            token, rest = rest[: len(match)], rest[len(match):]
            rest = rest if sep.isspace() else rest.lstrip(" ")
            rest = rest[len(sep):] if rest.startswith(sep) else rest
        out.append(token.strip())
        rest = rest.strip()
    return [t for t in out if t]


def _value(question, value: Value):
    """A (recoded) value as the question stores it; ValueError when it is not an answer.

    A whole number from the mapping's values (not a cell's text) is an option's position:
    {A1: 1, A2: 2} recodes LimeSurvey's answer codes for every question at once."""
    kind = _kind(question)
    options = list(question.options or [])
    position = isinstance(value, int) and not isinstance(value, bool)
    text = str(value).strip()
    if kind in ("scale", "choice", "multi") and position:
        if 1 <= value <= len(options):
            return value if kind == "scale" else options[value - 1]
        raise NotAnOption(f"not an option: {question.id!r} has options 1 to {len(options)}")
    if kind == "scale" and NUMBER.match(text) and 1 <= _whole(text) <= len(options):
        return _whole(text)
    if kind in ("scale", "choice", "multi"):
        for i, option in enumerate(options):
            if _loose(option) == _loose(text):
                return i + 1 if kind == "scale" else option
        expected = f"1 to {len(options)} or one of" if kind == "scale" else "one of"
        raise NotAnOption(f"not an option: expected {expected} {_options_text(options)}")
    if kind == "number":
        if position or NUMBER.match(text):
            return _whole(text)
        raise ValueError("expected a whole number")
    return text


def _whole(text: str) -> int:
    """"12" or "12.0" as 12 (a spreadsheet may add the ".0")."""
    return int(text.partition(".")[0])


def _from_option_columns(question, spec: QuestionColumns, columns, cell):
    """A multi question spread over one column per option: the options whose cell says chosen."""
    chosen, messages = [], []
    for option, column in spec.columns.items():
        raw = cell(columns[(question.id, option)])
        flag = _loose(raw)
        if flag in CHOSEN or (flag and flag == _loose(option)):
            chosen.append(_value(question, option))
        elif flag not in NOT_CHOSEN:
            messages.append((column, f"{raw!r}: expected 1, Y or Yes (chosen), or blank, 0, N or "
                                     "No (not chosen)"))
    return chosen, messages
