"""An nbgrader course root: its configuration, folders, gradebook and API."""

import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from course.errors import UserError

CONFIG_FILE = "nbgrader_config.py"
SQLITE_HEADER = b"SQLite format 3\x00"


def _ensure_tools_on_path() -> None:
    # nbgrader runs `alembic` when it creates a gradebook: it lives beside this interpreter.
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


@dataclass
class NbgraderCourse:
    """One course root (`assessments/` by default), opened with its nbgrader_config.py."""

    root: Path
    config: Config

    @classmethod
    def open(cls, root: Path) -> "NbgraderCourse":
        root = Path(root).resolve()
        if not (root / "source").is_dir():
            raise UserError(f"{root}: not an nbgrader course root (no source/ folder)")
        config = Config()
        if (root / CONFIG_FILE).exists():
            try:
                config.merge(PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config())
            except Exception as err:  # a broken config file is the user's to fix
                raise UserError(f"{root / CONFIG_FILE}: {err}") from None
        config.CourseDirectory.root = str(root)
        _ensure_tools_on_path()
        return cls(root, config)

    @property
    def coursedir(self) -> CourseDirectory:
        return CourseDirectory(config=self.config)

    @property
    def course_id(self) -> str:
        return self.coursedir.course_id or "default_course"

    @property
    def db_url(self) -> str:
        return self.coursedir.db_url

    def folder(self, step: str, student: str = ".", assignment: str = ".") -> Path:
        """A step's folder, as nbgrader names it (source, release, submitted, autograded, feedback)."""
        cd = self.coursedir
        step_dir = getattr(cd, f"{step}_directory")
        return Path(cd.format_path(step_dir, student, assignment)).resolve()

    @property
    def gradebook_file(self) -> Path | None:
        """The gradebook's SQLite file, when it is one."""
        try:
            url = make_url(self.db_url)
        except ArgumentError:
            return None
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database)

    @contextmanager
    def gradebook(self):
        """nbgrader's Gradebook; a damaged or foreign file is a UserError naming it."""
        where = self.gradebook_file or self.db_url
        path = self.gradebook_file
        if path is not None and path.is_file():
            with open(path, "rb") as handle:
                head = handle.read(len(SQLITE_HEADER))
            if head and head != SQLITE_HEADER:
                raise UserError(f"{path}: not an nbgrader gradebook (damaged, or another kind of "
                                "file): restore it from a backup, or move it away to start anew")
        try:
            with Gradebook(self.db_url, self.course_id) as gb:
                yield gb
        except DatabaseError as err:
            raise UserError(f"{where}: the gradebook cannot be read ({err.orig}): restore it "
                            "from a backup") from None

    def api(self) -> NbGraderAPI:
        log = logging.getLogger("traitlets")
        level = log.level
        # a missing exchange is logged as CRITICAL while the API starts; callers report it plainly
        log.setLevel(logging.CRITICAL + 1)
        try:
            api = NbGraderAPI(config=self.config)
        finally:
            log.setLevel(level)
        api.log.setLevel(logging.WARNING)
        return api

    def source_assignments(self) -> list[str]:
        return sorted(p.name for p in (self.root / "source").iterdir()
                      if p.is_dir() and not p.name.startswith("."))

    def require_assignment(self, assignment: str) -> None:
        if assignment not in self.source_assignments():
            known = ", ".join(self.source_assignments()) or "none"
            raise UserError(f"unknown assignment {assignment!r} in {self.root}/source (known: {known})")

    def require_released(self, assignment: str) -> Path:
        """The release folder of a generated assignment (its notebooks carry the checksums)."""
        self.require_assignment(assignment)
        release = self.folder("release", assignment=assignment)
        never_generated = UserError(f"assignment {assignment!r} is not generated yet: "
                                    f"run `igcb assignments release {assignment}` first")
        if self.gradebook_file is not None and not self.gradebook_file.exists():
            raise never_generated  # and opening the gradebook would create an empty one
        with self.gradebook() as gb:
            known = {a.name for a in gb.assignments}
        if assignment not in known or not release.is_dir():
            raise never_generated
        return release
