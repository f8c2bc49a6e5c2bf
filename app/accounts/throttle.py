"""Researcher login throttle: failed logins slow down the next attempts, per account and per client.

A backoff, not a ban. After a few free failures, each further attempt must wait a delay that
doubles with every failure, up to a cap: short for an account (an attacker trying one account from
many addresses can keep its owner waiting a minute at most, and gets about 60 guesses an hour),
longer for a client (one address hammering the server waits up to 15 minutes). A successful login
clears the account's and the client's failures. The failures are rows in the database, so every
app server counts the same; accounts and clients are stored as keyed hashes (the e-mail address
is normalised first, and an unknown address is throttled the same way as a known one, so the
answer says nothing about which addresses have accounts).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from app.accounts.models import LoginFailure
from app.db import UnitsOfWork, utcnow
from app.errors import Message, TooManyRequests

log = logging.getLogger("delphi.login")

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Backoff:
    free: int  # failures in the window before any delay
    cap_seconds: float  # the longest delay

    def delay(self, failures: int) -> float:
        """Seconds to wait after the last failure, given the failures in the window."""
        if failures < self.free:
            return 0.0
        return float(min(2 ** (failures - self.free), self.cap_seconds))


ACCOUNT_CAP_SECONDS = 60.0
CLIENT_CAP_SECONDS = 15 * 60.0

_FAILURES = LoginFailure.__table__  # type: ignore[attr-defined]
_RECORD = insert(_FAILURES)
_COUNT = select(func.count(), func.max(_FAILURES.c.failed_at)).where(
    _FAILURES.c.key_hash == bindparam("key_hash"), _FAILURES.c.failed_at >= bindparam("since")
)
_FORGET = delete(_FAILURES).where(_FAILURES.c.key_hash.in_(bindparam("keys", expanding=True)))


class LoginThrottle:
    """``sessions`` opens a short transaction of its own to count a failure (the failed request's
    transaction is not the place: it may be rolled back)."""

    def __init__(
        self,
        sessions: UnitsOfWork,
        secret_key: str,
        free_per_account: int = 5,
        free_per_client: int = 10,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._key = secret_key.encode()
        self.account = Backoff(free_per_account, ACCOUNT_CAP_SECONDS)
        self.client = Backoff(free_per_client, CLIENT_CAP_SECONDS)
        self.clock = clock

    def _hash(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()

    def _keys(self, email: str, client: str) -> tuple[str, str]:
        return self._hash("account", email.strip().lower()), self._hash("client", client)

    def wait_seconds(self, reader: Session, email: str, client: str) -> float:
        """How long this attempt must still wait (0: it may go on). Reads only."""
        now = self.clock()
        waits = []
        for key, backoff in zip(self._keys(email, client), (self.account, self.client), strict=True):
            count, last = reader.execute(_COUNT, {"key_hash": key, "since": now - WINDOW}).one()
            if count and last is not None:
                waits.append(backoff.delay(int(count)) - (now - last).total_seconds())
        return max([0.0, *waits])

    def refuse_if_waiting(self, reader: Session, email: str, client: str) -> None:
        """``TooManyRequests`` (with Retry-After) while the account's or the client's failures
        make this attempt wait: a password, a reset request, a second-factor code alike."""
        wait = self.wait_seconds(reader, email, client)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise TooManyRequests(
                Message("Too many failed attempts. Wait %(seconds)s seconds, then try again.", seconds=seconds),
                headers={"Retry-After": str(seconds)},
            )

    def failed(self, email: str, client: str) -> None:
        """Count a failed attempt; one that cannot be counted is logged, and the login still fails."""
        now = self.clock()
        try:
            with self._sessions() as session:
                session.execute(_RECORD, [{"key_hash": key, "failed_at": now} for key in self._keys(email, client)])
        except SQLAlchemyError:
            log.warning("a failed login could not be counted", exc_info=True)

    def succeeded(self, session: Session, email: str, client: str) -> None:
        """Forget the account's and the client's failures (in the login's own transaction)."""
        session.execute(_FORGET, {"keys": list(self._keys(email, client))})


def forget_old_failures(session: Session, now: datetime | None = None) -> int:
    """Delete failures older than the window (the worker does it now and then)."""
    result = session.execute(delete(_FAILURES).where(_FAILURES.c.failed_at < (now or utcnow()) - WINDOW))
    return int(getattr(result, "rowcount", 0) or 0)
