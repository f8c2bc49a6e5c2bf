"""Logging in, shared by the login page and the API: the password checked outside any write lock,
then one short write (the session opened, the failures forgotten, the log)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.responses import Response
from sqlmodel import Session

from app.accounts import service, two_factor
from app.accounts.dependencies import SESSION_COOKIE
from app.accounts.models import Researcher
from app.accounts.throttle import LoginThrottle
from app.audit import service as audit
from app.config import Settings
from app.dependencies import SettingsDep
from app.errors import Message, NotAuthenticated


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Logins:
    """What a login needs, injected (``LoginsDep``): the throttle of failures (counted in the
    database), one password check at a time per process, the settings of the session cookie."""

    throttle: LoginThrottle
    password_checks: anyio.CapacityLimiter
    settings: Settings

    async def authenticate(self, request: Request, reader: Session, email: str, password: str) -> Researcher:
        """Check the password through a reading session (a flood of wrong passwords holds no write
        lock), one check at a time: the flood queues here, outside the request threads, and leaves
        the threads and the other core to the experts' saves."""
        check = partial(service.authenticate, reader, email, password, self.throttle, client_address(request))
        return await anyio.to_thread.run_sync(check, limiter=self.password_checks)

    async def second_factor(self, request: Request, session: Session, researcher_id: int, code: str) -> Researcher:
        """Check the code that follows the password (page or API), throttled like a password: a wrong
        one counts with the account's and the client's failures. One check at a time per process,
        like passwords: a burst of guesses sent together cannot all pass before the first is
        counted. Returns the account, read through ``session``."""
        check = partial(self._check_code, session, researcher_id, code, client_address(request))
        return await anyio.to_thread.run_sync(check, limiter=self.password_checks)

    def _check_code(self, session: Session, researcher_id: int, code: str, client: str) -> Researcher:
        researcher = session.get(Researcher, researcher_id)
        if researcher is None or not researcher.is_active:
            raise NotAuthenticated(service.LOGIN_FAILED)
        self.throttle.refuse_if_waiting(session, researcher.email, client)
        if not two_factor.verify(session, researcher, code):
            email = researcher.email
            session.rollback()  # the failure is counted in a transaction of its own
            self.throttle.failed(email, client)
            raise NotAuthenticated(
                two_factor.WRONG_CODE
                if code.strip()
                else Message("Two-factor authentication is on: send the code of the authenticator app as “code”.")
            )
        return researcher

    def log_in(
        self,
        request: Request,
        session: Session,
        researcher: Researcher,
        email: str,
        *,
        second_factor_done: bool = False,
    ) -> service.NewSession:
        """The short write of a login: forget the failures, open the session, log it. An account
        with two-factor authentication gets a pending session until its code is given, and its
        failures are forgotten only then (a right password must not reset the count of wrong codes)."""
        pending = researcher.totp_enabled_at is not None and not second_factor_done
        if not pending:
            self.throttle.succeeded(session, email, client_address(request))
        new = service.start_session(
            session,
            researcher,
            self.settings,
            request.cookies.get(SESSION_COOKIE),
            client=request.headers.get("user-agent", ""),
            pending=pending,
            second_factor=second_factor_done and researcher.totp_enabled_at is not None,
        )
        if not pending:
            audit.record(session, None, researcher, "login")
        return new

    def set_session_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            value,
            httponly=True,
            samesite="lax",
            secure=self.settings.secure_cookies,
            max_age=self.settings.session_absolute_hours * 3600,
            path="/",
        )


def get_logins(request: Request, settings: SettingsDep) -> Logins:
    return Logins(request.app.state.login_throttle, request.app.state.password_checks, settings)


LoginsDep = Annotated[Logins, Depends(get_logins)]
