"""Logging in and out through pages."""

from __future__ import annotations

import secrets
from typing import Annotated

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from app.accounts import service
from app.accounts.dependencies import SESSION_COOKIE, CurrentAuth, OptionalAuth
from app.accounts.login import LoginsDep
from app.dependencies import ReadSessionDep, SessionDep, SettingsDep, same_origin
from app.errors import Forbidden, Message, NotAuthenticated, TooManyRequests
from app.security import tokens_match
from app.web import render

router = APIRouter()


LOGIN_CSRF_COOKIE = "delphi_login_csrf"


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect a person to another site after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login", include_in_schema=False)
def login_page(request: Request, auth: OptionalAuth, next: str = "/") -> Response:
    if auth is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", {"next": _safe_next(next), "login_csrf": token, "error": None, "email": ""}
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return response


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
    if not tokens_match(login_csrf, request.cookies.get(LOGIN_CSRF_COOKIE)) or not same_origin(request, settings):
        raise Forbidden(Message("This form has expired. Reload the login page and try again."))
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
