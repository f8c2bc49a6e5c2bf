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

# item 1 (median 5, IQR 3.5): eight experts each step toward the median in round 2, where each
# could as well have stepped away, and the item newly reaches consensus (IQR 1.5);
# item 2: steady, but for two experts who swap places.
FIRST = [[2, 8], [3, 8], [3, 8], [4, 8], [4, 8], [6, 8], [6, 8], [7, 8], [7, 3], [8, 9]]
SECOND = [[2, 8], [4, 8], [4, 8], [5, 8], [5, 8], [5, 8], [5, 8], [6, 8], [6, 9], [8, 3]]


def two_rounds(session, settings, reason_for: int | None = None):  # type: ignore[no-untyped-def]
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=10, items=2, language="en")
    study.consensus_rule, study.stopping_rule, study.retire_consensual = "iqr <= 1.5", "round >= 3", False
    session.add(study)
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    answer_all(session, study, round1, {e.id: FIRST[k] for k, e in enumerate(experts)})
    service.close_round(session, study, round1, None)
    round2 = open_round(session, study, settings)
    answer_all(session, study, round2, {e.id: SECOND[k] for k, e in enumerate(experts)})
    items = answers.round_items(session, round2.id)
    for k in range(1, 1 + (reason_for or 0)):  # these movers say why
        given = AnswerIn(value=SECOND[k][0], reason="convinced")
        answers.save_answers(session, study, round2, experts[k], {items[0].id: given})
    service.close_round(session, study, round2, None)
    data = session.exec(select(RoundResult).where(RoundResult.round_id == round2.id)).one().data
    return study, items, {s["item_id"]: s for s in data["stability"]}


def test_consensus_reached_by_silent_moves_toward_the_median_is_flagged(client, session, settings):
    study, items, moves = two_rounds(session, settings)
    reference = scoring.conformity(FIRST, SECOND, scale=(1, 9))
    assert [moves[i.id]["changed"] for i in items] == reference.changed.tolist() == [8, 2]
    assert [moves[i.id]["toward_median"] for i in items] == reference.toward.tolist() == [8, 1]
    assert moves[items[0].id]["conformity_p"] == reference.item_p[0] == 1 / 256
    assert moves[items[0].id]["toward_unreasoned"] == 8 and moves[items[0].id]["conforming"]
    assert not moves[items[1].id]["conforming"]
    page_login(client)
    page = client.get(f"/studies/{study.id}/rounds/2/results").text
    assert "8 of 8 changed answers (p = 0.004), 8 without a reason" in page
    assert "consensus by conformity?" in page
    html = render_html(session, study.id, "en")
    assert "Converging or conforming?" in html and "consensus by conformity?" in html


def test_each_expert_s_moves_toward_the_median_are_on_their_page(client, session, settings):
    study, items, _ = two_rounds(session, settings)
    round2 = session.exec(select(RoundResult).order_by(RoundResult.id.desc())).first()  # type: ignore[union-attr]
    experts = {p["pseudonym"]: p for p in round2.data["experts"]}
    reference = scoring.conformity(FIRST, SECOND, scale=(1, 9))
    ordered = sorted(experts.values(), key=lambda p: p["expert_id"])
    assert [p["changed"] for p in ordered] == reference.expert_changed.tolist()
    assert [p["toward_median"] for p in ordered] == reference.expert_toward.tolist()
    mover = ordered[1]  # 3 -> 4 on item 1, toward its median 5; item 2 unchanged
    assert (mover["changed"], mover["toward_median"]) == (1, 1)
    page_login(client)
    page = client.get(f"/studies/{study.id}/panel/{mover['expert_id']}").text
    assert "Toward the median" in page and "1 of 1" in page


def test_moves_with_reasons_are_not_flagged(session, settings):
    _, items, moves = two_rounds(session, settings, reason_for=5)
    assert moves[items[0].id]["toward_unreasoned"] == 3 and moves[items[0].id]["conformity_p"] == 1 / 256
    assert not moves[items[0].id]["conforming"]  # five of the eight said why: conviction, not conformity


def test_forced_directions_do_not_count_as_evidence():
    """From the bottom of the scale, the only way is up: such moves are in the share, not in p."""
    earlier = [[1], [1], [1], [1], [5], [5], [5], [9], [9]]  # median 5
    later = [[3], [3], [3], [3], [5], [5], [5], [9], [9]]
    free = scoring.conformity(earlier, later)
    bounded = scoring.conformity(earlier, later, scale=(1, 9))
    assert free.toward.tolist() == bounded.toward.tolist() == [4]
    assert free.item_p[0] == 1 / 16 and bounded.item_p[0] == 1.0


def test_the_median_the_panel_was_shown_is_the_one_that_counts():
    earlier, later = [[3], [4], [7], [8]], [[4], [4], [7], [8]]  # own median 5.5; shown (inverted_cdf) 4
    assert scoring.conformity(earlier, later).toward.tolist() == [1]
    shown = scoring.conformity(earlier, later, medians=[4.0])
    assert shown.toward.tolist() == [1] and shown.medians.tolist() == [4.0]
    away = scoring.conformity([[3], [4], [7], [8]], [[3], [4], [6], [8]], medians=[8.0])
    assert away.toward.tolist() == [0]  # 7 -> 6 moved away from the 8 the panel was shown
