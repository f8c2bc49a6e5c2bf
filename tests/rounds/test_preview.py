"""The research team previews the expert questionnaire: the round being prepared or open, every kind
of item, the feedback from round 2 on, in both languages, and nothing is saved or created."""

from __future__ import annotations

import re

from sqlmodel import func, select

from app.panel.models import Expert
from app.rounds import service
from app.rounds.models import Answer, Invitation, Round
from tests.factories import make_researcher, page_login
from tests.mail.conftest import smtp_server  # noqa: F401 - the SMTP server fixture
from tests.rounds.helpers import invited, open_round
from tests.rounds.test_every_kind import all_kinds_study, answer_everything


def _rows(session) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    return tuple(
        session.exec(select(func.count()).select_from(table)).one() for table in (Round, Answer, Invitation, Expert)
    )


def test_a_draft_study_is_previewed_as_round_1_with_every_kind_and_nothing_is_created(client, session):
    owner, study = all_kinds_study(session, experts=3)
    page_login(client, owner.email)
    before = _rows(session)
    page = client.get(f"/studies/{study.id}/preview")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert "Preview of round 1" in text and "nothing you do here is saved" in text
    for question in ("Which network do you use most?", "Order what drives a purchase", "What else matters?"):
        assert question in text
    assert 'name="k' in text and 'name="q' in text and 'name="t' in text  # ranking, estimate, open
    answers_form = re.search(r'<form [^>]*id="answers"[^>]*>', text).group(0)
    assert "action=" not in answers_form and "data-autosave" not in answers_form
    assert len(re.findall(r"<button [^>]*disabled", text)) == 2 and "/withdraw" not in text
    french = client.get(f"/studies/{study.id}/preview?language=fr")
    assert "Aperçu du tour 1" in french.text and 'lang="fr"' in french.text
    assert "set-cookie" not in french.headers  # the researcher's own pages keep their language
    assert 'lang="en"' in client.get(f"/studies/{study.id}/design").text
    assert _rows(session) == before


def test_round_2_is_previewed_with_the_group_s_feedback_before_it_is_created(client, session, settings):
    owner, study = all_kinds_study(session, experts=4)
    study.stopping_rule, study.max_rounds = "round >= max_rounds", 3
    session.add(study)
    round1 = open_round(session, study, settings)
    answer_everything(session, study, round1, invited(session, round1))
    service.close_round(session, study, round1, None)
    page_login(client, owner.email)
    before = _rows(session)
    text = client.get(f"/studies/{study.id}/preview").text
    assert "Preview of round 2" in text
    assert "Mean rank" in text and "Panel median" in text  # feedback of the ranking and the estimate
    assert "your answer last time" not in text  # the preview expert answered nothing
    assert _rows(session) == before
    assert session.exec(select(Round).where(Round.study_id == study.id, Round.number == 2)).first() is None


def test_an_open_round_is_previewed_as_it_is_asked_and_strangers_cannot_see_it(client, session, settings):
    owner, study = all_kinds_study(session, experts=3)
    open_round(session, study, settings)
    stranger = make_researcher(session, "stranger@example.org")
    page_login(client, stranger.email)
    assert client.get(f"/studies/{study.id}/preview").status_code in (403, 404)
    client.cookies.clear()
    assert client.get(f"/studies/{study.id}/preview", follow_redirects=False).status_code == 303  # to the login
    page_login(client, owner.email)
    text = client.get(f"/studies/{study.id}/preview").text
    assert "Preview of round 1" in text and "Which channels matter?" in text


def test_a_test_of_the_e_mails_goes_to_the_researcher_over_smtp_and_opens_the_preview(database, smtp_server):  # noqa: F811
    """From the mailbox page: the invitation and a reminder, in the language asked, to the
    researcher's own address, marked [Test], delivered over real SMTP; their link is the preview's,
    and no expert, round or invitation is created. A viewer may not send them."""
    from fastapi.testclient import TestClient

    from app.db import make_engine, session_scope
    from app.mail import sender
    from app.mail.models import OutboxMessage
    from app.main import create_app
    from tests.conftest import csrf_from, settings_for
    from tests.factories import add_member

    url = database.fresh()
    engine = make_engine(url)
    settings = settings_for(url, smtp_host="127.0.0.1", smtp_port=smtp_server.port)
    with session_scope(engine) as session:
        owner, study = all_kinds_study(session, experts=3)
        viewer = make_researcher(session, "viewer@example.org", "Vera")
        add_member(session, study, viewer, "viewer")
        study_id, owner_email = study.id, owner.email
        before = _rows(session)
    with TestClient(create_app(settings, engine=engine)) as client:
        page_login(client, "viewer@example.org")
        csrf = csrf_from(client.get(f"/studies/{study_id}").text)
        refused = client.post(f"/studies/{study_id}/preview/emails", data={"csrf_token": csrf, "language": "en"})
        assert refused.status_code == 403
        client.cookies.clear()
        page_login(client, owner_email)
        mailbox = client.get(f"/studies/{study_id}/mailbox").text
        assert f'action="/studies/{study_id}/preview/emails"' in mailbox
        sent = client.post(
            f"/studies/{study_id}/preview/emails",
            data={"csrf_token": csrf_from(mailbox), "language": "fr"},
            follow_redirects=False,
        )
        assert sent.status_code == 303 and sent.headers["location"].endswith("/mailbox?done=test_sent")
    with session_scope(engine) as session:
        queued = session.exec(select(OutboxMessage).where(OutboxMessage.study_id == study_id)).all()
        assert [m.kind for m in queued] == ["test", "test"] and {m.to_address for m in queued} == {owner_email}
        assert _rows(session) == before
    assert sender.deliver_due(engine, settings).sent == 2
    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects[0].startswith("[Test] Rappel") and subjects[1].startswith("[Test] Étude Delphi")  # in French
    text = next(m for m in smtp_server.messages if "Rappel" not in m["Subject"]).get_body(("plain",)).get_content()
    assert f"http://testserver/studies/{study_id}/preview?language=fr" in text and "/e/" not in text
    engine.dispose()
