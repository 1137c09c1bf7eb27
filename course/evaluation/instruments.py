"""A plan's evaluation instruments (`course/plans/evaluation/<plan>.yml`): tests and surveys,
their windows, and the checking and scoring of answers."""

import calendar
import datetime as dt
from enum import Enum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from course.errors import Problem, UserError
from course.modules import CatalogueEntry, Slug, Text
from course.plans import Plan
from course.yamlfile import load_model

Occasion = Literal["pre", "post", "followup"]
OCCASIONS = Occasion.__args__
TEXT_LIMIT = 4000


class Kind(str, Enum):
    self_assessment = "self_assessment"
    knowledge_test = "knowledge_test"
    reaction = "reaction"
    follow_up = "follow_up"


class QuestionType(str, Enum):
    scale = "scale"
    choice = "choice"
    multi = "multi"
    text = "text"
    number = "number"


WITH_OPTIONS = {QuestionType.scale, QuestionType.choice, QuestionType.multi}
AlumniField = Literal["role", "organisation", "country", "topics"]
# Which question types may feed each field of the alumni register.
ALUMNI_TYPES = {"role": {QuestionType.text, QuestionType.choice},
                "organisation": {QuestionType.text, QuestionType.choice},
                "country": {QuestionType.text, QuestionType.choice},
                "topics": {QuestionType.multi, QuestionType.text}}
Outcome = Literal["participation", "roles", "multiplier", "policy", "employer_support",
                  "barriers", "satisfaction", "relevance", "other"]


def _distinct(labels: list[str]) -> list[str]:
    repeated = sorted({x for x in labels if labels.count(x) > 1})
    if repeated:
        raise ValueError(f"options must be distinct: {', '.join(map(repr, repeated))} repeated")
    return labels


class Endpoint(BaseModel):
    """A date counted from the plan's start or end, in months and then days."""

    model_config = ConfigDict(extra="forbid")
    from_: Literal["start", "end"] = Field(alias="from")
    days: int = Field(default=0, ge=-3660, le=3660)
    months: int = Field(default=0, ge=-120, le=120)


class Window(BaseModel):
    """When an occasion is open: from 00:00 UTC of `opens` to the end of `closes`."""

    model_config = ConfigDict(extra="forbid")
    opens: Endpoint
    closes: Endpoint


class SurveyQuestion(BaseModel):
    """A question of a reaction or follow-up survey, as written in the file."""

    model_config = ConfigDict(extra="forbid")
    id: Slug
    type: QuestionType
    text: Text
    options: list[Text] = Field(default=[], max_length=12)
    required: bool | None = None
    min: int = 0
    max: int = 100000
    help: Text | None = None
    alumni_field: AlumniField | None = None
    outcome: Outcome | None = None

    @field_validator("options")
    @classmethod
    def distinct_options(cls, options: list[str]) -> list[str]:
        return _distinct(options)

    @model_validator(mode="after")
    def consistent(self) -> "SurveyQuestion":
        if self.type in WITH_OPTIONS and len(self.options) < 2:
            raise ValueError(f"a {self.type.value} question needs 2 to 12 options")
        if self.type not in WITH_OPTIONS and self.options:
            raise ValueError(f"a {self.type.value} question has no options")
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        if self.required is None:
            self.required = self.type is not QuestionType.text
        return self


class Question(SurveyQuestion):
    """A question as a form shows it; `module` is set for generated questions only."""

    module: str | None = None


class KnowledgeItem(BaseModel):
    """A multiple-choice item of a knowledge test; `answer` never leaves the server."""

    model_config = ConfigDict(extra="forbid")
    id: Slug
    module: Slug
    question: Text
    options: list[Text] = Field(min_length=2, max_length=6)
    answer: Text

    @field_validator("options")
    @classmethod
    def distinct_options(cls, options: list[str]) -> list[str]:
        return _distinct(options)


class Instrument(BaseModel):
    """One test or survey, answered on one or more occasions."""

    model_config = ConfigDict(extra="forbid")
    id: Slug
    kind: Kind
    title: Text
    intro: Text | None = None
    occasions: dict[Occasion, Window] = Field(min_length=1)
    scale: list[Text] | None = Field(default=None, min_length=2, max_length=12)
    items: list[KnowledgeItem] = []
    questions: list[SurveyQuestion] = []

    @field_validator("scale")
    @classmethod
    def distinct_scale(cls, scale: list[str] | None) -> list[str] | None:
        return scale if scale is None else _distinct(scale)


class Completion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignments: float = Field(default=1.0, gt=0, le=1)


class InstrumentSet(BaseModel):
    """Every instrument of one plan, with the consent texts shown to participants."""

    model_config = ConfigDict(extra="forbid")
    plan: Slug
    consent: Text
    alumni_consent: Text
    completion: Completion = Completion()
    instruments: list[Instrument] = Field(min_length=1)

    def instrument(self, instrument_id: str) -> Instrument:
        """The instrument with this id; KeyError if there is none."""
        for instrument in self.instruments:
            if instrument.id == instrument_id:
                return instrument
        raise KeyError(instrument_id)


def instruments_path(plan_path: Path) -> Path:
    """Where a plan's instruments live: beside it, in evaluation/<plan file name>."""
    plan_path = Path(plan_path)
    return plan_path.parent / "evaluation" / f"{plan_path.stem}.yml"


def load_instruments(path: Path) -> tuple[InstrumentSet | None, list[Problem]]:
    """Load and validate one instruments file (each field on its own)."""
    return load_model(InstrumentSet, path)


# --- checking a set against its plan ---------------------------------------------------------

def check_instruments(instruments: InstrumentSet, path: Path, plan: Plan,
                      catalogue: dict[str, CatalogueEntry]) -> list[Problem]:
    """What is wrong between the fields, and against the plan: every problem, each naming its
    field. (Modules the catalogue lacks are the plan's own problem, reported by its check.)"""
    problems = []
    if instruments.plan != plan.id:
        problems.append(f"plan: {instruments.plan!r} is not the plan's id {plan.id!r}")
    topics = plan_topics(plan, catalogue)
    first_use: dict[str, str] = {}
    for number, instrument in enumerate(instruments.instruments, start=1):
        where = f"instruments[{number}]"
        if instrument.id in first_use:
            problems.append(f"{where}.id: {instrument.id!r} is also the id of "
                            f"{first_use[instrument.id]}")
        first_use.setdefault(instrument.id, where)
        problems += _check_kind(instrument, where)
        problems += _check_windows(instrument, where, plan)
        for n, item in enumerate(instrument.items, start=1):
            at = f"{where}.items[{n}]"
            if item.id in first_use:
                problems.append(f"{at}.id: {item.id!r} is also the id of {first_use[item.id]}")
            first_use.setdefault(item.id, at)
            if item.module not in plan.module_ids:
                problems.append(f"{at}.module: {item.module!r} is not a module of plan "
                                f"{plan.id!r} (its modules: {', '.join(plan.module_ids)})")
            if item.answer not in item.options:
                problems.append(f"{at}.answer: {item.answer!r} is not one of the options")
        problems += _check_questions(instrument, where, topics)
    return [Problem(path, message) for message in problems]


def plan_topics(plan: Plan, catalogue: dict[str, CatalogueEntry]) -> set[str] | None:
    """The topics of the plan's modules; None when a module is missing from the catalogue."""
    if any(m not in catalogue for m in plan.module_ids):
        return None
    return {t for m in plan.module_ids for t in catalogue[m].module.topics}


def _check_kind(instrument: Instrument, where: str) -> list[str]:
    """Each kind has its own content (scale, items or questions) and its own occasions."""
    kind, occasions = instrument.kind, set(instrument.occasions)
    problems = []
    has = {"scale": instrument.scale is not None, "items": bool(instrument.items),
           "questions": bool(instrument.questions)}
    needs = {Kind.self_assessment: "scale", Kind.knowledge_test: "items",
             Kind.reaction: "questions", Kind.follow_up: "questions"}[kind]
    if not has[needs]:
        problems.append(f"{where}.{needs}: a {kind.value} needs {needs}")
    for name in has:
        if has[name] and name != needs:
            problems.append(f"{where}.{name}: a {kind.value} has no {name} (it has {needs})")
    if kind is Kind.knowledge_test and occasions != {"pre", "post"}:
        problems.append(f"{where}.occasions: a knowledge_test is taken exactly twice, pre and "
                        f"post (found {', '.join(sorted(occasions))})")
    if kind is Kind.follow_up and occasions != {"followup"}:
        problems.append(f"{where}.occasions: a follow_up survey has the one occasion followup "
                        f"(found {', '.join(sorted(occasions))})")
    if kind is not Kind.follow_up and "followup" in occasions:
        problems.append(f"{where}.occasions: followup is the occasion of follow_up surveys; "
                        f"a {kind.value} is taken pre or post")
    return problems


def _check_windows(instrument: Instrument, where: str, plan: Plan) -> list[str]:
    """Each window opens before it closes, and sits where its occasion says against the plan's
    dates: pre open by the first day, post open from the start until at least the last day,
    followup after the last day."""
    problems = []
    start, end = plan.start, plan_end(plan)
    for occasion in instrument.occasions:
        at = f"{where}.occasions.{occasion}"
        try:
            opens, closes = window(instrument, occasion, plan)
        except ValueError as err:
            problems.append(f"{at}: {err}")
            continue
        if closes < opens:
            problems.append(f"{at}: closes ({closes.date()}) before it opens ({opens.date()})")
        elif occasion == "pre" and opens.date() > start:
            problems.append(f"{at}: opens on {opens.date()}, after the plan starts ({start})")
        elif occasion == "post" and (opens.date() < start or closes.date() < end):
            problems.append(f"{at}: open {opens.date()} to {closes.date()}; a post window "
                            f"opens on or after the plan's start ({start}) and closes on or "
                            f"after its last day ({end})")
        elif occasion == "followup" and opens.date() <= end:
            problems.append(f"{at}: opens on {opens.date()}, not after the plan's last day "
                            f"({end})")
    if {"pre", "post"} <= set(instrument.occasions) and not problems:
        pre, post = window(instrument, "pre", plan), window(instrument, "post", plan)
        if post[0] < pre[0] or post[1] < pre[1]:
            problems.append(f"{where}.occasions.post: opens or closes before pre does")
    return problems


def _check_questions(instrument: Instrument, where: str, topics: set[str] | None) -> list[str]:
    """Ids unique; alumni fields only in follow-ups, once each, from a question of a fitting
    type; topics offered as options are the plan's module topics, as the register keeps them."""
    problems = []
    seen: dict[str, int] = {}
    fields: dict[str, int] = {}
    for n, question in enumerate(instrument.questions, start=1):
        at = f"{where}.questions[{n}]"
        if question.id in seen:
            problems.append(f"{at}.id: {question.id!r} is also the id of "
                            f"questions[{seen[question.id]}]")
        seen.setdefault(question.id, n)
        field = question.alumni_field
        if field is None:
            continue
        if instrument.kind is not Kind.follow_up:
            problems.append(f"{at}.alumni_field: only a follow_up survey updates the alumni "
                            "register")
        elif field in fields:
            problems.append(f"{at}.alumni_field: {field!r} is also set by "
                            f"questions[{fields[field]}]")
        elif question.type not in ALUMNI_TYPES[field]:
            allowed = " or ".join(sorted(t.value for t in ALUMNI_TYPES[field]))
            problems.append(f"{at}.alumni_field: {field!r} takes a {allowed} question, not "
                            f"{question.type.value}")
        elif field == "topics" and topics is not None:
            unknown = [o for o in question.options if o not in topics]
            if unknown:
                problems.append(f"{at}.options: {', '.join(map(repr, unknown))} not among the "
                                "topics of the plan's modules (the alumni register keeps "
                                "those)")
        fields.setdefault(field, n)
    return problems


def load_plan_instruments(plan_path: Path, plan: Plan,
                          catalogue: dict[str, CatalogueEntry]) -> InstrumentSet:
    """The checked instruments of a plan, or a UserError listing every problem."""
    path = instruments_path(plan_path)
    if not path.exists():
        raise UserError(f"{path}: plan {plan.id!r} has no evaluation instruments: write this file "
                        "(copy a shipped one from course/plans/evaluation/)")
    instruments, problems = load_instruments(path)
    if instruments is not None:
        problems = check_instruments(instruments, path, plan, catalogue)
    if problems:
        raise UserError.from_problems(problems)
    return instruments


# --- windows ---------------------------------------------------------------------------------

def plan_end(plan: Plan) -> dt.date:
    """The last day of the plan's last session."""
    return max(session.dates(plan.start)[1] for session in plan.sessions)


def _add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, or the month's last day when it has no such day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def endpoint_date(endpoint: Endpoint, plan: Plan) -> dt.date:
    """The date an endpoint names; ValueError when it falls outside the years 1 to 9999."""
    base = plan.start if endpoint.from_ == "start" else plan_end(plan)
    try:
        return _add_months(base, endpoint.months) + dt.timedelta(days=endpoint.days)
    except (ValueError, OverflowError):
        raise ValueError("the date falls outside the years 1 to 9999") from None


def window(instrument: Instrument, occasion: str, plan: Plan) -> tuple[dt.datetime, dt.datetime]:
    """(opens, closes) of an occasion, naive UTC; KeyError if the instrument has no such
    occasion."""
    chosen = instrument.occasions[occasion]
    opens = dt.datetime.combine(endpoint_date(chosen.opens, plan), dt.time.min)
    closes = dt.datetime.combine(endpoint_date(chosen.closes, plan), dt.time(23, 59, 59))
    return opens, closes


# --- questions and answers -------------------------------------------------------------------

def questions(instrument: Instrument, plan: Plan,
              catalogue: dict[str, CatalogueEntry]) -> list[Question]:
    """Every question of the instrument's form, in order; knowledge items without their key."""
    if instrument.kind is Kind.self_assessment:
        return [Question(id=f"{module_id}-{n}", type="scale", text=objective,
                         options=instrument.scale, module=module_id)
                for module_id in plan.module_ids if module_id in catalogue
                for n, objective in enumerate(catalogue[module_id].module.objectives, start=1)]
    if instrument.kind is Kind.knowledge_test:
        return [Question(id=item.id, type="choice", text=item.question, options=item.options,
                         module=item.module) for item in instrument.items]
    return [Question(**q.model_dump()) for q in instrument.questions]


def _empty(value) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _whole_number(value) -> int | None:
    """An int from an int, an integral float or a text of digits; None otherwise (a bool too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _shown(value) -> str:
    """A value as an error message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _normalise(question: Question, value):
    """(stored value, None) or (None, what is wrong) for one non-empty answer."""
    kind = question.type
    if kind is QuestionType.scale:
        if isinstance(value, str) and value.strip() in question.options:
            return question.options.index(value.strip()) + 1, None
        number = _whole_number(value)
        if number is None or not 1 <= number <= len(question.options):
            return None, (f"expected a whole number from 1 to {len(question.options)} "
                          f"(found {_shown(value)})")
        return number, None
    if kind is QuestionType.choice:
        if isinstance(value, str) and value.strip() in question.options:
            return value.strip(), None
        return None, f"{_shown(value)} is not one of the options"
    if kind is QuestionType.multi:
        chosen = [value] if isinstance(value, str) else value
        if not isinstance(chosen, list) or not all(isinstance(x, str) for x in chosen):
            return None, f"expected a list of options (found {_shown(value)})"
        unknown = [x for x in chosen if x.strip() not in question.options]
        if unknown:
            return None, f"{', '.join(map(_shown, unknown))} not among the options"
        picked = {x.strip() for x in chosen}
        return [option for option in question.options if option in picked], None
    if kind is QuestionType.text:
        if not isinstance(value, str):
            return None, f"expected text (found {_shown(value)})"
        text = value.strip()
        if len(text) > TEXT_LIMIT:
            return None, f"longer than {TEXT_LIMIT} characters ({len(text)})"
        return text, None
    number = _whole_number(value)
    if number is None or not question.min <= number <= question.max:
        return None, (f"expected a whole number from {question.min} to {question.max} "
                      f"(found {_shown(value)})")
    return number, None


def check_answers(questions: list[Question], answers: dict, final: bool) -> dict[str, str]:
    """{question id: what is wrong} for the answers (empty when all are fine); `final`: every
    required question must be answered."""
    by_id = {q.id: q for q in questions}
    errors = {key: "unknown question" for key in answers if key not in by_id}
    for question in questions:
        value = answers.get(question.id)
        if _empty(value):
            if final and question.required:
                errors[question.id] = "required: please answer this question"
            continue
        _, problem = _normalise(question, value)
        if problem:
            errors[question.id] = problem
    return errors


def normalise_answers(questions: list[Question], answers: dict) -> dict:
    """The answers as stored (see check_answers): empty and faulty answers and unknown ids are
    left out."""
    stored = {}
    for question in questions:
        value = answers.get(question.id)
        if _empty(value):
            continue
        normal, problem = _normalise(question, value)
        if problem is None:
            stored[question.id] = normal
    return stored


def score_knowledge(instrument: Instrument, answers: dict) -> tuple[dict[str, int], float]:
    """(item id -> 1 if answered right else 0, share right); an unanswered item scores 0."""
    scores = {item.id: int(answers.get(item.id) == item.answer) for item in instrument.items}
    return scores, (sum(scores.values()) / len(scores) if scores else 0.0)
