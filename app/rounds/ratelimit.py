"""Failed look-ups of expert links are limited per client and overall (SECURITY.md, rule 5).

The failures are rows in the database, so every app server counts the same failures: a client
that fails five times on one server and five on another has failed ten times. A server refuses a
client once it has itself seen the count reach the limit, and remembers that in memory until the
window ends, so a request that is let through costs no query: only failures touch the database.
Another server learns of the block at the client's next failure there, so across N servers a
client gets at most N - 1 more tries than the limit in a window (256-bit tokens make guessing
hopeless anyway; the limit stops noisy scanning). The counters are apart from researcher login.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select
from sqlmodel import Session

from app.db import utcnow
from app.rounds.models import LinkFailure
from app.security import hash_token

WINDOW_SECONDS = 60.0

_FAILURES = LinkFailure.__table__  # type: ignore[attr-defined]
_FORGET_OLD = delete(_FAILURES).where(_FAILURES.c.failed_at < bindparam("since"))
_RECORD = insert(_FAILURES)
_COUNTS = select(
    select(func.count())
    .where(_FAILURES.c.client_hash == bindparam("client_hash"), _FAILURES.c.failed_at >= bindparam("since"))
    .scalar_subquery(),
    select(func.count()).where(_FAILURES.c.failed_at >= bindparam("since")).scalar_subquery(),
)


class FailureLimiter:
    def __init__(
        self,
        per_client: int,
        overall: int,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.per_client = per_client
        self.overall = overall
        self.window = timedelta(seconds=window)
        self.clock = clock
        self._blocked_until: dict[str, datetime] = {}  # client -> end of its block, on this server
        self._everyone_blocked_until: datetime | None = None
        self._lock = threading.Lock()

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

    def record_failure(self, session: Session, client: str) -> None:
        """Count a failed look-up in ``session``'s transaction (the caller commits it), forgetting
        failures older than the window, and block the client (or everyone) if a limit is reached."""
        now = self.clock()
        since = now - self.window
        client_hash = hash_token(client)
        session.execute(_FORGET_OLD, {"since": since})
        session.execute(_RECORD, {"client_hash": client_hash, "failed_at": now})
        by_client, overall = session.execute(_COUNTS, {"client_hash": client_hash, "since": since}).one()
        with self._lock:
            if by_client >= self.per_client:
                self._blocked_until[client] = now + self.window
            if overall >= self.overall:
                self._everyone_blocked_until = now + self.window
            if len(self._blocked_until) > 10_000:  # forget the blocks that ended
                self._blocked_until = {c: t for c, t in self._blocked_until.items() if t > now}
