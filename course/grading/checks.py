"""Checks on a submission before it runs: can the notebook be read, were protected cells kept."""

import fnmatch
import json
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader import utils


class InvalidNotebook(Exception):
    """A submitted notebook that cannot be graded; the message says why."""


def read_submitted(path: Path, max_mb: int) -> NotebookNode:
    """Read a submitted notebook, or raise InvalidNotebook with the reason."""
    if path.is_symlink():
        raise InvalidNotebook(f"{path.name} is a symbolic link, not a file")
    if path.stat().st_size > max_mb * 2**20:
        raise InvalidNotebook(f"{path.name} is larger than {max_mb} MB")
    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
        nb = nbformat.reads(text, as_version=4)
    except UnicodeDecodeError:
        raise InvalidNotebook(f"{path.name} is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise InvalidNotebook(f"{path.name} is not a JSON notebook ({err.msg}, line {err.lineno})") from None
    except Exception as err:  # nbformat raises several types for versions it cannot read
        raise InvalidNotebook(f"{path.name} is not a notebook nbformat can read ({err})") from None
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        raise InvalidNotebook(f"{path.name} does not follow the notebook format: {err.message}") from None
    return nb


def protected_checksums(released: NotebookNode) -> dict[str, str]:
    """grade_id -> nbgrader checksum of each test or read-only cell of a released notebook."""
    protected = {}
    for cell in released.cells:
        meta = cell.metadata.get("nbgrader", {})
        if (meta.get("locked") or meta.get("grade")) and not meta.get("solution") and "checksum" in meta:
            protected[meta["grade_id"]] = meta["checksum"]
    return protected


def tampered_cells(submitted: NotebookNode, protected: dict[str, str]) -> list[str]:
    """Sentences for each protected cell edited or deleted in a submission."""
    found = {}
    for cell in submitted.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in protected and grade_id not in found:
            found[grade_id] = cell
    problems = []
    for grade_id, checksum in protected.items():
        if grade_id not in found:
            problems.append(f"protected cell {grade_id} was deleted (restored from the source where nbgrader can)")
            continue
        try:
            same = utils.compute_checksum(found[grade_id]) == checksum
        except (KeyError, TypeError, ValueError):
            same = False
        if not same:
            problems.append(f"protected cell {grade_id} was edited (restored from the source)")
    return problems


def extra_files(submission: Path, notebooks: set[str], ignore: list[str], allowed: set[str]) -> list[str]:
    """Files in a submission that are neither its notebooks, its timestamp nor ignored."""
    extras = []
    for path in sorted(submission.rglob("*")):
        rel = path.relative_to(submission)
        if any(fnmatch.fnmatch(part, pattern) for part in rel.parts for pattern in ignore):
            continue
        if path.is_dir() and not path.is_symlink():
            continue
        name = rel.as_posix()
        if name in notebooks or name == "timestamp.txt" or name in allowed:
            continue
        extras.append(name)
    return extras
