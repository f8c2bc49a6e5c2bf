"""The SQLite write queue: writers of one process take turns in order, and a turn is always given
back (after a commit, a rollback, or an error), so no writer waits on a turn nobody holds."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import make_engine, session_scope


@pytest.fixture
def engine(tmp_path):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/queue.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE note (n INTEGER)"))
    yield engine
    engine.dispose()


def test_a_second_writer_waits_for_the_first_to_commit_and_then_writes(engine):  # type: ignore[no-untyped-def]
    first_wrote = threading.Event()
    second_done = threading.Event()
    order: list[str] = []

    def second_writer() -> None:
        first_wrote.wait(5)
        with session_scope(engine) as session:
            session.execute(text("INSERT INTO note VALUES (2)"))
            order.append("second")
        second_done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    with session_scope(engine) as session:
        session.execute(text("INSERT INTO note VALUES (1)"))
        first_wrote.set()
        assert not second_done.wait(0.3), "the second writer ran inside the first one's transaction"
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM note ORDER BY rowid")).scalars().all() == [1, 2]


def test_a_failed_transaction_gives_its_turn_back(engine):  # type: ignore[no-untyped-def]
    with pytest.raises(OperationalError), session_scope(engine) as session:
        session.execute(text("INSERT INTO missing_table VALUES (1)"))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.execute(text("INSERT INTO note VALUES (1)"))
        raise RuntimeError("the route failed after writing")
    started = time.perf_counter()
    done = threading.Event()

    def writer() -> None:
        with session_scope(engine) as session:
            session.execute(text("INSERT INTO note VALUES (3)"))
        done.set()

    threading.Thread(target=writer).start()
    assert done.wait(5), "a writer is still waiting for a turn that was never given back"
    assert time.perf_counter() - started < 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT n FROM note")).scalars().all() == [3]
