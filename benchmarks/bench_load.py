"""Load: N concurrent simulated experts (open the link, consent, save each answer by autosave,
submit) against `delphi serve` on loopback, with 1 or 2 worker processes, on SQLite or PostgreSQL;
a bare endpoint of the same app (/livez) is measured in the same run as the baseline. Afterwards,
every save acknowledged with a 2xx is checked in the database.

    .venv/bin/python benchmarks/bench_load.py --experts 100 --items 10 --workers 1 --database sqlite
    .venv/bin/python benchmarks/bench_load.py --experts 500 --workers 2 --database postgres

Client and server share this machine's cores; the figures are for the pair.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import random
import re
import ssl
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import DEFAULT_POSTGRES, cpu_seconds, database, machine_cpu, prepare, server  # noqa: E402

from app.db import make_engine  # noqa: E402
from app.rounds.models import Answer  # noqa: E402

SLOW = 0.25  # the goal for a save's p99, in seconds
THINK = 1.0  # mean seconds an expert spends on a statement before the next save (set by --think)
RAMP = 10.0  # seconds over which the experts arrive (set by --ramp)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Recorder:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.error_kinds: dict[str, int] = defaultdict(int)  # "save 500", "open ReadTimeout", ...
        self.acknowledged: dict[tuple[str, int], int] = {}
        self.in_session = 0  # experts between their first request and their submit
        self.peak_in_session = 0
        self.server_cpu = 0.0  # CPU seconds the server used while the experts answered
        self.client_cpu = 0.0  # and this client
        self.machine_busy = 0.0  # share of all the machine's cores busy meanwhile (the database's too)
        self.started: dict[str, list[float]] = defaultdict(list)  # when each request left, by kind
        self.loop_lag: list[float] = []  # how late this client's event loop woke up, every 10 ms

    async def timed(self, kind: str, call):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            response = await call
        except httpx.HTTPError as exc:
            self.errors[kind] += 1
            self.error_kinds[f"{kind} {type(exc).__name__}"] += 1
            return None
        self.latency[kind].append(time.perf_counter() - started)
        self.started[kind].append(started)
        if response.status_code >= 400:
            self.errors[kind] += 1
            self.error_kinds[f"{kind} {response.status_code}"] += 1
        return response


async def watch_loop(recorder: Recorder, stop: asyncio.Event) -> None:
    """This client's own delays: a latency that is really the client being late shows here."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        recorder.loop_lag.append(time.perf_counter() - before - 0.01)


def browser(base: str, tls: ssl.SSLContext) -> httpx.AsyncClient:
    """One expert's own connection, as a browser has. (One pool shared by hundreds of simulated
    experts costs the client O(connections) of Python per request and makes it the bottleneck.)

    Idle connections are dropped after 60 s, before the server's keep-alive (75 s) closes them: a
    request sent on a connection the server is closing fails, and a browser would retry it; httpx
    does not.
    """
    limits = httpx.Limits(max_connections=2, keepalive_expiry=60)
    return httpx.AsyncClient(base_url=base, timeout=120, verify=tls, follow_redirects=False, limits=limits)


async def expert(
    base: str, tls: ssl.SSLContext, token: str, items: int, recorder: Recorder, rng: random.Random
) -> None:
    await asyncio.sleep(rng.uniform(0, RAMP))  # experts arrive over the ramp, not all in one instant
    recorder.in_session += 1
    recorder.peak_in_session = max(recorder.peak_in_session, recorder.in_session)
    try:
        async with browser(base, tls) as client:
            await answer_round(client, token, items, recorder, rng)
    finally:
        recorder.in_session -= 1


async def answer_round(
    client: httpx.AsyncClient, token: str, items: int, recorder: Recorder, rng: random.Random
) -> None:
    url = f"/e/{token}"
    page = await recorder.timed("open", client.get(url))
    if page is None:
        return
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if not found:
        recorder.errors["open"] += 1
        return
    csrf = found.group(1)
    await recorder.timed("consent", client.post(f"{url}/consent", data={"csrf_token": csrf, "consent": "1"}))
    form = await recorder.timed("open", client.get(url))
    item_ids = [int(i) for i in re.findall(r'data-item="(\d+)"', form.text)] if form is not None else []
    for item_id in item_ids[:items]:
        value = rng.randint(1, 9)
        response = await recorder.timed(
            "save",
            client.post(
                f"{url}/answers", json={"answers": {str(item_id): {"value": value}}}, headers={"X-CSRF-Token": csrf}
            ),
        )
        if response is not None and response.status_code < 300:
            recorder.acknowledged[(token, item_id)] = value
        await asyncio.sleep(rng.uniform(0, 2 * THINK))
    data = {"csrf_token": csrf, **{f"v{i}": str(recorder.acknowledged.get((token, i), 5)) for i in item_ids[:items]}}
    response = await recorder.timed("submit", client.post(f"{url}/submit", data=data))
    if response is not None and response.status_code < 400:
        for i in item_ids[:items]:
            recorder.acknowledged[(token, i)] = int(data[f"v{i}"])


async def bare_expert(base: str, tls: ssl.SSLContext, items: int, recorder: Recorder, rng: random.Random) -> None:
    """The same arrivals, pacing and number of requests as an expert, on an endpoint doing nothing."""
    await asyncio.sleep(rng.uniform(0, RAMP))
    async with browser(base, tls) as client:
        for step in range(items + 4):
            await recorder.timed("bare", client.get("/livez"))
            if 2 < step < items + 3:
                await asyncio.sleep(rng.uniform(0, 2 * THINK))


async def drive(base: str, tokens: list[str], items: int, server_pid: int) -> tuple[Recorder, float, dict[str, float]]:
    recorder = Recorder()
    tls = ssl.create_default_context()  # unused on http://, but httpx builds one per client otherwise
    bare = Recorder()
    bare_started = time.perf_counter()
    await asyncio.gather(*(bare_expert(base, tls, items, bare, random.Random(k)) for k in range(len(tokens))))
    bare_elapsed = time.perf_counter() - bare_started
    started, server_cpu, client_cpu = time.perf_counter(), cpu_seconds(server_pid), time.process_time()
    machine_busy, machine_total = machine_cpu()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_loop(recorder, stop))
    await asyncio.gather(*(expert(base, tls, t, items, recorder, random.Random(k)) for k, t in enumerate(tokens)))
    elapsed = time.perf_counter() - started
    stop.set()
    await watcher
    recorder.server_cpu = cpu_seconds(server_pid) - server_cpu
    recorder.client_cpu = time.process_time() - client_cpu
    busy, total = machine_cpu()
    recorder.machine_busy = (busy - machine_busy) / (total - machine_total)
    base_line = {
        "median": statistics.median(bare.latency["bare"]),
        "p99": percentile(bare.latency["bare"], 0.99),
        "throughput": len(bare.latency["bare"]) / bare_elapsed,
        "errors": bare.errors["bare"],
    }
    return recorder, elapsed, base_line


def lost_answers(url: str, recorder: Recorder, tokens: list[str]) -> int:
    from app.security import hash_token

    engine = make_engine(url)
    lost = 0
    with Session(engine) as session:
        from app.panel.models import Expert

        ids = {hash_token(t): t for t in tokens}
        experts = {e.id: ids[e.link_token_hash] for e in session.exec(select(Expert)).all() if e.link_token_hash in ids}
        stored = {
            (experts[a.expert_id], a.item_id): a.value
            for a in session.exec(select(Answer)).all()
            if a.expert_id in experts
        }
    engine.dispose()
    for key, value in recorder.acknowledged.items():
        if stored.get(key) != value:
            lost += 1
    return lost


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=100)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between an expert's saves")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the experts arrive")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument(
        "--code", type=Path, help="serve another checkout (say `git worktree add /tmp/before HEAD~1`) with this client"
    )
    args = parser.parse_args()
    global THINK, RAMP
    THINK, RAMP = args.think, args.ramp
    with database(args.database, args.postgres) as url:
        tokens = prepare(url, args.experts, args.items)
        # This client's garbage collections would stop its event loop (for 100-400 ms over the
        # objects of the app it imported to prepare the study, up to 150 ms over its own) and show
        # up as server latency; a run allocates a bounded amount, so the collector waits until after.
        gc.collect()
        gc.disable()
        with server(url, workers=args.workers, code=args.code) as (base, pid):
            recorder, elapsed, bare = asyncio.run(drive(base, tokens, args.items, pid))
        gc.enable()
        lost = lost_answers(url, recorder, tokens)
        report(args, recorder, elapsed, bare, lost)


def report(args: argparse.Namespace, recorder: Recorder, elapsed: float, bare: dict[str, float], lost: int) -> None:
    saves = recorder.latency["save"]
    requests = sum(len(v) for v in recorder.latency.values())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; database {args.database}, "
        f"{args.workers} worker(s), {args.experts} concurrent experts x {args.items} saves, "
        f"think time {args.think:g} s, arrivals over {args.ramp:g} s" + (f"; serving {args.code}" if args.code else "")
    )
    for kind in ("open", "consent", "save", "submit"):
        values = recorder.latency[kind]
        print(
            f"  {kind:8} n={len(values):6}  median {statistics.median(values) * 1000:7.1f} ms  "
            f"p99 {percentile(values, 0.99) * 1000:7.1f} ms  errors {recorder.errors[kind]}"
        )
    slow = [t for t, latency in zip(recorder.started["save"], saves, strict=True) if latency > SLOW]
    first = min(recorder.started["open"], default=0.0)
    print(
        f"  saves slower than {SLOW * 1000:.0f} ms: {len(slow)}, sent within "
        f"{len({int(t - first) for t in slow})} distinct seconds of the run "
        f"({', '.join(f'{t - first:.0f} s' for t in sorted(slow)[:: max(1, len(slow) // 8)])}); "
        f"this client's event loop late by {percentile(recorder.loop_lag, 0.99) * 1000:.1f} ms at p99, "
        f"{max(recorder.loop_lag, default=0) * 1000:.0f} ms at most"
    )
    print(
        f"  all requests: {requests} in {elapsed:.1f} s = {requests / elapsed:.0f} req/s; "
        f"saves {len(saves) / elapsed:.0f}/s; at most {recorder.peak_in_session} experts in session at once"
    )
    print(
        f"  CPU while the experts answered: server {recorder.server_cpu:.1f} s "
        f"({recorder.server_cpu / requests * 1000:.1f} ms a request, "
        f"{recorder.server_cpu / elapsed:.0%} of a core), "
        f"client {recorder.client_cpu:.1f} s ({recorder.client_cpu / elapsed:.0%} of a core); "
        f"the machine's {os.cpu_count()} cores {recorder.machine_busy:.0%} busy"
    )
    print(
        f"  bare /livez, same arrivals and pacing: median {bare['median'] * 1000:.1f} ms, "
        f"p99 {bare['p99'] * 1000:.1f} ms, {bare['throughput']:.0f} req/s, errors {bare['errors']}"
    )
    print(
        f"  save p99 / bare p99 = {percentile(saves, 0.99) / bare['p99']:.1f}; "
        f"save median / bare median = {statistics.median(saves) / bare['median']:.1f}"
    )
    print(
        f"  acknowledged saves: {len(recorder.acknowledged)}; lost: {lost}; errors: {sum(recorder.errors.values())}"
        + "".join(f"; {kind}: {count}" for kind, count in sorted(recorder.error_kinds.items()))
    )


if __name__ == "__main__":
    main()
