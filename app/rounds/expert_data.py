"""What a study holds about one expert, for the expert to see and take away (the GDPR's right of
access and portability): their details and profile, their consent and the information they agreed
to, their invitations, and every answer and reason with its round. Nothing about other experts."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from app.panel.models import Expert
from app.rounds.models import Answer, Invitation, Round
from app.serialization import json_safe, to_csv
from app.studies.models import InformationSheet, Item, Study

ANSWER_COLUMNS = (
    "round",
    "item",
    "statement",
    "kind",
    "value",
    "values",
    "text",
    "reason",
    "unable",
    "language",
    "version",
    "updated_at",
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def answers_of(session: Session, expert: Expert) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Answer, Round.number, Item)
        .join(Round, col(Round.id) == col(Answer.round_id))
        .join(Item, col(Item.id) == col(Answer.item_id))
        .where(Answer.expert_id == expert.id)
        .order_by(col(Round.number), col(Item.position), col(Item.id))
    ).all()
    return [
        {
            "round": number,
            "item": item.id,
            "statement": item.text,
            "kind": item.kind,
            "value": answer.value,
            "values": list(answer.values) if answer.values else None,
            "text": answer.text,
            "reason": answer.reason,
            "unable": answer.unable,
            "language": answer.language,
            "version": answer.version,
            "updated_at": _iso(answer.updated_at),
        }
        for answer, number, item in rows
    ]


def holdings(session: Session, study: Study, expert: Expert) -> dict[str, Any]:
    """Everything, as one document."""
    sheet = None
    if expert.consent_version is not None:
        sheet = session.exec(
            select(InformationSheet).where(
                InformationSheet.study_id == study.id, InformationSheet.version == expert.consent_version
            )
        ).first()
    invitations = session.exec(
        select(Invitation, Round.number)
        .join(Round, col(Round.id) == col(Invitation.round_id))
        .where(Invitation.expert_id == expert.id)
        .order_by(col(Round.number))
    ).all()
    return json_safe(
        {
            "study": {"title": study.title, "language": study.language},
            "expert": {
                "pseudonym": expert.pseudonym,
                "name": expert.name,
                "email": expert.email,
                "stakeholder_group": expert.stakeholder_group,
                "language": expert.language or study.language,
                "profile": expert.profile,
                "self_assessment": expert.self_assessment,  # the levels they gave about their expertise
                "interests": expert.interests,  # what they declared as they agreed
                "weight": expert.weight,
                "status": expert.status,
                "status_changed_at": _iso(expert.status_changed_at),
                "added_at": _iso(expert.created_at),
            },
            "consent": {
                "agreed_at": _iso(expert.consent_at),
                "version": expert.consent_version,
                "language": expert.consent_language,
                "information": (
                    {
                        field: getattr(sheet, field)
                        for field in ("purpose", "controller", "contact_name", "contact_email", "ethics", "retention")
                    }
                    if sheet is not None
                    else None
                ),
            },
            "rounds": [
                {
                    "round": number,
                    "invited_at": _iso(invitation.invited_at),
                    "opened_at": _iso(invitation.opened_at),
                    "started_at": _iso(invitation.started_at),
                    "submitted_at": _iso(invitation.submitted_at),
                    "reminders": invitation.reminder_count,
                }
                for invitation, number in invitations
            ],
            "answers": answers_of(session, expert),
        }
    )


def as_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def answers_csv(rows: list[dict[str, Any]]) -> bytes:
    """The answers, one per line (a spreadsheet's formulas neutralised, as in every export)."""
    flat = [{**row, "values": " | ".join(str(v) for v in row["values"]) if row.get("values") else ""} for row in rows]
    return to_csv(flat, ANSWER_COLUMNS)
