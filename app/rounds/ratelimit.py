"""Failed look-ups of expert links are limited per client and overall (SECURITY.md, rule 5).

The failures are rows in the database, so every app server counts the same failures: a client
that fails five times on one server and five on another has failed ten times, and the overall
cap holds for all servers together. A server refuses a client once it has itself seen the count
reach the limit, and remembers that in memory until the window ends, so a request that is let
through costs no query: only failures touch the database. Another server learns of the block at
the client's next failure there, so across N servers a client gets at most N - 1 more tries than
the limit in a window (256-bit tokens make guessing hopeless anyway; the limit stops noisy
scanning). The counters are apart from researcher login.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app.config import Settings
from app.db import UnitsOfWork, utcnow
from app.rounds.models import LinkFailure

WINDOW_SECONDS = 60.0
log = logging.getLogger("delphi.links")

_FAILURES = LinkFailure.__table__  # type: ignore[attr-defined]
_RECORD = insert(_FAILURES)
_COUNTS = select(
    select(func.count())
    .where(_FAILURES.c.client_hash == bindparam("client_hash"), _FAILURES.c.failed_at >= bindparam("since"))
    .scalar_subquery(),
    select(func.count()).where(_FAILURES.c.failed_at >= bindparam("since")).scalar_subquery(),
)


class FailureLimiter:
    """``sessions`` opens a transaction of its own for each failure (the failed request's own
    transaction is rolled back); ``secret_key`` keys the hash under which a client is counted."""

    def __init__(
        self,
        sessions: UnitsOfWork,
        secret_key: str,
        per_client: int,
        overall: int,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.per_client = per_client
        self.overall = overall
        self.window = timedelta(seconds=window)
        self.clock = clock
        self._sessions = sessions
        self._key = secret_key.encode()
        self._blocked_until: dict[str, datetime] = {}  # client -> end of its block, on this server
        self._everyone_blocked_until: datetime | None = None
        self._lock = threading.Lock()

    def client_hash(self, client: str) -> str:
        """What is stored of a client's address: a keyed hash, which cannot be reversed by trying
        every address without the secret key."""
        return hmac.new(self._key, b"client:" + client.encode(), hashlib.sha256).hexdigest()

    def blocked(self, client: str) -> bool:
        """Whether this server refuses the client now (no query)."""
        now = self.clock()
        with self._lock:
            if self._everyone_blocked_until is not None and now < self._everyone_blocked_until:
                return True
            until = self._blocked_until.get(client)
            if until is not None and now >= until:
                del self._blocked_until[client]
                return False
            return until is not None

    def record_failure(self, client: str) -> None:
        """Count a failed look-up, and block the client (or everyone) once a limit is reached.

        A failure that cannot be counted (the database is busy or down) is logged, not raised: the
        visitor still gets the same "not valid" page as every other failure."""
        now = self.clock()
        client_hash = self.client_hash(client)
        try:
            with self._sessions() as session:
                session.execute(_RECORD, {"client_hash": client_hash, "failed_at": now})
                by_client, overall = session.execute(
                    _COUNTS, {"client_hash": client_hash, "since": now - self.window}
                ).one()
        except SQLAlchemyError:
            log.warning("a failed link look-up could not be counted", exc_info=True)
            return
        with self._lock:
            if by_client >= self.per_client:
                self._blocked_until[client] = now + self.window
            if overall >= self.overall:
                self._everyone_blocked_until = now + self.window
            if len(self._blocked_until) > 10_000:  # forget the blocks that ended
                self._blocked_until = {c: t for c, t in self._blocked_until.items() if t > now}


def forget_old_failures(session: Session, now: datetime | None = None) -> int:
    """Delete the failures older than the window (the worker does it now and then)."""
    since = (now or utcnow()) - timedelta(seconds=WINDOW_SECONDS)
    result = session.execute(delete(_FAILURES).where(_FAILURES.c.failed_at < since))
    return int(getattr(result, "rowcount", 0) or 0)


def link_limiter(settings: Settings, sessions: UnitsOfWork) -> FailureLimiter:
    """The limiter of an app, with the limits of its settings."""
    return FailureLimiter(
        sessions, settings.secret_key, settings.link_failures_per_minute, settings.link_failures_per_minute_overall
    )
