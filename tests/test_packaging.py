"""environment.yml (the conda route) and pyproject.toml must name the same dependencies."""

import re
import tomllib

import yaml

from course.layout import REPO_ROOT

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(.*)$")


def parse(requirement: str) -> tuple[str, str]:
    name, spec = REQUIREMENT.match(requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def pyproject_dependencies() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [
        r for extra in project.get("optional-dependencies", {}).values() for r in extra]
    return dict(parse(r) for r in requirements)


def conda_dependencies() -> dict[str, str]:
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    listed = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip_sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    pip = [line.split("#")[0] for section in pip_sections for line in section
           if not line.startswith("-")]
    return dict(parse(d) for d in listed + pip if parse(d)[0] not in ("python", "pip"))


def test_environment_yml_equals_pyproject():
    assert conda_dependencies() == pyproject_dependencies()


def test_python_versions_agree():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert f"python{project['requires-python']}" in environment["dependencies"]


def test_jupyter_book_stays_on_1x():
    # 2.x downloads its theme at build time, and the course must build offline.
    assert pyproject_dependencies()["jupyter-book"].endswith("<2")
