"""What the in-process page benchmarks share (bench_panel_page.py, bench_big_pages.py): a panel
written in one statement, a logged-in TestClient, the median time of a page, and the table."""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' factories

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session  # noqa: E402

from app.panel.models import Expert  # noqa: E402

PASSWORD = "a-long-password-for-the-bench"
SECRET = "x" * 40


def insert_experts(session: Session, study_id: int, n: int) -> None:
    """``n`` experts, E0001..., alternately academic and practitioner, in one INSERT."""
    session.execute(
        insert(Expert),
        [
            {
                "study_id": study_id,
                "name": f"Expert {k}",
                "email": f"expert{k}@example.org",
                "pseudonym": f"E{k:04d}",
                "profile": {},
                "stakeholder_group": ("academic", "practitioner")[k % 2],
            }
            for k in range(1, n + 1)
        ],
    )


def log_in(client: TestClient, email: str) -> None:
    page = client.get("/login").text
    token = page.split('name="login_csrf" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"email": email, "password": PASSWORD, "login_csrf": token})


def timed(client: TestClient, url: str, n: int) -> float:
    """The median of ``n`` requests, after one to warm templates and caches (each must be a 200)."""
    client.get(url)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples)


def print_table(rows: dict[str, float], baseline: str = "/health (baseline)") -> None:
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print("| request | median ms | x /health |")
    print("|---|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds * 1000:.1f} | {seconds / rows[baseline]:.1f} |")
