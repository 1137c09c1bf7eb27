"""What commands print and write: aligned tables, and CSV files written all or nothing."""

import math
import os
import tempfile
from pathlib import Path

import click
import pandas as pd

from course.errors import UserError


def print_table(headers: list[str], rows: list[list]) -> None:
    """Print rows under headers, in columns as wide as their widest cell."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    for row in [headers, ["-" * w for w in widths], *rows]:
        click.echo("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


SEED = click.IntRange(min=0, max=2**32 - 1)  # what numpy's generators accept


class FiniteFloat(click.ParamType):
    """A number that is a number: `nan` and `inf` are refused (click's float takes them)."""

    name = "number"

    def __init__(self, min: float | None = None):
        self.min = min

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.min is not None and number < self.min:
            self.fail(f"{value!r} is below {self.min:g}", param, ctx)
        return number


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text cell a spreadsheet would run as a formula, made plain text with a leading "'".

    Numbers stay numbers (OWASP's advice on CSV injection).

    >>> [neutralise(x) for x in ("=HYPERLINK(1)", "-5", "@me", "ok", 3)]
    ["'=HYPERLINK(1)", '-5', "'@me", 'ok', 3]
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell neutralised (see `neutralise`)."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_numeric_dtype(out[column]):
            continue
        values = [neutralise(v) for v in out[column]]
        if any(a is not b for a, b in zip(values, out[column])):  # keep the column's type else
            out[column] = pd.Series(values, index=out.index, dtype=object)
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def write_outputs(outputs: list[tuple[pd.DataFrame, Path]], inputs=()) -> None:
    """Write CSV files all or nothing: every file goes to a temporary file beside it first,
    and only when all are written do they take their names. An output that names an input
    (or another output) is refused before anything is written."""
    inputs = [Path(p) for p in inputs if p is not None]
    paths = [Path(path) for _, path in outputs]
    for i, path in enumerate(paths):
        if any(_same_file(path, source) for source in inputs):
            raise UserError(f"{path}: this is an input of the command; write the output elsewhere")
        if any(_same_file(path, other) for other in paths[:i]):
            raise UserError(f"{path}: named as two outputs; give each output its own file")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise UserError(f"{path}: folder {folder} does not exist")
        if path.is_dir():
            raise UserError(f"{path}: is a folder; give a file name")
    written: list[tuple[str, Path]] = []
    try:
        for (frame, _), path in zip(outputs, paths):
            folder = path.parent if str(path.parent) else Path(".")
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
            except OSError as err:
                raise UserError(f"{path}: cannot write in {folder} ({err.strerror})") from None
            written.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                safe_frame(frame).to_csv(handle, index=False)
        for tmp, path in written:
            try:
                os.replace(tmp, path)
            except OSError as err:
                raise UserError(f"{path}: cannot write it ({err.strerror})") from None
    except OSError as err:  # e.g. the disk filled up while writing
        raise UserError(f"cannot write {', '.join(map(str, paths))}: {err.strerror or err}") from None
    finally:
        for tmp, _ in written:
            if os.path.exists(tmp):
                os.unlink(tmp)


def write_csv(frame: pd.DataFrame, path: Path, inputs=()) -> None:
    """Write one CSV file atomically (see `write_outputs`)."""
    write_outputs([(frame, path)], inputs)
