"""Course plans (`course/plans/*.yml`): which modules, in what order, on which dates."""

import datetime as dt
from enum import Enum
from pathlib import Path
from typing import Annotated

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints,
                      field_validator, model_validator)

from course.errors import Problem, UserError
from course.launch import Hub
from course.modules import LanguageCode, Slug, Text
from course.yamlfile import load_named_model
from peer_review.roster import normalise_timezone

PLANS_DIR = Path(__file__).parent / "plans"
DEFAULT_PLAN = "online-course"


class Format(str, Enum):
    awareness_day = "awareness-day"
    online_course = "online-course"
    academic_module = "academic-module"
    training_of_trainers = "training-of-trainers"


class Mode(str, Enum):
    online = "online"
    face_to_face = "face-to-face"


class Deadline(BaseModel):
    """Something participants hand in by the end of a session."""

    model_config = ConfigDict(extra="forbid")
    title: Text
    assignment: Slug | None = None


def _time_of_day(text: str) -> dt.time:
    """'09:30' as a time; a ValueError naming it when it is not a time of day."""
    hours, minutes = int(text[:2]), int(text[3:])
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r} is not a time of day (HH:MM, 00:00 to 23:59)")
    return dt.time(hours, minutes)


class Session(BaseModel):
    """One week of a course, or one day (or part of a day) of a seminar."""

    model_config = ConfigDict(extra="forbid")
    week: int | None = Field(default=None, ge=1, le=104)
    day: int | None = Field(default=None, ge=1, le=366)
    time: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")] | None = None
    title: Text
    modules: list[Slug] = []
    mode: Mode = Mode.online
    discussion: bool = False
    deadlines: list[Deadline] = []

    @field_validator("time")
    @classmethod
    def clock_times(cls, value: str | None) -> str | None:
        """Both ends real times of day (the pattern alone lets "25:00-26:00" through)."""
        for end in (value.split("-") if value else []):
            _time_of_day(end)
        return value

    def clock(self) -> tuple[dt.time, dt.time] | None:
        """The session's start and end times of day, when it has a `time`."""
        if self.time is None:
            return None
        begins, ends = (_time_of_day(end) for end in self.time.split("-"))
        return begins, ends

    @model_validator(mode="after")
    def week_or_day(self) -> "Session":
        if (self.week is None) == (self.day is None):
            raise ValueError("give either week or day, not both and not neither")
        return self

    def rota_label(self) -> str:
        """The rota's name for the session: its week or day number, as text ("3")."""
        return str(self.week if self.week is not None else self.day)

    def dates(self, start: dt.date) -> tuple[dt.date, dt.date]:
        """First and last date of the session, counted from the plan's start date."""
        if self.week is not None:
            first = start + dt.timedelta(weeks=self.week - 1)
            return first, first + dt.timedelta(days=6)
        day = start + dt.timedelta(days=self.day - 1)
        return day, day


def _a_date_not_a_number(value):
    # pydantic reads a number as seconds since 1970: `start: 0` would be 1 January 1970.
    if isinstance(value, (int, float)):
        raise ValueError("expected a date written as YYYY-MM-DD")
    return value


CalendarDate = Annotated[dt.date, BeforeValidator(_a_date_not_a_number)]


class Cohort(BaseModel):
    """Settings for the cohort's study groups and peer review."""

    model_config = ConfigDict(extra="forbid")
    group_size: int = Field(default=6, ge=2, le=30)
    reviews_per_submission: int = Field(default=3, ge=1, le=10)
    reviewers_from_same_group: bool = False


def _an_iana_zone(value):
    """The zone's IANA name as the time zone database spells it (any letter case given)."""
    zone = normalise_timezone(value) if isinstance(value, str) else None
    if zone is None:
        raise ValueError("expected an IANA time zone name, e.g. Africa/Nairobi, "
                         "America/Bogota or UTC")
    return zone


class Plan(BaseModel):
    """A course plan, as in DESIGN.md's contract.

    `timezone` is where the plan's dates and clock times (`time: "09:00-10:30"`) hold: the
    calendars give sessions and deadlines in it. UTC when the plan does not say.
    """

    model_config = ConfigDict(extra="forbid")
    id: Slug
    title: Text
    audience: Text
    format: Format
    language: LanguageCode
    start: CalendarDate
    timezone: Annotated[str, BeforeValidator(_an_iana_zone)] = "UTC"
    description: Text | None = None
    sessions: list[Session] = Field(min_length=1)
    cohort: Cohort = Cohort()
    hub: Hub | None = None

    @property
    def module_ids(self) -> list[str]:
        """Every module the plan uses, in the order it first appears."""
        return list(dict.fromkeys(m for s in self.sessions for m in s.modules))


def plan_path(name: str, plans_dir: Path = PLANS_DIR) -> Path:
    """A plan given by name (shipped plan) or by path to a YAML file."""
    candidate = Path(name)
    if candidate.suffix in (".yml", ".yaml") or candidate.exists():
        return candidate
    return plans_dir / f"{name}.yml"


def load_plan(path: Path) -> tuple[Plan | None, list[Problem]]:
    """Load and validate one plan file; its id must match its file name."""
    return load_named_model(Plan, path)


def shipped_plans(plans_dir: Path = PLANS_DIR) -> list[Path]:
    return sorted(plans_dir.glob("*.yml"))


def find_plan(name: str, plans_dir: Path = PLANS_DIR) -> Path:
    """The file of a plan given by name or path, or a UserError naming the shipped plans."""
    path = plan_path(name, plans_dir)
    if path.exists() and not path.is_file():
        raise UserError(f"{path}: not a regular file (a plan is a .yml file)")
    if not path.is_file():
        shipped = ", ".join(p.stem for p in shipped_plans(plans_dir))
        raise UserError(f"plan {name!r} not found (shipped plans: {shipped}; or give the path "
                        f"of a .yml file): no such plan file {path}")
    return path


def load_named_plan(name: str, plans_dir: Path = PLANS_DIR) -> Plan:
    """A valid plan given by name or path, or a UserError listing its problems."""
    plan, problems = load_plan(find_plan(name, plans_dir))
    if problems:
        raise UserError.from_problems(problems)
    return plan
