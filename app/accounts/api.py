"""Logging in and out through the JSON API, and who is logged in."""

from __future__ import annotations

from functools import partial

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.accounts import service
from app.accounts.dependencies import SESSION_COOKIE, CurrentAuth
from app.accounts.login import LoginsDep
from app.accounts.schemas import LoginRequest, LoginResponse, ResearcherPublic
from app.dependencies import ReadSessionDep, SessionDep

router = APIRouter()


@router.post("/api/auth/login", response_model=LoginResponse, tags=["auth"])
async def api_login(
    request: Request, body: LoginRequest, reader: ReadSessionDep, session: SessionDep, logins: LoginsDep
) -> Response:
    researcher = await logins.authenticate(request, reader, body.email, body.password)
    if researcher.totp_enabled_at is not None:
        researcher = await logins.second_factor(request, session, researcher.id, body.code or "")
    new = await anyio.to_thread.run_sync(
        partial(logins.log_in, request, session, researcher, body.email, second_factor_done=True)
    )
    payload = LoginResponse(
        researcher=ResearcherPublic.model_validate(researcher, from_attributes=True), csrf_token=new.csrf_token
    )
    response = JSONResponse(payload.model_dump())
    logins.set_session_cookie(response, new.cookie_value)
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
