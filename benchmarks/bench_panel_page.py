"""The panel page of a study with 5,000 experts and an open round: server time of its first page,
of a page in the middle, and of a search, against the cheapest page of the same app in the same
run (``/health``, which reads the database once).

    .venv/bin/python benchmarks/bench_panel_page.py [--experts 5000] [--requests 20]

In-process (Starlette's TestClient, SQLite in WAL on a temporary file): the figures are server time
plus the test client's own overhead, the same for every row, so the ratios carry to a real server.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' factories

from fastapi.testclient import TestClient
from sqlalchemy import insert

from app.accounts import service as accounts
from app.config import load_settings
from app.db import make_engine, session_scope
from app.main import create_app
from app.migrate import upgrade
from app.panel import service as panel
from app.panel.models import Expert
from app.rounds import service as rounds
from app.studies import service as studies
from app.studies.schemas import StudyCreate
from tests.factories import mailer_for

PASSWORD = "a-long-password-for-the-bench"


def build(url: str, experts: int) -> int:
    settings = load_settings(database_url=url, secret_key="x" * 40, base_url="http://testserver", environment="test")
    engine = make_engine(url)
    with session_scope(engine) as session:
        owner = accounts.create_researcher(session, "bench@example.org", PASSWORD, "Bench")
        study = studies.create_study(session, owner, StudyCreate(title="Big panel", question="?", language="en"))
        from tests.factories import make_item, make_theme

        make_item(session, study, make_theme(session, study), "Statement number 1")
        session.execute(
            insert(Expert),
            [
                {
                    "study_id": study.id,
                    "name": f"Expert {n}",
                    "email": f"expert{n}@example.org",
                    "pseudonym": f"E{n:04d}",
                    "profile": {},
                    "stakeholder_group": ("academic", "practitioner")[n % 2],
                }
                for n in range(1, experts + 1)
            ],
        )
        round_ = rounds.create_round(session, study, None)
        rounds.open_round(session, study, round_, None, mailer_for(settings))
        study_id = study.id
    engine.dispose()
    return study_id


def timed(client: TestClient, url: str, n: int) -> float:
    client.get(url)  # warm (templates, caches)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples)


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
            database_url=url, secret_key="x" * 40, base_url="http://testserver", environment="test", smtp_host=None
        )
        with TestClient(create_app(settings, run_sender=False)) as client:
            page = client.get("/login").text
            token = page.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
            client.post("/login", data={"email": "bench@example.org", "password": PASSWORD, "login_csrf": token})
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
    baseline = rows["/health (baseline)"]
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print("| request | median ms | x /health |")
    print("|---|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds * 1000:.1f} | {seconds / baseline:.1f} |")


if __name__ == "__main__":
    main()
