"""`igcb compendium ...`: the compendium of capacity-development programmes (add, export, stale)."""

import datetime as dt
import json
import os
import re
import sys
import tempfile
import unicodedata
from pathlib import Path

import click
import pandas as pd
import pydantic
import yaml

from course import compendium
from course.commands.output import print_table, write_csv
from course.errors import Problem, UserError
from course.layout import Layout
from course.modules import load_catalogue
from course.yamlfile import describe, parse_yaml
from peer_review.roster import normalise_country, normalise_language, normalise_region

FOLDER_OPTION = click.option(
    "--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The compendium folder.  [default: compendium/ in the course repository]")


def _folder(given: Path | None) -> Path:
    return given if given is not None else Layout.default().root / compendium.FOLDER


def _topics() -> list[str]:
    catalogue, _ = load_catalogue(Layout.default().modules)
    return compendium.topic_vocabulary(catalogue)


def _valid_records(folder: Path) -> list[compendium.Record]:
    """Every record of the folder, or a UserError listing every problem (igcb check's)."""
    records, problems = compendium.load_compendium(folder)
    vocabulary = set(_topics())
    problems += [p for path, record in records
                 for p in compendium.unknown_topics(path, record.topics, vocabulary)]
    if problems:
        raise UserError.from_problems(problems)
    return [record for _, record in records]


@click.group("compendium")
def compendium_group():
    """The compendium of programmes: schools, courses, fellowships, exchanges."""


# --- add ------------------------------------------------------------------------------------

HELP = {
    "id": "The record's id and file name (a-z, 0-9, single dashes), e.g. afrisig.",
    "name": "The programme's name.",
    "organisers": "Who runs it (several: repeat the option or separate with ';').",
    "type": "One of " + ", ".join(compendium.TYPES) + ".",
    "modality": "One of " + ", ".join(compendium.MODALITIES) + " (leave out if unknown).",
    "level": "One of " + ", ".join(compendium.LEVELS) + " (leave out if unknown).",
    "topics": "Topic slugs of the modules (`igcb modules` lists them), separated by ';'.",
    "target_groups": "Of " + ", ".join(compendium.TARGET_GROUPS) + ", separated by ';'.",
    "regions": "Of " + ", ".join(compendium.REGIONS) + ", separated by ';' (short names such as "
               "'latin america', 'caribbean' or 'asia pacific' are accepted).",
    "countries": "ISO 3166-1 alpha-2 codes, separated by ';', e.g. ZA;KE.",
    "languages": "ISO 639-1 codes, separated by ';', e.g. en;fr.",
    "cost": "One of " + ", ".join(compendium.COSTS) + " (leave out if unknown).",
    "funding": "Funding offered to participants, as the sources say it.",
    "dates": "Dates or frequency, e.g. 'Once a year, usually in July'.",
    "apply": "How to apply.",
    "url": "The programme's https:// address.",
    "sources": "The https:// addresses the facts come from, separated by ';'.",
    "checked": "The date the facts were checked against the sources (YYYY-MM-DD).",
}
PROMPTS = {
    "name": "Name of the programme",
    "id": "Id (file name)",
    "organisers": "Organisers (separate several with ';')",
    "type": "Type (" + ", ".join(compendium.TYPES) + ")",
    "topics": "Topics (slugs separated by ';'; Enter for none)",
    "regions": "Regions (" + ", ".join(compendium.REGIONS) + "; separate with ';')",
    "languages": "Languages (ISO 639-1 codes, e.g. en;fr)",
    "url": "Address of the programme (https://)",
    "sources": "Sources of the facts (https:// addresses, separated by ';')",
    "checked": "Date the facts were checked against the sources (YYYY-MM-DD)",
}
ASKED = ("name", "id", "organisers", "type", "topics", "regions", "languages", "url", "sources",
         "checked")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _split(values) -> list[str]:
    """Repeated options and ';'-separated values, as one list (blank parts dropped)."""
    return [part.strip() for value in values for part in str(value).split(";") if part.strip()]


# Short names people type for a region, beyond the roster's own spellings and aliases
# (asia pacific, lac, latin america and the caribbean, arab region).
_REGION_SHORT_NAMES = {
    "latin america": "Latin America and Caribbean",
    "latam": "Latin America and Caribbean",
    "caribbean": "Latin America and Caribbean",
    "the caribbean": "Latin America and Caribbean",
    "global": "Global",
    "worldwide": "Global",
}


def _region(value: str) -> str | None:
    """A region as the record spells it: the roster's names and aliases, or a short name."""
    return normalise_region(value) or _REGION_SHORT_NAMES.get(re.sub(r"\s+", " ", value.strip()).lower())


def _normalise(name: str, values: list[str]) -> list[str]:
    """Codes and names as people type them (za, EN, latin america, caribbean, lac, asia pacific,
    worldwide) in the record's spelling; anything else is left for the schema to refuse."""
    normalise = {"countries": normalise_country, "languages": normalise_language,
                 "regions": _region}.get(name)
    if normalise is None:
        return values
    return [normalise(v) or v for v in values]


def slugify(text: str) -> str:
    """A record id from a name: 'École d'été (2027)' -> 'ecole-d-ete-2027'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].strip("-")


def _field_problems(name: str, value, topics: set[str]) -> list[str]:
    """What is wrong with one field's value, as 'field: message' lines (none when valid)."""
    annotation = compendium.Record.model_fields[name].rebuild_annotation()
    try:
        value = pydantic.TypeAdapter(annotation).validate_python(value)
    except pydantic.ValidationError as err:
        return [describe({**e, "loc": (name, *e["loc"])}) for e in err.errors()]
    if name == "topics":
        return [p.message for p in compendium.unknown_topics(Path("."), value, topics)]
    return []


def _ask(name: str, given: dict, topics: set[str], folder: Path):
    """Prompt for one field until its value is valid (an id: also not taken)."""
    default = None
    if name == "id" and given.get("name"):
        default = slugify(given["name"]) or None
    if name == "checked":
        default = dt.date.today().isoformat()
    if name == "topics":
        default = ""

    def convert(text: str):
        value = _normalise(name, _split([text])) if name in compendium.LIST_FIELDS else text.strip()
        problems = _field_problems(name, value, topics)
        if name == "id" and not problems and (folder / f"{value}.yml").exists():
            problems = [f"id: {folder / value}.yml already exists; choose another id"]
        if problems:
            raise click.UsageError("; ".join(problems))
        return value

    return click.prompt(PROMPTS[name], default=default, value_proc=convert,
                        show_default=default not in (None, ""))


def _record_text(record: compendium.Record) -> str:
    """The record as YAML: fields in the contract's order, lists on one line, unknowns null."""
    data = record.data()
    data["checked"] = record.checked  # a YAML date, not a quoted string
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None,
                          width=100)


def _create(path: Path, text: str) -> None:
    """Write a new file all at once, never over an existing one."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise UserError(f"{path}: cannot write in {path.parent} ({err.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.link(tmp, path)  # fails if the file appeared meanwhile: nothing is overwritten
    except FileExistsError:
        raise UserError(f"{path} already exists: igcb compendium add never overwrites a "
                        "record; edit it, or choose another --id") from None
    except OSError as err:
        raise UserError(f"{path}: cannot write it ({err.strerror or err})") from None
    finally:
        os.unlink(tmp)


def _add_options(command):
    for name in reversed(compendium.FIELDS):
        flag = _flag(name)
        if name in compendium.LIST_FIELDS:
            command = click.option(flag, name, multiple=True, help=HELP[name])(command)
        else:
            command = click.option(flag, name, default=None, help=HELP[name])(command)
    return command


@compendium_group.command("add")
@_add_options
@FOLDER_OPTION
@click.option("--interactive/--no-interactive", default=None,
              help="Ask for the missing required fields.  [default: when run in a terminal]")
def add(folder: Path | None, interactive: bool | None, **fields):
    """Add a programme: write compendium/<id>.yml from flags, asking for what is missing.

    Only facts from public sources: leave a field out when the sources do not say it.
    """
    folder = _folder(folder)
    topics = set(_topics())
    given = {}
    for name in compendium.FIELDS:
        value = fields[name]
        if name in compendium.LIST_FIELDS:
            if value:
                given[name] = _normalise(name, _split(value))
        elif value is not None:
            given[name] = value.strip()
    if interactive is None:
        interactive = sys.stdin.isatty()
    missing = [n for n in compendium.REQUIRED_FIELDS if n not in given]
    if missing and not interactive:
        raise UserError("missing required field(s): " + ", ".join(map(_flag, missing))
                        + " (give them as options, or run in a terminal to be asked)")
    problems = [line for name, value in given.items()
                for line in _field_problems(name, value, topics)]
    if problems:
        raise UserError.from_problems([Problem(Path("compendium add"), p) for p in problems])
    if missing:  # and in a terminal: ask for them (and for topics, which most records have)
        for name in ASKED:
            if name not in given:
                given[name] = _ask(name, given, topics, folder)
    try:
        record = compendium.Record.model_validate(given)
    except pydantic.ValidationError as err:
        raise UserError.from_problems([Problem(Path("compendium add"), describe(e))
                                       for e in err.errors()]) from None
    path = folder / f"{record.id}.yml"
    if path.exists():
        raise UserError(f"{path} already exists: igcb compendium add never overwrites a record; "
                        "edit it, or choose another --id")
    existing, _ = compendium.load_compendium(folder)
    for other_path, other in existing:
        if compendium.same_address(other.url) == compendium.same_address(record.url):
            raise UserError(f"url: {record.url!r} is already the address of {other_path}: "
                            "one record per programme")
    text = _record_text(record)
    if compendium.Record.model_validate(parse_yaml(text)) != record:  # what is written reads back
        raise UserError(f"{path}: the record would not read back as given; nothing written")
    if not folder.is_dir():
        if not folder.parent.is_dir():
            raise UserError(f"{folder}: no such folder")
        folder.mkdir()
    _create(path, text)
    click.echo(f"Wrote {path}. Check it against its sources, then run `igcb check`.")


# --- export ---------------------------------------------------------------------------------

def _write_text(path: Path, text: str) -> None:
    """Write a file all at once (a temporary file beside it, then renamed)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a file name")
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise UserError(f"{path}: cannot write in {folder} ({err.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as err:
        raise UserError(f"{path}: cannot write it ({err.strerror or err})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@compendium_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True, help="CSV (lists joined with ';') or JSON (a list of records).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The file to write.")
@FOLDER_OPTION
def export(fmt: str, output: Path, folder: Path | None):
    """Export every record (CSV for spreadsheets, JSON for programs)."""
    folder = _folder(folder)
    records = _valid_records(folder)
    if fmt == "json":
        _write_text(output, json.dumps([r.data() for r in records], indent=2,
                                       ensure_ascii=False) + "\n")
    else:
        frame = pd.DataFrame(compendium.export_rows(records), columns=list(compendium.FIELDS),
                             dtype=object)
        write_csv(frame, output)
    click.echo(f"Wrote {len(records)} record(s) to {output}")


# --- stale ----------------------------------------------------------------------------------

@compendium_group.command("stale")
@click.option("--days", type=click.IntRange(min=0), default=365, show_default=True,
              help="List records checked more than this many days ago.")
@FOLDER_OPTION
def stale(days: int, folder: Path | None):
    """List the records whose facts were checked too long ago, oldest first."""
    folder = _folder(folder)
    records = _valid_records(folder)
    today = dt.date.today()
    old = compendium.stale_records(records, days, today)
    ago = f"{days} day{'' if days == 1 else 's'} ago"
    if not old:
        click.echo(f"No record was checked more than {ago} ({len(records)} records).")
        return
    click.echo(f"{len(old)} of {len(records)} records were checked more than {ago}: "
               "check them against their sources and update `checked`.")
    print_table(["id", "checked", "days ago", "name"],
                [[r.id, r.checked.isoformat(), str((today - r.checked).days), r.name] for r in old])


COMMANDS = [compendium_group]
