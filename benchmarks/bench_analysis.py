"""Analysing a round of 2,000 experts x 300 items (600,000 answers) from the database, against the
raw driver fetch of the same rows into numpy, in the same run, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/bench_analysis.py [--experts 2000] [--items 300] [--postgres URL]

PostgreSQL is used when --postgres or DELPHI_TEST_POSTGRES_URL gives a server (a scratch database is
created and dropped).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from app.db import make_engine
from app.migrate import upgrade
from app.panel.models import Expert
from app.rounds.analysis import analyse_round
from app.rounds.models import Answer, Invitation, Round, RoundItem
from app.studies.models import Item, Study, Theme


def insert_items(  # type: ignore[no-untyped-def]
    conn, study_id: int, kinds: list[str], now: datetime, options: list[str] | None = None, theme_ids=None
) -> list[int]:
    """One item per kind, in one INSERT (choice and ranking items get ``options``); their ids in order."""
    conn.execute(
        insert(Item),
        [
            dict(
                study_id=study_id,
                theme_id=theme_ids[i % len(theme_ids)] if theme_ids else None,
                kind=kind,
                text=f"Statement {i}",
                position=i,
                anchors={},
                options=options if kind in ("choice", "ranking") else [],
                multiple=False,
                allow_unable=True,
                is_seed=False,
                quantiles=[0.05, 0.5, 0.95],
                evidence="",
                translations={},
                status="active",
                origin="protocol",
                source_item_ids=[],
                created_at=now,
                updated_at=now,
            )
            for i, kind in enumerate(kinds)
        ],
    )
    return [r[0] for r in conn.execute(select(Item.id).where(Item.study_id == study_id).order_by(Item.id))]


def insert_panel(  # type: ignore[no-untyped-def]
    conn, study_id: int, round_ids: list[int], item_ids: list[int], experts: int, now: datetime
) -> list[int]:
    """The items asked in each round, ``experts`` experts (two groups) invited to each round and
    submitted, in a few INSERTs; the experts' ids in order."""
    for round_id in round_ids:
        rows = [dict(round_id=round_id, item_id=i, position=k) for k, i in enumerate(item_ids)]
        conn.execute(insert(RoundItem), rows)
    conn.execute(
        insert(Expert),
        [
            dict(
                study_id=study_id,
                name=f"Expert {e}",
                email=f"e{e}@example.org",
                pseudonym=f"E{e:04d}",
                stakeholder_group=("a", "b")[e % 2],
                profile={},
                weight=1.0,
                weight_source="equal",
                weight_reason="",
                status="active",
                status_reason="",
                created_at=now,
            )
            for e in range(experts)
        ],
    )
    expert_ids = [r[0] for r in conn.execute(select(Expert.id).where(Expert.study_id == study_id).order_by(Expert.id))]
    for round_id in round_ids:
        conn.execute(
            insert(Invitation),
            [
                dict(round_id=round_id, expert_id=e, invited_at=now, started_at=now, submitted_at=now, reminder_count=0)
                for e in expert_ids
            ],
        )
    return expert_ids


def machine() -> str:
    return f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def on_sqlite_and_postgres(run, postgres: str | None, *args, announce: bool = True) -> None:  # type: ignore[no-untyped-def]
    """``run(label, url, *args)`` on a scratch SQLite database, then on a scratch PostgreSQL database
    created on the ``postgres`` server (and dropped), when one is given; ``announce`` prints the
    machine first."""
    if announce:
        print(machine())
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{folder}/bench.db", *args)
    if postgres:
        admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
        name = f"delphi_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run("PostgreSQL", make_url(postgres).set(database=name).render_as_string(hide_password=False), *args)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            admin.dispose()


def populate(engine, experts: int, items: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    rng = np.random.default_rng(1)
    with Session(engine) as session:
        study = Study(title="Benchmark study", status="running", locked_at=now)
        session.add(study)
        session.flush()
        themes = [Theme(study_id=study.id, title=f"Theme {t}", position=t) for t in range(10)]
        session.add_all(themes)
        session.flush()
        round_ = Round(study_id=study.id, number=1, status="closed", opened_at=now, closed_at=now)
        session.add(round_)
        session.flush()
        study_id, round_id, theme_ids = study.id, round_.id, [t.id for t in themes]
        session.commit()
    with engine.begin() as conn:
        item_ids = insert_items(conn, study_id, ["rating"] * items, now, theme_ids=theme_ids)
        expert_ids = insert_panel(conn, study_id, [round_id], item_ids, experts, now)
    values = rng.integers(1, 10, size=(experts, items))
    if engine.dialect.name == "postgresql":
        buffer = io.StringIO()
        stamp = now.isoformat()
        for a, e in enumerate(expert_ids):
            for b, i in enumerate(item_ids):
                buffer.write(f"{round_id}\t{e}\t{i}\t{values[a, b]}\tf\t1\t{stamp}\t{stamp}\n")
        raw = engine.raw_connection()
        with (
            raw.cursor() as cursor,
            cursor.copy(
                "COPY answer (round_id, expert_id, item_id, value, unable, version, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            copy.write(buffer.getvalue())
        raw.commit()
        raw.close()
    else:
        with engine.begin() as conn:
            conn.execute(
                insert(Answer),
                [
                    dict(
                        round_id=round_id,
                        expert_id=e,
                        item_id=i,
                        value=float(values[a, b]),
                        unable=False,
                        version=1,
                        created_at=now,
                        updated_at=now,
                    )
                    for a, e in enumerate(expert_ids)
                    for b, i in enumerate(item_ids)
                ],
            )
    return study_id, round_id


def raw_fetch(engine, round_id: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        placeholder = "%s" if engine.dialect.name == "postgresql" else "?"
        cursor.execute(f"SELECT expert_id, item_id, value FROM answer WHERE round_id = {placeholder}", (round_id,))
        return np.array(cursor.fetchall(), dtype=np.float64)
    finally:
        raw.close()


def analyse(engine, study_id: int, round_id: int) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        study, round_ = session.get(Study, study_id), session.get(Round, round_id)
        round_.status = "closed"
        analyse_round(session, study, round_, None)
        session.rollback()  # measure the analysis, not the write of its snapshot


def best(function, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def run(label: str, url: str, experts: int, items: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    study_id, round_id = populate(engine, experts, items)
    load = time.perf_counter() - started
    analyse(engine, study_id, round_id)  # warm up caches and compiled kernels
    fetch = best(lambda: raw_fetch(engine, round_id))
    analysis = best(lambda: analyse(engine, study_id, round_id))
    engine.dispose()
    print(
        f"{label:10} {experts * items:>8} answers (loaded in {load:.1f} s)  raw fetch {fetch * 1000:7.1f} ms  "
        f"analysis {analysis * 1000:7.1f} ms  = {analysis / fetch:4.2f} x (goal <= 2)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experts", type=int, default=2000)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--postgres", default=os.environ.get("DELPHI_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    on_sqlite_and_postgres(run, args.postgres, args.experts, args.items)


if __name__ == "__main__":
    main()
