"""Importing a large panel file over HTTP, and what it does to another study's expert saves meanwhile.

    .venv/bin/python benchmarks/bench_import.py --database sqlite --rows 20000
    .venv/bin/python benchmarks/bench_import.py --database postgres --rows 4000 --compare /tmp/before

A researcher uploads a CSV of ``--rows`` experts (name, email, group, two profile columns) to one
study while an expert of another study saves an answer every 20 ms. Printed: the import's time, and
the saves' p99 before and during the import (goals: 20,000 rows in <= 10 s; saves p99 < 250 ms).
With ``--compare DIR`` the same runs on the checkout in DIR (say, `git worktree add /tmp/before
HEAD~1`), one after the other.
"""

from __future__ import annotations

import argparse
import os
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

from served import SECRET, database, server  # noqa: E402

from app.config import load_settings  # noqa: E402
from app.db import make_engine, session_scope  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.panel import service as panel  # noqa: E402
from tests.factories import PASSWORD, add_member, make_panel_study, make_researcher, make_study  # noqa: E402
from tests.rounds.helpers import invited, open_round  # noqa: E402


def prepare(url: str) -> tuple[int, str]:
    """An empty study owned by rita@example.org, and another study with an open round; returns the
    first study's id and an expert link of the second."""
    upgrade(url)
    engine = make_engine(url)
    settings = load_settings(database_url=url, secret_key=SECRET, base_url="http://127.0.0.1")
    with session_scope(engine) as session:
        owner = make_researcher(session)
        target = make_study(session, title="Import target")
        add_member(session, target, owner, "owner")
        other = make_panel_study(session, experts=1, items=5, language="en", title="Another study")
        round_ = open_round(session, other, settings)
        token = panel.current_link(session, invited(session, round_)[0], SECRET)
        target_id = target.id
    engine.dispose()
    return target_id, token


def panel_csv(rows: int) -> bytes:
    lines = ["name,email,group,self_rating,years"]
    lines += [f"Expert {n},expert{n}@example.org,,{1 + n % 5},{n % 40}" for n in range(rows)]
    return "\n".join(lines).encode()


def saves_until(base: str, token: str, stop: threading.Event, out: list[tuple[float, float, int]]) -> None:
    """Autosaves of one expert until ``stop``: (start time, latency ms, status) each."""
    with httpx.Client(base_url=base, timeout=120) as client:
        page = client.get(f"/e/{token}")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        client.post(f"/e/{token}/consent", data={"csrf_token": csrf, "consent": "1"})
        item = re.findall(r'data-item="(\d+)"', client.get(f"/e/{token}").text)[0]
        n = 0
        while not stop.is_set():
            started = time.perf_counter()
            response = client.post(
                f"/e/{token}/answers", json={"answers": {item: {"value": n % 9 + 1}}}, headers={"X-CSRF-Token": csrf}
            )
            out.append((started, (time.perf_counter() - started) * 1000, response.status_code))
            n += 1
            time.sleep(0.02)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else float("nan")


def run(url: str, rows: int, code: Path | None) -> dict[str, float]:
    study_id, token = prepare(url)
    content = panel_csv(rows)
    with server(url, code=code) as (base, _):
        stop, saved = threading.Event(), []  # type: ignore[var-annotated]
        saver = threading.Thread(target=saves_until, args=(base, token, stop, saved))
        saver.start()
        time.sleep(3)  # quiet saves first
        with httpx.Client(base_url=base, timeout=600) as client:
            login = client.post("/api/auth/login", json={"email": "rita@example.org", "password": PASSWORD})
            csrf = login.json()["csrf_token"]
            started = time.perf_counter()
            response = client.post(
                f"/api/studies/{study_id}/experts/import",
                files={"file": ("panel.csv", content, "text/csv")},
                headers={"X-CSRF-Token": csrf},
            )
            ended = time.perf_counter()
        time.sleep(1)
        stop.set()
        saver.join()
    if response.status_code != 201:
        raise RuntimeError(f"import: {response.status_code} {response.text[:300]}")
    quiet = [ms for t, ms, _ in saved if t < started]
    during = [ms for t, ms, _ in saved if started <= t < ended]
    return {
        "seconds": ended - started,
        "quiet_p99": p99(quiet),
        "during_p99": p99(during),
        "during_max": max(during, default=float("nan")),
        "during_n": float(len(during)),
        "errors": float(sum(1 for *_, status in saved if status != 200)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--compare", type=Path, help="another checkout, measured after this one")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}")
    for label, code in [("this checkout", None)] + ([("compared", args.compare)] if args.compare else []):
        with ExitStack() as stack:
            url = stack.enter_context(database(args.database))
            figures = run(url, args.rows, code)
        print(
            f"{label:14} {args.database:10} {args.rows} rows imported in {figures['seconds']:6.2f} s (goal <= 10 s "
            f"for 20,000); other study's saves p99 {figures['quiet_p99']:.0f} ms quiet, "
            f"{figures['during_p99']:.0f} ms during the import (max {figures['during_max']:.0f} ms, "
            f"{figures['during_n']:.0f} saves; goal < 250 ms), {figures['errors']:.0f} errors"
        )


if __name__ == "__main__":
    main()
