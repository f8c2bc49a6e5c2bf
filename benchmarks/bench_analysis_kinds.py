"""Analysing round 2 of a big study with every kind of item: 2,000 experts x 300 items (rating,
choice, ranking, estimate, open), with stability against round 1 and the bootstrap, against the raw
driver fetch of the round's answers, in the same run.

    .venv/bin/python benchmarks/bench_analysis_kinds.py [--experts 2000] [--items 300] [--postgres URL]

Items cycle through the kinds: six in ten rating, then one each of choice (4 options), ranking (4
options), estimate (5/50/95 %) and open. Round 1 is analysed for real (its snapshot is what round 2's
stability and conformity read); round 2 moves a tenth of the ratings by one point. The baseline is
``cursor.fetchall()`` of round 2's answers (expert, item, value, values, text).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import insert
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analysis import best, insert_items, insert_panel, on_sqlite_and_postgres  # noqa: E402

from app.db import make_engine  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.rounds.analysis import analyse_round  # noqa: E402
from app.rounds.models import Answer, Round  # noqa: E402
from app.studies.models import Study  # noqa: E402

KINDS = ["rating"] * 6 + ["choice", "ranking", "estimate", "open"]
OPTIONS = ["A", "B", "C", "D"]


def _answer(kind: str, rng: np.random.Generator, rating: int) -> dict[str, object]:
    if kind == "rating":
        return {"value": float(rating)}
    if kind == "choice":
        return {"values": [OPTIONS[int(rng.integers(4))]]}
    if kind == "ranking":
        return {"values": [OPTIONS[i] for i in rng.permutation(4)]}
    if kind == "estimate":
        low = float(rng.integers(10, 50))
        return {"values": [low, low + float(rng.integers(1, 20)), low + 40.0]}
    return {"text": f"Idea {int(rng.integers(50))} about delivery"}


def populate(engine, experts: int, items: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    rng = np.random.default_rng(3)
    with Session(engine) as session:
        study = Study(title="Every kind", status="running", locked_at=now)
        session.add(study)
        session.flush()
        rounds = [Round(study_id=study.id, number=n, status="closed", opened_at=now, closed_at=now) for n in (1, 2)]
        session.add_all(rounds)
        session.flush()
        study_id, round_ids = study.id, [r.id for r in rounds]
        session.commit()
    kinds = [KINDS[i % len(KINDS)] for i in range(items)]
    with engine.begin() as conn:
        item_ids = insert_items(conn, study_id, kinds, now, OPTIONS)
        expert_ids = insert_panel(conn, study_id, round_ids, item_ids, experts, now)
    ratings = rng.integers(1, 10, size=(experts, items))
    for number, round_id in enumerate(round_ids, start=1):
        if number == 2:  # a tenth of the ratings move by one point
            ratings = np.clip(ratings + (rng.random(ratings.shape) < 0.1) * rng.choice([-1, 1], ratings.shape), 1, 9)
        for start in range(0, experts, 200):
            with engine.begin() as conn:
                conn.execute(
                    insert(Answer),
                    [
                        dict(
                            round_id=round_id,
                            expert_id=expert_ids[a],
                            item_id=item_ids[b],
                            unable=False,
                            version=1,
                            created_at=now,
                            updated_at=now,
                            **{"value": None, "values": None, "text": None}
                            | _answer(kinds[b], rng, int(ratings[a, b])),
                        )
                        for a in range(start, min(start + 200, experts))
                        for b in range(items)
                    ],
                )
        if number == 1:
            with Session(engine) as session:
                analyse_round(session, session.get(Study, study_id), session.get(Round, round_id), None)
                session.commit()
    return study_id, round_ids[1]


def raw_fetch(engine, round_id: int) -> list:  # type: ignore[type-arg, no-untyped-def]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        placeholder = "%s" if engine.dialect.name == "postgresql" else "?"
        cursor.execute(
            f'SELECT expert_id, item_id, value, "values", text FROM answer WHERE round_id = {placeholder}',
            (round_id,),
        )
        return cursor.fetchall()  # type: ignore[no-any-return]
    finally:
        raw.close()


def analyse(engine, study_id: int, round_id: int) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        analyse_round(session, session.get(Study, study_id), session.get(Round, round_id), None)
        session.rollback()  # measure the analysis, not the write of its snapshot


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
        f"{label:10} {experts * items:>8} answers a round, every kind (built in {load:.0f} s)  raw fetch "
        f"{fetch * 1000:7.1f} ms  analysis of round 2 {analysis * 1000:7.1f} ms  = {analysis / fetch:4.2f} x"
        " (goal <= 2)"
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
