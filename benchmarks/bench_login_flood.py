"""An expert's autosave while anonymous clients flood the login with wrong passwords, against the same
autosave on a quiet server, in the same run.

    .venv/bin/python benchmarks/bench_login_flood.py --database sqlite
    .venv/bin/python benchmarks/bench_login_flood.py --database postgres --compare /tmp/before

The login throttle is turned off for the flood (its free failures set very high), so that every
wrong password costs the server a full Argon2 check, as a flood from many addresses would. The
figure is the ratio of the saves' p99 during the flood to their p99 when quiet (goal: <= 3). With
``--compare DIR`` a second server runs the checkout in DIR (say, `git worktree add /tmp/before
HEAD~1`) on its own identical database, measured right after this one.
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import database, prepare, server  # noqa: E402

UNTHROTTLED = {"login_free_failures_per_account": "1000000", "login_free_failures_per_client": "1000000"}


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def saves(base: str, token: str, count: int) -> list[float]:
    """``count`` autosaves of one expert, one after another; each one's latency in ms."""
    latencies = []
    with httpx.Client(base_url=base, timeout=60) as client:
        page = client.get(f"/e/{token}")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post(f"/e/{token}/consent", data={"csrf_token": csrf, "consent": "1"})
        item = re.findall(r'data-item="(\d+)"', client.get(f"/e/{token}").text)[0]
        for n in range(count):
            started = time.perf_counter()
            response = client.post(
                f"/e/{token}/answers",
                json={"answers": {item: {"value": n % 9 + 1}}},
                headers={"X-CSRF-Token": csrf},
            )
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"save: {response.status_code} {response.text[:200]}")
            time.sleep(0.02)
    return latencies


def flood(base: str, stop: threading.Event, counts: list[int], errors: list[str]) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        while not stop.is_set():
            response = client.post("/api/auth/login", json={"email": "rita@example.org", "password": "wrong-password"})
            counts.append(1)
            if response.status_code != 401:
                errors.append(f"{response.status_code} {response.text[:120]}")


def measure(base: str, token: str, clients: int, count: int) -> dict[str, float]:
    quiet = saves(base, token, count)
    stop, counts, errors = threading.Event(), [], []  # type: ignore[var-annotated]
    threads = [threading.Thread(target=flood, args=(base, stop, counts, errors)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the flood is under way
    started = time.perf_counter()
    flooded = saves(base, token, count)
    elapsed = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join()
    return {
        "quiet_p50": statistics.median(quiet),
        "quiet_p99": p99(quiet),
        "flood_p50": statistics.median(flooded),
        "flood_p99": p99(flooded),
        "logins_per_s": len(counts) / (elapsed + 1.0),
        "login_errors": float(len(errors)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--clients", type=int, default=16, help="wrong-password clients at once")
    parser.add_argument("--saves", type=int, default=200, help="saves measured, quiet and during the flood")
    parser.add_argument("--compare", type=Path, help="another checkout, measured after this one")
    args = parser.parse_args()
    cores = len(__import__("os").sched_getaffinity(0))
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    runs = [("this checkout", None)] + ([("compared", args.compare)] if args.compare else [])
    for label, code in runs:
        with ExitStack() as stack:
            url = stack.enter_context(database(args.database))
            token = prepare(url, experts=1, items=5)[0]
            base, _ = stack.enter_context(server(url, code=code, **UNTHROTTLED))
            figures = measure(base, token, args.clients, args.saves)
        print(
            f"{label:14} {args.database:10} save p99 quiet {figures['quiet_p99']:7.1f} ms, "
            f"during {args.clients} wrong-password clients {figures['flood_p99']:8.1f} ms "
            f"= {figures['flood_p99'] / figures['quiet_p99']:5.1f} x (goal <= 3); "
            f"p50 {figures['quiet_p50']:.1f} -> {figures['flood_p50']:.1f} ms; "
            f"{figures['logins_per_s']:.0f} logins/s, {figures['login_errors']:.0f} not 401"
        )


if __name__ == "__main__":
    main()
