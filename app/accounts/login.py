"""Logging in, shared by the login page and the API: the password checked outside any write lock,
then one short write (the session opened, the failures forgotten, the log)."""

from __future__ import annotations

from functools import partial

import anyio
from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from app.accounts import service
from app.accounts.dependencies import SESSION_COOKIE
from app.accounts.models import Researcher
from app.audit import service as audit
from app.config import Settings


def set_session_cookie(response: Response, value: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(request: Request, reader: Session, email: str, password: str) -> Researcher:
    """Check the password through a reading session (a flood of wrong passwords holds no write
    lock), one check at a time per process (``password_checks``): the flood queues here, outside the
    request threads, and leaves the threads and the other core to the experts' saves."""
    check = partial(
        service.authenticate, reader, email, password, request.app.state.login_throttle, client_address(request)
    )
    return await anyio.to_thread.run_sync(check, limiter=request.app.state.password_checks)


def log_in(
    request: Request, session: Session, settings: Settings, researcher: Researcher, email: str
) -> service.NewSession:
    """The short write of a login: forget the failures, open the session, log it."""
    request.app.state.login_throttle.succeeded(session, email, client_address(request))
    new = service.start_session(session, researcher, settings, request.cookies.get(SESSION_COOKIE))
    audit.record(session, None, researcher, "login")
    return new
