"""Answers are never lost: validated per kind, all-or-nothing, upserted with history; idempotent
submit; a late write is refused and what was saved stays."""

import threading

import pytest
from sqlmodel import Session, select

from app.db import make_engine, session_scope
from app.errors import Conflict, Gone, InvalidInput
from app.panel import service as panel
from app.rounds import answers, service
from app.rounds.answers import AnswerIn
from app.rounds.models import Answer, AnswerHistory, Invitation
from tests.conftest import settings_for
from tests.factories import make_item, make_panel_study
from tests.rounds.helpers import invited, open_round


@pytest.fixture
def opened(session, settings):
    study = make_panel_study(session, experts=3, items=2)
    make_item(session, study, None, "Which network first?", kind="choice", options=["Twitter", "LinkedIn", "Blog"])
    make_item(session, study, None, "Rank these channels", kind="ranking", options=["Mail", "Chat", "Phone"])
    make_item(session, study, None, "How many followers?", kind="estimate")
    make_item(session, study, None, "What else?", kind="open")
    round_ = open_round(session, study, settings)
    items = answers.round_items(session, round_.id)
    return study, round_, items, invited(session, round_)[0]


def test_every_kind_is_checked_and_saved(session, opened):
    study, round_, items, expert = opened
    rating, _, choice, ranking, estimate, open_item = items
    result = answers.save_answers(
        session,
        study,
        round_,
        expert,
        {
            rating.id: AnswerIn(value=7, reason="matters for small shops"),
            choice.id: AnswerIn(values=["LinkedIn"]),
            ranking.id: AnswerIn(values=["Chat", "Mail"]),
            estimate.id: AnswerIn(values=["10", "50.5", "200"]),
            open_item.id: AnswerIn(text="  Geolocation for shops  "),
        },
    )
    assert (result.changed, result.answered, result.total) == (5, 5, 6)
    saved = answers.answers_of(session, round_.id, expert.id)
    assert saved[rating.id].value == 7 and saved[rating.id].reason == "matters for small shops"
    assert saved[estimate.id].values == [10.0, 50.5, 200.0] and saved[open_item.id].text == "Geolocation for shops"


@pytest.mark.parametrize(
    ("position", "answer", "message"),
    [
        (0, AnswerIn(value=12), "from 1 to 9"),
        (0, AnswerIn(value=7.5), "from 1 to 9"),
        (2, AnswerIn(values=["Twitter", "LinkedIn"]), "choose one"),
        (2, AnswerIn(values=["MySpace"]), "not one of the options"),
        (3, AnswerIn(values=["Mail", "Mail"]), "only one rank"),
        (4, AnswerIn(values=["100", "50", "200"]), "must go up"),
        (4, AnswerIn(values=["1", "2"]), "give all 3"),
        (4, AnswerIn(values=["a", "b", "c"]), "must be numbers"),
    ],
)
def test_bad_answers_save_nothing(session, opened, position, answer, message):
    study, round_, items, expert = opened
    good = {items[1].id: AnswerIn(value=5)}
    with pytest.raises(InvalidInput) as info:
        answers.save_answers(session, study, round_, expert, {**good, items[position].id: answer})
    assert message in info.value.fields[f"item_{items[position].id}"]
    assert answers.answers_of(session, round_.id, expert.id) == {}  # the good answer was not saved either


def test_changes_are_upserted_with_an_append_only_history(session, opened):
    study, round_, items, expert = opened
    rating = items[0]
    for value in (3, 3, 6, 8):
        answers.save_answers(session, study, round_, expert, {rating.id: AnswerIn(value=value)})
    rows = session.exec(select(Answer).where(Answer.round_id == round_.id, Answer.expert_id == expert.id)).all()
    assert len(rows) == 1 and rows[0].value == 8 and rows[0].version == 3
    history = session.exec(
        select(AnswerHistory).where(AnswerHistory.answer_id == rows[0].id).order_by(AnswerHistory.version)
    ).all()
    assert [(h.version, h.value) for h in history] == [(1, 3), (2, 6), (3, 8)]


def test_submit_is_idempotent_and_edits_stay_possible(session, opened):
    study, round_, items, expert = opened
    first, when = answers.submit(session, round_, expert)
    second, again = answers.submit(session, round_, expert)
    assert (first, second) == (True, False) and when == again
    answers.save_answers(session, study, round_, expert, {items[0].id: AnswerIn(value=4)})
    invitation = session.exec(
        select(Invitation).where(Invitation.round_id == round_.id, Invitation.expert_id == expert.id)
    ).one()
    assert invitation.submitted_at == when and invitation.started_at is not None


def test_a_late_write_is_refused_and_the_saved_answer_stays(session, opened):
    study, round_, items, expert = opened
    answers.save_answers(session, study, round_, expert, {items[0].id: AnswerIn(value=6)})
    service.close_round(session, study, round_, None)
    with pytest.raises(Conflict, match="closed"):
        answers.save_answers(session, study, round_, expert, {items[0].id: AnswerIn(value=9)})
    with pytest.raises(Conflict):
        answers.submit(session, round_, expert)
    assert answers.answers_of(session, round_.id, expert.id)[items[0].id].value == 6


def test_a_withdrawn_expert_cannot_write_but_their_answers_are_kept(session, opened):
    study, round_, items, expert = opened
    answers.save_answers(session, study, round_, expert, {items[0].id: AnswerIn(value=6)})
    panel.withdraw(session, study, expert, "no time", None)
    with pytest.raises(Gone):
        answers.save_answers(session, study, round_, expert, {items[0].id: AnswerIn(value=9)})
    assert answers.answers_of(session, round_.id, expert.id)[items[0].id].value == 6


def test_an_item_of_another_round_is_refused(session, opened):
    study, round_, items, expert = opened
    outsider = make_item(session, study, None, "Added after the round opened")
    with pytest.raises(InvalidInput, match="1 answer"):
        answers.save_answers(session, study, round_, expert, {outsider.id: AnswerIn(value=5)})


def test_unable_to_rate_is_an_answer_without_a_value(session, opened):
    study, round_, items, expert = opened
    result = answers.save_answers(session, study, round_, expert, {items[0].id: AnswerIn(unable=True)})
    saved = answers.answers_of(session, round_.id, expert.id)[items[0].id]
    assert saved.unable and saved.value is None
    assert result.answered == 1


@pytest.mark.parametrize("first_save", ["new answer", "existing answer"])
def test_the_same_answer_saved_at_once_from_many_tabs_keeps_every_version(database, settings, first_save):
    """Real transactions on a fresh database: eight sessions save the same answer at the same moment.
    Each save is kept as a version of its own, none fails, and the answer holds the last version."""
    url = database.fresh()
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            study = make_panel_study(session, experts=1, items=1)
            round_ = open_round(session, study, settings_for(url))
            expert = invited(session, round_)[0]
            item = answers.round_items(session, round_.id)[0]
            if first_save == "existing answer":
                answers.save_answers(session, study, round_, expert, {item.id: AnswerIn(value=1)})
        before = 1 if first_save == "existing answer" else 0
        tabs = 8
        start = threading.Barrier(tabs)
        failures: list[BaseException] = []

        def tab(value: int) -> None:
            try:
                start.wait()
                with session_scope(engine) as session:
                    answers.save_answers(session, study, round_, expert, {item.id: AnswerIn(value=value)})
            except BaseException as exc:  # collected: a thread's exception would otherwise vanish
                failures.append(exc)

        threads = [threading.Thread(target=tab, args=(value,)) for value in range(2, 2 + tabs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        with Session(engine) as session:
            stored = session.exec(select(Answer)).one()
            history = session.exec(select(AnswerHistory).order_by(AnswerHistory.version)).all()
        assert [h.version for h in history] == list(range(1, before + tabs + 1))
        assert sorted(h.value for h in history[before:]) == list(range(2, 2 + tabs))  # every tab's value
        assert stored.version == before + tabs and stored.value == history[-1].value
    finally:
        engine.dispose()
