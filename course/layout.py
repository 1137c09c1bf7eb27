"""Where things live in a course repository (see DESIGN.md, Layout)."""

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layout:
    """The folders of one course repository; `Layout.default()` is this checkout."""

    root: Path

    @classmethod
    def default(cls) -> "Layout":
        return cls(Path(os.environ.get("IGCB_ROOT", REPO_ROOT)))

    @property
    def modules(self) -> Path:
        return self.root / "modules"

    @property
    def plans(self) -> Path:
        return self.root / "course" / "plans"

    @property
    def book(self) -> Path:
        return self.root / "book"

    @property
    def assessments(self) -> Path:
        return self.root / "assessments"
