"""Queue e-mail in the outbox (same transaction as the action) and render it from templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.db import utcnow
from app.errors import Conflict, Message, NotFound
from app.mail.models import MessageStatus, OutboxMessage
from app.security import account_link_token, link_token
from app.templating import Templates

PERSONAL_LINK = "PERSONAL-LINK-TOKEN"  # stands for the expert's link token in stored bodies


def with_personal_link(text: str, message: OutboxMessage, secret_key: str) -> str:
    """A stored body with the expert's working link in place of ``PERSONAL_LINK`` (at delivery, or
    for the editors' mailbox page)."""
    if message.link_nonce is None or message.expert_id is None or PERSONAL_LINK not in text:
        return text
    return text.replace(PERSONAL_LINK, link_token(secret_key, message.expert_id, message.link_nonce))


def as_delivered(text: str, message: OutboxMessage, secret_key: str) -> str:
    """A stored body as it is sent: with the expert's link, or a researcher's single-use account
    link (reset, invitation). The account link goes in only here: it is one person's key to an
    account, and no mailbox page shows it."""
    if message.expert_id is None and message.link_nonce is not None and PERSONAL_LINK in text:
        return text.replace(PERSONAL_LINK, account_link_token(secret_key, message.link_nonce))
    return with_personal_link(text, message, secret_key)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render_email(templates: Templates, name: str, language: str, subject: str, **context: Any) -> RenderedEmail:
    """``emails/<name>.txt`` and ``emails/<name>.html`` in the language of the study."""
    return RenderedEmail(
        subject=subject,
        text=templates.render(f"emails/{name}.txt", language, subject=subject, **context),
        html=templates.render(f"emails/{name}.html", language, subject=subject, **context),
    )


def queue(
    session: Session,
    *,
    dedupe_key: str,
    to: str,
    email: RenderedEmail,
    kind: str,
    study_id: int | None = None,
    round_id: int | None = None,
    expert_id: int | None = None,
    link_nonce: str | None = None,
) -> OutboxMessage:
    """Add a message unless one with the same key exists: queuing twice never sends twice."""
    existing = session.exec(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)).first()
    if existing is not None:
        return existing
    message = OutboxMessage(
        dedupe_key=dedupe_key,
        to_address=to,
        subject=" ".join(email.subject.split())[:300],  # one line: a header cannot hold line breaks
        body_text=email.text,
        body_html=email.html,
        kind=kind,
        study_id=study_id,
        round_id=round_id,
        expert_id=expert_id,
        link_nonce=link_nonce,
    )
    session.add(message)
    session.flush()
    return message


def messages_for_study(session: Session, study_id: int, limit: int = 500) -> list[OutboxMessage]:
    return list(
        session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.study_id == study_id)
            .order_by(col(OutboxMessage.id).desc())
            .limit(limit)
        ).all()
    )


def retry(session: Session, study_id: int, message_id: int) -> OutboxMessage:
    """Send again a message that failed, or whose sending was interrupted (the researcher decides)."""
    message = session.get(OutboxMessage, message_id)
    if message is None or message.study_id != study_id:
        raise NotFound(Message("No such message."))
    if message.status not in (MessageStatus.FAILED, MessageStatus.UNCERTAIN):
        raise Conflict(Message("Only a failed or interrupted message can be sent again."))
    message.status, message.next_attempt_at, message.lease_until = MessageStatus.PENDING, utcnow(), None
    session.add(message)
    session.flush()
    return message


def deliver_soon(session: Session, study_id: int) -> int:
    """The mailbox's "send now": the study's messages waiting for a later attempt become due, for the
    worker's next pass (within seconds). The researcher's request talks to no SMTP server, and no
    other study's mail is touched. Returns how many were moved forward."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.study_id) == study_id,
            col(OutboxMessage.status) == MessageStatus.PENDING,
            col(OutboxMessage.next_attempt_at) > utcnow(),
        )
        .values(next_attempt_at=utcnow())
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
