"""The protocol tab and the protocol file: the rules fixed before round 1 (a change to the weighting
rule re-weighs the panel), and a whole study as one TOML file, imported and exported."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlmodel import Session
from starlette.datastructures import UploadFile as StarletteUpload

from app import protocol_file
from app.accounts.dependencies import CurrentResearcher
from app.accounts.models import Researcher
from app.dependencies import Form, RawBody, SessionDep
from app.errors import InvalidInput, Message
from app.panel import service as panel
from app.studies import forms, service
from app.studies.context import study_page
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForOwner, StudyForViewer
from app.studies.pages import studies_list_page
from app.studies.schemas import ProtocolUpdate, StudyPublic
from app.web import Refusal, redirect, refused_form, render

router = APIRouter()

QUANTILE_CHOICES = ("linear", "weibull", "hazen", "median_unbiased", "normal_unbiased", "inverted_cdf")


def _protocol_page(
    request: Request,
    session: SessionDep,
    access: StudyAccess,
    values: dict[str, Any],
    errors: dict[str, str],
    error: str | None,
    status_code: int = 200,
) -> Response:
    study = access.study
    return render(
        request,
        "researcher/protocol.html",
        study_page(
            access,
            "protocol",
            form=values,
            errors=errors,
            error=error,
            locked_reason=service.locked_reason(study) if study.locked_at else None,
            quantile_methods=QUANTILE_CHOICES,
        ),
        status_code=status_code,
    )


@router.get("/studies/{study_id}/protocol", include_in_schema=False)
def protocol_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    return _protocol_page(request, session, access, forms.protocol_form_values(access.study), {}, None)


@router.post("/studies/{study_id}/protocol", include_in_schema=False)
def save_protocol_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    values = forms.posted(form, forms.protocol_form_values(access.study))
    update, errors = forms.protocol_from_form(values)
    if update is None:
        return _protocol_page(
            request,
            session,
            access,
            values,
            errors,
            Message("Please correct the fields marked below; nothing was saved."),
            400,
        )

    def again(fresh: Session, refusal: Refusal) -> Response:
        return _protocol_page(
            request, fresh, access.in_session(fresh), values, refusal.errors, refusal.error, refusal.status_code
        )

    with refused_form(again):
        service.update_protocol(session, access.study, update, access.researcher)
        panel.recompute_weights(session, access.study, access.researcher)
    return redirect(f"/studies/{access.study.id}/protocol", "saved")


@router.post("/studies/{study_id}/lock", include_in_schema=False)
def lock_page(session: SessionDep, access: StudyForOwner) -> Response:
    service.lock_protocol(session, access.study, access.researcher)
    return redirect(f"/studies/{access.study.id}/protocol", "locked")


@router.get("/studies/{study_id}/protocol.toml", include_in_schema=False)
def protocol_download(session: SessionDep, access: StudyForViewer, with_emails: bool = False) -> Response:
    text = protocol_file.export_study(session, access.study.id, with_identities=with_emails and access.can_edit)
    return PlainTextResponse(
        text,
        media_type="application/toml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="study-{access.study.id}.toml"'},
    )


@router.post("/studies/import", include_in_schema=False)
def import_study_page(request: Request, session: SessionDep, researcher: CurrentResearcher, form: Form) -> Response:
    upload = form.get("file")
    content = upload.file.read() if isinstance(upload, StarletteUpload) else b""
    researcher_id = researcher.id

    def again(fresh: Session, refusal: Refusal) -> Response:
        context = {"import_error": refusal.error}
        return studies_list_page(request, fresh, fresh.get(Researcher, researcher_id), context, status_code=400)

    with refused_form(again):
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(Message("The file is not UTF-8 text."), fields=("file",)) from None
        study = protocol_file.create_from_text(
            session, text, owner=researcher, filename=getattr(upload, "filename", None) or "protocol.toml"
        )
    return redirect(f"/studies/{study.id}", "created")


# --- API ---------------------------------------------------------------------------------------------


@router.post("/api/studies/import", response_model=StudyPublic, status_code=201, tags=["studies"])
def api_import(body: RawBody, session: SessionDep, researcher: CurrentResearcher) -> StudyPublic:
    """Create a study from a protocol file (TOML in the request body)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(Message("The protocol must be UTF-8 text.")) from None
    return StudyPublic.model_validate(protocol_file.create_from_text(session, text, owner=researcher))


@router.put("/api/studies/{study_id}/protocol", response_model=StudyPublic, tags=["studies"])
def api_protocol(body: ProtocolUpdate, session: SessionDep, access: StudyForEditor) -> StudyPublic:
    study = service.update_protocol(session, access.study, body, access.researcher)
    panel.recompute_weights(session, study, access.researcher)
    return StudyPublic.model_validate(study)


@router.get("/api/studies/{study_id}/protocol.toml", tags=["studies"], response_class=PlainTextResponse)
def api_export(session: SessionDep, access: StudyForViewer, with_emails: bool = False) -> PlainTextResponse:
    return PlainTextResponse(
        protocol_file.export_study(
            session,
            access.study.id,
            with_identities=with_emails and access.can_edit,
        ),
        media_type="application/toml; charset=utf-8",
    )
