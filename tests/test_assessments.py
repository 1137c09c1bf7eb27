"""The nbgrader assignments in assessments/source: shape, and solutions pass / release fails."""

import shutil
from pathlib import Path

import nbformat
import pytest

from course.grading.autograde import Autograder
from course.grading.nbgrader_course import NbgraderCourse
from course.grading.pool import Limits
from course.grading.samples import submit
from course.layout import Layout

COURSE = Layout.default().assessments
ASSIGNMENTS = sorted(p.name for p in (COURSE / "source").iterdir() if p.is_dir())


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def test_every_module_has_its_own_assignment():
    from course.modules import load_catalogue

    catalogue, problems = load_catalogue(Layout.default().modules)
    assert problems == []
    assessments = [entry.module.assessment for entry in catalogue.values()]
    assert assessments == list(catalogue), "each module's assignment is named after the module"
    assert sorted(assessments) == ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_assignment_shape(assignment):
    notebooks = sorted((COURSE / "source" / assignment).glob("*.ipynb"))
    assert 1 <= len(notebooks) <= 2
    cells = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            assert not cell.get("outputs"), f"{path.name}: notebooks are stored without outputs"
        cells += nb.cells
    tests = [c for c in cells if _meta(c).get("grade") and not _meta(c).get("solution")]
    solutions = [c for c in cells if _meta(c).get("solution") and c.cell_type == "code"]
    written = [c for c in cells if _meta(c).get("grade") and _meta(c).get("solution") and c.cell_type == "markdown"]
    assert all("### BEGIN SOLUTION" in c.source for c in solutions)
    assert tests and any("### BEGIN HIDDEN TESTS" in c.source for c in tests), "visible and hidden tests"
    assert any("knowledge check" in c.source.lower() for c in cells), "a knowledge check"
    # peer review finds the written answer by this grade id
    assert [c.metadata.nbgrader["grade_id"] for c in written] == ["policy_brief"], "one written policy brief"
    assert any("Rubric" in c.source for c in cells if c.cell_type == "markdown")


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_and_released_notebooks_fail(tmp_path, assignment):
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", root)
    shutil.copytree(COURSE / "source" / assignment, root / "source" / assignment)
    course = NbgraderCourse.open(root)
    api = course.api()
    assert api.generate_assignment(assignment, force=True, create=True)["success"]
    submit(course, assignment, "solutions", "correct")
    submit(course, assignment, "released", "empty")
    outcomes = Autograder(course, assignment, workers=2, limits=Limits(cell_timeout=60)).run()
    assert [o.status for o in outcomes] == ["graded", "graded"], [o.reasons for o in outcomes]
    with course.gradebook() as gb:
        for notebook in gb.find_assignment(assignment).notebooks:
            auto_max = sum(c.max_score for c in notebook.grade_cells if c.cell_type == "code")
            if not auto_max:
                continue
            solved = gb.find_submission_notebook(notebook.name, assignment, "solutions")
            released = gb.find_submission_notebook(notebook.name, assignment, "released")
            assert solved.code_score == auto_max, f"{assignment}/{notebook.name}: solutions fail a test"
            assert released.code_score == 0, f"{assignment}/{notebook.name}: released version passes a test"


def test_course_config_is_nbgraders():
    course = NbgraderCourse.open(COURSE)
    assert course.course_id == "igcb"
    assert Path(course.db_url.removeprefix("sqlite:///")).parent == COURSE.resolve()
