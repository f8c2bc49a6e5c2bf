"""Record and read the audit log."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from app.accounts.models import Researcher
from app.audit.models import AuditEvent


def record(
    session: Session, study_id: int | None, researcher: Researcher | None, action: str, target: str = "", **details: Any
) -> AuditEvent:
    event = AuditEvent(
        study_id=study_id,
        researcher_id=researcher.id if researcher else None,
        actor=researcher.email if researcher else "system",
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
