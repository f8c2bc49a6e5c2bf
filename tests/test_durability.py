"""No answer is ever lost: 50 experts save at once against the server running as its own process;
the server is killed with SIGKILL in the middle, restarted, and every save it acknowledged with a
2xx is in the database (and in the answers' history). On SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import signal
import threading
import time

import httpx
import pytest
from sqlmodel import Session, select

from app.config import load_settings
from app.db import make_engine, session_scope
from app.panel import service as panel
from app.rounds.models import Answer, AnswerHistory
from tests.conftest import TEST_SECRET
from tests.factories import make_panel_study
from tests.mail.conftest import free_port
from tests.processes import start_server
from tests.rounds.helpers import invited, open_round

pytestmark = pytest.mark.slow


class Expert:
    """Saves one item after another; records what the server acknowledged and what was in flight."""

    def __init__(self, base: str, token: str, item_ids: list[int], stop: threading.Event):
        self.base, self.token, self.item_ids, self.stop = base, token, item_ids, stop
        self.acknowledged: dict[int, list[int]] = {}
        self.unconfirmed: dict[int, list[int]] = {}

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as client:
            csrf = None
            while csrf is None and not self.stop.is_set():  # a busy server is waited for, not given up on
                try:
                    page = client.get(f"/e/{self.token}")
                    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
                except (httpx.HTTPError, AttributeError):
                    time.sleep(0.1)
            value = 0
            while not self.stop.is_set():
                item = self.item_ids[value % len(self.item_ids)]
                rating = value % 9 + 1
                value += 1
                try:
                    response = client.post(
                        f"/e/{self.token}/answers",
                        headers={"X-CSRF-Token": csrf},
                        json={"answers": {str(item): {"value": rating}}},
                    )
                except httpx.HTTPError:
                    self.unconfirmed.setdefault(item, []).append(rating)
                    time.sleep(0.05)
                    continue
                if 200 <= response.status_code < 300:
                    self.acknowledged.setdefault(item, []).append(rating)
                else:
                    self.unconfirmed.setdefault(item, []).append(rating)


def test_sigkill_loses_no_acknowledged_answer(database):
    url = database.fresh()
    engine = make_engine(url)
    settings = load_settings(database_url=url, secret_key=TEST_SECRET, environment="test")
    with session_scope(engine) as session:
        study = make_panel_study(session, experts=50, items=5, language="en")
        round_ = open_round(session, study, settings)
        experts = invited(session, round_)
        tokens = {e.id: panel.current_link(session, e, TEST_SECRET) for e in experts}
        from app.rounds.answers import round_items

        item_ids = [i.id for i in round_items(session, round_.id)]
    port = free_port()
    server = start_server(url, port)
    stop = threading.Event()
    clients = {
        expert_id: Expert(f"http://127.0.0.1:{port}", token, item_ids, stop) for expert_id, token in tokens.items()
    }
    threads = [threading.Thread(target=c.run) for c in clients.values()]
    for thread in threads:
        thread.start()

    def acknowledged_so_far() -> int:
        return sum(len(v) for c in list(clients.values()) for v in list(c.acknowledged.values()))

    deadline = time.monotonic() + 180  # a condition, not a time: enough saves, however busy the machine
    while acknowledged_so_far() < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.send_signal(signal.SIGKILL)  # in the middle of the saves
    server.wait()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    server = start_server(url, port)  # restarted: the data is there and the service goes on
    try:
        acknowledged = sum(len(v) for c in clients.values() for v in c.acknowledged.values())
        assert acknowledged > 100, "too few saves before the kill to test anything"
        with Session(engine) as session:
            stored = {(a.expert_id, a.item_id): a.value for a in session.exec(select(Answer)).all()}
            history: dict[tuple[int, int], list[float]] = {}
            for h in session.exec(select(AnswerHistory).order_by(AnswerHistory.id)).all():
                history.setdefault((h.expert_id, h.item_id), []).append(h.value)
        for expert_id, client in clients.items():
            for item, values in client.acknowledged.items():
                key = (expert_id, item)
                in_flight = client.unconfirmed.get(item, [])
                assert stored.get(key) in [values[-1], *in_flight], (key, stored.get(key), values[-1], in_flight)
                recorded = history[key]
                position = 0  # every acknowledged save is in the history, in order (unchanged values are no-ops)
                for value in values:
                    if position < len(recorded) and recorded[position] == value:
                        position += 1
                    else:
                        assert value in recorded[:position] or value == recorded[position - 1], (key, value)
        response = httpx.post(f"http://127.0.0.1:{port}/e/{tokens[experts[0].id]}/answers", json={"answers": {}})
        assert response.status_code == 403  # up again (and still asking for the page's token)
    finally:
        server.terminate()
        server.wait(10)
        engine.dispose()
