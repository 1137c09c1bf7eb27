"""Bad input, as a careless or hostile user gives it: exit 2, one message naming the file, row
or field, nothing written, inputs untouched; never a traceback. Property-based tests mutate the
shipped examples and plans at random and feed them to the commands."""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bad_input_helpers import EXAMPLES, HOSTILE, digest, igcb, mutated_csv
from conftest import REPO_ROOT
from course.commands.output import neutralise

PLAN = REPO_ROOT / "course" / "plans" / "online-course.yml"


def copy_examples(folder: Path) -> None:
    for name in ("roster.csv", "tutors.csv", "reviews.csv", "submissions.csv", "tutor_scores.csv"):
        shutil.copy(EXAMPLES / name, folder / name)


# --- each fixed case -------------------------------------------------------------------------

def plan_with(folder: Path, old: str, new: str) -> str:
    text = PLAN.read_text(encoding="utf-8")
    assert old in text
    path = folder / "online-course.yml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("line, message", [
    ("start: 2027-02-30", "line 12: '2027-02-30' is not a real date"),
    ("start: 0", "start: expected a date written as YYYY-MM-DD (found 0)"),
    ("start: 2027-01-04\nstart: 2027-02-01", "line 13: 'start' is given twice (first on line 12)"),
])
def test_a_plan_with_an_impossible_date_or_a_key_twice_is_refused(tmp_path, line, message):
    original = next(x for x in PLAN.read_text().splitlines() if x.startswith("start:"))
    path = plan_with(tmp_path, original, line)
    assert igcb(tmp_path, "groups", str(EXAMPLES / "roster.csv"), "-o", "groups.csv").exit_code == 0
    result = igcb(tmp_path, "rota", "groups.csv", "--plan", path, "-o", "r.csv")
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "r.csv").exists()


def test_a_named_pipe_for_a_plan_is_refused_not_read(tmp_path):
    pipe = tmp_path / "online-course.yml"
    os.mkfifo(pipe)
    assert igcb(tmp_path, "groups", str(EXAMPLES / "roster.csv"), "-o", "groups.csv").exit_code == 0
    result = igcb(tmp_path, "rota", "groups.csv", "--plan", str(pipe), "-o", "r.csv")
    assert result.exit_code == 2 and "not a regular file" in result.output


@pytest.mark.parametrize("args, message", [
    (["groups", "roster.csv", "--seed", "-1", "-o", "g.csv"], "'--seed': -1 is not in the range"),
    (["groups", "roster.csv", "--max-tz-spread", "nan", "-o", "g.csv"], "'nan' is not a finite number"),
    (["groups", "roster.csv", "--max-tz-spread", "inf", "-o", "g.csv"], "'inf' is not a finite number"),
    (["reviews", "aggregate", "reviews.csv", "--scale", "nan", "10", "-o", "g.csv"], "not a finite number"),
    (["reviews", "aggregate", "reviews.csv", "--scale", "0", "3", "-o", "g.csv"],
     "row 2, column score: '9.6': a score within the scale, 0 to 3"),
    (["groups", "roster.csv", "-o", "roster.csv"], "roster.csv: this is an input of the command"),
    (["groups", "roster.csv", "-o", "./sub/../roster.csv"], "this is an input of the command"),
    (["reviews", "aggregate", "reviews.csv", "-o", "a.csv", "--reviewers-out", "a.csv"],
     "named as two outputs"),
    (["reviews", "allocate", "submissions.csv", "--roster", "roster.csv", "-o", "a.csv",
      "--authors-out", "nowhere/b.csv"], "folder nowhere does not exist"),
    (["groups", "roster.csv", "-o", "/proc/g.csv"], "cannot write in /proc"),
    (["groups", "bom.csv", "-o", "g.csv"], "bom.csv: the file is empty"),
    (["tutors", "groups.csv", "tutors-super.csv", "-o", "t.csv"],
     "row 2, column capacity: '²': a whole number of 0 or more"),
    (["reviews", "aggregate", "negative.csv", "-o", "a.csv"], "row 2, column score: '-5': points, 0 or more"),
])
def test_bad_options_and_files_end_in_one_clear_error_and_write_nothing(tmp_path, args, message):
    copy_examples(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf")
    tutors = (tmp_path / "tutors.csv").read_text(encoding="utf-8").splitlines()
    tutors[1] = tutors[1].rsplit(",", 1)[0] + ",²"
    (tmp_path / "tutors-super.csv").write_text("\n".join(tutors) + "\n", encoding="utf-8")
    reviews = (tmp_path / "reviews.csv").read_text(encoding="utf-8").splitlines()
    reviews[1] = reviews[1].rsplit(",", 1)[0] + ",-5"
    (tmp_path / "negative.csv").write_text("\n".join(reviews) + "\n", encoding="utf-8")
    assert igcb(tmp_path, "groups", "roster.csv", "-o", "groups.csv").exit_code == 0
    before = digest(tmp_path)
    result = igcb(tmp_path, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert digest(tmp_path) == before, "nothing written, inputs untouched"


def test_a_damaged_gradebook_is_named_and_a_failed_grade_creates_none(tmp_path):
    root = tmp_path / "course"
    (root / "source" / "quiz").mkdir(parents=True)
    result = igcb(tmp_path, "grade", "quiz", "--course-dir", str(root))
    assert result.exit_code == 2 and "not generated yet" in result.output
    assert not (root / "gradebook.db").exists()
    (root / "gradebook.db").write_bytes(b"these are not the grades you are looking for")
    for args in (["grade", "quiz"], ["grades", "export", "-o", str(tmp_path / "g.csv")]):
        result = igcb(tmp_path, *args, "--course-dir", str(root))
        assert result.exit_code == 2 and "gradebook.db: not an nbgrader gradebook" in result.output
    assert not (tmp_path / "g.csv").exists()


def test_one_broken_module_is_reported_once(course_copy):
    from conftest import run_igcb

    yml = course_copy / "modules" / "01-what-is-ig" / "module.yml"
    yml.write_text(yml.read_text() + "title: [\n")
    result = run_igcb("check", root=course_copy)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "01-what-is-ig/module.yml: not valid YAML" in lines[0], lines


def test_a_control_character_in_yaml_is_one_line_naming_the_file(tmp_path):
    """The YAML reader's own message spans two lines; a problem is always one."""
    from course.yamlfile import load_yaml

    path = tmp_path / "plan.yml"
    path.write_text("# a comment \x00\ntitle: x\n", encoding="utf-8")
    _, problems = load_yaml(path)
    assert [str(p) for p in problems] == [
        f"{path}: not valid YAML (character U+0000 at position 12 is not allowed in YAML)"]


def test_formulas_in_written_csv_are_neutralised_and_numbers_stay(tmp_path):
    copy_examples(tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "roster.csv").read_text(encoding="utf-8"))))
    rows[0]["name"] = '=HYPERLINK("http://evil.example","click")'
    rows[1]["organisation"] = "@SUM(1+1)"
    rows[2]["name"] = "-Ana"
    with open(tmp_path / "roster.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert igcb(tmp_path, "groups", "roster.csv", "-o", "groups.csv").exit_code == 0
    text = (tmp_path / "groups.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "'@SUM" in text and "'-Ana" in text
    assert neutralise("-5") == "-5" and neutralise("+3.5") == "+3.5" and neutralise(7) == 7


# --- random mutations ------------------------------------------------------------------------

COMMANDS = {
    "roster.csv": [["roster", "check", "{f}"], ["groups", "{f}", "-o", "out.csv"],
                   ["reviews", "allocate", "submissions.csv", "--roster", "{f}", "-o", "out.csv",
                    "--authors-out", "authors.csv"],
                   ["cohort", "init", "--plan", "online-course", "--roster", "{f}",
                    "--tutors", "tutors.csv", "--state", "state"]],
    "tutors.csv": [["tutors", "groups.csv", "{f}", "-o", "out.csv"],
                   ["mentors", "roster.csv", "{f}", "-o", "out.csv"],
                   ["cohort", "init", "--plan", "online-course", "--roster", "roster.csv",
                    "--tutors", "{f}", "--state", "state"]],
    "reviews.csv": [["reviews", "aggregate", "{f}", "--tutor-scores", "tutor_scores.csv",
                     "-o", "out.csv", "--reviewers-out", "reviewers.csv"]],
    "submissions.csv": [["reviews", "allocate", "{f}", "--roster", "roster.csv", "-o", "out.csv"]],
    "tutor_scores.csv": [["reviews", "aggregate", "reviews.csv", "--tutor-scores", "{f}",
                          "-o", "out.csv"]],
}
CASES = [(name, i) for name, commands in COMMANDS.items() for i in range(len(commands))]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad-input")
    copy_examples(folder)
    assert igcb(folder, "groups", "roster.csv", "-o", "groups.csv").exit_code == 0
    return folder


def run_mutated(folder: Path, name: str, index: int, data: bytes, extra: list[str]) -> None:
    for leftover in ("out.csv", "authors.csv", "reviewers.csv"):
        (folder / leftover).unlink(missing_ok=True)
    (folder / "mutated.csv").write_bytes(data)
    before = digest(folder)
    args = [a.replace("{f}", "mutated.csv") for a in COMMANDS[name][index]] + extra
    result = igcb(folder, *args)
    assert result.exit_code in (0, 2), (args, result.exit_code, result.output)
    after = digest(folder)
    assert {k: v for k, v in after.items() if k in before} == before, "inputs untouched"
    if result.exit_code == 2:
        assert after == before, f"a failed run wrote {sorted(set(after) - set(before))}"
        assert result.output.startswith(("Error:", "Usage:")), result.output


@pytest.mark.parametrize("name, index", CASES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_files_never_crash_and_fail_cleanly(workdir, name, index, data):
    content = data.draw(mutated_csv(name))
    extra = data.draw(st.sampled_from([[], ["--seed", "7"]])) if "--seed" in _options(name, index) else []
    run_mutated(workdir, name, index, content, extra)


def _options(name: str, index: int) -> str:
    command = COMMANDS[name][index]
    return "--seed" if command[0] in ("groups", "tutors") or command[:2] == ["reviews", "allocate"] else ""


OPTION_VALUES = st.sampled_from(["-1", "0", "1", "2", "nan", "inf", "-inf", "1e309", "²", "",
                                 "abc", "3.5", "99999999999999999999", "-0"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from([
    ["groups", "roster.csv", "-o", "out.csv", "--size", "{v}"],
    ["groups", "roster.csv", "-o", "out.csv", "--seed", "{v}"],
    ["groups", "roster.csv", "-o", "out.csv", "--max-tz-spread", "{v}"],
    ["rota", "groups.csv", "-o", "out.csv", "--sessions", "{v}"],
    ["reviews", "allocate", "submissions.csv", "--roster", "roster.csv", "-o", "out.csv", "-k", "{v}"],
    ["reviews", "aggregate", "reviews.csv", "-o", "out.csv", "--scale", "{v}", "{w}"],
    ["reviews", "aggregate", "reviews.csv", "-o", "out.csv", "--disagreement", "{v}"],
]), v=OPTION_VALUES, w=OPTION_VALUES)
def test_random_option_values_never_crash(workdir, command, v, w):
    for leftover in ("out.csv",):
        (workdir / leftover).unlink(missing_ok=True)
    before = digest(workdir)
    result = igcb(workdir, *[a.replace("{v}", v).replace("{w}", w) for a in command])
    assert result.exit_code in (0, 2), result.output
    after = digest(workdir)
    if result.exit_code == 2:
        assert after == before
    else:
        assert {k: v for k, v in after.items() if k in before} == before


@st.composite
def mutated_yaml(draw, path: Path, values: list[str]) -> str:
    """A shipped YAML file with a few lines changed, dropped, doubled or indented."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["value", "drop", "dup", "indent"]))
        if kind == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(st.sampled_from(HOSTILE + values))}"
        elif kind == "drop":
            lines.pop(i)
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "indent":
            lines[i] = "  " + lines[i]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_yaml(PLAN, ['2027-02-30', '[', '{a: 1}', '-1', '0']))
def test_mutated_plans_never_crash(workdir, text):
    (workdir / "out.csv").unlink(missing_ok=True)
    plan = workdir / "online-course.yml"
    plan.write_text(text, encoding="utf-8", errors="surrogatepass")
    before = digest(workdir)
    result = igcb(workdir, "rota", "groups.csv", "--plan", str(plan), "-o", "out.csv")
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert digest(workdir) == before


@pytest.fixture(scope="module")
def module_course(tmp_path_factory) -> Path:
    """The repository's modules and plans, to break one module.yml at a time."""
    root = tmp_path_factory.mktemp("modules-course")
    for folder in ("modules", "course/plans", "assessments/source"):
        shutil.copytree(REPO_ROOT / folder, root / folder,
                        ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    return root


MODULE = "modules/02-infrastructure/module.yml"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_yaml(REPO_ROOT / MODULE, ['[', '{a: 1}', '-1', '0', 'null']))
def test_a_mutated_module_never_crashes_check_and_is_blamed_alone(module_course, text):
    """igcb check on a broken module.yml: exit 0 or 2, no traceback, and the broken module's own
    file is named rather than a cascade of "unknown module" lines about the others."""
    path = module_course / MODULE
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        result = igcb(module_course, "check", env={"IGCB_ROOT": str(module_course)})
    finally:
        shutil.copy(REPO_ROOT / MODULE, path)
    assert result.exit_code in (0, 2), result.output
    cascade = [line for line in result.output.splitlines()
               if "unknown module 'infrastructure'" in line]
    assert not cascade, result.output


INSTRUMENTS = "course/plans/evaluation/online-course.yml"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_yaml(REPO_ROOT / INSTRUMENTS, ['[', '{a: 1}', '-1', '0', 'null', 'pre',
                                                    '{from: end, months: 99999}']))
def test_mutated_instruments_never_crash_check_and_name_their_file(module_course, text):
    """igcb check on a broken instruments file: exit 0 or 2, no traceback, and every problem it
    reports is in that file (the plan and modules are fine)."""
    path = module_course / INSTRUMENTS
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        result = igcb(module_course, "check", env={"IGCB_ROOT": str(module_course)})
    finally:
        shutil.copy(REPO_ROOT / INSTRUMENTS, path)
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert result.output.startswith("Error:"), result.output
        problems = result.output.removeprefix("Error: ").splitlines()
        assert all(INSTRUMENTS in line for line in problems if line.strip()), result.output
