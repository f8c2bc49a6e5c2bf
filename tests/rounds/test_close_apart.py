"""Closing a round holds no write transaction while the round is analysed: on SQLite other writers
(experts of other studies saving) go through while the statistics are computed, and a round
reopened in the middle gets no stale snapshot."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlmodel import select

from app.db import Transactions, make_engine, session_scope
from app.errors import Conflict
from app.migrate import upgrade
from app.rounds import analysis, service
from app.rounds.models import Round, RoundResult
from app.studies.models import Study
from tests.conftest import settings_for
from tests.factories import make_panel_study
from tests.rounds.helpers import answer_all, open_round


@pytest.fixture
def closing(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A file database with an answered open round, and a hook run in the middle of its analysis."""
    url = f"sqlite:///{tmp_path / 'close.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        study = make_panel_study(session, experts=5, items=3)
        round_ = open_round(session, study, settings_for(url))
        answer_all(session, study, round_)
        ids = (study.id, round_.id)
    during: list = []  # type: ignore[type-arg]
    real_compute = analysis.compute

    def compute_with_hook(*args, **kwargs):  # type: ignore[no-untyped-def]
        for hook in during:
            hook()
        return real_compute(*args, **kwargs)

    monkeypatch.setattr(analysis, "compute", compute_with_hook)
    yield engine, ids, during
    engine.dispose()


def test_other_writers_go_through_while_a_closed_round_is_analysed(closing):  # type: ignore[no-untyped-def]
    engine, (study_id, round_id), during = closing
    wrote = threading.Event()

    def another_writer() -> None:
        with session_scope(engine) as session:
            session.execute(text("UPDATE study SET description = 'edited meanwhile' WHERE id = :id"), {"id": study_id})
        wrote.set()

    def write_meanwhile() -> None:
        threading.Thread(target=another_writer, daemon=True).start()
        # in one transaction, the writer would wait for the close to commit, after this returns
        assert wrote.wait(10), "a writer waited for the analysis"

    during.append(write_meanwhile)
    service.close_then_analyse(Transactions.on(engine), study_id, round_id, None)
    with session_scope(engine) as session:
        round_ = session.get(Round, round_id)
        assert round_ is not None and round_.status == "analysed"
        assert session.exec(select(RoundResult).where(RoundResult.round_id == round_id)).first() is not None


def test_a_round_reopened_while_it_is_analysed_gets_no_snapshot(closing):  # type: ignore[no-untyped-def]
    engine, (study_id, round_id), during = closing

    def reopen_meanwhile() -> None:
        with session_scope(engine) as session:
            study, round_ = session.get(Study, study_id), session.get(Round, round_id)
            service.reopen_round(session, study, round_, "a late expert", None, None)  # type: ignore[arg-type]

    during.append(reopen_meanwhile)
    with pytest.raises(Conflict, match="reopened while it was being analysed"):
        service.close_then_analyse(Transactions.on(engine), study_id, round_id, None)
    with session_scope(engine) as session:
        round_ = session.get(Round, round_id)
        assert round_ is not None and round_.status == "open" and round_.analysed_at is None
        assert session.exec(select(RoundResult).where(RoundResult.round_id == round_id)).first() is None
