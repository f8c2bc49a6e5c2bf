"""Record and read the audit log."""

from __future__ import annotations

from typing import Any, Protocol

from sqlmodel import Session, col, select

from app.audit.models import AuditEvent


class Actor(Protocol):
    """Who acted, as the log keeps it (a researcher; ``None`` is the system). The log is a leaf that
    every domain writes to: it knows the actor's id and address, not the accounts domain."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...


def record(
    session: Session, study_id: int | None, actor: Actor | None, action: str, target: str = "", **details: Any
) -> AuditEvent:
    event = AuditEvent(
        study_id=study_id,
        researcher_id=actor.id if actor else None,
        actor=actor.email if actor else "system",
        action=action,
        target=target,
        details=details,
    )
    session.add(event)
    return event


def for_study(session: Session, study_id: int, limit: int = 500) -> list[AuditEvent]:
    return list(
        session.exec(
            select(AuditEvent)
            .where(AuditEvent.study_id == study_id)
            .order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
            .limit(limit)
        ).all()
    )
