"""`igcb check`: every problem in the modules, plans and compendium, listed at once."""

import graphlib
from pathlib import Path

import nbformat

from course import compendium
from course.errors import Problem, UserError
from course.evaluation.instruments import check_instruments, instruments_path, load_instruments
from course.layout import Layout
from course.modules import CatalogueEntry, folder_module_ids, load_catalogue
from course.plans import Plan, find_plan, load_plan


def check_notebook(path: Path) -> list[Problem]:
    """A notebook must exist, be valid nbformat 4 and be stored without outputs."""
    if not path.is_file():
        return [Problem(path, "notebook not found")]
    try:
        notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    except UnicodeDecodeError:
        return [Problem(path, "not a notebook: the file is not UTF-8 text")]
    except Exception as err:  # nbformat raises JSON, reader and validation errors alike
        return [Problem(path, f"not a valid notebook: {_first_line(err)}")]
    if notebook.get("nbformat") != 4:
        return [Problem(path, f"nbformat {notebook.get('nbformat')} notebook: expected nbformat 4")]
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as err:
        return [Problem(path, f"not a valid notebook: {_first_line(err)}")]
    with_outputs = [i + 1 for i, cell in enumerate(notebook.cells)
                    if cell.cell_type == "code" and cell.get("outputs")]
    if with_outputs:
        return [Problem(path, f"cells {with_outputs} have stored outputs: notebooks are stored "
                              "without outputs (jupyter nbconvert --clear-output --inplace)")]
    return []


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def check_module(entry: CatalogueEntry, catalogue: dict, layout: Layout,
                 broken: frozenset[str] = frozenset()) -> list[Problem]:
    """`broken`: ids of modules whose module.yml is itself in error (reported there, once)."""
    module, yml = entry.module, entry.folder / "module.yml"
    problems = []
    for name in module.notebooks:
        problems += check_notebook(entry.folder / name)
    for prerequisite in module.prerequisites:
        if prerequisite not in catalogue and prerequisite not in broken:
            problems.append(Problem(yml, f"prerequisites: unknown module {prerequisite!r}"))
    if module.assessment and not (layout.assessments / "source" / module.assessment).is_dir():
        problems.append(Problem(yml, f"assessment: {module.assessment!r} has no folder "
                                     f"{layout.assessments / 'source' / module.assessment}"))
    return problems


def check_prerequisite_cycles(catalogue: dict[str, CatalogueEntry]) -> list[Problem]:
    graph = {mid: [p for p in e.module.prerequisites if p in catalogue]
             for mid, e in catalogue.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as err:
        cycle = err.args[1]
        where = catalogue[cycle[0]].folder / "module.yml"
        return [Problem(where, "prerequisites form a cycle: " + " -> ".join(reversed(cycle)))]
    return []


def check_plan(plan: Plan, path: Path, catalogue: dict[str, CatalogueEntry],
               broken: frozenset[str] = frozenset()) -> list[Problem]:
    """A plan may name only existing modules, and schedule prerequisites first.

    Modules in `broken` exist but cannot be read: their own error is reported, not each use.
    """
    problems = []
    position = {}
    for number, session in enumerate(plan.sessions, start=1):
        for module_id in session.modules:
            if module_id not in catalogue and module_id not in broken:
                known = ", ".join(catalogue) or "none"
                problems.append(Problem(path, f"sessions[{number}].modules: unknown module "
                                              f"{module_id!r} (known: {known})"))
            position.setdefault(module_id, number)
    for module_id, number in position.items():
        if module_id not in catalogue:
            continue
        for prerequisite in catalogue[module_id].module.prerequisites:
            if position.get(prerequisite, 0) > number:
                problems.append(Problem(path, f"sessions[{number}]: {module_id!r} comes before "
                                              f"its prerequisite {prerequisite!r}"))
    assignments = {catalogue[m].module.assessment for m in position if m in catalogue}
    if broken & set(position):  # an unreadable module's assessment is unknown
        return problems
    for number, session in enumerate(plan.sessions, start=1):
        for deadline in session.deadlines:
            if deadline.assignment and deadline.assignment not in assignments:
                problems.append(Problem(path, f"sessions[{number}].deadlines: assignment "
                                              f"{deadline.assignment!r} is not the assessment of "
                                              "a module in this plan"))
    return problems


def check_course(layout: Layout, plans: list[Path] | None = None) -> list[Problem]:
    """Every problem in the layout's modules, in the given plans (default: all shipped) and in
    the compendium (an empty or missing compendium folder is fine)."""
    catalogue, problems = load_catalogue(layout.modules)
    broken = frozenset(folder_module_ids(layout.modules) - set(catalogue))
    for entry in catalogue.values():
        problems += check_module(entry, catalogue, layout, broken)
    problems += check_prerequisite_cycles(catalogue)
    for path in plans if plans is not None else sorted(layout.plans.glob("*.yml")):
        plan, found = load_plan(path)
        problems += found
        if plan is not None:
            problems += check_plan(plan, path, catalogue, broken)
            problems += check_plan_instruments(plan, path, catalogue)
    topics = None if broken else compendium.topic_vocabulary(catalogue)
    problems += compendium.check_compendium(layout.root / compendium.FOLDER, topics)
    return problems


def check_plan_instruments(plan: Plan, path: Path,
                           catalogue: dict[str, CatalogueEntry]) -> list[Problem]:
    """The plan's evaluation instruments, when it has a file of them (a plan need not)."""
    evaluation = instruments_path(path)
    if not evaluation.exists():
        return []
    instruments, problems = load_instruments(evaluation)
    if instruments is None:
        return problems
    return check_instruments(instruments, evaluation, plan, catalogue)


def load_checked_plan(name: str, layout: Layout) -> tuple[Plan, dict[str, CatalogueEntry]]:
    """The plan and the catalogue, or a UserError listing every problem in either."""
    path = find_plan(name, layout.plans)
    problems = check_course(layout, plans=[path])
    if problems:
        raise UserError.from_problems(problems)
    plan, _ = load_plan(path)
    catalogue, _ = load_catalogue(layout.modules)
    return plan, catalogue
