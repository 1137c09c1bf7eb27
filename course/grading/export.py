"""The gradebook as a table, and as the grade-import CSVs of Moodle and Canvas."""

import pandas as pd
from nbgrader.api import MissingEntry

from course.grading.nbgrader_course import NbgraderCourse

# The columns of `nbgrader export` (its CsvExportPlugin), plus needs_manual_grade.
NBGRADER_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                    "email", "raw_score", "late_submission_penalty", "score", "max_score",
                    "needs_manual_grade"]
MOODLE_USER_COLUMNS = ["First name", "Last name", "ID number", "Email address"]
CANVAS_USER_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
FORMATS = ("csv", "moodle", "canvas")


def grades_table(course: NbgraderCourse) -> pd.DataFrame:
    """One row per assignment and student, as `nbgrader export` computes it (no submission: 0)."""
    rows = []
    with course.gradebook() as gb:
        for assignment in gb.assignments:
            for student in gb.students:
                row = {"assignment": assignment.name, "duedate": assignment.duedate,
                       "student_id": student.id, "last_name": student.last_name,
                       "first_name": student.first_name, "email": student.email,
                       "max_score": assignment.max_score}
                try:
                    sub = gb.find_submission(assignment.name, student.id)
                except MissingEntry:
                    row.update(timestamp=None, raw_score=0.0, late_submission_penalty=0.0, score=0.0,
                               needs_manual_grade=False)
                else:
                    penalty = sub.late_submission_penalty or 0.0
                    row.update(timestamp=sub.timestamp, raw_score=sub.score, late_submission_penalty=penalty,
                               score=sub.score - penalty, needs_manual_grade=bool(sub.needs_manual_grade))
                rows.append(row)
    return pd.DataFrame(rows, columns=NBGRADER_COLUMNS)


def _wide(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    people = table.drop_duplicates("student_id").set_index("student_id")[["first_name", "last_name", "email"]]
    scores = table.pivot(index="student_id", columns="assignment", values="score")
    assignments = list(dict.fromkeys(table["assignment"]))
    return people.join(scores[assignments]).reset_index(), assignments


def moodle_table(table: pd.DataFrame) -> pd.DataFrame:
    """Moodle's "Import grades: CSV file": a user column to match on (ID number or email)
    and one column per grade item, mapped on import."""
    wide, assignments = _wide(table)
    out = pd.DataFrame({"First name": wide["first_name"], "Last name": wide["last_name"],
                        "ID number": wide["student_id"], "Email address": wide["email"]})
    for a in assignments:
        out[a] = wide[a].round(2)
    return out


def canvas_table(table: pd.DataFrame) -> pd.DataFrame:
    """Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, one column
    per assignment, and a "Points Possible" row first (new assignments get created)."""
    wide, assignments = _wide(table)
    names = [", ".join(p for p in (last, first) if isinstance(p, str) and p) or sid
             for sid, last, first in zip(wide["student_id"], wide["last_name"], wide["first_name"])]
    out = pd.DataFrame({"Student": names, "ID": "", "SIS User ID": wide["student_id"],
                        "SIS Login ID": wide["email"].fillna(wide["student_id"]), "Section": ""})
    for a in assignments:
        out[a] = wide[a].round(2)
    max_scores = table.drop_duplicates("assignment").set_index("assignment")["max_score"]
    points = pd.DataFrame([["    Points Possible", "", "", "", ""] + [max_scores[a] for a in assignments]],
                          columns=out.columns)
    return pd.concat([points, out], ignore_index=True)


def export_table(course: NbgraderCourse, fmt: str) -> tuple[pd.DataFrame, int]:
    """The gradebook in fmt (csv, moodle or canvas), and the number of students in it."""
    table = grades_table(course)
    if fmt == "csv":
        out = table
    elif fmt == "moodle":
        out = moodle_table(table)
    elif fmt == "canvas":
        out = canvas_table(table)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return out, table["student_id"].nunique()
