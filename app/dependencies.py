"""Typed dependencies shared by every router: database session, settings, templates, researcher."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.datastructures import FormData

from app.accounts import service as accounts
from app.accounts.models import Researcher, ResearcherSession
from app.config import Settings
from app.db import Transactions
from app.errors import Forbidden, Message, NotAuthenticated
from app.security import tokens_match
from app.templating import Templates

SESSION_COOKIE = "delphi_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_templates(request: Request) -> Templates:
    return request.app.state.templates  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, committed after the route returns and before the response leaves,
    so a 2xx means the data is in the database; rolled back when the route raised."""
    engine = request.app.state.read_engine if request.method in SAFE_METHODS else request.app.state.engine
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_read_session(request: Request) -> Iterator[Session]:
    """A session that only reads, whatever the method: on SQLite it never takes the write lock, so
    slow work before a write (checking a password) does not hold up other writers."""
    with Session(request.app.state.read_engine, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


def get_transactions(request: Request) -> Transactions:
    """Opens units of work apart from the request's own transaction."""
    return request.app.state.transactions  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
TransactionsDep = Annotated[Transactions, Depends(get_transactions)]
TemplatesDep = Annotated[Templates, Depends(get_templates)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]


@dataclass(frozen=True)
class Viewer:
    id: int
    email: str
    name: str
    csrf_token: str


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
    )
    return auth


OptionalAuth = Annotated[Auth | None, Depends(get_optional_auth)]


def same_origin(request: Request, settings: Settings) -> bool:
    """Unsafe requests must come from our own pages (Origin / Sec-Fetch-Site), when the browser says."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        allowed = {settings.base_url, f"{request.url.scheme}://{request.url.netloc}"}
        return origin.rstrip("/") in allowed
    return True


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


async def get_form(request: Request) -> FormData:
    """The posted form, parsed once (sync routes receive it already read)."""
    return await request.form()


Form = Annotated[FormData, Depends(get_form)]


async def get_raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(get_raw_body)]
