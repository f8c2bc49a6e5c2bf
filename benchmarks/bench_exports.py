"""Exports of a big study with every kind of item: time and memory of the answers CSV, the XLSX
workbook and the JSON as they stream, against the raw driver fetch of the same answers, for growing
numbers of answers, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/bench_exports.py [--items 300] [--experts 250 500 1000]
        [--formats csv xlsx json] [--postgres URL]

Each size is a fresh database (two rounds of every expert answering every item, the items cycling
through the kinds as in ``bench_analysis_kinds``) and each export a fresh Python process, so that
its peak memory (the process's maximum resident set) is its own. The export is written to a
temporary file, as the server does (``app.reports.pages._spooled``). The baseline is
``cursor.fetchall()`` of every answer of the study in the same process, run after the export so
that the export's peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app.reports.exports import EXPORTS  # noqa: E402


def _peak_kb() -> int:
    """The process's peak resident memory (VmHWM): unlike ``ru_maxrss``, not inherited across the
    fork and exec from the parent that built the database."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure(url: str, study_id: int, export_format: str) -> dict[str, float]:
    from sqlmodel import Session

    from app.db import make_engine
    from app.reports import exports
    from app.studies.models import Study

    engine = make_engine(url)
    rss_start = _peak_kb()  # the process with the app imported
    with Session(engine) as session, tempfile.TemporaryFile() as spool:
        study = session.get(Study, study_id)
        start = time.perf_counter()
        exports.write_export(session, study, export_format, spool)
        export = time.perf_counter() - start
        size = spool.tell()
    rss_export = _peak_kb()  # the export's own peak, measured first
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        start = time.perf_counter()
        cursor.execute("SELECT * FROM answer")
        rows = cursor.fetchall()
        fetch = time.perf_counter() - start
        answers = len(rows)
        del rows
    finally:
        raw.close()
    return {
        "answers": answers,
        "fetch_s": fetch,
        "export_s": export,
        "bytes": size,
        "rss_start_mb": rss_start / 1024,
        "rss_export_mb": rss_export / 1024,
        "rss_fetch_mb": _peak_kb() / 1024,
    }


def run(label: str, url: str, experts: int, items: int, formats: list[str]) -> None:
    from bench_analysis_kinds import populate

    from app.db import make_engine
    from app.migrate import upgrade

    upgrade(url)
    engine = make_engine(url)
    study_id, _ = populate(engine, experts, items)
    engine.dispose()
    for export_format in formats:
        out = subprocess.run(
            [sys.executable, __file__, "--child", url, str(study_id), export_format],
            capture_output=True,
            text=True,
            check=True,
        )
        m = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {label} | {export_format.upper()} | {m['answers']:,} | {m['fetch_s'] * 1000:,.0f} ms "
            f"| {m['export_s'] * 1000:,.0f} ms | {m['export_s'] / m['fetch_s']:.1f} x | {m['bytes'] / 1e6:.1f} MB "
            f"| {m['rss_start_mb']:.0f} MB | {m['rss_export_mb']:.0f} MB | {m['rss_fetch_mb']:.0f} MB |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--experts", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--formats", nargs="+", choices=EXPORTS, default=list(EXPORTS))
    parser.add_argument("--postgres", default=os.environ.get("DELPHI_TEST_POSTGRES_URL"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]), args.child[2])))
        return
    from bench_analysis import machine, on_sqlite_and_postgres

    print(machine())
    print(
        "| database | export | answers | raw fetch | export (streamed) | ratio | size | process before "
        "| peak, export | peak, raw fetch |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for experts in args.experts:
        on_sqlite_and_postgres(run, args.postgres, experts, args.items, args.formats, announce=False)


if __name__ == "__main__":
    main()
