"""Engine and sessions: SQLite (WAL, busy timeout, foreign keys) or PostgreSQL (psycopg 3).

A request gets one session; services only ``flush()``; the request boundary commits, or rolls
back when anything raised, so a multi-step action succeeds or fails whole.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import AutoString, Session, SQLModel, create_engine

SQLITE_BUSY_TIMEOUT_MS = 15_000
_HOLDS_WRITE_TURN = "delphi_holds_write_turn"


def utcnow() -> datetime:
    """Aware UTC, as SQLModel's ``UTCDateTime`` columns store and return it."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy issue BEGIN itself so that "BEGIN IMMEDIATE" below is possible.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _WriteTurns:
    """A queue in front of SQLite's single write lock, for the threads of one process.

    SQLite makes a blocked writer poll with sleeps growing to 100 ms, so under load the lock sits
    free while waiters sleep and saves pile up. Waiting here instead hands the lock over the moment
    the previous transaction ends. Correctness never depends on it: after ``timeout`` seconds a
    writer goes on to SQLite's own locking, and other processes only meet SQLite's lock.
    """

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._timeout = timeout

    def begin(self, conn: Any) -> None:
        info = conn.connection.record_info  # None for a connection detached from the pool
        if info is not None and not info.get(_HOLDS_WRITE_TURN):
            info[_HOLDS_WRITE_TURN] = self._lock.acquire(timeout=self._timeout)
        # Writers take the lock at BEGIN: a deferred transaction that later upgrades to a write
        # lock fails at once with "database is locked" instead of waiting on busy_timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def end(self, _dbapi_connection: Any, record: Any) -> None:
        """The connection went back to the pool (after commit or rollback) or was discarded."""
        info = record.record_info if record is not None else None
        if info is not None and info.pop(_HOLDS_WRITE_TURN, False):
            self._lock.release()


def _sqlite_begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


# Saves use INSERT ... ON CONFLICT ... RETURNING (SQLite 3.35, March 2021).
SQLITE_MINIMUM = (3, 35)


class UnsupportedDatabase(RuntimeError):
    pass


POSTGRES_POOL_SIZE, POSTGRES_POOL_OVERFLOW = 10, 10


def make_engine(database_url: str, *, echo: bool = False, read_only: bool = False) -> Engine:
    """An engine; ``read_only`` gives, on SQLite, transactions that read without taking the write
    lock (for GET requests, which never write), so pages render while a save is being written."""
    if database_url.startswith("sqlite"):
        if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
            raise UnsupportedDatabase(
                f"SQLite {'.'.join(map(str, SQLITE_MINIMUM))} or newer is needed; this Python has "
                f"{sqlite3.sqlite_version}. Use a newer Python or system SQLite, or PostgreSQL."
            )
        engine = create_engine(
            database_url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=20,
            max_overflow=40,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if read_only:
            event.listen(engine, "begin", _sqlite_begin_deferred)
        else:
            turns = _WriteTurns(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            event.listen(engine, "begin", turns.begin)
            event.listen(engine.pool, "checkin", turns.end)  # also after an invalidation
            event.listen(engine.pool, "detach", turns.end)
        return engine
    # Enough kept open for the request threads (8) and a process's own threads (sender, warm-up,
    # report jobs), so none is opened per request; at most 20 a process, so that processes x 20
    # stays under PostgreSQL's max_connections (100 by default: 4 processes, docs/deployment.md).
    return create_engine(
        database_url, echo=echo, pool_pre_ping=True, pool_size=POSTGRES_POOL_SIZE, max_overflow=POSTGRES_POOL_OVERFLOW
    )


_readers: dict[str, Engine] = {}
_readers_lock = threading.Lock()


def reading_engine(engine: Engine) -> Engine:
    """An engine whose transactions only read: on SQLite, one that does not take the write lock
    (long reads, such as building a report, then never hold up expert saves); elsewhere the same."""
    if engine.dialect.name != "sqlite":
        return engine
    url = engine.url.render_as_string(hide_password=False)
    with _readers_lock:
        if url not in _readers:
            _readers[url] = make_engine(url, read_only=True)
        return _readers[url]


@contextmanager
def reading_scope(engine: Engine) -> Iterator[Session]:
    """A session that reads only (rolled back at the end), outside the write lock on SQLite."""
    with Session(reading_engine(engine), expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


class StatusColumn(TypeDecorator[Any]):
    """An entity's status: stored as plain text (VARCHAR(20)), read back as its ``StrEnum``."""

    impl = AutoString
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__(length=20)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Any) -> StrEnum | None:
        return None if value is None else self.enum(value)


# Opens a unit of work: ``partial(session_scope, engine)``, or a test's transaction.
UnitsOfWork = Callable[[], AbstractContextManager[Session]]


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit if the block finishes, roll back if it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# Constraint names that Alembic can diff and drop on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


@dataclass(frozen=True)
class Transactions:
    """Opens units of work apart from a request's own transaction, for work that must not hold the
    write lock throughout: ``write`` commits at the end of its block (rolls back if it raises),
    ``read`` only reads (on SQLite without the write lock). Tests open both in the test's transaction."""

    write: UnitsOfWork
    read: UnitsOfWork

    @classmethod
    def on(cls, engine: Engine) -> Transactions:
        return cls(write=partial(session_scope, engine), read=partial(reading_scope, engine))
