"""Helpers for server-rendered pages: the language of a request and rendering a template."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.i18n import negotiate, normalise

LANG_COOKIE = "delphi_lang"


def request_language(request: Request, study_language: str | None = None) -> str:
    """The user's choice (``?lang=`` or cookie), else the study's language, else Accept-Language."""
    chosen = normalise(request.query_params.get("lang")) or normalise(request.cookies.get(LANG_COOKIE))
    if chosen:
        return chosen
    if normalise(study_language):
        return normalise(study_language)  # type: ignore[return-value]
    return negotiate(request.headers.get("accept-language"), request.app.state.settings.default_language)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    language: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    language = language or request_language(request)
    auth = getattr(request.state, "auth", None)
    full_context: dict[str, Any] = {
        "request": request,
        "researcher": auth.researcher if auth else None,
        "csrf_token": auth.login.csrf_token if auth else "",
        "path": request.url.path,
        "flash": request.query_params.get("done"),
    }
    full_context.update(context or {})
    html = request.app.state.templates.render(name, language, **full_context)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if normalise(request.query_params.get("lang")):
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    response.headers.setdefault("Content-Language", language)
    return response


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"
