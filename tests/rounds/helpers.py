"""Running a round in tests, through the services."""

from __future__ import annotations

import random

from sqlmodel import Session, select

from app.panel import service as panel
from app.panel.models import Expert
from app.rounds import answers, service
from app.rounds.answers import AnswerIn
from app.rounds.models import Invitation, Round
from app.studies.models import Study
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import mailer_for


def open_round(session: Session, study: Study, settings, **kwargs) -> Round:  # type: ignore[no-untyped-def]
    round_ = service.create_round(session, study, None, **kwargs)
    service.open_round(session, study, round_, None, mailer_for(settings))
    return round_


def invited(session: Session, round_: Round) -> list[Expert]:
    return list(
        session.exec(
            select(Expert)
            .join(Invitation, Invitation.expert_id == Expert.id)
            .where(Invitation.round_id == round_.id)
            .order_by(Expert.id)
        ).all()
    )


def answer_all(
    session: Session,
    study: Study,
    round_: Round,
    ratings: dict[int, list[int]] | None = None,
    seed: int = 1,
    submit: bool = True,
) -> None:
    """Every invited expert rates every rating item (given ratings per expert id, or random 5-9)."""
    rng = random.Random(seed)
    items = answers.round_items(session, round_.id)
    for expert in invited(session, round_):
        values = ratings[expert.id] if ratings else [rng.randint(5, 9) for _ in items]
        batch = {item.id: AnswerIn(value=v) for item, v in zip(items, values, strict=False) if item.kind == "rating"}
        answers.save_answers(session, study, round_, expert, batch)
        if submit:
            answers.submit(session, round_, expert)


def link_of(session: Session, expert: Expert) -> str:
    return f"/e/{panel.current_link(session, expert, TEST_SECRET)}"


def consented_page(client, session: Session, expert: Expert) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The expert's link once they agreed to take part, and the page's CSRF token."""
    url = link_of(session, expert)
    csrf = csrf_from(client.get(url).text)
    client.post(f"{url}/consent", data={"csrf_token": csrf, "consent": "1"})
    return url, csrf
