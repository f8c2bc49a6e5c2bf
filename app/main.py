"""The application: ``create_app()``, its lifespan, security headers and the one error mapping."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from app import __version__, logmask, scoring
from app.accounts import account_pages
from app.accounts import api as accounts_api
from app.accounts import pages as accounts_pages
from app.accounts.throttle import LoginThrottle
from app.body_limit import BodyLimit
from app.config import Settings, get_settings
from app.db import Transactions, make_engine, reading_engine
from app.errors import AppError, Message
from app.mail.mailer import Mailer
from app.pages import audit_log, mailbox, overview, protocol
from app.pages import panel as panel_pages
from app.panel import api as panel_api
from app.privacy import pages as privacy_pages
from app.reports import pages as reports_pages
from app.rounds import api as rounds_api
from app.rounds import coding_pages, expert_pages, preview_pages, results_pages
from app.rounds import pages as rounds_pages
from app.rounds.ratelimit import link_limiter
from app.studies import api as studies_api
from app.studies import design_pages, translation_pages
from app.studies import pages as studies_pages
from app.templating import Templates
from app.web import RenderAgain, pydantic_message, render, wants_json

log = logging.getLogger("delphi")
# The expert pages first: they take nearly all the traffic, and routes are matched in order.
ROUTERS = (
    expert_pages.router,
    accounts_pages.router,
    account_pages.router,
    accounts_api.router,
    studies_pages.router,
    design_pages.router,
    translation_pages.router,
    studies_api.router,
    panel_pages.router,
    panel_api.router,
    rounds_pages.router,
    results_pages.router,
    coding_pages.router,
    preview_pages.router,
    rounds_api.router,
    reports_pages.router,
    overview.router,
    protocol.router,
    mailbox.router,
    audit_log.router,
    privacy_pages.router,
)
STATIC_DIR = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task overhead) adding the headers every response gets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # personal links (an expert's, a researcher's reset or invitation): the token is in the path
        expert_link = scope["path"].startswith(("/e/", "/password/reset/", "/invitation/", "/account/email/"))

        async def send_with_headers(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                for name, value in (
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer" if expert_link else b"same-origin"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ):
                    if name not in present:
                        headers.append((name, value))
                if expert_link:  # personal links: never cached by a browser or a proxy
                    headers[:] = [(n, v) for n, v in headers if n.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    fields: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {"error": code, "detail": detail}
        if fields:
            body["fields"] = fields
        body.update(extra or {})
        return JSONResponse(body, status_code=status)
    if request.url.path.startswith("/e/"):
        # Expert links: one plain page, in the visitor's language, that says nothing about the study.
        return render(request, "expert/message.html", {"status": status, "detail": detail}, status_code=status)
    if status == 401:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    return render(request, "error.html", {"status": status, "detail": detail}, status_code=status)


def _install_error_mapping(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> Response:
        response = _error_response(request, exc.status_code, exc.code, exc.detail, exc.fields, exc.extra)
        response.headers.update(exc.headers)
        return response

    @app.exception_handler(RenderAgain)
    async def render_again(request: Request, exc: RenderAgain) -> Response:
        def page() -> Response:
            with request.app.state.transactions.read() as session:
                return exc.page(session)

        return await run_in_threadpool(page)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = {}
        for number, error in enumerate(exc.errors()):
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "form"))
            problem = pydantic_message(error)
            problems[f"p{number}"] = (
                Message("%(where)s: %(problem)s", where=where, problem=problem) if where else problem
            )
        # One message whose parts each translate: "%(p0)s; %(p1)s".
        placeholders = "; ".join(f"%({key})s" for key in problems)
        joined = Message(placeholders, **problems)
        status = 422 if wants_json(request) else 400
        return _error_response(
            request, status, "invalid_request", joined if problems else Message("Malformed request.")
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = str(exc.detail) if exc.status_code != 404 else Message("This page does not exist.")
        return _error_response(request, exc.status_code, "http_error", detail)

    @app.exception_handler(DataError)
    async def unstorable_value(request: Request, exc: DataError) -> Response:
        # The database refused a value pydantic let through (PostgreSQL rejects NUL characters in text);
        # the request's transaction was rolled back, so this is the sender's problem, not a crash.
        log.info("value refused by the database on %s %s: %s", request.method, request.url.path, exc.orig)
        detail = Message("A value contains a character that cannot be stored (such as a NUL byte); nothing was saved.")
        return _error_response(request, 400, "invalid_value", detail)

    @app.exception_handler(OverflowError)
    async def number_too_large(request: Request, exc: OverflowError) -> Response:
        # an id of 2**63 or more (SQLite's integers stop there): no such thing exists
        log.info("number out of range on %s %s: %s", request.method, request.url.path, exc)
        return _error_response(request, 400, "invalid_value", Message("A number in the request is too large."))

    @app.exception_handler(RecursionError)
    async def nested_too_deep(request: Request, exc: RecursionError) -> Response:
        # a body, a file or a formula nested thousands of levels deep
        log.info("input nested too deeply on %s %s", request.method, request.url.path)
        detail = Message("The request is nested too deeply to be read (brackets or tables inside one another).")
        return _error_response(request, 400, "invalid_value", detail)

    @app.exception_handler(ClientDisconnect)
    async def client_left(request: Request, exc: ClientDisconnect) -> Response:
        # The browser went away before its request was read whole (a double-clicked form sends the
        # first request, drops it and sends the second): nothing was done, nobody reads the answer.
        log.info("client left before its request was read: %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        detail = Message("Something went wrong on our side; nothing was saved.")
        return _error_response(request, 500, "internal_error", detail)


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    run_sender: bool | None = None,
    transactions: Transactions | None = None,
    freeze_startup_objects: bool = False,
) -> FastAPI:
    """The application. ``transactions`` opens the units of work a request needs apart from its own
    transaction: failed link look-ups and logins counted, a panel file's lines staged, a round closed
    then analysed (by default, transactions of their own on the engine; tests run them in the test's
    transaction).
    ``freeze_startup_objects`` is for a server process (see ``create_served_app``)."""
    settings = settings or get_settings()
    logmask.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or make_engine(settings.database_url)
        # SQLite: GET requests (and a login's password check) read through an engine of their own,
        # without the write lock: on one engine a read would take the lock its request's write needs.
        # It is the one the reading transactions (reports, round analysis) use too: one pool, not two.
        app.state.read_engine = reading_engine(app.state.engine)
        # the first analysis must not wait for numba's compiler: compile (or load) the kernels now
        threading.Thread(target=scoring.warm_up, name="delphi-warm-up", daemon=True).start()
        app.state.templates = Templates(instance_contact=settings.contact_email)
        app.state.mailer = Mailer.from_settings(settings, app.state.templates)
        app.state.transactions = transactions or Transactions.on(app.state.engine)
        app.state.link_limiter = link_limiter(settings, app.state.transactions.write)
        app.state.login_throttle = LoginThrottle(
            app.state.transactions.write,
            settings.secret_key,
            settings.login_free_failures_per_account,
            settings.login_free_failures_per_client,
        )
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        app.state.password_checks = anyio.CapacityLimiter(1)  # see accounts.login.authenticate
        stop = threading.Event()
        sender = None
        if run_sender if run_sender is not None else settings.run_sender_in_server:
            from app.worker import run_sender_loop

            sender = threading.Thread(
                target=run_sender_loop,
                args=(app.state.engine, settings, stop, False, app.state.mailer),
                name="delphi-sender",
                daemon=True,
            )
            sender.start()
        if freeze_startup_objects:
            # The ~250,000 objects of the imported libraries live as long as the process: kept out of
            # the collector's oldest generation, a full collection no longer stops every request for
            # 100-300 ms (seen as the p99 of saves under load).
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            stop.set()
            if sender is not None:
                sender.join(timeout=10)
            if app.state.read_engine is not app.state.engine:
                app.state.read_engine.dispose()
            if own_engine:
                app.state.engine.dispose()

    app = FastAPI(
        title="Delphi",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,  # served below from vendored files: no CDN
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    # Pages compress well (the round-2 form of the demo study: 207 KB of HTML, 13.5 KB gzipped); the
    # proxy may compress instead (see docs/deployment.md), never both.
    app.add_middleware(GZipMiddleware, minimum_size=1000, compresslevel=6)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        upload_limit=settings.max_upload_bytes,
        respond=lambda request, status, detail: _error_response(request, status, "too_large", detail),
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_error_mapping(app)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        html = request.app.state.templates.render("api_docs.html", "en")
        # Swagger UI sets inline styles: allowed on this page only
        policy = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
        return Response(html, media_type="text/html", headers={"Content-Security-Policy": policy})

    @app.get("/livez", tags=["system"], include_in_schema=False)
    async def livez() -> JSONResponse:
        """The process answers (no database): for load balancers, and the baseline of benchmarks."""
        return JSONResponse({"status": "ok"})

    @app.get("/health", tags=["system"])
    def health(request: Request) -> JSONResponse:
        try:
            # A raw DB-API cursor: no transaction to begin, so a busy writer never delays the answer.
            raw = request.app.state.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("SELECT 1")
                cursor.close()
            finally:
                raw.close()
        except Exception:  # the database is unreachable: the log says why, the public answer does not
            log.warning("health check: the database is unavailable", exc_info=True)
            return JSONResponse({"status": "error", "database": "unavailable", "version": __version__}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    for router in ROUTERS:
        app.include_router(router)
    return app


def create_served_app() -> FastAPI:
    """The application as ``delphi serve`` runs it in each worker process."""
    return create_app(freeze_startup_objects=True)
