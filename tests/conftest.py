import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from course.cli import main
from course.layout import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures"


def run_igcb(*args: str, root: Path | None = None):
    """Run `igcb ARGS` in-process, on the course repository at `root` (default: this one)."""
    env = {"IGCB_ROOT": str(root)} if root else {}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def mini_course(tmp_path) -> Path:
    """A copy of the one-module fixture course, with this repository's book/, safe to break."""
    root = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", root)
    shutil.copytree(REPO_ROOT / "book", root / "book", ignore=shutil.ignore_patterns("_build"))
    return root


@pytest.fixture
def course_copy(tmp_path) -> Path:
    """A copy of this repository's modules, plans, book and assessments, safe to break."""
    root = tmp_path / "course"
    for folder in ("modules", "course/plans", "book", "assessments"):
        if (REPO_ROOT / folder).is_dir():
            shutil.copytree(REPO_ROOT / folder, root / folder,
                            ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    return root
