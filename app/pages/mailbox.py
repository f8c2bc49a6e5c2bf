"""The mailbox: every e-mail of a study, its status and its link, so that the whole flow can be
tried on one machine without SMTP (messages then wait in the outbox)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from app.dependencies import SessionDep, SettingsDep
from app.mail import service
from app.studies.context import study_page
from app.studies.dependencies import StudyForEditor
from app.web import redirect, render

router = APIRouter()


class MessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    to_address: str
    subject: str
    body_text: str
    status: str
    attempts: int
    last_error: str
    round_id: int | None


@router.get("/studies/{study_id}/mailbox", include_in_schema=False)
def mailbox_page(request: Request, session: SessionDep, settings: SettingsDep, access: StudyForEditor) -> Response:
    """Editors only: the messages carry the experts' personal links."""
    return render(
        request,
        "researcher/mailbox.html",
        study_page(
            access,
            "mailbox",
            messages=service.messages_for_study(session, access.study.id),
            body=lambda m: service.with_personal_link(m.body_text, m, settings.secret_key),
            smtp=settings.smtp_configured,
            base_url=settings.base_url,
        ),
    )


@router.post("/studies/{study_id}/mailbox/deliver", include_in_schema=False)
def deliver_page(session: SessionDep, access: StudyForEditor) -> Response:
    """Hand the study's waiting messages to the worker (no SMTP inside a researcher's request)."""
    service.deliver_soon(session, access.study.id)
    return redirect(f"/studies/{access.study.id}/mailbox", "handed")


@router.post("/studies/{study_id}/mailbox/{message_id}/retry", include_in_schema=False)
def retry_page(session: SessionDep, access: StudyForEditor, message_id: int) -> Response:
    service.retry(session, access.study.id, message_id)
    return redirect(f"/studies/{access.study.id}/mailbox", "saved")


@router.get("/api/studies/{study_id}/outbox", response_model=list[MessagePublic], tags=["mail"])
def api_outbox(session: SessionDep, settings: SettingsDep, access: StudyForEditor) -> list[MessagePublic]:
    """Editors only: the bodies carry the experts' working links, as they are delivered."""
    return [
        MessagePublic.model_validate(m).model_copy(
            update={"body_text": service.with_personal_link(m.body_text, m, settings.secret_key)}
        )
        for m in service.messages_for_study(session, access.study.id)
    ]
