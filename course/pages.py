"""The book's generated pages for a plan: table of contents, syllabus, schedule, module pages.

Pure functions from a plan and the catalogue to Markdown/YAML text.
"""

import datetime as dt
import html

import yaml

from course.modules import CatalogueEntry
from course.plans import Mode, Plan

MODE_LABEL = {Mode.online: "online", Mode.face_to_face: "face to face"}


def html_link(text: str, url: str) -> str:
    """A link as a raw HTML block: MyST escapes `&` in link targets twice, which breaks
    query strings such as nbgitpuller's."""
    return (f"```{{raw}} html\n<p><a href=\"{html.escape(url)}\">{html.escape(text)}</a></p>\n"
            "```")


def launch_cell(link: str) -> str:
    """The note put at the top of a lab page when the plan names a hub."""
    return (":::{tip}\nRun this lab yourself: open it in the course's JupyterHub.\n\n"
            f"{html_link('Open this lab in JupyterHub', link)}\n:::")


def module_page_path(module_id: str) -> str:
    return f"modules/{module_id}/index"


def table_of_contents(plan: Plan, catalogue: dict[str, CatalogueEntry]) -> str:
    """`_toc.yml` in Jupyter Book's jb-book format, modules in the plan's order."""
    modules = []
    for module_id in plan.module_ids:
        module = catalogue[module_id].module
        modules.append({
            "file": module_page_path(module_id),
            "sections": [{"file": f"modules/{module_id}/{name.removesuffix('.ipynb')}"}
                         for name in module.notebooks],
        })
    toc = {
        "format": "jb-book",
        "root": "intro",
        "parts": [
            {"caption": "This course", "chapters": [{"file": "syllabus"}, {"file": "schedule"}]},
            {"caption": "Modules", "numbered": 1, "chapters": modules},
            {"caption": "About", "chapters": [{"file": "about"}]},
        ],
    }
    return "# Written by `igcb book` from the course plan: edit the plan, not this file.\n" + \
        yaml.safe_dump(toc, sort_keys=False, allow_unicode=True)


def _hours(value: float) -> str:
    return f"{value:g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def syllabus(plan: Plan, catalogue: dict[str, CatalogueEntry]) -> str:
    """The syllabus: the plan's audience and format, and each module's objectives and hours."""
    sessions_of = {}
    for session in plan.sessions:
        for module_id in session.modules:
            sessions_of.setdefault(module_id, []).append(session_label(session))
    total = sum(catalogue[m].module.duration for m in plan.module_ids)
    lines = [
        "# Syllabus", "",
        f"**{plan.title}**", "",
        f"- Audience: {plan.audience}",
        f"- Format: {plan.format.value}",
        f"- Language: {plan.language}",
        f"- Starts: {plan.start:%d %B %Y}",
        f"- Study time: about {_hours(total)} hours over {len(plan.module_ids)} modules", "",
    ]
    if plan.description:
        lines += [plan.description, ""]
    lines += ["## Modules", "",
              "| # | Module | Level | Hours | When |",
              "|---|---|---|---|---|"]
    for number, module_id in enumerate(plan.module_ids, start=1):
        module = catalogue[module_id].module
        lines.append(f"| {number} | {_cell(module.title)} | {module.level.value} | "
                     f"{_hours(module.duration)} | {', '.join(sessions_of[module_id])} |")
    lines.append("")
    for number, module_id in enumerate(plan.module_ids, start=1):
        module = catalogue[module_id].module
        lines += [f"### {number}. {module.title}", "", module.summary, "",
                  f"About {_hours(module.duration)} hours. By the end of this module you can:", ""]
        lines += [f"- {objective}" for objective in module.objectives]
        lines.append("")
    return "\n".join(lines)


def session_label(session) -> str:
    if session.week is not None:
        return f"week {session.week}"
    label = f"day {session.day}"
    return f"{label}, {session.time}" if session.time else label


def _date_range(first: dt.date, last: dt.date) -> str:
    """A compact date or range: 'Mon 01 Mar 2027', '01–07 Mar 2027', '29 Mar – 04 Apr 2027'."""
    if first == last:
        return f"{first:%a %d %b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first:%d}–{last:%d %b %Y}"
    if first.year == last.year:
        return f"{first:%d %b} – {last:%d %b %Y}"
    return f"{first:%d %b %Y} – {last:%d %b %Y}"


def schedule_rows(plan: Plan, catalogue: dict[str, CatalogueEntry]) -> list[dict]:
    """One row per session, then a row for its discussion and one per deadline."""
    rows = []
    for session in plan.sessions:
        first, last = session.dates(plan.start)
        titles = [catalogue[m].module.title for m in session.modules]
        rows.append({"date": _date_range(first, last), "when": session_label(session),
                     "what": session.title, "mode": MODE_LABEL[session.mode],
                     "details": "; ".join(titles) or "-"})
        if session.discussion:
            rows.append({"date": _date_range(first, last), "when": session_label(session),
                         "what": "Facilitated discussion", "mode": MODE_LABEL[session.mode],
                         "details": "led by a participant of each study group "
                                    "(see the facilitation rota)"})
        for deadline in session.deadlines:
            rows.append({"date": f"{last:%a %d %b %Y}", "when": session_label(session),
                         "what": "Deadline", "mode": MODE_LABEL[session.mode],
                         "details": deadline.title})
    return rows


def schedule(plan: Plan, catalogue: dict[str, CatalogueEntry]) -> str:
    """The schedule page: dates from the plan's start date, mode, discussions and deadlines."""
    face_to_face = sum(s.mode is Mode.face_to_face for s in plan.sessions)
    lines = [
        "# Schedule", "",
        f"{plan.title} starts on {plan.start:%A %d %B %Y}. It has {len(plan.sessions)} sessions, "
        f"{face_to_face} of them face to face. Deadlines fall at the end of the session's "
        "last day.", "",
        "| Date | Session | What | Mode | Details |",
        "|---|---|---|---|---|",
    ]
    for row in schedule_rows(plan, catalogue):
        lines.append(f"| {row['date']} | {row['when']} | {_cell(row['what'])} | {row['mode']} | "
                     f"{_cell(row['details'])} |")
    lines.append("")
    return "\n".join(lines)


def module_page(entry: CatalogueEntry, catalogue: dict[str, CatalogueEntry],
                launch_links: dict[str, str] | None = None) -> str:
    """A module's landing page: summary, objectives, labs, prerequisites, discussion prompts.

    `launch_links` maps a lab's file name to the link that opens it in the course's hub.
    """
    module = entry.module
    lines = [f"# {module.title}", "", module.summary, "",
             "| Level | Study time | Topics | Assessment |", "|---|---|---|---|",
             f"| {module.level.value} | about {_hours(module.duration)} hours | "
             f"{', '.join(module.topics)} | {module.assessment or 'none'} |", "",
             "## Objectives", "", "By the end of this module you can:", ""]
    lines += [f"- {objective}" for objective in module.objectives]
    lines.append("")
    if launch_links:
        lines += ["## Run the labs", "",
                  "Open a lab in the course's JupyterHub to run and change its code. The first "
                  "click copies the course into your hub account; your own changes are kept.", ""]
        for name, link in launch_links.items():
            lines += [html_link(f"Open {name} in JupyterHub", link), ""]
    if module.prerequisites:
        titles = [catalogue[p].module.title for p in module.prerequisites if p in catalogue]
        lines += ["## Before you start", "",
                  "This module builds on: " + "; ".join(titles) + ".", ""]
    lines += ["## Discussion prompts", "",
              "One participant of each study group facilitates this module's discussion. "
              "Open with one prompt, ask each stakeholder group to answer from its own "
              "experience, and close with a short summary for the group.", ""]
    for number, item in enumerate(module.discussion_prompts, start=1):
        lines += [f"{number}. {item.prompt}", "",
                  f"   *For the facilitator:* {item.facilitation}", ""]
    lines += ["## Licence", "",
              f"Text {module.license.text}; code {module.license.code}.", ""]
    return "\n".join(lines)
