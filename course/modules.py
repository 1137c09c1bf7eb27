"""The module format (`modules/<NN-id>/module.yml`) and the catalogue of modules."""

import re
from enum import Enum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from course.errors import Problem
from course.yamlfile import load_model

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"  # ASCII: "²".isdigit() is True in Python
Slug = Annotated[str, StringConstraints(pattern=SLUG)]
Notebook = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+\.ipynb$")]
LanguageCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

FOLDER_NAME = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)$")

# Objectives must be checkable by a tutor (CONTENT.md): these verbs are not.
UNCHECKABLE_VERBS = {"understand", "know", "learn", "appreciate", "be", "become", "grasp"}


class Level(str, Enum):
    awareness = "awareness"
    foundation = "foundation"
    advanced = "advanced"


class DiscussionPrompt(BaseModel):
    """A prompt for the peer-facilitated discussion, with advice for the facilitator."""

    model_config = ConfigDict(extra="forbid")
    prompt: Text
    facilitation: Text


class License(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text = "CC-BY-4.0"
    code: Text = "MIT"


class Module(BaseModel):
    """The metadata of one module, as in DESIGN.md's contract."""

    model_config = ConfigDict(extra="forbid")
    id: Slug
    title: Text
    summary: Text
    level: Level
    duration: float = Field(gt=0, le=200, description="hours of study")
    objectives: list[Text] = Field(min_length=1)
    topics: list[Slug] = Field(min_length=1)
    readings: list[Notebook] = Field(min_length=1)
    labs: list[Notebook] = []
    discussion_prompts: list[DiscussionPrompt] = Field(min_length=3)
    assessment: Slug | None = None
    languages: list[LanguageCode] = Field(min_length=1)
    license: License = License()
    prerequisites: list[Slug] = []

    @field_validator("objectives")
    @classmethod
    def objectives_are_checkable(cls, objectives: list[str]) -> list[str]:
        for objective in objectives:
            verb = objective.split()[0].lower()
            if verb in UNCHECKABLE_VERBS:
                raise ValueError(
                    f"objective {objective!r} starts with {verb!r}: start with a verb a tutor "
                    "can check (compare, map, draft, calculate, explain)")
        return objectives

    @field_validator("assessment", mode="before")
    @classmethod
    def none_means_no_assessment(cls, value):
        return None if value in ("none", "") else value

    @property
    def notebooks(self) -> list[str]:
        """Readings, then labs: the module's pages in reading order."""
        return self.readings + self.labs


class CatalogueEntry(BaseModel):
    """A module and the folder it lives in."""

    module: Module
    folder: Path

    @property
    def number(self) -> str:
        return self.folder.name[:2]


def load_module(folder: Path) -> tuple[CatalogueEntry | None, list[Problem]]:
    """Load `folder/module.yml`, checking it against the folder's name."""
    path = folder / "module.yml"
    module, problems = load_model(Module, path)
    if module is None:
        return None, problems
    match = FOLDER_NAME.match(folder.name)
    if not match:
        return None, [Problem(folder, "module folder name must be NN-id, e.g. 01-what-is-ig")]
    if match.group(2) != module.id:
        return None, [Problem(path, f"id: {module.id!r} does not match the folder name "
                                    f"{folder.name!r} (expected {match.group(2)!r})")]
    return CatalogueEntry(module=module, folder=folder), []


def folder_module_ids(modules_dir: Path) -> set[str]:
    """The module ids that folder names give (NN-id), whether or not their module.yml is valid."""
    if not modules_dir.is_dir():
        return set()
    return {m.group(2) for p in modules_dir.iterdir() if p.is_dir() and (m := FOLDER_NAME.match(p.name))}


def load_catalogue(modules_dir: Path) -> tuple[dict[str, CatalogueEntry], list[Problem]]:
    """Every module under modules_dir, in folder order, keyed by id."""
    catalogue: dict[str, CatalogueEntry] = {}
    problems: list[Problem] = []
    if not modules_dir.is_dir():
        return {}, [Problem(modules_dir, "modules folder not found")]
    for folder in sorted(p for p in modules_dir.iterdir() if p.is_dir()):
        if folder.name.startswith((".", "_")):
            continue
        entry, found = load_module(folder)
        problems += found
        if entry is None:
            continue
        if entry.module.id in catalogue:
            problems.append(Problem(folder, f"id {entry.module.id!r} is also used by "
                                            f"{catalogue[entry.module.id].folder}"))
            continue
        catalogue[entry.module.id] = entry
    return catalogue, problems
