"""The rules of ../shared/SECURITY.md, one test (at least) per rule that is not tested elsewhere.

Elsewhere: GET/HEAD on one link (rounds/test_expert_pages), rate limit per client and the generic
page (ibid.), sessions, Argon2id and CSRF (accounts/test_accounts), deny by default on every route
(studies/test_pages_and_api), upserts, history and idempotent submit (rounds/test_answers), the
report's URL fetcher and time limit (reports/), formula neutralisation (reports/test_exports_and_jobs).
"""

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from app.db import make_engine
from app.mail.models import OutboxMessage
from app.panel import service as panel
from app.panel.models import Expert
from app.rounds import answers, service
from app.rounds.answers import AnswerIn
from app.rounds.models import Answer, Invitation, LinkFailure
from app.rounds.ratelimit import FailureLimiter, forget_old_failures
from app.security import LINK_TOKEN_BYTES, hash_token
from tests.conftest import TEST_SECRET, app_in_test_transaction, csrf_from
from tests.factories import add_member, login, mailer_for, make_panel_study, make_researcher, make_study, page_login
from tests.rounds.helpers import invited, open_round

LINK = re.compile(r"http://testserver/e/([A-Za-z0-9_-]+)")


def delivered(message: OutboxMessage) -> str:
    """A message's text as it goes out: the outbox itself stores no working link."""
    from app.mail.service import with_personal_link

    return with_personal_link(message.body_text, message, TEST_SECRET)


# 1. link tokens: 256 bits, URL-safe, only their SHA-256 stored and looked up
def test_link_tokens_are_long_random_and_stored_only_as_a_hash(session, settings):
    study = make_panel_study(session, experts=20, items=1)
    round_ = open_round(session, study, settings)
    messages = session.exec(select(OutboxMessage)).all()
    tokens = [LINK.search(delivered(m)).group(1) for m in messages]
    assert len(set(tokens)) == 20 and LINK_TOKEN_BYTES == 32
    stored = " ".join(m.body_text + m.body_html for m in messages)
    assert not any(t in stored for t in tokens)  # the outbox keeps no working link
    assert all(len(t) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens)
    experts = invited(session, round_)
    stored = " ".join(str(e.model_dump()) for e in experts)
    assert not any(t in stored for t in tokens)
    assert {e.link_token_hash for e in experts} == {hash_token(t) for t in tokens}
    columns = session.exec(text("SELECT * FROM expert")).all()  # type: ignore[call-overload]
    assert not any(t in str(columns) for t in tokens)


# 2. a mail scanner opening every link with HEAD and GET changes nothing
def test_opening_every_link_changes_nothing(client, session, settings):
    study = make_panel_study(session, experts=6, items=2, language="en")
    round_ = open_round(session, study, settings)

    def snapshot():
        session.expire_all()
        return (
            [
                (i.expert_id, i.opened_at, i.started_at, i.submitted_at)
                for i in session.exec(select(Invitation).order_by(Invitation.id)).all()
            ],
            [(e.id, e.consent_at, e.status, e.link_token_hash) for e in session.exec(select(Expert)).all()],
            session.exec(select(Answer)).all(),
        )

    before = snapshot()
    for message in session.exec(select(OutboxMessage).where(OutboxMessage.round_id == round_.id)).all():
        url = LINK.search(delivered(message)).group(0).replace("http://testserver", "")
        assert client.head(url).status_code == 200
        assert client.get(url).status_code == 200
    assert snapshot() == before


# 3. links stay valid across rounds and can be re-issued
def test_the_same_link_serves_the_next_round_and_a_reissued_one_replaces_it(session, settings):
    study = make_panel_study(session, experts=3, items=2)
    study.retire_consensual = False
    round1 = open_round(session, study, settings)
    expert = invited(session, round1)[0]
    first = panel.current_link(session, expert, settings.secret_key)
    service.close_round(session, study, round1, None)
    open_round(session, study, settings)
    assert panel.current_link(session, expert, settings.secret_key) == first
    bodies = [delivered(m) for m in session.exec(select(OutboxMessage).where(OutboxMessage.expert_id == expert.id))]
    assert len(bodies) == 2 and all(first in b for b in bodies)
    researcher = make_researcher(session, "x@example.org")
    new = service.reissue_link(session, study, expert, researcher, mailer_for(settings))
    assert new != first and service.link_holder(session, first) is None


# 4. links are built from the configured base URL, never from the Host header
def test_links_in_mail_ignore_the_host_header(client, session):
    researcher = make_researcher(session)
    study = make_panel_study(session, researcher, experts=2, items=1)
    login(client)
    client.post(f"/api/studies/{study.id}/rounds", json={})
    response = client.post(f"/api/studies/{study.id}/rounds/1/open", headers={"Host": "evil.example"})
    assert response.status_code == 200
    bodies = [m.body_text + m.body_html for m in session.exec(select(OutboxMessage)).all()]
    assert bodies and all("http://testserver/e/" in b and "evil.example" not in b for b in bodies)


# 5. failed look-ups are limited per client and overall, apart from researcher login
def test_failure_limits_per_client_and_overall(session):
    start = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    now = [start]
    limiter = FailureLimiter(
        lambda: nullcontext(session), TEST_SECRET, per_client=3, overall=5, window=60, clock=lambda: now[0]
    )
    for _ in range(3):
        assert not limiter.blocked("a")
        limiter.record_failure("a")
    assert limiter.blocked("a") and not limiter.blocked("b")
    limiter.record_failure("b")
    limiter.record_failure("c")
    assert limiter.blocked("d")  # the overall cap
    now[0] = start + timedelta(seconds=61)
    assert not limiter.blocked("a") and not limiter.blocked("d")  # the window has passed
    limiter.record_failure("a")
    assert not limiter.blocked("a")  # its old failures no longer count
    stored = {f.client_hash for f in session.exec(select(LinkFailure)).all()}
    assert stored == {limiter.client_hash(c) for c in "abc"} and limiter.client_hash("a") != hash_token("a")
    assert forget_old_failures(session, now[0]) == 5 and len(session.exec(select(LinkFailure)).all()) == 1


def test_a_failure_that_cannot_be_counted_still_gets_the_same_page(client, app, caplog):
    @contextmanager
    def database_refuses() -> Iterator[Session]:
        raise OperationalError("INSERT INTO link_failure ...", {}, Exception("database is locked"))
        yield  # a generator, as a context manager needs

    app.state.link_limiter = FailureLimiter(database_refuses, TEST_SECRET, per_client=10, overall=300)
    expected = client.get("/e/short")  # not even looked up
    response = client.get(f"/e/{secrets.token_urlsafe(32)}")
    assert response.status_code == 404 and response.text == expected.text
    assert "could not be counted" in caplog.text


def test_servers_count_failed_look_ups_together(app, database, settings, transaction_sessions):
    """Two app servers on one database: the failures seen by one count on the other."""
    other = app_in_test_transaction(settings, database, transaction_sessions)
    limit = settings.link_failures_per_minute
    with TestClient(app) as first, TestClient(other) as second:
        codes = [first.get(f"/e/{secrets.token_urlsafe(32)}").status_code for _ in range(limit // 2)]
        codes += [second.get(f"/e/{secrets.token_urlsafe(32)}").status_code for _ in range(limit - limit // 2)]
        assert set(codes) == {404}
        # the second server saw fewer failures than the limit itself, but refuses the client now
        assert second.get(f"/e/{secrets.token_urlsafe(32)}").status_code == 429
        # the first learns of it at the client's next failure there, and refuses after that
        assert first.get(f"/e/{secrets.token_urlsafe(32)}").status_code == 404
        assert first.get(f"/e/{secrets.token_urlsafe(32)}").status_code == 429


def test_failed_logins_do_not_block_expert_links(client, session, settings):
    make_researcher(session)
    for _ in range(settings.link_failures_per_minute + 2):
        client.post("/api/auth/login", json={"email": "rita@example.org", "password": "wrong-password-x"})
    study = make_panel_study(session, experts=1, items=1)
    round_ = open_round(session, study, settings)
    token = panel.current_link(session, invited(session, round_)[0], TEST_SECRET)
    assert client.get(f"/e/{token}").status_code == 200


# 6. the session cookie is Secure when the site is served over TLS
def test_secure_cookie_when_configured(database, session):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.conftest import settings_for
    from tests.factories import PASSWORD

    make_researcher(session)
    app = create_app(settings_for(database.url, cookie_secure=True), engine=database.engine, run_sender=False)
    from app.dependencies import get_read_session, get_session

    app.dependency_overrides[get_session] = lambda: (yield session)
    app.dependency_overrides[get_read_session] = lambda: (yield session)
    with TestClient(app) as client:
        response = client.post("/api/auth/login", json={"email": "rita@example.org", "password": PASSWORD})
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


# 7. every form needs its CSRF token
def test_every_form_post_without_its_token_is_refused(app, client, session):
    from app.main import ROUTERS

    researcher = make_researcher(session)
    study = make_panel_study(session, researcher, experts=2, items=1)
    page_login(client)
    posts = [
        route.path
        for router in ROUTERS
        for route in router.routes
        if "POST" in getattr(route, "methods", set()) and not route.path.startswith(("/api", "/e/", "/login"))
    ]
    assert len(posts) > 15
    for path in posts:
        url = re.sub(r"\{[a-z_]+\}", "1", path).replace("/studies/1", f"/studies/{study.id}")
        response = client.post(url, data={"title": "x"})
        assert response.status_code == 403, (path, response.status_code)


# 8. two researchers, two studies: each sees only their own
def test_authorisation_matrix(client, session):
    ana, ben = make_researcher(session, "ana@example.org"), make_researcher(session, "ben@example.org")
    study_a, study_b = make_study(session, ana, title="Ana's study"), make_study(session, ben, title="Ben's study")
    viewer_c = make_researcher(session, "cy@example.org")
    add_member(session, study_b, viewer_c, "viewer")
    expected = {
        ("ana@example.org", study_a.id): 200,
        ("ana@example.org", study_b.id): 404,
        ("ben@example.org", study_a.id): 404,
        ("ben@example.org", study_b.id): 200,
        ("cy@example.org", study_a.id): 404,
        ("cy@example.org", study_b.id): 200,
    }
    for (email, study_id), status in expected.items():
        client.cookies.clear()
        login(client, email)
        assert client.get(f"/api/studies/{study_id}").status_code == status, (email, study_id)
        listed = {s["id"] for s in client.get("/api/studies").json()}
        assert (study_id in listed) == (status == 200)
        edit = client.patch(f"/api/studies/{study_id}", json={"title": "Renamed by " + email})
        assert edit.status_code == (
            200 if status == 200 and email != "cy@example.org" else 403 if status == 200 else 404
        )


# 13. SQLite runs with WAL, a busy timeout and foreign keys on every connection
def test_sqlite_pragmas(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    engine.dispose()


# 14. experts never see another expert's identity (pages, e-mails)
def test_nothing_meant_for_experts_names_another_expert(client, session, settings):
    study = make_panel_study(session, experts=5, items=2, language="en")
    study.feedback = {**study.feedback, "by_group": True, "reasons": True}
    study.retire_consensual = False
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    items = answers.round_items(session, round1.id)
    for k, expert in enumerate(experts):
        answers.save_answers(
            session, study, round1, expert, {i.id: AnswerIn(value=3 + k, reason=f"Reason number {k}") for i in items}
        )
    service.close_round(session, study, round1, None)
    open_round(session, study, settings)
    me = experts[0]
    token = panel.current_link(session, me, TEST_SECRET)
    page = client.get(f"/e/{token}").text
    csrf = csrf_from(page)
    client.post(f"/e/{token}/consent", data={"csrf_token": csrf, "consent": "1"})
    page = client.get(f"/e/{token}").text
    assert "Group median" in page
    mail = " ".join(
        m.body_text + m.body_html for m in session.exec(select(OutboxMessage).where(OutboxMessage.expert_id == me.id))
    )
    assert "Reason number 1" in page  # others' reasons are shown, without who gave them
    for other in experts[1:]:
        for leak in (other.email, other.pseudonym, other.name):
            assert leak not in page and leak not in mail, leak


# 16. user text is escaped in pages, e-mails and reports
def test_user_text_is_escaped_everywhere(client, session, settings):
    from app.reports.service import render_html

    evil = "<script>alert(1)</script>"
    researcher = make_researcher(session)
    study = make_panel_study(session, researcher, experts=2, items=1, title=f"Study {evil}", language="en")
    expert = session.exec(select(Expert).where(Expert.study_id == study.id)).first()
    expert.name = f"Eve {evil}"
    session.add(expert)
    round_ = open_round(session, study, settings)
    message = session.exec(select(OutboxMessage).where(OutboxMessage.expert_id == expert.id)).one()
    assert evil not in message.body_html and "&lt;script&gt;" in message.body_html
    page_login(client)
    for url in (f"/studies/{study.id}", f"/studies/{study.id}/panel", f"/studies/{study.id}/mailbox"):
        body = client.get(url).text
        assert evil not in body and "&lt;script&gt;" in body, url
    token = panel.current_link(session, expert, TEST_SECRET)
    assert evil not in client.get(f"/e/{token}").text
    service.close_round(session, study, round_, None)
    assert evil not in render_html(session, study.id, "en")


def test_security_headers_on_researcher_pages(client):
    response = client.get("/login")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    assert response.headers["x-content-type-options"] == "nosniff" and response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/static/js/autosave.js", "/static/css/app.css"])
def test_only_local_assets(client, path):
    assert client.get(path).status_code == 200
    for template in ("base.html", "expert/form.html"):
        from app.templating import TEMPLATES_DIR

        source = (TEMPLATES_DIR / template).read_text()
        assert "http://" not in source and "https://" not in source and "//cdn" not in source


@pytest.mark.parametrize(
    ("overrides", "secure"),
    [
        ({}, False),
        ({"environment": "production"}, True),
        ({"base_url": "https://delphi.example.org"}, True),
        ({"environment": "production", "cookie_secure": False}, False),  # said so: behind a TLS-less test proxy
    ],
)
def test_session_cookies_are_secure_by_default_in_production_or_on_https(overrides, secure):
    from tests.conftest import settings_for

    assert settings_for("sqlite:///x.db", **overrides).secure_cookies is secure


def test_an_oversized_body_is_refused_before_it_is_read(client):
    """A 300 MB anonymous POST to the login added 0.9 GB of memory: now a 413, read no further."""
    huge = b"x" * 1_200_000
    declared = client.post("/api/auth/login", content=huge, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and "too large (more than 1 MB)" in declared.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b"y" * 50_000

    chunked = client.post("/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413
    page = client.post("/login", content=huge, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert page.status_code == 413 and "too large" in page.text and "<html" in page.text


def test_uploads_have_a_larger_limit_than_other_requests(client, session):
    from tests.factories import login, make_study

    researcher = make_researcher(session)
    study = make_study(session, researcher)
    login(client)
    line = b"Someone,someone@example.org," + b"n" * 40 + b"\n"
    two_mb = b"name,email,notes\n" + line * 20_001  # over the usual limit, under the upload limit
    assert 1_000_000 < len(two_mb) < 2_000_000
    response = client.post(f"/api/studies/{study.id}/experts/import", files={"file": ("panel.csv", two_mb, "text/csv")})
    assert response.status_code == 400 and "already on line" in response.text  # read, and checked
    too_big = client.post(
        f"/api/studies/{study.id}/experts/import", files={"file": ("panel.csv", b"x" * 3_100_000, "text/csv")}
    )
    assert too_big.status_code == 413 and "more than 3 MB" in too_big.json()["detail"]


def test_link_paths_are_masked_in_every_log_line(client):
    import logging

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep, loggers = Keep(), [logging.getLogger("delphi.test"), logging.getLogger("uvicorn.access")]
    for logger in loggers:
        logger.addHandler(keep)
        logger.setLevel(logging.INFO)
    try:
        token = "A" * 43
        loggers[0].warning("unexpected error on GET /e/%s/answers", token)  # the link in an argument
        loggers[1].info('%s - "%s %s HTTP/%s" %d', "127.0.0.1", "GET", f"/e/{token}", "1.1", 200)  # uvicorn's
        loggers[0].error(f"failed on /e/{token}")  # the link in the message
    finally:
        for logger in loggers:
            logger.removeHandler(keep)
    assert len(lines) == 3 and all("/e/…" in line and token not in line for line in lines), lines
