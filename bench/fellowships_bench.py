"""Fellowship selection on 5,000 applications for 200 seats, with six kinds of target and a budget.

Run by hand from the repository root, in the project's venv:

    python bench/fellowships_bench.py            # --applications 5000 --seats 200 --seeds 3

For each seed it writes a synthetic, skewed call (applications.csv: stakeholder groups, regions,
genders and countries unevenly drawn, a third first-time applicants, costs from 500 to 6,000;
merit.csv: skewed merit with 90% intervals, as `igcb fellowships score` writes it) and targets
of six kinds (stakeholder group, region, gender, first-time applicants, LDC/LLDC/SIDS countries,
youth), then times, with the budget at 60% and at 90% of what the 200 best would cost:

- the selection alone, in process (`selection.select_fellows(..., target_costs=False)`), with
  its proof or its gap (time limit 30 s);
- the real command in a new process, as a committee would run it, which also prices each
  target (one more solve per target, sharing the time limit):

      igcb fellowships select applications.csv --merit merit.csv --seats 200 --budget B \\
           --targets targets.yml --year 2027 --time-limit 30 -o selection.csv

Writing the files is not timed. Data are generated, not real.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from course.commands.fellowships import country_groups  # noqa: E402
from peer_review import fellowship_review, selection  # noqa: E402

STAKEHOLDERS = (["civil_society", "government", "academia", "technical_community", "private_sector",
                 "intergovernmental"], [0.38, 0.2, 0.18, 0.12, 0.09, 0.03])
REGIONS = {  # region: (share of applications, countries, time zone)
    "Africa": (0.40, ["NG", "KE", "ET", "MW", "UG", "SN", "GH", "ZA", "RW", "ZM"], "Africa/Nairobi"),
    "Asia-Pacific": (0.25, ["IN", "BD", "NP", "PH", "FJ", "PK", "ID", "TV", "MN"], "Asia/Kolkata"),
    "Latin America and Caribbean": (0.15, ["BR", "MX", "HT", "BO", "JM", "CO", "PY"], "America/Sao_Paulo"),
    "Arab States": (0.08, ["EG", "JO", "TN", "YE", "SD", "LB"], "Africa/Cairo"),
    "Europe": (0.08, ["DE", "FR", "MD", "AM", "PL", "RS"], "Europe/Paris"),
    "North America": (0.04, ["US", "CA"], "America/New_York"),
}
TARGETS = """\
stakeholder_group:
  civil_society: {max_share: 0.35}
  private_sector: {min: 12}
  government: {min_share: 0.15}
region:
  Arab States: {min: 20}
  Europe: {max: 16}
  North America: {max: 8}
  Africa: {min_share: 0.3}
gender:
  female: {min_share: 0.5}
first_time: {min_share: 0.6}
priority_countries: {min_share: 0.35}
sids: {min: 10}
youth: {min_share: 0.3, age_limit: 30}
"""


def make_call(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    names = list(REGIONS)
    regions = rng.choice(names, size=n, p=[REGIONS[r][0] for r in names])
    rows = []
    for i, region in enumerate(regions):
        _, countries, zone = REGIONS[region]
        weights = np.linspace(2, 1, len(countries))
        rows.append({
            "id": f"app{i:05d}", "name": f"Applicant {i}", "email": f"app{i}@example.org",
            "stakeholder_group": rng.choice(STAKEHOLDERS[0], p=STAKEHOLDERS[1]), "region": region,
            "country": rng.choice(countries, p=weights / weights.sum()), "organisation": f"Organisation {rng.integers(0, 1500)}",
            "gender": rng.choice(["female", "male", "non_binary", "undisclosed"], p=[0.46, 0.46, 0.03, 0.05]),
            "languages": "en", "timezone": zone, "statement": "Illustrative application (synthetic data).",
            "prior_participation": str(rng.choice([0, 0, 1, 1, 2, 3])), "support_needed": "travel and accommodation",
            "cost": str(int(rng.integers(5, 61)) * 100), "birth_year": str(int(rng.integers(1965, 2007))),
        })
    apps = pd.DataFrame(rows)
    merit = (10 * rng.beta(2.5, 4.0, size=n)).round(3)  # skewed: most below the middle, a long top tail
    half = rng.uniform(0.3, 1.2, size=n).round(3)
    merits = pd.DataFrame({"id": apps["id"], "merit": merit, "low": np.clip(merit - half, 0, 10).round(3),
                           "high": np.clip(merit + half, 0, 10).round(3)})
    return apps, merits


def igcb() -> str:
    beside = Path(sys.executable).with_name("igcb")
    return str(beside) if beside.exists() else (shutil.which("igcb") or "igcb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=5000)
    parser.add_argument("--seats", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args()
    groups = country_groups(None)
    targets = selection.parse_targets(__import__("yaml").safe_load(TARGETS))
    print(f"{args.applications} applications, {args.seats} seats, {len(targets)} targets of six kinds "
          f"(stakeholder group, region, gender, first-time, LDC/LLDC/SIDS, youth); time limit {args.time_limit:g} s")
    print("seed  budget  in-process selection: merit, proof/gap, seconds | igcb command (with pricing): seconds, proof")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "targets.yml").write_text(TARGETS)
        for seed in range(1, args.seeds + 1):
            apps_raw, merit_raw = make_call(args.applications, seed)
            apps_csv, merit_csv = tmp / f"applications{seed}.csv", tmp / f"merit{seed}.csv"
            apps_raw.to_csv(apps_csv, index=False)
            merit_raw.to_csv(merit_csv, index=False)
            apps = fellowship_review.check_applications(apps_raw.astype(str))
            merit = selection.check_merit(merit_raw.astype(str), apps)
            best = apps.assign(m=merit["merit"]).nlargest(args.seats, "m")["cost"].sum()
            for share in (0.6, 0.9):
                budget = round(best * share, -2)
                start = time.perf_counter()
                result = selection.select_fellows(apps, merit, args.seats, budget, targets, groups, year=2027,
                                                  time_limit=args.time_limit, target_costs=False)
                seconds = time.perf_counter() - start
                proof = "proven optimal" if result.proven else f"gap {100 * result.gap:.3f}%"
                out = tmp / "selection.csv"
                command = [igcb(), "fellowships", "select", str(apps_csv), "--merit", str(merit_csv), "--seats",
                           str(args.seats), "--budget", f"{budget:g}", "--targets", str(tmp / "targets.yml"),
                           "--year", "2027", "--time-limit", f"{args.time_limit:g}", "-o", str(out)]
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True)
                wall = time.perf_counter() - start
                if done.returncode != 0:
                    raise SystemExit(f"igcb failed ({done.returncode}):\n{done.stderr}")
                told = next((l for l in done.stdout.splitlines() if l.startswith("total merit")), "")
                print(f"{seed:>4}  {budget:>7,.0f}  {result.total:9.3f}, {proof}, {seconds:5.2f} s "
                      f"(chose {result.filled}, spent {result.spent:,.0f}) | {wall:5.1f} s, "
                      f"{'proven' if 'optimal (proven)' in told else told}")
        print("\ncommand (last run):\n  " + " ".join(command))
        print("\nits summary (last run):")
        print("\n".join("  " + line for line in done.stdout.splitlines()))


if __name__ == "__main__":
    main()
