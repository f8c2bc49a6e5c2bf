"""Request bodies have a size limit, checked before the application reads them.

Without it, one anonymous POST of hundreds of megabytes is read into memory (a form, a JSON body)
before anything can refuse it. The declared length is checked first; a body sent without one
(chunked) is counted as it arrives and cut off at the limit. Uploads (panel files, protocol files)
have a larger limit than the rest; either way the answer is a 413 with a message a person reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from app.errors import Message

UPLOAD_PATHS = re.compile(r"^(/api)?/studies(/\d+/panel)?/import$|^/api/studies/\d+/experts/import$")


class BodyLimit:
    """Pure ASGI middleware. ``respond(request, status, message)`` builds the refusal (the app's own
    error page or JSON), so the 413 reads like every other error of the app."""

    def __init__(
        self, app: ASGIApp, *, limit: int, upload_limit: int, respond: Callable[[Request, int, str], Any]
    ) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit
        self.respond = respond

    def limit_for(self, path: str) -> int:
        return self.upload_limit if UPLOAD_PATHS.match(path) else self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        received, refused = 0, False

        async def counted_receive() -> ASGIMessage:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await self._refuse(scope, receive, send, limit)
                    return {"type": "http.disconnect"}  # the application stops reading
            return message

        async def send_unless_refused(message: ASGIMessage) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted_receive, send_unless_refused)
        except Exception:
            if not refused:  # an error of its own: the app's error handling takes it
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        megabytes = f"{limit / 1_000_000:g}"
        detail = Message("The request is too large (more than %(size)s MB); nothing was saved.", size=megabytes)
        response = self.respond(Request(scope, receive), 413, detail)
        response.headers["connection"] = "close"
        await response(scope, receive, send)
