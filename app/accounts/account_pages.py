"""A researcher's own account (password, address, sessions) and the instance administrator's list
of accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from app.accounts import email_links, service, two_factor
from app.accounts.dependencies import SESSION_COOKIE, Auth, CurrentAuth
from app.accounts.login import Logins, LoginsDep, client_address
from app.accounts.models import Researcher, ResearcherSession
from app.accounts.public_forms import check_public_form, token_page
from app.audit import service as audit
from app.db import utcnow
from app.dependencies import ReadSessionDep, SessionDep, SettingsDep
from app.errors import Conflict, Gone, InvalidInput, Message, NotFound, TooManyRequests
from app.mail.dependencies import MailerDep
from app.security import hash_token, looks_like_token, verify_password
from app.web import Refusal, redirect, refused_form, render, request_language

router = APIRouter()

WRONG_PASSWORD = Message("This is not your current password.")


BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def browser_label(user_agent: str) -> str:
    """ "Firefox, Windows" from a User-Agent header: enough to recognise one's own devices."""
    browser = next((name for key, name in BROWSERS if key in user_agent), "")
    system = next((name for key, name in SYSTEMS if key in user_agent), "")
    return ", ".join(part for part in (browser, system) if part) or user_agent[:60]


def _account_page(request: Request, session: Session, auth: Auth, status_code: int = 200, **forms: object) -> Response:
    sessions = session.exec(
        select(ResearcherSession)
        .where(ResearcherSession.researcher_id == auth.researcher.id)
        .order_by(col(ResearcherSession.last_seen_at).desc())
    ).all()
    context: dict[str, object] = {
        "account": auth.researcher,
        "sessions": [(row, browser_label(row.client)) for row in sessions],
        "this_session": auth.login.id_hash,
        "password_errors": {},
        "email_errors": {},
        "factor_errors": {},
        "email_value": auth.researcher.email,
    }
    context.update(forms)
    return render(request, "account/account.html", context, status_code=status_code)


@router.get("/account", include_in_schema=False)
def account_page(request: Request, reader: ReadSessionDep, auth: CurrentAuth) -> Response:
    return _account_page(request, reader, auth)


def _check_current(logins: Logins, request: Request, session: Session, researcher: Researcher, current: str) -> None:
    """The account's password, asked again before a change: throttled like a login (a stolen
    session must not become a way to guess the password, or the second factor)."""
    client = client_address(request)
    logins.throttle.refuse_if_waiting(session, researcher.email, client)
    if not verify_password(current, researcher.password_hash):
        logins.throttle.failed(researcher.email, client)
        raise InvalidInput(WRONG_PASSWORD, fields=("current",))


REFUSED = (InvalidInput, Conflict, TooManyRequests)


def _again(request: Request, auth: Auth, errors_name: str, **extra: object) -> Callable[[Session, Refusal], Response]:
    """The account page again, with a refused form's messages under ``errors_name``."""
    ids = auth.researcher.id, auth.login.id_hash

    def again(fresh: Session, refusal: Refusal) -> Response:
        errors = refusal.errors or {"current": refusal.error}
        forms = {errors_name: errors, **extra}
        return _account_page(request, fresh, _fresh_auth(fresh, *ids), refusal.status_code, **forms)

    return again


def _own(session: Session, auth: Auth) -> Researcher:
    researcher = session.get(Researcher, auth.researcher.id)
    assert researcher is not None
    return researcher


@router.post("/account/password", include_in_schema=False)
def change_password(
    request: Request,
    session: SessionDep,
    auth: CurrentAuth,
    logins: LoginsDep,
    current: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """A new password ends the account's other sessions (this one goes on)."""
    with refused_form(_again(request, auth, "password_errors"), REFUSED):
        researcher = _own(session, auth)
        _check_current(logins, request, session, researcher, current)
        service.check_confirmation(password, confirm)
        service.set_password(session, researcher, password)
    service.end_sessions(session, researcher.id, keep_id_hash=auth.login.id_hash)
    audit.record(session, None, researcher, "account.password_changed")
    return redirect("/account", "password_changed")


@router.post("/account/email", include_in_schema=False)
def change_email(
    request: Request,
    session: SessionDep,
    auth: CurrentAuth,
    logins: LoginsDep,
    mailer: MailerDep,
    current: Annotated[str, Form(max_length=1000)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """A new login address takes effect once its owner opens the link sent to it (otherwise one
    could claim a colleague's address, and with it the invitations sent there)."""
    with refused_form(_again(request, auth, "email_errors", email_value=email), REFUSED):
        researcher = _own(session, auth)
        _check_current(logins, request, session, researcher, current)
        email_links.request_email_change(session, researcher, email, mailer, request_language(request))
    return redirect("/account", "email_sent")


@router.get("/account/email/{token}", include_in_schema=False)
def confirm_email_page(request: Request, reader: ReadSessionDep, token: str) -> Response:
    """The link sent to the new address: a button (opening a link changes nothing: mail scanners)."""
    return token_page(request, reader, token, email_links.EMAIL_CHANGE, "account/confirm_email.html")


@router.post("/account/email/{token}", include_in_schema=False)
def confirm_email(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    mailer: MailerDep,
    token: str,
    login_csrf: Annotated[str, Form()] = "",
) -> Response:
    """Change the address; the account's sessions end (but this browser's, if it is the account's),
    and the old address is told."""
    check_public_form(request, settings, login_csrf)
    if not looks_like_token(token):
        raise Gone(email_links.LINK_NOT_VALID)
    researcher = email_links.confirm_email_change(session, token, mailer, request_language(request))
    cookie = request.cookies.get(SESSION_COOKIE)
    keep = hash_token(cookie) if cookie else None
    service.end_sessions(session, researcher.id, keep_id_hash=keep)
    return redirect("/account" if keep else f"/login?email={quote(researcher.email)}", "email_changed")


@router.post("/account/sessions/end-others", include_in_schema=False)
def end_other_sessions(session: SessionDep, auth: CurrentAuth) -> Response:
    service.end_sessions(session, auth.researcher.id, keep_id_hash=auth.login.id_hash)
    return redirect("/account", "logged_out_elsewhere")


@router.post("/account/sessions/end-all", include_in_schema=False)
def end_all_sessions(session: SessionDep, auth: CurrentAuth) -> Response:
    service.end_sessions(session, auth.researcher.id)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


def _fresh_auth(session: Session, researcher_id: int, id_hash: str) -> Auth:
    """The logged-in researcher read again through a re-rendering page's own session (the request's
    objects went with its rolled-back transaction)."""
    researcher = session.get(Researcher, researcher_id)
    login = session.get(ResearcherSession, id_hash)
    assert researcher is not None and login is not None
    return Auth(researcher, login)


# --- two-factor authentication --------------------------------------------------------------------


def _setup_page(
    request: Request, researcher: Researcher, secret: str, errors: dict[str, str], status_code: int = 200
) -> Response:
    secret = secret if two_factor.valid_secret(secret) else two_factor.new_secret()
    uri = two_factor.provisioning_uri(secret, researcher.email)
    context = {"secret": secret, "qr": two_factor.qr_code(uri), "errors": errors, "codes": None}
    return render(request, "account/two_factor.html", context, status_code=status_code)


@router.get("/account/two-factor", include_in_schema=False)
def two_factor_page(request: Request, auth: CurrentAuth) -> Response:
    """Turning it on: a new secret to scan; nothing is stored until a right code comes back."""
    if auth.researcher.totp_enabled_at is not None:
        return redirect("/account#two-factor")
    return _setup_page(request, auth.researcher, two_factor.new_secret(), {})


@router.post("/account/two-factor", include_in_schema=False)
def enable_two_factor(
    request: Request,
    session: SessionDep,
    auth: CurrentAuth,
    logins: LoginsDep,
    current: Annotated[str, Form(max_length=1000)] = "",
    secret: Annotated[str, Form(max_length=64)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Turn it on with the password and a right code; the account's other sessions end (they did
    not give the second factor), and this one counts as having given it."""
    researcher = _own(session, auth)
    try:
        _check_current(logins, request, session, researcher, current)
        codes = two_factor.enable(session, researcher, secret, code)
    except (InvalidInput, Conflict, TooManyRequests) as exc:
        session.rollback()
        errors = dict(exc.fields) or {"code": exc.detail}
        return _setup_page(request, _own(session, auth), secret, errors, status_code=exc.status_code)
    service.end_sessions(session, researcher.id, keep_id_hash=auth.login.id_hash)
    login = session.get(ResearcherSession, auth.login.id_hash)
    if login is not None:
        login.second_factor_at = utcnow()
        session.add(login)
    return render(request, "account/two_factor.html", {"codes": codes, "errors": {}})


@router.post("/account/two-factor/recovery-codes", include_in_schema=False)
def new_recovery_codes(
    request: Request,
    session: SessionDep,
    auth: CurrentAuth,
    logins: LoginsDep,
    current: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    with refused_form(_again(request, auth, "factor_errors"), REFUSED):
        researcher = _own(session, auth)
        _check_current(logins, request, session, researcher, current)
        if researcher.totp_enabled_at is None:
            raise InvalidInput(Message("Two-factor authentication is off."), fields=("current",))
    codes = two_factor.new_recovery_codes(session, researcher)
    audit.record(session, None, researcher, "account.recovery_codes_renewed")
    return render(request, "account/two_factor.html", {"codes": codes, "errors": {}})


@router.post("/account/two-factor/disable", include_in_schema=False)
def disable_two_factor(
    request: Request,
    session: SessionDep,
    auth: CurrentAuth,
    logins: LoginsDep,
    current: Annotated[str, Form(max_length=1000)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Turn it off: the password and a code both, each throttled as at login."""
    with refused_form(_again(request, auth, "factor_errors"), REFUSED):
        researcher = _own(session, auth)
        _check_current(logins, request, session, researcher, current)
        if not two_factor.verify(session, researcher, code):
            email = researcher.email
            session.rollback()
            logins.throttle.failed(email, client_address(request))
            raise InvalidInput(two_factor.WRONG_CODE, fields=("code",))
        two_factor.disable(session, researcher)
    return redirect("/account#two-factor", "two_factor_off")


# --- the instance's administrator -----------------------------------------------------------------


def _admin(auth: Auth) -> Researcher:
    """Deny by default: to anyone but an administrator, the page does not exist."""
    if not auth.researcher.is_admin:
        raise NotFound(Message("Page not found."))
    return auth.researcher


@router.get("/admin/researchers", include_in_schema=False)
def researchers_page(request: Request, reader: ReadSessionDep, auth: CurrentAuth) -> Response:
    _admin(auth)
    return render(request, "account/researchers.html", {"accounts": service.accounts_overview(reader)})


@router.post("/admin/researchers/{researcher_id}/deactivate", include_in_schema=False)
def deactivate(session: SessionDep, auth: CurrentAuth, researcher_id: int) -> Response:
    service.set_active(session, _admin(auth), researcher_id, active=False)
    return redirect("/admin/researchers", "deactivated")


@router.post("/admin/researchers/{researcher_id}/activate", include_in_schema=False)
def activate(session: SessionDep, auth: CurrentAuth, researcher_id: int) -> Response:
    service.set_active(session, _admin(auth), researcher_id, active=True)
    return redirect("/admin/researchers", "activated")
