"""A reading with 2,000 annotations: the room's annotations endpoint and the page in Chromium.

Run from the repository root, in the project's venv:

    python bench/annotations.py                # --annotations 2000 --replies 500 --db both --runs 5

It builds a book with the real `igcb book` (the test suite's one-module course, whose reading
gets --paragraphs paragraphs of varied text), loads a cohort of --participants people with the
real commands (`igcb cohort init/groups/tutors`, study groups of six), and stores
--annotations comments on passages of the reading (3-9 words each, as the browser library
writes them: quote with prefix and suffix, offsets), by random participants and tutors, 70%
for their study group and 30% for the whole cohort, plus --replies replies, through
course/cohort/annotations.py. Then it starts a real JupyterHub whose room serves that book and
measures, per store (a SQLite file; a PostgreSQL database of its own on 127.0.0.1:5432):

  endpoint   GET book-annotations?page=... through the hub's proxy, as the page script asks it
             (cookie and X-XSRFToken, gzip), timed until the whole answer is read: the first
             call after the room started (it re-anchors the page's 2,000 annotations against
             the built page, once per build), then --calls more; for the coordinator (who sees
             every annotation) and for a participant (their group's and the cohort's)
  in-process the same listing as a store function plus its JSON encoding, without HTTP
  page       Chromium opens the reading: milliseconds from navigation start until the page
             script has the annotations, has re-anchored them and handed them to the library,
             and the library has drawn the highlights in view (data-igcb-ready-ms); --runs
             times each in one browser context: the first run with an empty cache, the others
             with the book's stylesheets and scripts cached (as a reader moving between pages)
Every request goes to 127.0.0.1; the loops are bounded by --calls and --runs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent
# bench/peer_review.py would hide the peer_review package: import the course's modules first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
from course.cohort import annotations  # noqa: E402
from course.room.book import page_text  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
from annotation_helpers import READING, build_book, mini_course  # noqa: E402
from browser import DESKTOP, chromium, log_in  # noqa: E402
from pg_helpers import store_url  # noqa: E402
from room import LANGUAGES, make_people, write_csv  # noqa: E402
from room_helpers import ROOM, room_login, start_room_hub  # noqa: E402

ADMIN = "coord"
WORDS = ("multistakeholder governance registry allocation policy operators regulator ccTLD "
         "manager consultation community openness transparency accountability address space "
         "IPv6 transition exchange point routing security resilience broadband access rural "
         "connectivity universal service fund data protection cross-border flows privacy "
         "encryption standards interoperability capacity development civil society academia "
         "government private sector intergovernmental forum dialogue consensus deliberation "
         "mandate review process roadmap evidence indicators measurement human rights "
         "freedom expression content moderation platform liability cybersecurity norms "
         "confidence building incident response trust infrastructure investment spectrum "
         "licensing competition affordability inclusion gender digital literacy language").split()


def paragraphs(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        words = [rng.choice(WORDS) for _ in range(rng.randint(45, 75))]
        words[0] = words[0].capitalize()
        out.append(f"Paragraph {i}: " + " ".join(words) + ".")
    return out


def write_long_reading(course: Path, n: int, seed: int) -> None:
    import nbformat

    path = course / "modules" / "01-sample" / "reading.ipynb"
    notebook = nbformat.read(path, as_version=4)
    text = "# Sample reading\n\n" + "\n\n".join(
        (f"## Part {i // 10 + 1}\n\n" if i % 10 == 0 else "") + p
        for i, p in enumerate(paragraphs(n, seed)))
    notebook.cells = [nbformat.v4.new_markdown_cell(text), nbformat.v4.new_code_cell("print(1 + 1)")]
    nbformat.write(notebook, path)


def load_cohort(db_url: str, folder: Path, participants: int, tutors: int, seed: int) -> None:
    from click.testing import CliRunner

    from course.cli import main

    people = make_people(participants, "u", 4, seed, LANGUAGES)
    staff = make_people(tutors, "t", 3, seed + 1, {"en;fr": 0.6, "en;es": 0.25, "en": 0.15})
    for tutor in staff:
        tutor["capacity"] = 6
    write_csv(folder / "roster.csv", people)
    write_csv(folder / "tutors.csv", staff)
    runner = CliRunner()
    for args in (["cohort", "init", "--plan", "online-course", "--roster", str(folder / "roster.csv"),
                  "--tutors", str(folder / "tutors.csv")],
                 ["cohort", "groups", "--size", "6"], ["cohort", "tutors"]):
        result = runner.invoke(main, [*args, "--db", db_url], env={"IGCB_HUB_ADMIN": ADMIN},
                               catch_exceptions=False)
        if result.exit_code != 0:
            raise SystemExit(f"igcb {' '.join(args[:2])} failed:\n{result.output}")


def annotate(db_url: str, page_text: str, count: int, replies: int, seed: int) -> dict:
    """Store `count` comments on random passages of the page and `replies` replies."""
    from sqlalchemy import select

    from course.cohort.db import open_store
    from course.cohort.models import Membership, TutorAssignment

    rng = random.Random(seed)
    store = open_store(db_url)
    # words of the reading's paragraphs (not its title, code cell or the theme's scripts)
    first_paragraph, code = page_text.index("Paragraph 1:"), page_text.index("print(1")
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", page_text)
             if first_paragraph <= m.start() and m.end() < code]
    begin = time.perf_counter()
    with store.session() as s:
        members = list(s.execute(select(Membership.person_id, Membership.group_label)).all())
        tutoring = list(s.execute(select(TutorAssignment.tutor_id, TutorAssignment.group_label)).all())
        roots = []
        for _ in range(count):
            first = rng.randrange(0, len(spans) - 9)
            start, end = spans[first][0], spans[first + rng.randint(2, 8)][1]
            exact = page_text[start:end]
            target = [{"source": "bench", "selector": [
                {"type": "TextQuoteSelector", "exact": exact, "prefix": page_text[max(0, start - 10):start],
                 "suffix": page_text[end:end + 10]},
                {"type": "TextPositionSelector", "start": start, "end": end}]}]
            audience = "group" if rng.random() < 0.7 else "cohort"
            if rng.random() < 0.9:
                author, group = rng.choice(members)
                group = None
            else:
                author, group = rng.choice(tutoring)
            data = {"id": str(uuid.uuid4()), "page": READING, "target": target, "audience": audience,
                    "group": group, "body": " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60)))}
            roots.append(annotations.create(s, author, data, page_text=page_text))
        orphaned = sum(r["orphaned"] for r in roots)
        for _ in range(replies):
            root = rng.choice(roots)
            author = rng.choice([p for p, g in members if root["audience"] == "cohort" or g == root["group"]])
            annotations.reply(s, author, root["id"], " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))))
    seconds = time.perf_counter() - begin
    store.close()
    print(f"  stored {count:,} comments ({sum(r['audience'] == 'cohort' for r in roots):,} for the "
          f"cohort, {orphaned} not found on the page) and {replies:,} replies in {seconds:.1f} s")
    group_of = dict(members)
    participant = max(group_of, key=lambda p: sum(r["audience"] == "cohort" or r["group"] == group_of[p]
                                                  for r in roots))
    seen = sum(r["audience"] == "cohort" or r["group"] == group_of[participant] for r in roots)
    return {"participant": participant, "participant_sees": seen}


def in_process(db_url: str, who: str, calls: int) -> list[float]:
    from course.cohort.db import open_store

    store = open_store(db_url)
    times = []
    for _ in range(calls):
        begin = time.perf_counter()
        with store.session() as s:
            json.dumps(annotations.page_annotations(s, who, READING), separators=(",", ":"))
        times.append((time.perf_counter() - begin) * 1000)
    store.close()
    return times


def endpoint(hub_url: str, who: str, calls: int) -> tuple[float, list[float], int, int]:
    """(first call ms, later calls ms, roots in the answer, bytes on the wire)."""
    session = room_login(hub_url, who)
    session.get(f"{hub_url}{ROOM}book/{READING}", timeout=60).raise_for_status()
    token = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path == ROOM)
    headers = {"X-XSRFToken": token, "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin",
               "Accept-Encoding": "gzip"}
    url = f"{hub_url}{ROOM}book-annotations?page={READING}"
    times, size, roots = [], 0, 0
    for _ in range(calls + 1):
        begin = time.perf_counter()
        answer = session.get(url, headers=headers, timeout=120, stream=True)
        raw = answer.raw.read(decode_content=False)
        times.append((time.perf_counter() - begin) * 1000)
        answer.raise_for_status()
        size = len(raw)
    data = session.get(url, headers=headers, timeout=120).json()
    roots = len(data["annotations"]) + len(data["orphaned"])
    return times[0], times[1:], roots, size


def page_load(browser, hub_url: str, who: str, runs: int) -> list[dict]:
    page = log_in(browser, hub_url, who, viewport=DESKTOP)
    out = []
    for run in range(runs):
        page.goto(f"{hub_url}{ROOM}book/{READING}")
        page.wait_for_selector("html[data-igcb-annotations=ready]", state="attached", timeout=60_000)
        marks = page.evaluate("""() => {
          const d = document.documentElement.dataset;
          const nav = performance.getEntriesByType('navigation')[0];
          return {ready: +d.igcbReadyMs, loaded: +d.igcbLoadedMs, handed: +d.igcbHandedMs,
                  anchored: +d.igcbAnchored,
                  drawn: +d.igcbHighlights, dom: Math.round(nav.domContentLoadedEventEnd),
                  listed: document.querySelectorAll('.igcb-item').length};
        }""")
        out.append(marks)
    page.context.close()
    return out


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms"


def one_store(kind: str, args, html: Path, page_text: str, folder: Path) -> None:
    print(f"\n== {kind} ==")
    with store_url(kind, folder, "igcb_bench_annotations") as db_url:
        load_cohort(db_url, folder, args.participants, args.tutors, args.seed)
        cast = annotate(db_url, page_text, args.annotations, args.replies, args.seed)
        from sqlalchemy import select

        from course.cohort.db import open_store
        from course.cohort.models import Membership, TutorAssignment

        store = open_store(db_url)
        with store.session() as s:
            people = list(s.scalars(select(Membership.person_id)))
            tutors = sorted(set(s.scalars(select(TutorAssignment.tutor_id))))
        store.close()
        for who in (ADMIN, cast["participant"]):
            print(f"  in-process listing for {who}: {summary(in_process(db_url, who, args.calls))}")
        hub = start_room_hub(folder / "hub", db_url, people, tutors, admin=ADMIN,
                             room_args=("--book", str(html)))
        try:
            for who in (ADMIN, cast["participant"]):
                first, later, roots, size = endpoint(hub.url, who, args.calls)
                print(f"  endpoint for {who} ({roots:,} comments with their replies, {size / 1024:.0f} KiB "
                      f"gzipped): first call {first:.0f} ms (re-anchors the page once per build), "
                      f"then {summary(later)} over {args.calls} calls")
            with chromium() as browser:
                for who in (ADMIN, cast["participant"]):
                    runs = page_load(browser, hub.url, who, args.runs)
                    print(f"  page in Chromium for {who}: ready {summary([r['ready'] for r in runs])} "
                          f"from navigation start (first visit {runs[0]['ready']} ms); comments "
                          f"arrived at {summary([r['loaded'] for r in runs])}, were re-anchored, "
                          f"handed to the library and listed at {summary([r['handed'] for r in runs])}; "
                          f"DOMContentLoaded "
                          f"{summary([r['dom'] for r in runs])}; {runs[-1]['anchored']:,} handed "
                          f"to the library, {runs[-1]['listed']:,} listed, {runs[-1]['drawn']} "
                          f"highlighted in view")
        finally:
            hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotations", type=int, default=2000)
    parser.add_argument("--replies", type=int, default=500)
    parser.add_argument("--paragraphs", type=int, default=150)
    parser.add_argument("--participants", type=int, default=120)
    parser.add_argument("--tutors", type=int, default=10)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="igcb-bench-annotations-") as tmp:
        folder = Path(tmp)
        course = mini_course(folder)
        write_long_reading(course, args.paragraphs, args.seed)
        begin = time.monotonic()
        html = build_book(course, folder / "out")
        text = page_text((html / READING).read_text(encoding="utf-8"))
        print(f"book built in {time.monotonic() - begin:.0f} s; the reading has {args.paragraphs} "
              f"paragraphs, {len(text.split()):,} words, {(html / READING).stat().st_size / 1024:.0f} KiB of HTML")
        for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
            (folder / kind).mkdir()
            one_store(kind, args, html, text, folder / kind)


if __name__ == "__main__":
    main()
