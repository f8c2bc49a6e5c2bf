"""The analysis snapshot, the feedback experts see, narrowing, and coding of open answers."""

import numpy as np
import pytest
from sqlmodel import select

from app import scoring
from app.errors import Conflict, InvalidInput
from app.rounds import answers, coding, feedback, narrowing, service
from app.rounds.answers import AnswerIn
from app.rounds.models import Invitation, RoundItem, RoundResult
from tests.factories import make_item, make_panel_study
from tests.rounds.helpers import answer_all, invited, open_round


def ratings_for(experts, n_items, seed=5):
    rng = np.random.default_rng(seed)
    return {e.id: [int(v) for v in rng.integers(3, 10, n_items)] for e in experts}


def test_snapshot_equals_the_scoring_core_on_the_same_answers(session, settings):
    study = make_panel_study(session, experts=8, items=5)
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    ratings = ratings_for(experts, 5)
    answer_all(session, study, round1, ratings)
    service.close_round(session, study, round1, None)
    data = session.exec(select(RoundResult).where(RoundResult.round_id == round1.id)).one().data
    matrix = np.array([ratings[e.id] for e in experts], dtype=float)
    expected = scoring.summarize(matrix, scale=(1, 9), agree=(7, 9))
    entries = sorted((e for e in data["items"] if e["kind"] == "rating"), key=lambda e: e["item_id"])
    assert [e["stats"]["median"] for e in entries] == expected.median.tolist()
    assert [e["stats"]["iqr"] for e in entries] == pytest.approx(expected.iqr.tolist())
    assert [e["stats"]["agreement"] for e in entries] == pytest.approx(expected.agreement.tolist())
    assert [e["consensus"] for e in entries] == scoring.consensus(study.consensus_rule, expected).tolist()
    assert data["panel"]["kendall_w"] == pytest.approx(scoring.kendall_w(matrix).w)
    assert data["apmo"] == pytest.approx(scoring.apmo(expected))
    assert sum(t["weight"] for t in data["themes"]) == pytest.approx(1.0)
    assert data["invited"] == data["responded"] == data["submitted"] == 8
    assert all(e["stats"]["median_ci"] is not None for e in entries)  # bootstrap intervals for a small round


def test_weighted_analysis_uses_the_expert_weights(session, settings):
    study = make_panel_study(session, experts=4, items=1)
    study.weighting = {"scheme": "assigned"}
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    for expert, weight in zip(experts, (3.0, 1.0, 1.0, 1.0), strict=True):
        expert.weight = weight
        session.add(expert)
    answer_all(session, study, round1, {e.id: [v] for e, v in zip(experts, (9, 1, 1, 1), strict=True)})
    service.close_round(session, study, round1, None)
    entry = session.exec(select(RoundResult).where(RoundResult.round_id == round1.id)).one().data["items"][0]
    assert entry["stats"]["mean"] == pytest.approx(3.0)
    assert entry["weighted_stats"]["mean"] == pytest.approx((27 + 3) / 6)
    assert entry["weighted_stats"]["median"] == 1.0 and entry["weighted_stats"]["agreement"] == pytest.approx(0.5)


def test_second_round_feedback_stability_and_own_previous_answer(session, settings):
    study = make_panel_study(session, experts=6, items=2)
    study.retire_consensual = False
    study.feedback = {**study.feedback, "by_group": True}
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    first = {e.id: [k + 3, 9] for k, e in enumerate(experts)}
    answer_all(session, study, round1, first)
    mine = experts[0]
    items = answers.round_items(session, round1.id)
    answers.save_answers(session, study, round1, mine, {items[0].id: AnswerIn(value=3, reason="too costly")})
    service.close_round(session, study, round1, None)
    round2 = open_round(session, study, settings)
    shown = feedback.for_expert(session, study, round2, mine, answers.round_items(session, round2.id))
    fb = shown[items[0].id]
    assert fb.own_previous == 3 and fb.n == 6 and fb.median == pytest.approx(np.median([3, 4, 5, 6, 7, 8]))
    assert "too costly" not in fb.reasons  # one's own reason is not shown back as someone else's
    assert fb.far_from_group(9, study.divergence_threshold) and not fb.far_from_group(5.0, study.divergence_threshold)
    assert all(g["n"] >= feedback.MIN_GROUP_SIZE for g in fb.by_group)
    assert 'fill="#1f4e79"' in str(fb.chart)  # own answer highlighted
    other = experts[1]
    assert "too costly" in feedback.for_expert(session, study, round2, other, [items[0]])[items[0].id].reasons
    answer_all(session, study, round2, {e.id: [5, 9] for e in experts})
    service.close_round(session, study, round2, None)
    data = session.exec(select(RoundResult).where(RoundResult.round_id == round2.id)).one().data
    stability = {s["item_id"]: s for s in data["stability"]}
    assert stability[items[1].id]["unchanged"] and stability[items[1].id]["pct_change"] == 0
    assert stability[items[0].id]["n_paired"] == 6 and stability[items[0].id]["pct_change"] > 0
    # round 1: 3, 4, 5, 6, 7, 8 (two inside 7-9); round 2: all 5 -> two left the band, none came in
    assert stability[items[0].id]["agreement_p"] == pytest.approx(scoring.mcnemar([0, 0, 0, 0, 1, 1], [0] * 6).p)
    assert stability[items[0].id]["agreement_method"] == "exact" and stability[items[1].id]["agreement_p"] is None


def test_realtime_feedback_is_live_and_hidden_below_three_answers(session, settings):
    study = make_panel_study(session, experts=4, items=1)
    round1 = open_round(session, study, settings, realtime=True)
    experts = invited(session, round1)
    item = answers.round_items(session, round1.id)[0]
    for expert, value in zip(experts[:2], (7, 8), strict=True):
        answers.save_answers(session, study, round1, expert, {item.id: AnswerIn(value=value)})
    assert feedback.for_expert(session, study, round1, experts[0], [item]) == {}
    answers.save_answers(session, study, round1, experts[2], {item.id: AnswerIn(value=9)})
    live = feedback.for_expert(session, study, round1, experts[0], [item])[item.id]
    assert live.live and live.n == 3 and live.median == 8 and live.own_previous == 7


def test_narrowing_keeps_the_target_by_group_records_the_decision_and_shapes_the_next_round(session, settings):
    study = make_panel_study(session, experts=10, items=2)
    study.narrowing = {
        "target": 4,
        "keep_group_share": True,
        "composite": {"weight": 0.5, "participation": 0.25, "completeness": 0.25},
    }
    study.retire_consensual = False
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    answer_all(session, study, round1, ratings_for(experts, 2))
    service.close_round(session, study, round1, None)
    proposal = narrowing.propose(session, study, round1)
    assert len(proposal.result.kept) == 4 and proposal.result.seats == {"academic": 2, "practitioner": 2}
    dropped = next(f.key for f in proposal.result.fates if not f.kept)
    with pytest.raises(InvalidInput, match="Say why"):
        narrowing.confirm(session, study, round1, {dropped: (True, "")}, None)
    decision = narrowing.confirm(session, study, round1, {dropped: (True, "only practitioner from retail")}, None)
    entries = narrowing.entries_of(session, decision)
    overridden = [entry for entry, expert in entries if entry.overridden]
    assert len(overridden) == 1 and overridden[0].kept and overridden[0].override_reason
    assert sum(entry.kept for entry, _ in entries) == 5 and all(entry.reason for entry, _ in entries)
    with pytest.raises(Conflict, match="already narrowed"):
        narrowing.confirm(session, study, round1, {}, None)
    round2 = open_round(session, study, settings)
    invited_next = session.exec(select(Invitation).where(Invitation.round_id == round2.id)).all()
    assert len(invited_next) == 5


def test_open_answers_are_coded_into_statements_that_become_items(session, settings):
    study = make_panel_study(session, experts=3, items=1)
    question = make_item(session, study, None, "What else matters?", kind="open")
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    for expert, text in zip(experts, ("Geolocation offers", "Local offers near the shop", "Live video"), strict=True):
        answers.save_answers(session, study, round1, expert, {question.id: AnswerIn(text=text)})
    service.close_round(session, study, round1, None)
    ((item, given),) = coding.open_answers(session, round1)
    assert item.id == question.id and len(given) == 3
    local = coding.create_statement(
        session, study, round1, "Offer deals by location", [given[0][0].id], None, ["mobile"], None
    )
    near = coding.create_statement(
        session, study, round1, "Deals near the shop", [given[1][0].id], None, ["local"], None
    )
    coding.merge_statements(session, study, local, [near], None)
    assert (
        near.status == "merged"
        and sorted(coding.sources_of(session, [local.id])[local.id]) == sorted([given[0][0].id, given[1][0].id])
        and local.tags == ["local", "mobile"]
    )
    new_item = coding.promote(session, study, local, None)
    assert new_item.origin == "coding" and new_item.kind == "rating" and new_item.introduced_round == 2
    round2 = service.create_round(session, study, None)
    asked = {ri.item_id for ri in session.exec(select(RoundItem).where(RoundItem.round_id == round2.id))}
    assert new_item.id in asked and question.id not in asked  # open questions are not asked again


def test_narrowing_reasons_are_written_in_the_reader_s_language(session, settings):
    study = make_panel_study(session, experts=6, items=1)
    study.narrowing = {"target": 2, "keep_group_share": True, "composite": {"weight": 1.0}}
    round1 = open_round(session, study, settings)
    answer_all(session, study, round1)
    service.close_round(session, study, round1, None)
    decision = narrowing.confirm(session, study, round1, {}, None)
    fates = decision.inputs["fates"]
    assert len(fates) == 6
    label = {"academic": "Academics", "practitioner": "Practitioners"}.get
    some = next(iter(fates.values()))
    english = narrowing.reason_text(some, "en", label)
    french = narrowing.reason_text(some, "fr", label)
    assert english.startswith(("Kept: rank", "Dropped: rank"))
    assert "Academics" in english or "Practitioners" in english
    assert french.startswith(("Conservé", "Écarté")) and "rang" in french


def test_a_rule_in_every_stakeholder_group_and_a_round_threshold_decide_the_snapshot_s_consensus(session, settings):
    study = make_panel_study(session, experts=8, items=2)  # academic and practitioner, alternately
    study.consensus_rule = "min_group(agreement) >= 0.75 and (round > 1 or agreement >= 0.5)"
    session.add(study)
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    # item 1: every academic agrees, half the practitioners do; item 2: three in four of each group
    ratings = {e.id: [8, 8] for e in experts}
    practitioners = [e for e in experts if e.stakeholder_group == "practitioner"]
    academics = [e for e in experts if e.stakeholder_group == "academic"]
    for e in practitioners[:2]:
        ratings[e.id][0] = 3
    ratings[practitioners[2].id][1] = 4
    ratings[academics[0].id][1] = 4
    answer_all(session, study, round1, ratings)
    service.close_round(session, study, round1, None)
    data = session.exec(select(RoundResult).where(RoundResult.round_id == round1.id)).one().data
    entries = sorted((e for e in data["items"] if e["kind"] == "rating"), key=lambda e: e["item_id"])
    assert [e["stats"]["agreement"] for e in entries] == pytest.approx([0.75, 0.75])  # the same overall...
    assert [e["consensus"] for e in entries] == [False, True]  # ...but the practitioners split on item 1
    by_group = {g: [e["by_group"][g]["agreement"] for e in entries] for g in ("academic", "practitioner")}
    assert by_group == {"academic": pytest.approx([1.0, 0.75]), "practitioner": pytest.approx([0.5, 0.75])}


def test_an_expert_without_a_group_is_in_no_group_of_a_rule(session, settings):
    study = make_panel_study(session, experts=5, items=1)
    study.consensus_rule = "min_group(agreement) >= 0.75"
    session.add(study)
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    experts[4].stakeholder_group = ""  # one expert has no group, and disagrees
    session.add(experts[4])
    answer_all(session, study, round1, {e.id: [8] if k < 4 else [2] for k, e in enumerate(experts)})
    service.close_round(session, study, round1, None)
    data = session.exec(select(RoundResult).where(RoundResult.round_id == round1.id)).one().data
    (entry,) = [e for e in data["items"] if e["kind"] == "rating"]
    assert entry["consensus"]  # the two labelled groups agree; the unlabelled expert is not a group
