"""Optional two-factor authentication (TOTP): turned on with a right code, asked after the password,
each code once, recovery codes once each, wrong codes throttled, and studies that require it."""

from __future__ import annotations

import re
import time

import pyotp
from fastapi.testclient import TestClient
from sqlmodel import select

from app.accounts import two_factor
from app.accounts.models import Researcher
from tests.conftest import csrf_from
from tests.factories import PASSWORD, add_member, make_researcher, make_study, page_login


def login_csrf(html: str) -> str:
    return re.search(r'name="login_csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def turn_on(client) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """Through the account pages, as a person does; returns the secret and the recovery codes."""
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and "<svg" in page.text  # the QR code to scan
    secret = re.search(r'name="secret" value="([A-Z2-7]{32})"', page.text).group(1)  # type: ignore[union-attr]
    csrf = csrf_from(page.text)
    no_password = client.post(
        "/account/two-factor",
        data={"csrf_token": csrf, "secret": secret, "code": pyotp.TOTP(secret).now(), "current": "not-it"},
    )
    assert no_password.status_code == 400 and "This is not your current password." in no_password.text
    wrong = client.post(
        "/account/two-factor", data={"csrf_token": csrf, "secret": secret, "code": "000000", "current": PASSWORD}
    )
    assert wrong.status_code == 400 and "This code is not right" in wrong.text
    for odd in ({"secret": "", "code": "123456"}, {"secret": secret, "code": "١٢٣٤٥٦"}):  # never a 500
        assert (
            client.post("/account/two-factor", data={"csrf_token": csrf, "current": PASSWORD, **odd}).status_code == 400
        )
    done = client.post(
        "/account/two-factor",
        data={"csrf_token": csrf, "secret": secret, "code": pyotp.TOTP(secret).now(), "current": PASSWORD},
    )
    assert done.status_code == 200
    codes = re.findall(r"<code>([0-9a-f]{6}-[0-9a-f]{6})</code>", done.text)
    assert len(codes) == 10
    return secret, codes


def password_step(client, email: str = "rita@example.org"):  # type: ignore[no-untyped-def]
    form = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "login_csrf": login_csrf(form.text), "next": "/studies"},
        follow_redirects=False,
    )


def code_step(client, code: str):  # type: ignore[no-untyped-def]
    form = client.get("/login/two-factor?next=/studies")
    return client.post(
        "/login/two-factor",
        data={"code": code, "login_csrf": login_csrf(form.text), "next": "/studies"},
        follow_redirects=False,
    )


def logout(client) -> None:  # type: ignore[no-untyped-def]
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").text)})


def next_code(secret: str) -> str:
    """The code of the next 30-second step (accepted: clocks drift), so that tests need not wait."""
    return pyotp.TOTP(secret).at(time.time() + two_factor.STEP_SECONDS)


def test_two_factor_is_asked_after_the_password_and_each_code_works_once(client, session):
    make_researcher(session)
    client.cookies.set("delphi_lang", "en")
    page_login(client)
    secret, recovery = turn_on(client)
    assert "10 recovery codes left" in client.get("/account").text
    logout(client)

    first = password_step(client)
    assert first.status_code == 303 and first.headers["location"].startswith("/login/two-factor")
    assert client.get("/studies", follow_redirects=False).status_code == 303  # not logged in yet
    wrong = code_step(client, "123456")
    assert wrong.status_code == 400 and "This code is not right" in wrong.text
    assert code_step(client, "١٢٣٤٥٦").status_code == 400  # digits of another script: refused, not a 500
    code = next_code(secret)  # (the current step's code turned it on: it cannot log in again)
    right = code_step(client, code)
    assert right.status_code == 303 and right.headers["location"] == "/studies"
    assert client.get("/studies", follow_redirects=False).status_code == 200
    logout(client)

    password_step(client)
    assert code_step(client, code).status_code == 400  # the same code again: refused (replay)
    assert code_step(client, recovery[0].upper()).status_code == 303  # a recovery code, any case
    logout(client)
    password_step(client)
    assert code_step(client, recovery[0]).status_code == 400  # once only
    assert code_step(client, recovery[1]).status_code == 303
    assert "8 recovery codes left" in client.get("/account").text


def test_wrong_codes_are_throttled_and_a_right_password_does_not_reset_the_count(client, session):
    researcher = make_researcher(session)
    researcher.totp_secret, researcher.totp_enabled_at = pyotp.random_base32(), researcher.created_at
    session.add(researcher)
    session.flush()
    client.cookies.set("delphi_lang", "en")
    statuses = []
    for _ in range(12):
        password_step(client)
        statuses.append(code_step(client, "000000").status_code)
    assert statuses[:5] == [400] * 5 and 429 in statuses[5:]
    throttled = code_step(client, "000000")
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers


def test_the_api_asks_for_the_code_too(client, session):
    researcher = make_researcher(session)
    secret = pyotp.random_base32()
    researcher.totp_secret, researcher.totp_enabled_at = secret, researcher.created_at
    session.add(researcher)
    session.flush()
    without = client.post("/api/auth/login", json={"email": "rita@example.org", "password": PASSWORD})
    assert without.status_code == 401 and "code" in without.json()["detail"]
    with_code = client.post(
        "/api/auth/login", json={"email": "rita@example.org", "password": PASSWORD, "code": pyotp.TOTP(secret).now()}
    )
    assert with_code.status_code == 200 and with_code.json()["csrf_token"]


def test_turning_it_off_needs_the_password_and_a_code(client, session):
    make_researcher(session)
    client.cookies.set("delphi_lang", "en")
    page_login(client)
    secret, _ = turn_on(client)
    page = client.get("/account").text
    refused = client.post(
        "/account/two-factor/disable", data={"csrf_token": csrf_from(page), "current": PASSWORD, "code": "000000"}
    )
    assert refused.status_code == 400 and "This code is not right" in refused.text
    off = client.post(
        "/account/two-factor/disable",
        data={"csrf_token": csrf_from(page), "current": PASSWORD, "code": next_code(secret)},
    )
    assert off.status_code == 200 and "Two-factor authentication is off." in off.text
    account = session.exec(select(Researcher)).one()
    session.refresh(account)
    assert account.totp_secret is None and account.recovery_codes == []


def test_turning_it_on_ends_the_other_sessions(client, session):
    make_researcher(session)
    client.cookies.set("delphi_lang", "en")
    page_login(client)
    with TestClient(client.app) as other:
        page_login(other)
        turn_on(client)
        assert other.get("/studies", follow_redirects=False).status_code == 303
    assert client.get("/studies", follow_redirects=False).status_code == 200


def test_a_study_may_require_two_factor_of_its_researchers(client, session):
    owner = make_researcher(session)
    study = make_study(session, owner)
    colleague = make_researcher(session, "sam@example.org", "Sam")
    add_member(session, study, colleague, "editor")
    client.cookies.set("delphi_lang", "en")
    page_login(client)
    page = client.get(f"/studies/{study.id}/settings").text
    refused = client.post(f"/studies/{study.id}/two-factor", data={"csrf_token": csrf_from(page), "required": "1"})
    assert refused.status_code == 409 and "in your own account first" in refused.text
    turn_on(client)
    page = client.get(f"/studies/{study.id}/settings").text
    client.post(f"/studies/{study.id}/two-factor", data={"csrf_token": csrf_from(page), "required": "1"})
    page = client.get(f"/studies/{study.id}/settings").text
    assert "no 2FA: cannot open the study" in page  # Sam, listed for the owner
    logout(client)
    page_login(client, "sam@example.org")
    assert "Social media and e-commerce" in client.get("/studies").text  # still listed
    blocked = client.get(f"/studies/{study.id}")
    assert blocked.status_code == 403 and "requires two-factor authentication" in blocked.text
    assert client.get(f"/api/studies/{study.id}").status_code == 403
