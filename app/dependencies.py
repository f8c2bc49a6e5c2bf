"""Typed dependencies shared by every router: database sessions, settings, templates, the posted form.
Who is logged in is the accounts domain's (``app.accounts.dependencies``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.datastructures import FormData

from app.config import Settings
from app.db import Transactions
from app.templating import Templates

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


def same_origin(request: Request, settings: Settings) -> bool:
    """Unsafe requests must come from our own pages (Origin / Sec-Fetch-Site), when the browser says."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        allowed = {settings.base_url, f"{request.url.scheme}://{request.url.netloc}"}
        return origin.rstrip("/") in allowed
    return True


async def get_form(request: Request) -> FormData:
    """The posted form, parsed once (sync routes receive it already read)."""
    return await request.form()


Form = Annotated[FormData, Depends(get_form)]


async def get_raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(get_raw_body)]
