"""The cohort autograder: every submission of an assignment, in parallel, contained.

nbgrader's own pieces do the grading: its gradebook, its sanitising preprocessors
(ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata), its
Execute preprocessor and its saving ones (LimitOutput, SaveAutoGrades, AssignLatePenalties).
What changes is the driver:

- one process imports nbgrader once and runs many notebooks at a time over asyncio, each in
  its own fresh kernel taken from a pool started ahead of need (pool.py);
- only this process writes the gradebook, from one thread, so no SQLite locking and no lost
  grades; kernels never see it;
- kernels run in a sandbox (sandbox.py) in a throw-away working copy, with per-cell time,
  memory and output limits (execute.py); problems are recorded per submission;
- a submission is marked done (`autograded/<student>/<a>/.igcb-grade.json`) only after its
  grades are committed, so a run killed half way and started again grades what is left.

What the sandbox stopped is not only stopped but told: the attempt monitor (monitor.py)
reports each write or read outside the working copy, removal, connection or program aimed at
the course, and the submission is flagged with what it tried (the outcome's `attempts`, the
status file, the summary of `igcb grade`, "needs manual grade" in the formgrader), its score
kept. A kernel with its own cgroup (processes.py) that is refused a new process (a fork
bomb) is stopped with everything it started, flagged, and the batch goes on.

Limits that remain: with Landlock the kernel cannot write outside its working copy, read the
course root, open TCP connections or signal the grader; without Landlock (non-Linux, old
kernels) only the working copy, the clean environment and the resource limits hold, and
student code runs with the grader's user rights (the monitor still reports what it tries).
In every case student code runs in the same interpreter as the tests, so a deliberate cheat
(patching IPython to hide a failing test) is not caught here: hidden tests and tutor review
are the defence; for the same reason code that calls the C library itself (ctypes) is not
seen by the monitor, though the sandbox holds. The CPU time limit is per cell, not per
process. Without a writable cgroup pids controller the number of processes is bounded only by
RLIMIT_NPROC, a little above the user's count at start (not at all as root), and processes a
submission starts in a new session may outlive its kernel.
"""

import asyncio
import json
import shutil
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbgrader.converters import Autograde
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, SaveAutoGrades
from nbgrader.utils import find_all_files
from traitlets.config import Config

from course.errors import UserError
from course.grading import checks, monitor, processes, sandbox
from course.grading.execute import mark_not_run, run_notebook
from course.grading.nbgrader_course import NbgraderCourse
from course.grading.pool import KernelPool, Limits

STATUS_FILE = ".igcb-grade.json"

# nbgrader's gradebook warns about its own session use on every new submission; harmless here.
warnings.filterwarnings("ignore", message=r"Object of type <Submitted", module=r"nbgrader\.")


@dataclass
class Outcome:
    """What happened to one student's submission."""

    student: str
    status: str  # graded | flagged | failed | skipped
    score: float | None = None
    max_score: float | None = None
    reasons: list[str] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)  # what its code tried outside the sandbox


@dataclass
class _Submission:
    student: str
    src: Path
    dest: Path
    timestamp: str | None
    reasons: list[str] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    pending: int = 0
    failed: bool = False


@dataclass
class _Job:
    sub: _Submission
    notebook: str
    nb: nbformat.NotebookNode
    resources: dict
    tampered: bool

    @property
    def needs_kernel(self) -> bool:
        # a notebook with no code to run (a written answer) gets the same grades without one
        return any(c.cell_type == "code" and c.source.strip() for c in self.nb.cells)


class SaveAutoGradesOnce(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, committing once per notebook rather than once per cell."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
        self.student_id, self.db_url = info["student"], info["db_url"]
        self.gradebook = Gradebook(self.db_url)
        with self.gradebook:
            commit, self.gradebook.db.commit = self.gradebook.db.commit, self.gradebook.db.flush
            nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
            commit()
        return nb, resources


def landlock_available() -> bool:
    return sandbox.landlock_abi() > 0


def process_limit_available() -> bool:
    """Whether each kernel can get a cgroup of its own (a fork bomb is contained)."""
    return processes.available()


class Autograder:
    """Grades the submissions of one assignment; `run()` returns an Outcome per student."""

    def __init__(self, course: NbgraderCourse, assignment: str, *, workers: int = 2,
                 limits: Limits = Limits(), force: bool = False,
                 progress: Callable[[Outcome], None] | None = None):
        self.course, self.assignment = course, assignment
        self.workers, self.limits, self.force = max(1, workers), limits, force
        self.progress = progress or (lambda outcome: None)
        self.outcomes: dict[str, Outcome] = {}
        config = Config(course.config)
        if "add_missing_cells" not in config.OverwriteCells:
            config.OverwriteCells.add_missing_cells = True
        self.config = config
        autograde = Autograde(coursedir=course.coursedir, config=config)
        steps = list(autograde.autograde_preprocessors)
        after_execute = steps[steps.index(Execute) + 1:] if Execute in steps else steps
        self.sanitize = [self._make(pp) for pp in autograde.sanitize_preprocessors]
        self.save = [self._make(pp) for pp in after_execute]
        self.exclude_overwriting = set(autograde.exclude_overwriting.get(assignment, []))

    def _make(self, pp) -> Preprocessor:
        pp = SaveAutoGradesOnce if pp is SaveAutoGrades else pp
        return pp(config=self.config) if isinstance(pp, type) else pp

    # -- what to grade -------------------------------------------------------

    def students(self) -> list[str]:
        root = self.course.folder("submitted")
        if not root.is_dir():
            return []
        return sorted(d.name for d in root.iterdir() if (d / self.assignment).is_dir())

    def _timestamp(self, src: Path) -> str | None:
        path = src / "timestamp.txt"
        return path.read_text(encoding="utf-8", errors="replace").strip() if path.is_file() else None

    def _done(self, dest: Path, timestamp: str | None) -> Outcome | None:
        try:
            status = json.loads((dest / STATUS_FILE).read_text())
        except (OSError, ValueError):
            return None
        if status.get("timestamp") != timestamp or status.get("status") == "failed":
            return None
        return Outcome(status["student"], "skipped", status.get("score"), status.get("max_score"),
                       [f"already {status['status']}"] + status.get("reasons", []), status.get("attempts", []))

    # -- the run ---------------------------------------------------------------

    def run(self, students: list[str] | None = None) -> list[Outcome]:
        release = self.course.require_released(self.assignment)
        with self.course.gradebook() as gb:
            self.notebooks = [nb.name for nb in gb.find_assignment(self.assignment).notebooks]
        self.protected = {}
        for name in self.notebooks:
            path = release / f"{name}.ipynb"
            self.protected[name] = checks.protected_checksums(nbformat.read(path, as_version=4)) if path.exists() else {}
        students = self.students() if students is None else students
        if not students:
            raise UserError(f"no submissions of {self.assignment!r} in {self.course.folder('submitted')}")
        todo = []
        for student in students:
            src = self.course.folder("submitted", student, self.assignment)
            dest = self.course.folder("autograded", student, self.assignment)
            timestamp = self._timestamp(src)
            done = None if self.force else self._done(dest, timestamp)
            if done:
                self.outcomes[student] = done
                self.progress(done)
            else:
                todo.append(_Submission(student, src, dest, timestamp))
        if todo:
            asyncio.run(self._grade(todo))
        return [self.outcomes[s] for s in students]

    async def _grade(self, subs: list[_Submission]) -> None:
        """Prepare, run and save, overlapped: the gradebook work runs in one writer thread
        (in order, so one writer), kernels start ahead, notebooks run `workers` at a time."""
        loop = asyncio.get_running_loop()
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="igcb-gradebook")
        base = Path(tempfile.mkdtemp(prefix="igcb-grade-"))
        hidden = self.course.root
        if Path(sys.prefix).resolve().is_relative_to(hidden):
            hidden = None  # the kernel must be able to read its own Python
        cgroups = processes.ProcessLimits.create()
        pool = KernelPool(base, size=self.workers, needed=0, limits=self.limits, hidden=hidden, processes=cgroups)
        queue: asyncio.Queue = asyncio.Queue(maxsize=2 * self.workers)
        source = self.course.folder("source", assignment=self.assignment)
        source_files = self._source_files()
        background = set()

        async def feed() -> None:
            for sub in subs:
                try:
                    jobs = await loop.run_in_executor(writer, self._prepare, sub)
                except Exception as err:  # one broken submission must not stop the batch
                    sub.failed, jobs = True, []
                    sub.reasons.append(f"could not prepare the submission: {err}")
                if not jobs:
                    await loop.run_in_executor(writer, self._finish_submission, sub)
                pool.needed += sum(job.needs_kernel for job in jobs)
                pool.fill()
                for job in jobs:
                    await queue.put(job)
            for _ in range(self.workers):
                await queue.put(None)

        async def work() -> None:
            while (job := await queue.get()) is not None:
                problems, error, attempts = [], None, []
                if job.needs_kernel:
                    try:
                        kernel = await pool.take()
                    except Exception as err:
                        error = str(err)
                    else:
                        watch = asyncio.ensure_future(pool.watch(kernel))
                        try:
                            for path in source_files:
                                target = kernel.workdir / path.relative_to(source)
                                target.parent.mkdir(parents=True, exist_ok=True)
                                shutil.copy(path, target)
                            problems = await run_notebook(job.nb, kernel, self.limits, self.config)
                        except Exception as err:
                            error = f"{type(err).__name__}: {err}"
                        finally:
                            watch.cancel()
                            attempts, signs = pool.attempts(kernel)
                            problems += signs
                            task = asyncio.ensure_future(pool.discard(kernel))
                            background.add(task)
                            task.add_done_callback(background.discard)
                await loop.run_in_executor(writer, self._finish_job, job, problems, error, attempts)

        try:
            await asyncio.gather(feed(), *(work() for _ in range(self.workers)))
            await asyncio.gather(*background)
        finally:
            await pool.close()
            if cgroups:
                cgroups.close()
            writer.shutdown(wait=True)
            shutil.rmtree(base, ignore_errors=True)

    def _prepare(self, sub: _Submission) -> list[_Job]:
        """Register the submission in the gradebook and sanitise its notebooks."""
        if sub.dest.exists():
            shutil.rmtree(sub.dest)
        sub.dest.mkdir(parents=True)
        course, a = self.course, self.assignment
        with course.gradebook() as gb:
            gb.update_or_create_student(sub.student)
            ts = course.coursedir.get_existing_timestamp(str(sub.src))
            if ts:
                gb.update_or_create_submission(a, sub.student, timestamp=ts)
            else:
                gb.update_or_create_submission(a, sub.student)
        if (sub.src / "timestamp.txt").is_file():
            shutil.copy(sub.src / "timestamp.txt", sub.dest / "timestamp.txt")
        for path in self._source_files():
            target = sub.dest / path.relative_to(self.course.folder("source", assignment=a))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)

        ignore = course.coursedir.ignore
        names = {f"{n}.ipynb" for n in self.notebooks}
        source = course.folder("source", assignment=a)
        released_files = {p.relative_to(source).as_posix() for p in self._source_files()}
        extras = checks.extra_files(sub.src, names, ignore, self.exclude_overwriting | released_files)
        unknown_nbs = [e for e in extras if e.endswith(".ipynb")]
        if extras:
            shown = ", ".join(extras[:5]) + (f" and {len(extras) - 5} more" if len(extras) > 5 else "")
            sub.reasons.append(f"extra files ignored: {shown}")

        jobs = []
        for name in self.notebooks:
            path = sub.src / f"{name}.ipynb"
            if not path.exists() and not path.is_symlink():
                hint = f" (found {', '.join(unknown_nbs)}: renamed?)" if unknown_nbs else ""
                self._zero(sub, name, f"notebook {name}.ipynb is missing{hint}: scored 0")
                continue
            try:
                nb = checks.read_submitted(path, self.limits.notebook_mb)
            except checks.InvalidNotebook as err:
                self._zero(sub, name, f"{err}: scored 0")
                continue
            tampered = checks.tampered_cells(nb, self.protected.get(name, {}))
            sub.reasons += [f"{name}: {t}" for t in tampered]
            resources = {"nbgrader": {"student": sub.student, "assignment": a, "notebook": name,
                                      "db_url": course.db_url}}
            try:
                for pp in self.sanitize:
                    nb, resources = pp(nb, resources)
            except Exception as err:
                self._zero(sub, name, f"{name}.ipynb has broken nbgrader metadata ({err}): scored 0")
                continue
            jobs.append(_Job(sub, name, nb, resources, bool(tampered)))
        sub.pending = len(jobs)
        return jobs

    def _source_files(self) -> list[Path]:
        source = self.course.folder("source", assignment=self.assignment)
        files = find_all_files(str(source), self.course.coursedir.ignore + ["*.ipynb"])
        return [Path(f) for f in files if Path(f).relative_to(source).as_posix() not in self.exclude_overwriting]

    def _zero(self, sub: _Submission, notebook: str, reason: str) -> None:
        """No credit for a notebook that cannot run, as nbgrader does for a missing one."""
        sub.reasons.append(reason)
        with self.course.gradebook() as gb:
            for grade in gb.find_submission_notebook(notebook, self.assignment, sub.student).grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            gb.db.commit()

    # -- writing results (this process only) --------------------------------------

    def _finish_job(self, job: _Job, problems: list[str], error: str | None,
                    attempts: list[tuple[str, str]] = ()) -> None:
        sub = job.sub
        sub.reasons += [f"{job.notebook}: {p}" for p in problems]
        if attempts:  # flagged for a tutor; the grades stand
            root = str(self.course.root.resolve())
            sub.reasons.append(f"{job.notebook}: {monitor.describe(attempts, root)}")
            sub.attempts += [f"{job.notebook}: {item}" for item in monitor.named(attempts, root)]
        try:
            if error:
                mark_not_run(job.nb, 0, f"not graded: {error}")
                sub.failed = True
                sub.reasons.append(f"{job.notebook}: {error}")
            nb, resources = job.nb, job.resources
            for pp in self.save:
                nb, resources = pp(nb, resources)
            if job.tampered or attempts:  # for a tutor in the formgrader (and the export); scores stand
                with self.course.gradebook() as gb:
                    for grade in gb.find_submission_notebook(job.notebook, self.assignment, sub.student).grades:
                        grade.needs_manual_grade = True
                    gb.db.commit()
            nbformat.write(nb, str(sub.dest / f"{job.notebook}.ipynb"))
        except Exception as err:
            sub.failed = True
            sub.reasons.append(f"{job.notebook}: could not save grades: {type(err).__name__}: {err}")
        sub.pending -= 1
        if sub.pending == 0:
            self._finish_submission(sub)

    def _finish_submission(self, sub: _Submission) -> None:
        score = max_score = None
        try:
            with self.course.gradebook() as gb:
                submission = gb.find_submission(self.assignment, sub.student)
                score, max_score = submission.score, submission.max_score
        except Exception as err:
            sub.failed = True
            sub.reasons.append(f"could not read the score back: {err}")
        status = "failed" if sub.failed else "flagged" if sub.reasons else "graded"
        outcome = Outcome(sub.student, status, score, max_score, sub.reasons, sub.attempts)
        record = asdict(outcome) | {"timestamp": sub.timestamp}
        sub.dest.mkdir(parents=True, exist_ok=True)
        (sub.dest / STATUS_FILE).write_text(json.dumps(record, indent=1))
        self.outcomes[sub.student] = outcome
        self.progress(outcome)
