"""`igcb cohort`: the cohort store's commands (people, study groups, tutors, rota, status, export).

`store_options` and `open_cohort` are shared with the other commands that work on the store.
The work itself is in course.cohort (the store) and peer_review (the algorithms).
"""

from __future__ import annotations

import getpass
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import pandas as pd
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from course.cohort.db import DB_FILE, ENV_URL, Store, StoreError, open_store, resolve_url
from course.cohort.models import utcnow
from course.cohort.people import coordinator_id, import_people, share_email_problems
from course.cohort.structure import (cohort_status, get_setting, groups_frame, people_frame,
                                     set_setting, store_groups, store_rota, store_tutors,
                                     table_frames)
from course.commands.cohort import INPUT_FILE, PROVE, TIME_LIMIT, _echo, _plan_sessions, prove_groups, read_roster
from course.commands.output import SEED, FiniteFloat, print_table, safe_frame, write_csv
from course.errors import Problem, UserError
from course.hub import USERNAME_RULE, username_problems
from course.layout import Layout
from course.plans import load_named_plan, plan_path
from peer_review import groups as grouping, quality, rota as rotas, tutors as tutoring

STATE_DIR = click.Path(file_okay=False, path_type=Path)
_CSV = click.Path(dir_okay=False, path_type=Path)


# --- the store options, shared with the other store commands --------------------------------

def store_options(command):
    """Add --state DIR and --db URL (passed on as `state` and `db`) to a click command."""
    command = click.option(
        "--db", "db", metavar="URL",
        help=f"Database URL of the cohort store (default: ${ENV_URL}, else the SQLite "
             "file in the state folder), e.g. postgresql+psycopg://user@host/cohort.")(command)
    command = click.option(
        "--state", "state", type=STATE_DIR,
        help="The cohort's state folder (default: .hub/<course> in the repository, "
             "the folder `igcb hub` uses).")(command)
    return command


def hub_root() -> Path:
    """Where `igcb hub` keeps each course's state folder."""
    return Layout.default().root / ".hub"


def _default_state(course: str | None) -> Path:
    """The state folder of `course`, or the only cohort under .hub/ when no course is given."""
    if course:
        return hub_root() / course
    found = sorted(p.parent for p in hub_root().glob(f"*/{DB_FILE}"))
    if not found:
        raise UserError(f"no cohort store in {hub_root()}: run `igcb cohort init` first "
                        "(or give --state DIR or --db URL)")
    if len(found) > 1:
        raise UserError(f"several cohorts in {hub_root()} ({', '.join(p.name for p in found)}): "
                        "choose one with --state DIR")
    return found[0]


def cohort_url(state: Path | None, db: str | None, course: str | None = None) -> str:
    """The store's URL from --state/--db/$IGCB_DB_URL (the default folder only when needed)."""
    if state and db:
        raise UserError("give --state DIR or --db URL, not both")
    if db or state or os.environ.get(ENV_URL):
        return resolve_url(db, state, Path("."))
    return resolve_url(None, None, _default_state(course))


def open_cohort(state: Path | None, db: str | None, create: bool = False,
                course: str | None = None) -> Store:
    """Open the cohort store given by --state/--db; a store problem becomes a UserError.

    `create=False` refuses a store that `igcb cohort init` never set up (and creates nothing).
    `course` picks the default state folder (.hub/<course>); without it, the only cohort
    under .hub/ is used.
    """
    url = cohort_url(state, db, course)
    try:
        return open_store(url, create=create)
    except StoreError as err:
        raise UserError(str(err)) from None
    except (SQLAlchemyError, ImportError) as err:
        # e.g. a driver that is not installed, or a file that is not a database
        shown = make_url(url).render_as_string(hide_password=True)
        raise UserError(f"cannot open the cohort store at {shown}: {getattr(err, 'orig', None) or err}") from None


@contextmanager
def cohort_session(store: Store) -> Iterator:
    """One transaction on the store; StoreError becomes UserError; the store is closed after."""
    try:
        with store.session() as session:
            yield session
    except StoreError as err:
        raise UserError(str(err)) from None
    finally:
        store.close()


def actor_of(session, coordinator: str | None = None) -> str:
    """Who the audit log names for a command: the coordinator, else the system user."""
    return coordinator or coordinator_id(session) or getpass.getuser()


def stored_plan(session):
    """The plan the cohort was initialised with (its `plan` setting)."""
    name = get_setting(session, "plan")
    if name is None:
        raise UserError("the cohort store has no plan: run `igcb cohort init --plan PLAN` first")
    return name, load_named_plan(name, Layout.default().plans)


# --- input ---------------------------------------------------------------------------------

def read_people(path: Path, capacity: bool = False) -> pd.DataFrame:
    """A roster (DESIGN.md contract) whose ids are hub usernames and share_email is yes/no."""
    frame = read_roster(path, capacity=capacity)
    found = [(i, f"column id: {value!r}: expected {USERNAME_RULE}")
             for i, value in username_problems(list(frame["id"]))]
    found += [(i, f"column share_email: {value!r}: expected yes or no (or true/false, 1/0, blank for no)")
              for i, value in share_email_problems(frame)]
    if found:
        raise UserError.from_problems([Problem(path, f"row {i + 2}, {message}") for i, message in sorted(found)])
    return frame


def _plan_name(name: str) -> str:
    """How to store a plan: a shipped plan by name, a plan file by its absolute path."""
    path = plan_path(name, Layout.default().plans)
    return name if path == Layout.default().plans / f"{name}.yml" else str(path.resolve())


# --- commands ------------------------------------------------------------------------------

@click.group()
def cohort():
    """Run a cohort from its store (people, groups, tutors, rota).

    The store is a SQLite file in the state folder, or any database given by --db.
    """


@cohort.command("init")
@click.option("--plan", "plan_name", required=True, help="Course plan (shipped name or YAML file).")
@click.option("--roster", "roster_csv", type=INPUT_FILE, required=True, help="Participants (roster CSV).")
@click.option("--tutors", "tutors_csv", type=INPUT_FILE, required=True, help="Tutors (roster CSV with capacity).")
@click.option("--coordinator", help="The coordinator's hub username (default: $IGCB_HUB_ADMIN).")
@click.option("--withdraw", is_flag=True,
              help="Keep people who left the roster but have work in the store, as withdrawn.")
@store_options
def init(plan_name, roster_csv, tutors_csv, coordinator, withdraw, state, db):
    """Load (or update) the cohort's people from the rosters, all or nothing.

    Run it again with changed rosters: new people are added, changed ones updated, and
    people no longer listed removed (or, with --withdraw, kept as withdrawn when they
    already have work in the store).
    """
    coordinator = (coordinator or os.environ.get("IGCB_HUB_ADMIN", "")).strip() or None
    load_rosters(plan_name, roster_csv, tutors_csv, coordinator, withdraw, state, db)


def load_rosters(plan_name: str, roster_csv: Path, tutors_csv: Path, coordinator: str | None,
                 withdraw: bool, state: Path | None, db: str | None) -> None:
    """`igcb cohort init` (also run by `igcb hub --roster`): validate, load, say what changed."""
    plan = load_named_plan(plan_name, Layout.default().plans)
    if coordinator and username_problems([coordinator]):
        raise UserError(f"coordinator {coordinator!r} (--coordinator or IGCB_HUB_ADMIN): "
                        f"expected {USERNAME_RULE}")
    participants = read_people(roster_csv)
    staff = read_people(tutors_csv, capacity=True)
    both = sorted(set(participants["id"]) & set(staff["id"]))
    if both:
        raise UserError(f"{roster_csv} and {tutors_csv}: in both (a person is a participant or a "
                        f"tutor, not both): {', '.join(both)}")
    for path, frame in ((roster_csv, participants), (tutors_csv, staff)):
        if coordinator in set(frame["id"]):
            raise UserError(f"{path}: {coordinator} is the coordinator (--coordinator or "
                            "IGCB_HUB_ADMIN), and cannot also be in a roster")
    store = open_cohort(state, db, create=True, course=plan.id)
    url = store.url
    with cohort_session(store) as session:
        actor = actor_of(session, coordinator)
        course = get_setting(session, "course")
        if course is not None and course != plan.id:
            raise UserError(f"the cohort store at {url} holds course {course!r}, but plan "
                            f"{plan_name!r} is course {plan.id!r}: give another --state or --db")
        set_setting(session, actor, "course", plan.id)
        set_setting(session, actor, "plan", _plan_name(plan_name))
        if course is None:
            set_setting(session, actor, "created_at", utcnow().isoformat(timespec="seconds"))
        changes = import_people(session, participants, staff, coordinator, actor, withdraw=withdraw)
    click.echo(f"cohort store: {url} (course {plan.id})")
    _echo(changes.lines())
    click.echo(f"{len(participants)} participants, {len(staff)} tutors"
               + (f", coordinator {coordinator}" if coordinator else ""))


@cohort.command("groups")
@click.option("--size", type=click.IntRange(2, 30), help="Target group size (default: the plan's cohort group size).")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--max-tz-spread", type=FiniteFloat(min=0), help="Hours of UTC offset a group may span (synchronous meetings).")
@click.option("--csv", "csv_path", type=_CSV, help="Also write the groups to this CSV file.")
@PROVE
@TIME_LIMIT
@store_options
def groups(size, seed, max_tz_spread, csv_path, prove, time_limit, state, db):
    """Form study groups from the stored participants.

    Diverse groups that each share a language; they replace earlier groups (and their
    tutors and rota) until a review round has allocated review tasks.
    """
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        _, plan = stored_plan(session)
        participants = people_frame(session, "participant")
        if participants.empty:
            raise UserError("no participants in the store: run `igcb cohort init --roster R.csv`")
        size = size or plan.cohort.group_size
        try:
            result = grouping.form_groups(participants, size=size, seed=seed, max_tz_spread=max_tz_spread)
        except grouping.GroupingError as err:
            raise UserError(f"study groups: {err}") from None
        dropped = store_groups(session, result, actor_of(session))
        if csv_path:
            write_csv(result, csv_path)
    _echo(quality.group_summary(quality.group_quality(result)))
    click.echo(f"stored {result['group'].nunique()} study groups" + (f"; wrote {csv_path}" if csv_path else ""))
    cleared = [f"{n} {what}" for what, n in dropped.items() if n]
    if cleared:
        click.echo(f"removed the old groups' {' and '.join(cleared)}: "
                   "run `igcb cohort tutors` and `igcb cohort rota` again")
    if prove:
        prove_groups(participants, result, size, max_tz_spread, time_limit)  # after the commit: it may take minutes


def _stored_groups(session) -> pd.DataFrame:
    table = groups_frame(session)
    if table.empty:
        raise UserError("no study groups yet: run `igcb cohort groups`")
    return table


@cohort.command("tutors")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--csv", "csv_path", type=_CSV, help="Also write the assignment to this CSV file.")
@store_options
def tutors(seed, csv_path, state, db):
    """Give each stored study group a tutor.

    The tutor speaks the group's language and stays within their capacity.
    """
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        table = _stored_groups(session)
        staff = people_frame(session, "tutor")
        if staff.empty:
            raise UserError("no tutors in the store: run `igcb cohort init --tutors T.csv`")
        try:
            result = tutoring.assign_tutors(table, staff, seed=seed)
        except tutoring.TutorError as err:
            raise UserError(f"tutors: {err}") from None
        store_tutors(session, result, actor_of(session))
        if csv_path:
            write_csv(result, csv_path)
    _echo(tutoring.tutor_summary(result, staff))
    click.echo(f"stored the tutors of {len(result)} study groups" + (f"; wrote {csv_path}" if csv_path else ""))


@cohort.command("rota")
@click.option("--co-facilitators", is_flag=True, help="Add a co-facilitator from another stakeholder group.")
@click.option("--seed", default=0, show_default=True, type=SEED)
@click.option("--csv", "csv_path", type=_CSV, help="Also write the rota to this CSV file.")
@store_options
def rota(co_facilitators, seed, csv_path, state, db):
    """Make the facilitation rota of the stored study groups.

    Who facilitates each group's discussion in each of the plan's sessions with discussion.
    """
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        plan_name, _ = stored_plan(session)
        table = _stored_groups(session)
        labels, topics = _plan_sessions(plan_name)
        result = rotas.make_rota(table, topics, co_facilitators=co_facilitators, seed=seed, labels=labels)
        store_rota(session, result, actor_of(session))
        if csv_path:
            write_csv(result, csv_path)
    _echo(rotas.rota_summary(result, table))
    click.echo(f"stored the rota: {len(result)} turns" + (f"; wrote {csv_path}" if csv_path else ""))


@cohort.command("status")
@store_options
def status(state, db):
    """Show where the cohort stands.

    People by role, study groups, tutors, the rota, and each review round's progress.
    """
    store = open_cohort(state, db)
    url = store.url
    with cohort_session(store) as session:
        course, plan = get_setting(session, "course"), get_setting(session, "plan")
        facts = cohort_status(session)
    click.echo(f"cohort store: {url}")
    click.echo(f"course: {course} (plan {plan})")
    for role in ("participant", "tutor", "coordinator"):
        counts = facts["people"].get(role, {"active": 0, "withdrawn": 0})
        click.echo(f"{role}s: {counts['active']} active" +
                   (f", {counts['withdrawn']} withdrawn" if counts["withdrawn"] else ""))
    click.echo(f"study groups: {facts['groups']} ({facts['members']} members)")
    click.echo(f"tutors assigned: {facts['tutored_groups']} of {facts['groups']} groups "
               f"({facts['tutors_assigned']} tutors)")
    click.echo(f"rota: {facts['rota_sessions']} sessions ({facts['rota_entries']} turns)")
    if not facts["rounds"]:
        click.echo("review rounds: none")
        return
    click.echo("review rounds:")
    print_table(
        ["round", "state", "due", "submissions", "tasks", "submitted", "drafts", "late", "calibration scored"],
        [[r["name"], r["state"], r["due"].strftime("%Y-%m-%d %H:%M") if r["due"] else "-",
          r["submissions"], r["tasks"], r["submitted"], r["drafts"], r["late"],
          f"{r['calibration_scored']} of {r['calibration_samples']}"] for r in facts["rounds"]])


@cohort.command("export")
@click.argument("folder", type=click.Path(path_type=Path))
@store_options
def export(folder, state, db):
    """Write every table of the store as FOLDER/<table>.csv.

    All or nothing; FOLDER must be new or empty.
    """
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UserError(f"{folder}: exists and is not an empty folder: choose a new folder")
    parent = folder.parent if str(folder.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{folder}: folder {parent} does not exist")
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        frames = table_frames(session)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
    try:
        for name, frame in frames.items():
            safe_frame(frame).to_csv(tmp / f"{name}.csv", index=False)
        if folder.exists():
            folder.rmdir()
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    click.echo(f"wrote {len(frames)} tables to {folder}: " +
               ", ".join(f"{name} {len(frame)}" for name, frame in frames.items()))


COMMANDS = [cohort]
