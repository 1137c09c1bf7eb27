"""Exchanges and internships: candidates matched to host organisations.

The mentoring matcher's method (peer_review.mentoring): the allowed (candidate, host) pairs
and their fit go to the same min-cost flow, which places as many candidates as possible and
then maximises the total fit within each host's capacity; the same pairs matched greedily
(each candidate in turn to the best host with room) are the baseline it is measured against.

Hard rules: a language shared with the host, the host's requirements (stakeholder groups
accepted, languages required, topics required, minimum experience), a month in common when
both give months (the candidate's availability, the months the host offers; either left
empty means any month), never the candidate's own organisation and, for an exchange abroad,
never their own country.
Fit: one point per topic shared, one if the host is in a region the candidate prefers, one
if they share a month (both give months, and so share one).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from peer_review.mentoring import _masks, _popcount, greedy_assignment, solve_assignment
from peer_review.roster import (REGIONS, STAKEHOLDER_GROUPS, RosterError, RosterProblem, check_capacity, language_sets,
                                normalise_country, normalise_language, normalise_region, normalise_stakeholder, org_keys,
                                split_list, validate_roster)

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                "november", "december")
HOST_COLUMNS = ("id", "organisation", "country", "region", "stakeholder_group", "capacity", "languages")
REQUIREMENTS = ("groups", "languages", "topics", "min_experience")
_REQUIREMENT_ALIASES = {"accepts": "groups", "stakeholder_groups": "groups", "language": "languages", "topic": "topics",
                        "experience": "min_experience"}


def _key(value: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(value).strip().lower())


def _slug(value: str) -> str:
    return re.sub(r"[\s_]+", "-", value.strip().lower())


def _month(token: str) -> int | None:
    text = token.strip().lower().rstrip(".")
    if text.isascii() and text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else None
    for k, name in enumerate(_MONTH_NAMES):
        if len(text) >= 3 and name.startswith(text):
            return k + 1
    return None


def parse_months(text: str) -> tuple[list[int], list[str]]:
    """Months from `jun;jul`, `6;7`, `June`, or ranges like `jun-aug` and `nov-feb`.

    Returns the months (1-12, in calendar order) and the tokens that are not months.
    """
    months: set[int] = set()
    bad: list[str] = []
    for token in split_list(text):
        ends = [_month(t) for t in token.split("-")] if token.count("-") == 1 else [_month(token)]
        if any(m is None for m in ends):
            bad.append(token)
        elif len(ends) == 1:
            months.add(ends[0])
        else:
            first, last = ends
            months.update((first - 1 + k) % 12 + 1 for k in range((last - first) % 12 + 1))
    return sorted(months), bad


def _months_text(months: list[int]) -> str:
    return ";".join(MONTHS[m - 1] for m in months)


def _years(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_requirements(text: str) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """A host's requirements cell, e.g. `groups=civil_society|academia; languages=fr; topics=dns; min_experience=2`.

    Items are separated by `;`, values within an item by `|` or `,`. Returns the requirements
    ({"groups": [...], "languages": [...], "topics": [...], "min_experience": float}) and the
    problems found as (value, what was expected).
    """
    found: dict[str, object] = {}
    problems: list[tuple[str, str]] = []
    for item in (p.strip() for p in str(text).split(";")):
        if not item:
            continue
        key, sep, value = item.partition("=") if "=" in item else item.partition(":")
        key = _REQUIREMENT_ALIASES.get(_key(key), _key(key))
        values = [v.strip() for v in re.split(r"[|,]", value) if v.strip()]
        if not sep or key not in REQUIREMENTS:
            problems.append((item, "key=value with key one of " + ", ".join(REQUIREMENTS) + ", e.g. groups=civil_society|academia"))
            continue
        if key in found:
            problems.append((item, f"{key} once (it is given twice)"))
            continue
        if not values:
            problems.append((item, f"a value after {key}="))
            continue
        if key == "groups":
            norm = [normalise_stakeholder(v) for v in values]
            problems += [(v, "stakeholder groups: " + ", ".join(STAKEHOLDER_GROUPS)) for v, n in zip(values, norm) if n is None]
            found[key] = list(dict.fromkeys(n for n in norm if n))
        elif key == "languages":
            norm = [normalise_language(v) for v in values]
            problems += [(v, "languages: ISO 639-1 codes, e.g. languages=fr") for v, n in zip(values, norm) if n is None]
            found[key] = list(dict.fromkeys(n for n in norm if n))
        elif key == "topics":
            found[key] = list(dict.fromkeys(_slug(v) for v in values))
        else:
            years = _years(values[0]) if len(values) == 1 else None
            if years is None:
                problems.append((item, "min_experience: years as a number of 0 or more, e.g. min_experience=2"))
            else:
                found[key] = years
    return found, problems


def requirements_text(found: dict[str, object]) -> str:
    """The normalised requirements cell (see `parse_requirements`)."""
    parts = []
    for key in REQUIREMENTS:
        if key == "min_experience" and key in found:
            parts.append(f"{key}={found[key]:g}")
        elif found.get(key):
            parts.append(f"{key}=" + "|".join(found[key]))
    return "; ".join(parts)


def _check_months(frame: pd.DataFrame, problems: list[RosterProblem]) -> None:
    if "months" not in frame.columns:
        frame["months"] = ""
        return
    out = []
    for i, value in frame["months"].items():
        months, bad = parse_months(value)
        problems += [RosterProblem(i + 2, "months", b, "months like jun;jul, 6;7 or a range jun-aug") for b in bad]
        out.append(_months_text(months))
    frame["months"] = out


def _check_topics(frame: pd.DataFrame, column: str) -> None:
    if column in frame.columns:
        frame[column] = [";".join(dict.fromkeys(_slug(t) for t in split_list(v))) for v in frame[column]]
    else:
        frame[column] = ""


def _candidate_checks(frame: pd.DataFrame, problems: list[RosterProblem]) -> None:
    _check_topics(frame, "interests")
    _check_months(frame, problems)
    if "preferred_regions" in frame.columns:
        out = []
        for i, value in frame["preferred_regions"].items():
            norm = [normalise_region(v) for v in split_list(value)]
            problems += [RosterProblem(i + 2, "preferred_regions", v, "regions separated by ';': " + ", ".join(REGIONS))
                         for v, n in zip(split_list(value), norm) if n is None]
            out.append(";".join(dict.fromkeys(n for n in norm if n)))
        frame["preferred_regions"] = out
    else:
        frame["preferred_regions"] = ""
    if "experience" in frame.columns:
        out = []
        for i, value in frame["experience"].items():
            years = _years(value) if value != "" else None
            if value != "" and years is None:
                problems.append(RosterProblem(i + 2, "experience", value, "years as a number of 0 or more (or empty if unknown)"))
            out.append("" if years is None else f"{years:g}")
        frame["experience"] = out
    else:
        frame["experience"] = ""


def validate_candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """A roster (DESIGN.md) with optional interests, preferred_regions, months and experience
    (years), checked and normalised. Raises RosterError listing every problem."""
    return validate_roster(frame, _candidate_checks)


def validate_hosts(frame: pd.DataFrame) -> pd.DataFrame:
    """Check a hosts table and return a normalised copy; RosterError lists every problem.

    Columns: id, organisation, country, region, stakeholder_group, capacity, languages
    (a candidate must speak one), optional requirements (see `parse_requirements`), topics
    and months offered. Rows are file lines (header = 1); extra columns are kept.
    """
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in HOST_COLUMNS if c not in frame.columns]
    if missing:
        raise RosterError([RosterProblem(1, c, "", "missing column (the header row needs it)") for c in missing])
    if frame.empty:
        raise RosterError([RosterProblem(None, None, "", "the hosts file has a header but no hosts")])
    frame = frame.astype(object).fillna("").map(lambda v: re.sub(r"\s+", " ", str(v)).strip())
    problems: list[RosterProblem] = []
    first: dict[str, int] = {}
    for i, value in frame["id"].items():
        if value == "":
            problems.append(RosterProblem(i + 2, "id", "", "an id is required"))
        elif value in first:
            problems.append(RosterProblem(i + 2, "id", value, f"a unique id (also on row {first[value]})"))
        else:
            first[value] = i + 2
    for i, value in frame["organisation"].items():
        if value == "":
            problems.append(RosterProblem(i + 2, "organisation", "", "the host organisation's name"))
    for column, normalise, expected in (
        ("stakeholder_group", normalise_stakeholder, "one of " + ", ".join(STAKEHOLDER_GROUPS)),
        ("region", normalise_region, "one of " + ", ".join(REGIONS)),
        ("country", normalise_country, "an ISO 3166-1 alpha-2 country code, e.g. KE"),
    ):
        out = []
        for i, value in frame[column].items():
            norm = normalise(value)
            if norm is None:
                problems.append(RosterProblem(i + 2, column, value, expected))
            out.append(norm or value)
        frame[column] = out
    check_capacity(frame, problems)
    languages = []
    for i, value in frame["languages"].items():
        codes = split_list(value)
        if not codes:
            problems.append(RosterProblem(i + 2, "languages", value, "at least one ISO 639-1 code, e.g. en;fr"))
        norm = [normalise_language(c) for c in codes]
        problems += [RosterProblem(i + 2, "languages", c, "ISO 639-1 language codes separated by ';', e.g. en;fr")
                     for c, n in zip(codes, norm) if n is None]
        languages.append(";".join(dict.fromkeys(n for n in norm if n)))
    frame["languages"] = languages
    _check_topics(frame, "topics")
    _check_months(frame, problems)
    if "requirements" not in frame.columns:
        frame["requirements"] = ""
    out = []
    for i, value in frame["requirements"].items():
        found, bad = parse_requirements(value)
        problems += [RosterProblem(i + 2, "requirements", v, expected) for v, expected in bad]
        out.append(requirements_text(found))
    frame["requirements"] = out
    if problems:
        problems.sort(key=lambda p: p.row or 0)
        raise RosterError(problems)
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class _Sides:
    """Candidates and hosts as arrays, for the rules and the fit."""

    c_lang: np.ndarray
    h_lang: np.ndarray
    h_req_lang: np.ndarray
    c_topics: np.ndarray
    h_topics: np.ndarray
    h_req_topics: np.ndarray
    h_has_req_topics: np.ndarray
    c_group: np.ndarray
    h_accepts: np.ndarray
    c_years: np.ndarray
    h_min_years: np.ndarray
    c_org: np.ndarray
    h_org: np.ndarray
    c_country: np.ndarray
    h_country: np.ndarray
    c_regions: np.ndarray
    h_region: np.ndarray
    c_months: np.ndarray
    h_months: np.ndarray
    capacity: np.ndarray
    other_country: bool


def _sets(frame: pd.DataFrame, column: str) -> list[frozenset[str]]:
    if column not in frame.columns:
        return [frozenset()] * len(frame)
    return [frozenset(t for t in str(v).split(";") if t) for v in frame[column]]


def candidate_topics(candidates: pd.DataFrame) -> list[frozenset[str]]:
    """Interests where a candidate gives them, else expertise (as in mentoring)."""
    interests, expertise = _sets(candidates, "interests"), _sets(candidates, "expertise")
    return [i or e for i, e in zip(interests, expertise)]


def host_requirements(hosts: pd.DataFrame) -> list[dict[str, object]]:
    column = hosts["requirements"] if "requirements" in hosts.columns else [""] * len(hosts)
    return [parse_requirements(v)[0] for v in column]


def host_topics(hosts: pd.DataFrame) -> list[frozenset[str]]:
    """Topics a host lists, in its topics column or its required topics."""
    return [t | frozenset(r.get("topics", ())) for t, r in zip(_sets(hosts, "topics"), host_requirements(hosts))]


def _month_mask(frame: pd.DataFrame) -> np.ndarray:
    column = frame["months"] if "months" in frame.columns else [""] * len(frame)
    return np.array([sum(1 << (m - 1) for m in parse_months(v)[0]) for v in column], dtype=np.int64)


def _prepare(candidates: pd.DataFrame, hosts: pd.DataFrame, other_country: bool) -> _Sides:
    reqs = host_requirements(hosts)
    cl, hl = language_sets(candidates), language_sets(hosts)
    hrl = [frozenset(r.get("languages", ())) for r in reqs]
    lvocab = {x: i for i, x in enumerate(sorted(set().union(*cl, *hl, *hrl)))}
    ct, ht = candidate_topics(candidates), host_topics(hosts)
    hrt = [frozenset(r.get("topics", ())) for r in reqs]
    tvocab = {x: i for i, x in enumerate(sorted(set().union(*ct, *ht, *hrt)))}
    groups = {g: k for k, g in enumerate(STAKEHOLDER_GROUPS)}
    accepts = np.array([[not r.get("groups") or g in r["groups"] for g in STAKEHOLDER_GROUPS] for r in reqs],
                       dtype=bool).reshape(len(hosts), len(STAKEHOLDER_GROUPS))
    keys = pd.concat([org_keys(candidates), org_keys(hosts)])
    codes, _ = pd.factorize(keys, sort=True)
    codes = np.where(keys.to_numpy() == "", -1, codes)
    years = candidates["experience"] if "experience" in candidates.columns else pd.Series([""] * len(candidates))
    preferred = _sets(candidates, "preferred_regions")
    return _Sides(
        c_lang=_masks(cl, lvocab), h_lang=_masks(hl, lvocab), h_req_lang=_masks(hrl, lvocab),
        c_topics=_masks(ct, tvocab), h_topics=_masks(ht, tvocab), h_req_topics=_masks(hrt, tvocab),
        h_has_req_topics=np.array([bool(t) for t in hrt], dtype=bool),
        c_group=np.array([groups[g] for g in candidates["stakeholder_group"]], dtype=np.int64),
        h_accepts=accepts,
        c_years=pd.to_numeric(pd.Series(list(years)), errors="coerce").to_numpy(dtype=float),
        h_min_years=np.array([float(r.get("min_experience", 0.0)) for r in reqs], dtype=float),
        c_org=codes[: len(candidates)], h_org=codes[len(candidates):],
        c_country=candidates["country"].astype(str).to_numpy(), h_country=hosts["country"].astype(str).to_numpy(),
        c_regions=np.array([[r in p for r in REGIONS] for p in preferred], dtype=bool).reshape(len(candidates), len(REGIONS)),
        h_region=np.array([REGIONS.index(r) for r in hosts["region"]], dtype=np.int64),
        c_months=_month_mask(candidates), h_months=_month_mask(hosts),
        capacity=hosts["capacity"].astype(int).to_numpy(),
        other_country=other_country,
    )


def _rules(s: _Sides, i: int) -> list[tuple[str, np.ndarray]]:
    """For candidate i, each hard rule and the hosts that pass it, in the order reasons name them."""
    rules = [
        ("language", np.any(s.h_lang & s.c_lang[i], axis=1)),
        ("languages_required", np.all((s.h_req_lang & ~s.c_lang[i]) == 0, axis=1)),
        ("group", s.h_accepts[:, s.c_group[i]]),
        ("topics_required", ~s.h_has_req_topics | np.any(s.h_req_topics & s.c_topics[i], axis=1)),
        ("experience", (s.h_min_years <= 0) | (s.c_years[i] >= s.h_min_years)),  # unknown years meet no minimum
        # No months given (by either side) means any month; both given must overlap.
        ("months", (s.h_months == 0) | (s.c_months[i] == 0) | ((s.h_months & s.c_months[i]) != 0)),
        ("organisation", (s.h_org != s.c_org[i]) | (s.c_org[i] < 0)),
    ]
    if s.other_country:
        rules.append(("country", s.h_country != s.c_country[i]))
    return rules


def _eligible(s: _Sides, i: int) -> np.ndarray:
    ok = np.ones(len(s.capacity), dtype=bool)
    for _, passes in _rules(s, i):
        ok &= passes
    return ok


def pair_table(candidates: pd.DataFrame, hosts: pd.DataFrame, other_country: bool = False) -> pd.DataFrame:
    """Every allowed (candidate, host) pair, by row position, with its fit and the fit's parts.

    Columns: candidate, host, shared_topics (count), preferred_region (0/1), shared_month (0/1), fit.
    Allowed: every hard rule met and the host offers at least one place.
    """
    return _pairs(_prepare(candidates, hosts, other_country))


def _pairs(s: _Sides) -> pd.DataFrame:
    parts = [np.zeros((5, 0), np.int64)]
    for i in range(len(s.c_group)):
        js = np.flatnonzero(_eligible(s, i) & (s.capacity > 0))
        topics = _popcount(s.h_topics[js] & s.c_topics[i]) if len(js) else np.zeros(0, np.int64)
        region = s.c_regions[i, s.h_region[js]].astype(np.int64)
        month = ((s.h_months[js] & s.c_months[i]) != 0).astype(np.int64)
        parts.append(np.stack([np.full(len(js), i), js, topics, region, month]).astype(np.int64))
    pairs = pd.DataFrame(np.concatenate(parts, axis=1).T, columns=["candidate", "host", "shared_topics", "preferred_region", "shared_month"])
    pairs["fit"] = pairs["shared_topics"] + pairs["preferred_region"] + pairs["shared_month"]
    return pairs


def match_exchanges(candidates: pd.DataFrame, hosts: pd.DataFrame, seed: int = 0, other_country: bool = False) -> pd.DataFrame:
    """Place as many candidates as possible, then maximise total fit, within host capacity.

    The seed decides between equally good matchings, so no one is favoured by their place in
    the file. Returns one row per candidate (see `_result`).
    """
    s = _prepare(candidates, hosts, other_country)
    pairs = _pairs(s)
    rng = np.random.default_rng(seed)
    node_c, node_h = rng.permutation(len(candidates)), rng.permutation(len(hosts))
    order = rng.permutation(len(pairs))
    a = node_c[pairs["candidate"].to_numpy()[order]]
    b = node_h[pairs["host"].to_numpy()[order]]
    capacity = np.zeros(len(hosts), dtype=np.int64)
    capacity[node_h] = s.capacity
    right, _ = solve_assignment(a, b, pairs["fit"].to_numpy()[order], len(candidates), capacity)
    right = right[node_c]
    host_of = np.where(right >= 0, np.argsort(node_h)[np.maximum(right, 0)], -1)
    return _result(candidates, hosts, s, pairs, host_of)


def greedy_exchanges(candidates: pd.DataFrame, hosts: pd.DataFrame, other_country: bool = False) -> pd.DataFrame:
    """Baseline: each candidate in file order takes the best-fitting host with room left
    (ties: the host first in the file). Same columns as `match_exchanges`."""
    s = _prepare(candidates, hosts, other_country)
    pairs = _pairs(s)
    host_of, _ = greedy_assignment(pairs["candidate"].to_numpy(), pairs["host"].to_numpy(), pairs["fit"].to_numpy(),
                                   len(candidates), s.capacity)
    return _result(candidates, hosts, s, pairs, host_of)


def _result(candidates: pd.DataFrame, hosts: pd.DataFrame, s: _Sides, pairs: pd.DataFrame, host_of: np.ndarray) -> pd.DataFrame:
    """candidate_id, host_id ('' if unplaced), host_organisation, fit, shared_topics (names),
    preferred_region (yes/no), shared_months, reason (why a candidate is unplaced)."""
    index = pd.Index(pairs["candidate"].to_numpy() * len(hosts) + pairs["host"].to_numpy())
    at = index.get_indexer(np.arange(len(candidates)) * len(hosts) + host_of)
    ct, ht = candidate_topics(candidates), host_topics(hosts)
    used = np.bincount(host_of[host_of >= 0], minlength=len(hosts))
    fit, region = pairs["fit"].to_numpy(), pairs["preferred_region"].to_numpy()
    host_ids, orgs = hosts["id"].to_numpy(), hosts["organisation"].to_numpy()
    people = candidates.to_dict("records")
    rows = []
    for i, j in enumerate(host_of):
        if j < 0:
            rows.append(("", "", 0, "", "", "", _reason(people[i], host_ids, s, i, used)))
            continue
        months = [m + 1 for m in range(12) if s.c_months[i] & s.h_months[j] & (1 << m)]
        rows.append((host_ids[j], orgs[j], int(fit[at[i]]), ";".join(sorted(ct[i] & ht[j])),
                     "yes" if region[at[i]] else "no", _months_text(months), ""))
    table = pd.DataFrame(rows, columns=["host_id", "host_organisation", "fit", "shared_topics", "preferred_region",
                                        "shared_months", "reason"])
    table.insert(0, "candidate_id", candidates["id"].to_numpy())
    return table


# What each rule's failure reads like: (hosts that pass it, for "hosts ... are full"; one host failing; several).
def _phrases(rule: str, candidate: dict) -> tuple[str, str, str]:
    group, country = candidate["stakeholder_group"], candidate["country"]
    return {
        "language": ("sharing a language", "shares no language", "share no language"),
        "languages_required": ("whose required languages they speak", "requires a language they do not speak",
                               "require a language they do not speak"),
        "group": (f"accepting {group}", f"does not accept {group}", f"do not accept {group}"),
        "topics_required": ("whose required topics they share", "requires a topic they lack", "require a topic they lack"),
        "experience": ("whose minimum experience they meet", "asks for more experience", "ask for more experience"),
        "months": ("offering a month they are available", "offers no month they are available",
                   "offer no month they are available"),
        "organisation": ("outside their own organisation", "is their own organisation", "are their own organisation"),
        "country": (f"outside {country}", f"is in their own country ({country})", f"are in their own country ({country})"),
    }[rule]


def _no_host(rule: str, candidate: dict) -> str:
    """The reason when every host fails the same rule."""
    years = candidate.get("experience", "")
    return {
        "language": f"no host shares a language (they speak {candidate['languages'].replace(';', ', ')})",
        "languages_required": "every host that shares a language requires one they do not speak",
        "group": f"no host accepts {candidate['stakeholder_group']}",
        "topics_required": "every host requires a topic they lack",
        "experience": "every host asks for more experience than they have"
                      + (f" ({years} years)" if years != "" else " (their experience is not given)"),
        "months": "no host offers a month they are available (they are available in "
                  + candidate.get("months", "").replace(";", ", ") + ")",
        "organisation": "the only hosts are their own organisation",
        "country": f"every host is in their own country ({candidate['country']})",
    }[rule]


def _first_failed(rules: list[tuple[str, np.ndarray]], hosts: np.ndarray) -> dict[str, int]:
    """How many of the given hosts fail each rule first (hosts passing every rule are not counted)."""
    counts: dict[str, int] = {}
    left = hosts.copy()
    for name, passes in rules:
        fails = left & ~passes
        if fails.any():
            counts[name] = int(fails.sum())
        left &= passes
    return counts


def _breakdown(counts: dict[str, int], candidate: dict) -> str:
    return ", ".join(f"{n} {_phrases(r, candidate)[1 if n == 1 else 2]}" for r, n in counts.items())


def _ids(host_ids: np.ndarray, mask: np.ndarray, most: int = 5) -> str:
    ids = list(host_ids[mask])
    return ", ".join(ids[:most]) + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _reason(candidate: dict, host_ids: np.ndarray, s: _Sides, i: int, used: np.ndarray) -> str:
    """Why candidate i (its row, as a dict) has no host, given the host ids and the places `used` at each."""
    rules = _rules(s, i)
    eligible = _eligible(s, i)
    if not eligible.any():
        counts = _first_failed(rules, np.ones(len(host_ids), dtype=bool))
        if len(counts) == 1:
            return _no_host(next(iter(counts)), candidate)
        return "no host meets every requirement: " + _breakdown(counts, candidate)
    room = s.capacity - used > 0
    if (eligible & room).any():  # not in an optimal or greedy match; said plainly if it ever is
        return f"hosts with room could take them ({_ids(host_ids, eligible & room)})"
    if not (s.capacity[eligible] > 0).any():
        return f"the only hosts that could take them offer no places ({_ids(host_ids, eligible)})"
    counts = _first_failed(rules, room & ~eligible)
    full = eligible & (s.capacity > 0)
    if not counts:
        return f"all hosts are full (those that could take them: {_ids(host_ids, full)})"
    if len(counts) == 1 and next(iter(counts)) in ("language", "group", "months", "country"):
        return f"hosts {_phrases(next(iter(counts)), candidate)[0]} are full ({_ids(host_ids, full)})"
    with_room = room & ~eligible
    if with_room.sum() == 1:
        rule = next(iter(counts))
        return (f"the hosts that could take them are full ({_ids(host_ids, full)}); the one with room "
                f"({_ids(host_ids, with_room)}) {_phrases(rule, candidate)[1]}")
    return (f"the hosts that could take them are full ({_ids(host_ids, full)}); of the {int(with_room.sum())} with room, "
            + _breakdown(counts, candidate))


def exchange_quality(matches: pd.DataFrame, greedy: pd.DataFrame) -> dict[str, float]:
    """Placed and total fit for the optimum and the greedy match, and the fit ratio (None if greedy's fit is 0)."""
    placed, g_placed = int((matches["host_id"] != "").sum()), int((greedy["host_id"] != "").sum())
    fit, g_fit = int(matches["fit"].sum()), int(greedy["fit"].sum())
    return {
        "candidates": len(matches),
        "placed": placed,
        "greedy_placed": g_placed,
        "fit": fit,
        "greedy_fit": g_fit,
        "ratio": fit / g_fit if g_fit else None,
        "mean_fit": fit / placed if placed else 0.0,
        "greedy_mean_fit": g_fit / g_placed if g_placed else 0.0,
    }


def exchange_summary(matches: pd.DataFrame, greedy: pd.DataFrame, most: int = 20) -> list[str]:
    """The quality report: placed and fit against the greedy match, then the unplaced with their reasons."""
    q = exchange_quality(matches, greedy)
    ratio = f"{q['ratio']:.2f} times the greedy fit" if q["ratio"] is not None else "greedy fit is 0"
    lines = [
        f"placed {q['placed']} of {q['candidates']} candidates (greedy match: {q['greedy_placed']})",
        f"total fit {q['fit']} (greedy match: {q['greedy_fit']}; {ratio}); "
        f"mean fit per placement {q['mean_fit']:.2f} (greedy: {q['greedy_mean_fit']:.2f})",
        "  fit = topics shared + 1 for a host in a preferred region + 1 for a month both give",
    ]
    unplaced = matches[matches["host_id"] == ""]
    if len(unplaced):
        lines.append(f"unplaced ({len(unplaced)}):")
        lines += [f"  {row.candidate_id}: {row.reason}" for row in unplaced.head(most).itertuples()]
        if len(unplaced) > most:
            lines.append(f"  ... and {len(unplaced) - most} more (the reason column of the output)")
    return lines
