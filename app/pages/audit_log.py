"""The study's log: who did what and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from app.audit import service
from app.dependencies import SessionDep
from app.i18n import N_, gettext, punctuation
from app.studies.context import study_page
from app.studies.dependencies import StudyForViewer
from app.web import render, request_language

router = APIRouter()

# The log's details and targets are stored as data (keys, pseudonyms, numbers); the page says them
# in words, in the reader's language. An unknown key is shown as it is stored.
DETAIL_LABELS = {
    "after": N_("after"),
    "answers_deleted": N_("answers deleted"),
    "by_the_expert": N_("by the expert, through their link"),
    "experts": N_("experts"),
    "owners": N_("owners warned"),
    "policy": N_("what erasure does"),
    "role": N_("role"),
    "required": N_("required"),
    "asks_again": N_("asks the experts to agree again"),
    "before": N_("before"),
    "by": N_("by"),
    "carried": N_("answers carried forward"),
    "consensus_items": N_("items at consensus"),
    "count": N_("count"),
    "dropped": N_("dropped"),
    "fields": N_("changed"),
    "invited": N_("invited"),
    "items": N_("items"),
    "kept": N_("kept"),
    "language": N_("language"),
    "merged": N_("merged"),
    "overrides": N_("departures from the rule"),
    "pseudonyms": N_("pseudonyms"),
    "reason": N_("reason"),
    "round": N_("round"),
    "sources": N_("source answers"),
    "stakeholder_group": N_("group"),
    "status": N_("status"),
    "stop": N_("the stopping rule says stop"),
    "text": N_("text"),
    "thanked": N_("thank-you e-mails sent"),
    "title": N_("title"),
    "version": N_("version"),
}
FIELD_LABELS = {
    "name": N_("name"),
    "email": N_("e-mail"),
    "stakeholder_group": N_("group"),
    "language": N_("language"),
    "title": N_("title"),
    "question": N_("research question"),
    "description": N_("description"),
    "expert_definition": N_("definition of “expert”"),
    "invitation_note": N_("words for the invitations"),
    "reminder_note": N_("words for the reminders"),
    "report_notes": N_("notes for the report"),
    "erasure_policy": N_("what erasure does to answers"),
    "experts_may_erase": N_("experts may erase their data"),
    "retention_months": N_("retention period"),
}
VALUE_LABELS = {  # coded values of the details (an erasure policy, a role), in words
    "keep_anonymised": N_("keep the answers of closed rounds, anonymised"),
    "remove_answers": N_("remove the answers and analyse again"),
    "owner": N_("owner"),
    "editor": N_("editor"),
    "viewer": N_("viewer"),
}
YES_NO = {True: N_("yes"), False: N_("no")}
TARGET_LABELS = {
    "expert": N_("expert %(name)s"),
    "item": N_("item %(name)s"),
    "round": N_("round %(name)s"),
    "statement": N_("statement %(name)s"),
    "study": N_("study %(name)s"),
    "theme": N_("theme %(name)s"),
}


def _value(value: Any, language: str) -> str:
    if isinstance(value, bool):
        return gettext(language, YES_NO[value])
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(
            gettext(language, FIELD_LABELS[v]) if v in FIELD_LABELS else _value(v, language) for v in value
        )
    if isinstance(value, dict):
        if set(value) == {"before", "after"}:
            return f"{_value(value['before'], language)} → {_value(value['after'], language)}"
        return ", ".join(f"{k}: {_value(v, language)}" for k, v in sorted(value.items()))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_details(details: dict[str, Any], language: str) -> str:
    """An event's details in words: "changed: name, e-mail; group: academic → practitioner"."""
    parts = []
    colon = punctuation(language, ":")
    for key, value in sorted(details.items()):
        label = gettext(language, DETAIL_LABELS[key]) if key in DETAIL_LABELS else key
        if key == "overrides" and isinstance(value, dict):  # pseudonym -> kept
            said = ", ".join(
                f"{name} {gettext(language, 'kept' if kept else 'dropped')}" for name, kept in sorted(value.items())
            )
            parts.append(f"{label}{colon}{said or '—'}")
        elif key in ("policy", "role") and value in VALUE_LABELS:
            parts.append(f"{label}{colon}{gettext(language, VALUE_LABELS[value])}")
        else:
            parts.append(f"{label}{colon}{_value(value, language)}")
    return punctuation(language, ";").join(parts)


def describe_target(target: str, language: str) -> str:
    """``expert:E07`` as "expert E07", ``round:2`` as "round 2"."""
    kind, _, name = target.partition(":")
    if kind in TARGET_LABELS and name:
        return gettext(language, TARGET_LABELS[kind]) % {"name": name}
    return gettext(language, target) if target == "panel" else target


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    created_at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


@router.get("/studies/{study_id}/audit", include_in_schema=False)
def audit_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    language = request_language(request)
    return render(
        request,
        "researcher/audit.html",
        study_page(
            access,
            "audit",
            events=service.for_study(session, access.study.id),
            details=lambda event: describe_details(event.details, language),
            target=lambda event: describe_target(event.target, language),
        ),
    )


@router.get("/api/studies/{study_id}/audit", response_model=list[AuditPublic], tags=["audit"])
def api_audit(session: SessionDep, access: StudyForViewer) -> list[AuditPublic]:
    return [AuditPublic.model_validate(e) for e in service.for_study(session, access.study.id)]
