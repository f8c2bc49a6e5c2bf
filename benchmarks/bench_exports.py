"""Exports of a big round: time and memory of the answers CSV as it streams, against the raw
driver fetch of the same answers, for growing numbers of answers.

    .venv/bin/python benchmarks/bench_exports.py [--items 300] [--experts 500 1000 2000]

Each size is a fresh SQLite file (one round, every expert rating every item) and a fresh Python
process, so that its peak memory (the process's maximum resident set) is its own. The baseline
is ``cursor.fetchall()`` of the same rows in the same process, run after the export so that the
export's peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _peak_kb() -> int:
    """The process's peak resident memory (VmHWM): unlike ``ru_maxrss``, not inherited across the
    fork and exec from the parent that built the database."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(url: str, study_id: int) -> dict[str, float]:
    from sqlalchemy import text
    from sqlmodel import Session

    from app.db import make_engine
    from app.reports import exports
    from app.serialization import csv_chunks
    from app.studies.models import Study

    engine = make_engine(url)
    rss_start = _peak_kb()  # the process with the app imported
    with Session(engine) as session:
        study = session.get(Study, study_id)
        start = time.perf_counter()
        size = sum(len(c) for c in csv_chunks(exports.answer_rows(session, study), exports.ANSWER_COLUMNS))
        export = time.perf_counter() - start
    rss_export = _peak_kb()  # the export's own peak, measured first
    with engine.connect() as conn:
        start = time.perf_counter()
        rows = conn.execute(text("SELECT * FROM answer")).fetchall()
        fetch = time.perf_counter() - start
        del rows
    return {
        "fetch_s": fetch,
        "export_s": export,
        "bytes": size,
        "rss_start_mb": rss_start / 1024,
        "rss_export_mb": rss_export / 1024,
        "rss_fetch_mb": _peak_kb() / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--experts", type=int, nargs="+", default=[500, 1000, 2000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]))))
        return
    from bench_analysis import populate

    from app.db import make_engine
    from app.migrate import upgrade

    print(
        "| answers | raw fetch | CSV export (streamed) | ratio | CSV size | process before | peak, export "
        "| peak, raw fetch |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for experts in args.experts:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            upgrade(url)
            engine = make_engine(url)
            study_id, _ = populate(engine, experts, args.items)
            engine.dispose()
            out = subprocess.run(
                [sys.executable, __file__, "--child", url, str(study_id)], capture_output=True, text=True, check=True
            )
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"| {experts * args.items:,} | {m['fetch_s'] * 1000:.0f} ms | {m['export_s'] * 1000:.0f} ms | "
                f"{m['export_s'] / m['fetch_s']:.1f} x | {m['bytes'] / 1e6:.1f} MB | {m['rss_start_mb']:.0f} MB | "
                f"{m['rss_export_mb']:.0f} MB | {m['rss_fetch_mb']:.0f} MB |"
            )


if __name__ == "__main__":
    main()
