"""The first "Close and analyse" of a fresh server process, and the ones after it, on the demo study
(22 experts x 43 items, round 1 answered by every expert).

    .venv/bin/python benchmarks/bench_first_analysis.py [--runs 3] [--cold]

Each run starts a new Python process that imports the app as a server does (not timed), warms the
numba kernels up as a server does in the background as it starts (timed apart; ``--no-warm-up``
skips it), then times ``analyse_round`` twice: the first analysis of the process, then the same
round again. ``--cold``
also deletes numba's on-disk cache of compiled kernels before each run (a fresh install); without
it, the cache a first run writes is read by the next (a server restarted).

The baseline, in the same run: the raw driver fetch of the round's answers in the same fresh
process, before the analysis.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from sqlalchemy import text
from app.db import make_engine
from sqlmodel import Session
from app.main import create_app  # what a server imports before its first request
from app import scoring
from app.rounds.analysis import analyse_round
from app.rounds.models import Round
from app.studies.models import Study

engine = make_engine(sys.argv[1])
started = time.perf_counter()
if sys.argv[3] == "warm":
    scoring.warm_up()  # what a server does in the background as it starts
warm_up = time.perf_counter() - started
with Session(engine) as session:
    started = time.perf_counter()
    rows = session.connection().exec_driver_sql("select expert_id, item_id, value from answer").fetchall()
    fetch = time.perf_counter() - started
    round_ = session.get(Round, int(sys.argv[2]))
    study = session.get(Study, round_.study_id)
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        analyse_round(session, study, round_, None)
        session.flush()
        timings.append(time.perf_counter() - started)
    session.rollback()
print(json.dumps({"fetch": fetch, "rows": len(rows), "first": timings[0], "again": timings[1], "warm_up": warm_up}))
"""


def prepare(folder: Path) -> tuple[str, int]:
    """The demo study, round 1 open, every expert answering every item, then closed (not analysed)."""
    from sqlmodel import select

    from app.config import load_settings
    from app.db import make_engine, session_scope
    from app.demo.service import seed_demo
    from app.mail.mailer import Mailer
    from app.migrate import upgrade
    from app.panel.models import Expert
    from app.rounds import answers, service
    from app.rounds.answers import AnswerIn
    from app.rounds.models import Invitation, RoundStatus
    from app.studies.models import Study
    from app.templating import default_templates

    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    engine = make_engine(url)
    seed_demo(engine)
    settings = load_settings(database_url=url)
    rng = random.Random(3)
    with session_scope(engine) as session:
        study = session.exec(select(Study)).one()
        round_ = service.create_round(session, study, None)
        service.open_round(session, study, round_, None, Mailer.from_settings(settings, default_templates()))
        items = answers.round_items(session, round_.id)
        experts = session.exec(
            select(Expert).join(Invitation, Invitation.expert_id == Expert.id).where(Invitation.round_id == round_.id)
        ).all()
        for expert in experts:
            answers.save_answers(
                session, study, round_, expert, {i.id: AnswerIn(value=rng.randint(4, 9)) for i in items}
            )
            answers.submit(session, round_, expert)
        round_.close(__import__("app.db", fromlist=["utcnow"]).utcnow())
        session.add(round_)
        round_id = round_.id
        assert round_.status == RoundStatus.CLOSED
    engine.dispose()
    return url, round_id


def numba_caches() -> list[Path]:
    return list((ROOT / "app" / "scoring" / "__pycache__").glob("_kernels.*.nb[ic]"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="delete numba's cache before each run")
    parser.add_argument(
        "--no-warm-up", action="store_true", help="do not warm the kernels up before the first analysis"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, round_id = prepare(Path(tmp))
        results = []
        for _ in range(args.runs):
            if args.cold:
                for path in numba_caches():
                    path.unlink()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, url, str(round_id), "cold" if args.no_warm_up else "warm"],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ, "DELPHI_DATABASE_URL": url},
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"numba cache: {'deleted before each run' if args.cold else 'kept'}")
    print(f"kernels warmed up as a server does at start: {'no' if args.no_warm_up else 'yes'}")
    for r in results:
        print(
            f"answers {r['rows']}: fetch {r['fetch'] * 1000:.1f} ms; first analysis {r['first'] * 1000:.0f} ms "
            f"({r['first'] / r['fetch']:.0f}x the fetch); again {r['again'] * 1000:.0f} ms "
            f"({r['again'] / r['fetch']:.0f}x); warm-up at start {r['warm_up'] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
