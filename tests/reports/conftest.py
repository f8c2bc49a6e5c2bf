"""A study that went through two rounds, with narrowing, reasons and an open question."""

from __future__ import annotations

import numpy as np
import pytest
from sqlmodel import Session

from app.rounds import answers, coding, narrowing, service
from app.rounds.answers import AnswerIn
from app.studies.models import Study
from tests.factories import make_item, make_panel_study, make_researcher
from tests.rounds.helpers import invited, open_round


def two_round_study(session: Session, settings, *, weighted: bool = False, language: str = "en") -> Study:  # type: ignore[no-untyped-def]
    owner = make_researcher(session, f"owner-{language}-{int(weighted)}@example.org")
    study = make_panel_study(
        session,
        owner,
        experts=10,
        items=6,
        language=language,
        title="Social media <b>and</b> e-commerce",
        expert_definition="Published or practised 2+ years",
    )
    study.narrowing = {"target": 6, "keep_group_share": True, "composite": {"weight": 0.5, "completeness": 0.5}}
    study.stopping_rule = "round >= max_rounds"
    study.max_rounds = 2
    study.report_notes = {"funding": "Internal funds", "conflicts": "None declared"}
    if weighted:
        study.weighting = {"scheme": "formula", "formula": "self_rating / 10"}
    session.add(study)
    question = make_item(session, study, None, "What else matters?", kind="open")
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    items = [i for i in answers.round_items(session, round1.id) if i.kind == "rating"]
    rng = np.random.default_rng(3)
    for k, expert in enumerate(experts):
        batch = {
            item.id: AnswerIn(
                value=int(rng.integers(6, 10)) if j < 3 else int(rng.integers(1, 10)),
                reason="=cmd|' /C calc'!A0"
                if (j == 5 and k == 0)
                else ("Costly for small shops" if j == 4 and k % 3 == 0 else None),
            )
            for j, item in enumerate(items)
        }
        batch[question.id] = AnswerIn(text=f"Idea number {k}")
        answers.save_answers(session, study, round1, expert, batch)
        answers.submit(session, round1, expert)
    service.close_round(session, study, round1, None)
    ((_, given),) = coding.open_answers(session, round1)
    statement = coding.create_statement(
        session, study, round1, "Local offers by geolocation", [given[0][0].id], None, [], None
    )
    coding.promote(session, study, statement, None)
    narrowing.confirm(session, study, round1, {}, None)
    round2 = open_round(session, study, settings)
    for expert in invited(session, round2):
        batch = {
            item.id: AnswerIn(value=int(rng.integers(4, 10)))
            for item in answers.round_items(session, round2.id)
            if item.kind == "rating"
        }
        answers.save_answers(session, study, round2, expert, batch)
        answers.submit(session, round2, expert)
    service.close_round(session, study, round2, None)
    return study


@pytest.fixture
def finished_study(session, settings):
    return two_round_study(session, settings)
