"""The alumni register out of the store (`igcb alumni export`), alumni as mentors
(`igcb mentors --alumni`), and assignment totals copied from a real nbgrader gradebook
(`igcb evaluation grades`), on SQLite and PostgreSQL (`db_url`)."""

import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from sqlalchemy import select

from course.cohort.evaluation import give_consent, join_alumni, withdraw
from course.cohort.models import AssignmentScore, AuditEntry, utcnow
from course.commands.evaluation import ALUMNI_COLUMNS
from course.grading.autograde import Autograder
from course.grading.nbgrader_course import NbgraderCourse
from course.grading.pool import Limits
from course.grading.samples import submit
from course.layout import REPO_ROOT
from cli_helpers import igcb, in_store, ok, refused

ROSTER = REPO_ROOT / "peer_review" / "examples" / "roster.csv"
TUTORS = REPO_ROOT / "peer_review" / "examples" / "tutors.csv"
CONFIG = ((REPO_ROOT / "assessments" / "nbgrader_config.py").read_text()
          + '\nc.CourseDirectory.course_id = "alumni-course"\n')
LIMITS = Limits(cell_timeout=30, memory_mb=512, output_bytes=50_000)


@pytest.fixture
def store_url(db_url):
    ok("cohort", "init", "--plan", "online-course", "--roster", ROSTER, "--tutors", TUTORS,
       "--coordinator", "coord", "--db", db_url)
    return db_url


ALUMNI = {  # id: role, organisation, country, stakeholder group, topics, will mentor
    "p01": ("=HYPERLINK(\"http://x.example\")", "Ministry of Digital Economy (Senegal)", "SN",
            "government", "digital-economy;access", True),
    "p05": ("Programme lead", "Jonction", "SN", "civil_society", "human-rights", True),
    "p08": ("Assistant professor", "National Law School", "IN", "academia", "data-protection", False),
    "p13": ("Senior analyst", "Asociación por los Derechos Civiles", "ES", "civil_society",
            "data-protection;human-rights", True),
    "p20": ("Professor", "American University of Beirut", "LB", "academia", "human-rights", True),
}


@pytest.fixture
def register(store_url):
    def join(s):
        for pid, (role, org, country, group, topics, mentor) in ALUMNI.items():
            join_alumni(s, pid, {"role": role, "organisation": org, "country": country,
                                 "stakeholder_group": group, "topics": topics,
                                 "will_mentor": mentor, "will_teach": pid == "p08"},
                        "the alumni consent")
        give_consent(s, "p20", "evaluation", "the consent")
        withdraw(s, "p20")  # leaves the register and every export

    in_store(store_url, join)
    return store_url


def test_export_writes_the_register_as_a_roster(register, tmp_path):
    out = tmp_path / "alumni.csv"
    assert f"wrote {out} (4 alumni)" in ok("alumni", "export", "-o", out, "--db", register)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ALUMNI_COLUMNS
    assert list(frame["id"]) == ["p01", "p05", "p08", "p13"]
    p13 = frame.set_index("id").loc["p13"]
    assert (p13["name"], p13["email"], p13["region"], p13["languages"], p13["timezone"]) == (
        "Lucía Fernández", "lucia.fernandez@example.org", "Latin America and Caribbean", "es;en",
        "America/Argentina/Buenos_Aires")  # from the roster
    assert (p13["country"], p13["organisation"], p13["expertise"], p13["role"]) == (
        "ES", "Asociación por los Derechos Civiles", "data-protection;human-rights", "Senior analyst")
    assert list(frame["will_mentor"]) == ["yes", "yes", "no", "yes"]
    assert list(frame["will_teach"]) == ["no", "no", "yes", "no"]
    assert frame.set_index("id").loc["p01", "role"] == "'=HYPERLINK(\"http://x.example\")"
    assert ok("roster", "check", out).startswith(f"{out}: ok, 4 people")


def test_export_of_mentors_is_a_mentors_roster(register, tmp_path):
    out = tmp_path / "mentors.csv"
    assert "(3 mentors)" in ok("alumni", "export", "-o", out, "--mentors", "--db", register)
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ALUMNI_COLUMNS + ["capacity"]
    assert list(frame["id"]) == ["p01", "p05", "p13"] and set(frame["capacity"]) == {"2"}
    assert "ok, 3 people" in ok("roster", "check", "--capacity", out)
    empty = tmp_path / "none.csv"
    in_store(register, lambda s: [withdraw(s, pid) for pid in ("p01", "p05", "p13")])
    assert "(0 mentors)" in ok("alumni", "export", "-o", empty, "--mentors", "--db", register)
    assert pd.read_csv(empty).empty


MENTEES = pd.DataFrame([
    # m01 works at Jonction, as alumnus p05 does: never p05's mentee
    ["m01", "Awa Sarr", "awa@example.org", "civil_society", "Africa", "SN", "Jonction", "fr",
     "Africa/Dakar", "human-rights"],
    ["m02", "Inés Rojas", "ines@example.org", "government", "Latin America and Caribbean", "CL",
     "Ministerio", "es", "America/Santiago", "data-protection"],
    ["m03", "Ken Obi", "ken@example.org", "academia", "Africa", "NG", "Uni Lagos", "en",
     "Africa/Lagos", "human-rights"],
    ["m04", "Rami Aziz", "rami@example.org", "private_sector", "Arab States", "JO", "Zain", "ar",
     "Asia/Amman", "access"],
], columns=["id", "name", "email", "stakeholder_group", "region", "country", "organisation",
            "languages", "timezone", "expertise"])


def test_mentors_from_the_alumni_register(register, tmp_path):
    mentees = tmp_path / "mentees.csv"
    MENTEES.to_csv(mentees, index=False)
    out = tmp_path / "matches.csv"
    printed = ok("mentors", mentees, "--alumni", "--db", register, "-o", out)
    assert "3 of 4 mentees matched" in printed and "unmatched" in printed and "m04" in printed
    matches = dict(pd.read_csv(out, dtype=str, keep_default_na=False)[["mentee_id", "mentor_id"]].values)
    assert matches["m01"] == "p01", "shares French, another organisation than Jonction"
    assert matches["m02"] == "p13", "the only alumnus speaking Spanish"
    assert matches["m03"] in ("p05", "p13") and matches["m04"] == ""
    assert pd.Series(list(matches.values())).value_counts().max() <= 2

    # a mentors file as well: its rows come first (p13 there has no room), tutors speak Arabic
    extra = pd.read_csv(TUTORS, dtype=str)
    p13 = pd.read_csv(ROSTER, dtype=str).set_index("id").loc[["p13"]].reset_index().assign(capacity="0")
    both = tmp_path / "mentors.csv"
    pd.concat([extra, p13]).to_csv(both, index=False)
    ok("mentors", mentees, both, "--alumni", "--db", register, "-o", out)
    matches = dict(pd.read_csv(out, dtype=str, keep_default_na=False)[["mentee_id", "mentor_id"]].values)
    assert "p13" not in matches.values() and matches["m04"] == "t01"

    assert "give MENTORS_CSV, or --alumni" in refused("mentors", mentees, "-o", out)
    assert "give --alumni too" in refused("mentors", mentees, both, "--db", register, "-o", out)
    in_store(register, lambda s: [withdraw(s, pid) for pid in ("p01", "p05", "p13")])
    assert "no mentors: no one in the alumni register is willing to mentor" in refused(
        "mentors", mentees, "--alumni", "--db", register, "-o", out)


# --- assignment totals from nbgrader's gradebook ----------------------------------------------

def _cell(grade_id: str, source: str, points: int | None = None):
    test = points is not None
    meta = {"grade": test, "solution": not test, "locked": test, "grade_id": grade_id,
            "schema_version": 3, "task": False, **({"points": points} if test else {})}
    cell = new_code_cell(source, metadata={"nbgrader": meta})
    cell["id"] = grade_id
    return cell


def _assignment(root: Path, name: str) -> None:
    """A small autograded assignment: square (2 points) and double (1 point)."""
    folder = root / "source" / name
    folder.mkdir(parents=True)
    cells = [
        _cell("answer_square", "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"),
        _cell("test_square", "assert square(3) == 9", 2),
        _cell("answer_double", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
        _cell("test_double", "assert double(4) == 8", 1),
    ]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}}), str(folder / "work.ipynb"))


SUBMISSIONS = {  # assignment: {student: kind}; quiz is not an assignment of the plan
    "what-is-ig": {"p01": "correct", "p02": "partial", "t01": "correct", "zed": "correct"},
    "infrastructure": {"p01": "correct", "p03": "empty"},
    "quiz": {"p04": "correct"},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gradebook") / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text(CONFIG)
    for name in SUBMISSIONS:
        _assignment(root, name)
        result = igcb("assignments", "release", name, "--course-dir", root)
        assert result.exit_code == 0, result.output
    course = NbgraderCourse.open(root)
    for name, students in SUBMISSIONS.items():
        for student, kind in students.items():
            submit(course, name, student, kind)
        outcomes = Autograder(course, name, workers=2, limits=LIMITS).run()
        assert sorted(o.student for o in outcomes if o.status == "graded") == sorted(students)
    return root


def test_grades_are_copied_from_the_gradebook(graded, store_url, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(graded, root)
    in_store(store_url, lambda s: s.add(AssignmentScore(person_id="p09", assignment="what-is-ig",
                                                        score=1, max_score=3, copied_at=utcnow())))
    out = ok("evaluation", "grades", "--course-root", root, "--db", store_url)
    assert "copied 4 assignment totals of 3 participants: what-is-ig 2, infrastructure 2" in out
    assert "left out (not participants in the store): t01, zed" in out
    assert "not in the gradebook yet: capacity-development, cybersecurity" in out
    scores = in_store(store_url, lambda s: {(r.person_id, r.assignment): (r.score, r.max_score)
                                            for r in s.scalars(select(AssignmentScore))})
    assert scores == {("p01", "what-is-ig"): (3.0, 3.0), ("p02", "what-is-ig"): (2.0, 3.0),
                      ("p01", "infrastructure"): (3.0, 3.0), ("p03", "infrastructure"): (0.0, 3.0)}
    audit = in_store(store_url, lambda s: s.scalars(select(AuditEntry.detail).where(
        AuditEntry.action == "evaluation.grades")).one())
    assert audit["copied"] == 4 and audit["left_out"] == ["t01", "zed"]

    (root / "gradebook.db").unlink()
    before = scores
    err = refused("evaluation", "grades", "--course-root", root, "--db", store_url)
    assert "no gradebook yet" in err and "gradebook.db" in err
    assert not (root / "gradebook.db").exists(), "nothing created on the way"
    assert in_store(store_url, lambda s: {(r.person_id, r.assignment): (r.score, r.max_score)
                                          for r in s.scalars(select(AssignmentScore))}) == before
