"""The conformity diagnostic in a round's analysis, on the results page and in the report: an item
that reached consensus through moves toward the median, without reasons, is flagged."""

from __future__ import annotations

from sqlmodel import select

from app import scoring
from app.reports.service import render_html
from app.rounds import answers, service
from app.rounds.answers import AnswerIn
from app.rounds.models import RoundResult
from tests.factories import make_panel_study, make_researcher, page_login
from tests.rounds.helpers import answer_all, invited, open_round

# item 1: five low raters (median 5.5) all move up to 7 in round 2 and the item reaches consensus;
# item 2: steady, but for two experts who swap places.
FIRST = [[2, 8], [2, 8], [3, 8], [3, 8], [3, 8], [8, 8], [8, 8], [8, 8], [9, 3], [9, 9]]
SECOND = [[7, 8], [7, 8], [7, 8], [7, 8], [7, 8], [8, 8], [8, 8], [8, 8], [9, 9], [9, 3]]


def two_rounds(session, settings, reason_for: int | None = None):  # type: ignore[no-untyped-def]
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=10, items=2, language="en")
    study.consensus_rule, study.stopping_rule, study.retire_consensual = "agreement >= 0.75", "round >= 3", False
    session.add(study)
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    answer_all(session, study, round1, {e.id: FIRST[k] for k, e in enumerate(experts)})
    service.close_round(session, study, round1, None)
    round2 = open_round(session, study, settings)
    answer_all(session, study, round2, {e.id: SECOND[k] for k, e in enumerate(experts)})
    items = answers.round_items(session, round2.id)
    for k in range(reason_for or 0):  # these movers say why
        answers.save_answers(session, study, round2, experts[k], {items[0].id: AnswerIn(value=7, reason="convinced")})
    service.close_round(session, study, round2, None)
    data = session.exec(select(RoundResult).where(RoundResult.round_id == round2.id)).one().data
    return study, items, {s["item_id"]: s for s in data["stability"]}


def test_consensus_reached_by_silent_moves_toward_the_median_is_flagged(client, session, settings):
    study, items, moves = two_rounds(session, settings)
    reference = scoring.conformity(FIRST, SECOND)
    assert [moves[i.id]["changed"] for i in items] == reference.changed.tolist() == [5, 2]
    assert [moves[i.id]["toward_median"] for i in items] == reference.toward.tolist() == [5, 1]
    assert moves[items[0].id]["conformity_p"] == reference.item_p[0] == 1 / 32
    assert moves[items[0].id]["toward_unreasoned"] == 5 and moves[items[0].id]["conforming"]
    assert not moves[items[1].id]["conforming"]
    page_login(client)
    page = client.get(f"/studies/{study.id}/rounds/2/results").text
    assert "5 of 5 changed answers (p = 0.031), 5 without a reason" in page
    assert "consensus by conformity?" in page
    html = render_html(session, study.id, "en")
    assert "Converging or conforming?" in html and "consensus by conformity?" in html


def test_moves_with_reasons_are_not_flagged(session, settings):
    _, items, moves = two_rounds(session, settings, reason_for=3)
    assert moves[items[0].id]["toward_unreasoned"] == 2 and moves[items[0].id]["conformity_p"] == 1 / 32
    assert not moves[items[0].id]["conforming"]  # three of the five said why: conviction, not conformity
