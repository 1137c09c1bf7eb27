"""End to end: release, submissions (correct, partial, empty, hostile), grade, resume, export."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.cli import main
from course.grading import monitor
from course.grading.autograde import STATUS_FILE, Autograder, landlock_available, process_limit_available
from course.grading.nbgrader_course import NbgraderCourse
from course.grading.pool import Limits
from course.grading.processes import ProcessLimits
from course.grading.samples import submit
from course.layout import Layout

A = "toy"
# the course's own configuration, for a course of its own
CONFIG = (Layout.default().assessments / "nbgrader_config.py").read_text() + '\nc.CourseDirectory.course_id = "toy-course"\n'
LIMITS = Limits(cell_timeout=3, memory_mb=512, output_bytes=50_000)
# For tests about what is graded when, not about runaway code: a loaded CI machine can take
# more than 3 s for an ordinary cell.
ROOMY = Limits(cell_timeout=30, memory_mb=512, output_bytes=50_000)


def _cell(kind, grade_id, source, points=None):
    meta = {"grade": kind in ("test", "written"), "solution": kind in ("solution", "written"),
            "locked": kind in ("test", "readonly"), "grade_id": grade_id, "schema_version": 3, "task": False}
    if points is not None:
        meta["points"] = points
    new = new_markdown_cell if kind in ("written", "readonly_md") else new_code_cell
    cell = new(source, metadata={"nbgrader": meta})
    cell["id"] = grade_id
    return cell


def _toy_source(root: Path) -> None:
    src = root / "source" / A
    src.mkdir(parents=True)
    toy = [
        _cell("readonly", "setup", "BASE = int(open('base.txt').read())"),
        _cell("solution", "answer_square", "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION"),
        _cell("test", "test_square", "assert square(3) == 9\n### BEGIN HIDDEN TESTS\nassert square(-2) == 4\n### END HIDDEN TESTS", 2),
        _cell("solution", "answer_base", "### BEGIN SOLUTION\nplus_base = BASE + 1\n### END SOLUTION"),
        _cell("test", "test_base", "assert plus_base == 11", 1),
        _cell("written", "memo", "An answer.", 2),
    ]
    extra = [
        _cell("solution", "answer_double", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"),
        _cell("test", "test_double", "assert double(4) == 8", 1),
    ]
    for name, cells in (("toy", toy), ("extra", extra)):
        nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {
            "name": "python3", "display_name": "Python 3", "language": "python"}}), str(src / f"{name}.ipynb"))
    (src / "base.txt").write_text("10")


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """A course with the toy assignment generated (copied fresh by `course_root`)."""
    root = tmp_path_factory.mktemp("released") / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text(CONFIG)
    _toy_source(root)
    result = CliRunner().invoke(main, ["assignments", "release", A, "--course-dir", str(root)])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def course(released, tmp_path) -> NbgraderCourse:
    root = tmp_path / "course"
    shutil.copytree(released, root)
    return NbgraderCourse.open(root)


def _replace(course, student, grade_id, source=None, delete=False, notebook="toy"):
    path = course.folder("submitted", student, A) / f"{notebook}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            if delete:
                continue
            cell.source = source
        cells.append(cell)
    nb.cells = cells
    nbformat.write(nb, str(path))


def _hostile(course) -> None:
    sq = "def square(x):\n    return x * x\n"
    other = course.folder("submitted", "correct", A) / "toy.ipynb"
    gradebook = course.root / "gradebook.db"
    source = course.folder("source", assignment=A) / "toy.ipynb"
    cases = {
        "loop": sq + "while True:\n    pass",
        "stubborn": sq + "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass",
        "memory": sq + "hog = bytearray(2 * 2**30)",
        "flood": sq + "while True:\n    print('x' * 1000)",
        "sysexit": sq + "import sys\nsys.exit(0)",
        "osexit": sq + "import os\nos._exit(0)",
        "intruder": sq + "\n".join([
            "import os",
            "for target in [%r, %r, %r]:" % (str(other), str(gradebook), str(source)),
            "    for attempt in (lambda: open(target, 'w').write('x'), lambda: os.remove(target)):",
            "        try:",
            "            attempt()",
            "        except OSError:",
            "            pass",
            "try:",
            "    print(open(%r).read())" % str(source),
            "except OSError as err:",
            "    print('no source', type(err).__name__)",
        ]),
    }
    for student, code in cases.items():
        submit(course, A, student, "empty")
        _replace(course, student, "answer_square", code)
    submit(course, A, "edited", "empty")
    _replace(course, "edited", "answer_square", "def square(x):\n    return 0")
    _replace(course, "edited", "test_square", "pass")
    submit(course, A, "deleted", "empty")
    _replace(course, "deleted", "answer_square", "def square(x):\n    return 0")
    _replace(course, "deleted", "test_square", delete=True)
    for student in ("invalid", "nbformat", "renamed", "extras"):
        submit(course, A, student, "correct")
    folder = lambda s: course.folder("submitted", s, A)  # noqa: E731
    (folder("invalid") / "toy.ipynb").write_text("this is not JSON")
    (folder("nbformat") / "toy.ipynb").write_text(json.dumps({"nbformat": 99, "nbformat_minor": 0, "cells": []}))
    (folder("renamed") / "toy.ipynb").rename(folder("renamed") / "toy (1).ipynb")
    (folder("extras") / "notes.txt").write_text("my notes")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _toy_scores(course) -> dict[str, float]:
    with course.gradebook() as gb:
        return {s.student.id: gb.find_submission_notebook("toy", A, s.student.id).code_score
                for s in gb.assignment_submissions(A)}


@pytest.mark.slow
def test_cohort_with_hostile_submissions(course):
    for kind in ("correct", "partial", "empty"):
        submit(course, A, kind, kind)
    _hostile(course)
    protected = [course.folder("submitted", "correct", A) / "toy.ipynb",
                 course.folder("source", assignment=A) / "toy.ipynb", course.root / "gradebook.db"]
    before = {p: _digest(p) for p in protected[:2]}

    start = time.monotonic()
    outcomes = {o.student: o for o in Autograder(course, A, workers=2, limits=LIMITS).run()}
    elapsed = time.monotonic() - start

    students = sorted(d.name for d in course.folder("submitted").iterdir())
    assert sorted(outcomes) == students, "every submission is accounted for"
    assert all(o.status in ("graded", "flagged") for o in outcomes.values()), outcomes
    # each notebook is bounded by its limits: nothing waits for a runaway submission
    assert elapsed < 120

    scores = _toy_scores(course)
    expected = {"correct": 3, "partial": 2, "empty": 0, "loop": 2, "memory": 2, "flood": 2,
                "stubborn": 0, "osexit": 0, "edited": 0, "deleted": 0, "invalid": 0, "nbformat": 0,
                "renamed": 0, "extras": 3, "intruder": 2}
    assert {s: scores[s] for s in expected} == expected
    reasons = {s: " ".join(o.reasons) for s, o in outcomes.items()}
    for student in ("correct", "partial", "empty"):
        assert outcomes[student].status == "graded", reasons[student]
    assert "interrupted" in reasons["loop"]
    assert "ignored the interrupt" in reasons["stubborn"]
    assert "memory limit" in reasons["memory"]
    assert "output capped" in reasons["flood"]
    assert "kernel died" in reasons["osexit"]
    assert "sys.exit" in reasons["sysexit"]
    assert "test_square was edited" in reasons["edited"]
    assert "test_square was deleted" in reasons["deleted"]
    assert "not a JSON notebook" in reasons["invalid"]
    assert "nbformat" in reasons["nbformat"]
    assert "toy.ipynb is missing" in reasons["renamed"] and "toy (1).ipynb" in reasons["renamed"]
    assert "notes.txt" in reasons["extras"]
    # the intruder keeps its score and is flagged with what it tried; no one else tried anything
    assert outcomes["intruder"].status == "flagged"
    for attempt in ("write <course>/source/toy/toy.ipynb", "delete <course>/gradebook.db",
                    "write <course>/submitted/correct/toy/toy.ipynb", "read <course>/source/toy/toy.ipynb"):
        assert f"toy: {attempt}" in outcomes["intruder"].attempts, outcomes["intruder"].attempts
    assert [s for s, o in outcomes.items() if o.attempts] == ["intruder"]
    with course.gradebook() as gb:
        assert all(g.needs_manual_grade for g in gb.find_submission_notebook("toy", A, "edited").grades
                   if g.cell.cell_type == "code")
        assert len(list(gb.assignment_submissions(A))) == len(students)

    # outputs are capped before they reach the gradebook and the autograded notebook
    flood = course.folder("autograded", "flood", A) / "toy.ipynb"
    assert flood.stat().st_size < 10 * LIMITS.output_bytes
    if landlock_available():
        assert {p: _digest(p) for p in protected[:2]} == before
        intruder = (course.folder("autograded", "intruder", A) / "toy.ipynb").read_text()
        assert "no source PermissionError" in intruder and "BEGIN SOLUTION" not in intruder
        assert scores["correct"] == 3


# the monitor's pipe, found as a submission could: the one non-blocking, write-only pipe
FIND_MONITOR_PIPE = """import fcntl, stat
def writer(f):
    try:
        flags = fcntl.fcntl(f, fcntl.F_GETFL)
    except OSError:
        return False
    return stat.S_ISFIFO(os.fstat(f).st_mode) and flags & (os.O_WRONLY | os.O_NONBLOCK) == os.O_WRONLY | os.O_NONBLOCK
fd = next(f for f in range(3, 1024) if writer(f))"""


def _attempting(course, student: str, lines: list[str], prelude: str = "") -> None:
    """A correct submission whose square cell also runs `lines`, each of them failing quietly."""
    submit(course, A, student, "correct")
    code = ["import os, shutil, socket", prelude, "def square(x):", "    return x * x"]
    for line in lines:
        code += ["try:", f"    {line}", "except OSError:", "    pass"]
    _replace(course, student, "answer_square", "\n".join(code))


def test_escape_attempts_are_flagged_and_their_score_stands(course):
    source = course.folder("source", assignment=A) / "toy.ipynb"
    gradebook = course.root / "gradebook.db"
    submit(course, A, "ana", "correct")
    other = course.folder("submitted", "ana")
    _attempting(course, "mallory", [
        f"open({str(source)!r}, 'a').write('# mine')",
        f"shutil.rmtree({str(other)!r})",
        f"open({str(gradebook)!r}, 'rb').read()",
        "socket.create_connection(('127.0.0.1', 9), timeout=2)",
    ])
    # one that hides its attempts: writes to the monitor's pipe, closes it, then tries
    _attempting(course, "sly", [
        "os.write(fd, b'all is well\\n')",
        "os.close(fd)",
        f"open({str(source)!r}, 'a').write('# mine')",
    ], prelude=FIND_MONITOR_PIPE)
    before = _digest(source)
    run = lambda *args: CliRunner().invoke(main, [*args, "--course-dir", str(course.root)])  # noqa: E731

    graded = run("grade", A, "--timeout", "30")
    assert graded.exit_code == 0, graded.output
    assert "1 graded, 2 flagged, 0 failed" in graded.output
    assert "tried to reach outside the sandbox (2): mallory, sly" in graded.output
    status = {s: json.loads((course.folder("autograded", s, A) / STATUS_FILE).read_text())
              for s in ("ana", "mallory", "sly")}
    assert status["ana"]["status"] == "graded" and status["ana"]["reasons"] == status["ana"]["attempts"] == []
    assert status["mallory"]["status"] == "flagged"
    attempts = set(status["mallory"]["attempts"])
    assert {"toy: write <course>/source/toy/toy.ipynb", "toy: delete <course>/submitted/ana",
            "toy: read <course>/gradebook.db", "toy: connect to 127.0.0.1:9"} <= attempts, attempts
    reason = next(r for r in status["mallory"]["reasons"] if "outside its sandbox" in r)
    for attempt in ("write <course>/source/toy/toy.ipynb", "delete <course>/submitted/ana",
                    "read <course>/gradebook.db", "connect to 127.0.0.1:9"):
        assert attempt in reason and attempt in graded.output
    assert status["sly"]["attempts"] == ["toy: write lines of its own to the attempt monitor's channel: 1 line(s)",
                                         "toy: close or replace the attempt monitor's channel"]
    # the grades stand: the attempts failed quietly and the answers are right
    assert _toy_scores(course) == {"ana": 3, "mallory": 3, "sly": 3}
    assert status["mallory"]["score"] == status["ana"]["score"] == 4
    with course.gradebook() as gb:  # the formgrader shows it to tutors as needing a look
        code = lambda s: {g.needs_manual_grade for g in gb.find_submission_notebook("toy", A, s).grades  # noqa: E731
                          if g.cell.cell_type == "code"}
        assert code("mallory") == {True} and code("ana") == {False}
    if landlock_available():
        assert _digest(source) == before and (other / A / "toy.ipynb").is_file()
    # a run that skips them still shows the flag
    again = run("grade", A)
    assert "tried to reach outside the sandbox (2): mallory, sly" in again.output


def test_monitor_reports_are_told_from_other_lines():
    ready, reports, foreign = monitor.parse(
        b'{"op": "ready", "target": ""}\n{"op": "write", "target": "/a\\u001b[2J"}\n'
        b'{"op": "write", "target": "/a\\u001b[2J"}\nall is well\n{"op": "format", "target": "/"}\n')
    assert ready and reports == [("write", "/a\x1b[2J")] and foreign == 2
    assert monitor.describe(reports) == "tried to reach outside its sandbox: write /a\\x1b[2J"
    many = [("read", f"/c/{i}") for i in range(12)]
    assert monitor.describe(many, root="/c").endswith("read <course>/7 and 4 more")


def test_fork_bomb_is_contained_and_the_batch_goes_on(course):
    if os.geteuid() != 0 and not process_limit_available():
        pytest.skip("no cgroup pids controller this user may use (as root, as CI runs, there must be one)")
    assert process_limit_available()
    probe = ProcessLimits.create()
    probe.close()
    submit(course, A, "ana", "correct")
    submit(course, A, "ben", "partial")
    submit(course, A, "bomb", "correct")
    _replace(course, "bomb", "answer_square", "\n".join([
        "import os", "def square(x):", "    return x * x",
        "while True:", "    try:", "        os.fork()", "    except OSError:", "        pass"]))
    outcomes = {o.student: o for o in Autograder(course, A, workers=2, limits=ROOMY).run()}

    assert outcomes["bomb"].status == "flagged"
    assert "too many processes" in " ".join(outcomes["bomb"].reasons), outcomes["bomb"].reasons
    assert (outcomes["ana"].status, outcomes["ben"].status) == ("graded", "graded")
    # the cells after the bomb did not run; the other notebook and submissions are graded
    assert _toy_scores(course) == {"ana": 3, "ben": 2, "bomb": 0}
    assert outcomes["bomb"].score == 1
    # nothing is left running: the run's cgroups are gone with their processes
    assert not list(probe.run.parent.glob(f"igcb-grade-{os.getpid()}-*"))


def test_rerun_skips_graded_unless_forced(course):
    submit(course, A, "ana", "correct")
    submit(course, A, "ben", "empty")
    first = Autograder(course, A, limits=ROOMY).run()
    assert [o.status for o in first] == ["graded", "graded"]
    again = Autograder(course, A, limits=ROOMY).run()
    assert [o.status for o in again] == ["skipped", "skipped"]
    submit(course, A, "ben", "correct", timestamp="2025-01-16 09:00:00.000000 UTC")  # a resubmission
    third = {o.student: o.status for o in Autograder(course, A, limits=ROOMY).run()}
    assert third == {"ana": "skipped", "ben": "graded"}
    forced = Autograder(course, A, limits=ROOMY, force=True).run()
    assert [o.status for o in forced] == ["graded", "graded"]
    assert _toy_scores(course) == {"ana": 3, "ben": 3}


@pytest.mark.slow
def test_a_killed_run_resumes_and_grades_each_submission_once(course):
    students = [f"s{i}" for i in range(8)]
    for i, student in enumerate(students):
        submit(course, A, student, ["correct", "partial"][i % 2])
    cmd = [sys.executable, "-m", "course", "grade", A, "--course-dir", str(course.root), "-j", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    markers = lambda: list(course.folder("autograded").glob(f"*/{A}/{STATUS_FILE}"))  # noqa: E731
    deadline = time.monotonic() + 120
    while len(markers()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(markers())
    assert 0 < done_before < len(students)

    result = CliRunner().invoke(main, ["grade", A, "--course-dir", str(course.root)])
    assert result.exit_code == 0, result.output
    assert f"{len(students) - done_before} graded" in result.output
    assert len(markers()) == len(students)
    with course.gradebook() as gb:
        assert sorted(s.student.id for s in gb.assignment_submissions(A)) == students
    assert _toy_scores(course) == {s: [3, 2][i % 2] for i, s in enumerate(students)}


def test_commands_and_exports(course, tmp_path):
    submit(course, A, "ana", "correct")
    submit(course, A, "ben", "partial")
    run = lambda *args: CliRunner().invoke(main, [*args, "--course-dir", str(course.root)])  # noqa: E731

    listed = run("assignments", "list")
    assert listed.exit_code == 0 and "toy" in listed.output
    graded = run("grade", A, "--timeout", "10")
    assert graded.exit_code == 0, graded.output
    assert "2 graded, 0 flagged, 0 failed" in graded.output
    assert "2 submitted" not in graded.output
    assert run("grade", A).output.strip().endswith("(skipped: graded before; --force to grade again)")

    feedback = run("feedback", A)
    assert feedback.exit_code == 0, feedback.output
    for student in ("ana", "ben"):
        html = re.sub(r"<[^>]+>", "", (course.folder("feedback", student, A) / "toy.html").read_text())
        assert "square(3)" in html and "square(-2)" not in html, "feedback hides the hidden tests"

    csv, moodle, canvas = tmp_path / "g.csv", tmp_path / "m.csv", tmp_path / "c.csv"
    assert run("grades", "export", "-o", str(csv)).exit_code == 0
    assert run("grades", "export", "--format", "moodle", "-o", str(moodle)).exit_code == 0
    assert run("grades", "export", "--format", "canvas", "-o", str(canvas)).exit_code == 0
    table = pd.read_csv(csv)
    # the columns of `nbgrader export`, in its order
    assert list(table.columns[:11]) == ["assignment", "duedate", "timestamp", "student_id", "last_name",
                                        "first_name", "email", "raw_score", "late_submission_penalty",
                                        "score", "max_score"]
    assert dict(zip(table.student_id, table.score)) == {"ana": 4.0, "ben": 3.0}  # 3 + 1, 2 + 1 (memo ungraded)
    m = pd.read_csv(moodle)
    assert list(m.columns) == ["First name", "Last name", "ID number", "Email address", A]
    assert dict(zip(m["ID number"], m[A])) == {"ana": 4.0, "ben": 3.0}
    c = pd.read_csv(canvas, dtype=str, keep_default_na=False)
    assert list(c.columns) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A]
    assert c.iloc[0]["Student"].strip() == "Points Possible" and float(c.iloc[0][A]) == 6.0
    assert dict(zip(c["SIS User ID"][1:], c[A][1:].astype(float))) == {"ana": 4.0, "ben": 3.0}


def test_user_errors_exit_2(course):
    run = lambda *args: CliRunner().invoke(main, [*args, "--course-dir", str(course.root)])  # noqa: E731
    unknown = run("grade", "nope")
    assert unknown.exit_code == 2 and "unknown assignment 'nope'" in unknown.output
    none = run("grade", A)
    assert none.exit_code == 2 and "no submissions" in none.output
    nobody = run("grade", A, "--student", "nobody")
    assert nobody.exit_code == 2 and "no submission of 'toy' from: nobody" in nobody.output
    assert run("assignments", "collect", A).exit_code == 2
    assert run("feedback", A).exit_code == 2
    shutil.rmtree(course.root / "release")
    assert "assignments release toy" in run("grade", A).output


def test_release_and_collect_through_an_exchange(released, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(released, root)
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    (root / "nbgrader_config.py").write_text(CONFIG + f'c.Exchange.root = {str(exchange)!r}\n')
    run = lambda *args: CliRunner().invoke(main, [*args, "--course-dir", str(root)])  # noqa: E731
    result = run("assignments", "release", A)
    assert result.exit_code == 0 and "released it to the exchange" in result.output, result.output
    assert (exchange / "toy-course" / "outbound" / A / "toy.ipynb").is_file()

    # what `nbgrader submit` leaves in the exchange for a student
    stamp = "2025-01-15 10:00:00.000000 UTC"
    inbound = exchange / "toy-course" / "inbound" / f"carla+{A}+{stamp}+abc"
    shutil.copytree(exchange / "toy-course" / "outbound" / A, inbound)
    (inbound / "timestamp.txt").write_text(stamp)
    result = run("assignments", "collect", A)
    assert result.exit_code == 0, result.output
    course = NbgraderCourse.open(root)
    assert (course.folder("submitted", "carla", A) / "toy.ipynb").is_file()
    outcomes = Autograder(course, A, limits=LIMITS).run()
    assert [(o.student, o.status, o.score) for o in outcomes] == [("carla", "graded", 0.0)]
