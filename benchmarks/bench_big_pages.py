"""The researcher's pages of a big study: the design page with 300 items, the results page of a
round of 300 experts x 300 items, and an expert's form of 60 items; server time against `/health`
in the same run (issue 20's goal: each under 300 ms).

    .venv/bin/python benchmarks/bench_big_pages.py [--experts 300] [--items 300] [--requests 10] [--kinds all]

``--kinds all``: of every ten items, six ratings, a choice, a ranking, an estimate and an open
question (as ``bench_report.py --kinds all``), so the results page and the form show every kind.

In-process (TestClient, SQLite WAL on a temporary file), like bench_panel_page.py.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_report import KIND_CYCLE, OPTIONS, an_answer
from fastapi.testclient import TestClient
from in_process import PASSWORD, SECRET, insert_experts, log_in, print_table, timed

from app.accounts import service as accounts
from app.config import load_settings
from app.db import make_engine, session_scope
from app.main import create_app
from app.migrate import upgrade
from app.panel import service as panel
from app.rounds import answers
from app.rounds import service as rounds
from app.rounds.answers import AnswerIn
from app.studies import design
from app.studies import service as studies
from app.studies.schemas import ItemCreate, StudyCreate, ThemeCreate
from tests.factories import mailer_for


def build(url: str, experts: int, items: int, form_items: int, all_kinds: bool = False) -> tuple[int, int, str]:
    """Round 1 of ``items`` items answered by ``experts`` and analysed; round 2 open with
    ``form_items`` of them. Returns the study, the round-1 number and one expert's link."""
    settings = load_settings(database_url=url, secret_key=SECRET, base_url="http://testserver", environment="test")
    engine = make_engine(url)
    rng = random.Random(5)
    other_kinds = np.random.default_rng(5)
    with session_scope(engine) as session:
        owner = accounts.create_researcher(session, "bench@example.org", PASSWORD, "Bench")
        study = studies.create_study(session, owner, StudyCreate(title="Big study", question="?", language="en"))
        study.retire_consensual = False
        study.stopping_rule = "round >= 3"
        themes = [design.add_theme(session, study, ThemeCreate(title=f"Theme {t + 1}"), None) for t in range(10)]
        made = [
            design.add_item(
                session,
                study,
                ItemCreate(
                    text=f"Statement {i + 1} about social media and shops",
                    theme_id=themes[i % 10].id,
                    **_kind_fields(KIND_CYCLE[i % len(KIND_CYCLE)] if all_kinds else "rating"),
                ),
                None,
            )
            for i in range(items)
        ]
        insert_experts(session, study.id, experts)
        round1 = rounds.create_round(session, study, None)
        rounds.open_round(session, study, round1, None, mailer_for(settings))
        for expert in panel.experts_of(session, study.id):
            answers.save_answers(
                session,
                study,
                round1,
                expert,
                {
                    i.id: AnswerIn(value=rng.randint(4, 9)) if i.kind == "rating" else an_answer(i, 1, other_kinds, 0)
                    for i in made
                },
            )
        rounds.close_round(session, study, round1, None)
        for item in made[form_items:]:  # round 2 asks the first ``form_items`` of them
            design.retire_item(session, study, item, None, "bench", 2)
        round2 = rounds.create_round(session, study, None)
        rounds.open_round(session, study, round2, None, mailer_for(settings))
        expert = panel.experts_of(session, study.id)[0]
        link = panel.current_link(session, expert, SECRET)
        study_id = study.id
    engine.dispose()
    return study_id, 1, link


def _kind_fields(kind: str) -> dict[str, Any]:
    if kind in ("choice", "ranking"):
        return {"kind": kind, "options": OPTIONS}
    if kind == "estimate":
        return {"kind": kind, "quantiles": [0.05, 0.5, 0.95]}
    return {"kind": kind}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experts", type=int, default=300)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--form-items", type=int, default=60)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--kinds", choices=("rating", "all"), default="rating")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        started = time.perf_counter()
        study_id, number, link = build(url, args.experts, args.items, args.form_items, args.kinds == "all")
        print(f"built in {time.perf_counter() - started:.0f} s")
        settings = load_settings(
            database_url=url, secret_key=SECRET, base_url="http://testserver", environment="test", smtp_host=None
        )
        with TestClient(create_app(settings, run_sender=False)) as client:
            rows = {"/health (baseline)": timed(client, "/health", args.requests)}
            welcome = client.get(f"/e/{link}").text
            csrf = welcome.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post(f"/e/{link}/consent", data={"csrf_token": csrf, "consent": "1"})
            form = client.get(f"/e/{link}").text
            questions = form.split("<form", 1)[1]  # above it: what the panel said to round 1's open questions
            asked = len(set(re.findall(r"Statement (\d+) about social media", questions)))
            # an open question is asked in round 1 only
            cycle = KIND_CYCLE if args.kinds == "all" else ("rating",)
            expected = sum(cycle[i % len(cycle)] != "open" for i in range(args.form_items))
            assert asked == expected, f"the questionnaire shows {asked} statements, not {expected}"
            rows[f"expert form, round 2 ({asked} items)"] = timed(client, f"/e/{link}", args.requests)
            log_in(client, "bench@example.org")
            rows[f"design page, {args.items} items"] = timed(client, f"/studies/{study_id}/design", args.requests)
            rows[f"results, round 1 ({args.experts} x {args.items}, {args.kinds} kinds)"] = timed(
                client, f"/studies/{study_id}/rounds/{number}/results", args.requests
            )
    print_table(rows)


if __name__ == "__main__":
    main()
