"""Login and logout, as pages and as JSON under /api/auth."""

from __future__ import annotations

import secrets
from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from app.accounts import service
from app.accounts.dependencies import SESSION_COOKIE, CurrentAuth, OptionalAuth
from app.accounts.models import Researcher
from app.accounts.schemas import LoginRequest, LoginResponse, ResearcherPublic
from app.audit import service as audit
from app.config import Settings
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


def _set_session_cookie(response: Response, value: str, settings: SettingsDep) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
    )


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


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _authenticate(request: Request, reader: Session, email: str, password: str) -> Researcher:
    """Check the password through a reading session (a flood of wrong passwords holds no write
    lock), one check at a time per process (``password_checks``): the flood queues here, outside the
    request threads, and leaves the threads and the other core to the experts' saves."""
    check = partial(service.authenticate, reader, email, password, request.app.state.login_throttle, _client(request))
    return await anyio.to_thread.run_sync(check, limiter=request.app.state.password_checks)


def _log_in(
    request: Request, session: Session, settings: Settings, researcher: Researcher, email: str
) -> service.NewSession:
    """The short write of a login: forget the failures, open the session, log it."""
    request.app.state.login_throttle.succeeded(session, email, _client(request))
    new = service.start_session(session, researcher, settings, request.cookies.get(SESSION_COOKIE))
    audit.record(session, None, researcher, "login")
    return new


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    reader: ReadSessionDep,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    login_csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not tokens_match(login_csrf, request.cookies.get(LOGIN_CSRF_COOKIE)) or not same_origin(request, settings):
        raise Forbidden(Message("This form has expired. Reload the login page and try again."))
    try:
        researcher = await _authenticate(request, reader, email, password)
    except (NotAuthenticated, TooManyRequests) as exc:
        return render(
            request,
            "login.html",
            {"next": _safe_next(next), "login_csrf": login_csrf, "error": exc.detail, "email": email},
            status_code=exc.status_code,
            headers=exc.headers,
        )
    new = await anyio.to_thread.run_sync(_log_in, request, session, settings, researcher, email)
    response = RedirectResponse(_safe_next(next), status_code=303)
    _set_session_cookie(response, new.cookie_value, settings)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, session: SessionDep, auth: CurrentAuth) -> Response:
    service.end_session(session, request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/api/auth/login", response_model=LoginResponse, tags=["auth"])
async def api_login(
    request: Request, body: LoginRequest, reader: ReadSessionDep, session: SessionDep, settings: SettingsDep
) -> Response:
    researcher = await _authenticate(request, reader, body.email, body.password)
    new = await anyio.to_thread.run_sync(_log_in, request, session, settings, researcher, body.email)
    payload = LoginResponse(
        researcher=ResearcherPublic.model_validate(researcher, from_attributes=True), csrf_token=new.csrf_token
    )
    response = JSONResponse(payload.model_dump())
    _set_session_cookie(response, new.cookie_value, settings)
    return response


@router.post("/api/auth/logout", status_code=204, tags=["auth"])
def api_logout(request: Request, session: SessionDep, auth: CurrentAuth) -> Response:
    service.end_session(session, request.cookies[SESSION_COOKIE])
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/api/me", response_model=ResearcherPublic, tags=["auth"])
def me(auth: CurrentAuth) -> ResearcherPublic:
    return ResearcherPublic.model_validate(auth.researcher, from_attributes=True)
