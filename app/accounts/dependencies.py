"""Who is logged in: the researcher's session (cookie), and the CSRF check of unsafe requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.accounts import service as accounts
from app.accounts.models import Researcher, ResearcherSession
from app.dependencies import UNSAFE_METHODS, ReadSessionDep, SettingsDep, same_origin
from app.errors import Forbidden, Message, NotAuthenticated
from app.security import tokens_match

SESSION_COOKIE = "delphi_session"


@dataclass(frozen=True)
class Viewer:
    id: int
    email: str
    name: str
    csrf_token: str
    is_admin: bool = False


@dataclass
class Auth:
    researcher: Researcher
    login: ResearcherSession


def get_optional_auth(request: Request, reader: ReadSessionDep, settings: SettingsDep) -> Auth | None:
    """The logged-in researcher, read through the reading session whatever the method: on SQLite a
    request takes the write lock at its first write, not at its authentication (the idle clock is
    reset, now and then, in a short transaction of its own)."""
    found = accounts.resolve_session(reader, request.cookies.get(SESSION_COOKIE), settings, touch=False)
    if found is None:
        return None
    auth = Auth(*found)
    if accounts.needs_touch(auth.login):
        accounts.touch_session(request.app.state.engine, auth.login.id_hash)
    # Plain values for the page layout: still readable if the request's transaction rolls back.
    request.state.viewer = Viewer(
        id=auth.researcher.id,
        email=auth.researcher.email,
        name=auth.researcher.name,
        csrf_token=auth.login.csrf_token,
        is_admin=auth.researcher.is_admin,
    )
    return auth


OptionalAuth = Annotated[Auth | None, Depends(get_optional_auth)]


async def get_auth(request: Request, auth: OptionalAuth, settings: SettingsDep) -> Auth:
    if auth is None:
        raise NotAuthenticated(Message("Please log in."))
    if request.method in UNSAFE_METHODS:
        given = request.headers.get("x-csrf-token")
        if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get("csrf_token")
            given = value if isinstance(value, str) else None
        if not tokens_match(given, auth.login.csrf_token) or not same_origin(request, settings):
            raise Forbidden(
                Message("This form has expired or did not come from this site. Reload the page and try again.")
            )
    return auth


CurrentAuth = Annotated[Auth, Depends(get_auth)]


def get_researcher(auth: CurrentAuth) -> Researcher:
    return auth.researcher


CurrentResearcher = Annotated[Researcher, Depends(get_researcher)]
