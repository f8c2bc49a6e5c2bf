"""Logging in and out, a forgotten password, and an invitation accepted, through pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from app.accounts import email_links, service
from app.accounts.dependencies import SESSION_COOKIE, CurrentAuth, OptionalAuth
from app.accounts.login import LoginsDep, client_address
from app.accounts.public_forms import LOGIN_CSRF_COOKIE, check_public_form, public_form, token_page
from app.dependencies import ReadSessionDep, SessionDep, SettingsDep
from app.errors import Conflict, InvalidInput, NotAuthenticated, TooManyRequests
from app.mail.dependencies import MailerDep
from app.web import Refusal, redirect, refused_form, render, request_language

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect a person to another site after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login", include_in_schema=False)
def login_page(request: Request, auth: OptionalAuth, next: str = "/", email: str = "") -> Response:
    if auth is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return public_form(request, "login.html", {"next": _safe_next(next), "error": None, "email": email[:320]})


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    reader: ReadSessionDep,
    session: SessionDep,
    settings: SettingsDep,
    logins: LoginsDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_public_form(request, settings, login_csrf)
    try:
        researcher = await logins.authenticate(request, reader, email, password)
    except (NotAuthenticated, TooManyRequests) as exc:
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "login_csrf": login_csrf, "error": exc.detail, "email": email},
            status_code=exc.status_code,
            headers=exc.headers,
        )
    new = await anyio.to_thread.run_sync(logins.log_in, request, session, researcher, email)
    if new.pending:
        response = RedirectResponse(f"/login/two-factor?next={quote(_safe_next(next))}", status_code=303)
        logins.set_session_cookie(response, new.cookie_value)
        return response
    response = RedirectResponse(_safe_next(next), status_code=303)
    logins.set_session_cookie(response, new.cookie_value)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.get("/login/two-factor", include_in_schema=False)
def second_factor_page(request: Request, reader: ReadSessionDep, next: str = "/") -> Response:
    if service.pending_login(reader, request.cookies.get(SESSION_COOKIE)) is None:
        return RedirectResponse("/login", status_code=303)
    return public_form(request, "account/two_factor_login.html", {"next": _safe_next(next), "error": None})


@router.post("/login/two-factor", include_in_schema=False)
async def second_factor(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    logins: LoginsDep,
    code: Annotated[str, Form(max_length=100)] = "",
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """The code from the app (or a recovery code) after the password: wrong codes count with the
    account's and the client's failed logins, and wait as they do."""
    check_public_form(request, settings, login_csrf)
    cookie = request.cookies.get(SESSION_COOKIE)
    found = service.pending_login(session, cookie)
    if found is None:
        return RedirectResponse("/login", status_code=303)
    try:
        researcher = await logins.second_factor(request, session, found[0].id, code)
    except (TooManyRequests, NotAuthenticated) as error:
        context: dict[str, object] = {"next": _safe_next(next), "error": error.detail}
        status = 429 if isinstance(error, TooManyRequests) else 400
        return public_form(request, "account/two_factor_login.html", context, status, error.headers)
    new = logins.log_in(request, session, researcher, researcher.email, second_factor_done=True)
    response = RedirectResponse(_safe_next(next), status_code=303)
    logins.set_session_cookie(response, new.cookie_value)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: SessionDep, auth: CurrentAuth) -> Response:
    service.end_session(session, request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- a forgotten password ------------------------------------------------------------------------


@router.get("/password/forgot", include_in_schema=False)
def forgot_page(request: Request) -> Response:
    return public_form(request, "account/forgot.html", {"email": "", "sent": False, "error": None})


@router.post("/password/forgot", include_in_schema=False)
async def forgot(
    request: Request,
    reader: ReadSessionDep,
    session: SessionDep,
    settings: SettingsDep,
    logins: LoginsDep,
    mailer: MailerDep,
    email: Annotated[str, Form(max_length=320)] = "",
    login_csrf: Annotated[str, Form()] = "",
) -> Response:
    """The same answer for every address; requests count with the login failures of the address
    and the client, so a flood of them is slowed down like a flood of passwords."""
    check_public_form(request, settings, login_csrf)
    client = client_address(request)
    try:
        logins.throttle.refuse_if_waiting(reader, email, client)
        reader.rollback()
        await anyio.to_thread.run_sync(logins.throttle.failed, email, client)
        email_links.request_password_reset(session, email, mailer, request_language(request))
    except (TooManyRequests, InvalidInput) as exc:
        context = {"email": email, "sent": False, "error": exc.detail}
        return public_form(request, "account/forgot.html", context, exc.status_code, exc.headers)
    return public_form(request, "account/forgot.html", {"email": email, "sent": True, "error": None})


def _token_again(
    request: Request, token: str, purpose: str, template: str, **typed: object
) -> Callable[[Session, Refusal], Response]:
    """A reset or invitation form again, with the refusal and what was typed."""

    def again(fresh: Session, refusal: Refusal) -> Response:
        context = {"errors": refusal.errors, "error": refusal.error, **typed}
        return token_page(request, fresh, token, purpose, template, refusal.status_code, **context)

    return again


@router.get("/password/reset/{token}", include_in_schema=False)
def reset_page(request: Request, reader: ReadSessionDep, token: str) -> Response:
    return token_page(request, reader, token, email_links.RESET, "account/reset.html", errors={}, error=None)


@router.post("/password/reset/{token}", include_in_schema=False)
def reset(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: str,
    password: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=1000)] = "",
    login_csrf: Annotated[str, Form()] = "",
) -> Response:
    check_public_form(request, settings, login_csrf)
    with refused_form(_token_again(request, token, email_links.RESET, "account/reset.html"), (InvalidInput,)):
        service.check_confirmation(password, confirm)
        researcher = email_links.reset_password(session, token, password)
    return redirect(f"/login?email={quote(researcher.email)}", "password_reset")


# --- an invitation to a study ---------------------------------------------------------------------


@router.get("/invitation/{token}", include_in_schema=False)
def invitation_page(request: Request, reader: ReadSessionDep, token: str) -> Response:
    return token_page(
        request,
        reader,
        token,
        email_links.INVITATION,
        "account/invitation.html",
        display_name="",
        errors={},
        error=None,
    )


@router.post("/invitation/{token}", include_in_schema=False)
def accept_invitation(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    logins: LoginsDep,
    token: str,
    password: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form(max_length=1000)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    login_csrf: Annotated[str, Form()] = "",
) -> Response:
    """Create the account, and log it in: the link came to this address, the password is new."""
    check_public_form(request, settings, login_csrf)
    again = _token_again(request, token, email_links.INVITATION, "account/invitation.html", display_name=name)
    with refused_form(again, (InvalidInput, Conflict)):
        service.check_confirmation(password, confirm)
        researcher = email_links.accept_invitation(session, token, name, password)
    new = logins.log_in(request, session, researcher, researcher.email)
    response = redirect("/studies", "welcome")
    logins.set_session_cookie(response, new.cookie_value)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response
