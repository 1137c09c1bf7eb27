"""The book's generated pages for a plan: table of contents, syllabus, schedule, module pages,
and the compendium of programmes.

Pure functions from a plan, the catalogue and the compendium's records to Markdown/YAML text.
"""

import datetime as dt
import html
import json

import pycountry
import yaml

from course import compendium, ical
from course.compendium import Record
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


PYODIDE_CDN = "cdn.jsdelivr.net"  # where the browser fetches compiled packages (course/lite.py)


def browser_note(from_cdn: list[str] | tuple[str, ...]) -> str:
    """What running a lab in the browser means, and which packages come from Pyodide's CDN."""
    text = ("It runs in your browser, with no server and no account: Python (Pyodide) and the "
            "lab's pure-Python packages come from this site, and your changes stay in your "
            "browser's storage (download the notebook to keep a copy).")
    if from_cdn:
        text += (" Your browser also downloads the compiled packages it uses ("
                 + ", ".join(from_cdn) + f") from Pyodide's CDN, {PYODIDE_CDN}, when the lab "
                 "first imports them.")
    return text


def browser_cell(link: str, from_cdn: list[str] | tuple[str, ...]) -> str:
    """The note put at the top of a lab page that runs in the browser."""
    return (":::{tip}\nRun this lab yourself: open it in your browser.\n\n"
            f"{html_link('Run this lab in your browser', link)}\n\n{browser_note(from_cdn)}\n:::")


def hub_only_cell(missing: list[str] | tuple[str, ...]) -> str:
    """The note put at the top of a lab page that cannot run in the browser."""
    return (":::{note}\nHub only: this lab needs " + ", ".join(f"`{m}`" for m in missing)
            + ", which Python in the browser cannot load; run it in the course's JupyterHub.\n:::")


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
            {"caption": "Continue learning", "chapters": [{"file": COMPENDIUM_PAGE}]},
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
    timed = any(s.time for s in plan.sessions)
    calendar = html.escape(ical.file_name(plan))
    lines = [
        "# Schedule", "",
        f"{plan.title} starts on {plan.start:%A %d %B %Y}. It has {len(plan.sessions)} sessions, "
        f"{face_to_face} of them face to face. Deadlines fall at the end of the session's "
        "last day" + (f". Times are in the {plan.timezone} time zone." if timed else "."), "",
        # A paragraph with an inline link (not a raw block), so that translations reach it.
        ":::{tip}",
        f'Add these dates to your calendar: <a href="{calendar}">download</a> the course '
        "calendar and open it, or subscribe to it so that changes reach your calendar: copy the "
        "link's address and add it in your calendar app as a calendar from a URL (Google "
        "Calendar: Other calendars, +, From URL; Outlook: Add calendar, Subscribe from web; "
        "Apple Calendar: File, New Calendar Subscription).", ":::", "",
        "| Date | Session | What | Mode | Details |",
        "|---|---|---|---|---|",
    ]
    for row in schedule_rows(plan, catalogue):
        lines.append(f"| {row['date']} | {row['when']} | {_cell(row['what'])} | {row['mode']} | "
                     f"{_cell(row['details'])} |")
    lines.append("")
    return "\n".join(lines)


def module_page(entry: CatalogueEntry, catalogue: dict[str, CatalogueEntry],
                launch_links: dict[str, str] | None = None,
                records: list[Record] | None = None,
                browser_labs: dict[str, tuple[str | None, tuple[str, ...]]] | None = None) -> str:
    """A module's landing page: summary, objectives, labs, prerequisites, discussion prompts,
    and (given the compendium's records) the programmes to continue learning with.

    `launch_links` maps a lab's file name to the link that opens it in the course's hub;
    `browser_labs` (when the book has the no-server labs) maps it to (the link that opens it in
    the browser, the compiled packages it fetches from the CDN), or to (None, the imports the
    browser lacks) for a lab that runs in the hub only.
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
    if browser_labs:
        lines += ["## Run the labs in your browser", ""]
        for name, (link, detail) in browser_labs.items():
            if link is None:
                lines += [f"{name} is hub only: it needs " + ", ".join(f"`{m}`" for m in detail)
                          + ", which Python in the browser cannot load.", ""]
            else:
                lines += [html_link(f"Run {name} in your browser", link), "",
                          browser_note(detail), ""]
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
    if records is not None:
        lines += continue_learning(module.topics, records)
    lines += ["## Licence", "",
              f"Text {module.license.text}; code {module.license.code}.", ""]
    return "\n".join(lines)


# --- the compendium of programmes -----------------------------------------------------------

COMPENDIUM_PAGE = "compendium"
COMPENDIUM_TITLE = "Programmes: continue learning"
RELATED = 8  # programmes listed on a module page


def _raw_html(lines: list[str]) -> list[str]:
    """A raw HTML block. Every line starts with `<`, so no text can close the fence."""
    return ["```{raw} html", *lines, "```", ""]


def _text(value) -> str:
    """Record text for HTML: escaped, on one line, with no backtick (MyST fences)."""
    return html.escape(" ".join(str(value).split())).replace("`", "&#96;")


def topic_label(slug: str) -> str:
    return slug.replace("-", " ")


def language_name(code: str) -> str:
    language = pycountry.languages.get(alpha_2=code)
    return language.name if language else code


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


def _summary(record: Record) -> str:
    """A programme's main facts in one line of text."""
    facts = [compendium.LABELS["type"][record.type.value]]
    if record.modality:
        facts.append(compendium.LABELS["modality"][record.modality.value].lower())
    facts.append(", ".join(record.regions))
    facts.append(", ".join(language_name(code) for code in record.languages))
    if record.cost:
        facts.append(compendium.LABELS["cost"][record.cost.value].lower())
    return "; ".join(facts)


def continue_learning(topics: list[str], records: list[Record],
                      page: str = f"../../{COMPENDIUM_PAGE}.html") -> list[str]:
    """A module page's "Continue learning" section: the programmes sharing most of its topics,
    and a link to the compendium filtered by each topic that has programmes."""
    lines = ["## Continue learning", ""]
    related = compendium.related_programmes(topics, records, RELATED)
    if not related:
        return lines + ["No programme in the compendium covers this module's topics yet: see "
                        f"[{COMPENDIUM_TITLE}](../../{COMPENDIUM_PAGE}.md) for all of them.", ""]
    lines += ["Programmes from the compendium that cover this module's topics, those sharing "
              "most topics first. Check dates and conditions on each programme's own site.", ""]
    items = []
    for record, shared in related:
        items.append(f'<li><a href="{_text(record.url)}">{_text(record.name)}</a>: '
                     f"{_text(_summary(record))}. Topics: "
                     f"{_text(', '.join(topic_label(t) for t in shared))}.</li>")
    counts = {t: sum(t in r.topics for r in records) for t in topics}
    links = [f'<a href="{_text(page)}#topic={_text(t)}">{_text(topic_label(t))}</a> ({n})'
             for t, n in counts.items() if n]
    lines += _raw_html(['<ul class="cmp-related">', *items, "</ul>",
                        "<p>All programmes on a topic of this module: " + ", ".join(links)
                        + ".</p>"])
    return lines


def _options(values, label=lambda v: v, any_label: str = "Any") -> str:
    return "".join([f'<option value="">{_text(any_label)}</option>']
                   + [f'<option value="{_text(v)}">{_text(label(v))}</option>' for v in values])


def _select(key: str, title: str, options: str, hint: str | None = None) -> str:
    described = f' aria-describedby="cmp-{key}-hint"' if hint else ""
    hint_html = f'<span class="cmp-hint" id="cmp-{key}-hint">{_text(hint)}</span>' if hint else ""
    return (f'<div class="cmp-field"><label for="cmp-{key}">{_text(title)}</label>'
            f'<select id="cmp-{key}" name="{key}"{described}>{options}</select>{hint_html}</div>')


def _json_for_html(data) -> str:
    """JSON safe inside <script type="application/json">: no <, > or & as themselves."""
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def compendium_data(records: list[Record]) -> dict:
    """What the page's script reads: the records, by name, and the names of their countries
    and modalities (the other values are named by the filters' options)."""
    records = sorted(records, key=lambda r: (r.name.casefold(), r.id))
    countries = sorted({c for r in records for c in r.countries})
    return {"records": [r.data() for r in records],
            "countries": {c: country_name(c) for c in countries},
            "modalities": compendium.LABELS["modality"]}


def compendium_page(records: list[Record], topics: list[str]) -> str:
    """The compendium page: search and filters (book/_static/compendium.js) over the records,
    which are in the page as JSON, so it works in the static book with no server."""
    labels = compendium.LABELS
    languages = sorted({code for r in records for code in r.languages},
                       key=lambda code: language_name(code))
    lines = [f"# {COMPENDIUM_TITLE}", "",
             "Schools of Internet governance, online courses, academic programmes, fellowships, "
             "mentoring programmes, internships and exchanges, and webinar series where you can "
             "go on learning after this course. Search by name, organiser or any word of a "
             "programme's description, and narrow the list with the filters. Each programme's "
             "facts come from the public sources it names and were checked on the date it "
             "shows: confirm dates and conditions on the programme's own site.", ""]
    if not records:
        lines += ["No programmes have been recorded yet (`compendium/` in the course "
                  "repository).", ""]
    fields = [
        '<div class="cmp-field cmp-search"><label for="cmp-q">Search</label>'
        '<input id="cmp-q" name="q" type="search" autocomplete="off" '
        'aria-describedby="cmp-q-hint"><span class="cmp-hint" id="cmp-q-hint">'
        "Name, organiser, funding, dates, how to apply, country</span></div>",
        _select("type", "Type", _options(compendium.TYPES, labels["type"].get, "Any type")),
        _select("topic", "Topic", _options(topics, topic_label, "Any topic")),
        _select("region", "Region", _options(compendium.REGIONS, any_label="Any region"),
                "A region also shows the global programmes"),
        _select("language", "Language", _options(languages, language_name, "Any language")),
        _select("level", "Level", _options(compendium.LEVELS, labels["level"].get, "Any level")),
        _select("target", "For", _options(compendium.TARGET_GROUPS, labels["target_groups"].get,
                                          "Anyone")),
        _select("cost", "Cost", _options(compendium.COSTS, labels["cost"].get, "Any cost")),
    ]
    lines += _raw_html([
        '<form id="cmp-form" class="cmp-form" role="search" aria-label="Programmes">',
        *fields,
        '<div class="cmp-field cmp-clear"><button type="button" id="cmp-clear">'
        "Clear search and filters</button></div>",
        "</form>",
        f'<p id="cmp-count" class="cmp-count" role="status" aria-live="polite" '
        f'aria-atomic="true">{len(records)} programme{"" if len(records) == 1 else "s"}</p>',
        '<ul id="cmp-results" class="cmp-results" aria-labelledby="cmp-count"></ul>',
        '<p><button type="button" id="cmp-more" class="cmp-more" hidden>Show more</button></p>',
        "<noscript><p>Searching and filtering the programmes needs JavaScript.</p></noscript>",
        f'<script type="application/json" id="cmp-data">{_json_for_html(compendium_data(records))}'
        "</script>",
    ])
    return "\n".join(lines)
