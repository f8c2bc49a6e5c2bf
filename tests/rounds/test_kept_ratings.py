"""The rating matrix a round was analysed on is kept with its analysis, and the next round's
stability reads it instead of the round's answers: the same figures either way, and the matrix put
back on any experts and items exactly."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sqlmodel import delete, select

from app.panel import service as panel
from app.rounds import analysis, answers, service
from app.rounds.compute import Panelist, RoundAnswers
from app.rounds.models import Answer, RoundRatings, RoundResult
from app.studies.models import Item
from tests.rounds.helpers import invited, open_round
from tests.rounds.test_every_kind import all_kinds_study, answer_everything, first_round_closed, snapshot


def _round(matrix: np.ndarray, took_part: list[bool]) -> RoundAnswers:
    """A round of rating items held in memory; an expert who took part has submitted."""
    now = datetime.now(UTC)
    experts = [
        Panelist(10 + 3 * k, f"P{k}", "", 1.0, "active", None, None, now if took else None)
        for k, took in enumerate(took_part)
    ]
    items = [Item(id=100 + 2 * k, study_id=1, text=f"S{k}", kind="rating") for k in range(matrix.shape[1])]
    return RoundAnswers(
        round_id=1, number=1, items=items, invited=experts, matrix=matrix, answered=np.zeros(len(experts), np.int64)
    )


ratings = st.sampled_from([1.0, 2.0, 5.0, 9.0, np.nan])


@settings(max_examples=60, deadline=None)
@given(
    st.data(),
    arrays(np.float64, st.tuples(st.integers(0, 6), st.integers(0, 5)), elements=ratings),
    st.booleans(),
)
def test_a_kept_matrix_comes_back_on_any_experts_and_items(data, matrix, fractions):
    if fractions and matrix.size:  # ratings that are not whole points are kept as they are
        matrix = matrix + 0.25
    took_part = data.draw(st.lists(st.booleans(), min_size=len(matrix), max_size=len(matrix)))
    round_ = _round(matrix, took_part)
    packed = analysis.pack_ratings(round_)
    analysed = matrix[np.array(took_part, dtype=bool)] if len(matrix) else matrix
    with np.load(io.BytesIO(packed), allow_pickle=False) as kept:  # a byte a rating, unless fractions
        assert kept["ratings"].dtype == (np.float64 if fractions and (~np.isnan(analysed)).any() else np.int8)
    expert_ids = [e.id for e in round_.experts]
    item_ids = [i.id for i in round_.items]
    # ask for some of them, in order, with ids the round never had
    wanted_experts = np.array(sorted(set(data.draw(st.lists(st.sampled_from([*expert_ids, 1, 11, 99]))))), float)
    wanted_items = np.array(sorted(set(data.draw(st.lists(st.sampled_from([*item_ids, 7, 101, 999]))))), float)
    back = analysis.unpack_ratings(packed, wanted_experts, wanted_items)
    assert back.shape == (len(wanted_experts), len(wanted_items))
    for r, expert in enumerate(wanted_experts):
        for c, item in enumerate(wanted_items):
            if expert in expert_ids and item in item_ids and took_part[expert_ids.index(expert)]:
                expected = matrix[expert_ids.index(expert), item_ids.index(item)]
            else:  # an expert or item the round did not have, or an expert who did not take part
                expected = np.nan
            assert back[r, c] == expected or (np.isnan(back[r, c]) and np.isnan(expected))


def test_stability_from_the_kept_matrix_equals_stability_from_the_answers(session, settings):
    """Round 3's stability against round 2, once from round 2's kept matrix and once (as for a round
    analysed before the matrix was kept) from its answers: the same, with an expert silent in
    round 2 (carried answers are not theirs) and an answer changed."""
    _, study = all_kinds_study(session, experts=5)
    round1, experts = first_round_closed(session, study, settings)
    round2 = open_round(session, study, settings)
    rating = answers.round_items(session, round2.id)[0]
    assert rating.kind == "rating"
    answers.save_answers(session, study, round2, experts[0], {rating.id: answers.AnswerIn(value=1)})
    for expert in experts[:4]:
        answers.submit(session, round2, expert)
    service.close_round(session, study, round2, None)
    round3 = open_round(session, study, settings)
    answers.save_answers(session, study, round3, experts[1], {rating.id: answers.AnswerIn(value=2)})
    for expert in experts:
        answers.submit(session, round3, expert)
    service.close_round(session, study, round3, None)
    kept = session.exec(select(RoundRatings).where(RoundRatings.round_id == round2.id)).one()
    assert kept.matrix
    from_kept = snapshot(session, round3)
    assert from_kept.stability and {s.n_paired for s in from_kept.stability} == {4}
    assert any(s.changed for s in from_kept.stability)

    session.exec(delete(RoundRatings).where(RoundRatings.round_id == round2.id))  # type: ignore[call-overload]
    analysis.analyse_round(session, study, round3, None)
    from_answers = snapshot(session, round3)
    assert [s.model_dump() for s in from_answers.stability] == [s.model_dump() for s in from_kept.stability]
    assert [e.model_dump() for e in from_answers.experts] == [e.model_dump() for e in from_kept.experts]
    # the oldest snapshots did not list the experts they counted: those who took part are read
    stored = session.exec(select(RoundResult).where(RoundResult.round_id == round2.id)).one()
    stored.data = {key: value for key, value in stored.data.items() if key != "experts"}
    session.add(stored)
    analysis.analyse_round(session, study, round3, None)
    assert [s.model_dump() for s in snapshot(session, round3).stability] == [
        s.model_dump() for s in from_kept.stability
    ]

    # kept again when round 2 is analysed again; an answer changed behind the analysis's back is not
    # read: round 3 is compared with what round 2 was analysed on
    analysis.analyse_round(session, study, round2, None)
    planted = session.exec(select(Answer).where(Answer.round_id == round2.id, Answer.item_id == rating.id)).all()
    for answer in planted:
        answer.value = 9 if answer.value != 9 else 8
        session.add(answer)
    analysis.analyse_round(session, study, round3, None)
    assert [s.model_dump() for s in snapshot(session, round3).stability] == [
        s.model_dump() for s in from_kept.stability
    ]


def test_reanalysing_a_round_replaces_its_kept_matrix(session, settings):
    _, study = all_kinds_study(session, experts=3)
    round1, experts = first_round_closed(session, study, settings)
    before = session.exec(select(RoundRatings).where(RoundRatings.round_id == round1.id)).one().matrix
    rating = next(i for i in answers.round_items(session, round1.id) if i.kind == "rating")
    answer = session.exec(select(Answer).where(Answer.round_id == round1.id, Answer.item_id == rating.id)).first()
    assert answer is not None
    answer.value = 1 if answer.value != 1 else 2
    session.add(answer)
    analysis.analyse_round(session, study, round1, None)
    rows = session.exec(select(RoundRatings).where(RoundRatings.round_id == round1.id)).all()
    assert len(rows) == 1 and rows[0].matrix != before
    ids = np.array(sorted(e.id for e in experts), float)
    assert answer.value in analysis.unpack_ratings(rows[0].matrix, ids, np.array([rating.id], float))


def test_an_expert_left_out_of_the_round_before_has_no_pair_either_way(session, settings):
    """Withdrawn when round 1 was analysed, reinstated for round 2: round 1's analysis did not count
    them, so round 2's stability pairs nobody's answers of theirs, from the kept matrix as from the
    answers of a round analysed before the matrix was kept."""
    owner, study = all_kinds_study(session, experts=5)
    study.retire_consensual = False  # round 2 asks the rating items again, whatever round 1 found
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    answer_everything(session, study, round1, experts)
    panel.withdraw(session, study, experts[0], "away for a month", owner)
    service.close_round(session, study, round1, None)
    panel.reinstate(session, study, experts[0], owner)
    round2 = open_round(session, study, settings)
    for expert in experts:
        answers.submit(session, round2, expert)
    service.close_round(session, study, round2, None)
    from_kept = [(s.item_id, s.n_paired) for s in snapshot(session, round2).stability]
    assert from_kept and {n for _, n in from_kept} == {4}
    session.exec(delete(RoundRatings).where(RoundRatings.round_id == round1.id))  # type: ignore[call-overload]
    analysis.analyse_round(session, study, round2, None)
    assert [(s.item_id, s.n_paired) for s in snapshot(session, round2).stability] == from_kept
