"""Read YAML files into pydantic models, turning every failure into Problems."""

from pathlib import Path
from typing import TypeVar

import pydantic
import yaml
from yaml.constructor import ConstructorError

from course.errors import Problem

Model = TypeVar("Model", bound=pydantic.BaseModel)


class StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice and a date that does not exist.

    PyYAML keeps the last of two equal keys without a word, and raises a bare ValueError for
    `start: 2027-02-30`; both are mistakes a person should hear about, with the line.
    """


def _mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden, by design
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            break
        if first is not None:
            raise ConstructorError(None, None, f"{key!r} is given twice (first on line {first})",
                                   key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


def _timestamp(loader: StrictLoader, node: yaml.ScalarNode):
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as err:
        raise ConstructorError(None, None, f"{node.value!r} is not a real date ({err})",
                               node.start_mark) from None


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def parse_yaml(text: str):
    """YAML text to data, strictly (see StrictLoader); raises yaml.YAMLError.

    >>> parse_yaml("a: 1\nb: 2")
    {'a': 1, 'b': 2}
    """
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (a SafeLoader)


def yaml_error(err: yaml.YAMLError) -> str:
    """A YAML error as 'line N: what is wrong', on one line."""
    if isinstance(err, yaml.reader.ReaderError):
        # The reader stops before any line is counted: it knows only the offset.
        code = err.character if isinstance(err.character, int) else ord(err.character)
        return f"character U+{code:04X} at position {err.position} is not allowed in YAML"
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark else ""
    return " ".join(f"{where}{getattr(err, 'problem', None) or err}".split())


def read_text_file(path: Path) -> str:
    """A regular file's text (UTF-8, a leading byte-order mark dropped); OSError or
    UnicodeDecodeError otherwise. A named pipe or a device is refused, never read (it could
    block forever)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise IsADirectoryError(f"{path} is not a regular file")
    return path.read_text(encoding="utf-8-sig")


def load_yaml(path: Path) -> tuple[object, list[Problem]]:
    """Parse a YAML file; return (data, problems)."""
    try:
        text = read_text_file(path)
    except FileNotFoundError:
        return None, [Problem(path, "file not found")]
    except IsADirectoryError:
        return None, [Problem(path, "not a regular file")]
    except UnicodeDecodeError as err:
        return None, [Problem(path, f"not UTF-8 text (byte {err.start})")]
    except OSError as err:
        return None, [Problem(path, f"cannot read it ({err.strerror or err})")]
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as err:
        return None, [Problem(path, f"not valid YAML ({yaml_error(err)})")]
    if data is None:
        return None, [Problem(path, "the file is empty (expected a mapping of fields, key: value)")]
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


def load_named_model(model: type[Model], path: Path) -> tuple[Model | None, list[Problem]]:
    """Load and validate one YAML file whose `id` must be its file name (a plan, a record)."""
    loaded, problems = load_model(model, path)
    if loaded is not None and loaded.id != path.stem:
        return None, [Problem(path, f"id: {loaded.id!r} does not match the file name "
                                    f"(expected {path.stem!r})")]
    return loaded, problems
