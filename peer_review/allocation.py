"""Peer-review allocation as a min-cost flow.

Submissions send k units each to reviewers they may go to (never the author,
never the author's organisation, optionally never the author's country, only
reviewers who read the submission's language). The reviewers are the authors
themselves (peer review) or a separate pool, such as a selection panel. Each
reviewer's load has a convex cost, so loads come out as even as the constraints
allow; a small cost on each arc steers reviews across stakeholder groups, across
study groups and away from pairs who met before. With `spread_stakeholders` (a selection
panel), each submission's reviewers also come from as many stakeholder groups as the rules
allow: a second reviewer from a group already on that submission's panel costs more. The arcs are a seeded random
sample (both from each submission and from each reviewer), which keeps 100,000
submissions tractable; if the sample cannot carry every review, the sample grows
up to all eligible pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from ortools.graph.python import min_cost_flow

from peer_review.roster import RosterError, RosterProblem, normalise_language, org_keys

COST_SAME_STAKEHOLDER = 8
COST_SAME_GROUP = 4
COST_MET_BEFORE = 16
COST_SAME_PANEL_GROUP = 12  # each further reviewer of a group already on the submission's panel
_LOAD_COST = 1000  # per unit of load: far above the soft costs, so loads are evened first
_FULL_POOL = 250_000
_CODE_ALPHABET = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))


class AllocationError(ValueError):
    """The hard rules cannot be met; the message says for whom and why."""


def check_submissions(submissions: pd.DataFrame, roster: pd.DataFrame) -> pd.DataFrame:
    """Validate a submissions table against a validated roster; fill in `language`.

    A submission without a language is taken to be in its author's first language.
    """
    frame = submissions.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    problems = [RosterProblem(1, c, "", "missing column (the header row needs it)") for c in ("submission_id", "author_id") if c not in frame.columns]
    if problems:
        raise RosterError(problems)
    if frame.empty:
        raise RosterError([RosterProblem(None, None, "", "no submissions in the file")])
    frame = frame.astype(object).fillna("").astype(str).apply(lambda c: c.str.strip())
    if "language" not in frame.columns:
        frame["language"] = ""
    first_lang = dict(zip(roster["id"], (str(l).split(";")[0] for l in roster["languages"])))
    seen_sub: dict[str, int] = {}
    seen_author: dict[str, int] = {}
    langs = []
    for i, (sid, aid, lang) in enumerate(zip(frame["submission_id"], frame["author_id"], frame["language"])):
        line = i + 2
        if not sid:
            problems.append(RosterProblem(line, "submission_id", "", "a submission id is required"))
        elif sid in seen_sub:
            problems.append(RosterProblem(line, "submission_id", sid, f"a unique submission id (also on row {seen_sub[sid]})"))
        else:
            seen_sub[sid] = line
        if aid not in first_lang:
            problems.append(RosterProblem(line, "author_id", aid, "the id of a person in the roster"))
        elif aid in seen_author:
            problems.append(RosterProblem(line, "author_id", aid, f"one submission per author (also on row {seen_author[aid]}); allocate each assignment separately"))
        else:
            seen_author[aid] = line
        if lang:
            norm = normalise_language(lang)
            if norm is None:
                problems.append(RosterProblem(line, "language", lang, "an ISO 639-1 language code, e.g. en"))
            langs.append(norm or lang)
        else:
            langs.append(first_lang.get(aid, ""))
    if problems:
        raise RosterError(problems)
    frame["language"] = langs
    return frame.reset_index(drop=True)


def _codes(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    """Opaque, unique review codes: random letters, not derived from anyone's id."""
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        draw = _CODE_ALPHABET[rng.integers(0, len(_CODE_ALPHABET), size=(n - len(out), 8))]
        for chars in draw:
            code = "R-" + "".join(chars)
            if code not in seen:
                seen.add(code)
                out.append(code)
    return out


def new_review_codes(n: int, taken: set[str], seed: int | None = None) -> list[str]:
    """n fresh review codes not in `taken` (unseeded: unpredictable), e.g. for a reassigned task."""
    return _codes(np.random.default_rng(seed), n, taken)


def _sample_pairs(sub_lang, rev_langs, d, rng):
    """Candidate (submission, reviewer) index pairs: d per submission and d per reviewer, per language."""
    subs_s, revs_s = [], []
    by_lang_revs: dict[str, list[int]] = {}
    for r, langs in enumerate(rev_langs):
        for lang in langs:
            by_lang_revs.setdefault(lang, []).append(r)
    sub_lang = np.asarray(sub_lang, dtype=object)
    wanted = set(sub_lang.tolist())
    exclusive = np.array([len(langs & wanted) == 1 for langs in rev_langs], dtype=bool)
    for lang in sorted(set(sub_lang.tolist())):
        subs = np.flatnonzero(sub_lang == lang)
        revs = np.array(by_lang_revs.get(lang, []), dtype=np.int64)
        if len(revs) == 0:
            continue
        # Small pools (minority languages) take every pair: sampling them can break Hall's condition.
        if len(revs) <= d or len(subs) <= d or len(subs) * len(revs) <= _FULL_POOL:
            s, r = np.meshgrid(subs, revs, indexing="ij")
            subs_s.append(s.ravel())
            revs_s.append(r.ravel())
            continue
        subs_s.append(np.repeat(subs, d))
        revs_s.append(revs[rng.integers(0, len(revs), size=len(subs) * d)])
        # Reviewers who read no other submission language must find all their reviews here: more arcs.
        per_rev = np.where(exclusive[revs], 3 * d, d)
        subs_s.append(subs[rng.integers(0, len(subs), size=int(per_rev.sum()))])
        revs_s.append(np.repeat(revs, per_rev))
    if not subs_s:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(subs_s).astype(np.int64), np.concatenate(revs_s).astype(np.int64)


def allocate_reviews(
    submissions: pd.DataFrame,
    roster: pd.DataFrame,
    k: int = 3,
    seed: int = 0,
    groups: pd.DataFrame | None = None,
    within_groups: bool = False,
    history: pd.DataFrame | None = None,
    existing: pd.DataFrame | None = None,
    candidates: int = 6,
    progress: Callable[[str], None] | None = None,
    reviewers: pd.DataFrame | None = None,
    avoid_country: bool = False,
    spread_stakeholders: bool = False,
) -> pd.DataFrame:
    """Give every submission k reviewers; returns submission_id, author_id, reviewer_id, review_code.

    `groups` (id, group) steers reviewers to other study groups (or, with
    `within_groups`, the same one); `history` (author_id, reviewer_id) lists
    pairs to avoid; `existing` is an earlier allocation kept as it is: only
    submissions not in it are allocated (late submissions). `progress`, if
    given, is called with a short message at the start of each stage.

    `reviewers`, a validated roster (optionally with a `capacity` column), is a
    separate pool of reviewers, e.g. a selection panel reviewing applications:
    without it the authors review each other. A pool's reviewers take at most
    their capacity; without one, loads are as even as the rules allow.
    `avoid_country` never gives a submission to a reviewer from the author's country.
    `spread_stakeholders` draws each submission's reviewers from different stakeholder groups
    wherever the rules allow.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    progress = progress or (lambda message: None)
    rng = np.random.default_rng(seed)
    progress(f"checking {len(submissions)} submissions against {len(roster)} people")
    subs = check_submissions(submissions, roster)
    people = roster.set_index("id")
    kept = None
    if existing is not None and len(existing):
        kept = existing[["submission_id", "author_id", "reviewer_id", "review_code"]].astype(str)
        done = set(kept["submission_id"])
        todo = subs[~subs["submission_id"].isin(done)].reset_index(drop=True)
        rng = np.random.default_rng([seed, len(done)])
    else:
        todo = subs
    if reviewers is not None:
        pool = reviewers.reset_index(drop=True)
        reviewer_ids = pool["id"].astype(str).tolist()
    else:
        reviewer_ids = list(dict.fromkeys(subs["author_id"].tolist() + ([] if kept is None else kept["author_id"].tolist())))
        pool = people.loc[reviewer_ids].reset_index()
    columns = ["submission_id", "author_id", "reviewer_id", "review_code"]
    if todo.empty:
        return kept.reset_index(drop=True) if kept is not None else pd.DataFrame(columns=columns)

    rev_index = {r: i for i, r in enumerate(reviewer_ids)}
    n_sub, n_rev = len(todo), len(reviewer_ids)
    authors = people.loc[todo["author_id"]].reset_index()
    # Organisations, stakeholder groups and countries coded alike for authors and reviewers.
    sub_org, rev_org = _codes_of(org_keys(authors), org_keys(pool))
    sub_stake, rev_stake = _codes_of(authors["stakeholder_group"], pool["stakeholder_group"])
    if avoid_country:
        sub_country, rev_country = _codes_of(authors["country"], pool["country"])
    else:
        sub_country, rev_country = np.full(n_sub, -1), np.full(n_rev, -1)
    author_rev = np.array([rev_index.get(a, -1) for a in todo["author_id"]])
    rev_langs = [set(str(v).split(";")) for v in pool["languages"]]
    sub_lang = todo["language"].to_numpy()
    grow_load = False
    if reviewers is None:
        max_load = k + 1
    elif "capacity" in pool.columns:  # the reviewers' own limits
        max_load = pool["capacity"].astype(int).to_numpy()
    else:
        total = k * n_sub + (0 if kept is None else len(kept))
        max_load = -(-total // max(n_rev, 1)) + 1
        grow_load = True

    if groups is not None:
        gmap = dict(zip(groups["id"].astype(str), groups["group"].astype(str)))
        gcodes = {g: i for i, g in enumerate(sorted(set(gmap.values())))}
        rev_group = np.array([gcodes.get(gmap.get(r), -1) for r in reviewer_ids])
        sub_group = np.array([gcodes.get(gmap.get(a), -1) for a in todo["author_id"]])
    pair_keys = None
    if history is not None and len(history):
        hist = history[["author_id", "reviewer_id"]].astype(str)
        a = np.array([rev_index.get(x, -1) for x in hist["author_id"]])
        b = np.array([rev_index.get(x, -1) for x in hist["reviewer_id"]])
        ok = (a >= 0) & (b >= 0)
        a, b = a[ok], b[ok]
        pair_keys = np.unique(np.concatenate([a * n_rev + b, b * n_rev + a]))

    load = np.zeros(n_rev, dtype=np.int64)
    if kept is not None:
        counts = kept["reviewer_id"].map(rev_index).dropna().astype(int).value_counts()
        load[counts.index.to_numpy()] = counts.to_numpy()

    d = candidates
    biggest_pool = max(sum(lang in langs for langs in rev_langs) for lang in set(sub_lang.tolist()))
    while True:
        progress(f"building candidate pairs ({d} per submission and per reviewer)")
        s, r = _sample_pairs(sub_lang, rev_langs, d, rng)
        ok = ((r != author_rev[s]) & ((sub_org[s] < 0) | (rev_org[r] != sub_org[s]))
              & ((sub_country[s] < 0) | (rev_country[r] != sub_country[s])))
        s, r = s[ok], r[ok]
        key = np.unique(s * n_rev + r)
        s, r = key // n_rev, key % n_rev
        cost = np.where(rev_stake[r] == sub_stake[s], COST_SAME_STAKEHOLDER, 0)
        if groups is not None:
            same = (rev_group[r] == sub_group[s]) & (sub_group[s] >= 0)
            cost += COST_SAME_GROUP * (~same if within_groups else same)
        if pair_keys is not None:
            cost += COST_MET_BEFORE * np.isin(author_rev[s] * n_rev + r, pair_keys)
        progress(f"solving: {n_sub} submissions x {k} reviews over {len(s)} candidate pairs")
        panel_group = None
        if spread_stakeholders:  # a reviewer of unknown group shares it with nobody
            panel_group = np.where(rev_stake[r] >= 0, rev_stake[r], rev_stake.max() + 1 + r)
        chosen = _solve(n_sub, n_rev, s, r, cost, k, load, max_load, panel_group)
        if chosen is not None:
            break
        if d < biggest_pool and d < 512:
            progress("the candidate pairs cannot carry every review: widening the sample")
            d *= 4
        elif grow_load and max_load < n_sub:
            # A pool without capacities takes more than an even share rather than leave a
            # submission short (e.g. most authors from one country); loads stay as even as possible.
            max_load = min(2 * max_load, n_sub)
            progress(f"the reviewers cannot carry every review with even loads: allowing up to {max_load} each")
        else:
            raise AllocationError(_explain(todo, k, rev_langs, author_rev, sub_org, rev_org, sub_country, rev_country,
                                           max_load))

    s, r = s[chosen], r[chosen]
    order = np.lexsort((r, s))
    s, r = s[order], r[order]
    taken = set() if kept is None else set(kept["review_code"])
    out = pd.DataFrame({
        "submission_id": todo["submission_id"].to_numpy()[s],
        "author_id": todo["author_id"].to_numpy()[s],
        "reviewer_id": np.array(reviewer_ids, dtype=object)[r],
        "review_code": _codes(rng, len(s), taken),
    })
    if kept is not None:
        out = pd.concat([kept, out], ignore_index=True)
    return out


def _codes_of(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Two columns coded over their shared values; empty values get -1 (no conflict)."""
    values = pd.concat([a.astype(str), b.astype(str)], ignore_index=True)
    codes = np.where(values.to_numpy() == "", -1, pd.factorize(values, sort=True)[0])
    return codes[: len(a)], codes[len(a):]


def _solve(n_sub, n_rev, s, r, cost, k, load, max_load, panel_group=None):
    """Min-cost flow; returns a mask of chosen arcs, or None if some submission is short.

    `max_load` (one number, or one per reviewer) caps each reviewer's load; loads below it
    cost more with each review (convex), so they come out as even as the rules allow.
    `panel_group` (the reviewer's stakeholder group, one per arc) routes each submission's
    reviews through a node per (submission, group): the first review through it is free, each
    further one costs COST_SAME_PANEL_GROUP, so panels spread across groups."""
    src, snk = n_sub + n_rev, n_sub + n_rev + 1
    extra = np.maximum(0, np.broadcast_to(np.asarray(max_load, dtype=np.int64), (n_rev,)) - load)
    rev_nodes = np.repeat(np.arange(n_rev), extra)
    starts = np.cumsum(extra) - extra
    # marginal cost of the j-th review of a reviewer grows with j (convex): even loads
    jth = load[rev_nodes] + np.arange(len(rev_nodes)) - np.repeat(starts, extra) + 1
    entry, mid_tails, mid_heads, mid_caps, mid_costs = s, [], [], [], []
    if panel_group is not None:
        keys, mid = np.unique(s * (int(panel_group.max()) + 1) + panel_group, return_inverse=True)
        mid_nodes = snk + 1 + np.arange(len(keys))
        mid_subs = keys // (int(panel_group.max()) + 1)
        entry = snk + 1 + mid.ravel()  # candidate arcs leave from their (submission, group) node
        extra_caps = [(1, 0)] + ([(k - 1, COST_SAME_PANEL_GROUP)] if k > 1 else [])
        for cap, unit in extra_caps:
            mid_tails.append(mid_subs)
            mid_heads.append(mid_nodes)
            mid_caps.append(np.full(len(keys), cap))
            mid_costs.append(np.full(len(keys), unit))
    n_mid = sum(len(a) for a in mid_tails)
    tails = np.concatenate([np.full(n_sub, src), *mid_tails, entry, n_sub + rev_nodes]).astype(np.int64)
    heads = np.concatenate([np.arange(n_sub), *mid_heads, n_sub + r, np.full(len(rev_nodes), snk)]).astype(np.int64)
    caps = np.concatenate([np.full(n_sub, k), *mid_caps, np.ones(len(s)), np.ones(len(rev_nodes))]).astype(np.int64)
    costs = np.concatenate([np.zeros(n_sub), *mid_costs, cost, _LOAD_COST * jth]).astype(np.int64)
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_node_supply(src, int(k * n_sub))
    flow.set_node_supply(snk, -int(k * n_sub))
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL or flow.maximum_flow() < k * n_sub:
        return None
    first = n_sub + n_mid
    flows = flow.flows(np.arange(first, first + len(s), dtype=np.int64))
    return flows > 0


def _explain(todo, k, rev_langs, author_rev, sub_org, rev_org, sub_country, rev_country, max_load) -> str:
    # Eligible reviewers by inclusion and exclusion: those who read the language, less those of
    # the author's organisation, less those of the author's country, plus those of both.
    readers: dict[tuple, int] = {}
    for j, langs in enumerate(rev_langs):
        for lang in langs:
            for key in ((lang,), (lang, "o", rev_org[j]), (lang, "c", rev_country[j]), (lang, rev_org[j], rev_country[j])):
                readers[key] = readers.get(key, 0) + 1
    country_rule = bool((sub_country >= 0).any())
    lines = []
    for i, row in enumerate(todo.itertuples(index=False)):
        lang, org, country, me = row.language, sub_org[i], sub_country[i], author_rev[i]
        eligible = readers.get((lang,), 0)
        if org >= 0:
            eligible -= readers.get((lang, "o", org), 0)
        if country >= 0:
            eligible -= readers.get((lang, "c", country), 0)
        if org >= 0 and country >= 0:
            eligible += readers.get((lang, org, country), 0)
        if me >= 0 and lang in rev_langs[me] and not (org >= 0 and rev_org[me] == org) \
                and not (country >= 0 and rev_country[me] == country):
            eligible -= 1  # the author, not already left out with their organisation or country
        if eligible < k:
            rules = "the author's organisation" + (" and country" if country_rule else "")
            lines.append(
                f"  {row.submission_id} (author {row.author_id}, language {lang}): only {eligible} eligible "
                f"reviewers (who read {lang}, other than the author and {rules}), {k} needed"
            )
    if lines:
        return f"cannot give every submission {k} reviewers:\n" + "\n".join(lines)
    parts = []
    for lang, count in todo.groupby("language").size().items():
        parts.append(f"{lang}: {count} submissions need {k * count} reviews, {readers.get((lang,), 0)} reviewers read {lang}")
    most = f"at most {max_load} reviews per reviewer" if np.ndim(max_load) == 0 else "within each reviewer's capacity"
    rules = "language, organisation and country rules" if country_rule else "language and organisation rules"
    return f"cannot give every submission {k} reviewers {most} ({rules}): " + "; ".join(parts)


def author_view(allocation: pd.DataFrame) -> pd.DataFrame:
    """What authors may see: their submission and the opaque review codes, no reviewer."""
    return allocation[["submission_id", "author_id", "review_code"]].copy()
