"""`igcb check` finds each kind of broken module or plan, names the file, and exits 2."""

import json

import nbformat
import yaml

from conftest import run_igcb

MODULE = "modules/01-sample"


def edit_yaml(path, **changes):
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def add_module(root, folder: str, module_id: str, **changes):
    """Copy the sample module as another module, e.g. to make prerequisites."""
    import shutil
    shutil.copytree(root / MODULE, root / "modules" / folder)
    edit_yaml(root / "modules" / folder / "module.yml", id=module_id, **changes)


def check(root):
    result = run_igcb("check", root=root)
    return result.exit_code, result.output


def test_a_sound_course_passes(mini_course):
    code, output = check(mini_course)
    assert (code, output) == (0, "ok: 1 modules and 1 plans\n")


def test_this_repository_passes():
    code, output = check(None)
    assert code == 0, output


def test_plan_naming_an_unknown_module(mini_course):
    plan = mini_course / "course/plans/mini.yml"
    data = yaml.safe_load(plan.read_text())
    data["sessions"][0]["modules"].append("no-such-module")
    plan.write_text(yaml.safe_dump(data))
    code, output = check(mini_course)
    assert code == 2
    assert "course/plans/mini.yml: sessions[1].modules: unknown module 'no-such-module'" in output


def test_module_yml_missing_a_field(mini_course):
    path = mini_course / MODULE / "module.yml"
    data = yaml.safe_load(path.read_text())
    del data["objectives"]
    path.write_text(yaml.safe_dump(data))
    code, output = check(mini_course)
    assert code == 2
    assert f"{MODULE}/module.yml: objectives: missing required field" in output


def test_notebook_that_is_not_json(mini_course):
    (mini_course / MODULE / "lab.ipynb").write_text('{"cells": [')
    code, output = check(mini_course)
    assert code == 2
    assert f"{MODULE}/lab.ipynb: not a valid notebook" in output


def test_notebook_of_an_old_format(mini_course):
    (mini_course / MODULE / "lab.ipynb").write_text(json.dumps(
        {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}))
    code, output = check(mini_course)
    assert code == 2
    assert f"{MODULE}/lab.ipynb: nbformat 3 notebook: expected nbformat 4" in output


def test_missing_notebook(mini_course):
    (mini_course / MODULE / "lab.ipynb").unlink()
    code, output = check(mini_course)
    assert code == 2
    assert f"{MODULE}/lab.ipynb: notebook not found" in output


def test_notebook_stored_with_outputs(mini_course):
    path = mini_course / MODULE / "reading.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="2\n")]
    nbformat.write(notebook, path)
    code, output = check(mini_course)
    assert code == 2
    assert "cells [2] have stored outputs" in output


def test_unknown_prerequisite(mini_course):
    edit_yaml(mini_course / MODULE / "module.yml", prerequisites=["missing-one"])
    code, output = check(mini_course)
    assert code == 2
    assert f"{MODULE}/module.yml: prerequisites: unknown module 'missing-one'" in output


def test_prerequisite_cycle(mini_course):
    add_module(mini_course, "02-second", "second", prerequisites=["sample"])
    edit_yaml(mini_course / MODULE / "module.yml", prerequisites=["second"])
    code, output = check(mini_course)
    assert code == 2
    assert "prerequisites form a cycle: " in output
    assert "sample -> second -> sample" in output or "second -> sample -> second" in output


def test_plan_scheduling_a_module_before_its_prerequisite(mini_course):
    add_module(mini_course, "02-second", "second", prerequisites=["sample"])
    plan = mini_course / "course/plans/mini.yml"
    data = yaml.safe_load(plan.read_text())
    data["sessions"][0]["modules"] = ["second"]
    data["sessions"][1]["modules"] = ["sample"]
    plan.write_text(yaml.safe_dump(data))
    code, output = check(mini_course)
    assert code == 2
    assert "sessions[1]: 'second' comes before its prerequisite 'sample'" in output


def test_assessment_without_a_source_folder(mini_course):
    edit_yaml(mini_course / MODULE / "module.yml", assessment="sample-quiz")
    code, output = check(mini_course)
    assert code == 2
    assert "assessment: 'sample-quiz' has no folder" in output


def test_deadline_for_an_assignment_outside_the_plan(mini_course):
    plan = mini_course / "course/plans/mini.yml"
    data = yaml.safe_load(plan.read_text())
    data["sessions"][0]["deadlines"] = [{"title": "Quiz", "assignment": "other-quiz"}]
    plan.write_text(yaml.safe_dump(data))
    code, output = check(mini_course)
    assert code == 2
    assert "assignment 'other-quiz' is not the assessment of a module in this plan" in output


def test_session_with_both_week_and_day(mini_course):
    plan = mini_course / "course/plans/mini.yml"
    data = yaml.safe_load(plan.read_text())
    data["sessions"][0]["day"] = 2
    plan.write_text(yaml.safe_dump(data))
    code, output = check(mini_course)
    assert code == 2
    assert "sessions[1]: give either week or day, not both and not neither" in output


def test_session_clock_time_that_is_not_a_time_of_day(mini_course):
    plan = mini_course / "course/plans/mini.yml"
    data = yaml.safe_load(plan.read_text())
    data["sessions"][1] = {"day": 8, "time": "09:00-24:30", "title": "Late", "mode": "face-to-face"}
    plan.write_text(yaml.safe_dump(data))
    code, output = check(mini_course)
    assert code == 2
    assert "sessions[2].time: '24:30' is not a time of day (HH:MM, 00:00 to 23:59)" in output


def test_every_problem_is_listed_at_once(mini_course):
    (mini_course / MODULE / "lab.ipynb").write_text("not json")
    edit_yaml(mini_course / MODULE / "module.yml", prerequisites=["missing-one"])
    plan = mini_course / "course/plans/mini.yml"
    edit_yaml(plan, format="weekend-retreat")
    code, output = check(mini_course)
    assert code == 2
    assert "lab.ipynb: not a valid notebook" in output
    assert "prerequisites: unknown module 'missing-one'" in output
    assert "course/plans/mini.yml: format:" in output
    assert "Traceback" not in output
