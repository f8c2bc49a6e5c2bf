"""Researcher accounts: Argon2id, server-side sessions (rotation, time-outs), CSRF, login pages."""

import re
from datetime import timedelta

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from app.accounts import service
from app.accounts.models import Researcher, ResearcherSession
from app.cli import cli
from app.errors import Conflict, InvalidInput, NotAuthenticated
from app.security import hash_token
from tests.factories import PASSWORD, login, make_researcher


def test_passwords_are_argon2id_and_verified(session):
    researcher = service.create_researcher(session, "Ana@Example.org", "long-enough-password", "Ana")
    assert researcher.email == "ana@example.org"
    assert researcher.password_hash.startswith("$argon2id$")
    assert service.authenticate(session, "ana@example.org", "long-enough-password").id == researcher.id
    with pytest.raises(NotAuthenticated) as wrong_password:
        service.authenticate(session, "ana@example.org", "wrong-password-here")
    with pytest.raises(NotAuthenticated) as unknown_user:
        service.authenticate(session, "nobody@example.org", "long-enough-password")
    assert wrong_password.value.detail == unknown_user.value.detail  # does not tell which part was wrong


@pytest.mark.parametrize(
    ("email", "password", "error"),
    [
        ("not-an-email", "long-enough-password", InvalidInput),
        ("a@example.org", "short", InvalidInput),
    ],
)
def test_bad_accounts_are_refused(session, email, password, error):
    with pytest.raises(error):
        service.create_researcher(session, email, password)


def test_duplicate_email_is_a_conflict(session):
    service.create_researcher(session, "dup@example.org", "long-enough-password")
    with pytest.raises(Conflict):
        service.create_researcher(session, "DUP@example.org", "long-enough-password")


def test_sessions_rotate_and_time_out(session, settings):
    researcher = make_researcher(session)
    first = service.start_session(session, researcher, settings)
    second = service.start_session(session, researcher, settings, previous_cookie=first.cookie_value)
    assert service.resolve_session(session, first.cookie_value, settings) is None  # rotated at login
    assert service.resolve_session(session, second.cookie_value, settings)[0].id == researcher.id
    row = session.get(ResearcherSession, hash_token(second.cookie_value))
    row.last_seen_at -= timedelta(minutes=settings.session_idle_minutes + 1)
    session.add(row)
    assert service.resolve_session(session, second.cookie_value, settings) is None  # idle time-out
    third = service.start_session(session, researcher, settings)
    row = session.get(ResearcherSession, hash_token(third.cookie_value))
    row.expires_at = row.created_at  # absolute time-out
    session.add(row)
    assert service.resolve_session(session, third.cookie_value, settings) is None
    assert (
        session.exec(select(ResearcherSession).where(ResearcherSession.id_hash == third.cookie_value)).first() is None
    )


def test_login_page_logs_in_with_a_secure_cookie_and_logs_out(client, session):
    make_researcher(session)
    page = client.get("/login")
    assert page.status_code == 200 and "password" in page.text
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)
    bad = client.post("/login", data={"email": "rita@example.org", "password": "nope-nope-nope", "login_csrf": token})
    assert bad.status_code == 401 and "rita@example.org" in bad.text  # the form keeps what was typed
    response = client.post(
        "/login",
        data={"email": "rita@example.org", "password": PASSWORD, "login_csrf": token, "next": "/studies"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/studies"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    studies = client.get("/studies")
    assert studies.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', studies.text).group(1)
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/studies", follow_redirects=False).status_code == 303  # back to login


def test_login_redirect_never_leaves_the_site(client, session):
    make_researcher(session)
    token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post(
        "/login",
        data={"email": "rita@example.org", "password": PASSWORD, "login_csrf": token, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_login_without_the_form_token_is_refused(client, session):
    make_researcher(session)
    response = client.post("/login", data={"email": "rita@example.org", "password": PASSWORD})
    assert response.status_code == 403


def test_unsafe_requests_need_the_csrf_token_and_our_origin(client, session):
    make_researcher(session)
    token = login(client)
    assert client.post("/api/studies", json={"title": "A study"}).status_code == 201
    del client.headers["X-CSRF-Token"]
    assert client.post("/api/studies", json={"title": "A study"}).status_code == 403
    assert client.post("/api/studies", json={"title": "A study"}, headers={"X-CSRF-Token": "forged"}).status_code == 403
    foreign = client.post(
        "/api/studies", json={"title": "A study"}, headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    cross = client.post(
        "/api/studies", json={"title": "A study"}, headers={"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"}
    )
    assert cross.status_code == 403


def test_api_needs_a_login(client):
    response = client.get("/api/studies")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_cli_creates_a_researcher_from_stdin(database, monkeypatch):
    url = database.fresh()
    monkeypatch.setenv("DELPHI_DATABASE_URL", url)
    result = CliRunner().invoke(
        cli, ["researcher", "create", "cli@example.org", "--password-stdin"], input="a-long-password-1\n"
    )
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(
        cli, ["researcher", "create", "cli@example.org", "--password-stdin"], input="a-long-password-1\n"
    )
    assert again.exit_code == 1 and "already exists" in again.output
    from sqlmodel import Session

    from app.db import make_engine

    engine = make_engine(url)
    with Session(engine) as s:
        assert (
            s.exec(select(Researcher).where(Researcher.email == "cli@example.org"))
            .one()
            .password_hash.startswith("$argon2id$")
        )
    engine.dispose()


def test_the_first_account_administers_the_instance_and_the_cli_manages_accounts(database, monkeypatch):
    url = database.fresh()
    monkeypatch.setenv("DELPHI_DATABASE_URL", url)

    def run(*args: str, password: str = "a-long-password-1"):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(cli, ["researcher", *args], input=password + "\n")

    first = run("create", "first@example.org", "--password-stdin")
    assert first.exit_code == 0 and "(administrator)" in first.output
    second = run("create", "second@example.org", "--password-stdin")
    assert second.exit_code == 0 and "(administrator)" not in second.output
    third = run("create", "third@example.org", "--password-stdin", "--admin")
    assert "(administrator)" in third.output
    listed = run("list").output.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["first@example.org", "second@example.org", "third@example.org"]
    assert listed[1].endswith("active") and listed[2].endswith("active, administrator")
    assert run("deactivate", "second@example.org").exit_code == 0
    assert run("list").output.splitlines()[1].endswith("deactivated")
    assert run("deactivate", "nobody@example.org").exit_code == 1
    from sqlmodel import Session

    from app.db import make_engine

    engine = make_engine(url)
    with Session(engine) as s, pytest.raises(NotAuthenticated):  # a deactivated account cannot log in
        service.authenticate(s, "second@example.org", "a-long-password-1")
    engine.dispose()
    assert run("activate", "second@example.org").exit_code == 0
    assert run("admin", "second@example.org").exit_code == 0
    assert run("list").output.splitlines()[1].endswith("active, administrator")
    assert run("admin", "second@example.org", "--revoke").exit_code == 0
    assert run("list").output.splitlines()[1].endswith("active")


def test_the_demo_account_never_administers_and_the_first_real_account_does(database, monkeypatch):
    url = database.fresh()
    monkeypatch.setenv("DELPHI_DATABASE_URL", url)
    assert CliRunner().invoke(cli, ["demo"]).exit_code == 0
    created = CliRunner().invoke(
        cli, ["researcher", "create", "me@example.org", "--password-stdin"], input="a-long-password-1\n"
    )
    assert "(administrator)" in created.output  # the demo's account (published password) is not one
    listed = CliRunner().invoke(cli, ["researcher", "list"]).output
    assert (
        "demo@example.org" in listed
        and "demo@example.org\tDemo researcher\tstudies: 1\tlast activity: -\tactive\n" in listed
    )


def test_an_administrator_turns_off_a_lost_second_factor_from_the_command_line(database, monkeypatch):
    url = database.fresh()
    monkeypatch.setenv("DELPHI_DATABASE_URL", url)
    from sqlmodel import Session

    from app.db import make_engine, session_scope

    engine = make_engine(url)
    with session_scope(engine) as s:
        researcher = make_researcher(s)
        researcher.totp_secret, researcher.totp_enabled_at, researcher.recovery_codes = (
            "A" * 32,
            researcher.created_at,
            ["x"],
        )
        s.add(researcher)
    result = CliRunner().invoke(cli, ["researcher", "reset-two-factor", "rita@example.org"])
    assert result.exit_code == 0, result.output
    with Session(engine) as s:
        again = s.exec(select(Researcher)).one()
        assert again.totp_secret is None and again.totp_enabled_at is None and again.recovery_codes == []
    engine.dispose()


def test_a_value_the_database_refuses_is_a_clear_400_and_stores_nothing(client, session, database):
    """PostgreSQL refuses NUL characters in text; that is the sender's mistake, never a 500."""
    make_researcher(session)
    login(client)
    before = client.get("/api/studies").json()
    # (a title with a NUL is refused before that: titles are one line without control characters)
    assert client.post("/api/studies", json={"title": "Social\x00media"}).status_code == 422
    response = client.post("/api/studies", json={"title": "Social media", "question": "What\x00 matters?"})
    if database.backend == "postgres":
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_value"
        assert "NUL" in response.json()["detail"]
        assert client.get("/api/studies").json() == before
    else:
        assert response.status_code == 201
    assert client.post("/api/auth/login", json={"email": "\x00", "password": "x"}).status_code in (400, 401)
