"""`igcb cohort`: the cohort store's people, study groups, tutors, rota, status and export,
on a real SQLite file and a real PostgreSQL database (the `db_url` fixture)."""

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from sqlalchemy import select

from course.cli import main
from course.cohort.db import open_store
from course.cohort.models import (Allocation, AuditEntry, Base, CalibrationSample, Consent,
                                  EvaluationAnswer, MailSetting, Review, ReviewRound,
                                  Submission, utcnow)
from course.cohort.structure import (groups_frame, people_frame, rota_frame, table_frames,
                                     tutors_frame)
from course.commands.cohort import _plan_sessions, read_roster
from course.plans import load_named_plan
from peer_review import groups as grouping, rota as rotas, tutors as tutoring

EXAMPLES = Path(__file__).resolve().parent.parent / "peer_review" / "examples"
ROSTER, TUTORS = EXAMPLES / "roster.csv", EXAMPLES / "tutors.csv"
PLAN = "online-course"


def igcb(*args, env=None):
    """Run `igcb ARGS` in-process, with no store or admin taken from the environment."""
    base = {"IGCB_DB_URL": None, "IGCB_HUB_ADMIN": None}
    return CliRunner().invoke(main, [str(a) for a in args], env={**base, **(env or {})},
                              catch_exceptions=False)


def ok(*args, **kwargs):
    result = igcb(*args, **kwargs)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args, **kwargs):
    """Run a command that must end with exit 2 and one message (no traceback); its stderr."""
    result = igcb(*args, **kwargs)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr


def init(db_url, roster=ROSTER, tutors=TUTORS, *extra):
    return ok("cohort", "init", "--plan", PLAN, "--roster", roster, "--tutors", tutors,
              "--coordinator", "coord", "--db", db_url, *extra)


def read(db_url, reader, *args):
    store = open_store(db_url, create=False)
    try:
        with store.session() as session:
            return reader(session, *args)
    finally:
        store.close()


def snapshot(db_url) -> dict[str, pd.DataFrame]:
    return read(db_url, table_frames)


def same_snapshot(before, after) -> None:
    assert before.keys() == after.keys()
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def write_roster(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def add_review_work(db_url, author: str, reviewer_tasks: dict[str, int], name="infrastructure",
                    due=None) -> None:
    """A review round in which `author` submitted and each reviewer has some review tasks."""
    store = open_store(db_url, create=False)
    try:
        with store.session() as s:
            rnd = ReviewRound(name=name, rubric={"criteria": [], "min_comment": 0}, due=due)
            s.add(rnd)
            s.flush()
            sub = Submission(round_id=rnd.id, author_id=author, text="My answer.")
            s.add(sub)
            s.flush()
            i = 0
            for reviewer, n in reviewer_tasks.items():
                for _ in range(n):
                    extra = Submission(round_id=rnd.id, author_id=f"p{20 + i}", text="Another answer.")
                    s.add(extra)
                    s.flush()
                    s.add(Allocation(review_code=f"R-{name[:3].upper()}{i:05d}", round_id=rnd.id,
                                     submission_id=extra.id, reviewer_id=reviewer))
                    i += 1
            s.add(Allocation(review_code=f"R-{name[:3].upper()}X0000", round_id=rnd.id,
                             submission_id=sub.id, reviewer_id="p19"))
    finally:
        store.close()


# --- init ----------------------------------------------------------------------------------

def test_init_loads_the_rosters_and_settings(db_url):
    out = init(db_url)
    assert "added 28:" in out and "24 participants, 3 tutors, coordinator coord" in out
    expected = read_roster(ROSTER)
    stored = read(db_url, people_frame, "participant")
    pd.testing.assert_frame_equal(stored, expected[stored.columns.tolist()])
    staff = read(db_url, people_frame, "tutor")
    assert staff["capacity"].tolist() == read_roster(TUTORS, capacity=True)["capacity"].tolist()
    tables = snapshot(db_url)
    assert dict(zip(tables["settings"]["key"], tables["settings"]["value"]))["plan"] == PLAN
    assert dict(zip(tables["settings"]["key"], tables["settings"]["value"]))["course"] == PLAN
    assert tables["people"].set_index("id").loc["coord", "role"] == "coordinator"
    assert (tables["audit_log"]["action"] == "person.add").sum() == 28
    # The same rosters again change nothing.
    assert "no changes" in init(db_url)


def test_init_again_adds_updates_and_removes(db_url, tmp_path):
    init(db_url)
    roster = pd.read_csv(ROSTER, dtype=str, keep_default_na=False)
    roster = roster[roster["id"] != "p24"]  # no work in the store: removed
    roster.loc[roster["id"] == "p01", "email"] = "amina@example.net"
    roster.loc[roster["id"] == "p02", "organisation"] = "KeNIC"
    newcomer = roster[roster["id"] == "p03"].assign(id="p25", name="New Person", email="new@example.org")
    roster = pd.concat([roster, newcomer])
    roster["share_email"] = ["yes" if pid == "p01" else "" for pid in roster["id"]]
    roster["cohort_note"] = ["scholarship" if pid == "p25" else "" for pid in roster["id"]]
    tutors = pd.read_csv(TUTORS, dtype=str, keep_default_na=False)
    tutors.loc[tutors["id"] == "t01", "capacity"] = "3"
    out = init(db_url, write_roster(tmp_path / "r.csv", roster), write_roster(tmp_path / "t.csv", tutors))
    assert "added 1: p25" in out
    assert "removed 1: p24" in out
    assert "p01 (email, share_email)" in out and "p02 (organisation)" in out and "t01 (capacity)" in out
    assert "warning" not in out  # nobody has review tasks yet
    people = snapshot(db_url)["people"].set_index("id")
    assert "p24" not in people.index
    assert people.loc["p01", "email"] == "amina@example.net" and people.loc["p01", "share_email"]
    assert json.loads(people.loc["p25", "extra"]) == {"cohort_note": "scholarship"}
    assert people.loc["t01", "capacity"] == 3


def test_person_with_work_is_refused_then_withdrawn(db_url, tmp_path):
    init(db_url)
    ok("cohort", "groups", "--db", db_url)
    add_review_work(db_url, author="p07", reviewer_tasks={"p07": 2, "p08": 1})
    group = read(db_url, groups_frame).set_index("id").loc["p07", "group"]
    roster = pd.read_csv(ROSTER, dtype=str, keep_default_na=False)
    without = write_roster(tmp_path / "r.csv", roster[roster["id"] != "p07"])
    before = snapshot(db_url)
    err = refused("cohort", "init", "--plan", PLAN, "--roster", without, "--tutors", TUTORS,
                  "--coordinator", "coord", "--db", db_url)
    assert (f"p07 has a membership of study group {group}; "
            "2 review tasks and a submission in round 'infrastructure'") in err
    assert "--withdraw" in err
    same_snapshot(before, snapshot(db_url))

    out = init(db_url, without, TUTORS, "--withdraw")
    assert "withdrawn 1 (kept with their work): p07" in out
    people = snapshot(db_url)["people"].set_index("id")
    assert not people.loc["p07", "active"]
    assert "p07" not in read(db_url, people_frame, "participant")["id"].tolist()
    assert "participants: 23 active, 1 withdrawn" in ok("cohort", "status", "--db", db_url)
    # Already withdrawn: a later import without them needs no flag; back in the roster: active.
    assert "no changes" in init(db_url, without, TUTORS)
    assert "p07 (active)" in init(db_url)

    # An organisation change for someone with review tasks is allowed, with a warning.
    roster.loc[roster["id"] == "p08", "organisation"] = "Somewhere Else"
    out = init(db_url, write_roster(tmp_path / "r2.csv", roster), TUTORS)
    assert "p08 (organisation)" in out
    assert "warning: p08: organisation changed, but they already have allocated review tasks" in out



def test_discussion_and_evaluation_rows_keep_a_person(db_url, tmp_path):
    """A person with only a post, a consent and an evaluation answer has work too: removing
    them from the roster is refused, and --withdraw keeps them (the rows name them)."""
    init(db_url)
    store = open_store(db_url)
    with store.session() as s:
        s.add(Consent(person_id="p05", kind="evaluation", text="yes"))
        s.add(EvaluationAnswer(person_id="p05", instrument="reaction", occasion="post",
                               answers={"satisfaction": 4}))
        s.add(MailSetting(person_id="p06", digest="daily"))
    store.close()
    roster = pd.read_csv(ROSTER, dtype=str, keep_default_na=False)
    without = write_roster(tmp_path / "r.csv", roster[~roster["id"].isin(["p05", "p06"])])
    err = refused("cohort", "init", "--plan", PLAN, "--roster", without, "--tutors", TUTORS,
                  "--coordinator", "coord", "--db", db_url)
    assert "p05 has an evaluation answer; a consent record" in err
    assert "p06 has an e-mail setting" in err
    assert "withdrawn 2 (kept with their work): p05, p06" in init(db_url, without, TUTORS,
                                                                   "--withdraw")

# --- groups, tutors, rota ----------------------------------------------------------------------

def test_groups_tutors_rota_are_stored_as_the_algorithms_make_them(db_url, tmp_path):
    init(db_url)
    out = ok("cohort", "groups", "--db", db_url, "--csv", tmp_path / "groups.csv")
    assert "every group shares a language: yes" in out and "stored 4 study groups" in out
    plan = load_named_plan(PLAN)
    expected = grouping.form_groups(read_roster(ROSTER), size=plan.cohort.group_size, seed=0)
    expected["group"] = expected["group"].astype(str)
    stored = read(db_url, groups_frame)
    pd.testing.assert_frame_equal(stored, expected[stored.columns.tolist()])
    written = pd.read_csv(tmp_path / "groups.csv", dtype=str, keep_default_na=False)
    assert written[["id", "group"]].values.tolist() == expected[["id", "group"]].values.tolist()
    languages = snapshot(db_url)["study_groups"].set_index("label")["language"]
    for label, shared in grouping.shared_languages(stored).items():
        assert languages[label] in shared

    out = ok("cohort", "tutors", "--db", db_url, "--csv", tmp_path / "tutors.csv")
    assert "none above capacity: yes" in out
    assignment = tutoring.assign_tutors(stored, read_roster(TUTORS, capacity=True), seed=0)
    pd.testing.assert_frame_equal(read(db_url, tutors_frame), assignment[["group", "tutor_id", "language"]])
    assert pd.read_csv(tmp_path / "tutors.csv", dtype=str)["tutor_id"].tolist() == assignment["tutor_id"].tolist()

    out = ok("cohort", "rota", "--co-facilitators", "--seed", 3, "--db", db_url, "--csv", tmp_path / "rota.csv")
    assert "back-to-back turns: 0" in out
    labels, topics = _plan_sessions(PLAN)
    rota = rotas.make_rota(stored, topics, co_facilitators=True, seed=3, labels=labels)
    rota["session"] = rota["session"].astype(str)
    pd.testing.assert_frame_equal(read(db_url, rota_frame), rota)
    assert len(pd.read_csv(tmp_path / "rota.csv")) == len(rota)

    out = ok("cohort", "status", "--db", db_url)
    assert "study groups: 4 (24 members)" in out
    assert "tutors assigned: 4 of 4 groups (3 tutors)" in out
    assert f"rota: {len(labels)} sessions ({len(rota)} turns)" in out
    assert "review rounds: none" in out

    # New groups replace the old ones, and the tutors and rota made for them.
    out = ok("cohort", "groups", "--size", 5, "--seed", 1, "--db", db_url)
    assert "stored 5 study groups" in out
    assert "removed the old groups' 4 tutor assignments and 36 rota entries" in out
    assert read(db_url, tutors_frame).empty and read(db_url, rota_frame).empty
    assert read(db_url, groups_frame)["group"].nunique() == 5


def test_groups_cannot_change_once_review_tasks_exist(db_url):
    init(db_url)
    ok("cohort", "groups", "--db", db_url)
    before = snapshot(db_url)["memberships"]
    add_review_work(db_url, author="p01", reviewer_tasks={"p02": 1}, name="policy")
    err = refused("cohort", "groups", "--seed", 9, "--db", db_url)
    assert "study groups cannot change: review tasks were allocated from them in round 'policy'" in err
    pd.testing.assert_frame_equal(snapshot(db_url)["memberships"], before)


def test_status_counts_each_review_round(db_url):
    init(db_url)
    add_review_work(db_url, author="p01", reviewer_tasks={"p02": 2, "p03": 2}, name="late-one",
                    due=utcnow() - timedelta(days=1))
    add_review_work(db_url, author="p05", reviewer_tasks={"p06": 1}, name="open-one",
                    due=utcnow() + timedelta(days=7))
    store = open_store(db_url, create=False)
    with store.session() as s:
        late = s.scalar(select(ReviewRound).where(ReviewRound.name == "late-one"))
        codes = sorted(s.scalars(select(Allocation.review_code).where(Allocation.round_id == late.id)))
        s.add(Review(review_code=codes[0], state="submitted", submitted_at=utcnow()))
        s.add(Review(review_code=codes[1], state="draft"))
        s.add(CalibrationSample(round_id=late.id, text="sample", tutor_scores={"c1": 2}))
        s.add(CalibrationSample(round_id=late.id, text="sample 2"))
    store.close()
    out = ok("cohort", "status", "--db", db_url)
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.endswith(("of 2", "of 0"))}
    # round, state, due (date, time), submissions, tasks, submitted, drafts, late, "1 of 2"
    assert lines["late-one"][1] == "open"
    assert lines["late-one"][4:9] == ["5", "5", "1", "1", "4"]
    assert lines["late-one"][9:] == ["1", "of", "2"]
    assert lines["open-one"][4:9] == ["2", "2", "0", "0", "0"]


# --- export ----------------------------------------------------------------------------------

def test_export_writes_every_table(db_url, tmp_path):
    init(db_url)
    ok("cohort", "groups", "--db", db_url)
    out = ok("cohort", "export", tmp_path / "export", "--db", db_url)
    names = [t.name for t in Base.metadata.sorted_tables]
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == sorted(f"{n}.csv" for n in names)
    assert f"wrote {len(names)} tables" in out
    people = pd.read_csv(tmp_path / "export" / "people.csv", dtype=str, keep_default_na=False)
    assert len(people) == 28 and set(read_roster(ROSTER)["email"]) <= set(people["email"])
    assert people.set_index("id").loc["t01", "capacity"] == "2"
    audit_log = pd.read_csv(tmp_path / "export" / "audit_log.csv", dtype=str)
    details = [json.loads(d) for d in audit_log["detail"]]
    assert {"role": "participant"} in details
    assert len(pd.read_csv(tmp_path / "export" / "memberships.csv")) == 24
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder left
    # An existing empty folder is fine; a non-empty one is refused and left alone.
    (tmp_path / "empty").mkdir()
    ok("cohort", "export", tmp_path / "empty", "--db", db_url)
    assert (tmp_path / "empty" / "people.csv").exists()
    err = refused("cohort", "export", tmp_path / "export", "--db", db_url)
    assert "exists and is not an empty folder" in err and "export" in err


# --- bad input -------------------------------------------------------------------------------

def test_broken_roster_changes_nothing(db_url, tmp_path):
    init(db_url)
    before = snapshot(db_url)
    roster = pd.read_csv(ROSTER, dtype=str, keep_default_na=False)
    roster.loc[2, "stakeholder_group"] = "astronauts"
    roster.loc[5, "name"] = "Renamed"  # a good change in the same file is not applied either
    broken = write_roster(tmp_path / "broken.csv", roster)
    err = refused("cohort", "init", "--plan", PLAN, "--roster", broken, "--tutors", TUTORS, "--db", db_url)
    assert "broken.csv" in err and "row 4, column stakeholder_group: 'astronauts'" in err
    same_snapshot(before, snapshot(db_url))

    roster = pd.read_csv(ROSTER, dtype=str, keep_default_na=False)
    roster.loc[1, "id"] = "Joseph M"
    roster["share_email"] = ""
    roster.loc[3, "share_email"] = "perhaps"
    bad = write_roster(tmp_path / "bad.csv", roster)
    err = refused("cohort", "init", "--plan", PLAN, "--roster", bad, "--tutors", TUTORS, "--db", db_url)
    assert "row 3, column id: 'Joseph M': expected a hub username" in err
    assert "row 5, column share_email: 'perhaps'" in err

    tutors = pd.read_csv(TUTORS, dtype=str, keep_default_na=False)
    tutors.loc[0, "id"] = "p05"
    err = refused("cohort", "init", "--plan", PLAN, "--roster", ROSTER,
                  "--tutors", write_roster(tmp_path / "t.csv", tutors), "--db", db_url)
    assert "in both" in err and "p05" in err
    err = refused("cohort", "init", "--plan", PLAN, "--roster", ROSTER, "--tutors", TUTORS,
                  "--db", db_url, env={"IGCB_HUB_ADMIN": "p03"})
    assert "p03 is the coordinator" in err
    same_snapshot(before, snapshot(db_url))


def test_steps_out_of_order_say_what_is_missing(db_url):
    err = refused("cohort", "status", "--db", db_url)
    assert "run `igcb cohort init` first" in err
    init(db_url)
    err = refused("cohort", "rota", "--db", db_url)
    assert "no study groups yet: run `igcb cohort groups`" in err
    err = refused("cohort", "tutors", "--db", db_url)
    assert "no study groups yet: run `igcb cohort groups`" in err


def test_state_folder_and_environment(tmp_path):
    state = tmp_path / "state"
    err = refused("cohort", "status", "--state", state)
    assert f"no cohort store at {state / 'cohort.sqlite'}" in err and not state.exists()
    ok("cohort", "init", "--plan", PLAN, "--roster", ROSTER, "--tutors", TUTORS, "--state", state,
       env={"IGCB_HUB_ADMIN": "admin"})
    assert (state / "cohort.sqlite").exists()
    url = f"sqlite:///{state / 'cohort.sqlite'}"
    assert read(url, people_frame, "coordinator")["id"].tolist() == ["admin"]
    actors = read(url, lambda s: set(s.scalars(select(AuditEntry.actor))))
    assert actors == {"admin"}
    assert "coordinators: 1 active" in ok("cohort", "status", env={"IGCB_DB_URL": url})
    err = refused("cohort", "status", "--state", state, "--db", url)
    assert "not both" in err


def test_default_state_is_the_hub_folder_of_the_course(course_copy):
    env = {"IGCB_ROOT": str(course_copy)}
    err = refused("cohort", "status", env=env)
    assert "no cohort store in" in err and "run `igcb cohort init` first" in err
    ok("cohort", "init", "--plan", PLAN, "--roster", ROSTER, "--tutors", TUTORS, env=env)
    assert (course_copy / ".hub" / PLAN / "cohort.sqlite").exists()
    ok("cohort", "groups", env=env)
    assert "study groups: 4 (24 members)" in ok("cohort", "status", env=env)
    ok("cohort", "init", "--plan", "awareness-day", "--roster", ROSTER, "--tutors", TUTORS, env=env)
    err = refused("cohort", "status", env=env)
    assert "several cohorts" in err and "--state" in err
    err = refused("cohort", "init", "--plan", "awareness-day", "--roster", ROSTER, "--tutors", TUTORS,
                  "--state", course_copy / ".hub" / PLAN, env=env)
    assert f"holds course {PLAN!r}" in err


def test_unreachable_database_is_a_clear_error(tmp_path):
    url = "postgresql+psycopg://postgres@127.0.0.1:1/x"
    err = refused("cohort", "init", "--plan", PLAN, "--roster", ROSTER, "--tutors", TUTORS, "--db", url)
    assert err.startswith("Error: cannot open the cohort store at postgresql+psycopg://postgres@127.0.0.1:1/x")
    err = refused("cohort", "status", "--db", url)
    assert "cannot open the cohort store" in err
    err = refused("cohort", "status", "--db", "not a url")
    assert "is not a database URL" in err
