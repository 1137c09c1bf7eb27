"""Load check of the course room: 1,000 participants load their review tasks and submit a review at once.

Run from the repository root, in the project's venv:

    python bench/room.py                       # --participants 1000 --db both --spread 60 15 --cap 1500

For each store (a SQLite file, and a PostgreSQL database of its own on 127.0.0.1:5432,
dropped at the end) it generates a cohort (roster, tutors, a policy brief of 300-600 words
per participant), loads it with the real commands (`igcb cohort init/groups/tutors`,
`igcb reviews open bench --from-csv FILE -k 3 --calibration 0`), so that everyone has 3
review tasks, starts a real JupyterHub with the room as its service, and makes one hub API
token per participant through the hub's REST API with the coordinator's (admin) token.
Then an aiohttp client in this process (the room, the hub, its proxy and PostgreSQL are
other processes on the same machine) runs these phases:

  cold     every participant GETs api/reviews/tasks, all at once: the first request of each
           token, which the room checks with the hub (then caches for 5 minutes)
  direct   all at once at the room's own port: GET api/reviews/tasks, GET the first task,
           PUT a submitted review of it (one after another, 3 requests per participant)
  proxy    the same through the hub's proxy (configurable-http-proxy), on the second task
  paced    the same at the room's port on the third task, participants starting evenly
           over --spread seconds instead of together (one phase per value; the second
           paced phase submits the third task again, as a reviewer changing their review)

"All at once": every participant's coroutine starts in the same event-loop turn, each with
its own connection (no client-side connection limit), so up to 1,000 requests are in flight.
Every request goes to 127.0.0.1; a phase sends at most 3 requests per participant and never
retries, and the phases of one store stop after --cap seconds in all. Afterwards the store
is read: every acknowledged PUT must be a submitted review there, with one item per criterion.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
from cohort import REGIONS, STAKEHOLDERS  # noqa: E402
from room_helpers import ROOM, api_token, start_room_hub  # noqa: E402
from hub_helpers import login  # noqa: E402
from pg_helpers import store_url  # noqa: E402

ADMIN = "coord"
REQUEST_TIMEOUT = 120  # seconds, per request
KINDS = ("tasks", "task", "review")

# Languages: most participants read English only; some French or Spanish as well; a few
# read French only (they write in French) or write in French or Spanish while reading English.
LANGUAGES = {"en": 0.74, "en;fr": 0.09, "en;es": 0.06, "fr;en": 0.03, "es;en": 0.03,
             "en;es;fr": 0.01, "fr": 0.04}
FRANCOPHONE = [("Africa", "SN", "Africa/Dakar"), ("Africa", "CD", "Africa/Kinshasa"),
               ("Europe", "FR", "Europe/Paris"), ("North America", "CA", "America/Toronto"),
               ("Arab States", "TN", "Africa/Tunis")]
HISPANOPHONE = [("Latin America and Caribbean", "MX", "America/Mexico_City"),
                ("Latin America and Caribbean", "AR", "America/Argentina/Buenos_Aires"),
                ("Latin America and Caribbean", "CO", "America/Bogota"), ("Europe", "ES", "Europe/Madrid")]
SENTENCES = {
    "en": [
        "The country's main internet exchange point carries most domestic traffic, yet two of the "
        "four mobile operators still route local traffic through Europe.",
        "The ministry should publish an IPv6 transition plan with the operators and the ccTLD manager.",
        "Civil society organisations asked to be consulted before the data protection bill goes to parliament.",
        "The regional internet registry allocates address space; the regulator only sets procurement rules.",
        "A multistakeholder advisory group would give the technical community a seat next to government.",
        "Universal service funds have collected more than they have spent on rural connectivity.",
        "Content moderation rules written for one jurisdiction rarely fit the languages spoken here.",
        "The national CERT needs a legal basis to share incident data with its neighbours.",
        "Cross-border data flows matter to small exporters, not only to large platforms.",
        "The brief recommends a public register of network shutdowns, with the legal basis for each.",
        "Open standards keep procurement competitive and let local firms bid for public contracts.",
        "Digital literacy programmes reach cities first; the plan should name the districts left out.",
        "The Internet Governance Forum is a place to test ideas, not to negotiate binding texts.",
        "Spectrum for community networks could be licensed at a nominal fee.",
        "Any cybercrime law must respect the proportionality tests of international human rights law.",
        "The parliament's committee should hold a public hearing on the draft before the summer recess.",
        "Operators report outages to the regulator, but the reports are never published.",
        "Local hosting of public services would cut costs and keep citizens' data in the country.",
        "The recommendation has an owner, a budget line and a date, so progress can be measured.",
        "Women are a third of the country's internet users; the plan should say how it closes the gap.",
    ],
    "fr": [
        "Le point d'échange internet national achemine l'essentiel du trafic local.",
        "Le ministère devrait publier un plan de transition vers IPv6 avec les opérateurs.",
        "La société civile demande à être consultée avant le vote de la loi sur les données personnelles.",
        "Le registre régional attribue les adresses ; le régulateur fixe les règles des marchés publics.",
        "Un groupe consultatif multipartite donnerait une place à la communauté technique.",
        "Le fonds de service universel a collecté plus qu'il n'a dépensé pour les zones rurales.",
        "Toute loi sur la cybercriminalité doit respecter le principe de proportionnalité.",
        "La recommandation a un responsable, un budget et une échéance.",
        "Les coupures de réseau devraient figurer dans un registre public avec leur base légale.",
        "L'hébergement local des services publics réduirait les coûts.",
    ],
    "es": [
        "El punto de intercambio de tráfico nacional lleva la mayor parte del tráfico local.",
        "El ministerio debería publicar un plan de transición a IPv6 con los operadores.",
        "La sociedad civil pide ser consultada antes de que se vote la ley de protección de datos.",
        "El registro regional asigna las direcciones; el regulador fija las reglas de compras públicas.",
        "Un grupo asesor de múltiples partes interesadas daría un lugar a la comunidad técnica.",
        "El fondo de servicio universal ha recaudado más de lo que ha gastado en zonas rurales.",
        "Toda ley sobre ciberdelito debe respetar el principio de proporcionalidad.",
        "La recomendación tiene un responsable, un presupuesto y una fecha.",
        "Los cortes de red deberían constar en un registro público con su base legal.",
        "Alojar los servicios públicos en el país reduciría los costes.",
    ],
}
COMMENTS = [
    "The problem is stated clearly, but the second recommendation needs a named owner and a date.",
    "Good use of evidence from the regional registry; say where the traffic figures come from.",
    "The audience is the ministry, so lead with the recommendation rather than the background.",
    "The options are weighed fairly; the risks of the preferred option deserve one more paragraph.",
    "Clear and concise; the stakeholders who would oppose this are not mentioned yet.",
]


# --- the cohort ------------------------------------------------------------------------------

def _pick(rng: random.Random, shares: dict):
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _place(rng: random.Random, languages: str) -> tuple[str, str, str]:
    """(region, country, time zone), matching the language a person writes in."""
    first = languages.split(";")[0]
    if first == "fr":
        return rng.choice(FRANCOPHONE)
    if first == "es":
        return rng.choice(HISPANOPHONE)
    region = _pick(rng, {name: share for name, (share, _) in REGIONS.items()})
    country, zone, _ = rng.choice(REGIONS[region][1])
    return region, country, zone


def make_people(n: int, prefix: str, width: int, seed: int, languages: dict) -> list[dict]:
    """n people following the roster contract: skewed stakeholder groups, regions and languages;
    about a third sent by organisations of 2-8 colleagues."""
    rng = random.Random(seed)
    shared = [(f"{prefix.upper()} shared organisation {i:03d}", _pick(rng, STAKEHOLDERS),
               rng.randint(2, 8)) for i in range(n // 15)]
    slots = [(name, stake) for name, stake, size in shared for _ in range(size)]
    rng.shuffle(slots)
    people = []
    for i in range(1, n + 1):
        pid = f"{prefix}{i:0{width}d}"
        langs = _pick(rng, languages)
        region, country, zone = _place(rng, langs)
        if slots and rng.random() < 0.35:
            organisation, stake = slots.pop()
        else:
            organisation, stake = f"Organisation of {pid}", _pick(rng, STAKEHOLDERS)
        people.append({"id": pid, "name": f"Person {pid.upper()}", "email": f"{pid}@example.org",
                       "stakeholder_group": stake, "region": region, "country": country,
                       "organisation": organisation,
                       "gender": _pick(rng, {"female": 0.48, "male": 0.46, "non_binary": 0.02,
                                             "undisclosed": 0.04}),
                       "languages": langs, "timezone": zone, "expertise": "dns;access"})
    return people


def brief(rng: random.Random, person: dict) -> tuple[str, str]:
    """(language, a policy brief of 300-600 words in it, naming its author as people do)."""
    language = person["languages"].split(";")[0]
    target = rng.randint(300, 600)
    paragraphs, sentences, count = [f"Brief by {person['name']} ({person['id']})."], [], 0
    while count < target:
        sentence = rng.choice(SENTENCES[language])
        sentences.append(sentence)
        count += len(sentence.split())
        if len(sentences) == 5 or count >= target:
            paragraphs.append(" ".join(sentences))
            sentences = []
    return language, "\n\n".join(paragraphs)


def write_csv(path: Path, rows: list[dict]) -> None:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def load_cohort(db_url: str, folder: Path, participants: int, tutors: int, seed: int) -> dict:
    """Write the roster, tutors and briefs to `folder` and load them with `igcb`; seconds per command."""
    people = make_people(participants, "u", 4, seed, LANGUAGES)
    staff = make_people(tutors, "t", 3, seed + 1, {"en;fr": 0.6, "en;es": 0.25, "en": 0.15})
    for tutor in staff:
        tutor["capacity"] = 6
    rng = random.Random(seed + 2)
    briefs = []
    for p in people:
        language, text = brief(rng, p)
        briefs.append({"submission_id": f"brief-{p['id']}", "author_id": p["id"],
                       "language": language, "text": text})
    write_csv(folder / "roster.csv", people)
    write_csv(folder / "tutors.csv", staff)
    write_csv(folder / "briefs.csv", briefs)
    igcb = str(Path(sys.executable).with_name("igcb"))
    env = {**os.environ, "IGCB_HUB_ADMIN": ADMIN}
    env.pop("IGCB_DB_URL", None)
    times = {}
    for args in (["cohort", "init", "--plan", "online-course", "--roster", str(folder / "roster.csv"),
                  "--tutors", str(folder / "tutors.csv")],
                 ["cohort", "groups", "--size", "6"], ["cohort", "tutors"],
                 ["reviews", "open", "bench", "--from-csv", str(folder / "briefs.csv"), "-k", "3",
                  "--calibration", "0"]):
        begin = time.monotonic()
        done = subprocess.run([igcb, *args, "--db", db_url], env=env, capture_output=True, text=True,
                              timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"igcb {' '.join(args[:2])} failed:\n{done.stdout}{done.stderr}")
        times[" ".join(args[:2])] = time.monotonic() - begin
    words = [len(b["text"].split()) for b in briefs]
    print(f"  cohort: {participants} participants, {tutors} tutors; briefs {min(words)}-{max(words)} "
          f"words; languages " + ", ".join(f"{k} {sum(p['languages'] == k for p in people)}"
                                           for k in LANGUAGES))
    print("  load: " + "; ".join(f"igcb {k} {v:.1f} s" for k, v in times.items()))
    return {"participants": [p["id"] for p in people], "tutors": [t["id"] for t in staff]}


# --- tokens and the load -------------------------------------------------------------------------

async def make_tokens(hub_url: str, admin_token: str, users: list[str], parallel: int = 10) -> dict:
    """user -> a new hub API token, made by the admin through the hub's REST API."""
    gate = asyncio.Semaphore(parallel)
    headers = {"Authorization": f"token {admin_token}"}
    tokens = {}

    async def one(http, user):
        async with gate:
            async with http.post(f"{hub_url}/hub/api/users/{user}/tokens", headers=headers,
                                 json={"note": "bench/room.py", "expires_in": 7200}) as reply:
                reply.raise_for_status()
                tokens[user] = (await reply.json())["token"]

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as http:
        await asyncio.gather(*(one(http, u) for u in users))
    return tokens


async def call(http, method: str, url: str, token: str, kind: str, log: list, body=None):
    """One request, timed until its whole answer is read: (status, JSON or None); 0 if it failed."""
    begin = time.perf_counter()
    try:
        async with http.request(method, url, json=body,
                                headers={"Authorization": f"token {token}"}) as reply:
            data = await reply.json(content_type=None)
            status = reply.status
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        status, data = 0, None
    log.append((kind, status, time.perf_counter() - begin))
    return status, data


def review_body(rubric: dict, rng: random.Random) -> dict:
    """A complete review: a level and a comment long enough for each criterion."""
    minimum = int(rubric.get("min_comment", 0))
    items = {}
    for criterion in rubric["criteria"]:
        comment = rng.choice(COMMENTS)
        while len(comment) < minimum:
            comment += " " + rng.choice(COMMENTS)
        items[criterion["id"]] = {"score": rng.choice(criterion["levels"])["points"], "comment": comment}
    return {"items": items, "state": "submitted"}


async def participant(http, base: str, user: str, token: str, which: int | None, delay: float,
                      log: list) -> str | None:
    """List my tasks; with `which`, open that task and submit a review; the code if acknowledged."""
    if delay:
        await asyncio.sleep(delay)
    status, data = await call(http, "GET", f"{base}api/reviews/tasks", token, "tasks", log)
    if status != 200 or which is None:
        return None
    codes = [t["review_code"] for r in data["rounds"] for t in r["tasks"]]
    code = codes[which]
    status, task = await call(http, "GET", f"{base}api/reviews/tasks/{code}", token, "task", log)
    if status != 200:
        return None
    body = review_body(task["rubric"], random.Random(f"{user}{code}"))
    status, reply = await call(http, "PUT", f"{base}api/reviews/tasks/{code}", token, "review", log, body)
    return code if status == 200 and reply.get("state") == "submitted" else None


def listen_overflows() -> int:
    """Connections the kernel dropped because a listen queue was full (TcpExt ListenOverflows)."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split()))["ListenOverflows"])
    return 0


class Processes:
    """CPU seconds used by the room, the hub, the proxy, PostgreSQL and this client."""

    def __init__(self, hub_pid: int):
        family = psutil.Process(hub_pid).children(recursive=True)
        self.named = {"room": [p for p in family if "course.room" in " ".join(p.cmdline())],
                      "hub": [psutil.Process(hub_pid)],
                      "proxy": [p for p in family if "configurable-http-proxy" in " ".join(p.cmdline())],
                      "bench": [psutil.Process()]}
        assert self.named["room"] and self.named["proxy"], "room or proxy process not found"

    def cpu(self) -> dict:
        out = {}
        for name, processes in self.named.items():
            out[name] = sum(p.cpu_times().user + p.cpu_times().system for p in processes)
        postgres = 0.0
        for p in psutil.process_iter(["name"]):
            if p.info["name"] == "postgres":
                with contextlib.suppress(psutil.Error):
                    postgres += sum(p.cpu_times()[:2])
        out["postgres (all)"] = postgres
        out["machine"] = sum(psutil.cpu_times()[:3])  # user, nice, system of all cores
        return out


async def phase(name: str, base: str, tokens: dict, which: int | None, spread: float, cap: float,
                processes: Processes) -> dict:
    """Every participant at once (or starting evenly over `spread` s); the figures of the phase."""
    log: list = []
    users = list(tokens)
    connector = aiohttp.TCPConnector(limit=0)  # one connection per participant, no queue here
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    before, dropped = processes.cpu(), listen_overflows()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:
        begin = time.perf_counter()
        jobs = [asyncio.ensure_future(participant(http, base, u, tokens[u], which,
                                                  spread * i / len(users), log))
                for i, u in enumerate(users)]
        done, pending = await asyncio.wait(jobs, timeout=cap)
        for job in pending:
            job.cancel()
        elapsed = time.perf_counter() - begin
    after, dropped = processes.cpu(), listen_overflows() - dropped
    acknowledged = {j.result() for j in done if j.exception() is None and j.result()}
    return {"name": name, "seconds": elapsed, "log": log, "acknowledged": acknowledged,
            "unfinished": len(pending), "dropped": dropped,
            "cpu": {k: (after[k] - before[k]) / elapsed for k in before}}


def report(result: dict) -> None:
    log, seconds = result["log"], result["seconds"]
    print(f"  {result['name']}: {len(log)} requests in {seconds:.1f} s"
          + (f", {result['unfinished']} participants cut off by --cap" if result["unfinished"] else ""))
    print("    | request | n | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |")
    for kind in (*KINDS, "all"):
        rows = [r for r in log if kind == "all" or r[0] == kind]
        if not rows:
            continue
        ms = np.array([r[2] for r in rows]) * 1000
        errors = sum(r[1] != 200 for r in rows)
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        print(f"    | {kind} | {len(rows)} | {errors} | {len(rows) / seconds:.0f} | {p50:.0f} | "
              f"{p95:.0f} | {p99:.0f} | {ms.max():.0f} |")
    statuses = sorted({r[1] for r in log} - {200})
    if statuses:
        print("    other answers: " + ", ".join(f"{s or 'no answer'} x{sum(r[1] == s for r in log)}"
                                                for s in statuses))
    cpu = result["cpu"]
    others = cpu["machine"] - sum(v for k, v in cpu.items() if k != "machine")
    print("    CPU (cores busy): " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
          + f" (others' work: {max(others, 0):.2f})")
    print(f"    room CPU per request: {cpu['room'] * seconds / max(len(log), 1) * 1000:.2f} ms")
    print(f"    connections dropped by a full listen queue (machine-wide): {result['dropped']}")


def check_store(db_url: str, acknowledged: set[str], puts: int) -> None:
    """Every acknowledged PUT is a submitted review in the store, with all its items."""
    from sqlalchemy import func, select

    from course.cohort.db import open_store
    from course.cohort.models import Review, ReviewItem, ReviewRound

    store = open_store(db_url, create=False)
    try:
        with store.session() as s:
            criteria = len(s.scalar(select(ReviewRound).where(ReviewRound.name == "bench")).rubric["criteria"])
            submitted = set(s.scalars(select(Review.review_code).where(Review.state == "submitted")))
            items = dict(s.execute(select(ReviewItem.review_code, func.count())
                                   .where(ReviewItem.score.is_not(None))
                                   .group_by(ReviewItem.review_code)).all())
    finally:
        store.close()
    missing = acknowledged - submitted
    incomplete = [c for c in acknowledged & submitted if items.get(c) != criteria]
    print(f"  store: {puts} PUTs acknowledged ({len(acknowledged)} reviews), {len(submitted)} submitted reviews in the "
          f"store; acknowledged but missing: {len(missing)}; incomplete: {len(incomplete)}; "
          f"submitted without an answer reaching the client: {len(submitted - acknowledged)}")
    if missing or incomplete:
        raise SystemExit("acknowledged reviews are missing from the store")


async def run_load(hub, tokens: dict, args, processes: Processes) -> tuple[set[str], int]:
    settings = json.loads(hub.settings_path.read_text())
    service = next(s for s in settings["services"] if s["name"] == "room")
    direct = f"{service['url']}{ROOM}"
    proxied = f"{hub.url}{ROOM}"
    print(f"  room at {direct} (direct), {proxied} (through the proxy)")
    deadline = time.monotonic() + args.cap
    acknowledged: set[str] = set()
    puts = 0
    plan = [("cold (token checked with the hub)", direct, None, 0.0),
            ("direct, all at once", direct, 0, 0.0),
            ("proxy, all at once", proxied, 1, 0.0)]
    for spread in args.spread:
        plan.append((f"paced, direct, starts spread over {spread:g} s", direct, 2, spread))
    warm = time.monotonic()
    for name, base, which, spread in plan:
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"  {name}: skipped, --cap reached")
            continue
        if which is not None and time.monotonic() - warm > 240:
            # The room caches a token's check for 300 s: check them all again, untimed.
            await phase("warm-up again", direct, tokens, None, 0.0, left, processes)
            print("  (warm-up again: every token checked with the hub, untimed)")
            warm = time.monotonic()
        result = await phase(name, base, tokens, which, spread, deadline - time.monotonic(), processes)
        report(result)
        acknowledged |= result["acknowledged"]
        puts += len(result["acknowledged"])
    return acknowledged, puts


def one_store(kind: str, args) -> None:
    print(f"\n== {kind}: {args.participants} participants, load average "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="igcb-bench-room-") as tmp, store_url(kind, Path(tmp), "igcb_bench_room") as url:
        cohort = load_cohort(url, Path(tmp), args.participants, args.tutors, args.seed)
        begin = time.monotonic()
        hub = start_room_hub(Path(tmp), url, cohort["participants"], cohort["tutors"], admin=ADMIN)
        try:
            print(f"  hub up in {time.monotonic() - begin:.1f} s")
            admin = api_token(hub.url, login(hub.url, ADMIN), ADMIN)
            begin = time.monotonic()
            tokens = asyncio.run(make_tokens(hub.url, admin, cohort["participants"]))
            print(f"  {len(tokens)} hub API tokens made through the REST API in "
                  f"{time.monotonic() - begin:.1f} s")
            acknowledged, puts = asyncio.run(run_load(hub, tokens, args, Processes(hub.process.pid)))
        finally:
            hub.stop()
        check_store(url, acknowledged, puts)
    print("  load average after: " + " ".join(f"{x:.1f}" for x in os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--tutors", type=int, default=40)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--spread", type=float, nargs="*", default=[60.0, 15.0],
                        help="seconds over which a paced phase's participants start, one phase each "
                             "(none: no paced phase)")
    parser.add_argument("--cap", type=float, default=1500.0,
                        help="hard limit in seconds on the load phases of each store")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GB")
    for kind in (("sqlite", "postgresql") if args.db == "both" else (args.db,)):
        one_store(kind, args)


if __name__ == "__main__":
    main()
