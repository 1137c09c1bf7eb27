"""Commands over the nbgrader course: assignments, grade, feedback, grades export."""

import os
import sys
from pathlib import Path

import click

from course.commands.output import print_table, write_csv
from course.errors import UserError
from course.layout import Layout

COURSE_DIR = click.option(
    "--course-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="nbgrader course root (default: assessments/ in the repository).")


def _course(course_dir: Path | None):
    from course.grading.nbgrader_course import NbgraderCourse

    return NbgraderCourse.open(course_dir or Layout.default().assessments)


@click.group()
def assignments():
    """List, release and collect nbgrader assignments."""


@assignments.command("list")
@COURSE_DIR
def list_(course_dir):
    """The assignments in source/: notebooks, generated, submissions, graded."""
    from course.grading.assignments import list_assignments

    rows = [[i.name, ", ".join(i.notebooks), "yes" if i.generated else "no", i.submissions, i.graded]
            for i in list_assignments(_course(course_dir))]
    print_table(["assignment", "notebooks", "generated", "submitted", "graded"], rows)


@assignments.command()
@click.argument("assignment")
@COURSE_DIR
def release(assignment, course_dir):
    """Generate the student version of ASSIGNMENT and release it."""
    from course.grading.assignments import release as do_release

    click.echo(do_release(_course(course_dir), assignment))


@assignments.command()
@click.argument("assignment")
@COURSE_DIR
def collect(assignment, course_dir):
    """Collect submissions of ASSIGNMENT from the nbgrader exchange."""
    from course.grading.assignments import collect as do_collect

    click.echo(do_collect(_course(course_dir), assignment))


@click.command()
@click.argument("assignment")
@COURSE_DIR
@click.option("--workers", "-j", type=click.IntRange(1, 64), default=min(8, (os.cpu_count() or 1) + 1),
              show_default="CPUs + 1, at most 8",
              help="Notebooks run at once (kernels are also started this many ahead).")
@click.option("--force", is_flag=True, help="Grade again submissions already graded.")
@click.option("--timeout", type=click.IntRange(1, 86400), default=None,
              help="Seconds per cell [default: Execute.timeout of nbgrader_config.py, else 30].")
@click.option("--memory", type=click.IntRange(256, 1_048_576), default=1024, show_default=True,
              help="Memory limit of each kernel, in MB.")
@click.option("--max-output", type=click.IntRange(1000, 10**10), default=1_000_000, show_default=True,
              help="Bytes of output kept per notebook.")
@click.option("--student", "students", multiple=True, help="Grade only this student (repeatable).")
def grade(assignment, course_dir, workers, force, timeout, memory, max_output, students):
    """Autograde every submission of ASSIGNMENT, in parallel and contained.

    Submissions already graded are skipped unless --force. Ends with a table of
    flagged (with the reason) and failed submissions, and names those whose code tried to
    reach outside the sandbox (their score stands); exit status 1 if any failed.
    """
    from course.grading.autograde import Autograder, landlock_available, process_limit_available
    from course.grading.pool import Limits

    course = _course(course_dir)
    course.require_released(assignment)
    if timeout is None:
        timeout = int(course.config.Execute.get("timeout", 30) or 30)
    limits = Limits(cell_timeout=timeout, memory_mb=memory, output_bytes=max_output)
    if not landlock_available():
        click.echo("warning: Landlock is not available here: student code can write wherever "
                   "this user can (see assessments/README.md)", err=True)
    if not process_limit_available():
        click.echo("warning: no cgroup pids controller can be used here: the processes a submission "
                   "starts are limited only by RLIMIT_NPROC (not at all as root)", err=True)
    grader = Autograder(course, assignment, workers=workers, limits=limits, force=force)
    submitted = grader.students()
    unknown = sorted(set(students) - set(submitted))
    if unknown:
        raise UserError(f"no submission of {assignment!r} from: {', '.join(unknown)}")
    todo = list(students) or submitted
    if not todo:
        raise UserError(f"no submissions of {assignment!r} in {course.folder('submitted')}")
    with click.progressbar(length=len(todo), label=f"grading {assignment}", file=sys.stderr,
                           show_pos=True) as bar:
        grader.progress = lambda outcome: bar.update(1)
        outcomes = grader.run(todo)
    _summary(outcomes)
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(1)


def _summary(outcomes) -> None:
    from course.grading.autograde import STATUS_FILE

    counts = {s: sum(o.status == s for o in outcomes) for s in ("graded", "flagged", "failed", "skipped")}
    rows = [[o.student, o.status, _score(o), "; ".join(o.reasons)]
            for o in outcomes if o.status in ("flagged", "failed")]
    if rows:
        print_table(["student", "status", "score", "reason"], rows)
        click.echo()
    tried = [o.student for o in outcomes if o.attempts]
    if tried:  # the first thing a tutor should look at
        click.echo(f"tried to reach outside the sandbox ({len(tried)}): {', '.join(tried)} "
                   f"(every attempt is listed in {STATUS_FILE} in their autograded folder)")
    click.echo(", ".join(f"{n} {s}" for s, n in counts.items())
               + (" (skipped: graded before; --force to grade again)" if counts["skipped"] else ""))


def _score(outcome) -> str:
    if outcome.score is None:
        return "-"
    return f"{outcome.score:g}/{outcome.max_score:g}"


@click.command()
@click.argument("assignment")
@COURSE_DIR
def feedback(assignment, course_dir):
    """Write nbgrader feedback (HTML) for every graded submission of ASSIGNMENT."""
    from course.grading.assignments import feedback as do_feedback, graded_students

    course = _course(course_dir)
    total = len(graded_students(course, assignment))
    with click.progressbar(length=total, label=f"feedback {assignment}",
                           file=sys.stderr) as bar:
        done, failed = do_feedback(course, assignment, progress=lambda student: bar.update(1))
    click.echo(f"{len(done)} feedback files in {course.folder('feedback')}/<student>/{assignment}/")
    if failed:
        raise UserError(f"feedback failed for: {', '.join(failed)}")


@click.group()
def grades():
    """The gradebook, for people and for learning management systems."""


@grades.command("export")
@COURSE_DIR
@click.option("--format", "fmt", type=click.Choice(["csv", "moodle", "canvas"]), default="csv",
              show_default=True, help="csv: nbgrader's export columns; moodle, canvas: their grade import CSV.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="File to write.")
def export_(course_dir, fmt, output):
    """Export the gradebook as a CSV table."""
    from course.grading.export import export_table

    course = _course(course_dir)
    table, n = export_table(course, fmt)
    write_csv(table, output, [course.gradebook_file])
    click.echo(f"wrote {output} ({fmt}, {n} students)")


COMMANDS = [assignments, grade, feedback, grades]
