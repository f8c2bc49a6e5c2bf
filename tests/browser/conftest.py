"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser) against the
app served by uvicorn on a loopback port, with a real SMTP server capturing the e-mails."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from aiosmtpd.controller import Controller

from app.accounts import service as accounts
from app.db import make_engine, session_scope
from app.main import create_app
from tests.conftest import Database, settings_for
from tests.factories import PASSWORD
from tests.mail.conftest import Inbox

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent.parent / "artifacts"
NO_BROWSER = f"{CHROMIUM} is missing: the browser tests did not run (apt-get install chromium)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("DELPHI_TEST_REQUIRE_BROWSER"):
            pytest.fail(NO_BROWSER + " (required here: DELPHI_TEST_REQUIRE_BROWSER is set)")
        pytest.skip(NO_BROWSER)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-sync",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        yield browser
        browser.close()


class LiveApp:
    def __init__(self, url: str, base: str, engine, inbox: Inbox):  # type: ignore[no-untyped-def]
        self.url, self.base, self.engine, self.inbox = url, base, engine, inbox

    def wait_for_mail(self, count: int, timeout: float = 30) -> list:  # type: ignore[type-arg]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.inbox.messages) >= count:
                return self.inbox.messages
            time.sleep(0.1)
        raise AssertionError(f"{len(self.inbox.messages)} e-mails arrived, expected {count}")


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory):
    """The browser tests run once, on SQLite; the same pages run on both databases in the HTTP tests."""
    db = Database("sqlite", tmp_path_factory.mktemp("browser"))
    yield db
    db.close()


@pytest.fixture
def live_app(sqlite_database):
    url = sqlite_database.fresh()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    port = _free_port()
    settings = settings_for(
        url,
        base_url=f"http://127.0.0.1:{port}",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        worker_interval_seconds=0.2,
    )
    engine = make_engine(url)
    with session_scope(engine) as session:
        accounts.create_researcher(session, "rita@example.org", PASSWORD, "Rita")
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine=engine, run_sender=True),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    ARTIFACTS.mkdir(exist_ok=True)
    yield LiveApp(url, f"http://127.0.0.1:{port}", engine, inbox)
    server.should_exit = True
    thread.join(timeout=10)
    smtp.stop()
    engine.dispose()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, base: str, email: str = "rita@example.org") -> None:  # type: ignore[no-untyped-def]
    """Log in through the login page, as a researcher does, and wait for the studies list."""
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/studies")
