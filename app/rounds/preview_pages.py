"""The research team's preview of the expert questionnaire."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.dependencies import Form, SessionDep
from app.i18n import LANGUAGES, normalise
from app.mail.dependencies import MailerDep
from app.rounds.preview import preview_context, queue_test_emails
from app.studies.dependencies import StudyForEditor, StudyForViewer
from app.web import form_text, redirect, render, request_language

router = APIRouter()


@router.get("/studies/{study_id}/preview", include_in_schema=False)
def preview_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    """The questionnaire of the round being prepared (or open), as an expert sees it; nothing on it
    is saved and nothing is created. ``?language=fr|en`` reads it in either language without
    changing the language of the researcher's own pages (as ``?lang=`` would)."""
    study = access.study
    language = normalise(request.query_params.get("language")) or request_language(request, study.language)
    return render(
        request,
        "expert/form.html",
        preview_context(session, study, language),
        language=language,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/studies/{study_id}/preview/emails", include_in_schema=False)
def send_test_emails(session: SessionDep, access: StudyForEditor, mailer: MailerDep, form: Form) -> Response:
    """The invitation and a reminder, to the researcher's own address, before the panel gets them."""
    language = form_text(form, "language", access.study.language)
    if language not in LANGUAGES:
        language = access.study.language
    queue_test_emails(session, access.study, access.researcher, mailer, language)
    return redirect(f"/studies/{access.study.id}/mailbox", "test_sent")
