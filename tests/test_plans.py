"""Course plans: the shipped ones, their dates, the generated pages, and `igcb new-plan`."""

import datetime as dt

import pytest
import yaml

from course.layout import Layout
from course.modules import load_catalogue
from course.pages import schedule, schedule_rows, syllabus, table_of_contents
from course.plans import Format, Mode, Plan, Session, load_plan, shipped_plans

from conftest import FIXTURES, run_igcb

MINI = Layout(FIXTURES / "mini")  # modules and plans only


def mini():
    plan, problems = load_plan(MINI.plans / "mini.yml")
    assert problems == []
    catalogue, problems = load_catalogue(MINI.modules)
    assert problems == []
    return plan, catalogue


def test_the_five_plans_ship_with_their_formats():
    plans = {p.stem: load_plan(p)[0] for p in shipped_plans()}
    assert {plan.format for plan in plans.values()} == set(Format)
    assert set(plans) == {"awareness-day", "online-course", "academic-module", "trainers",
                          "journee-sensibilisation"}
    assert plans["journee-sensibilisation"].language == "fr"


def test_trainers_plan_is_a_short_blended_course_ending_in_a_workshop():
    plan, problems = load_plan(Layout.default().plans / "trainers.yml")
    assert problems == [] and plan.format is Format.training_of_trainers
    online = [s for s in plan.sessions if s.mode is Mode.online]
    assert [s.week for s in plan.sessions] == list(range(1, len(plan.sessions) + 1))
    assert 3 <= len(online) <= 4 and all(s.discussion for s in plan.sessions)
    assert plan.sessions[-1].mode is Mode.face_to_face and len(plan.sessions) == len(online) + 1
    assert {"training-for-trainers", "multistakeholder-practice",
            "capacity-development"} <= set(plan.module_ids)
    # every module's assignment is due in the week the module is studied
    for session in plan.sessions:
        assert {d.assignment for d in session.deadlines if d.assignment} == set(session.modules)
    assert plan.cohort.group_size <= 6


def test_online_course_has_eight_online_weeks_and_a_face_to_face_immersion():
    plan, _ = load_plan(Layout.default().plans / "online-course.yml")
    online = [s for s in plan.sessions if s.mode is Mode.online]
    face_to_face = [s for s in plan.sessions if s.mode is Mode.face_to_face]
    assert [s.week for s in online] == list(range(1, 9))
    assert all(s.discussion for s in online)
    assert len(face_to_face) == 1 and "immersion" in face_to_face[0].title.lower()


def test_awareness_day_is_one_day():
    plan, _ = load_plan(Layout.default().plans / "awareness-day.yml")
    assert {s.day for s in plan.sessions} == {1}
    assert all(s.mode is Mode.face_to_face for s in plan.sessions)


def test_session_dates_count_from_the_start():
    start = dt.date(2027, 3, 1)
    assert Session(week=3, title="w").dates(start) == (dt.date(2027, 3, 15), dt.date(2027, 3, 21))
    assert Session(day=2, title="d").dates(start) == (dt.date(2027, 3, 2), dt.date(2027, 3, 2))


def test_schedule_has_session_discussion_and_deadline_rows():
    plan, catalogue = mini()
    rows = schedule_rows(plan, catalogue)
    assert [(r["what"], r["mode"]) for r in rows] == [
        ("The only week", "online"), ("Facilitated discussion", "online"),
        ("Deadline", "online"), ("Face to face", "face to face")]
    assert rows[0]["date"] == "04–10 Jan 2027"
    assert rows[2]["date"] == "Sun 10 Jan 2027" and rows[2]["details"] == "A memo"
    assert rows[3]["date"] == "11–17 Jan 2027"
    assert "| Date | Session | What | Mode | Details |" in schedule(plan, catalogue)


def test_syllabus_lists_objectives_and_hours():
    plan, catalogue = mini()
    page = syllabus(plan, catalogue)
    assert "| 1 | A sample module | awareness | 1 | week 1 |" in page
    assert "- List the parts of a module" in page
    assert "about 1 hours over 1 modules" in page


def test_date_ranges_are_compact():
    from course.pages import _date_range
    assert _date_range(dt.date(2027, 3, 29), dt.date(2027, 4, 4)) == "29 Mar – 04 Apr 2027"
    assert _date_range(dt.date(2027, 12, 27), dt.date(2028, 1, 2)) == "27 Dec 2027 – 02 Jan 2028"


def test_table_of_contents_follows_the_plan_order(tmp_path):
    plan, catalogue = mini()
    toc = yaml.safe_load(table_of_contents(plan, catalogue))
    modules = toc["parts"][1]["chapters"]
    assert modules == [{"file": "modules/sample/index", "sections": [
        {"file": "modules/sample/reading"}, {"file": "modules/sample/lab"}]}]


def test_module_ids_keep_first_appearance_order():
    plan = Plan(id="p", title="t", audience="a", format="online-course", language="en",
                start="2027-01-04", sessions=[
                    {"week": 1, "title": "one", "modules": ["b", "a"]},
                    {"week": 2, "title": "two", "modules": ["a", "c"]}])
    assert plan.module_ids == ["b", "a", "c"]


def test_new_plan_copies_a_plan(mini_course):
    result = run_igcb("new-plan", "my-course", "--from", "mini", root=mini_course)
    assert result.exit_code == 0, result.output
    copy, problems = load_plan(mini_course / "course/plans/my-course.yml")
    assert problems == [] and copy.id == "my-course"
    assert run_igcb("check", root=mini_course).exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["new-plan", "mini", "--from", "mini"], "already exists"),
    (["new-plan", "Bad Name", "--from", "mini"], "use lower-case letters (a-z), digits and single dashes"),
    (["new-plan", "a-", "--from", "mini"], "use lower-case letters (a-z), digits and single dashes"),
    (["new-plan", "x²", "--from", "mini"], "use lower-case letters (a-z), digits and single dashes"),
    (["new-plan", "other", "--from", "nowhere"], "plan 'nowhere' not found"),
    (["book", "--plan", "nowhere"], "plan 'nowhere' not found (shipped plans: mini"),
])
def test_plan_commands_refuse_bad_names(mini_course, args, message):
    result = run_igcb(*args, root=mini_course)
    assert result.exit_code == 2
    assert message in result.output


def test_igcb_plans_lists_the_default(mini_course):
    result = run_igcb("plans", root=None)
    assert result.exit_code == 0
    assert "online-course (default)" in result.output
