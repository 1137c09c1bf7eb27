"""Mentoring: an optimal mentee-mentor assignment, and a greedy one to compare."""

from __future__ import annotations

import numpy as np
import pandas as pd
from ortools.graph.python import min_cost_flow

from peer_review.roster import language_sets, org_keys


def _topics(frame: pd.DataFrame) -> list[frozenset[str]]:
    column = "interests" if "interests" in frame.columns else "expertise"
    return [frozenset(t for t in str(v).split(";") if t) for v in frame[column]]


def _masks(sets: list[frozenset[str]], vocab: dict[str, int]) -> np.ndarray:
    """Sets as bit masks over a vocabulary (several 64-bit words if needed)."""
    words = max(1, (len(vocab) + 63) // 64)
    out = np.zeros((len(sets), words), dtype=np.uint64)
    for i, s in enumerate(sets):
        for item in s:
            j = vocab[item]
            out[i, j // 64] |= np.uint64(1) << np.uint64(j % 64)
    return out


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per row (works on numpy 1.26, which has no bitwise_count)."""
    return np.unpackbits(np.ascontiguousarray(words).view(np.uint8), axis=1).sum(axis=1).astype(np.int64)


def pair_table(mentees: pd.DataFrame, mentors: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Allowed (mentee, mentor) index pairs and their fit (shared topics)."""
    ml, tl = language_sets(mentees), language_sets(mentors)
    mt, tt = _topics(mentees), _topics(mentors)
    lvocab = {l: i for i, l in enumerate(sorted(set().union(*ml, *tl)))}
    tvocab = {t: i for i, t in enumerate(sorted(set().union(*mt, *tt)))}
    mlm, tlm = _masks(ml, lvocab), _masks(tl, lvocab)
    mtm, ttm = _masks(mt, tvocab), _masks(tt, tvocab)
    codes, _ = pd.factorize(pd.concat([org_keys(mentees), org_keys(mentors)]), sort=True)
    empty = pd.concat([org_keys(mentees), org_keys(mentors)]).to_numpy() == ""
    codes = np.where(empty, -1, codes)
    morg, torg = codes[: len(mentees)], codes[len(mentees):]
    mid, tid = mentees["id"].to_numpy(), mentors["id"].to_numpy()
    cap = mentors["capacity"].astype(int).to_numpy()
    heads, tails, fits = [], [], []
    for i in range(len(mentees)):
        lang_ok = np.any(tlm & mlm[i], axis=1)
        ok = lang_ok & (cap > 0) & ((torg != morg[i]) | (morg[i] < 0)) & (tid != mid[i])
        js = np.flatnonzero(ok)
        fit = _popcount(ttm[js] & mtm[i])
        tails.append(np.full(len(js), i))
        heads.append(js)
        fits.append(fit)
    if not tails:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(tails).astype(np.int64), np.concatenate(heads).astype(np.int64), np.concatenate(fits)


def solve_assignment(a: np.ndarray, b: np.ndarray, fit: np.ndarray, n_left: int, capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Most left nodes matched, then the largest total fit, within the right nodes' capacity.

    a, b, fit: the allowed pairs (left index, right index) and their fit (whole, >= 0).
    Returns each left node's right index (-1 if unmatched) and fit (0 if unmatched).
    """
    n_r = len(capacity)
    top = int(fit.max()) if len(fit) else 0
    src, snk = n_left + n_r, n_left + n_r + 1
    flow = min_cost_flow.SimpleMinCostFlow()
    tails = np.concatenate([np.full(n_left, src), a, n_left + np.arange(n_r)]).astype(np.int64)
    heads = np.concatenate([np.arange(n_left), n_left + b, np.full(n_r, snk)]).astype(np.int64)
    caps = np.concatenate([np.ones(n_left), np.ones(len(a)), capacity]).astype(np.int64)
    costs = np.concatenate([np.zeros(n_left), top - fit, np.zeros(n_r)]).astype(np.int64)
    flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_node_supply(src, n_left)
    flow.set_node_supply(snk, -n_left)
    flow.solve_max_flow_with_min_cost()  # most matched first, then least cost = best fit
    used = flow.flows(np.arange(n_left, n_left + len(a), dtype=np.int64)) > 0
    right_of = np.full(n_left, -1)
    fit_of = np.zeros(n_left, dtype=np.int64)
    right_of[a[used]] = b[used]
    fit_of[a[used]] = fit[used]
    return right_of, fit_of


def greedy_assignment(a: np.ndarray, b: np.ndarray, fit: np.ndarray, n_left: int, capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baseline for `solve_assignment`: each left node in turn takes its best-fitting right node with room left
    (ties: the lower right index)."""
    left = np.asarray(capacity, dtype=np.int64).copy()
    order = np.lexsort((b, -fit, a))
    starts = np.searchsorted(a[order], np.arange(n_left))
    ends = np.searchsorted(a[order], np.arange(n_left), side="right")
    right_of = np.full(n_left, -1)
    fit_of = np.zeros(n_left, dtype=np.int64)
    for i in range(n_left):
        for k in order[starts[i]:ends[i]]:
            if left[b[k]] > 0:
                left[b[k]] -= 1
                right_of[i], fit_of[i] = b[k], fit[k]
                break
    return right_of, fit_of


def _matches(mentees: pd.DataFrame, mentors: pd.DataFrame, mentor_of: np.ndarray, fit_of: np.ndarray) -> pd.DataFrame:
    ids = mentors["id"].to_numpy()
    return pd.DataFrame({
        "mentee_id": mentees["id"].to_numpy(),
        "mentor_id": [ids[j] if j >= 0 else "" for j in mentor_of],
        "fit": fit_of,
    })


def match_mentors(mentees: pd.DataFrame, mentors: pd.DataFrame) -> pd.DataFrame:
    """Match as many mentees as possible, then maximise total fit, within mentor capacity.

    Pairs must share a language and come from different organisations.
    Returns mentee_id, mentor_id ('' if unmatched), fit.
    """
    a, b, fit = pair_table(mentees, mentors)
    cap = mentors["capacity"].astype(int).to_numpy()
    return _matches(mentees, mentors, *solve_assignment(a, b, fit, len(mentees), cap))


def greedy_match(mentees: pd.DataFrame, mentors: pd.DataFrame) -> pd.DataFrame:
    """Baseline: each mentee in turn takes the best-fitting mentor with room left."""
    a, b, fit = pair_table(mentees, mentors)
    cap = mentors["capacity"].astype(int).to_numpy()
    return _matches(mentees, mentors, *greedy_assignment(a, b, fit, len(mentees), cap))


def mentor_summary(matches: pd.DataFrame, greedy: pd.DataFrame) -> list[str]:
    got = matches["mentor_id"] != ""
    g_got = greedy["mentor_id"] != ""
    return [
        f"{int(got.sum())} of {len(matches)} mentees matched (greedy: {int(g_got.sum())})",
        f"total fit (shared topics) {int(matches['fit'].sum())}, greedy match {int(greedy['fit'].sum())}",
    ]
