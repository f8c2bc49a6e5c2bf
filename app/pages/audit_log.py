"""The study's log: who did what and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from app.audit import service
from app.dependencies import SessionDep
from app.studies.context import study_page
from app.studies.dependencies import StudyForViewer
from app.web import render

router = APIRouter()


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    created_at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


@router.get("/studies/{study_id}/audit", include_in_schema=False)
def audit_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    return render(
        request,
        "researcher/audit.html",
        study_page(access, "audit", events=service.for_study(session, access.study.id)),
    )


@router.get("/api/studies/{study_id}/audit", response_model=list[AuditPublic], tags=["audit"])
def api_audit(session: SessionDep, access: StudyForViewer) -> list[AuditPublic]:
    return [AuditPublic.model_validate(e) for e in service.for_study(session, access.study.id)]
