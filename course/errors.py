"""Problems in user input, and the error that ends `igcb` with exit status 2."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file: where, and what was expected.

    >>> str(Problem(Path("modules/01-x/module.yml"), "duration: expected a number"))
    'modules/01-x/module.yml: duration: expected a number'
    """

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{_readable(self.path)}: {self.message}"


def _readable(path: Path) -> str:
    """The path relative to the working directory when it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class UserError(Exception):
    """Bad input: `igcb` prints the message (no traceback) and exits with status 2."""

    @classmethod
    def from_problems(cls, problems: list[Problem]) -> "UserError":
        return cls("\n".join(str(p) for p in problems))
