"""Researchers' single-use links over real SMTP (aiosmtpd): a forgotten password, an invitation to a
study that creates the account; and the account page (password, address, sessions)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, select

from app.accounts import email_links
from app.accounts.models import AccountToken, Researcher, ResearcherSession, StudyMember
from app.db import make_engine, session_scope, utcnow
from app.mail import sender
from app.mail.models import OutboxMessage
from app.main import create_app
from tests.conftest import csrf_from, settings_for
from tests.factories import PASSWORD, make_researcher, make_study, page_login
from tests.mail.conftest import smtp_server  # noqa: F401 - the SMTP server fixture

NEW_PASSWORD = "a-brand-new-passphrase"


@pytest.fixture
def world(database, smtp_server):  # noqa: F811
    """A fresh database with Rita, owner of a study, and an app whose mail goes to the SMTP server."""
    url = database.fresh()
    engine = make_engine(url)
    settings = settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    with session_scope(engine) as session:
        rita = make_researcher(session)
        study_id = make_study(session, rita).id
    with browser(create_app(settings, engine=engine)) as client:
        yield client, engine, settings, smtp_server, study_id
    engine.dispose()


def browser(app, **headers: str) -> TestClient:  # type: ignore[no-untyped-def]
    """A client that reads the pages in English (the instance's default is French)."""
    return TestClient(app, headers={"Accept-Language": "en", **headers})


def login_csrf(html: str) -> str:
    return re.search(r'name="login_csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def delivered_link(engine, settings, inbox, address: str, path: str) -> str:  # type: ignore[no-untyped-def]
    sender.deliver_due(engine, settings)
    messages = inbox.to(address)
    assert messages, f"no e-mail reached {address}"
    body = messages[-1].get_body(("plain",)).get_content()
    found = re.search(rf"http://testserver({re.escape(path)}[A-Za-z0-9_-]+)", body)
    assert found, body
    return found.group(1)


def ask_reset(client: TestClient, email: str):  # type: ignore[no-untyped-def]
    form = client.get("/password/forgot")
    return client.post("/password/forgot", data={"email": email, "login_csrf": login_csrf(form.text)})


def test_a_forgotten_password_is_reset_through_a_single_use_link_that_ends_every_session(world):
    client, engine, settings, inbox, _ = world
    with browser(client.app) as other_browser:
        page_login(other_browser)  # a session that must not survive the reset
        known = ask_reset(client, "Rita@Example.org")
        unknown = ask_reset(client, "nobody@example.org")
        # the same answer whether or not the address has an account
        assert known.status_code == unknown.status_code == 200
        assert "If an account uses this address" in known.text and "If an account uses this address" in unknown.text
        path = delivered_link(engine, settings, inbox, "rita@example.org", "/password/reset/")
        assert inbox.to("nobody@example.org") == []
        token = path.rsplit("/", 1)[1]
        with Session(engine) as session:
            # the database keeps the token's hash, and the outbox a placeholder, never the link
            assert session.exec(select(AccountToken)).one().token_hash != token
            assert all(token not in m.body_text + m.body_html for m in session.exec(select(OutboxMessage)).all())

        form = client.get(path)
        assert form.status_code == 200 and "rita@example.org" in form.text
        assert form.headers["referrer-policy"] == "no-referrer" and form.headers["cache-control"] == "no-store"
        differ = client.post(
            path, data={"password": NEW_PASSWORD, "confirm": "something else", "login_csrf": login_csrf(form.text)}
        )
        assert differ.status_code == 400 and "The two passwords differ." in differ.text
        short = client.post(path, data={"password": "short", "confirm": "short", "login_csrf": login_csrf(form.text)})
        assert short.status_code == 400 and "at least 10 characters" in short.text
        done = client.post(
            path,
            data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "login_csrf": login_csrf(form.text)},
            follow_redirects=False,
        )
        assert done.status_code == 303 and done.headers["location"].startswith("/login?email=rita%40example.org")
        assert other_browser.get("/studies", follow_redirects=False).status_code == 303  # logged out
        again = client.get(path)
        assert again.status_code == 410 and "This link is not valid" in again.text  # single use
    page = client.get("/login")
    old = client.post(
        "/login", data={"email": "rita@example.org", "password": PASSWORD, "login_csrf": login_csrf(page.text)}
    )
    assert old.status_code == 401
    new = client.post(
        "/login", data={"email": "rita@example.org", "password": NEW_PASSWORD, "login_csrf": login_csrf(page.text)}
    )
    assert new.status_code == 200 and "Your studies" in new.text


def test_a_reset_link_expires_and_only_the_latest_one_works(world):
    client, engine, settings, inbox, _ = world
    ask_reset(client, "rita@example.org")
    first = delivered_link(engine, settings, inbox, "rita@example.org", "/password/reset/")
    ask_reset(client, "rita@example.org")
    second = delivered_link(engine, settings, inbox, "rita@example.org", "/password/reset/")
    assert first != second
    assert client.get(first).status_code == 410  # replaced by the newer link
    assert client.get(second).status_code == 200
    with session_scope(engine) as session:
        for token in session.exec(select(AccountToken)).all():
            token.expires_at = utcnow() - timedelta(seconds=1)
            session.add(token)
    expired = client.get(second)
    assert expired.status_code == 410 and "Ask for a new link" in expired.text
    assert client.get("/password/reset/not-a-token").status_code == 410


def test_reset_requests_are_limited_per_address_and_slowed_per_client(world):
    client, engine, settings, inbox, _ = world
    answers = [ask_reset(client, "rita@example.org").status_code for _ in range(5)]
    assert answers == [200] * 5  # the answer does not change...
    sender.deliver_due(engine, settings)
    assert len(inbox.to("rita@example.org")) == 3  # ...but at most three e-mails an hour reach the address
    # the requests count with the login failures of the address: the next ones wait
    throttled = ask_reset(client, "rita@example.org")
    assert throttled.status_code == 429 and "Wait" in throttled.text and "Retry-After" in throttled.headers
    # an unknown address is slowed down exactly the same way (the answer reveals nothing)
    for _ in range(5):
        ask_reset(client, "ghost@example.org")
    assert ask_reset(client, "ghost@example.org").status_code == 429


def test_the_reset_form_needs_its_form_token(world):
    client, *_ = world
    assert client.post("/password/forgot", data={"email": "rita@example.org"}).status_code == 403


def test_an_invitation_creates_the_account_and_the_membership_on_first_use(world):
    client, engine, settings, inbox, study_id = world
    csrf = page_login(client)
    settings_page = client.get(f"/studies/{study_id}/settings")
    invited = client.post(
        f"/studies/{study_id}/members",
        data={"csrf_token": csrf_from(settings_page.text), "email": "Noor@Example.org", "role": "editor"},
    )
    assert invited.status_code == 200 and "The invitation is in the outbox" in invited.text
    assert "noor@example.org" in invited.text and "invited" in invited.text
    path = delivered_link(engine, settings, inbox, "noor@example.org", "/invitation/")
    message = inbox.to("noor@example.org")[-1]
    assert "Social media and e-commerce" in message["Subject"]
    client.post("/logout", data={"csrf_token": csrf})

    with browser(client.app) as noor:
        form = noor.get(path)
        assert form.status_code == 200 and "noor@example.org" in form.text
        accepted = noor.post(
            path,
            data={
                "name": "Noor",
                "password": NEW_PASSWORD,
                "confirm": NEW_PASSWORD,
                "login_csrf": login_csrf(form.text),
            },
        )
        assert accepted.status_code == 200 and "Social media and e-commerce" in accepted.text  # logged in, listed
        assert noor.get(path).status_code == 410  # used
    with Session(engine) as session:
        account = session.exec(select(Researcher).where(Researcher.email == "noor@example.org")).one()
        assert account.name == "Noor" and not account.is_admin
        member = session.exec(select(StudyMember).where(StudyMember.researcher_id == account.id)).one()
        assert (member.study_id, member.role) == (study_id, "editor")


def test_an_existing_account_joins_at_once_and_a_withdrawn_invitation_stops_working(world):
    client, engine, settings, inbox, study_id = world
    with session_scope(engine) as session:
        make_researcher(session, "sam@example.org", "Sam")
    page_login(client)
    page = client.get(f"/studies/{study_id}/settings").text
    added = client.post(
        f"/studies/{study_id}/members",
        data={"csrf_token": csrf_from(page), "email": "sam@example.org", "role": "viewer"},
    )
    assert "Saved." in added.text and "invited" not in added.text.split('id="members"')[1].split("</table>")[0]
    client.post(
        f"/studies/{study_id}/members",
        data={"csrf_token": csrf_from(page), "email": "lea@example.org", "role": "owner"},
    )
    path = delivered_link(engine, settings, inbox, "lea@example.org", "/invitation/")
    assert inbox.to("sam@example.org") == []  # an existing account gets no invitation link
    with Session(engine) as session:
        token = session.exec(select(AccountToken).where(AccountToken.email == "lea@example.org")).one()
    page = client.get(f"/studies/{study_id}/settings").text
    client.post(f"/studies/{study_id}/invitations/{token.id}/withdraw", data={"csrf_token": csrf_from(page)})
    assert client.get(path).status_code == 410


def test_the_api_invites_an_address_without_an_account(world):
    client, engine, _settings, _inbox, study_id = world
    csrf = page_login(client)
    response = client.post(
        f"/api/studies/{study_id}/members",
        json={"email": "kai@example.org", "role": "viewer"},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 202 and response.json()["invited"] == "kai@example.org"
    with Session(engine) as session:
        message = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "researcher_invitation")).one()
        assert message.to_address == "kai@example.org" and message.study_id == study_id


def account_csrf(client: TestClient) -> str:
    return csrf_from(client.get("/account").text)


def test_a_new_password_ends_the_other_sessions_and_keeps_this_one(world):
    client, engine, *_ = world
    page_login(client)
    with browser(client.app, **{"User-Agent": "Firefox on the lab's PC"}) as lab:
        page_login(lab)
        page = client.get("/account").text
        assert "Firefox on the lab&#39;s PC" in page and "this browser" in page
        wrong = client.post(
            "/account/password",
            data={
                "csrf_token": csrf_from(page),
                "current": "not-it",
                "password": NEW_PASSWORD,
                "confirm": NEW_PASSWORD,
            },
        )
        assert wrong.status_code == 400 and "This is not your current password." in wrong.text
        assert lab.get("/studies", follow_redirects=False).status_code == 200  # nothing changed
        changed = client.post(
            "/account/password",
            data={
                "csrf_token": csrf_from(page),
                "current": PASSWORD,
                "password": NEW_PASSWORD,
                "confirm": NEW_PASSWORD,
            },
        )
        assert changed.status_code == 200 and "your other sessions have ended" in changed.text
        assert lab.get("/studies", follow_redirects=False).status_code == 303
    assert client.get("/studies", follow_redirects=False).status_code == 200
    with Session(engine) as session:
        assert len(session.exec(select(ResearcherSession)).all()) == 1


def test_a_new_address_takes_effect_once_its_owner_opens_the_link_sent_to_it(world):
    client, engine, settings, inbox, _ = world
    with session_scope(engine) as session:
        make_researcher(session, "sam@example.org", "Sam")
    page_login(client)
    ask_reset(client, "rita@example.org")  # a reset link sent to the old address...
    old_reset = delivered_link(engine, settings, inbox, "rita@example.org", "/password/reset/")
    with browser(client.app) as other:
        page_login(other)
        taken = client.post(
            "/account/email", data={"csrf_token": account_csrf(client), "current": PASSWORD, "email": "sam@example.org"}
        )
        assert taken.status_code == 409 and "already exists" in taken.text
        wrong = client.post(
            "/account/email",
            data={"csrf_token": account_csrf(client), "current": "not-it", "email": "rita@uni.example"},
        )
        assert wrong.status_code == 400 and "This is not your current password." in wrong.text
        asked = client.post(
            "/account/email",
            data={"csrf_token": account_csrf(client), "current": PASSWORD, "email": "rita@uni.example"},
        )
        assert asked.status_code == 200 and "A link is on its way to the new address" in asked.text
        with Session(engine) as session:  # nothing changed yet: claiming an address is not owning it
            assert session.exec(select(Researcher).where(Researcher.email == "rita@example.org")).one()
        assert other.get("/studies", follow_redirects=False).status_code == 200
        path = delivered_link(engine, settings, inbox, "rita@uni.example", "/account/email/")
        page = client.get(path)
        assert page.status_code == 200 and "rita@uni.example" in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        done = client.post(path, data={"login_csrf": login_csrf(page.text)}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"].startswith("/account")
        assert other.get("/studies", follow_redirects=False).status_code == 303  # the other session ended
        assert client.get("/studies", follow_redirects=False).status_code == 200  # this one goes on
        assert client.post(path, data={"login_csrf": login_csrf(page.text)}).status_code == 410  # once
    with Session(engine) as session:
        assert session.exec(select(Researcher).where(Researcher.email == "rita@uni.example")).one()
    sender.deliver_due(engine, settings)
    told = inbox.to("rita@example.org")[-1]
    assert "rita@uni.example" in told.get_body(("plain",)).get_content()  # the old address is told
    assert client.get(old_reset).status_code == 410  # and its reset link no longer works


def test_a_reset_e_mail_still_goes_out_after_old_links_are_forgotten(world):
    client, engine, settings, inbox, _ = world
    ask_reset(client, "rita@example.org")
    sender.deliver_due(engine, settings)
    with session_scope(engine) as session:  # the worker forgets links spent over a day ago
        for token in session.exec(select(AccountToken)).all():
            token.expires_at = utcnow() - timedelta(days=2)
            session.add(token)
        session.flush()
        assert email_links.forget_spent_tokens(session) == 1
    ask_reset(client, "rita@example.org")
    sender.deliver_due(engine, settings)
    assert len(inbox.to("rita@example.org")) == 2  # (an id used again must not look like a repeat)


def test_log_out_everywhere_else_then_everywhere(world):
    client, *_ = world
    page_login(client)
    with browser(client.app) as other:
        page_login(other)
        client.post("/account/sessions/end-others", data={"csrf_token": account_csrf(client)})
        assert other.get("/studies", follow_redirects=False).status_code == 303
        assert client.get("/studies", follow_redirects=False).status_code == 200
        out = client.post(
            "/account/sessions/end-all", data={"csrf_token": account_csrf(client)}, follow_redirects=False
        )
        assert out.headers["location"] == "/login"
        assert client.get("/studies", follow_redirects=False).status_code == 303


def test_the_administrator_lists_and_deactivates_accounts(world):
    client, engine, *_ = world
    with session_scope(engine) as session:
        make_researcher(session, "sam@example.org", "Sam")
        session.execute(text("UPDATE researcher SET is_admin = (email = 'rita@example.org')"))
    with browser(client.app) as sam:
        page_login(sam, "sam@example.org")
        assert sam.get("/admin/researchers").status_code == 404  # not an administrator
        page_login(client)
        page = client.get("/admin/researchers").text
        assert "sam@example.org" in page and "administrator" in page
        with Session(engine) as session:
            sam_id = session.exec(select(Researcher.id).where(Researcher.email == "sam@example.org")).one()
            rita_id = session.exec(select(Researcher.id).where(Researcher.email == "rita@example.org")).one()
        refused = client.post(f"/admin/researchers/{rita_id}/deactivate", data={"csrf_token": csrf_from(page)})
        assert refused.status_code == 409
        done = client.post(f"/admin/researchers/{sam_id}/deactivate", data={"csrf_token": csrf_from(page)})
        assert "deactivated" in done.text
        assert sam.get("/studies", follow_redirects=False).status_code == 303  # its session ended
        form = sam.get("/login")
        assert (
            sam.post(
                "/login", data={"email": "sam@example.org", "password": PASSWORD, "login_csrf": login_csrf(form.text)}
            ).status_code
            == 401
        )
        client.post(f"/admin/researchers/{sam_id}/activate", data={"csrf_token": csrf_from(page)})
        page_login(sam, "sam@example.org")
