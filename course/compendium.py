"""The compendium of capacity-development programmes: `compendium/<id>.yml`, one record each.

The record contract is in compendium/README.md (and the issue that added it): what a
programme is, who runs it, for whom, where, in which languages, at what cost, and where its
facts come from and when they were checked. Records use only the topic slugs of the modules,
so each module page can list the programmes that cover its topics.
"""

import datetime as dt
import difflib
import re
from enum import Enum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from course.errors import Problem
from course.modules import CatalogueEntry, Level, Slug, Text
from course.plans import CalendarDate
from course.yamlfile import load_named_model
from peer_review.roster import REGIONS as ROSTER_REGIONS
from peer_review.roster import normalise_country, normalise_language

FOLDER = "compendium"  # below the course repository's root


class Type(str, Enum):
    school = "school"
    online_course = "online_course"
    academic_programme = "academic_programme"
    fellowship = "fellowship"
    mentoring = "mentoring"
    internship_exchange = "internship_exchange"
    webinar_series = "webinar_series"


class Modality(str, Enum):
    online = "online"
    face_to_face = "face_to_face"
    blended = "blended"


class TargetGroup(str, Enum):
    """The groups of the 2013 IGF capacity-building roundtable."""

    end_users = "end_users"
    youth = "youth"
    smes = "smes"
    educators = "educators"
    local_authorities = "local_authorities"
    law_enforcement = "law_enforcement"
    regulators = "regulators"
    government_officials = "government_officials"
    policy_makers = "policy_makers"
    decision_makers = "decision_makers"
    diplomats = "diplomats"


class Cost(str, Enum):
    free = "free"
    fee = "fee"
    varies = "varies"


TYPES = tuple(t.value for t in Type)
MODALITIES = tuple(m.value for m in Modality)
LEVELS = tuple(level.value for level in Level)
TARGET_GROUPS = tuple(g.value for g in TargetGroup)
COSTS = tuple(c.value for c in Cost)
REGIONS = (*ROSTER_REGIONS, "Global")

# How the book names each value.
LABELS = {
    "type": {"school": "School", "online_course": "Online course",
             "academic_programme": "Academic programme", "fellowship": "Fellowship",
             "mentoring": "Mentoring programme", "internship_exchange": "Internship or exchange",
             "webinar_series": "Webinar series"},
    "modality": {"online": "Online", "face_to_face": "Face to face", "blended": "Blended"},
    "level": {"awareness": "Awareness", "foundation": "Foundation", "advanced": "Advanced"},
    "target_groups": {"end_users": "End users", "youth": "Youth",
                      "smes": "Small and medium enterprises", "educators": "Educators",
                      "local_authorities": "Local authorities",
                      "law_enforcement": "Law enforcement",
                      "regulators": "Regulators", "government_officials": "Government officials",
                      "policy_makers": "Policy makers", "decision_makers": "Decision makers",
                      "diplomats": "Diplomats"},
    "cost": {"free": "Free", "fee": "Fee", "varies": "Varies"},
}


def _written_as(normalise, expected: str):
    """A validator taking a code only as `normalise` writes it, with a hint when it is close."""
    def check(value):
        if not isinstance(value, str) or normalise(value) != value:
            close = normalise(value) if isinstance(value, str) else None
            hint = f"; did you mean {close!r}?" if close else ""
            raise ValueError(f"expected {expected}{hint}")
        return value
    return check


def _region(value):
    if value not in REGIONS:
        raise ValueError("expected one of " + ", ".join(REGIONS))
    return value


HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
                  r"\.[a-z][a-z0-9-]*[a-z0-9]$")


def _https(value):
    """An https:// address with a real host name; kept exactly as written."""
    if not isinstance(value, str):
        raise ValueError("expected an https:// address")
    if not value.startswith("https://"):
        raise ValueError("expected an https:// address (http and other schemes are refused)")
    if re.search(r"[\s<>\"`\\]", value):
        raise ValueError("an address may not contain spaces, \", `, \\, < or > (encode them)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
        host = (parts.hostname or "").encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise ValueError("not a well-formed address") from None
    if parts.username is not None or not HOST.match(host):
        raise ValueError("not a well-formed address (expected https://host.example/...)")
    return value


def _blank_is_unknown(value):
    return None if isinstance(value, str) and not value.strip() else value


def _not_in_future(value: dt.date) -> dt.date:
    if value > dt.date.today():
        raise ValueError(f"{value} is in the future: give the date the facts were checked")
    return value


Country = Annotated[str, AfterValidator(_written_as(
    normalise_country, "an ISO 3166-1 alpha-2 country code in capitals, e.g. ZA"))]
Language = Annotated[str, AfterValidator(_written_as(
    normalise_language, "an ISO 639-1 language code in small letters, e.g. en"))]
Region = Annotated[str, AfterValidator(_region)]
HttpsUrl = Annotated[str, AfterValidator(_https)]
Unknown = BeforeValidator(_blank_is_unknown)  # "" in an optional field means unknown


class Record(BaseModel):
    """One programme, as in the compendium's contract (compendium/README.md)."""

    model_config = ConfigDict(extra="forbid")
    id: Slug
    name: Text
    organisers: list[Text] = Field(min_length=1)
    type: Type
    modality: Annotated[Modality | None, Unknown] = None
    level: Annotated[Level | None, Unknown] = None
    topics: list[Slug] = []
    target_groups: list[TargetGroup] = []
    regions: list[Region] = Field(min_length=1)
    countries: list[Country] = []
    languages: list[Language] = Field(min_length=1)
    cost: Annotated[Cost | None, Unknown] = None
    funding: Annotated[Text | None, Unknown] = None
    dates: Annotated[Text | None, Unknown] = None
    apply: Annotated[Text | None, Unknown] = None
    url: HttpsUrl
    sources: list[HttpsUrl] = Field(min_length=1)
    checked: Annotated[CalendarDate, AfterValidator(_not_in_future)]

    @field_validator("organisers", "topics", "target_groups", "regions", "countries", "languages",
                     "sources")
    @classmethod
    def listed_once(cls, values: list) -> list:
        seen = set()
        for value in values:
            if value in seen:
                shown = value.value if isinstance(value, Enum) else value
                raise ValueError(f"{shown!r} is listed twice")
            seen.add(value)
        return values

    def data(self) -> dict:
        """The record as plain data (strings, lists, None), in the contract's field order."""
        return self.model_dump(mode="json")


FIELDS = tuple(Record.model_fields)
LIST_FIELDS = tuple(name for name, f in Record.model_fields.items()
                    if getattr(f.annotation, "__origin__", None) is list)
REQUIRED_FIELDS = tuple(name for name, f in Record.model_fields.items() if f.is_required())


def load_record(path: Path) -> tuple[Record | None, list[Problem]]:
    """Load and validate one record; its id must be its file name."""
    return load_named_model(Record, path)


def same_address(url: str) -> str:
    """An address compared loosely: host in small letters, no trailing slash or fragment.

    >>> same_address("https://AfriSIG.org/") == same_address("https://afrisig.org#about")
    True
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return f"{parts.netloc.lower()}{path}" + (f"?{parts.query}" if parts.query else "")


def load_compendium(folder: Path) -> tuple[list[tuple[Path, Record]], list[Problem]]:
    """Every record of the folder (`*.yml`, by file name) and every problem in them.

    A missing folder is an empty compendium. Two records with the same address are both
    named; a `.yaml` file is named (records are `<id>.yml`).
    """
    folder = Path(folder)
    if not folder.exists():
        return [], []
    if not folder.is_dir():
        return [], [Problem(folder, "not a folder (the compendium is a folder of .yml files)")]
    records, problems = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")):
            continue
        if path.suffix == ".yaml":
            problems.append(Problem(path, f"records are named <id>.yml: rename it {path.stem}.yml"))
            continue
        if path.suffix != ".yml":
            continue
        record, found = load_record(path)
        problems += found
        if record is not None:
            records.append((path, record))
    first_at: dict[str, Path] = {}
    for path, record in records:
        key = same_address(record.url)
        if key in first_at:
            problems.append(Problem(path, f"url: {record.url!r} is also the address of "
                                          f"{first_at[key].name}: one record per programme"))
        else:
            first_at[key] = path
    return records, problems


def topic_vocabulary(catalogue: dict[str, CatalogueEntry]) -> list[str]:
    """The topics a record may use: every topic of every module, sorted."""
    return sorted({t for entry in catalogue.values() for t in entry.module.topics})


def unknown_topics(path: Path, topics: list[str], vocabulary) -> list[Problem]:
    """A problem for each of a record's topics that is not in the vocabulary."""
    problems = []
    for number, topic in enumerate(topics, start=1):
        if topic not in vocabulary:
            close = difflib.get_close_matches(topic, list(vocabulary), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(Problem(path, f"topics[{number}]: {topic!r} is not a topic of any "
                                          f"module (compendium/README.md lists them){hint}"))
    return problems


def check_compendium(folder: Path, topics=None) -> list[Problem]:
    """Every problem in the compendium folder; `topics` is the vocabulary (None: not checked,
    e.g. while a module is unreadable)."""
    records, problems = load_compendium(folder)
    if topics is not None:
        topics = set(topics)
        for path, record in records:
            problems += unknown_topics(path, record.topics, topics)
    return problems


def related_programmes(topics: list[str], records: list[Record],
                       limit: int = 8) -> list[tuple[Record, list[str]]]:
    """The programmes sharing most topics with `topics`, with the topics they share:
    most shared first, then by name; at most `limit`."""
    wanted = set(topics)
    found = [(r, [t for t in r.topics if t in wanted]) for r in records]
    found = [(r, shared) for r, shared in found if shared]
    found.sort(key=lambda pair: (-len(pair[1]), pair[0].name.casefold(), pair[0].id))
    return found[:limit]


def stale_records(records: list[Record], days: int, today: dt.date | None = None) -> list[Record]:
    """Records checked more than `days` days before today, oldest first."""
    today = today or dt.date.today()
    limit = today - dt.timedelta(days=days)
    return sorted((r for r in records if r.checked < limit), key=lambda r: (r.checked, r.id))


def export_rows(records: list[Record]) -> list[dict]:
    """One flat row per record for CSV: lists joined with ";", unknown fields empty."""
    rows = []
    for record in records:
        data = record.data()
        rows.append({name: ";".join(value) if isinstance(value, list)
                     else ("" if value is None else value) for name, value in data.items()})
    return rows
