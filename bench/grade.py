"""Benchmark: plain `nbgrader autograde` against `igcb grade` on the same cohort.

    python bench/grade.py [--students 60] [--assignment what-is-ig] [--workers N (default: CPUs + 1)]

Makes a temporary course with one assignment of the repository (two notebooks), releases
it, writes a cohort of submissions (correct, partial and empty answers in turn), copies the
course twice and grades one copy with each command, in this run on this machine. Prints both
times, the ratio, and whether every student got the same score from both.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from course.grading.nbgrader_course import NbgraderCourse  # noqa: E402
from course.grading.samples import submit  # noqa: E402

BIN = Path(sys.executable).parent


def make_cohort(root: Path, assignment: str, students: int) -> None:
    root.mkdir(parents=True)
    shutil.copy(REPO / "assessments" / "nbgrader_config.py", root)
    shutil.copytree(REPO / "assessments" / "source" / assignment, root / "source" / assignment)
    course = NbgraderCourse.open(root)
    result = course.api().generate_assignment(assignment, force=True, create=True)
    assert result["success"], result.get("log")
    kinds = ["correct", "partial", "empty"]
    for i in range(students):
        submit(course, assignment, f"s{i:03d}", kinds[i % 3])


def scores(root: Path, assignment: str) -> dict[str, float]:
    with NbgraderCourse.open(root).gradebook() as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(assignment)}


def timed(cmd: list[str], cwd: Path) -> float:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--assignment", default="what-is-ig")
    parser.add_argument("--workers", type=int, default=min(8, (os.cpu_count() or 1) + 1))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="igcb-bench-") as tmp:
        plain, ours = Path(tmp) / "plain", Path(tmp) / "igcb"
        make_cohort(plain, args.assignment, args.students)
        shutil.copytree(plain, ours)
        notebooks = len(list((plain / "release" / args.assignment).glob("*.ipynb")))
        print(f"cohort: {args.students} submissions x {notebooks} notebooks of {args.assignment}; "
              f"{os.cpu_count()} CPUs")

        t_plain = timed([str(BIN / "nbgrader"), "autograde", args.assignment], plain)
        t_ours = timed([str(BIN / "igcb"), "grade", args.assignment, "--course-dir", str(ours),
                        "--workers", str(args.workers)], ours)

        a, b = scores(plain, args.assignment), scores(ours, args.assignment)
        n = args.students * notebooks
        print(f"nbgrader autograde: {t_plain:7.1f} s  ({t_plain / n:.2f} s a notebook)")
        print(f"igcb grade -j {args.workers}:    {t_ours:7.1f} s  ({t_ours / n:.2f} s a notebook)")
        print(f"speed-up: {t_plain / t_ours:.1f}x")
        same = len(a) == args.students and a == b
        print(f"identical scores for all {args.students} students: {'yes' if same else 'NO'}")
        if not same:
            diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
            print("differences (nbgrader, igcb):", diff)
            sys.exit(1)


if __name__ == "__main__":
    main()
