"""Time-driven round work, run by the worker: close rounds at their deadline, queue reminders."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from app.config import Settings
from app.db import Transactions, session_scope, utcnow
from app.errors import Conflict, NotFound
from app.mail.mailer import Mailer
from app.rounds import invitations, service
from app.rounds.models import Round, RoundStatus
from app.studies.models import Study


def close_due_rounds(engine: Engine, settings: Settings) -> int:
    """Close and analyse every open round whose deadline has passed, each in transactions of its own
    (the analysis outside any write transaction)."""
    with session_scope(engine) as session:
        due = [
            (r.study_id, r.id)
            for r in session.exec(
                select(Round).where(
                    Round.status == RoundStatus.OPEN,
                    col(Round.closes_at).is_not(None),
                    col(Round.closes_at) <= utcnow(),
                )
            ).all()
        ]
    closed = 0
    transactions = Transactions.on(engine)
    for study_id, round_id in due:
        try:
            service.close_then_analyse(transactions, study_id, round_id, None)
        except (Conflict, NotFound):
            continue  # closed by another worker or a researcher meanwhile, or deleted
        closed += 1
    return closed


def queue_due_reminders(engine: Engine, mailer: Mailer) -> int:
    """Remind those who have not submitted, every ``reminder_interval_hours`` of an open round."""
    queued = 0
    with session_scope(engine) as session:
        rounds = session.exec(
            select(Round).where(Round.status == RoundStatus.OPEN, col(Round.reminder_interval_hours).is_not(None))
        ).all()
        for round_ in rounds:
            study = session.get(Study, round_.study_id)
            if study is None or study.archived_at is not None:  # an archived study sends nothing
                continue
            interval = timedelta(hours=round_.reminder_interval_hours or 0)
            queued += invitations.remind(session, study, round_, mailer, due_after=interval)
    return queued
