"""The worker closes rounds at their deadline and sends reminders on schedule."""

from datetime import timedelta

from sqlmodel import Session, select

from app import worker
from app.db import make_engine, session_scope, utcnow
from app.mail.models import OutboxMessage
from app.rounds import scheduler
from app.rounds.models import Round
from tests.conftest import settings_for
from tests.factories import mailer_for, make_panel_study
from tests.rounds.helpers import open_round


def test_deadline_closes_and_reminders_follow_the_interval(database):
    url = database.fresh()
    engine = make_engine(url)
    settings = settings_for(url)
    with session_scope(engine) as session:
        study = make_panel_study(session, experts=3, items=2)
        round_ = open_round(session, study, settings, reminder_interval_hours=24)
        round_id = round_.id
    assert scheduler.queue_due_reminders(engine, mailer_for(settings)) == 0  # not yet a day
    with session_scope(engine) as session:
        for message in session.exec(select(OutboxMessage).where(OutboxMessage.kind == "invitation")).all():
            message.status, message.sent_at = "sent", utcnow() - timedelta(hours=25)  # delivered then
            session.add(message)
    assert scheduler.queue_due_reminders(engine, mailer_for(settings)) == 3
    assert scheduler.queue_due_reminders(engine, mailer_for(settings)) == 0  # the next one is a day later
    with session_scope(engine) as session:
        round_ = session.get(Round, round_id)
        round_.closes_at = utcnow() - timedelta(minutes=1)
        session.add(round_)
    report = worker.run_worker_pass(engine, settings)
    assert report.rounds_closed == 1
    with Session(engine) as session:
        assert session.get(Round, round_id).status == "analysed"
        assert len(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).all()) == 3
    assert scheduler.close_due_rounds(engine, settings) == 0
    engine.dispose()
