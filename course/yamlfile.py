"""Read YAML files into pydantic models, turning every failure into Problems."""

from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

from course.errors import Problem

Model = TypeVar("Model", bound=pydantic.BaseModel)


def load_yaml(path: Path) -> tuple[object, list[Problem]]:
    """Parse a YAML file; return (data, problems)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(path, "file not found")]
    except UnicodeDecodeError as err:
        return None, [Problem(path, f"not UTF-8 text (byte {err.start})")]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        return None, [Problem(path, f"{where}not valid YAML ({getattr(err, 'problem', err)})")]
    if not isinstance(data, dict):
        return None, [Problem(path, "expected a mapping of fields (key: value), found "
                                    f"{type(data).__name__}")]
    return data, []


def validate(model: type[Model], data: dict, path: Path) -> tuple[Model | None, list[Problem]]:
    """Validate data against a model; each pydantic error becomes a Problem naming the field."""
    try:
        return model.model_validate(data), []
    except pydantic.ValidationError as err:
        return None, [Problem(path, describe(e)) for e in err.errors()]


def describe(error: dict) -> str:
    """A pydantic error as 'field.path: what was expected (found X)'.

    List positions count from 1, as people count: `sessions[1]` is the first session.
    """
    field = "".join(f"[{part + 1}]" if isinstance(part, int) else f".{part}"
                    for part in error["loc"]).lstrip(".") or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{field}: missing required field"
    if error["type"] == "extra_forbidden":
        return f"{field}: unknown field (check the spelling)"
    found = error.get("input")
    if isinstance(found, (str, int, float, bool)) or found is None:
        return f"{field}: {message} (found {found!r})"
    return f"{field}: {message}"


def load_model(model: type[Model], path: Path) -> tuple[Model | None, list[Problem]]:
    """Load and validate one YAML file."""
    data, problems = load_yaml(path)
    if problems:
        return None, problems
    return validate(model, data, path)
