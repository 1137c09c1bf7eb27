"""`igcb reviews open` and `igcb reviews close`: review rounds of written work in the cohort store.

The written answers come from nbgrader's submitted/ folder (or a CSV file); the scores go back
into the gradebook as the answer cell's manual grade, unless a tutor graded it there.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from pathlib import Path

import click
import pandas as pd
from sqlalchemy.engine import make_url

from course.cohort.gradebook import close_and_grade, uses_gradebook
from course.cohort.rounds import find_round, open_round
from course.cohort.structure import get_setting
from course.commands.cohort import INPUT_FILE, _echo, read_table, reviews
from course.commands.output import SEED
from course.commands.store import (actor_of, cohort_session, cohort_url, open_cohort,
                                   store_options, stored_plan)
from course.errors import Problem, UserError
from course.grading.written import (default_rubric, find_written_cell, load_rubric_file,
                                    parse_rubric, written_answers)
from course.layout import Layout
from course.plans import Cohort
from peer_review.roster import normalise_language

COURSE_ROOT = click.option(
    "--course-root", type=click.Path(file_okay=False, path_type=Path),
    help="nbgrader course root (default: <state>/course, the hub's copy, when it exists; "
         "else assessments/ in the repository).")


def resolve_course_root(given: Path | None, state: Path | None, db: str | None) -> Path:
    """--course-root, else the hub's course folder beside the store, else assessments/."""
    if given:
        return given
    folder = state
    if folder is None:
        url = make_url(cohort_url(state, db))
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            folder = Path(url.database).parent
    if folder is not None and (folder / "course").is_dir():
        return folder / "course"
    return Layout.default().assessments


def parse_due(value: str | None) -> datetime | None:
    """A UTC deadline: YYYY-MM-DD is the end of that day; a time with an offset is converted."""
    if not value:
        return None
    text = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59))
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--due {value!r}: expected YYYY-MM-DD or an ISO date and time "
                        "(UTC), e.g. 2025-03-10 or 2025-03-10T18:00") from None
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def read_submissions(path: Path) -> pd.DataFrame:
    """A submissions CSV (submission_id, author_id, language, text), checked row by row."""
    frame = read_table(path, ("submission_id", "author_id", "text"))
    if "language" not in frame.columns:
        frame["language"] = ""
    problems, seen_sub, seen_author = [], {}, {}
    for i, (sid, aid, lang, text) in enumerate(zip(frame["submission_id"], frame["author_id"],
                                                   frame["language"], frame["text"])):
        line = i + 2
        sid, aid, lang = sid.strip(), aid.strip(), lang.strip()
        if not sid:
            problems.append(f"row {line}, column submission_id: a submission id is required")
        elif sid in seen_sub:
            problems.append(f"row {line}, column submission_id: {sid!r}: a unique id (also on row {seen_sub[sid]})")
        else:
            seen_sub[sid] = line
        if not aid:
            problems.append(f"row {line}, column author_id: an author id is required")
        elif aid in seen_author:
            problems.append(f"row {line}, column author_id: {aid!r}: one submission per author "
                            f"(also on row {seen_author[aid]})")
        else:
            seen_author[aid] = line
        if lang and normalise_language(lang) is None:
            problems.append(f"row {line}, column language: {lang!r}: an ISO 639-1 code, e.g. en")
        if not text.strip():
            problems.append(f"row {line}, column text: the submission's text is empty")
    if frame.empty:
        problems.append("no submissions in the file (a header row and one row per submission)")
    if problems:
        raise UserError.from_problems([Problem(path, p) for p in problems])
    return pd.DataFrame({
        "source_id": frame["submission_id"].str.strip(),
        "author_id": frame["author_id"].str.strip(),
        "language": frame["language"].str.strip(),
        "text": frame["text"],
        "where": [f"{Problem(path, f'row {i + 2}')}" for i in range(len(frame))],
    })


def _cohort_settings(session) -> Cohort:
    """The plan's cohort settings (the defaults when the store has no plan)."""
    if get_setting(session, "plan") is None:
        return Cohort()
    return stored_plan(session)[1].cohort


@reviews.command("open")
@click.argument("assignment")
@click.option("--due", help="Deadline for the reviews, UTC: YYYY-MM-DD (the end of that day) "
                            "or an ISO date and time.")
@click.option("-k", "k", type=click.IntRange(1, 20),
              help="Reviewers per submission (default: the plan's cohort reviews_per_submission).")
@click.option("--calibration", default=0, show_default=True, type=click.IntRange(0, 50),
              help="Submissions tutors score first, as calibration samples for the reviewers.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--from-csv", "csv_path", type=INPUT_FILE,
              help="Take the submissions from a CSV (submission_id, author_id, language, text) "
                   "instead of nbgrader; ASSIGNMENT is then any round name.")
@click.option("--rubric", "rubric_path", type=INPUT_FILE,
              help="The rubric, YAML or JSON (default: the assignment's own rubric table; "
                   "with --from-csv, the course's policy-brief rubric).")
@COURSE_ROOT
@store_options
def open_(assignment, due, k, calibration, seed, csv_path, rubric_path, course_root, state, db):
    """Open a review round of ASSIGNMENT's written answers (again: add late submissions).

    Texts are anonymised, each submission gets k reviewers, and with --calibration N the
    round starts with N samples for tutors to score. Opening an open round again adds only
    the new (late) submissions: earlier tasks never change.
    """
    deadline = parse_due(due)
    rubric = load_rubric_file(rubric_path) if rubric_path else None
    left_out: dict[str, str] = {}
    notebook, grade_id, points = "", "", None
    if csv_path:
        frame = read_submissions(csv_path)
        rubric = rubric or default_rubric()
        source = "csv"
    else:
        from course.grading.nbgrader_course import NbgraderCourse

        root = resolve_course_root(course_root, state, db)
        course = NbgraderCourse.open(root)
        course.require_assignment(assignment)
        folder = course.folder("source", assignment=assignment)
        notebook, grade_id, points = find_written_cell(folder)
        rubric = rubric or parse_rubric(folder)
        answers, left_out = written_answers(root, assignment, notebook, grade_id)
        if answers.empty:
            why = "; ".join(f"{s}: {r}" for s, r in sorted(left_out.items()))
            raise UserError(f"no collected submissions of {assignment!r} with a written answer in "
                            f"{course.folder('submitted')}" + (f" ({why})" if why else "")
                            + f": collect them first (`igcb assignments collect {assignment}`)")
        frame = answers.assign(source_id=answers["author_id"], language="",
                               where=[f"submitted/{a}/{assignment}" for a in answers["author_id"]])
        source = "nbgrader"
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        settings = _cohort_settings(session)
        report = open_round(session, assignment, frame, rubric, k or settings.reviews_per_submission,
                            deadline, calibration, seed, actor_of(session), source, notebook=notebook,
                            grade_id=grade_id, points=points,
                            within_groups=settings.reviewers_from_same_group)
    _echo(report.lines())
    for student, reason in sorted(left_out.items()):
        click.echo(f"  left out {student}: {reason}")



@reviews.command("close")
@click.argument("assignment")
@click.option("--force", is_flag=True, help="Close before the deadline and its grace period have passed.")
@COURSE_ROOT
@store_options
def close(assignment, force, course_root, state, db):
    """Close ASSIGNMENT's review round: aggregate the reviews and grade the written answers.

    A tutor's grade in the formgrader is kept and anchors the aggregation; every other
    scored answer gets the peer score (converted to the cell's points) as its manual grade.
    """
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        rnd = find_round(session, assignment)
        root = resolve_course_root(course_root, state, db) if uses_gradebook(rnd) else None
        closed = close_and_grade(session, assignment, root, actor_of(session), force=force)
    _echo(closed.report.lines())
    click.echo(f"summary: {closed.summary()}")


COMMANDS: list = []  # the commands join the `reviews` group of course/commands/cohort.py
