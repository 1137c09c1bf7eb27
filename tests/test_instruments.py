"""Evaluation instruments: the shipped sets, their windows, checking and scoring answers,
`igcb check` on a broken instruments file, and `igcb new-plan` copying a plan's instruments."""

import datetime as dt
import shutil

import pytest
import yaml

from course.errors import UserError
from course.evaluation.instruments import (Instrument, Question, check_answers,
                                           check_instruments, instruments_path, load_instruments,
                                           load_plan_instruments, normalise_answers, questions,
                                           score_knowledge, window)
from course.layout import Layout
from course.modules import load_catalogue
from course.plans import Plan, load_plan, shipped_plans

from conftest import run_igcb

LAYOUT = Layout.default()
CATALOGUE, _ = load_catalogue(LAYOUT.modules)
EVALUATION = "course/plans/evaluation/online-course.yml"


def shipped(name: str):
    path = LAYOUT.plans / f"{name}.yml"
    plan, problems = load_plan(path)
    assert problems == []
    return plan, load_plan_instruments(path, plan, CATALOGUE)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# --- the shipped sets ------------------------------------------------------------------------

@pytest.mark.parametrize("path", shipped_plans(), ids=lambda p: p.stem)
def test_every_shipped_plan_has_a_complete_set_that_checks_clean(path):
    plan, problems = load_plan(path)
    instruments, problems = load_instruments(instruments_path(path))
    assert problems == []
    assert check_instruments(instruments, instruments_path(path), plan, CATALOGUE) == []
    assert instruments.plan == plan.id
    kinds = {i.kind.value: i for i in instruments.instruments}
    assert set(kinds) == {"self_assessment", "knowledge_test", "reaction", "follow_up"}
    assert set(kinds["knowledge_test"].occasions) == {"pre", "post"}
    assert "pre" in kinds["self_assessment"].occasions
    # The consent text names the five-year keeping period and how to withdraw, in the plan's
    # language.
    consent_words = {"en": ("five", "withdraw"), "fr": ("cinq", "retir")}
    assert plan.language in consent_words, (
        f"no consent words for language {plan.language!r} of plan {plan.id!r}: add them to "
        "consent_words")
    for word in consent_words[plan.language]:
        assert word in instruments.consent, f"{word!r} not in the consent text of {plan.id!r}"


@pytest.mark.parametrize("name, items_per_module, self_assessment_after", [
    ("online-course", 3, True), ("academic-module", 3, True), ("awareness-day", 2, False)])
def test_knowledge_tests_cover_every_module_of_their_plan(name, items_per_module,
                                                          self_assessment_after):
    plan, instruments = shipped(name)
    items = instruments.instrument("knowledge").items
    counts = {m: sum(item.module == m for item in items) for m in plan.module_ids}
    assert counts == {m: items_per_module for m in plan.module_ids}
    for item in items:
        assert len(item.options) == 4 and item.answer in item.options
    assert ("post" in instruments.instrument("self-assessment").occasions) is self_assessment_after


@pytest.mark.parametrize("name", ["online-course", "academic-module", "awareness-day"])
def test_follow_up_asks_what_funders_report_and_updates_the_register(name):
    plan, instruments = shipped(name)
    (follow_up,) = [i for i in instruments.instruments if i.kind.value == "follow_up"]
    assert set(follow_up.occasions) == {"followup"}
    asked = questions(follow_up, plan, CATALOGUE)
    assert {q.alumni_field for q in asked} >= {"role", "organisation", "country", "topics"}
    assert {q.outcome for q in asked} >= {"participation", "roles", "multiplier", "policy",
                                          "employer_support", "barriers"}
    participation = next(q for q in asked if q.outcome == "participation")
    assert participation.type == "multi" and "A national or regional IGF" in participation.options
    assert all(q.type == "number" for q in asked if q.outcome == "multiplier")
    reaction = [i for i in instruments.instruments if i.kind.value == "reaction"][0]
    texts = [q for q in questions(reaction, plan, CATALOGUE) if q.type == "text"]
    assert len(texts) == 2 and not any(q.required for q in texts)
    topics = next(q for q in asked if q.alumni_field == "topics")
    assert set(topics.options) <= {t for m in plan.module_ids for t in CATALOGUE[m].module.topics}


def test_questions_never_carry_the_key():
    plan, instruments = shipped("online-course")
    knowledge = instruments.instrument("knowledge")
    asked = questions(knowledge, plan, CATALOGUE)
    assert [q.id for q in asked] == [item.id for item in knowledge.items]
    for question, item in zip(asked, knowledge.items):
        dumped = question.model_dump()
        assert "answer" not in dumped and not hasattr(question, "answer")
        assert (question.type, question.text, question.options, question.module) == (
            "choice", item.question, item.options, item.module)
        assert item.answer not in (question.help, question.text)


def test_self_assessment_questions_are_the_plans_objectives():
    plan, instruments = shipped("awareness-day")
    asked = questions(instruments.instrument("self-assessment"), plan, CATALOGUE)
    objectives = [(m, n, o) for m in plan.module_ids
                  for n, o in enumerate(CATALOGUE[m].module.objectives, start=1)]
    assert [(q.id, q.text, q.module) for q in asked] == [(f"{m}-{n}", o, m)
                                                         for m, n, o in objectives]
    assert all(q.type == "scale" and q.options[0] == "Not at all" for q in asked)


def test_instrument_lookup():
    _, instruments = shipped("online-course")
    assert instruments.instrument("reaction").kind.value == "reaction"
    with pytest.raises(KeyError):
        instruments.instrument("no-such-instrument")


def test_a_plan_without_instruments_is_named(tmp_path):
    shutil.copy(LAYOUT.plans / "online-course.yml", tmp_path / "online-course.yml")
    plan, _ = load_plan(tmp_path / "online-course.yml")
    with pytest.raises(UserError, match="evaluation/online-course.yml: plan 'online-course' has "
                                        "no evaluation instruments"):
        load_plan_instruments(tmp_path / "online-course.yml", plan, CATALOGUE)


# --- windows ---------------------------------------------------------------------------------

def test_windows_of_the_two_month_course():
    plan, instruments = shipped("online-course")  # 1 March to 2 May 2027
    knowledge = instruments.instrument("knowledge")
    assert window(knowledge, "pre", plan) == (at("2027-02-15 00:00"), at("2027-03-04 23:59:59"))
    assert window(knowledge, "post", plan) == (at("2027-04-25 00:00"), at("2027-05-23 23:59:59"))
    follow_up = instruments.instrument("follow-up-6m")
    assert window(follow_up, "followup", plan) == (at("2027-11-02 00:00"),
                                                   at("2027-12-02 23:59:59"))
    with pytest.raises(KeyError):
        window(follow_up, "pre", plan)


def test_windows_of_the_awareness_day_fit_the_day():
    plan, instruments = shipped("awareness-day")  # 15 February 2027, one day
    knowledge = instruments.instrument("knowledge")
    pre_opens, pre_closes = window(knowledge, "pre", plan)
    post_opens, post_closes = window(knowledge, "post", plan)
    assert (pre_opens, pre_closes) == (at("2027-02-01 00:00"), at("2027-02-14 23:59:59"))
    assert (post_opens, post_closes) == (at("2027-02-15 00:00"), at("2027-02-22 23:59:59"))
    assert window(instruments.instrument("reaction"), "post", plan) == (post_opens, post_closes)


def plan_of(start: str, weeks: int) -> Plan:
    return Plan.model_validate({
        "id": "p", "title": "t", "audience": "a", "format": "online-course", "language": "en",
        "start": start, "sessions": [{"week": w, "title": "w"} for w in range(1, weeks + 1)]})


def test_months_keep_the_day_or_take_the_months_last():
    later = Instrument.model_validate({
        "id": "later", "kind": "follow_up", "title": "Later", "questions": [
            {"id": "q", "type": "text", "text": "Anything?"}],
        "occasions": {"followup": {"opens": {"from": "end", "months": 1},
                                   "closes": {"from": "end", "months": 13, "days": -1}}}})
    ends_4_february = plan_of("2027-01-01", 5)
    ends_31_january = plan_of("2027-01-25", 1)
    assert window(later, "followup", ends_4_february) == (at("2027-03-04 00:00"),
                                                          at("2028-03-03 23:59:59"))
    assert window(later, "followup", ends_31_january) == (at("2027-02-28 00:00"),
                                                          at("2028-02-28 23:59:59"))


# --- answers ---------------------------------------------------------------------------------

FORM = [
    Question(id="scale", type="scale", text="How?", options=["Low", "Middle", "High"]),
    Question(id="choice", type="choice", text="Which?", options=["A", "B"]),
    Question(id="multi", type="multi", text="Which ones?", options=["x", "y", "z"]),
    Question(id="text", type="text", text="Why?", required=True),
    Question(id="number", type="number", text="How many?", max=10),
    Question(id="note", type="text", text="Anything else?"),
]
GOOD = {"scale": "2", "choice": "B", "multi": ["z", "x"], "text": "  Because.  ", "number": "7"}


def test_good_answers_pass_and_are_stored_normalised():
    assert check_answers(FORM, GOOD, final=True) == {}
    assert normalise_answers(FORM, GOOD) == {
        "scale": 2, "choice": "B", "multi": ["x", "z"], "text": "Because.", "number": 7}
    alternatives = {"scale": "High", "multi": "y", "number": 3.0, "note": "", "text": "ok"}
    assert check_answers(FORM, alternatives, final=False) == {}
    assert normalise_answers(FORM, alternatives) == {"scale": 3, "multi": ["y"], "number": 3,
                                                     "text": "ok"}


@pytest.mark.parametrize("question_id, value, message", [
    ("scale", 4, "expected a whole number from 1 to 3 (found 4)"),
    ("scale", 0, "from 1 to 3"),
    ("scale", True, "from 1 to 3 (found True)"),
    ("choice", "C", "'C' is not one of the options"),
    ("multi", ["x", "w"], "'w' not among the options"),
    ("multi", [1], "expected a list of options"),
    ("text", "a" * 4001, "longer than 4000 characters (4001)"),
    ("text", 5, "expected text"),
    ("number", 11, "expected a whole number from 0 to 10 (found 11)"),
    ("number", -1, "from 0 to 10"),
    ("number", True, "expected a whole number from 0 to 10 (found True)"),
    ("number", 2.5, "found 2.5"),
    ("number", "many", "found 'many'"),
])
def test_each_bad_answer_is_named(question_id, value, message):
    answers = dict(GOOD, **{question_id: value})
    errors = check_answers(FORM, answers, final=False)
    assert list(errors) == [question_id] and message in errors[question_id]
    assert question_id not in normalise_answers(FORM, answers)


def test_unknown_questions_and_missing_required_answers():
    errors = check_answers(FORM, dict(GOOD, extra="1"), final=False)
    assert errors == {"extra": "unknown question"}
    assert "extra" not in normalise_answers(FORM, dict(GOOD, extra="1"))
    assert check_answers(FORM, {}, final=False) == {}  # a draft may be empty
    missing = check_answers(FORM, {"scale": 1, "multi": []}, final=True)
    assert set(missing) == {"choice", "multi", "text", "number"}  # "note" is optional
    assert all(m.startswith("required") for m in missing.values())


def test_knowledge_scores():
    _, instruments = shipped("awareness-day")
    knowledge = instruments.instrument("knowledge")
    key = {item.id: item.answer for item in knowledge.items}
    assert score_knowledge(knowledge, key) == ({i: 1 for i in key}, 1.0)
    assert score_knowledge(knowledge, {}) == ({i: 0 for i in key}, 0.0)
    first, second, *rest = knowledge.items
    wrong = next(o for o in second.options if o != second.answer)
    scores, share = score_knowledge(knowledge, {first.id: first.answer, second.id: wrong})
    assert scores == {first.id: 1, second.id: 0, **{i.id: 0 for i in rest}}
    assert share == pytest.approx(1 / len(key))


# --- checking a set against its plan -----------------------------------------------------------

def online_data() -> dict:
    return yaml.safe_load((LAYOUT.root / EVALUATION).read_text())


def check_data(data: dict, tmp_path) -> list[str]:
    path = tmp_path / "online-course.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    plan, _ = shipped("online-course")
    instruments, problems = load_instruments(path)
    if instruments is not None:
        problems = check_instruments(instruments, path, plan, CATALOGUE)
    return [p.message for p in problems]


def break_duplicate_item(data):
    data["instruments"][1]["items"][1]["id"] = "wig-1"


def break_answer(data):
    data["instruments"][1]["items"][0]["answer"] = "The ITU"


def break_module(data):
    data["instruments"][1]["items"][2]["module"] = "law-of-the-sea"


def break_knowledge_occasions(data):
    del data["instruments"][1]["occasions"]["post"]


def break_window(data):
    data["instruments"][2]["occasions"]["post"]["closes"] = {"from": "end", "days": -10}


def break_plan(data):
    data["plan"] = "awareness-day"


def break_question(data):
    data["instruments"][3]["questions"][0]["type"] = "text"


def break_alumni_field(data):
    data["instruments"][2]["questions"][0]["alumni_field"] = "role"


def break_follow_up_timing(data):
    data["instruments"][3]["occasions"]["followup"]["opens"] = {"from": "end", "days": -1}


def break_kind(data):
    data["instruments"][0]["kind"] = "quiz"


def break_pre_timing(data):
    data["instruments"][0]["occasions"]["pre"]["opens"] = {"from": "start", "days": 1}


def break_duplicate_question(data):
    data["instruments"][2]["questions"][1]["id"] = "satisfaction"


def break_alumni_type(data):
    data["instruments"][3]["questions"][5]["alumni_field"] = "topics"  # trainings, a number


def break_repeated_option(data):
    data["instruments"][1]["items"][0]["options"][3] = data["instruments"][1]["items"][0][
        "options"][0]


def break_topics(data):
    data["instruments"][3]["questions"][11]["options"][0] = "Internet governance"


def break_far_future(data):
    data["instruments"][3]["occasions"]["followup"]["opens"] = {"from": "end", "days": 4000}


@pytest.mark.parametrize("breaks, message", [
    (break_duplicate_item, "instruments[2].items[2].id: 'wig-1' is also the id of "
                           "instruments[2].items[1]"),
    (break_answer, "instruments[2].items[1].answer: 'The ITU' is not one of the options"),
    (break_module, "instruments[2].items[3].module: 'law-of-the-sea' is not a module of plan "
                   "'online-course'"),
    (break_knowledge_occasions, "instruments[2].occasions: a knowledge_test is taken exactly "
                                "twice, pre and post (found pre)"),
    (break_window, "instruments[3].occasions.post: closes (2027-04-22) before it opens "
                   "(2027-04-29)"),
    (break_plan, "plan: 'awareness-day' is not the plan's id 'online-course'"),
    (break_question, "instruments[4].questions[1]: a text question has no options"),
    (break_alumni_field, "instruments[3].questions[1].alumni_field: only a follow_up survey "
                         "updates the alumni register"),
    (break_follow_up_timing, "instruments[4].occasions.followup: opens on 2027-05-01, not after "
                             "the plan's last day (2027-05-02)"),
    (break_kind, "instruments[1].kind: Input should be"),
    (break_pre_timing, "instruments[1].occasions.pre: opens on 2027-03-02, after the plan starts "
                       "(2027-03-01)"),
    (break_duplicate_question, "instruments[3].questions[2].id: 'satisfaction' is also the id of "
                               "questions[1]"),
    (break_alumni_type, "instruments[4].questions[6].alumni_field: 'topics' takes a multi or "
                        "text question, not number"),
    (break_repeated_option, "instruments[2].items[1].options: options must be distinct: "
                            "'Governments alone, acting together through intergovernmental "
                            "organisations such as the ITU' repeated"),
    (break_topics, "instruments[4].questions[12].options: 'Internet governance' not among the "
                   "topics of the plan's modules"),
    (break_far_future, "instruments[4].occasions.followup.opens.days: Input should be less than "
                       "or equal to 3660"),
], ids=lambda x: getattr(x, "__name__", ""))
def test_check_names_the_field_of_each_problem(breaks, message, tmp_path):
    data = online_data()
    breaks(data)
    messages = check_data(data, tmp_path)
    assert any(m.startswith(message) for m in messages), messages


def test_check_refuses_a_window_beyond_the_calendar(tmp_path):
    _, instruments = shipped("online-course")
    late = plan_of("9999-08-02", 1).model_copy(update={"id": "online-course"})
    problems = [p.message for p in check_instruments(instruments, tmp_path / "x.yml", late,
                                                     CATALOGUE)]
    assert ("instruments[4].occasions.followup: the date falls outside the years 1 to 9999"
            in problems)


def test_check_refuses_a_post_window_that_ends_before_the_course(tmp_path):
    data = online_data()
    data["instruments"][0]["occasions"]["post"] = {"opens": {"from": "start", "days": 7},
                                                   "closes": {"from": "end", "days": -1}}
    assert check_data(data, tmp_path) == [
        "instruments[1].occasions.post: open 2027-03-08 to 2027-05-01; a post window opens on "
        "or after the plan's start (2027-03-01) and closes on or after its last day "
        "(2027-05-02)"]


# --- igcb check and igcb new-plan on a copy of the course ---------------------------------------

def test_igcb_check_reports_every_problem_of_an_instruments_file(course_copy):
    path = course_copy / EVALUATION
    data = yaml.safe_load(path.read_text())
    for breaks in (break_duplicate_item, break_answer, break_module, break_knowledge_occasions,
                   break_window):
        breaks(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    academic = course_copy / "course/plans/evaluation/academic-module.yml"
    academic.write_text(academic.read_text().replace(
        "plan: academic-module\n", "plan: academic-module\nplan: academic-module\n"))
    result = run_igcb("check", root=course_copy)
    assert result.exit_code == 2
    for message in [
            "instruments[2].items[2].id: 'wig-1' is also the id of instruments[2].items[1]",
            "instruments[2].items[1].answer: 'The ITU' is not one of the options",
            "instruments[2].items[3].module: 'law-of-the-sea' is not a module of plan",
            "instruments[2].occasions: a knowledge_test is taken exactly twice",
            "instruments[3].occasions.post: closes (2027-04-22) before it opens (2027-04-29)"]:
        assert f"{EVALUATION}: {message}" in result.output
    assert ("course/plans/evaluation/academic-module.yml: not valid YAML (line 11: 'plan' is "
            "given twice (first on line 10))") in result.output
    assert "awareness-day.yml" not in result.output and "Traceback" not in result.output


def test_igcb_check_passes_a_plan_without_instruments(course_copy):
    (course_copy / EVALUATION).unlink()
    result = run_igcb("check", root=course_copy)
    modules = len([p for p in (course_copy / "modules").glob("[0-9]*") if p.is_dir()])
    plans = len(list((course_copy / "course/plans").glob("*.yml")))
    assert (result.exit_code, result.output) == (0, f"ok: {modules} modules and {plans} plans\n")


def test_new_plan_copies_the_instruments(course_copy):
    result = run_igcb("new-plan", "my-course", "--from", "awareness-day", root=course_copy)
    assert result.exit_code == 0, result.output
    assert "course/plans/evaluation/my-course.yml: the evaluation instruments" in result.output
    copy, problems = load_instruments(course_copy / "course/plans/evaluation/my-course.yml")
    original, _ = load_instruments(course_copy / "course/plans/evaluation/awareness-day.yml")
    assert problems == [] and copy.plan == "my-course"
    assert copy.model_dump(exclude={"plan"}) == original.model_dump(exclude={"plan"})
    assert "# Evaluation instruments" in (course_copy / "course/plans/evaluation/my-course.yml"
                                          ).read_text()  # comments kept
    assert run_igcb("check", root=course_copy).exit_code == 0


def test_new_plan_of_a_plan_without_instruments_writes_the_plan_only(course_copy):
    (course_copy / EVALUATION).unlink()
    result = run_igcb("new-plan", "my-course", "--from", "online-course", root=course_copy)
    assert result.exit_code == 0, result.output
    assert "evaluation" not in result.output
    assert not (course_copy / "course/plans/evaluation/my-course.yml").exists()


def test_new_plan_writes_nothing_when_the_instruments_cannot_be_written(course_copy, tmp_path):
    source = tmp_path / "elsewhere"
    (source / "evaluation").mkdir(parents=True)
    shutil.copy(course_copy / "course/plans/online-course.yml", source / "online-course.yml")
    shutil.copy(course_copy / EVALUATION, source / "evaluation/online-course.yml")
    plans = course_copy / "course/plans"
    shutil.rmtree(plans / "evaluation")
    (plans / "evaluation").write_text("a file where the folder of instruments should be\n")
    before = sorted(p.name for p in plans.iterdir())
    result = run_igcb("new-plan", "my-course", "--from", str(source / "online-course.yml"),
                      root=course_copy)
    assert result.exit_code == 2
    assert "cannot write" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in plans.iterdir()) == before


def test_new_plan_refuses_to_overwrite_instruments(course_copy):
    existing = course_copy / "course/plans/evaluation/my-course.yml"
    existing.write_text("plan: my-course\n")
    result = run_igcb("new-plan", "my-course", "--from", "online-course", root=course_copy)
    assert result.exit_code == 2 and "my-course.yml already exists" in result.output
    assert not (course_copy / "course/plans/my-course.yml").exists()
    assert existing.read_text() == "plan: my-course\n"
