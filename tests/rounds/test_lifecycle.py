"""Rounds from draft to analysed: guarded transitions, invitations in the outbox, the protocol lock."""

from datetime import timedelta

import pytest
from sqlmodel import select

from app.db import utcnow
from app.errors import Conflict, InvalidInput
from app.mail.models import OutboxMessage
from app.rounds import invitations, service
from app.rounds.models import Invitation, Round, RoundItem, RoundResult
from tests.factories import login, mailer_for, make_panel_study, make_researcher
from tests.rounds.helpers import answer_all, invited, open_round


def test_transitions_refuse_illegal_moves():
    round_ = Round(study_id=1, number=1)
    now = utcnow()
    with pytest.raises(Conflict):
        round_.close(now)
    round_.open(now)
    with pytest.raises(Conflict):
        round_.open(now)
    with pytest.raises(Conflict):
        round_.mark_analysed(now)
    round_.close(now)
    round_.mark_analysed(now)
    with pytest.raises(InvalidInput):
        round_.reopen(now, "  ", None)
    round_.reopen(now, "two experts were travelling", now + timedelta(days=2))
    assert round_.status == "open" and "travelling" in round_.reopen_reason
    with pytest.raises(InvalidInput):
        Round(study_id=1, number=2, closes_at=now - timedelta(hours=1)).open(now)


def test_opening_round_one_locks_the_protocol_and_queues_one_invitation_per_expert(session, settings):
    study = make_panel_study(session, make_researcher(session), experts=5)
    round_ = open_round(session, study, settings)
    assert study.locked_at is not None and round_.status == "open"
    invitations = session.exec(select(Invitation).where(Invitation.round_id == round_.id)).all()
    messages = session.exec(select(OutboxMessage).where(OutboxMessage.round_id == round_.id)).all()
    assert len(invitations) == len(messages) == 5
    assert all(m.status == "pending" and "/e/" in m.body_text and settings.base_url in m.body_html for m in messages)
    assert len({m.to_address for m in messages}) == 5
    with pytest.raises(Conflict, match="still open|open; close"):
        service.create_round(session, study, None)


def test_opening_needs_a_panel_and_items(session, settings):
    study = make_panel_study(session, experts=0, items=2)
    round_ = service.create_round(session, study, None)
    with pytest.raises(Conflict, match="panel is empty"):
        service.open_round(session, study, round_, None, mailer_for(settings))
    empty = make_panel_study(session, experts=2, items=0)
    with pytest.raises(Conflict, match="no active item"):
        service.create_round(session, empty, None)


def test_close_analyses_and_the_next_round_carries_forward(session, settings):
    study = make_panel_study(session, experts=6, items=4)
    study.max_rounds, study.stopping_rule = 3, "round >= max_rounds"
    round1 = open_round(session, study, settings)
    items = [ri for ri in service.next_round_items(session, study, None)]
    # items 1-2: everyone 8-9 (consensus); items 3-4: split 1 vs 9 (no consensus)
    ratings = {
        e.id: [8 + (k % 2), 9, 1 if k % 2 else 9, 9 if k % 2 else 1] for k, e in enumerate(invited(session, round1))
    }
    answer_all(session, study, round1, ratings)
    service.close_round(session, study, round1, None)
    assert round1.status == "analysed"
    result = session.exec(select(RoundResult).where(RoundResult.round_id == round1.id)).one()
    consensus = {e["item_id"]: e["consensus"] for e in result.data["items"]}
    assert consensus == {items[0].id: True, items[1].id: True, items[2].id: False, items[3].id: False}
    assert items[0].status == "retired" and items[0].consensus_round == 1  # consensual items are retired
    round2 = service.create_round(session, study, None)
    asked = [ri.item_id for ri in session.exec(select(RoundItem).where(RoundItem.round_id == round2.id))]
    assert asked == [items[2].id, items[3].id]


def test_the_stopping_rule_finishes_the_study(session, settings):
    study = make_panel_study(session, experts=4, items=2)
    study.stopping_rule = "consensus_share >= 1 or round >= max_rounds"
    round1 = open_round(session, study, settings)
    answer_all(session, study, round1, {e.id: [9, 8] for e in invited(session, round1)})
    service.close_round(session, study, round1, None)
    result = session.exec(select(RoundResult).where(RoundResult.round_id == round1.id)).one()
    assert result.data["consensus_share"] == 1 and result.data["stop"] is True
    assert study.status == "finished"
    with pytest.raises(Conflict, match="finished"):
        service.create_round(session, study, None)


def test_the_study_goes_on_while_the_rule_is_not_met(session, settings):
    study = make_panel_study(session, experts=4, items=2)
    study.stopping_rule = "consensus_share >= 1 or round >= max_rounds"
    round1 = open_round(session, study, settings)
    answer_all(session, study, round1, {e.id: [9, 1 + 8 * (k % 2)] for k, e in enumerate(invited(session, round1))})
    service.close_round(session, study, round1, None)
    assert study.status == "running"


def test_reopening_for_stragglers_and_reminders(session, settings):
    study = make_panel_study(session, experts=3, items=2)
    round1 = open_round(session, study, settings)
    assert invitations.send_reminders(session, study, round1, None, mailer_for(settings)) == 3
    answer_all(session, study, round1)
    assert invitations.send_reminders(session, study, round1, None, mailer_for(settings)) == 0
    service.close_round(session, study, round1, None)
    with pytest.raises(Conflict):
        invitations.send_reminders(session, study, round1, None, mailer_for(settings))
    service.reopen_round(session, study, round1, "late experts", None, None)
    assert round1.status == "open" and round1.analysed_at is None
    service.close_round(session, study, round1, None)
    assert round1.status == "analysed"
    reminders = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reminder")).all()
    assert len(reminders) == 3 and len({m.dedupe_key for m in reminders}) == 3


def test_the_reminder_button_stops_at_the_rounds_limit_as_the_schedule_does(session, settings):
    study = make_panel_study(session, experts=2, items=1)
    round1 = open_round(session, study, settings)
    round1.max_reminders = 2
    session.add(round1)
    presses = [invitations.send_reminders(session, study, round1, None, mailer_for(settings)) for _ in range(3)]
    assert presses == [2, 2, 0]  # each expert reminded twice at most, however often the button is pressed


def test_results_before_the_analysis_are_a_conflict_on_the_page_and_in_the_api(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=2, items=1, language="en")
    open_round(session, study, settings)
    login(client)
    api = client.get(f"/api/studies/{study.id}/rounds/1/results")
    page = client.get(f"/studies/{study.id}/rounds/1/results")
    assert api.status_code == page.status_code == 409
    assert (
        "Round 1 has not been analysed yet." in api.json()["detail"]
        and "Round 1 has not been analysed yet." in page.text
    )
