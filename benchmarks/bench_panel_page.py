"""The panel page of a study with 5,000 experts and an open round: server time of its first page,
of a page in the middle, and of a search, against the cheapest page of the same app in the same
run (``/health``, which reads the database once).

    .venv/bin/python benchmarks/bench_panel_page.py [--experts 5000] [--requests 20]

In-process (Starlette's TestClient, SQLite in WAL on a temporary file): the figures are server time
plus the test client's own overhead, the same for every row, so the ratios carry to a real server.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastapi.testclient import TestClient
from in_process import PASSWORD, SECRET, insert_experts, log_in, print_table, timed

from app.accounts import service as accounts
from app.config import load_settings
from app.db import make_engine, session_scope
from app.main import create_app
from app.migrate import upgrade
from app.panel import service as panel
from app.rounds import service as rounds
from app.studies import service as studies
from app.studies.schemas import StudyCreate
from tests.factories import mailer_for


def build(url: str, experts: int) -> int:
    settings = load_settings(database_url=url, secret_key=SECRET, base_url="http://testserver", environment="test")
    engine = make_engine(url)
    with session_scope(engine) as session:
        owner = accounts.create_researcher(session, "bench@example.org", PASSWORD, "Bench")
        study = studies.create_study(session, owner, StudyCreate(title="Big panel", question="?", language="en"))
        from tests.factories import make_item, make_theme

        make_item(session, study, make_theme(session, study), "Statement number 1")
        insert_experts(session, study.id, experts)
        round_ = rounds.create_round(session, study, None)
        rounds.open_round(session, study, round_, None, mailer_for(settings))
        study_id = study.id
    engine.dispose()
    return study_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experts", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        started = time.perf_counter()
        study_id = build(url, args.experts)
        print(f"{args.experts} experts and an open round built in {time.perf_counter() - started:.1f} s")
        settings = load_settings(
            database_url=url, secret_key=SECRET, base_url="http://testserver", environment="test", smtp_host=None
        )
        with TestClient(create_app(settings, run_sender=False)) as client:
            log_in(client, "bench@example.org")
            base = f"/studies/{study_id}/panel"
            rows = {
                "/health (baseline)": timed(client, "/health", args.requests),
                "panel, page 1": timed(client, base, args.requests),
                "panel, page 25": timed(client, f"{base}?page=25", args.requests),
                "panel, search by name": timed(client, f"{base}?q=Expert+4999", args.requests),
                "expert's own page": timed(client, f"{base}/1", args.requests),
            }
            paged = panel.PANEL_PAGE_SIZE
            panel.PANEL_PAGE_SIZE = args.experts  # as before paging: the whole panel on one page
            rows["panel, all on one page (before)"] = timed(client, base, max(3, args.requests // 5))
            panel.PANEL_PAGE_SIZE = paged
    print_table(rows)


if __name__ == "__main__":
    main()
