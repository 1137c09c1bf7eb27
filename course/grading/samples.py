"""Sample submissions made from an assignment's own notebooks (for tests and benchmarks)."""

import shutil
from pathlib import Path

import nbformat

from course.grading.nbgrader_course import NbgraderCourse


def solution_ids(source_nb) -> list[str]:
    """grade_ids of the solution cells, in order."""
    return [c.metadata["nbgrader"]["grade_id"] for c in source_nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def answered(release_nb, source_nb, answer: set[str] | None = None):
    """The released notebook with the source's solutions filled in (all, or the ids in `answer`)."""
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source_nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.from_dict(release_nb)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions and (answer is None or grade_id in answer):
            cell.source = solutions[grade_id]
    return nb


def submit(course: NbgraderCourse, assignment: str, student: str, kind: str = "correct",
           timestamp: str = "2025-01-15 10:00:00.000000 UTC") -> Path:
    """Write a submission: "correct" (all solutions), "partial" (every other one) or "empty" (as released)."""
    release = course.folder("release", assignment=assignment)
    source = course.folder("source", assignment=assignment)
    dest = course.folder("submitted", student, assignment)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for path in sorted(release.glob("*.ipynb")):
        released = nbformat.read(path, as_version=4)
        src = nbformat.read(source / path.name, as_version=4)
        if kind == "correct":
            nb = answered(released, src)
        elif kind == "partial":
            nb = answered(released, src, set(solution_ids(src)[::2]))
        elif kind == "empty":
            nb = released
        else:
            raise ValueError(f"unknown kind {kind!r}")
        nbformat.write(nb, str(dest / path.name))
    (dest / "timestamp.txt").write_text(timestamp)
    return dest
