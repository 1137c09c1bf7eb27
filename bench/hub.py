"""Load check of the course's JupyterHub: N participants log in and start servers at once.

Run from the repository root, in the project's venv:

    python bench/hub.py [--users 30]

Starts a real hub on 127.0.0.1 (shared mode, dummy authenticator: the spawner that needs no
root), then N threads each log in through the login form and start their server. Prints the
time until every server answered with JupyterLab, and the memory (RSS) of the hub process and
of all processes together. Everything is stopped at the end.
"""

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hub_helpers import login, start_server, start_test_hub  # noqa: E402


def rss_mb(process: psutil.Process) -> float:
    return process.memory_info().rss / 2**20


def total_rss_mb(process: psutil.Process) -> float:
    total = rss_mb(process)
    for child in process.children(recursive=True):
        try:
            total += rss_mb(child)
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=30)
    args = parser.parse_args()
    users = [f"p{i:02d}" for i in range(1, args.users + 1)]

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        hub = start_test_hub(Path(tmp), users, ["t01"])
        try:
            hub_process = psutil.Process(hub.process.pid)
            print(f"hub up in {time.monotonic() - started:.1f} s; "
                  f"hub RSS {rss_mb(hub_process):.0f} MB idle")

            def one(user: str) -> tuple[float, float]:
                begin = time.monotonic()
                session = login(hub.url, user)
                logged_in = time.monotonic() - begin
                start_server(hub.url, session, user, timeout=600)
                return logged_in, time.monotonic() - begin

            peak_hub = 0.0
            begin = time.monotonic()
            with ThreadPoolExecutor(len(users)) as pool:
                futures = [pool.submit(one, user) for user in users]
                while not all(f.done() for f in futures):
                    peak_hub = max(peak_hub, rss_mb(hub_process))
                    time.sleep(0.5)
                results = [f.result() for f in futures]
            elapsed = time.monotonic() - begin
            ready = sorted(r[1] for r in results)
            print(f"{len(users)} users logged in and started servers at once: all ready after "
                  f"{elapsed:.1f} s (per user: median {statistics.median(ready):.1f} s, "
                  f"slowest {ready[-1]:.1f} s; login median "
                  f"{statistics.median(r[0] for r in results):.2f} s)")
            print(f"hub RSS: peak {max(peak_hub, rss_mb(hub_process)):.0f} MB during the "
                  f"spawns, {rss_mb(hub_process):.0f} MB after")
            print(f"all processes (hub, proxy, formgrader, {len(users)} servers): "
                  f"{total_rss_mb(hub_process):.0f} MB RSS")
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
