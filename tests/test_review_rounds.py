"""Review rounds from nbgrader: `igcb reviews open` and `igcb reviews close`, end to end.

A tiny nbgrader course with a copy of a real policy-brief assignment, autograded by the real
autograder; a real cohort store (SQLite file, and PostgreSQL through `db_url`); reviews written
into the store as the room writes them.
"""

import shutil
from datetime import datetime
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from course.cli import main
from course.cohort.db import StoreError, open_store
from course.cohort.models import (Allocation, AuditEntry, CalibrationAnswer, CalibrationSample,
                                  Flag, Membership, Person, Rating, Review, ReviewerRecord,
                                  ReviewItem, ReviewRound, Setting, StudyGroup, Submission,
                                  TutorDecision, utcnow)
from course.cohort.rounds import aggregate_round, close_round, find_round, open_round
from course.errors import UserError
from course.grading.autograde import Autograder
from course.grading.nbgrader_course import NbgraderCourse
from course.grading.pool import Limits
from course.grading.samples import submit
from course.grading.written import (anonymise, find_written_cell, gradebook_manual_scores,
                                    load_rubric_file, parse_rubric, write_manual_scores,
                                    written_answers)
from course.layout import REPO_ROOT

A = "brief"
POLICY_BRIEF = REPO_ROOT / "assessments" / "source" / "what-is-ig" / "policy-brief.ipynb"
CONFIG = ((REPO_ROOT / "assessments" / "nbgrader_config.py").read_text()
          + '\nc.CourseDirectory.course_id = "rounds-course"\n')
LIMITS = Limits(cell_timeout=10, memory_mb=512, output_bytes=50_000)

PEOPLE = {  # id: (name, stakeholder group)
    "ana": ("Ana Silva", "government"),
    "ben": ("Ben Okafor", "civil_society"),
    "carla": ("Carla Mendes", "academia"),
    "dev": ("Dev Patel", "technical_community"),
    "eve": ("Eve Laurent", "private_sector"),
    "femi": ("Femi Adeyemi", "intergovernmental"),
    "gus": ("Gus Berg", "government"),
    "hana": ("Hana Sato", "academia"),
}
ANSWERS = {
    "ana": "I am Ana Silva (ana@example.org, user ana) and I recommend that the national IGF "
           "initiative be convened by a multistakeholder committee; as Silva's ministry sees it, "
           "no group should hold a majority.",
    "ben": "Civil society should convene the initiative, with rotating chairs and public minutes.",
    "carla": "A university can host the secretariat: neutral ground for the six stakeholder groups.",
    "dev": "The technical community brings bottom-up processes; the committee should publish its "
           "funding and link to the regional IGF.",
    "eve": "Business wants regulatory certainty: the initiative should invite chambers of commerce.",
    "femi": "Regional bodies can connect the national initiative to the global IGF.",
}
LATE = "The ministry should not lead alone: an open call for members keeps the initiative broad."
TRUE = {"ana": 8, "ben": 6, "carla": 4, "dev": 9, "eve": 5, "femi": 7, "hana": 6}
BIAS = {"ana": 0, "ben": 1, "carla": -1, "dev": 0, "eve": -2, "femi": 1, "hana": 0}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _set_answer(course: NbgraderCourse, student: str, text: str) -> None:
    path = course.folder("submitted", student, A) / "policy-brief.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "policy_brief":
            cell.source = text
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A course root: `brief` released, six written answers and an unchanged one, autograded;
    `brief2` (no submissions) and `quiz` (no written answer) only in source/."""
    root = tmp_path_factory.mktemp("graded") / "course"
    for name in (A, "brief2"):
        (root / "source" / name).mkdir(parents=True)
        shutil.copyfile(POLICY_BRIEF, root / "source" / name / "policy-brief.ipynb")
    quiz = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "x = 1", metadata={"nbgrader": {"grade": False, "solution": True, "locked": False,
                                        "grade_id": "x", "schema_version": 3, "task": False}})])
    (root / "source" / "quiz").mkdir()
    nbformat.write(quiz, str(root / "source" / "quiz" / "quiz.ipynb"))
    (root / "nbgrader_config.py").write_text(CONFIG)
    released = invoke("assignments", "release", A, "--course-dir", root)
    assert released.exit_code == 0, released.output
    course = NbgraderCourse.open(root)
    for student in [*ANSWERS, "gus"]:
        submit(course, A, student, "empty")
        if student in ANSWERS:
            _set_answer(course, student, ANSWERS[student])
    outcomes = Autograder(course, A, workers=2, limits=LIMITS).run()
    assert sorted(o.student for o in outcomes if o.status == "graded") == sorted([*ANSWERS, "gus"])
    return root


@pytest.fixture
def course_root(graded, tmp_path) -> Path:
    root = tmp_path / "state" / "course"
    shutil.copytree(graded, root)
    return root


def make_store(url: str, plan: str = "online-course"):
    """A cohort store with the participants (and a tutor and the coordinator)."""
    store = open_store(url)
    with store.session() as s:
        s.add(Setting(key="course", value=plan))
        s.add(Setting(key="plan", value=plan))
        for pid, (name, group) in PEOPLE.items():
            s.add(Person(id=pid, role="participant", name=name, email=f"{pid}@example.org",
                         stakeholder_group=group, region="Europe", country="DE",
                         organisation=f"Org of {pid}", languages="en;fr", timezone="Europe/Berlin"))
        s.add(Person(id="tina", role="tutor", name="Tina Tutor", languages="en", capacity=3))
        s.add(Person(id="coord", role="coordinator", name="Coordinator"))
    return store


def counts(store) -> dict:
    with store.session() as s:
        return {m.__name__: s.scalar(select(func.count()).select_from(m))
                for m in (ReviewRound, Submission, Allocation, CalibrationSample, AuditEntry)}


def _items(total: float, criteria: list[str]) -> list[float]:
    """Criterion scores (0-2 each) adding up to `total`."""
    out, left = [], total
    for _ in criteria:
        out.append(min(2, left))
        left -= out[-1]
    return out


def write_review(s, code: str, total: float, criteria: list[str], state: str = "submitted") -> None:
    """A review as the room writes it: Review, then one ReviewItem per criterion."""
    now = utcnow()
    s.add(Review(review_code=code, state=state, total=total if state == "submitted" else None,
                 updated_at=now, submitted_at=now if state == "submitted" else None))
    s.flush()
    for cid, score in zip(criteria, _items(total, criteria)):
        s.add(ReviewItem(review_code=code, criterion=cid, score=score, comment="A fair point, well argued."))


def tasks(store) -> dict[str, tuple[str, str]]:
    """review code -> (author, reviewer)."""
    with store.session() as s:
        rows = s.execute(select(Allocation.review_code, Submission.author_id, Allocation.reviewer_id)
                         .join(Submission, Submission.id == Allocation.submission_id)).all()
    return {code: (author, reviewer) for code, author, reviewer in rows}


# -- the nbgrader glue on its own ----------------------------------------------

def test_written_cell_rubric_and_answers(course_root):
    assert find_written_cell(course_root / "source" / A) == ("policy-brief", "policy_brief", 10.0)
    rubric = parse_rubric(course_root / "source" / A)
    assert [c["id"] for c in rubric["criteria"]] == [
        "recommendation", "concepts", "stakeholder-perspectives", "evidence-and-context", "clarity"]
    assert rubric["criteria"][0]["levels"][0] == {
        "points": 2, "description": "one clear recommendation, with who does what next"}
    assert [lvl["points"] for lvl in rubric["criteria"][4]["levels"]] == [2, 1, 0]
    assert rubric["min_comment"] == 40
    answers, left_out = written_answers(course_root, A, "policy-brief", "policy_brief")
    assert dict(zip(answers["author_id"], answers["text"])) == ANSWERS
    assert list(left_out) == ["gus"] and "unchanged" in left_out["gus"]
    with pytest.raises(UserError, match="'quiz' has no written answer cell: a markdown cell with nbgrader grade and solution"):
        find_written_cell(course_root / "source" / "quiz")
    twice = course_root / "source" / "twice"
    twice.mkdir()
    shutil.copyfile(POLICY_BRIEF, twice / "one.ipynb")
    shutil.copyfile(POLICY_BRIEF, twice / "two.ipynb")
    with pytest.raises(UserError, match="2 written answer cells .*one.ipynb: policy_brief, two.ipynb: policy_brief"):
        find_written_cell(twice)


def test_anonymise_names_ids_and_emails():
    text = "Ana Silva (ana@example.org, p-17) wrote; SILVA agrees, Anabel does not; ana."
    assert anonymise(text, "Ana Silva", "p-17", "ana@example.org") == (
        "[author] ([author], [author]) wrote; [author] agrees, Anabel does not; [author].")
    assert anonymise("Li met Liam", "Li Wu", "x9", "") == "Li met Liam"  # parts under 3 letters stay
    assert anonymise("Li Wu met Liam", "Li Wu", "x9", "") == "[author] met Liam"


def test_rubric_file_errors_name_the_file_and_field(tmp_path):
    good = tmp_path / "rubric.yml"
    good.write_text("criteria:\n  - id: argument\n    title: Argument\n    levels:\n"
                    "      - {points: 3, description: strong}\n      - {points: 0, description: none}\n")
    assert load_rubric_file(good) == {"criteria": [{"id": "argument", "title": "Argument", "levels": [
        {"points": 3, "description": "strong"}, {"points": 0, "description": "none"}]}], "min_comment": 40}
    bad = tmp_path / "rubric.json"
    bad.write_text('{"criteria": [{"id": "a", "title": "A", "levels": [{"points": "two"}]}]}')
    with pytest.raises(UserError, match=r"rubric.json: criteria\[1\].levels\[1\].points: expected a number"):
        load_rubric_file(bad)
    bad.write_text('{"criteria": []}')
    with pytest.raises(UserError, match="rubric.json: criteria: expected a non-empty list"):
        load_rubric_file(bad)


def test_gradebook_reads_and_writes_manual_scores(course_root):
    assert gradebook_manual_scores(course_root, A, "policy-brief", "policy_brief") == {
        s: None for s in [*ANSWERS, "gus"]}
    written, skipped = write_manual_scores(course_root, A, "policy-brief", "policy_brief",
                                           {"ana": 7.5, "nobody": 3})
    assert (written, skipped) == (["ana"], ["nobody"])
    assert gradebook_manual_scores(course_root, A, "policy-brief", "policy_brief")["ana"] == 7.5
    # a course never autograded: everyone skipped, and no gradebook is created on the way
    fresh = course_root.parent / "fresh"
    (fresh / "source").mkdir(parents=True)
    shutil.copyfile(course_root / "nbgrader_config.py", fresh / "nbgrader_config.py")
    assert gradebook_manual_scores(fresh, A, "policy-brief", "policy_brief") == {}
    assert write_manual_scores(fresh, A, "policy-brief", "policy_brief", {"ana": 2}) == ([], ["ana"])
    assert not (fresh / "gradebook.db").exists()


# -- open and close, through the command ---------------------------------------

def test_open_late_close_and_the_gradebook(course_root, db_url):
    store = make_store(db_url)
    args = ("--db", db_url, "--course-root", course_root)
    opened = invoke("reviews", "open", A, "--due", "2024-05-01", *args)
    assert opened.exit_code == 0, opened.output
    assert "opened review round 'brief' (open): 6 submissions, 18 review tasks" in opened.output
    assert "self reviews: 0" in opened.output and "left out gus: answer unchanged" in opened.output
    with store.session() as s:
        rnd = find_round(s, A)
        assert (rnd.state, rnd.k, rnd.source, rnd.notebook, rnd.grade_id, rnd.points) == (
            "open", 3, "nbgrader", "policy-brief", "policy_brief", 10.0)
        assert rnd.due == datetime(2024, 5, 1, 23, 59, 59)
        assert rnd.rubric == parse_rubric(course_root / "source" / A)
        texts = {sub.author_id: sub.text for sub in s.scalars(select(Submission))}
    assert sorted(texts) == sorted(ANSWERS)
    assert "[author]" in texts["ana"]
    assert not any(word in texts["ana"] for word in ("Ana", "Silva", "ana@example.org", "user ana"))
    assert texts["ben"] == ANSWERS["ben"]
    first = tasks(store)
    per_author = {a: sum(1 for au, _ in first.values() if au == a) for a in ANSWERS}
    per_reviewer = {a: sum(1 for _, r in first.values() if r == a) for a in ANSWERS}
    assert per_author == {a: 3 for a in ANSWERS} and per_reviewer == {a: 3 for a in ANSWERS}
    assert all(author != reviewer for author, reviewer in first.values())
    assert len({(a, r) for a, r in first.values()}) == 18

    # a late submission: only it is allocated; every earlier task stays as it was (also those
    # of eve, who withdrew meanwhile and gets no new task)
    with store.session() as s:
        s.get(Person, "eve").active = False
    course = NbgraderCourse.open(course_root)
    submit(course, A, "hana", "empty")
    _set_answer(course, "hana", LATE)
    late = invoke("reviews", "open", A, *args)
    assert late.exit_code == 0, late.output
    assert "already open: added 1 late submissions (hana) with 3 new review tasks" in late.output
    second = tasks(store)
    assert {c: second[c] for c in first} == first
    new = {c: t for c, t in second.items() if c not in first}
    assert len(new) == 3 and all(a == "hana" and r not in ("hana", "eve") for a, r in new.values())
    again = invoke("reviews", "open", A, *args)
    assert again.exit_code == 0 and "nothing changed" in again.output
    assert tasks(store) == second

    # reviews, as the room writes them (femi's submission gets only two)
    criteria = [c["id"] for c in parse_rubric(course_root / "source" / A)["criteria"]]
    outlier = next(c for c, (a, r) in first.items() if a == "carla")
    draft = min(c for c, (a, _) in first.items() if a == "femi")
    with store.session() as s:
        for code, (author, reviewer) in second.items():
            if code == draft:
                write_review(s, code, 5, criteria, state="draft")
                continue
            total = 10 if code == outlier else min(10, max(0, TRUE[author] + BIAS[reviewer]))
            write_review(s, code, total, criteria)
        s.flush()
        s.add(Flag(review_code=outlier, reason="insulting", outcome="upheld", decided_by="tina"))
        for code, (author, _) in list(first.items())[:4]:
            s.add(Rating(review_code=code, helpful=author != "dev"))
    # a tutor grades ben in the formgrader before the round closes
    write_manual_scores(course_root, A, "policy-brief", "policy_brief", {"ben": 7.0})

    closed = invoke("reviews", "close", A, *args)
    assert closed.exit_code == 0, closed.output
    assert "closed round 'brief'" in closed.output
    assert ("summary: 7 scored, " in closed.output and "5 written to the gradebook, 1 kept a tutor's grade, "
            "1 skipped (not autograded yet: hana)" in closed.output)
    with store.session() as s:
        rnd = find_round(s, A)
        assert rnd.state == "closed" and rnd.closed_at is not None
        subs = {sub.author_id: sub for sub in s.scalars(select(Submission))}
        records = {r.reviewer_id: r for r in s.scalars(select(ReviewerRecord))}
        outlier_reviewer = s.get(Allocation, outlier).reviewer_id
    ben = subs["ben"]
    assert (ben.score, ben.low, ben.high, ben.score_source, ben.flags) == (7.0, 7.0, 7.0, "tutor", "")
    assert "fewer than k reviews" in subs["femi"].flags and subs["femi"].n_reviews == 2
    assert subs["carla"].n_reviews == 2 and "fewer than k reviews" in subs["carla"].flags  # the upheld flag's review left out
    for author in ("ana", "carla", "dev", "eve", "femi", "hana"):
        sub = subs[author]
        assert sub.score_source == "peer" and sub.low <= sub.score <= sub.high
        assert 0 <= sub.low and sub.high <= 10
        assert abs(sub.score - TRUE[author]) < 2, (author, sub.score)
    assert subs["dev"].score > subs["ana"].score > subs["carla"].score
    assert set(records) == {r for _, r in second.values()} == set(ANSWERS)  # hana came late: no tasks
    assert records[outlier_reviewer].flags_upheld == 1 and records[outlier_reviewer].distrusted
    assert "flag upheld" in records[outlier_reviewer].reason
    assert sum(r.helpful for r in records.values()) + sum(r.unhelpful for r in records.values()) == 4
    submitted = [r for c, (a, r) in second.items() if c != draft]
    assert {rid: r.n_reviews for rid, r in records.items()} == {rid: submitted.count(rid) for rid in records}
    assert records["eve"].bias < 0 < records["ben"].bias
    reviewed = {a for c, (a, r) in second.items() if r == outlier_reviewer and c not in (outlier, draft)}
    peer = {a for a in reviewed if subs[a].score_source == "peer"}
    assert peer and all("a distrusted reviewer" in subs[a].flags for a in peer)

    book = gradebook_manual_scores(course_root, A, "policy-brief", "policy_brief")
    assert book["ben"] == 7.0, "a tutor's grade in the formgrader is kept"
    assert book["gus"] is None
    for author in ("ana", "carla", "dev", "eve", "femi"):
        assert book[author] == pytest.approx(subs[author].score, abs=1e-3)  # 10 rubric points = 10 cell points
        assert subs[author].gradebook_written == book[author]
    assert ben.gradebook_written is None and subs["hana"].gradebook_written is None
    assert "hana" not in book, "not autograded: not in the gradebook"

    # aggregating again changes nothing; a tutor's later grade in the formgrader wins
    with store.session() as s:
        aggregate_round(s, A)
        assert {x.author_id: (x.score, x.low, x.high, x.flags) for x in s.scalars(select(Submission))} == {
            a: (x.score, x.low, x.high, x.flags) for a, x in subs.items()}
    write_manual_scores(course_root, A, "policy-brief", "policy_brief", {"dev": 3.0})
    reclosed = invoke("reviews", "close", A, *args)
    assert reclosed.exit_code == 0 and "aggregated again" in reclosed.output, reclosed.output
    with store.session() as s:
        dev = s.scalar(select(Submission).where(Submission.author_id == "dev"))
        assert (dev.score, dev.score_source) == (3.0, "tutor")
    book = gradebook_manual_scores(course_root, A, "policy-brief", "policy_brief")
    assert book["dev"] == 3.0 and book["ben"] == 7.0

    # a closed round takes no more submissions
    before = counts(store)
    refused = invoke("reviews", "open", A, *args)
    assert refused.exit_code == 2 and "round 'brief' was closed" in refused.output
    assert counts(store) == before
    store.close()


def test_tutor_decisions_anchors_and_calibration(tmp_path, db_url):
    """A CSV round with calibration: tutor scores anchor submissions and teach the model.

    The plan (awareness-day) asks for 2 reviewers per submission from the author's own group."""
    store = make_store(db_url, plan="awareness-day")
    with store.session() as s:
        s.add_all([StudyGroup(label="1", language="en"), StudyGroup(label="2", language="en")])
        s.flush()
        s.add_all([Membership(person_id=p, group_label="1" if i < 4 else "2") for i, p in enumerate(PEOPLE)])
    csv = tmp_path / "subs.csv"
    lines = ["submission_id,author_id,language,text"]
    lines += [f"s-{a},{a},en,\"{t}\"" for a, t in ANSWERS.items()]
    lines += ["s-hana,hana,fr,Une initiative ouverte à tous les groupes."]
    csv.write_text("\n".join(lines) + "\n")
    opened = invoke("reviews", "open", "essay", "--from-csv", csv, "--calibration", "2",
                    "--due", "2099-01-01T12:00+02:00", "--seed", "4", "--db", db_url)
    assert opened.exit_code == 0, opened.output
    assert "(calibration)" in opened.output and "2 calibration samples" in opened.output
    assert "14 review tasks" in opened.output and "reviews from another study group: 0.0%" in opened.output
    with store.session() as s:
        rnd = find_round(s, "essay")
        assert rnd.state == "calibration" and rnd.source == "csv" and rnd.k == 2
        assert rnd.due == datetime(2099, 1, 1, 10, 0)
        assert [c["title"] for c in rnd.rubric["criteria"]][0] == "Recommendation"
        samples = s.scalars(select(CalibrationSample)).all()
        assert len(samples) == 2 and all(x.language == "en" for x in samples)
        subs = {x.id: x for x in s.scalars(select(Submission))}
        assert all(x.text == subs[x.submission_id].text for x in samples)
        criteria = [c["id"] for c in rnd.rubric["criteria"]]
        for x in samples:
            x.tutor_scores = dict(zip(criteria, _items(TRUE[subs[x.submission_id].author_id], criteria)))
            x.scored_by = "tina"
        # every participant answers the samples (not their own): eve is far too harsh, and gus,
        # who has no review task, too generous
        for x in samples:
            for reviewer in PEOPLE:
                if subs[x.submission_id].author_id == reviewer:
                    continue
                off = {"eve": -4, "gus": 3}.get(reviewer, 0)
                total = min(10, max(0, TRUE[subs[x.submission_id].author_id] + off))
                mine = dict(zip(criteria, _items(total, criteria)))
                error = sum(abs(mine[c] - x.tutor_scores[c]) for c in criteria) / len(criteria)
                s.add(CalibrationAnswer(sample_id=x.id, reviewer_id=reviewer, scores=mine, error=error))
        rnd.state = "open"
        sampled = {subs[x.submission_id].author_id for x in samples}
        allocs = s.execute(select(Allocation.review_code, Submission.author_id, Allocation.reviewer_id)
                           .join(Submission, Submission.id == Allocation.submission_id)).all()
        for code, author, reviewer in allocs:
            write_review(s, code, min(10, max(0, TRUE[author] + BIAS[reviewer])), criteria)
        s.flush()
        femi = next(x for x in subs.values() if x.author_id == "femi")
        s.add(TutorDecision(submission_id=femi.id, tutor_id="tina", score=9.0, note="strong"))

    early = invoke("reviews", "close", "essay", "--db", db_url)
    assert early.exit_code == 2 and "left (--force closes it now)" in early.output
    assert "grace until 2099-01-03 10:00 UTC" in early.output
    with store.session() as s:
        assert find_round(s, "essay").state == "open"
    closed = invoke("reviews", "close", "essay", "--force", "--db", db_url)
    assert closed.exit_code == 0, closed.output
    assert "gradebook" not in closed.output.split("summary:")[1]
    with store.session() as s:
        subs = {x.author_id: x for x in s.scalars(select(Submission))}
        records = {r.reviewer_id: r for r in s.scalars(select(ReviewerRecord))}
    assert (subs["femi"].score, subs["femi"].score_source) == (9.0, "tutor")
    for author in sampled - {"femi"}:
        assert (subs[author].score, subs[author].score_source) == (TRUE[author], "tutor")
    assert records["eve"].calibration_error > 0.5 and records["eve"].distrusted
    assert "calibration error" in records["eve"].reason
    assert records["ana"].calibration_error == 0 and not records["ana"].distrusted
    # calibration answers are reviews of anchored pseudo-submissions: the model learns from them
    assert records["gus"].n_reviews == 0 and records["gus"].bias > 0.5
    assert records["eve"].bias < records["ana"].bias
    for author, sub in subs.items():
        if sub.score_source == "peer":
            assert abs(sub.score - TRUE[author]) < 1.5, (author, sub.score)
    store.close()


def test_close_with_no_reviews_and_no_due_date(tmp_path):
    url = f"sqlite:///{tmp_path}/cohort.sqlite"
    store = make_store(url)
    frame = pd.DataFrame({"source_id": list(ANSWERS), "author_id": list(ANSWERS),
                         "language": "", "text": list(ANSWERS.values())})
    with store.session() as s:
        report = open_round(s, "r1", frame, parse_rubric(POLICY_BRIEF), 3, None, 0, 1, "coord", "csv")
        assert report.created and report.tasks == 18
    with store.session() as s:
        with pytest.raises(StoreError, match="round 'r1' is already open with another rubric"):
            open_round(s, "r1", frame, {"criteria": [], "min_comment": 0}, 3, None, 0, 1, "coord", "csv")
        result = close_round(s, "r1", "coord")
        assert result.aggregate.no_reviews == sorted(ANSWERS)
    with store.session() as s:
        assert {x.flags for x in s.scalars(select(Submission))} == {"no reviews"}
        with pytest.raises(StoreError, match="no review round 'r2'"):
            close_round(s, "r2", "coord")
        with pytest.raises(StoreError, match="round 'r1' was closed on .*: it takes no more submissions"):
            open_round(s, "r1", frame, parse_rubric(POLICY_BRIEF), 3, None, 0, 1, "coord", "csv")
    store.close()


# -- bad input: one clear message, exit status 2, nothing changed --------------

def test_bad_input_changes_nothing(course_root, tmp_path):
    state = course_root.parent
    store = make_store(f"sqlite:///{state}/cohort.sqlite")
    before = counts(store)

    def refused(*args, says):
        result = invoke("reviews", *args, "--state", state)  # the course root: <state>/course
        assert result.exit_code == 2, result.output
        assert says in result.output, result.output
        assert "Traceback" not in result.output
        assert counts(store) == before

    refused("open", "quiz", says="assignment 'quiz' has no written answer cell: a markdown cell with nbgrader grade and solution")
    refused("open", "brief2", says="no collected submissions of 'brief2'")
    refused("open", "nope", says="unknown assignment 'nope'")
    refused("open", A, "--due", "next week", says="--due 'next week': expected YYYY-MM-DD")
    refused("close", A, says="no review round 'brief'")
    csv = tmp_path / "subs.csv"
    csv.write_text("submission_id,author_id,language\ns1,ana,en\n")
    refused("open", "essay", "--from-csv", csv, says="subs.csv: row 1, column text: missing column")
    csv.write_text("submission_id,author_id,language,text\ns1,ana,en,Fine.\ns2,zed,en,Who?\ns3,tina,en,Tutor.\n")
    refused("open", "essay", "--from-csv", csv, says="subs.csv: row 3: author_id 'zed': an active participant")
    refused("open", "essay", "--from-csv", csv, says="row 4: author_id 'tina'")
    csv.write_text("submission_id,author_id,language,text\ns1,ana,en,Fine.\ns1,ben,xx,\n")
    refused("open", "essay", "--from-csv", csv, says="row 3, column submission_id: 's1': a unique id (also on row 2)")
    refused("open", "essay", "--from-csv", csv, says="row 3, column text: the submission's text is empty")
    rubric = tmp_path / "rubric.yml"
    rubric.write_text("criteria:\n  - title: Argument\n    levels: []\n")
    refused("open", A, "--rubric", rubric, says="rubric.yml: criteria[1].levels: expected a non-empty list")
    course = NbgraderCourse.open(course_root)
    submit(course, A, "zed", "empty")
    _set_answer(course, "zed", "Not a participant.")
    refused("open", A, says="submitted/zed/brief: author_id 'zed': an active participant of the cohort store is required")
    shutil.rmtree(course.folder("submitted", "zed"))
    # an allocation that cannot be made rolls everything back
    refused("open", A, "-k", "6", says="cannot give every submission 6 reviewers")

    ok = invoke("reviews", "open", A, "--state", state)
    assert ok.exit_code == 0, ok.output
    store.close()


def test_noisy_reviews_get_wide_intervals(tmp_path):
    """Reviews far apart: the 90% interval widens, and past 30% of the scale it is flagged."""
    store = make_store(f"sqlite:///{tmp_path}/cohort.sqlite")
    authors = ["ana", "ben", "carla", "dev", "eve", "femi"]
    true = dict(zip(authors, [0, 10, 2, 8, 5, 9]))
    frame = pd.DataFrame({"source_id": authors, "author_id": authors, "language": "",
                          "text": [ANSWERS[a] for a in authors]})
    rubric = parse_rubric(POLICY_BRIEF)
    criteria = [c["id"] for c in rubric["criteria"]]
    with store.session() as s:
        open_round(s, "r", frame, rubric, 3, None, 0, 0, "coord", "csv")
    rng = np.random.default_rng(1)
    with store.session() as s:
        for code, (author, _) in sorted(tasks(store).items()):
            write_review(s, code, int(np.clip(round(true[author] + rng.normal(0, 4)), 0, 10)), criteria)
    with store.session() as s:
        aggregate_round(s, "r")
        subs = s.scalars(select(Submission)).all()
    assert any("wide interval" in x.flags for x in subs)
    for x in subs:
        assert ("wide interval" in x.flags) == (x.high - x.low > 3), (x.author_id, x.low, x.high, x.flags)
        assert 0 <= x.low <= x.score <= x.high <= 10
    store.close()
