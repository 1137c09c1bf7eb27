"""The cohort report for 10 cohorts of 1,000 participants each, with its PDF, timed.

Run by hand from the repository root, in the project's venv:

    python bench/report_bench.py                # --cohorts 10 --participants 1000 --db sqlite|postgresql

It writes --cohorts stores with tests/evaluation_fixtures.py's `make_cohort` (skewed
stakeholder groups and regions, 15% of those with a second language speak no English, study
groups of six with tutors and a rota, discussions, one peer-review round of three reviews
each, the knowledge test before and after, self-assessment, end-of-course and follow-up
surveys dated over three years, the alumni register, grades), each a SQLite file or a
PostgreSQL database of its own on 127.0.0.1:5432 (dropped afterwards). Then it runs the real
command in a new process, as a coordinator would:

    igcb report --cohorts STORE... -o OUT

and times it from start to exit (wall clock), with the time each progress line appeared, the
process's peak memory, and what it wrote. Writing the stores is not timed.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from evaluation_fixtures import make_cohort  # noqa: E402
from pg_helpers import store_url  # noqa: E402


def igcb() -> str:
    beside = Path(sys.executable).with_name("igcb")
    return str(beside) if beside.exists() else (shutil.which("igcb") or "igcb")


def run_report(stores: list[str], out: Path, pdf: bool) -> dict:
    """Run `igcb report` in a new process; its wall time, progress lines and peak memory."""
    command = [igcb(), "report", "--cohorts", *stores, "-o", str(out)] + ([] if pdf else ["--no-pdf"])
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append((time.perf_counter() - start, line.rstrip()))
    output = process.stdout.read()
    code = process.wait()
    seconds = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"igcb report failed ({code}):\n" + "\n".join(l for _, l in lines))
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # MB (Linux: KiB)
    return {"seconds": seconds, "lines": lines, "output": output.strip(), "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=10)
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--no-pdf", action="store_true")
    parser.add_argument("--keep", type=Path, help="Copy the report to this folder.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="igcb-report-bench-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        stores = []
        began = time.perf_counter()
        for i in range(args.cohorts):
            url = stack.enter_context(store_url(args.db, folder / f"cohort-{i + 1:02d}", f"igcb_bench_report_{i}"))
            # follow-up answers dated over three years: outcomes across cohorts and years
            make_cohort(url, n=args.participants, seed=100 + i, followup_year=2027 + i % 3,
                        prefix=f"c{i + 1:02d}-")
            stores.append(url)
            print(f"wrote cohort {i + 1}/{args.cohorts} ({args.participants} participants) "
                  f"in {time.perf_counter() - began:.1f} s", flush=True)
        out = folder / "report"
        result = run_report(stores, out, pdf=not args.no_pdf)
        print(f"\nigcb report --cohorts <{args.cohorts} {args.db} stores> -o OUT"
              + (" --no-pdf" if args.no_pdf else ""))
        for at, line in result["lines"]:
            print(f"  {at:6.1f} s  {line}")
        print(f"  {result['output']}")
        plots = len(list((out / "plots").glob("*.png")))
        csvs = len(list((out / "data").glob("*.csv")))
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
        pdf = out / "report.pdf"
        pages = ""
        if pdf.exists():
            from pypdf import PdfReader

            reader = PdfReader(pdf)
            pages = (f", PDF {len(reader.pages)} pages with "
                     f"{sum(len(p.images) for p in reader.pages)} images ({pdf.stat().st_size / 1e6:.1f} MB)")
        print(f"\nwall time {result['seconds']:.1f} s, peak memory {result['peak_mb']:.0f} MB; "
              f"{plots} plots, {csvs} CSV files, {size:.1f} MB in all{pages}")
        if args.keep:
            shutil.copytree(out, args.keep, dirs_exist_ok=False)
            print(f"copied the report to {args.keep}")


if __name__ == "__main__":
    main()
