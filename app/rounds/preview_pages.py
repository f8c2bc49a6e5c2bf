"""The research team's preview of the expert questionnaire."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.dependencies import SessionDep
from app.rounds.preview import preview_context
from app.studies.dependencies import StudyForViewer
from app.web import render, request_language

router = APIRouter()


@router.get("/studies/{study_id}/preview", include_in_schema=False)
def preview_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    """The questionnaire of the round being prepared (or open), as an expert sees it; nothing on it
    is saved and nothing is created (``?lang=fr|en`` reads it in either language)."""
    study = access.study
    return render(
        request,
        "expert/form.html",
        preview_context(session, study),
        language=request_language(request, study.language),
        headers={"Cache-Control": "no-store"},
    )
