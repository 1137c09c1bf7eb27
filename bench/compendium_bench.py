"""Time the compendium page's search and filters with 1,000 records in Chromium.

Run by hand, not in the test suite:  .venv/bin/python bench/compendium_bench.py [--records 1000]

Builds the mini course's book (`igcb book --strict`) in a temporary folder with N generated
records: illustrative, made-up programmes at example.org, varied on every filtered field
(tests/test_compendium_browser.py makes them). Opens compendium.html from the disk in Debian's
Chromium (headless, through Playwright) and changes the search and the filters one at a time,
as a person would: each change is timed from the event to the list updated and laid out
(`filter`), and to the next frame after it (`to frame`, which includes the wait for that
frame). The page lists the programmes found 50 at a time ("Show more" adds the next 50), so
a change lays out at most 50 programmes whatever the number of records; pressing "Show more"
is timed too. Prints the median and the maximum over the changes, with and without 4x CPU throttling
(Chrome DevTools' emulation of a slower machine).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The tests' helpers, in place of this folder (whose peer_review.py would hide the package).
sys.path[0] = str(Path(__file__).resolve().parent.parent / "tests")

from browser import chromium  # noqa: E402
from course import compendium  # noqa: E402
from course.layout import Layout  # noqa: E402
from course.modules import load_catalogue  # noqa: E402
from test_compendium_browser import build_mini_book, illustrative_records  # noqa: E402

# One change at a time, from the full list: each filter, a search typed letter by letter,
# combinations, back to the full list, and "Show more" (the next 50 programmes) pressed.
STEPS = [("type", "fellowship"), ("type", ""), ("topic", "cybersecurity"), ("region", "Africa"),
         ("language", "fr"), ("level", "advanced"), ("target", "youth"), ("cost", "free"),
         ("topic", ""), ("region", ""), ("language", ""), ("level", ""), ("target", ""),
         ("cost", ""), ("q", "s"), ("q", "sc"), ("q", "sch"), ("q", "scho"), ("q", "school"),
         ("q", "school travel"), ("q", ""), ("more", ""), ("more", ""), ("more", ""),
         ("region", "Europe"), ("language", "en"),
         ("type", "school"), ("q", "university"), ("q", ""), ("type", ""), ("language", ""),
         ("region", "")]

MEASURE = """async (steps) => {
  const form = document.getElementById('cmp-form');
  const list = document.getElementById('cmp-results');
  const out = [];
  for (const [key, value] of steps) {
    const field = form.elements[key];
    const start = performance.now();
    if (key === 'more') {
      document.getElementById('cmp-more').click();
    } else {
      field.value = value;
      field.dispatchEvent(new Event(key === 'q' ? 'input' : 'change', {bubbles: true}));
    }
    list.getBoundingClientRect();  // style and layout now, not later
    const filtered = performance.now();
    await new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
    out.push({step: key === 'more' ? 'Show more' : key + '=' + value,
              filter: filtered - start, frame: performance.now() - start,
              listed: list.children.length,
              found: document.getElementById('cmp-count').textContent});
  }
  return out;
}"""


def measure(browser, url: str, throttle: int) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    if throttle > 1:
        session = page.context.new_cdp_session(page)
        session.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("#cmp-results > li")
    loaded = time.perf_counter() - start
    runs = page.evaluate(MEASURE, STEPS)
    page.close()
    filters = [r["filter"] for r in runs]
    frames = [r["frame"] for r in runs]
    return {"loaded": loaded, "runs": runs,
            "filter": (statistics.median(filters), max(filters)),
            "frame": (statistics.median(frames), max(frames))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--verbose", action="store_true", help="print every step's times")
    args = parser.parse_args()
    catalogue, _ = load_catalogue(Layout.default().modules)
    topics = compendium.topic_vocabulary(catalogue)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        html = build_mini_book(Path(tmp), illustrative_records(args.records, topics, seed=1),
                               topics)
        built = time.perf_counter() - started
        page = html / "compendium.html"
        size = page.stat().st_size
        with chromium() as browser:
            results = {rate: measure(browser, page.as_uri(), rate) for rate in (1, 4)}
    print(f"{args.records} illustrative records, {len(topics)} topics; book built in "
          f"{built:.1f} s; compendium.html {size / 1e6:.2f} MB")
    print(f"{len(STEPS)} changes of the search or a filter, each timed in Chromium (ms):")
    for rate, result in results.items():
        label = "no throttling" if rate == 1 else f"CPU {rate}x slower"
        print(f"  {label:15}  page shown {result['loaded'] * 1000:6.0f}   "
              f"filter median {result['filter'][0]:5.1f}  max {result['filter'][1]:5.1f}   "
              f"to frame median {result['frame'][0]:5.1f}  max {result['frame'][1]:5.1f}")
        if args.verbose:
            for run in result["runs"]:
                print(f"      {run['step']:22} {run['found']:28} {run['listed']:4} listed  "
                      f"filter {run['filter']:6.1f}  to frame {run['frame']:6.1f}")


if __name__ == "__main__":
    main()
