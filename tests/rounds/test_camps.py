"""A dissenting camp in a round's analysis, on the results page and in the report, with its
reasons and without names."""

from __future__ import annotations

from sqlmodel import select

from app.reports.service import render_html
from app.rounds import answers, service
from app.rounds.answers import AnswerIn
from app.rounds.models import RoundResult
from tests.factories import make_panel_study, make_researcher, page_login
from tests.rounds.helpers import answer_all, invited, open_round

# twelve experts agree on the first two items and reject the third; four see the third the other
# way round and reject the second
MAJORITY = [[8, 8, 2], [9, 8, 1], [8, 9, 2], [8, 8, 2], [9, 9, 1], [8, 7, 2]] * 2
CAMP = [[8, 2, 8], [9, 1, 9], [8, 2, 9], [8, 2, 8]]


def test_a_coherent_minority_is_reported_with_its_reasons_and_no_names(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=16, items=3, language="en")
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    answer_all(session, study, round1, {e.id: (MAJORITY + CAMP)[k] for k, e in enumerate(experts)})
    items = answers.round_items(session, round1.id)
    camp_member = experts[12]
    answers.save_answers(
        session, study, round1, camp_member, {items[2].id: AnswerIn(value=8, reason="Small shops depend on it")}
    )
    service.close_round(session, study, round1, None)
    data = session.exec(select(RoundResult).where(RoundResult.round_id == round1.id)).one().data
    camp = data["camp"]
    assert (camp["size"], camp["of"]) == (4, 16) and camp["silhouette"] > 0.5
    assert [c["item_id"] for c in camp["items"]] == [items[1].id, items[2].id]
    assert camp["items"][1]["panel_median"] == 2 and camp["items"][1]["camp_median"] == 8.5
    assert camp["items"][1]["reasons"] == ["Small shops depend on it"]
    assert camp_member.name not in str(camp) and camp_member.pseudonym not in str(camp)

    page_login(client)
    page = client.get(f"/studies/{study.id}/rounds/1/results").text
    assert "A dissenting camp" in page and "4 of the 16 experts who answered" in page
    assert "Small shops depend on it" in page
    html = render_html(session, study.id, "en")
    assert "A dissenting camp in round 1" in html and "the camp, median 8.5" in html


def test_a_panel_that_broadly_agrees_has_no_camp(session, settings):
    study = make_panel_study(session, experts=10, items=3)
    round1 = open_round(session, study, settings)
    answer_all(session, study, round1)  # random ratings 5-9
    service.close_round(session, study, round1, None)
    data = session.exec(select(RoundResult).where(RoundResult.round_id == round1.id)).one().data
    assert data["camp"] is None
