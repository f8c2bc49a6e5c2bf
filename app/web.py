"""Helpers for server-rendered pages: the language of a request and rendering a template."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app.errors import AppError, Message
from app.i18n import N_, negotiate, normalise

LANG_COOKIE = "delphi_lang"
# Confirmations shown once after a Post/Redirect/Get: fixed codes, never text from the URL.
DONE_MESSAGES = {
    "saved": N_("Saved."),
    "created": N_("Created."),
    "deleted": N_("Deleted."),
    "imported": N_("The panel was imported."),
    "locked": N_("The protocol is locked."),
    "opened": N_("The round is open; the invitations are in the outbox."),
    "closed": N_("The round is closed and analysed."),
    "reopened": N_("The round is open again."),
    "ended": N_("The study has ended."),
    "reminded": N_("Reminders are in the outbox."),
    "narrowed": N_("The panel was narrowed."),
    "link": N_("A new link was issued."),
    "address": N_(
        "Saved. The new address has a new personal link (the old one no longer works); if a round is open "
        "for this expert, its invitation with the new link is in the outbox."
    ),
    "unchanged": N_("Nothing was changed."),
    "reminder": N_("The reminder is in the outbox."),
    "archived": N_("The study is archived."),
    "restored": N_("The study is restored."),
    "submitted": N_("Thank you: your answers are submitted. You can still change them until the round closes."),
    "sent": N_("Delivery was attempted; see each message's status."),
    "test_sent": N_(
        "The invitation and a reminder, marked [Test], are on their way to your own address; they are "
        "listed below. Their link opens the preview."
    ),
    "handed": N_("The study's waiting messages go out at the sender's next pass, within seconds; reload to see."),
    "analysed": N_("The round was analysed again."),
    "password_reset": N_("Your password was changed, and every session of your account ended. Log in with it."),
    "welcome": N_("Welcome: your account is ready, and the study you were invited to is listed below."),
    "invited": N_("The invitation is in the outbox; its link works for 7 days."),
    "password_changed": N_("Your password was changed; your other sessions have ended."),
    "email_changed": N_("Your e-mail address was changed; your other sessions have ended."),
    "email_sent": N_(
        "A link is on its way to the new address: the change takes effect when you open it (within a day)."
    ),
    "logged_out_elsewhere": N_("Your other sessions have ended."),
    "deactivated": N_("The account is deactivated and its sessions have ended."),
    "activated": N_("The account can log in again."),
    "erased": N_("The expert's personal data were erased."),
    "two_factor_off": N_("Two-factor authentication is off."),
    "anonymised": N_("The study is anonymised: names, e-mail addresses and links are gone."),
}


TZ_COOKIE = "delphi_tz"


def request_timezone(request: Request, key: str | None = None) -> ZoneInfo:
    """The reader's time zone: ``key`` if given (the zone a form was written in), else as their
    browser named it (a cookie its pages set); UTC until it is known or when it is not a zone this
    machine knows."""
    key = unquote(key if key is not None else request.cookies.get(TZ_COOKIE, ""))
    if key and len(key) <= 64:
        try:
            return ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def local_to_utc(raw: str, tz: ZoneInfo) -> datetime:
    """A date and time typed in the reader's time zone (a ``datetime-local`` field), in UTC."""
    value = datetime.fromisoformat(raw)
    return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)


def request_language(request: Request, study_language: str | None = None) -> str:
    """The user's choice (``?lang=`` or cookie), else the study's language, else Accept-Language."""
    chosen = normalise(request.query_params.get("lang")) or normalise(request.cookies.get(LANG_COOKIE))
    if chosen:
        return chosen
    from_study = normalise(study_language)
    if from_study:
        return from_study
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
    viewer = getattr(request.state, "viewer", None)
    done = request.query_params.get("done", "")
    done = done if done in DONE_MESSAGES else ""  # a fixed code, never text from the URL
    full_context: dict[str, Any] = {
        "request": request,
        "researcher": viewer,
        "csrf_token": viewer.csrf_token if viewer else "",
        "path": request.url.path,
        "done": done,
        "flash": DONE_MESSAGES.get(done),
        "tz": request_timezone(request),
    }
    full_context.update(context or {})
    html = request.app.state.templates.render(name, language, **full_context)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if normalise(request.query_params.get("lang")):
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    response.headers.setdefault("Content-Language", language)
    return response


def wants_json(request: Request) -> bool:
    """API paths, and any client that sent JSON (the expert page's autosave) or asks for it."""
    if request.url.path.startswith("/api/") or request.url.path == "/api":
        return True
    if request.headers.get("content-type", "").startswith("application/json"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def pydantic_message(error: Any) -> str:
    """A validation error as a message for people (translated on the page), not pydantic's English."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError) and ctx["error"].args:
        return ctx["error"].args[0]  # type: ignore[no-any-return]
    known = {
        "missing": Message("Required."),
        "string_too_short": Message("At least %(n)s characters.", n=ctx.get("min_length", 1)),
        "string_too_long": Message("At most %(n)s characters.", n=ctx.get("max_length", 0)),
        "int_parsing": Message("Enter a whole number."),
        "int_type": Message("Enter a whole number."),
        "int_from_float": Message("Enter a whole number."),
        "float_parsing": Message("Enter a number."),
        "float_type": Message("Enter a number."),
        "greater_than_equal": Message("At least %(n)s.", n=ctx.get("ge", "")),
        "greater_than": Message("More than %(n)s.", n=ctx.get("gt", "")),
        "less_than_equal": Message("At most %(n)s.", n=ctx.get("le", "")),
        "literal_error": Message("Choose one of the options."),
        "bool_parsing": Message("Yes or no."),
    }
    return known.get(kind) or str(error.get("msg", "")).removeprefix("Value error, ")


class RenderAgain(Exception):
    """A page's form was refused. Raised, not returned: the request boundary rolls its transaction
    back as for any failure, then the handler (in ``main``) renders ``page`` through a fresh reading
    session: the same form, with what was typed and what is wrong."""

    def __init__(self, page: Callable[[Session], Response]) -> None:
        super().__init__("the form was refused")
        self.page = page


REFUSALS: tuple[type[Exception], ...] = (AppError, ValidationError)


@dataclass(frozen=True)
class Refusal:
    """Why a form was refused, as its page shows it: the summary, the message of each field, the
    status of the page, and the exception (for pages that tell database failures apart)."""

    error: str
    errors: dict[str, str]
    status_code: int
    exc: Exception

    @classmethod
    def of(cls, exc: Exception) -> Refusal:
        if isinstance(exc, REFUSALS):
            error, errors = form_errors(exc)
            return cls(error, errors, refusal_status(exc), exc)
        return cls("", {}, 500, exc)


@contextmanager
def refused_form(
    page: Callable[[Session, Refusal], Response], refusals: tuple[type[Exception], ...] = REFUSALS
) -> Iterator[None]:
    """The one way a page handles a refused form: a domain error or a pydantic ValidationError
    (or what ``refusals`` names) inside the block becomes ``RenderAgain(page)``; ``page`` gets a
    fresh session and the ``Refusal`` (its summary, field messages and status, worked out once)."""
    try:
        yield
    except refusals as exc:
        raise RenderAgain(partial(_page_again, page, Refusal.of(exc))) from exc


def _page_again(page: Callable[[Session, Refusal], Response], refusal: Refusal, session: Session) -> Response:
    return page(session, refusal)


def refusal_status(exc: Exception) -> int:
    """The status of a re-rendered form: the domain error's own (409 for a conflict), else 400."""
    return exc.status_code if isinstance(exc, AppError) else 400


def form_errors(exc: Exception) -> tuple[str, dict[str, str]]:
    """A summary and per-field messages from a pydantic ValidationError or a domain error."""
    if isinstance(exc, ValidationError):
        fields: dict[str, str] = {}
        for error in exc.errors():
            problem = (error.get("ctx") or {}).get("error")
            name = ".".join(str(p) for p in error["loc"]) or getattr(problem, "field", None) or "form"
            fields.setdefault(name, pydantic_message(error))
        return Message("Please correct the fields marked below."), fields
    if isinstance(exc, AppError):
        return exc.detail, dict(exc.fields)
    raise exc


def redirect(url: str, done: str | None = None) -> RedirectResponse:
    """Post/Redirect/Get, with an optional confirmation shown once on the next page."""
    if done:
        path, hash_mark, anchor = url.partition("#")
        url = path + ("&" if "?" in path else "?") + "done=" + quote(done) + hash_mark + anchor
    return RedirectResponse(url, status_code=303)


def form_text(form: Any, name: str, default: str = "") -> str:
    """A text field of a posted form (a stray file upload under that name reads as empty)."""
    value = form.get(name, default)
    return value if isinstance(value, str) else default


def whole_number(text: Any, max_digits: int = 9) -> int | None:
    """A whole number sent as text, or None: ASCII digits only ("²" is a digit to ``str.isdigit``
    but not to ``int``) and not thousands of them."""
    if isinstance(text, str) and 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def form_ids(form: Any, name: str) -> list[int]:
    """The whole numbers posted under a repeated field (ticked checkboxes)."""
    return [n for v in form.getlist(name) if (n := whole_number(v)) is not None]
