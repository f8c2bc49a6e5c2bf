"""Researcher login under attack: wrong passwords slow the next attempts down (per account and per
client, counted in the database), never ban the owner for long, and hold no write lock."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session

from app.accounts.throttle import Backoff, LoginThrottle
from app.db import utcnow
from tests.factories import PASSWORD, make_researcher


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(app):  # type: ignore[no-untyped-def]
    """The app's throttle on a clock the test moves (the app starts with the client's context)."""
    return Clock()


def attempt(client, email: str, password: str = "wrong-password-1"):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/login", json={"email": email, "password": password})


def with_clock(client, clock):  # type: ignore[no-untyped-def]
    client.app.state.login_throttle.clock = clock


def test_backoff_doubles_after_the_free_failures_up_to_its_cap():
    backoff = Backoff(free=5, cap_seconds=60)
    assert [backoff.delay(n) for n in range(4, 13)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]


def test_an_account_is_slowed_down_not_banned_and_the_owner_gets_back_in(client, session, clock):
    with_clock(client, clock)
    # the attacker and the owner come from different addresses (the test client has one): the
    # client's own, longer backoff is tested below
    client.app.state.login_throttle.client = Backoff(free=1000, cap_seconds=900)
    make_researcher(session, "owner@example.org")
    for _ in range(5):  # free failures: the usual "wrong password" answer
        assert attempt(client, "owner@example.org").status_code == 401
    refused = attempt(client, "owner@example.org")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    assert "Too many failed attempts" in refused.json()["detail"]
    # even the right password waits for the backoff (it is not even checked)
    assert attempt(client, "owner@example.org", PASSWORD).status_code == 429
    clock.advance(1.1)
    assert attempt(client, "owner@example.org").status_code == 401  # the 6th failure: now 2 s
    clock.advance(1)
    assert attempt(client, "owner@example.org", PASSWORD).status_code == 429
    # however long the attack goes on, the owner waits at most a minute after its last try
    for _ in range(20):
        clock.advance(61)
        assert attempt(client, "owner@example.org").status_code == 401
    clock.advance(60.5)
    assert attempt(client, "owner@example.org", PASSWORD).status_code == 200
    # and a success forgets the failures: the next typo is not slowed down
    assert attempt(client, "owner@example.org").status_code == 401
    assert attempt(client, "owner@example.org", PASSWORD).status_code == 200


def test_unknown_addresses_are_throttled_the_same_way(client, session, clock):
    with_clock(client, clock)
    make_researcher(session, "owner@example.org")
    answers = []
    for email in ("owner@example.org", "nobody@example.org"):
        answers.append([attempt(client, email).status_code for _ in range(6)])
        clock.advance(3600)  # both windows over
    assert answers[0] == answers[1] == [401] * 5 + [429]


def test_a_client_trying_many_accounts_is_slowed_down_for_longer(client, session, clock):
    with_clock(client, clock)
    for n in range(10):
        assert attempt(client, f"someone{n}@example.org").status_code == 401
    assert attempt(client, "someone-else@example.org").status_code == 429
    clock.advance(1.1)
    assert attempt(client, "another@example.org").status_code == 401  # the 11th: 2 s now
    assert attempt(client, "another2@example.org").status_code == 429


def test_failures_are_counted_in_the_database_so_every_server_sees_them(app, client, session, clock):
    """A second throttle (another app server) on the same database refuses the same client."""
    with_clock(client, clock)
    for _ in range(5):
        attempt(client, "owner@example.org")
    other_server = LoginThrottle(app.state.login_throttle._sessions, client.app.state.settings.secret_key, clock=clock)
    assert other_server.wait_seconds(session, "owner@example.org", "testclient") == pytest.approx(1.0)
    assert other_server.wait_seconds(session, "OWNER@example.org ", "elsewhere") == pytest.approx(1.0)
    assert other_server.wait_seconds(session, "stranger@example.org", "elsewhere") == 0


def test_the_login_page_shows_the_wait_in_the_reader_s_language(client, session, clock):
    import re

    with_clock(client, clock)
    page = client.get("/login?lang=fr")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    for _ in range(6):
        last = client.post("/login", data={"email": "x@example.org", "password": "nope-nope", "login_csrf": token})
    assert last.status_code == 429 and "Trop de tentatives" in last.text


def test_checking_a_password_holds_no_write_lock(tmp_path):
    """On SQLite (whose write lock is one for the whole database), a login checks the password
    through a reading transaction: while the (slow) hash is checked, another connection can write."""
    from fastapi.testclient import TestClient

    from app.db import make_engine
    from app.main import create_app
    from app.migrate import upgrade
    from app.security import hash_password
    from tests.conftest import settings_for

    url = f"sqlite:///{tmp_path / 'login.db'}"
    upgrade(url)
    with Session(make_engine(url)) as s:
        make_researcher(s, "owner@example.org")
        s.commit()
    app = create_app(settings_for(url), run_sender=False)
    checking = threading.Event()
    wrote_while_checking: list[bool] = []
    import app.accounts.service as accounts_service

    real_verify = accounts_service.verify_password

    def slow_verify(password, hashed):  # type: ignore[no-untyped-def]
        checking.set()
        time.sleep(0.3)  # a long hash check: another writer must get through meanwhile
        return real_verify(password, hashed)

    def writer() -> None:
        checking.wait(10)
        engine = make_engine(url)
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
        wrote_while_checking.append(time.perf_counter() - started < 0.25)
        engine.dispose()

    accounts_service.verify_password = slow_verify  # type: ignore[assignment]
    try:
        thread = threading.Thread(target=writer)
        thread.start()
        with TestClient(app) as client:
            assert attempt(client, "owner@example.org", "wrong-password-1").status_code == 401
        thread.join(10)
    finally:
        accounts_service.verify_password = real_verify  # type: ignore[assignment]
    assert wrote_while_checking == [True]
    assert hash_password  # the real hash is used outside this test


def test_statements_run_by_login_are_only_reads_until_the_password_is_right(database, session, client):
    """The write session of a login is not used before the password is checked."""
    make_researcher(session, "owner@example.org")
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0].upper())

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        assert attempt(client, "owner@example.org").status_code == 401
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    writes = [s for s in statements if s in ("UPDATE", "DELETE")]
    assert writes == []
    assert statements.count("INSERT") == 1  # the failure, counted once (two rows, one statement)
