"""Mail over real SMTP (aiosmtpd): sent once, retried with back-off when SMTP is down, never twice."""

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from app import worker
from app.accounts import service as accounts
from app.accounts.models import ResearcherSession
from app.db import make_engine, session_scope, utcnow
from app.mail import sender
from app.mail.models import OutboxMessage
from app.rounds import invitations
from app.rounds.models import Invitation, LinkFailure
from app.security import hash_token
from tests.conftest import settings_for
from tests.factories import make_panel_study, make_researcher
from tests.mail.conftest import free_port
from tests.rounds.helpers import open_round


@pytest.fixture
def world(database):
    """A fresh database with a study whose round 1 is open (five invitations queued)."""
    url = database.fresh()
    engine = make_engine(url)
    settings = settings_for(url)
    with session_scope(engine) as session:
        study = make_panel_study(session, experts=5, items=2, language="fr")
        open_round(session, study, settings)
    yield engine, url
    engine.dispose()


def statuses(engine):
    with Session(engine) as session:
        return sorted(m.status for m in session.exec(select(OutboxMessage)).all())


def test_invitations_go_out_once_with_text_html_and_the_link(world, smtp_server):
    engine, url = world
    settings = settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    report = sender.deliver_due(engine, settings)
    assert report.sent == 5 and statuses(engine) == ["sent"] * 5
    assert len(smtp_server.messages) == 5
    message = smtp_server.messages[0]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "http://testserver/e/" in text and "http://testserver/e/" in html
    assert "Bonjour" in text and "Hello" not in text  # the study is in French, and so are its e-mails
    assert sender.deliver_due(engine, settings).sent == 0 and len(smtp_server.messages) == 5  # never twice
    with Session(engine) as session:
        invited = session.exec(select(Invitation)).all()
        first_sent = invitations.first_sent(session, invited[0].round_id)
        assert all(first_sent.get(i.expert_id) is not None for i in invited)


def test_smtp_down_then_up_every_mail_goes_out_later_none_twice(world, smtp_server):
    engine, url = world
    down = settings_for(url, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout=2)
    report = sender.deliver_due(engine, down)
    assert report.sent == 0 and report.retried == 5 and statuses(engine) == ["pending"] * 5
    with Session(engine) as session:
        waiting = session.exec(select(OutboxMessage)).all()
        assert all(m.attempts == 1 and m.next_attempt_at > utcnow() and "cannot reach" in m.last_error for m in waiting)
    up = settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    assert sender.deliver_due(engine, up).sent == 0  # not due yet: back-off is respected
    with session_scope(engine) as session:
        for m in session.exec(select(OutboxMessage)).all():
            m.next_attempt_at = utcnow() - timedelta(seconds=1)
            session.add(m)
    assert sender.deliver_due(engine, up).sent == 5
    assert len(smtp_server.messages) == 5 and len({m["To"] for m in smtp_server.messages}) == 5
    assert sender.deliver_due(engine, up).sent == 0 and len(smtp_server.messages) == 5


def test_a_refused_address_fails_for_good_and_the_rest_go(world, smtp_server):
    engine, url = world
    with Session(engine) as session:
        smtp_server.refuse.add(session.exec(select(OutboxMessage)).first().to_address)
    report = sender.deliver_due(engine, settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port))
    assert report.sent == 4 and report.failed == 1
    assert statuses(engine) == ["failed"] + ["sent"] * 4


def test_a_sender_that_died_mid_send_leaves_the_message_uncertain_not_resent(world, smtp_server):
    engine, url = world
    with session_scope(engine) as session:
        message = session.exec(select(OutboxMessage)).first()
        message.status, message.lease_until, message.attempts = "sending", utcnow() - timedelta(minutes=1), 1
        session.add(message)
    sender.deliver_due(engine, settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port))
    assert statuses(engine) == ["sent"] * 4 + ["uncertain"]
    assert len(smtp_server.messages) == 4


def test_without_smtp_settings_mail_waits_in_the_outbox(world):
    engine, url = world
    assert sender.deliver_due(engine, settings_for(url)).sent == 0
    assert statuses(engine) == ["pending"] * 5


def test_backoff_grows_and_is_capped():
    assert [sender.backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert sender.backoff(20) == timedelta(hours=1)


def test_the_worker_forgets_expired_sessions_and_old_link_failures(database):
    url = database.fresh()
    engine = make_engine(url)
    settings = settings_for(url)
    try:
        now = utcnow()
        with session_scope(engine) as session:
            researcher = make_researcher(session)
            kept = accounts.start_session(session, researcher, settings)
            ended = accounts.start_session(session, researcher, settings)
            row = session.get(ResearcherSession, hash_token(ended.cookie_value))
            row.expires_at = now - timedelta(minutes=1)
            session.add(row)
            session.add(LinkFailure(client_hash="recent", failed_at=now - timedelta(seconds=10)))
            session.add(LinkFailure(client_hash="old", failed_at=now - timedelta(minutes=5)))
        report = worker.run_worker_pass(engine, settings)
        assert report.forgotten == 2 and report.errors == []
        with Session(engine) as session:
            assert [s.id_hash for s in session.exec(select(ResearcherSession)).all()] == [hash_token(kept.cookie_value)]
            assert [f.client_hash for f in session.exec(select(LinkFailure)).all()] == ["recent"]
    finally:
        engine.dispose()


def test_a_message_that_cannot_be_written_fails_alone_and_visibly(world, smtp_server):
    """A line break in a subject (a study title from before titles were checked) made building the
    e-mail raise: the whole batch stuck in "sending", then "uncertain", never sent."""
    engine, url = world
    with session_scope(engine) as session:
        broken = session.exec(select(OutboxMessage)).first()
        broken.subject = "Delphi study “Social\nmedia”: round 1 is open"
        session.add(broken)
        broken_id = broken.id
    report = sender.deliver_due(engine, settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port))
    assert report.sent == 4 and report.failed == 1 and len(smtp_server.messages) == 4
    with Session(engine) as session:
        failed = session.get(OutboxMessage, broken_id)
        assert failed.status == "failed" and "cannot be written as e-mail" in failed.last_error


def test_new_messages_have_one_line_subjects(session):
    from app.mail import service as mail
    from app.mail.service import RenderedEmail

    message = mail.queue(
        session,
        dedupe_key="x",
        to="a@example.org",
        email=RenderedEmail("Round\r\n1  of\tthe study", "t", "h"),
        kind="test",
    )
    assert message.subject == "Round 1 of the study"


def test_every_attempt_to_send_a_message_carries_the_same_message_id(world, smtp_server):
    engine, url = world
    settings = settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    with Session(engine) as session:
        message = session.exec(select(OutboxMessage)).first()
    first, again = sender.build_message(message, settings), sender.build_message(message, settings)
    assert first["Message-ID"] == again["Message-ID"] and first["Message-ID"].startswith(f"<delphi.{message.id}.")
    other = settings_for(url, secret_key="another-secret-key-that-is-long-enough-42")
    assert sender.message_id(message, other) != first["Message-ID"]  # not guessable without the key
    sender.deliver_due(engine, settings)
    assert first["Message-ID"] in {m["Message-ID"] for m in smtp_server.messages}


def test_a_busy_database_postpones_housekeeping_in_one_line_without_a_traceback(world, monkeypatch, caplog):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    engine, url = world

    def locked(_engine):  # type: ignore[no-untyped-def]
        raise OperationalError("DELETE FROM link_failure", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(worker, "forget_expired", locked)
    report = worker.run_worker_pass(engine, settings_for(url))
    assert report.errors and "database is locked" in report.errors[-1]
    records = [r for r in caplog.records if "housekeeping" in r.getMessage()]
    assert [r.getMessage() for r in records] == [
        "housekeeping (expired sessions and failures) postponed to the next pass: the database is busy"
    ]
    assert records[0].exc_info is None


def test_the_outbox_keeps_no_working_link_and_the_mail_carries_one(world, smtp_server):
    from app.mail.service import PERSONAL_LINK
    from app.panel.models import Expert

    engine, url = world
    with Session(engine) as session:
        stored = session.exec(select(OutboxMessage)).all()
        assert all(PERSONAL_LINK in m.body_text and PERSONAL_LINK in m.body_html for m in stored)
        hashes = {e.link_token_hash for e in session.exec(select(Expert)).all()}
    sender.deliver_due(engine, settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port))
    for message in smtp_server.messages:
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert PERSONAL_LINK not in text + html
        token = text.split("http://testserver/e/", 1)[1].split()[0]
        assert hash_token(token) in hashes and f"/e/{token}" in html
