"""`igcb evaluation ...` and `igcb alumni ...`: survey answers in, grades copied, the register out.

Reading files and the gradebook happens here; the store is changed through
course.cohort.evaluation_import, in one transaction (a refused import writes nothing).
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from course.cohort.evaluation import alumni_register
from course.cohort.evaluation_import import copy_grades, import_answers, who_may_answer
from course.cohort.structure import get_setting
from course.commands.cohort import INPUT_FILE
from course.commands.output import write_csv
from course.commands.rounds import COURSE_ROOT, resolve_course_root
from course.commands.store import (actor_of, cohort_session, open_cohort, store_options,
                                   stored_plan)
from course.errors import Problem, UserError
from course.evaluation.instruments import OCCASIONS, load_plan_instruments, questions
from course.evaluation.survey_import import load_mapping, read_survey
from course.layout import Layout
from course.modules import load_catalogue
from course.plans import find_plan, load_named_plan
from peer_review import roster as rosters

# More problems than this are cut short: the first ones show what is wrong with the mapping.
SHOWN_PROBLEMS = 40
REGISTER_COLUMNS = ["id", "name", "email", "stakeholder_group", "region", "country", "organisation",
                  "languages", "timezone", "expertise"]
ALUMNI_COLUMNS = REGISTER_COLUMNS + ["role", "will_mentor", "will_host_intern", "will_teach"]
MENTOR_CAPACITY = 2  # mentees an alumnus takes on


def _refuse(problems: list[Problem]) -> UserError:
    shown = problems[:SHOWN_PROBLEMS]
    more = len(problems) - len(shown)
    message = "\n".join(str(p) for p in shown)
    if more:
        message += f"\n... and {more} more problems (fix these first)"
    return UserError(message)


def _plan_of(session, plan_name: str | None):
    """(plan file, plan, catalogue): --plan, else the plan the store was initialised with."""
    layout = Layout.default()
    if plan_name is None:
        plan_name, plan = stored_plan(session)
    else:
        plan = load_named_plan(plan_name, layout.plans)
        course = get_setting(session, "course")
        if course is not None and course != plan.id:
            raise UserError(f"--plan {plan_name}: the cohort store holds course {course!r}, "
                            f"not {plan.id!r}")
    catalogue, _ = load_catalogue(layout.modules)  # only self-assessments read it (objectives)
    return find_plan(plan_name, layout.plans), plan, catalogue


def plan_assignments(plan, catalogue) -> list[str]:
    """The nbgrader assignments of a plan: its modules' assessments and its deadlines'."""
    found = [catalogue[m].module.assessment for m in plan.module_ids
             if m in catalogue and catalogue[m].module.assessment]
    found += [d.assignment for s in plan.sessions for d in s.deadlines if d.assignment]
    return list(dict.fromkeys(found))


@click.group()
def evaluation():
    """The course's tests and surveys: answers from survey tools, grades from nbgrader."""


@evaluation.command("import")
@click.argument("csv_file", metavar="FILE", type=INPUT_FILE)
@click.option("--instrument", "instrument_id", required=True,
              help="The instrument the answers are for (its id in the plan's instruments file).")
@click.option("--occasion", type=click.Choice(OCCASIONS), required=True,
              help="When it was answered: pre, post or followup.")
@click.option("--mapping", "mapping_path", type=INPUT_FILE, required=True,
              help="The mapping file (YAML): which column holds the person and each question.")
@click.option("--plan", "plan_name",
              help="Course plan (name or YAML file) whose instruments to use (default: the "
                   "store's plan).")
@store_options
def import_(csv_file, instrument_id, occasion, mapping_path, plan_name, state, db):
    """Import answers from a survey tool's CSV export.

    KoboToolbox, LimeSurvey, Google Forms or any other tool: the mapping file (YAML) says
    which column holds the person and each question. All or nothing: every problem (row and column) is listed and nothing is stored. An answer
    a participant submitted in the room is kept and its row skipped; a draft or an earlier
    import of the same instrument and occasion is replaced.
    """
    try:
        data = csv_file.read_bytes()
    except OSError as err:
        raise UserError(f"{csv_file}: cannot read it ({err.strerror})") from None
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        path, plan, catalogue = _plan_of(session, plan_name)
        instruments = load_plan_instruments(path, plan, catalogue)
        try:
            instrument = instruments.instrument(instrument_id)
        except KeyError:
            known = ", ".join(i.id for i in instruments.instruments)
            raise UserError(f"--instrument {instrument_id}: not an instrument of plan {plan.id!r} "
                            f"(its instruments: {known})") from None
        if occasion not in instrument.occasions:
            raise UserError(f"--occasion {occasion}: {instrument_id} is taken "
                            f"{' and '.join(instrument.occasions)}, not {occasion}")
        form = questions(instrument, plan, catalogue)
        mapping, problems = load_mapping(mapping_path, form)
        if problems:
            raise _refuse(problems)
        people, refused = who_may_answer(session)
        rows, problems = read_survey(csv_file, data, mapping, form, people, refused)
        if problems:
            raise _refuse(problems)
        counts = import_answers(session, instruments, plan, catalogue, instrument_id, occasion,
                                rows, f"import:{csv_file.name}", actor_of(session))
    click.echo(f"{instrument_id} ({occasion}) from {csv_file.name}: {counts['added']} added, "
               f"{counts['replaced']} replaced, {counts['skipped']} skipped "
               "(already submitted in the room)")


def gradebook_totals(course, assignments: list[str]) -> tuple[list[tuple], list[str]]:
    """(person, assignment, score after the late penalty, max score) of every submission of
    the given assignments in nbgrader's gradebook, and those assignments it does not have."""
    totals, present = [], set()
    with course.gradebook() as gb:
        for assignment in gb.assignments:
            if assignment.name not in assignments:
                continue
            present.add(assignment.name)
            for sub in assignment.submissions:
                penalty = sub.late_submission_penalty or 0.0
                totals.append((sub.student_id, assignment.name, sub.score - penalty,
                               assignment.max_score))
    return totals, [a for a in assignments if a not in present]


@evaluation.command("grades")
@COURSE_ROOT
@store_options
def grades(course_root, state, db):
    """Copy assignment totals from nbgrader's gradebook into the store.

    Each participant's total per assignment, for the plan's assignments only; a participant with no submission gets no row (not
    submitted). The copy replaces the one before.
    """
    from course.grading.nbgrader_course import NbgraderCourse

    course = NbgraderCourse.open(resolve_course_root(course_root, state, db))
    book = course.gradebook_file
    if book is not None and not book.exists():
        raise UserError(f"{book}: no gradebook yet: release and grade assignments first "
                        "(`igcb assignments release`, `igcb grade`)")
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        _, plan, catalogue = _plan_of(session, None)
        wanted = plan_assignments(plan, catalogue)
        totals, missing = gradebook_totals(course, wanted)
        result = copy_grades(session, totals, actor_of(session))
    per = pd.Series([t[1] for t in totals if t[0] not in result["left_out"]]).value_counts()
    click.echo(f"copied {result['copied']} assignment totals of {result['people']} participants"
               + (": " + ", ".join(f"{a} {per[a]}" for a in wanted if a in per) if len(per) else ""))
    if missing:
        click.echo(f"not in the gradebook yet: {', '.join(missing)}")
    if result["left_out"]:
        click.echo(f"left out (not participants in the store): {', '.join(result['left_out'])}")


# --- the alumni register -------------------------------------------------------------------

def alumni_frame(register: list[dict], mentors: bool = False) -> pd.DataFrame:
    """The register as a roster (expertise = topics) with the alumni's fields; `mentors`: only
    those willing to mentor, with a capacity."""
    rows = [{**entry, "expertise": entry["topics"]} for entry in register
            if entry["will_mentor"] or not mentors]
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(ALUMNI_COLUMNS + ["topics"])))
    frame = frame[ALUMNI_COLUMNS].copy()
    for flag in ("will_mentor", "will_host_intern", "will_teach"):
        frame[flag] = ["yes" if v else "no" for v in frame[flag]]
    if mentors:
        frame["capacity"] = MENTOR_CAPACITY
    return frame


def read_alumni(state: Path | None, db: str | None, mentors: bool = False) -> pd.DataFrame:
    store = open_cohort(state, db)
    with cohort_session(store) as session:
        register = alumni_register(session)
    return alumni_frame(register, mentors)


def alumni_mentors(state: Path | None, db: str | None) -> pd.DataFrame:
    """The alumni willing to mentor, as a validated mentors roster (for `igcb mentors`)."""
    frame = read_alumni(state, db, mentors=True)
    if frame.empty:
        return frame
    try:
        return rosters.validate_roster(frame, rosters.check_capacity)
    except rosters.RosterError as err:
        ids = list(frame["id"])

        def where(row: int | None) -> str:
            return f"{ids[row - 2]}, " if row is not None and 2 <= row <= len(ids) + 1 else ""

        raise UserError("\n".join(
            f"the store's alumni register: {where(p.row)}"
            f"{rosters.RosterProblem(None, p.column, p.value, p.expected)}"
            for p in err.problems)) from None


@click.group()
def alumni():
    """The alumni register (participants who opted in at the end of the course)."""


@alumni.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV file to write.")
@click.option("--mentors", is_flag=True,
              help=f"Only those willing to mentor, with capacity {MENTOR_CAPACITY}: a mentors "
                   "file for `igcb mentors`.")
@store_options
def export(output, mentors, state, db):
    """Write the alumni register as a CSV file.

    Shaped like a roster (expertise = the alumni's topics), with role, will_mentor,
    will_host_intern and will_teach; with --mentors, a mentors file for `igcb mentors`.
    """
    frame = read_alumni(state, db, mentors)
    write_csv(frame, output)
    click.echo(f"wrote {output} ({len(frame)} {'mentors' if mentors else 'alumni'})")


COMMANDS = [evaluation, alumni]
