"""Several machines: two app processes and two workers on one PostgreSQL database. Every invitation
is sent exactly once, and no answer is lost whichever app server an expert's requests reach."""

from __future__ import annotations

import re
import subprocess
import threading
import time

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.db import make_engine, session_scope
from app.mail.models import OutboxMessage
from app.rounds.models import Answer
from tests.factories import PASSWORD, make_panel_study
from tests.mail.conftest import Inbox, free_port
from tests.processes import DELPHI, delphi_environment, start_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
LINK = re.compile(r"http://127\.0\.0\.1:\d+(/e/[A-Za-z0-9_-]+)")


def test_two_servers_and_two_workers_send_each_mail_once_and_lose_no_answer(postgres_database):
    url = postgres_database.fresh()
    engine = make_engine(url)
    with session_scope(engine) as session:
        accounts.create_researcher(session, "rita@example.org", PASSWORD)
        owner = session.exec(select(accounts.Researcher)).one()  # type: ignore[attr-defined]
        study = make_panel_study(session, owner, experts=30, items=4, language="en")
        study_id = study.id
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    ports = [free_port(), free_port()]
    servers = [start_server(url, port) for port in ports]
    env = delphi_environment(
        url,
        f"http://127.0.0.1:{ports[0]}",
        environment="test",
        smtp_host="127.0.0.1",
        smtp_port=str(smtp.port),
        worker_interval_seconds="0.1",
    )
    workers = [
        subprocess.Popen([DELPHI, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as api:
            token = api.post("/api/auth/login", json={"email": "rita@example.org", "password": PASSWORD}).json()
            api.headers["X-CSRF-Token"] = token["csrf_token"]
            assert api.post(f"/api/studies/{study_id}/rounds", json={}).status_code == 201
            assert api.post(f"/api/studies/{study_id}/rounds/1/open").status_code == 200
        deadline = time.monotonic() + 60
        while len(inbox.messages) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2)  # any duplicate would arrive now
        recipients = [m["To"] for m in inbox.messages]
        assert len(recipients) == 30 and len(set(recipients)) == 30

        acknowledged: dict[tuple[str, int], int] = {}
        lock = threading.Lock()

        def answer(k: int, message) -> None:  # type: ignore[no-untyped-def]
            path = LINK.search(message.get_body(("plain",)).get_content()).group(1)
            base = f"http://127.0.0.1:{ports[k % 2]}"
            with httpx.Client(base_url=base, timeout=30) as client:
                page = client.get(path)
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
                client.post(f"{path}/consent", data={"csrf_token": csrf, "consent": "1"})
                items = [int(i) for i in re.findall(r'data-item="(\d+)"', client.get(path).text)]
                for n, item in enumerate(items * 3):
                    other = httpx.Client(base_url=f"http://127.0.0.1:{ports[(k + n) % 2]}", timeout=30)
                    response = other.post(
                        f"{path}/answers",
                        headers={"X-CSRF-Token": csrf},
                        json={"answers": {str(item): {"value": n % 9 + 1}}},
                    )
                    other.close()
                    assert response.status_code == 200, response.text
                    with lock:
                        acknowledged[(path, item)] = n % 9 + 1

        failures: list[BaseException] = []

        def run(k: int, message) -> None:  # type: ignore[no-untyped-def]
            try:
                answer(k, message)
            except BaseException as exc:  # reported below: a thread's failure must fail the test
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(k, m)) for k, m in enumerate(inbox.messages)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        assert len(acknowledged) == 30 * 4
        with Session(engine) as session:
            assert len(session.exec(select(Answer)).all()) == 30 * 4
            statuses = [m.status for m in session.exec(select(OutboxMessage)).all()]
        assert statuses == ["sent"] * 30
    finally:
        for process in [*servers, *workers]:
            process.terminate()
        for process in [*servers, *workers]:
            process.wait(15)
        smtp.stop()
        engine.dispose()
