"""The plan's sessions as dates: which one is this week's, what is due when (pure)."""

from __future__ import annotations

import datetime as dt


def sessions(plan, catalogue: dict) -> list[dict]:
    """Each session with its dates, modules, discussion prompts and deadlines."""
    out = []
    for s in plan.sessions:
        first, last = s.dates(plan.start)
        modules = [catalogue[m].module for m in s.modules if m in catalogue]
        out.append({
            "label": s.rota_label(), "title": s.title, "first": first, "last": last,
            "mode": s.mode.value, "discussion": s.discussion,
            "modules": [{"id": m.id, "title": m.title} for m in modules],
            "prompts": [{"prompt": p.prompt, "facilitation": p.facilitation}
                        for m in modules for p in m.discussion_prompts],
            "deadlines": [{"title": d.title, "assignment": d.assignment, "date": last}
                          for d in s.deadlines],
        })
    return out


def current(all_sessions: list[dict], today: dt.date) -> dict | None:
    """The session running today, else the next one, else the last one."""
    for s in all_sessions:
        if s["first"] <= today <= s["last"]:
            return s
    upcoming = [s for s in all_sessions if s["first"] > today]
    if upcoming:
        return upcoming[0]
    return all_sessions[-1] if all_sessions else None
