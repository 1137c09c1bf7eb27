"""nbgrader glue for written work: the answer cell, its rubric, the answers, the gradebook.

A written answer is a markdown cell with nbgrader `grade` and `solution` set (graded by hand);
its rubric is the markdown table of the cell `brief_rubric`, so participants read the same
rubric the review form shows. No cohort store here: data in, data out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import yaml
from nbgrader.api import MissingEntry
from sqlalchemy.engine import make_url

from course.errors import UserError
from course.grading.nbgrader_course import NbgraderCourse
from course.layout import Layout
from course.redact import redact_person
from course.yamlfile import parse_yaml, read_text_file, yaml_error

RUBRIC_CELL = "brief_rubric"
MIN_COMMENT = 40
PLACEHOLDER = "YOUR ANSWER HERE"  # nbgrader's ClearSolutions.text_stub (the course's too)
DEFAULT_RUBRIC_NOTEBOOK = Path("source") / "what-is-ig" / "policy-brief.ipynb"


def _read_notebook(path: Path):
    try:
        return nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, ValueError, nbformat.reader.NotJSONError) as err:
        raise UserError(f"{path}: not a readable notebook ({err})") from None


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _notebooks(source_folder: Path) -> list[Path]:
    folder = Path(source_folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such assignment folder")
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def find_written_cell(source_folder: Path) -> tuple[str, str, float]:
    """(notebook name, grade_id, points) of the assignment's one hand-graded written answer."""
    folder = Path(source_folder)
    found = []
    for path in _notebooks(folder):
        for cell in _read_notebook(path).cells:
            meta = _nbgrader(cell)
            if cell.cell_type == "markdown" and meta.get("grade") and meta.get("solution"):
                found.append((path.stem, str(meta.get("grade_id", "")), float(meta.get("points") or 0)))
    if not found:
        raise UserError(f"assignment {folder.name!r} has no written answer cell: a markdown cell "
                        f"with nbgrader grade and solution set (a manually graded answer) in {folder}")
    if len(found) > 1:
        listed = ", ".join(f"{nb}.ipynb: {gid}" for nb, gid, _ in found)
        raise UserError(f"assignment {folder.name!r} has {len(found)} written answer cells ({listed}): "
                        "peer review takes one; keep one markdown cell with nbgrader grade and solution")
    return found[0]


# -- the rubric --------------------------------------------------------------

def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _row(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def rubric_from_markdown(text: str, where: str) -> dict:
    """The rubric in a markdown table `| criterion | 2 points | 1 point | 0 points |`."""
    lines = [line for line in text.splitlines() if line.strip().startswith("|")]
    if len(lines) < 3:
        raise UserError(f"{where}: no rubric table (expected `| criterion | 2 points | 1 point "
                        "| 0 points |`, a separator row and one row per criterion)")
    header = _row(lines[0])
    if header[0].lower() != "criterion":
        raise UserError(f"{where}: the rubric table's first column must be `criterion` (found {header[0]!r})")
    points = []
    for title in header[1:]:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s+points?", title, re.IGNORECASE)
        if not match:
            raise UserError(f"{where}: rubric column {title!r}: expected `N points`, e.g. `2 points`")
        points.append(float(match.group(1)))
    criteria = []
    for number, line in enumerate(lines[2:], start=1):
        cells = _row(line)
        if len(cells) != len(header):
            raise UserError(f"{where}: rubric row {number} ({cells[0]!r}): {len(cells)} cells, "
                            f"expected {len(header)} like the header")
        criteria.append({"id": slug(cells[0]), "title": cells[0],
                         "levels": [{"points": _number(p), "description": d}
                                    for p, d in zip(points, cells[1:])]})
    return check_rubric({"criteria": criteria, "min_comment": MIN_COMMENT}, where)


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def parse_rubric(path: Path) -> dict:
    """The rubric of an assignment folder or notebook (its `brief_rubric` cell)."""
    path = Path(path)
    notebooks = _notebooks(path) if path.is_dir() else [path]
    for notebook in notebooks:
        for cell in _read_notebook(notebook).cells:
            if _nbgrader(cell).get("grade_id") == RUBRIC_CELL:
                return rubric_from_markdown(cell.source, f"{notebook} (cell {RUBRIC_CELL})")
    raise UserError(f"{path}: no rubric: expected a markdown cell with nbgrader grade_id "
                    f"{RUBRIC_CELL!r} holding the rubric table (or give --rubric FILE)")


def check_rubric(data: object, where: str) -> dict:
    """A validated rubric {"criteria": [{"id", "title", "levels": [{"points", "description"}]}],
    "min_comment"}; a UserError names `where` and the field otherwise."""
    def fail(field: str, expected: str):
        raise UserError(f"{where}: {field}: {expected}")

    if not isinstance(data, dict):
        fail("(top level)", "expected a mapping with `criteria` (and optionally `min_comment`)")
    unknown = sorted(set(data) - {"criteria", "min_comment"})
    if unknown:
        fail(unknown[0], "unknown field (expected criteria, min_comment)")
    criteria = data.get("criteria")
    if not isinstance(criteria, list) or not criteria:
        fail("criteria", "expected a non-empty list of criteria")
    min_comment = data.get("min_comment", MIN_COMMENT)
    if isinstance(min_comment, bool) or not isinstance(min_comment, int) or min_comment < 0:
        fail("min_comment", f"expected a whole number of characters, 0 or more (found {min_comment!r})")
    out, seen = [], set()
    for i, criterion in enumerate(criteria, start=1):
        field = f"criteria[{i}]"
        if not isinstance(criterion, dict):
            fail(field, "expected a mapping with id, title and levels")
        cid, title, levels = criterion.get("id"), criterion.get("title"), criterion.get("levels")
        if not isinstance(title, str) or not title.strip():
            fail(f"{field}.title", "expected a non-empty title")
        if cid is None:
            cid = slug(title)
        if not isinstance(cid, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cid) or len(cid) > 64:
            fail(f"{field}.id", f"expected a slug such as `stakeholder-perspectives` (found {cid!r})")
        if cid in seen:
            fail(f"{field}.id", f"{cid!r} is used by another criterion")
        seen.add(cid)
        if not isinstance(levels, list) or not levels:
            fail(f"{field}.levels", "expected a non-empty list of levels (points, description)")
        clean, points_seen = [], set()
        for j, level in enumerate(levels, start=1):
            lfield = f"{field}.levels[{j}]"
            if not isinstance(level, dict):
                fail(lfield, "expected a mapping with points and description")
            points = level.get("points")
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
                fail(f"{lfield}.points", f"expected a number, 0 or more (found {points!r})")
            if points in points_seen:
                fail(f"{lfield}.points", f"{points:g} points appears twice")
            points_seen.add(points)
            description = level.get("description", "")
            if not isinstance(description, str):
                fail(f"{lfield}.description", "expected text")
            clean.append({"points": _number(points), "description": description})
        out.append({"id": cid, "title": title.strip(), "levels": clean})
    return {"criteria": out, "min_comment": min_comment}


def load_rubric_file(path: Path) -> dict:
    """A rubric from a YAML or JSON file (the shape `parse_rubric` returns)."""
    path = Path(path)
    try:
        text = read_text_file(path)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read it as UTF-8 text ({err})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else parse_yaml(text)
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({yaml_error(err)})") from None
    return check_rubric(data, str(path))


def default_rubric() -> dict:
    """The course's policy-brief rubric (from the shipped what-is-ig assignment)."""
    return parse_rubric(Layout.default().assessments / DEFAULT_RUBRIC_NOTEBOOK)


def rubric_scale(rubric: dict) -> tuple[float, float]:
    """Lowest and highest total a review can give."""
    levels = [[lvl["points"] for lvl in c["levels"]] for c in rubric["criteria"]]
    return float(sum(min(p) for p in levels)), float(sum(max(p) for p in levels))


# -- the answers -------------------------------------------------------------

def written_answers(course_root: Path, assignment: str, notebook: str,
                    grade_id: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The written answers collected in submitted/: (DataFrame(author_id, text), left out).

    `left out` maps each student whose answer is unchanged (nbgrader's placeholder or empty),
    missing or unreadable to the reason.
    """
    course = NbgraderCourse.open(course_root)
    stub = str(course.config.ClearSolutions.get("text_stub", PLACEHOLDER)).strip()
    submitted = course.folder("submitted")
    rows, left_out = [], {}
    students = sorted(p.name for p in submitted.iterdir()
                      if p.is_dir() and not p.name.startswith(".")) if submitted.is_dir() else []
    for student in students:
        folder = course.folder("submitted", student, assignment)
        if not folder.is_dir():
            continue
        path = folder / f"{notebook}.ipynb"
        if not path.is_file():
            left_out[student] = f"{notebook}.ipynb is missing from the submission"
            continue
        try:
            cells = [c for c in _read_notebook(path).cells if _nbgrader(c).get("grade_id") == grade_id]
        except UserError as err:
            left_out[student] = str(err)
            continue
        if not cells:
            left_out[student] = f"the answer cell {grade_id!r} was deleted"
            continue
        text = cells[0].source.strip()
        if text in ("", stub, PLACEHOLDER):
            left_out[student] = "answer unchanged (still the placeholder)" if text else "answer empty"
            continue
        rows.append((student, text))
    return pd.DataFrame(rows, columns=["author_id", "text"]), left_out


def anonymise(text: str, name: str, person_id: str, email: str) -> str:
    """The text with its author's e-mail, id, name and name parts (3+ letters) as "[author]"."""
    return redact_person(text, name, person_id, email, "[author]")


# -- the gradebook -----------------------------------------------------------

def _has_gradebook(course: NbgraderCourse) -> bool:
    """Whether the gradebook exists (opening a missing SQLite gradebook would create it)."""
    url = make_url(course.db_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return True
    return Path(url.database).is_file()


def gradebook_manual_scores(course_root: Path, assignment: str, notebook: str,
                            grade_id: str) -> dict[str, float | None]:
    """Each autograded student's manual score of the cell (None when not graded by hand)."""
    course = NbgraderCourse.open(course_root)
    if not _has_gradebook(course):
        return {}
    with course.gradebook() as gb:
        try:
            submissions = list(gb.assignment_submissions(assignment))
        except MissingEntry:
            return {}
        scores = {}
        for submission in submissions:
            student = submission.student.id
            try:
                scores[student] = gb.find_grade(grade_id, notebook, assignment, student).manual_score
            except MissingEntry:
                continue
        return scores


def write_manual_scores(course_root: Path, assignment: str, notebook: str, grade_id: str,
                        scores: dict[str, float]) -> tuple[list[str], list[str]]:
    """Set the cell's manual score for each student, in one transaction: (written, skipped).

    Skipped: students whose submission is not in the gradebook (not autograded yet).
    """
    course = NbgraderCourse.open(course_root)
    if not _has_gradebook(course):
        return [], sorted(scores)
    written, skipped = [], []
    with course.gradebook() as gb:
        try:
            for student, points in sorted(scores.items()):
                try:
                    grade = gb.find_grade(grade_id, notebook, assignment, student)
                except MissingEntry:
                    skipped.append(student)
                    continue
                grade.manual_score = float(points)
                grade.needs_manual_grade = False  # as the formgrader does once a score is set
                written.append(student)
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
    return written, skipped
