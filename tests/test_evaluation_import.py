"""`igcb evaluation import`: survey exports (KoboToolbox, LimeSurvey, Google Forms) read with a
mapping file into the cohort store, all or nothing, on SQLite and PostgreSQL (`db_url`).

The parser's own checks run without a store; everything that writes runs the real command on
a real store made by `igcb cohort init` from the example roster.
"""

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from sqlalchemy import select

from course.cohort.db import StoreError
from course.cohort.evaluation import give_consent, join_alumni, save_answer, withdraw
from course.cohort.evaluation_import import import_answers
from course.cohort.models import AlumniEntry, AuditEntry, Consent, EvaluationAnswer
from course.cohort.structure import table_frames
from course.evaluation.instruments import check_answers, load_plan_instruments, questions
from course.evaluation.survey_import import (Mapping, check_mapping, load_mapping, read_survey,
                                             split_multi)
from course.layout import REPO_ROOT
from course.modules import load_catalogue
from course.plans import load_named_plan
from cli_helpers import in_store, ok, refused

EXAMPLES = REPO_ROOT / "course" / "evaluation" / "examples"
ROSTER = REPO_ROOT / "peer_review" / "examples" / "roster.csv"
TUTORS = REPO_ROOT / "peer_review" / "examples" / "tutors.csv"
KOBO = (EXAMPLES / "kobo-knowledge-post.csv", EXAMPLES / "kobo-knowledge-post.yml", "knowledge", "post")
LIME = (EXAMPLES / "limesurvey-reaction.csv", EXAMPLES / "limesurvey-reaction.yml", "reaction", "post")
FORMS = (EXAMPLES / "google-forms-follow-up.csv", EXAMPLES / "google-forms-follow-up.yml",
         "follow-up-6m", "followup")
PLAN = load_named_plan("online-course")
CATALOGUE, _ = load_catalogue(REPO_ROOT / "modules")
INSTRUMENTS = load_plan_instruments(REPO_ROOT / "course" / "plans" / "online-course.yml", PLAN, CATALOGUE)
PEOPLE = [("p01", "amina.diallo@example.org"), ("p02", "joseph.mwangi@example.org"),
          ("p03", "grace.okafor@example.org"), ("p04", "thabo.nkosi@example.org")]
IN_POST_WINDOW = datetime(2027, 4, 28, 12, 0)


def form(instrument_id: str):
    return questions(INSTRUMENTS.instrument(instrument_id), PLAN, CATALOGUE)


def import_args(example, db_url, csv_file=None, mapping=None):
    csv_path, mapping_path, instrument, occasion = example
    return ("evaluation", "import", csv_file or csv_path, "--instrument", instrument,
            "--occasion", occasion, "--mapping", mapping or mapping_path, "--db", db_url)


@pytest.fixture
def store_url(db_url):
    ok("cohort", "init", "--plan", "online-course", "--roster", ROSTER, "--tutors", TUTORS,
       "--coordinator", "coord", "--db", db_url)
    return db_url


def answers_of(url, instrument):
    return in_store(url, lambda s: {a.person_id: (a.state, a.answers, a.score, a.item_scores, a.source,
                                                   a.source_row, a.submitted_at)
                                    for a in s.scalars(select(EvaluationAnswer).where(
                                        EvaluationAnswer.instrument == instrument))})


def snapshot(url):
    return in_store(url, lambda s: {name: frame.to_dict("records")
                                    for name, frame in table_frames(s).items()})


def parse(text: str | bytes, mapping: dict, instrument="reaction", people=PEOPLE, name="answers.csv"):
    data = text.encode() if isinstance(text, str) else text
    return read_survey(Path(name), data, Mapping.model_validate(mapping), form(instrument), people)


# --- the examples, end to end -------------------------------------------------------------

def test_each_example_imports(store_url):
    out = ok(*import_args(KOBO, store_url))
    assert "knowledge (post) from kobo-knowledge-post.csv: 21 added, 0 replaced, 0 skipped" in out
    knowledge = answers_of(store_url, "knowledge")
    assert len(knowledge) == 21 and not {"p07", "p19", "p22"} & set(knowledge)
    state, answers, score, items, source, row, submitted = knowledge["p05"]  # typed " p05"
    assert (state, source, row) == ("submitted", "import:kobo-knowledge-post.csv", 6)
    assert submitted == datetime(2027, 5, 1, 10, 46, 54)  # _submission_time, UTC
    test = INSTRUMENTS.instrument("knowledge")
    assert items == {i.id: int(answers.get(i.id) == i.answer) for i in test.items}
    assert score == pytest.approx(sum(items.values()) / len(test.items))
    assert answers["wig-2"] == "It made the IGF a permanent forum of the United Nations"  # "d"
    assert "inf-1" not in knowledge["p01"][1], "a blank cell is an unanswered item"

    out = ok(*import_args(LIME, store_url))
    assert "reaction (post) from limesurvey-reaction.csv: 18 added, 0 replaced, 0 skipped" in out
    reaction = answers_of(store_url, "reaction")
    assert reaction["p01"][1]["satisfaction"] == 5 and reaction["p01"][1]["workload"] == 3  # A5, A3
    assert reaction["p01"][6] == datetime(2027, 5, 3, 7, 0)  # 09:00 in Berlin (CEST)
    assert reaction["p01"][2] is None and reaction["p01"][3] is None  # not a knowledge test
    texts = [a[1].get("best", "") for a in reaction.values()]
    assert "Meeting the group at the national IGF.\nWe still talk every month." in texts
    assert any('"tough but fair"' in t for t in texts)

    in_store(store_url, lambda s: join_alumni(s, "p09", {
        "role": "Engineer", "organisation": "ID-IX", "country": "ID",
        "stakeholder_group": "technical_community", "topics": "infrastructure",
        "will_mentor": True}, "alumni consent text"))
    out = ok(*import_args(FORMS, store_url))
    assert "follow-up-6m (followup) from google-forms-follow-up.csv: 12 added" in out
    follow = answers_of(store_url, "follow-up-6m")
    assert "p08" in follow, "PRIYA.SHARMA@EXAMPLE.ORG is p08's address in other letters"
    p09 = follow["p09"][1]
    assert p09["topics"] == ["internet-infrastructure", "human-rights"]
    # Options that hold the separator ", " stay one answer each
    assert ["A draft law, regulation or policy", "A document of the IETF, the W3C or the ITU"] in [
        answers.get("policy-contributions") for _, answers, *_ in follow.values()]
    assert p09["barriers"] == ["Cost of travel", "Visas"] and p09["trainings"] == 1
    assert p09["participation"] == ["A regional Internet registry's policy process"]
    assert follow["p09"][6] == datetime(2027, 11, 7, 12, 8, 56)
    entry = in_store(store_url, lambda s: s.get(AlumniEntry, "p09"))
    assert (entry.role, entry.organisation, entry.updated_from) == (
        "Peering coordinator", "ID-IX", "follow-up")

    consents = in_store(store_url, lambda s: {c.person_id: c.text for c in s.scalars(
        select(Consent).where(Consent.kind == "evaluation"))})
    assert consents["p05"] == "collected by import:kobo-knowledge-post.csv"
    assert consents["p03"] == "collected by import:kobo-knowledge-post.csv"  # not in later files
    audits = in_store(store_url, lambda s: [(a.action, a.target, a.detail["added"]) for a in s.scalars(
        select(AuditEntry).where(AuditEntry.action == "evaluation.import").order_by(AuditEntry.id))])
    assert audits == [("evaluation.import", "knowledge:post", 21), ("evaluation.import", "reaction:post", 18),
                      ("evaluation.import", "follow-up-6m:followup", 12)]

    again = ok(*import_args(KOBO, store_url))
    assert "0 added, 21 replaced, 0 skipped" in again
    assert answers_of(store_url, "knowledge") == knowledge


# --- refused: row and column named, the store unchanged ------------------------------------

def test_a_wrong_mapping_is_refused_with_its_row_and_column(store_url, tmp_path):
    ok(*import_args(LIME, store_url))
    before = snapshot(store_url)

    mapping = tmp_path / "wrong-column.yml"
    mapping.write_text(LIME[1].read_text().replace("tutoring: TUT", "tutoring: TUTOR"))
    err = refused(*import_args(LIME, store_url, mapping=mapping))
    assert "limesurvey-reaction.csv: row 1, column 'TUTOR' (questions.tutoring in the mapping): " \
           "no such column in the file" in err

    lines = LIME[0].read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace('"p04","A3"', '"p04","A7"')  # row 4: SAT
    lines[4] = lines[4].replace('"p05"', '"p55"')
    bad = tmp_path / "bad-values.csv"
    bad.write_text("".join(lines))
    err = refused(*import_args(LIME, store_url, csv_file=bad))
    assert "bad-values.csv: row 4, column 'SAT': 'A7': not an option: expected 1 to 5 or one of " \
           "'Very dissatisfied'" in err
    assert "the mapping recodes 'A1', 'A2', 'A3', 'A4', 'A5'" in err
    assert "bad-values.csv: row 5, column 'UID': 'p55': not a person of the cohort" in err

    # a row of the Kobo file whose person is unknown: `;`-separated, with a byte-order mark
    data = KOBO[0].read_bytes().replace(b'"p10"', b'"p100"')
    unknown = tmp_path / "kobo.csv"
    unknown.write_bytes(data)
    err = refused(*import_args(KOBO, store_url, csv_file=unknown))
    assert "kobo.csv: row 10, column 'participant_id': 'p100': not a person of the cohort" in err

    mapping = tmp_path / "unknown-question.yml"
    mapping.write_text(LIME[1].read_text() + "  loyalty: REC\n")
    err = refused(*import_args(LIME, store_url, mapping=mapping))
    assert "unknown-question.yml: questions.loyalty: the instrument has no question 'loyalty'" in err
    assert snapshot(store_url) == before


@pytest.mark.parametrize("line, old, new, message", [
    # a stray quote: row 5 is line 5
    (4, '"p05","A5"', '"p05","A5" x', "row 5, column 'SAT': '\"A5\" x': text after the closing "
     "quote of a quoted cell: put the whole cell in quotes and double each quote inside it (\"\")"),
    # a quote meant inside the cell that ends it early: row 7's cell spans lines 7 and 8
    (6, "national IGF.\n", 'national IGF.,"extra"\n', "row 7, column 'BEST': '\"Meeting the group "
     "at the national IGF.,\"extra\"': text after the closing quote of a quoted cell"),
    # row 8 is line 9 of the file
    (8, '"p09","A5"', '"p09","A5"x', "row 8 (line 9 of the file), column 'SAT': '\"A5\"x': text "
     "after the closing quote"),
    # a quote never closed, on a row added at the end (rows 7, 13 and 19 span two lines each)
    (-1, "", '"20","2027-05-12 10:00:00","3","en","1","x","x","p22","A5,A4\n', "row 20 (line 23 "
     "of the file), column 'SAT': '\"A5,A4\\n': a quote opens this cell and is never closed"),
])
def test_a_file_csv_cannot_read_is_refused_with_its_row_and_column(store_url, tmp_path, line, old,
                                                                     new, message):
    before = snapshot(store_url)
    lines = LIME[0].read_text().splitlines(keepends=True) + [""]
    assert old in lines[line]
    lines[line] = lines[line].replace(old, new, 1) if old else new
    bad = tmp_path / "broken.csv"
    bad.write_text("".join(lines))
    err = refused(*import_args(LIME, store_url, csv_file=bad))
    assert err.startswith(f"Error: {bad}: {message}"), err
    assert err.count("\n") == 1 and "not a readable CSV file" not in err
    assert snapshot(store_url) == before


def test_cells_separated_by_another_character_are_named():
    _, problems = parse('user,"q1";"q2"\np01,5\n', {**SIMPLE, "delimiter": ","})
    assert [str(p) for p in problems] == [
        "answers.csv: row 1, cell 2: '\"q1\";\"q2\"': text after the closing quote of a quoted "
        "cell: are the cells separated by semicolons rather than commas?"]


def test_people_who_withdrew_and_staff_are_refused(store_url, tmp_path):
    in_store(store_url, lambda s: (give_consent(s, "p04", "evaluation", "consent"), withdraw(s, "p04")))
    before = snapshot(store_url)
    err = refused(*import_args(LIME, store_url))
    assert "limesurvey-reaction.csv: row 4, column 'UID': 'p04': p04 withdrew their consent: " \
           "their answers are not kept; remove the row from the file" in err
    assert snapshot(store_url) == before

    tutor = tmp_path / "tutor.csv"
    tutor.write_text(LIME[0].read_text().replace('"p04"', '"t01"'))
    err = refused(*import_args(LIME, store_url, csv_file=tutor))
    assert "tutor.csv: row 4, column 'UID': 't01': t01 is a tutor, not a participant" in err
    assert snapshot(store_url) == before

    # the store's own rule, whoever calls it: all or nothing, each row named
    rows = [("p01", {"satisfaction": 5}, 2, None), ("p04", {"satisfaction": 4}, 3, None),
            ("zed", {}, 4, None), ("p02", {"satisfaction": 9}, 5, None)]
    with pytest.raises(StoreError) as caught:
        in_store(store_url, lambda s: import_answers(s, INSTRUMENTS, PLAN, CATALOGUE, "reaction",
                                                     "post", rows, "import:x.csv", "coord"))
    assert str(caught.value).splitlines() == [
        "the import changes nothing:",
        "  x.csv, row 3: p04 withdrew their consent: their answers are not kept; remove the row "
        "from the file",
        "  x.csv, row 4: 'zed' is not a person of the cohort",
        "  x.csv, row 5: satisfaction: expected a whole number from 1 to 5 (found 9)"]
    assert snapshot(store_url) == before


def test_an_answer_submitted_in_the_room_is_kept(store_url):
    def answer_in_room(s, person, submit):
        give_consent(s, person, "evaluation", "the consent shown in the room")
        first_options = {q.id: q.options[0] for q in form("knowledge")}
        row, errors = save_answer(s, person, INSTRUMENTS, PLAN, CATALOGUE, "knowledge", "post",
                                  first_options, submit=submit, now=IN_POST_WINDOW)
        assert errors == {} and row is not None

    in_store(store_url, lambda s: answer_in_room(s, "p01", submit=True))
    in_store(store_url, lambda s: answer_in_room(s, "p02", submit=False))  # a draft
    room = answers_of(store_url, "knowledge")["p01"]
    out = ok(*import_args(KOBO, store_url))
    assert "19 added, 1 replaced, 1 skipped" in out
    after = answers_of(store_url, "knowledge")
    assert after["p01"] == room and after["p01"][4] == "room"
    assert after["p02"][0] == "submitted" and after["p02"][4] == "import:kobo-knowledge-post.csv"
    consents = in_store(store_url, lambda s: {c.person_id: c.text for c in s.scalars(select(Consent))})
    assert consents["p01"] == consents["p02"] == "the consent shown in the room"
    skipped = in_store(store_url, lambda s: s.scalars(select(AuditEntry.detail).where(
        AuditEntry.action == "evaluation.import")).one())
    assert skipped["skipped_people"] == ["p01"]


def test_instrument_and_occasion_are_checked(store_url):
    err = refused(*import_args(LIME, store_url)[:3], "--instrument", "satisfaction", "--occasion",
                  "post", "--mapping", LIME[1], "--db", store_url)
    assert "--instrument satisfaction: not an instrument of plan 'online-course'" in err
    err = refused(*import_args(LIME, store_url)[:3], "--instrument", "reaction", "--occasion",
                  "pre", "--mapping", LIME[1], "--db", store_url)
    assert "--occasion pre: reaction is taken post, not pre" in err
    # Another instrument's mapping: one message that says so, not one line per question
    before = snapshot(store_url)
    err = refused(*import_args(KOBO, store_url, mapping=LIME[1]))
    assert err.count("\n") == 1 and "is this the mapping of another instrument?" in err
    assert snapshot(store_url) == before


# --- the parser on its own -------------------------------------------------------------------

SIMPLE = {"person": {"column": "user"},
          "questions": {"satisfaction": "q1", "relevance": "q2", "tutoring": "q3",
                        "study-group": "q4", "peer-facilitation": "q5", "peer-review": "q6",
                        "workload": "q7", "face-to-face": "q8", "recommend": "q9", "best": "q10"}}
HEADER = "user,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10\n"


def test_bom_semicolons_and_labels():
    text = "\ufeffuser;q1;q2;q3;q4;q5;q6;q7;q8;q9;q10\r\n" \
           "p01;Satisfied;very relevant;2;5;4;4;About right;3;Certainly;\"Good; short\"\r\n"
    rows, problems = parse(text.encode("utf-8"), SIMPLE)
    assert problems == []
    (row,) = rows
    assert row.person_id == "p01" and row.source_row == 2 and row.submitted_at is None
    assert row.answers == {"satisfaction": 4, "relevance": 4, "tutoring": 2, "study-group": 5,
                           "peer-facilitation": 4, "peer-review": 4, "workload": 3,
                           "face-to-face": 3, "recommend": 5, "best": "Good; short"}


def test_rows_are_counted_as_a_spreadsheet_shows_them():
    # a cell over two lines is one row; a blank line is an (empty, skipped) row
    text = HEADER + 'p01,5,5,5,5,5,5,3,5,5,"two\nlines"\n\n' + "p02,5,5,5,5,5,5,3,5,6,\n"
    _, problems = parse(text, SIMPLE)
    assert [str(p) for p in problems] == [
        "answers.csv: row 4, column 'q9': '6': not an option: expected 1 to 5 or one of "
        "'Certainly not', 'Probably not', 'Not sure', 'Probably', 'Certainly'; or recode it "
        "under values in the mapping"]


def test_duplicate_people_and_e_mail_addresses():
    text = HEADER + "p01,5,5,5,5,5,5,3,5,5,\np02,5,5,5,5,5,5,3,5,5,\np01,4,4,4,4,4,4,3,4,4,\n,4,4,4,4,4,4,3,4,4,\n"
    _, problems = parse(text, SIMPLE)
    assert [str(p) for p in problems] == [
        "answers.csv: row 4, column 'user': 'p01': p01 answered twice (also on row 2); keep one "
        "answer per person in the file",
        "answers.csv: row 5, column 'user': empty: expected the person's roster id"]
    by_email = {**SIMPLE, "person": {"column": "user", "key": "email"}}
    text = HEADER + "Amina.Diallo@example.org ,5,5,5,5,5,5,3,5,5,\nnobody@example.org,5,5,5,5,5,5,3,5,5,\n"
    _, problems = parse(text, by_email)
    assert [str(p) for p in problems] == [
        "answers.csv: row 3, column 'user': 'nobody@example.org': not a person of the cohort "
        "(no one has this e-mail address)"]
    rows, _ = parse(HEADER + "Amina.Diallo@example.org,5,5,5,5,5,5,3,5,5,\n", by_email)
    assert rows[0].person_id == "p01"


def test_files_that_are_not_utf8_csv():
    assert [str(p) for p in parse(b"", SIMPLE)[1]] == [
        "answers.csv: the file is empty; expected a header row and one row per answer"]
    assert [str(p) for p in parse("\ufeff" + HEADER, SIMPLE)[1]] == [
        "answers.csv: the file has a header row but no answers"]
    latin = (HEADER + "p01,5,5,5,5,5,5,3,5,5,Très bien\n").encode("latin-1")
    assert [str(p) for p in parse(latin, SIMPLE)[1]] == [
        "answers.csv: the file is not UTF-8 (byte 0xe8 on line 2): export it again as UTF-8 "
        "(\"CSV UTF-8\" in Excel)"]
    utf16 = HEADER.encode("utf-16")
    assert "the file is UTF-16" in str(parse(utf16, SIMPLE)[1][0])
    extra = HEADER + "p01,5,5,5,5,5,5,3,5,5,,surprise\n"
    assert [str(p) for p in parse(extra, SIMPLE)[1]] == [
        "answers.csv: row 2: 12 cells, but the header has 11 columns"]
    twice = "user,q1,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10\n"
    assert "row 1, column 'q1' (questions.satisfaction in the mapping): the header has 2 columns " \
           "of that name" in str(parse(twice + "p01\n", SIMPLE)[1][0])


def test_dates_and_their_formats():
    mapping = {**SIMPLE, "submitted_at": {"column": "when", "format": "%d/%m/%Y %H:%M",
                                          "timezone": "Africa/Nairobi"}}
    text = "when," + HEADER + "03/05/2027 10:30,p01,5,5,5,5,5,5,3,5,5,\n2027-05-03,p02,5,5,5,5,5,5,3,5,5,\n"
    rows, problems = parse(text, mapping)
    assert [str(p) for p in problems] == [
        "answers.csv: row 3, column 'when': '2027-05-03': not a date and time in format "
        "'%d/%m/%Y %H:%M' (set submitted_at.format in the mapping)"]
    rows, _ = parse(text.splitlines()[0] + "\n" + text.splitlines()[1] + "\n", mapping)
    assert rows[0].submitted_at == datetime(2027, 5, 3, 7, 30)  # Nairobi is UTC+3
    iso = {**SIMPLE, "submitted_at": {"column": "when"}}
    rows, _ = parse("when," + HEADER + "2027-05-03T10:30:00+02:00,p01,5,5,5,5,5,5,3,5,5,\n", iso)
    assert rows[0].submitted_at == datetime(2027, 5, 3, 8, 30)


def test_multi_answers_in_one_cell_or_one_column_per_option():
    options = form("follow-up-6m")[0].options  # participation
    assert split_multi(f"{options[4]}, {options[0]}", ", ", options) == [options[4], options[0]]
    assert split_multi("a b  c", " ", []) == ["a", "b", "c"]
    mapping = {"person": {"column": "who"}, "questions": {
        "barriers": {"columns": {"Cost of travel": "barriers[SQ001]", "Visas": "barriers[SQ002]",
                                 "Language": "barriers[SQ003]"}},
        "participation": {"column": "part", "separator": " ",
                          "values": {"igf": 1, "nri": 2, "icann": 3}}}}
    follow_up = [q for q in form("follow-up-6m") if q.id in ("barriers", "participation")]

    def read(text):
        return read_survey(Path("f.csv"), text.encode(), Mapping.model_validate(mapping), follow_up, PEOPLE)

    head = "who,barriers[SQ001],barriers[SQ002],barriers[SQ003],part\n"
    rows, problems = read(head + "p01,Y,,Y,igf icann\np02,N,No,,nri\n")
    assert problems == []
    assert rows[0].answers == {"barriers": ["Cost of travel", "Language"],
                               "participation": [options[0], options[2]]}
    assert rows[1].answers == {"participation": [options[1]]}
    _, problems = read(head + "p01,maybe,,,igf rir\n")
    assert [str(p) for p in problems] == [
        "f.csv: row 2, column 'barriers[SQ001]': 'maybe': expected 1, Y or Yes (chosen), or "
        "blank, 0, N or No (not chosen)",
        "f.csv: row 2, column 'part': 'igf rir': 'rir' is not an option: expected one of "
        f"{options[0]!r}, {options[1]!r}, {options[2]!r}, {options[3]!r}, {options[4]!r}, "
        f"{options[5]!r}, {options[6]!r}; the mapping recodes 'igf', 'nri', 'icann'"]


def test_mapping_problems_are_all_named(tmp_path):
    path = tmp_path / "map.yml"
    path.write_text(
        "person: {column: who}\n"
        "questions:\n"
        "  participation: part\n"
        "  role-change: {columns: {'No': c1}}\n"
        "  role: {column: r, separator: ','}\n"
        "  employer-support: {column: e, values: {lots: Loads}}\n"
        "  barriers: {columns: {Money: b1}}\n"
        "  hobby: h\n")
    _, problems = load_mapping(path, form("follow-up-6m"))
    messages = [p.message for p in problems]
    assert messages == [
        "questions.hobby: the instrument has no question 'hobby' (its questions: participation, "
        "role, organisation, role-change, country, trainings, people-trained, "
        "policy-contributions, policy-count, employer-support, barriers, topics, comments)",
        "questions: required question 'organisation' is not mapped to a column",
        "questions: required question 'country' is not mapped to a column",
        "questions: required question 'trainings' is not mapped to a column",
        "questions: required question 'people-trained' is not mapped to a column",
        "questions: required question 'policy-contributions' is not mapped to a column",
        "questions: required question 'policy-count' is not mapped to a column",
        "questions.participation.separator: 'participation' takes several answers: give the text "
        "between them in a cell (Google Forms: \", \", KoboToolbox: \" \")",
        "questions.role-change.columns: only a multi question has one column per option "
        "('role-change' is choice): give column",
        "questions.role.separator: only a multi question has several answers in a cell",
        "questions.employer-support.values.lots: 'Loads' is not an answer of 'employer-support' "
        "(its options: 'Not at all', 'A little', 'Somewhat', 'Much', 'Very much')",
        "questions.barriers.columns.Money: not an option of 'barriers' (its options: 'Cost of "
        "travel', 'Visas', 'Time away from work', 'Language', 'Not knowing how to take part', "
        "'Lack of support from my employer', 'Unreliable connection for remote participation', "
        "'Something else', ...)"]
    path.write_text("person: {column: who}\nvalues: {e: 5}\nquestions: {wig-1: w}\n")
    _, problems = load_mapping(path, form("knowledge"))
    assert "values.e: 5 is not an answer of any question" in [p.message for p in problems]
    path.write_text("person: {column: who}\nvalues: {No: 1}\nquestions: {satisfaction: s}\nextra: 1\n")
    _, problems = load_mapping(path, form("reaction"))
    assert [p.message for p in problems] == [
        "values: False: 1: YAML reads an unquoted Yes, No, On or Off as true or false: put the "
        "text in quotes, e.g. \"Yes\": 1",
        "extra: unknown field (check the spelling)"]
    path.write_text("person: {column: who}\nperson: {column: again}\n")
    _, problems = load_mapping(path, form("reaction"))
    assert "'person' is given twice" in problems[0].message


def test_the_shipped_example_mappings_fit_their_instruments():
    for csv_path, mapping_path, instrument, _ in (KOBO, LIME, FORMS):
        mapping, problems = load_mapping(mapping_path, form(instrument))
        assert problems == [], mapping_path
        assert check_mapping(mapping, mapping_path, form(instrument)) == []
    assert KOBO[0].read_bytes().startswith(b"\xef\xbb\xbf\"start\";")


HOSTILE = [b"", b",", b";", b'"', b"\n", b"\r\n", b"\x00", b"\xff", b"\xef\xbb\xbf", b"A9", b"p99",
           b"=1+1", "é".encode(), b"9" * 400, b"0001-01-01 00:00:00", b"9999-12-31 23:59:59"]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutated_exports_give_rows_or_problems_never_a_crash(data):
    csv_path, mapping_path, instrument, _ = LIME
    raw = bytearray(csv_path.read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at + data.draw(st.integers(0, 4))] = data.draw(st.sampled_from(HOSTILE))
    mapping, _ = load_mapping(mapping_path, form(instrument))
    people = [(f"p{n:02d}", "") for n in range(1, 25)]
    rows, problems = read_survey(Path("mutated.csv"), bytes(raw), mapping, form(instrument), people)
    assert bool(rows) != bool(problems)
    assert all(str(p).startswith("mutated.csv: ") for p in problems)
    for row in rows:
        assert check_answers(form(instrument), row.answers, final=False) == {}
        assert all("\x00" not in str(v) for v in row.answers.values())
