"""Failed look-ups of expert links are limited per client and overall (SECURITY.md, rule 5).

Counters live in the process: with several app servers each keeps its own, which still bounds a
guessing attack (256-bit tokens make guessing hopeless anyway; the limit stops noisy scanning).
They are separate from anything researcher login uses.
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_SECONDS = 60.0


class FailureLimiter:
    def __init__(self, per_client: int, overall: int, window: float = WINDOW_SECONDS, clock=time.monotonic):  # type: ignore[no-untyped-def]
        self.per_client = per_client
        self.overall = overall
        self.window = window
        self.clock = clock
        self._clients: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def _trim(self, times: deque[float], now: float) -> None:
        while times and now - times[0] > self.window:
            times.popleft()

    def blocked(self, client: str) -> bool:
        now = self.clock()
        with self._lock:
            times = self._clients.get(client)
            if times is not None:
                self._trim(times, now)
            self._trim(self._all, now)
            return (times is not None and len(times) >= self.per_client) or len(self._all) >= self.overall

    def record_failure(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            self._clients.setdefault(client, deque()).append(now)
            self._all.append(now)
            if len(self._clients) > 10_000:  # forget idle clients
                for key in [k for k, v in self._clients.items() if not v or now - v[-1] > self.window]:
                    del self._clients[key]
