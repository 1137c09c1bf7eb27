"""Assignments through nbgrader's API: list, generate and release, collect, feedback."""

import json
from dataclasses import dataclass
from typing import Callable

from course.errors import UserError
from course.grading.autograde import STATUS_FILE
from course.grading.nbgrader_course import NbgraderCourse


@dataclass
class AssignmentInfo:
    name: str
    notebooks: list[str]
    generated: bool
    submissions: int
    graded: int


def _check(result: dict, what: str) -> str:
    """The log of an NbGraderAPI call, or a UserError with nbgrader's own message."""
    if not result.get("success"):
        log = (result.get("log") or "").strip().splitlines()
        errors = [line for line in log if "ERROR" in line] or log[-5:]
        detail = "\n".join(errors) or (result.get("error") or "").strip().splitlines()[-1:][0]
        raise UserError(f"{what} failed:\n{detail}")
    return result.get("log", "")


def list_assignments(course: NbgraderCourse) -> list[AssignmentInfo]:
    with course.gradebook() as gb:
        generated = {a.name for a in gb.assignments}
    infos = []
    for name in course.source_assignments():
        notebooks = sorted(p.stem for p in course.folder("source", assignment=name).glob("*.ipynb"))
        submitted = course.folder("submitted")
        students = [d for d in submitted.iterdir() if (d / name).is_dir()] if submitted.is_dir() else []
        graded = sum((course.folder("autograded", d.name, name) / STATUS_FILE).is_file() for d in students)
        infos.append(AssignmentInfo(name, notebooks, name in generated, len(students), graded))
    return infos


def release(course: NbgraderCourse, assignment: str) -> str:
    """Generate the student version into release/<a>/ and, if an exchange exists, release it there."""
    course.require_assignment(assignment)
    api = course.api()
    _check(api.generate_assignment(assignment, force=True, create=True), f"generating {assignment}")
    where = course.folder("release", assignment=assignment)
    if api.exchange_is_functional:
        _check(api.release_assignment(assignment), f"releasing {assignment} to the exchange")
        return f"generated {where} and released it to the exchange {api.exchange_root}"
    return f"generated {where} (no nbgrader exchange at {api.exchange_root}: hand out that folder)"


def collect(course: NbgraderCourse, assignment: str) -> str:
    """Copy submissions from the exchange into submitted/<student>/<a>/."""
    course.require_assignment(assignment)
    api = course.api()
    if not api.exchange_is_functional:
        raise UserError(f"no nbgrader exchange at {api.exchange_root}: put submissions in "
                        f"{course.folder('submitted')}/<student>/{assignment}/ instead")
    _check(api.collect(assignment), f"collecting {assignment}")
    return f"collected into {course.folder('submitted')}"


def graded_students(course: NbgraderCourse, assignment: str) -> list[str]:
    """Students whose submission of the assignment has been autograded."""
    root = course.folder("autograded")
    students = []
    for status in sorted(root.glob(f"*/{assignment}/{STATUS_FILE}")) if root.is_dir() else []:
        try:
            if json.loads(status.read_text()).get("status") in ("graded", "flagged"):
                students.append(status.parent.parent.name)
        except (OSError, ValueError):
            continue
    return students


def feedback(course: NbgraderCourse, assignment: str,
             progress: Callable[[str], None] = lambda student: None) -> tuple[list[str], list[str]]:
    """nbgrader feedback (HTML) for every graded submission: (students done, students failed)."""
    course.require_assignment(assignment)
    students = graded_students(course, assignment)
    if not students:
        raise UserError(f"no graded submissions of {assignment!r}: run `igcb grade {assignment}` first")
    api = course.api()
    done, failed = [], []
    for student in students:
        result = api.generate_feedback(assignment, student, force=True)
        (done if result.get("success") else failed).append(student)
        progress(student)
    return done, failed
