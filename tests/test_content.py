"""The content bar of ../shared/CONTENT.md that a machine can check, for every shipped module:
reading length and sections in order, a lab with a control to explore, prompts with advice,
and a rubric the review form can be built from. Accuracy and balance are for a reader."""

import re

import nbformat
import pytest

from course.grading.written import parse_rubric
from course.layout import Layout
from course.modules import load_catalogue

LAYOUT = Layout.default()
CATALOGUE, _ = load_catalogue(LAYOUT.modules)

# The reading's sections, in this order; a module may add others between them.
SECTIONS = [
    ("why it matters", r"^why (it|this) matters"),
    ("key concepts", r"^key concepts"),
    ("institutions, instruments and processes", r"^institutions"),
    ("stakeholder perspectives", r"^stakeholder perspectives"),
    ("a case, with its source", r"\bcase\b"),
    ("in your context", r"^in your context"),
    ("sources", r"^sources$"),
]


def markdown(path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def prose_words(text: str) -> int:
    """Words a participant reads: markdown before `## Sources`, without link targets.

    >>> prose_words("Two [words](https://x.org).\\n## Sources\\n- Not counted")
    2
    """
    text = re.split(r"^## Sources\b", text, flags=re.M)[0]
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"https?://\S+", "", text)
    return sum(1 for w in re.findall(r"[\w'’-]+", text) if re.search(r"[^\W\d_]", w))


def test_prose_words_counts_what_is_read():
    assert prose_words("Two [words](https://x.org), 2026.\n## Sources\n- Not counted") == 2


def test_the_catalogue_has_the_fourteen_modules():
    assert len(CATALOGUE) == 14
    assert [e.folder.name[:2] for e in CATALOGUE.values()] == [f"{n:02d}" for n in range(1, 15)]


@pytest.mark.parametrize("module_id", list(CATALOGUE))
def test_reading_length_and_sections(module_id):
    entry = CATALOGUE[module_id]
    texts = [markdown(entry.folder / name) for name in entry.module.readings]
    words = sum(prose_words(t) for t in texts)
    assert 3000 <= words <= 5000, f"{module_id}: the readings have {words} words"
    headings = [h.strip().lower() for h in re.findall(r"^## (.+)$", texts[0], flags=re.M)]
    position = 0
    for name, pattern in SECTIONS:
        found = [i for i, h in enumerate(headings) if i >= position and re.search(pattern, h)]
        assert found, f"{module_id}: no section '{name}' after {headings[:position]}"
        position = found[0] + 1


@pytest.mark.parametrize("module_id", list(CATALOGUE))
def test_lab_has_a_control_and_ends_with_a_policy_question(module_id):
    entry = CATALOGUE[module_id]
    for name in entry.module.labs:
        notebook = nbformat.read(entry.folder / name, as_version=4)
        code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
        assert "ipywidgets" in code, f"{module_id}/{name}: no ipywidgets control"
        last = [c.source for c in notebook.cells if c.cell_type == "markdown"][-1]
        assert "?" in last or "policy question" in last.lower(), \
            f"{module_id}/{name}: the lab should end with a question on policy"


@pytest.mark.parametrize("module_id", list(CATALOGUE))
def test_prompts_have_advice_and_the_rubric_builds_a_review_form(module_id):
    module = CATALOGUE[module_id].module
    assert len(module.discussion_prompts) >= 3
    assert all(p.facilitation.strip() for p in module.discussion_prompts)
    rubric = parse_rubric(LAYOUT.assessments / "source" / module.assessment)
    assert sum(max(level["points"] for level in c["levels"]) for c in rubric["criteria"]) == 10
