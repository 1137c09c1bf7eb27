"""Exchanges: hard rules never broken, optimal against brute force and greedy, reasons, the command."""

import itertools

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import igcb, ok, refused
from peer_review.exchanges import (exchange_quality, greedy_exchanges, match_exchanges, parse_months, parse_requirements,
                                   validate_candidates, validate_hosts)
from peer_review.roster import RosterError

EXAMPLES = "peer_review/examples"
GROUPS = ["civil_society", "government", "academia"]
REGIONS = ["Africa", "Europe", "Asia-Pacific"]
TOPICS = ["dns", "privacy", "access", "cybersecurity"]
LANGS = ["en", "fr", "es"]
COUNTRIES = ["KE", "SN", "FR"]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def person(id, **fields):
    """A candidate row: a roster row with the exchange columns."""
    row = {"id": id, "name": f"Person {id}", "email": f"{id}@example.org", "stakeholder_group": "civil_society",
           "region": "Africa", "country": "KE", "organisation": f"Home of {id}", "languages": "en",
           "timezone": "Africa/Nairobi", "interests": "", "preferred_regions": "", "months": "", "experience": ""}
    return row | fields


def host(id, **fields):
    row = {"id": id, "organisation": f"Host {id}", "country": "SN", "region": "Africa", "stakeholder_group": "academia",
           "capacity": "1", "languages": "en", "topics": "", "months": "", "requirements": ""}
    return row | fields


def tables(candidates, hosts):
    return validate_candidates(pd.DataFrame(candidates)), validate_hosts(pd.DataFrame(hosts))


def subset(draw, items, min_size=0):
    return ";".join(draw(st.lists(st.sampled_from(items), min_size=min_size, max_size=len(items), unique=True)))


@st.composite
def months(draw):
    kind = draw(st.sampled_from(["none", "range", "list"]))
    if kind == "none":
        return ""
    if kind == "range":
        return f"{draw(st.sampled_from(MONTHS))}-{draw(st.sampled_from(MONTHS))}"
    return subset(draw, MONTHS, 1)


@st.composite
def requirements(draw):
    parts = []
    if draw(st.booleans()):
        parts.append("groups=" + subset(draw, GROUPS, 1).replace(";", "|"))
    if draw(st.integers(0, 3)) == 0:
        parts.append("languages=" + draw(st.sampled_from(LANGS)))
    if draw(st.integers(0, 2)) == 0:
        parts.append("topics=" + subset(draw, TOPICS, 1).replace(";", "|"))
    if draw(st.booleans()):
        parts.append(f"min_experience={draw(st.integers(0, 4))}")
    return "; ".join(parts)


@st.composite
def exchange(draw, max_candidates=25, max_hosts=8, max_capacity=3):
    """Random candidates and hosts that share organisations and countries, so every rule bites."""
    n_c = draw(st.integers(1, max_candidates))
    n_h = draw(st.integers(1, max_hosts))
    candidates = [person(
        f"c{i}", stakeholder_group=draw(st.sampled_from(GROUPS)), country=draw(st.sampled_from(COUNTRIES)),
        organisation=draw(st.sampled_from(["", "Org 0", "Org 1", "Org 2"])), languages=subset(draw, LANGS, 1),
        interests=subset(draw, TOPICS), preferred_regions=subset(draw, REGIONS), months=draw(months()),
        experience=draw(st.sampled_from(["", "0", "1", "2.5", "4"]))) for i in range(n_c)]
    hosts = [host(
        f"h{j}", organisation=draw(st.sampled_from(["Org 0", "Org 1", "Org 3", "Org 4"])),
        country=draw(st.sampled_from(COUNTRIES)), region=draw(st.sampled_from(REGIONS)),
        capacity=str(draw(st.integers(0, max_capacity))), languages=subset(draw, LANGS, 1), topics=subset(draw, TOPICS),
        months=draw(months()), requirements=draw(requirements())) for j in range(n_h)]
    return tables(candidates, hosts)


# An independent reading of the rules and the fit, from the normalised tables.

def _set(value):
    return {v for v in str(value).split(";") if v}


def _requires(text):
    out = {}
    for item in filter(None, (p.strip() for p in text.split(";"))):
        key, value = item.split("=")
        out[key] = float(value) if key == "min_experience" else set(value.split("|"))
    return out


def allowed(c, h, other_country):
    req = _requires(h["requirements"])
    years = float(c["experience"]) if c["experience"] != "" else None
    return (bool(_set(c["languages"]) & _set(h["languages"]))
            and req.get("languages", set()) <= _set(c["languages"])
            and c["stakeholder_group"] in req.get("groups", {c["stakeholder_group"]})
            and (not req.get("topics") or bool(req["topics"] & _set(c["interests"])))
            and (req.get("min_experience", 0) <= 0 or (years is not None and years >= req["min_experience"]))
            and (not _set(c["months"]) or not _set(h["months"]) or bool(_set(c["months"]) & _set(h["months"])))
            and (c["organisation"] == "" or c["organisation"].lower() != h["organisation"].lower())
            and not (other_country and c["country"] == h["country"]))


def fit(c, h):
    topics = _set(h["topics"]) | _requires(h["requirements"]).get("topics", set())
    return (len(_set(c["interests"]) & topics) + (h["region"] in _set(c["preferred_regions"]))
            + bool(_set(c["months"]) & _set(h["months"])))


def check_rules(candidates, hosts, result, other_country):
    """Every placement allowed, within capacity, with its fit right; returns (placed, total fit)."""
    c, h = candidates.set_index("id"), hosts.set_index("id")
    placed = result[result["host_id"] != ""]
    for row in placed.itertuples():
        assert allowed(c.loc[row.candidate_id], h.loc[row.host_id], other_country), row
        assert row.fit == fit(c.loc[row.candidate_id], h.loc[row.host_id])
    counts = placed["host_id"].value_counts()
    assert (counts <= h.loc[counts.index, "capacity"].astype(int)).all()
    assert list(result["candidate_id"]) == list(candidates["id"])
    assert (result.loc[result["host_id"] == "", "fit"] == 0).all()
    return len(placed), int(result["fit"].sum())


def brute_force(candidates, hosts, other_country):
    """The best (placed, fit) over every assignment: tiny cases only."""
    options = [[None] + [j for j, h in hosts.iterrows() if int(h["capacity"]) > 0 and allowed(c, h, other_country)]
               for _, c in candidates.iterrows()]
    best = (0, 0)
    for choice in itertools.product(*options):
        used = [j for j in choice if j is not None]
        if any(used.count(j) > int(hosts.at[j, "capacity"]) for j in set(used)):
            continue
        total = sum(fit(candidates.iloc[i], hosts.iloc[j]) for i, j in enumerate(choice) if j is not None)
        best = max(best, (len(used), total))
    return best


@settings(max_examples=80, deadline=None)
@given(case=exchange(), seed=st.integers(0, 2**32 - 1), other_country=st.booleans())
def test_hard_rules_hold_and_the_optimum_beats_greedy(case, seed, other_country):
    candidates, hosts = case
    result = match_exchanges(candidates, hosts, seed=seed, other_country=other_country)
    greedy = greedy_exchanges(candidates, hosts, other_country=other_country)
    best, base = check_rules(candidates, hosts, result, other_country), check_rules(candidates, hosts, greedy, other_country)
    # Placements first, then fit: never fewer placed than greedy, and never less fit for as many placed.
    assert best >= base
    assert best[0] >= base[0]
    if best[0] == base[0]:
        assert best[1] >= base[1]
    assert result.equals(match_exchanges(candidates, hosts, seed=seed, other_country=other_country))
    q = exchange_quality(result, greedy)
    assert (q["placed"], q["fit"], q["greedy_placed"], q["greedy_fit"]) == (*best, *base)


@settings(max_examples=80, deadline=None)
@given(case=exchange(max_candidates=5, max_hosts=3, max_capacity=2), seed=st.integers(0, 1000), other_country=st.booleans())
def test_the_optimum_matches_brute_force(case, seed, other_country):
    candidates, hosts = case
    result = match_exchanges(candidates, hosts, seed=seed, other_country=other_country)
    assert check_rules(candidates, hosts, result, other_country) == brute_force(candidates, hosts, other_country)


@settings(max_examples=60, deadline=None)
@given(case=exchange(max_candidates=20, max_hosts=5, max_capacity=2), other_country=st.booleans())
def test_reasons_agree_with_the_rules(case, other_country):
    """"No host ..." only when no host is allowed; otherwise every allowed host is full."""
    candidates, hosts = case
    for result in (match_exchanges(candidates, hosts, other_country=other_country),
                   greedy_exchanges(candidates, hosts, other_country=other_country)):
        used = result["host_id"].value_counts()
        assert (result["reason"] == "").equals(result["host_id"] != "")
        for row in result[result["host_id"] == ""].itertuples():
            c = candidates.set_index("id").loc[row.candidate_id]
            can = [h["id"] for _, h in hosts.iterrows() if allowed(c, h, other_country)]
            if not can:
                assert row.reason.startswith(("no host", "every host", "the only hosts are")), row.reason
            else:
                assert all(used.get(j, 0) >= int(hosts.set_index("id").at[j, "capacity"]) for j in can)
                with_places = [j for j in can if int(hosts.set_index("id").at[j, "capacity"]) > 0]
                if with_places:
                    assert "full" in row.reason and with_places[0] in row.reason, row.reason
                else:
                    assert row.reason.startswith("the only hosts that could take them offer no places"), row.reason


def test_strictly_better_fit_than_greedy_for_as_many_placed():
    # Greedy gives a the host it likes best (x, fit 2), leaving b the host it does not like (y, fit 0);
    # the optimum swaps them: a at y (fit 1), b at x (fit 2).
    candidates, hosts = tables(
        [person("a", interests="dns;ipv6"), person("b", interests="ipv6", preferred_regions="Europe")],
        [host("x", topics="dns;ipv6", region="Europe"), host("y", topics="dns")])
    result, greedy = match_exchanges(candidates, hosts), greedy_exchanges(candidates, hosts)
    assert list(greedy["host_id"]) == ["x", "y"] and list(greedy["fit"]) == [2, 0]
    assert list(result["host_id"]) == ["y", "x"] and list(result["fit"]) == [1, 2]
    q = exchange_quality(result, greedy)
    assert (q["placed"], q["greedy_placed"], q["fit"], q["greedy_fit"], q["ratio"]) == (2, 2, 3, 2, 1.5)


def test_placements_come_before_fit():
    # Greedy puts a at x (fit 3) and b, who only speaks fr, finds x full. The optimum places
    # both, though its total fit is lower: every candidate placed counts before fit.
    candidates, hosts = tables(
        [person("a", interests="dns;privacy;access"), person("b", languages="fr")],
        [host("x", topics="dns;privacy;access", languages="en;fr"), host("y")])
    result, greedy = match_exchanges(candidates, hosts), greedy_exchanges(candidates, hosts)
    assert list(greedy["host_id"]) == ["x", ""] and int(greedy["fit"].sum()) == 3
    assert list(result["host_id"]) == ["y", "x"] and int(result["fit"].sum()) == 0
    assert greedy["reason"][1] == "hosts sharing a language are full (x)"


REASONS = [
    ([person("a", languages="pt")], [host("x"), host("y", languages="fr")], False,
     "no host shares a language (they speak pt)"),
    ([person("a", stakeholder_group="private_sector")], [host("x", requirements="groups=civil_society|academia")], False,
     "no host accepts private_sector"),
    ([person("a")], [host("x", requirements="languages=fr", languages="en;fr")], False,
     "every host that shares a language requires one they do not speak"),
    ([person("a", interests="dns")], [host("x", requirements="topics=privacy")], False,
     "every host requires a topic they lack"),
    ([person("a")], [host("x", requirements="min_experience=2")], False,
     "every host asks for more experience than they have (their experience is not given)"),
    ([person("a", experience="1")], [host("x", requirements="min_experience=2")], False,
     "every host asks for more experience than they have (1 years)"),
    ([person("a", organisation="Lake Exchange")], [host("x", organisation="lake  exchange")], False,
     "the only hosts are their own organisation"),
    ([person("a")], [host("x", country="KE")], True, "every host is in their own country (KE)"),
    ([person("a", languages="fr")], [host("x"), host("y", languages="fr", requirements="groups=government")], False,
     "no host meets every requirement: 1 shares no language, 1 does not accept civil_society"),
    ([person("a")], [host("x", capacity="0")], False, "the only hosts that could take them offer no places (x)"),
    ([person("a", months="jan")], [host("x", months="dec"), host("y", months="jun-aug")], False,
     "no host offers a month they are available (they are available in jan)"),
    ([person("a", months="jan", languages="fr")], [host("x", months="dec", languages="fr"), host("y", months="jan")],
     False, "no host meets every requirement: 1 shares no language, 1 offers no month they are available"),
    ([person("a", months="jan"), person("b", months="jan-feb")], [host("x", months="jan"), host("y", months="mar")],
     False, "hosts offering a month they are available are full (x)"),
    ([person("a"), person("b")], [host("x", requirements="groups=civil_society"), host("y", requirements="groups=academia")],
     False, "hosts accepting civil_society are full (x)"),
    ([person("a", languages="fr;en"), person("b", languages="fr")], [host("x", languages="fr"), host("y", languages="es")],
     False, "hosts sharing a language are full (x)"),
    ([person("a", country="SN"), person("b", country="SN")], [host("x", country="KE"), host("y", country="SN")], True,
     "hosts outside SN are full (x)"),
    ([person("a", interests="dns"), person("b", interests="dns")], [host("x"), host("y", requirements="topics=privacy")],
     False, "the hosts that could take them are full (x); the one with room (y) requires a topic they lack"),
    ([person("a", interests="dns"), person("b", interests="dns")],
     [host("x"), host("y", requirements="topics=privacy"), host("z", requirements="groups=government")],
     False, "the hosts that could take them are full (x); of the 2 with room, 1 does not accept civil_society, "
            "1 requires a topic they lack"),
]


@pytest.mark.parametrize("candidates, hosts, other_country, reason", REASONS)
def test_unplaced_reasons(candidates, hosts, other_country, reason):
    candidates, hosts = tables(candidates, hosts)
    result = match_exchanges(candidates, hosts, other_country=other_country)
    assert result["reason"].iloc[-1] == reason
    assert result["host_id"].iloc[-1] == ""


def test_months_that_do_not_overlap_rule_a_host_out_for_the_optimum_and_greedy():
    """A candidate free only in January never goes to a host taking people only in December,
    however well the topics fit; a side that gives no months takes any month."""
    candidates, hosts = tables([person("a", months="jan", interests="dns;privacy")],
                               [host("x", months="dec", topics="dns;privacy")])
    for result in (match_exchanges(candidates, hosts), greedy_exchanges(candidates, hosts)):
        assert list(result["host_id"]) == [""] and list(result["fit"]) == [0]
        assert result["reason"][0] == "no host offers a month they are available (they are available in jan)"
    # With a second host with no months given, both place a there (fit 0), not at x (fit 2).
    candidates, hosts = tables([person("a", months="jan", interests="dns;privacy")],
                               [host("x", months="dec", topics="dns;privacy"), host("y")])
    for result in (match_exchanges(candidates, hosts), greedy_exchanges(candidates, hosts)):
        assert list(result["host_id"]) == ["y"] and list(result["fit"]) == [0] and list(result["shared_months"]) == [""]
    # No months from the candidate: any host month will do (and no month point).
    candidates, hosts = tables([person("a", interests="dns")], [host("x", months="dec", topics="dns")])
    result = match_exchanges(candidates, hosts)
    assert list(result["host_id"]) == ["x"] and list(result["fit"]) == [1]
    # Overlapping months (a range across the new year) are allowed and score the month point.
    candidates, hosts = tables([person("a", months="nov-feb")], [host("x", months="jan;jul")])
    result = greedy_exchanges(candidates, hosts)
    assert list(result["host_id"]) == ["x"] and list(result["fit"]) == [1] and list(result["shared_months"]) == ["jan"]


def test_months_and_requirements_are_read_as_written():
    assert parse_months("nov-feb") == ([1, 2, 11, 12], [])
    assert parse_months("6;7, August; Sept") == ([6, 7, 8, 9], [])
    assert parse_months("jun-aug;smarch;13") == ([6, 7, 8], ["smarch", "13"])
    found, problems = parse_requirements("accepts=CSO|academic; language: fr; topics=DNS, IPv6; experience=2")
    assert found == {"groups": ["civil_society", "academia"], "languages": ["fr"], "topics": ["dns", "ipv6"],
                     "min_experience": 2.0} and problems == []
    _, problems = parse_requirements("groups=a; groups=academia; min_experience=lots; colour=blue")
    assert [p[0] for p in problems] == ["a", "groups=academia", "min_experience=lots", "colour=blue"]


def test_bad_candidates_name_row_and_column():
    with pytest.raises(RosterError) as err:
        validate_candidates(pd.DataFrame([person("a", months="smarch"), person("b", preferred_regions="Mars", experience="-1")]))
    assert [(p.row, p.column) for p in err.value.problems] == [(2, "months"), (3, "preferred_regions"), (3, "experience")]


# The command.

def test_match_the_examples(tmp_path):
    out = tmp_path / "matches.csv"
    output = ok("exchanges", "match", f"{EXAMPLES}/candidates.csv", f"{EXAMPLES}/hosts.csv", "-o", out)
    assert "placed 20 of 22 candidates (greedy match: 18)" in output
    assert "total fit 58 (greedy match: 50; 1.16 times the greedy fit)" in output
    assert "c07: no host shares a language (they speak pt)" in output
    assert "c22: hosts accepting civil_society are full" in output
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(table.columns) == ["candidate_id", "host_id", "host_organisation", "fit", "shared_topics",
                                   "preferred_region", "shared_months", "reason"]
    candidates, hosts = tables(pd.read_csv(f"{EXAMPLES}/candidates.csv", dtype=str, keep_default_na=False),
                               pd.read_csv(f"{EXAMPLES}/hosts.csv", dtype=str, keep_default_na=False))
    table["fit"] = table["fit"].astype(int)
    assert check_rules(candidates, hosts, table, False) == (20, 58)
    again = tmp_path / "again.csv"
    ok("exchanges", "match", f"{EXAMPLES}/candidates.csv", f"{EXAMPLES}/hosts.csv", "-o", again)
    assert again.read_bytes() == out.read_bytes()


def test_other_country(tmp_path):
    out = tmp_path / "matches.csv"
    output = ok("exchanges", "match", f"{EXAMPLES}/candidates.csv", f"{EXAMPLES}/hosts.csv", "-o", out,
                "--other-country", "--seed", "7")
    table = pd.read_csv(out, dtype=str, keep_default_na=False)
    candidates = pd.read_csv(f"{EXAMPLES}/candidates.csv", dtype=str).set_index("id")
    hosts = pd.read_csv(f"{EXAMPLES}/hosts.csv", dtype=str).set_index("id")
    placed = table[table["host_id"] != ""]
    assert len(placed) > 0 and "greedy match" in output
    assert all(candidates.at[c, "country"] != hosts.at[h, "country"] for c, h in zip(placed["candidate_id"], placed["host_id"]))


def _hosts_file(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_bad_files_are_refused_and_nothing_is_written(tmp_path):
    out = tmp_path / "matches.csv"
    cands = f"{EXAMPLES}/candidates.csv"
    bad = _hosts_file(tmp_path / "hosts.csv", [host("h1"), host("h2", capacity="two")])
    message = refused("exchanges", "match", cands, bad, "-o", out)
    assert "hosts.csv: row 3, column capacity: 'two': a whole number of 0 or more" in message
    assert not out.exists()

    out.write_text("kept\n")
    bad = _hosts_file(tmp_path / "hosts.csv", [host("h1", requirements="groups=robots")])
    message = refused("exchanges", "match", cands, bad, "-o", out)
    assert "hosts.csv: row 2, column requirements: 'robots'" in message
    assert out.read_text() == "kept\n"

    missing = _hosts_file(tmp_path / "no_capacity.csv", [{k: v for k, v in host("h1").items() if k != "capacity"}])
    assert "no_capacity.csv: row 1, column capacity: missing column" in refused("exchanges", "match", cands, missing, "-o", out)

    both_cands = _hosts_file(tmp_path / "cands.csv", [person("a"), person("b", months="jun-smarch")])
    message = refused("exchanges", "match", both_cands, bad, "-o", out)
    assert "cands.csv: row 3, column months: 'jun-smarch'" in message and "hosts.csv: row 2, column requirements" in message
    assert out.read_text() == "kept\n"

    (tmp_path / "latin1.csv").write_bytes("id,organisation\nh1,Caf\xe9\n".encode("latin-1"))
    assert "latin1.csv" in refused("exchanges", "match", cands, tmp_path / "latin1.csv", "-o", out)
    (tmp_path / "empty.csv").write_text("")
    assert "empty.csv: the file is empty" in refused("exchanges", "match", cands, tmp_path / "empty.csv", "-o", out)
    assert out.read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cands.csv", "empty.csv", "hosts.csv", "latin1.csv", "matches.csv",
                                                           "no_capacity.csv"]


def test_output_may_not_overwrite_an_input(tmp_path):
    hosts = tmp_path / "hosts.csv"
    hosts.write_bytes(open(f"{EXAMPLES}/hosts.csv", "rb").read())
    before = hosts.read_bytes()
    message = refused("exchanges", "match", f"{EXAMPLES}/candidates.csv", hosts, "-o", hosts)
    assert "this is an input of the command" in message
    assert hosts.read_bytes() == before


def test_missing_file_is_a_usage_error(tmp_path):
    result = igcb("exchanges", "match", tmp_path / "nope.csv", f"{EXAMPLES}/hosts.csv", "-o", tmp_path / "m.csv")
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "m.csv").exists()
