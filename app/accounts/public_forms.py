"""Forms posted by someone not logged in (login, forgotten password, reset, invitation, a new
address confirmed): their CSRF token is a cookie the form repeats (double submit), and the request
must come from this site."""

from __future__ import annotations

import secrets

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from app.accounts import email_links
from app.config import Settings
from app.dependencies import same_origin
from app.errors import Forbidden, Gone, Message
from app.security import looks_like_token, tokens_match
from app.web import render

LOGIN_CSRF_COOKIE = "delphi_login_csrf"


def public_form(
    request: Request,
    name: str,
    context: dict[str, object],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The page, with the form's token as ``login_csrf`` and in its cookie."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, name, {"login_csrf": token, **context}, status_code=status_code, headers=headers)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", max_age=3600)
    return response


def token_page(
    request: Request,
    session: Session,
    token: str,
    purpose: str,
    template: str,
    status_code: int = 200,
    **context: object,
) -> Response:
    """The page a single-use link opens (reset, invitation, a new address): its form, or, for a
    link that is not (or no longer) valid, the same page saying so, with a 410."""
    try:
        if not looks_like_token(token):
            raise Gone(email_links.LINK_NOT_VALID)
        found = email_links.valid_token(session, token, purpose)
    except Gone as exc:
        return render(request, template, {"invalid": exc.detail, "errors": {}, "error": None}, status_code=410)
    return public_form(request, template, {"invalid": None, "address": found.email, **context}, status_code)


def check_public_form(request: Request, settings: Settings, login_csrf: str) -> None:
    if not tokens_match(login_csrf, request.cookies.get(LOGIN_CSRF_COOKIE)) or not same_origin(request, settings):
        raise Forbidden(Message("This form has expired. Reload the login page and try again."))
