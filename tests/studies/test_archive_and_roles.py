"""An archived study is read-only for everyone (answers, edits, reminders); a study always keeps an
owner; viewers see the panel under pseudonyms only."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from app.db import utcnow
from app.mail.models import OutboxMessage
from app.panel import service as panel
from app.rounds import answers, scheduler
from app.rounds.models import Answer
from app.studies import service as studies
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import add_member, login, mailer_for, make_panel_study, make_researcher, page_login
from tests.rounds.helpers import invited, open_round


def archived_with_an_open_round(session, settings):  # type: ignore[no-untyped-def]
    owner = make_researcher(session, "owner@example.org")
    study = make_panel_study(session, owner, experts=3, items=2, language="en")
    round_ = open_round(session, study, settings, reminder_interval_hours=1)
    studies.archive_study(session, study, owner)
    return owner, study, round_


def test_an_archived_study_takes_no_answers(client, session, settings):
    owner = make_researcher(session, "owner@example.org")
    study = make_panel_study(session, owner, experts=3, items=2, language="en")
    round_ = open_round(session, study, settings)
    expert = invited(session, round_)[0]
    url = f"/e/{panel.current_link(session, expert, TEST_SECRET)}"
    csrf = csrf_from(client.get(url).text)  # a page opened before the study was archived
    studies.archive_study(session, study, owner)
    page = client.get(url)
    assert page.status_code == 200 and "closed" in page.text
    item = answers.round_items(session, round_.id)[0]
    saved = client.post(
        f"{url}/answers", json={"answers": {str(item.id): {"value": 5}}}, headers={"X-CSRF-Token": csrf}
    )
    assert saved.status_code == 409 and "archived" in saved.json()["detail"]
    assert client.post(f"{url}/save", data={"csrf_token": csrf, f"v{item.id}": "5"}).status_code == 409
    assert session.exec(select(Answer).where(Answer.expert_id == expert.id)).all() == []


def test_an_archived_study_takes_no_edits_and_sends_no_reminders(client, session, settings, database):
    owner, study, round_ = archived_with_an_open_round(session, settings)
    csrf = login(client, "owner@example.org")
    for method, url, body in (
        ("post", f"/api/studies/{study.id}/themes", {"title": "A new theme"}),
        ("post", f"/api/studies/{study.id}/rounds/1/reminders", None),
        ("post", f"/api/studies/{study.id}/rounds/1/close", None),
    ):
        response = getattr(client, method)(url, json=body, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 409 and "archived" in response.json()["detail"], url
    assert client.get(f"/api/studies/{study.id}/experts").status_code == 200  # reading is fine
    restored = client.post(f"/api/studies/{study.id}/archive?restore=true", headers={"X-CSRF-Token": csrf})
    assert restored.status_code == 200  # the owner can restore it


def test_the_worker_sends_no_reminders_for_an_archived_study(database, settings):
    from sqlmodel import Session

    from app.db import make_engine, session_scope
    from tests.conftest import settings_for

    url = database.fresh()
    engine = make_engine(url)
    with session_scope(engine) as session:
        owner = make_researcher(session, "owner@example.org")
        study = make_panel_study(session, owner, experts=2, items=1, language="en")
        round_ = open_round(session, study, settings_for(url), reminder_interval_hours=1)
        for message in session.exec(select(OutboxMessage).where(OutboxMessage.kind == "invitation")).all():
            message.status, message.sent_at = "sent", utcnow() - timedelta(hours=2)  # delivered then
            session.add(message)
        studies.archive_study(session, study, owner)
        round_id = round_.id
    assert scheduler.queue_due_reminders(engine, mailer_for(settings_for(url))) == 0
    with Session(engine) as session:
        kinds = [m.kind for m in session.exec(select(OutboxMessage).where(OutboxMessage.round_id == round_id)).all()]
    assert "reminder" not in kinds
    engine.dispose()


def test_the_only_owner_cannot_step_down(client, session):
    owner = make_researcher(session, "owner@example.org")
    study = make_panel_study(session, owner, experts=1, items=1)
    csrf = page_login(client, "owner@example.org")
    demoted = client.post(
        f"/studies/{study.id}/members", data={"csrf_token": csrf, "email": "owner@example.org", "role": "editor"}
    )
    assert demoted.status_code == 400 and "at least one owner" in demoted.text
    other = make_researcher(session, "second@example.org")
    add_member(session, study, other, "owner")
    ok = client.post(
        f"/studies/{study.id}/members",
        data={"csrf_token": csrf, "email": "owner@example.org", "role": "editor"},
        follow_redirects=False,
    )
    assert ok.status_code == 303


def test_viewers_see_pseudonyms_only(client, session):
    owner = make_researcher(session, "owner@example.org")
    viewer = make_researcher(session, "viewer@example.org")
    study = make_panel_study(session, owner, experts=2, items=1)
    add_member(session, study, viewer, "viewer")
    login(client, "viewer@example.org")
    experts = client.get(f"/api/studies/{study.id}/experts").json()
    assert [e["pseudonym"] for e in experts] == ["E01", "E02"]
    assert all(e["name"] == "" and e["email"] == "" for e in experts)
    page = client.get(f"/studies/{study.id}/panel").text
    assert "E01" in page and "expert1@example.org" not in page and "Expert 1<" not in page
    client.cookies.clear()
    login(client, "owner@example.org")
    assert client.get(f"/api/studies/{study.id}/experts").json()[0]["email"] == "expert1@example.org"
