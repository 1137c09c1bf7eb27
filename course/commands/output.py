"""What commands print and write: aligned tables, and CSV files written all or nothing."""

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


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV atomically: a temp file in the same folder, then rename."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"{path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
