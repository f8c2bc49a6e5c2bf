"""The mailbox's "Deliver now" hands the study's waiting messages to the worker: the researcher's
request talks to no SMTP server, and other studies' mail keeps its own schedule."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import utcnow
from app.mail.models import MessageStatus, OutboxMessage
from tests.factories import make_panel_study, make_researcher, page_login
from tests.rounds.helpers import open_round


def test_deliver_now_makes_this_studys_waiting_mail_due_and_no_other(client, session, settings):
    owner = make_researcher(session)
    mine = make_panel_study(session, owner, experts=2, items=1, language="en", title="Mine")
    theirs = make_panel_study(session, None, experts=2, items=1, language="en", title="Theirs")
    open_round(session, mine, settings)
    open_round(session, theirs, settings)
    later = utcnow() + timedelta(hours=1)  # as after a failed attempt: waiting for its back-off
    for message in session.exec(select(OutboxMessage)).all():
        message.next_attempt_at = later
        session.add(message)
    session.flush()
    csrf = page_login(client)
    response = client.post(f"/studies/{mine.id}/mailbox/deliver", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("done=handed")
    now = utcnow()
    for message in session.exec(select(OutboxMessage)).all():
        session.refresh(message)
        assert message.status == MessageStatus.PENDING  # nothing was sent inside the request
        due = message.next_attempt_at <= now
        assert due == (message.study_id == mine.id), (message.study_id, message.next_attempt_at)


def test_the_mailbox_links_only_the_platform_s_own_addresses(client, session, settings):
    """An expert's name is theirs to write: an address in it stays text, where the personal link in
    the same message is a link."""
    from app.panel.models import Expert

    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=1, items=1, language="en")
    expert = session.exec(select(Expert).where(Expert.study_id == study.id)).one()
    expert.name = '=HYPERLINK("http://evil.example/x")'
    session.add(expert)
    open_round(session, study, settings)
    page_login(client)
    page = client.get(f"/studies/{study.id}/mailbox").text
    assert 'href="http://evil.example' not in page and "http://evil.example/x" in page
    assert f'<a href="{settings.base_url}/e/' in page
