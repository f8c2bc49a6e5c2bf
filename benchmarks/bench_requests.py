"""The server's own cost of each request an expert makes, one request at a time, against the bare
endpoint of the same server (/livez: HTTP parsing and routing, no database) in the same run.

    .venv/bin/python benchmarks/bench_requests.py --database sqlite
    .venv/bin/python benchmarks/bench_requests.py --database postgres --compare /tmp/before

Each expert opens the link (the welcome page), consents, opens the answer page, saves 10 answers by
autosave and submits. The cost is the CPU time of the server process per request (from /proc),
which a noisy shared machine disturbs much less than wall-clock latency. With ``--compare DIR``
a second server runs the checkout in DIR (say, `git worktree add /tmp/before HEAD~1`) on its own
identical database, and the two are measured turn about, so both see the same machine.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import statistics
import sys
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import cpu_seconds, database, prepare, server  # noqa: E402

PHASES = ("bare", "welcome", "consent", "form", "save", "submit")
SAVES = 10
BARE_PER_EXPERT = 25  # enough requests for /proc's 10 ms CPU ticks to resolve the bare cost


class Measured:
    def __init__(self) -> None:
        self.cpu: dict[str, list[float]] = defaultdict(list)  # ms of server CPU a request, per batch
        self.latency: dict[str, list[float]] = defaultdict(list)  # ms, every request


def run_batch(base: str, pid: int, tokens: list[str], measured: Measured) -> None:
    """One batch of experts through every phase; each phase is timed as a whole on the server."""
    with httpx.Client(base_url=base, timeout=30) as client:
        csrf: dict[str, str] = {}
        items: dict[str, list[str]] = {}

        def phase(name: str, calls: list) -> None:  # type: ignore[type-arg]
            before = cpu_seconds(pid)
            for call in calls:
                started = time.perf_counter()
                response = call()
                measured.latency[name].append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    raise RuntimeError(f"{name}: {response.status_code} {response.text[:200]}")
            measured.cpu[name].append((cpu_seconds(pid) - before) * 1000 / len(calls))

        def welcome(token: str):  # type: ignore[no-untyped-def]
            page = client.get(f"/e/{token}")
            csrf[token] = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            return page

        def form(token: str):  # type: ignore[no-untyped-def]
            page = client.get(f"/e/{token}")
            items[token] = re.findall(r'data-item="(\d+)"', page.text)[:SAVES]
            return page

        def save(token: str, n: int):  # type: ignore[no-untyped-def]
            body = {"answers": {items[token][n % len(items[token])]: {"value": n % 9 + 1}}}
            return client.post(f"/e/{token}/answers", json=body, headers={"X-CSRF-Token": csrf[token]})

        def submit(token: str):  # type: ignore[no-untyped-def]
            data = {"csrf_token": csrf[token], **{f"v{i}": "5" for i in items[token]}}
            return client.post(f"/e/{token}/submit", data=data)

        phase("bare", [lambda: client.get("/livez") for _ in range(len(tokens) * BARE_PER_EXPERT)])
        phase("welcome", [lambda t=t: welcome(t) for t in tokens])
        phase(
            "consent",
            [lambda t=t: client.post(f"/e/{t}/consent", data={"csrf_token": csrf[t], "consent": "1"}) for t in tokens],
        )
        phase("form", [lambda t=t: form(t) for t in tokens])
        phase("save", [lambda t=t, n=n: save(t, n) for n in range(SAVES) for t in tokens])
        phase("submit", [lambda t=t: submit(t) for t in tokens])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--experts", type=int, default=100, help="experts per batch")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--compare", type=Path, help="another checkout, measured turn about with this one")
    args = parser.parse_args()
    checkouts: list[tuple[str, Path | None]] = [("this checkout", None)]
    if args.compare is not None:
        checkouts.append((str(args.compare), args.compare))
    with ExitStack() as stack:
        servers = []
        for label, code in checkouts:
            url = stack.enter_context(database(args.database))
            tokens = prepare(url, args.experts * args.batches, SAVES)
            base, pid = stack.enter_context(server(url, code=code))
            servers.append((label, base, pid, tokens, Measured()))
        gc.collect()
        gc.freeze()  # keep this client's collector from pausing it in the middle of a phase
        for batch in range(args.batches):
            for _label, base, pid, tokens, measured in servers:
                run_batch(base, pid, tokens[batch * args.experts : (batch + 1) * args.experts], measured)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; database {args.database}; "
        f"{args.batches} batches of {args.experts} experts, one request at a time; "
        "server CPU per request (median of the batches) and wall-clock latency (median)"
    )
    for label, _base, _pid, _tokens, measured in servers:
        bare = statistics.median(measured.cpu["bare"])
        print(f"  {label}")
        for name in PHASES:
            cpu = statistics.median(measured.cpu[name])
            print(
                f"    {name:8} CPU {cpu:6.2f} ms  ({cpu / bare:5.1f} x bare)   "
                f"latency {statistics.median(measured.latency[name]):6.2f} ms"
            )
    if len(servers) == 2:
        print(f"  this checkout / {servers[1][0]}, server CPU per request:")
        for name in PHASES:
            ours, theirs = (statistics.median(s[4].cpu[name]) for s in servers)
            print(f"    {name:8} {ours / theirs:5.2f}")


if __name__ == "__main__":
    main()
