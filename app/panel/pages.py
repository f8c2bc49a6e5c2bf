"""The panel pages: add and import experts, weights, withdrawal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.datastructures import UploadFile as StarletteUpload

from app.accounts import service as accounts
from app.dependencies import Form, ReadSessionDep, SessionDep, TransactionsDep
from app.errors import AppError, InvalidInput, Message
from app.panel import panel_file, service
from app.panel.schemas import ExpertCreate, WeightChange
from app.studies import forms
from app.studies.context import study_page
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForEditorReading, StudyForViewer
from app.studies.service import group_label
from app.web import Refusal, form_text, redirect, refused_form, render

router = APIRouter()


EMPTY_FORM = {"name": "", "email": "", "stakeholder_group": "", "profile": "", "language": ""}


def _panel_page(
    request: Request,
    session: SessionDep,
    access: StudyAccess,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    import_lines: list[dict[str, Any]] | None = None,
    import_error: str | None = None,
    status_code: int = 200,
) -> Response:
    study = access.study
    experts = service.experts_of(session, study.id)
    return render(
        request,
        "researcher/panel.html",
        study_page(
            access,
            "panel",
            experts=experts,
            # names and e-mails are for editors and owners, as are identity exports; viewers see pseudonyms
            sees_identities=access.can_edit,
            group_label=lambda key: group_label(study, key),
            group_options=[("", "—")] + [(g["key"], g["label"]) for g in study.groups],
            form=form or EMPTY_FORM,
            errors=errors or {},
            error=error,
            import_lines=import_lines or [],
            import_error=import_error,
            profile_fields=sorted({k for e in experts for k in e.profile}),
        ),
        status_code=status_code,
    )


@router.get("/studies/{study_id}/panel", include_in_schema=False)
def panel_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    return _panel_page(request, session, access)


@router.post("/studies/{study_id}/panel", include_in_schema=False)
def add_expert_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    values = {k: form_text(form, k, "") for k in EMPTY_FORM}
    if not accounts.first_submission(session, form_text(form, "form_key", "")):
        return redirect(f"/studies/{access.study.id}/panel", "saved")  # a second click: added once

    def again(fresh: Session, refusal: Refusal) -> Response:
        return _panel_page(
            request,
            fresh,
            access.in_session(fresh),
            form=values,
            errors=refusal.errors,
            error=refusal.error,
            status_code=400,
        )

    with refused_form(again):
        data = ExpertCreate(
            name=values["name"],
            email=values["email"],
            stakeholder_group=values["stakeholder_group"],
            profile=dict(forms.pairs(values["profile"])),
            language=values["language"] or None,
        )
        service.add_expert(session, access.study, data, access.researcher)
        service.recompute_weights(session, access.study, access.researcher)
    return redirect(f"/studies/{access.study.id}/panel", "created")


@router.post("/studies/{study_id}/panel/import", include_in_schema=False)
def import_page(
    request: Request, reader: ReadSessionDep, transactions: TransactionsDep, access: StudyForEditorReading, form: Form
) -> Response:
    upload = form.get("file")
    if not isinstance(upload, StarletteUpload):
        return _panel_page(request, reader, access, import_error=Message("Choose a CSV or XLSX file."), status_code=400)
    try:
        panel_file.import_panel(
            reader,
            access.study,
            upload.filename or "panel.csv",
            upload.file.read(),
            access.researcher,
            transactions.write,
        )
    except AppError as exc:
        return _panel_page(
            request, reader, access, import_error=exc.detail, import_lines=exc.extra.get("lines", []), status_code=400
        )
    return redirect(f"/studies/{access.study.id}/panel", "imported")


def _refused_for(request: Request, access: StudyAccess, pseudonym: str) -> Callable[[Session, Refusal], Response]:
    """The panel page again, the refusal named after the expert it concerns."""

    def again(fresh: Session, refusal: Refusal) -> Response:
        error = Message("%(expert)s: %(error)s", expert=pseudonym, error=refusal.error)
        return _panel_page(request, fresh, access.in_session(fresh), error=error, status_code=400)

    return again


@router.post("/studies/{study_id}/panel/{expert_id}/weight", include_in_schema=False)
def weight_page(request: Request, session: SessionDep, access: StudyForEditor, expert_id: int, form: Form) -> Response:
    expert = service.get_expert(session, access.study, expert_id)
    with refused_form(_refused_for(request, access, expert.pseudonym)):
        raw = form_text(form, "weight", "").replace(",", ".")
        try:
            weight = float(raw)
        except ValueError:
            raise InvalidInput(Message("“%(raw)s” is not a number.", raw=raw), fields=("weight",)) from None
        change = WeightChange(weight=weight, reason=form_text(form, "reason", ""))
        service.set_weight(session, access.study, expert, change.weight, change.reason, access.researcher)
    return redirect(f"/studies/{access.study.id}/panel#expert-{expert.id}", "saved")


@router.post("/studies/{study_id}/panel/{expert_id}/withdraw", include_in_schema=False)
def withdraw_page(
    request: Request, session: SessionDep, access: StudyForEditor, expert_id: int, form: Form
) -> Response:
    expert = service.get_expert(session, access.study, expert_id)
    with refused_form(_refused_for(request, access, expert.pseudonym)):
        service.withdraw(session, access.study, expert, form_text(form, "reason", ""), access.researcher)
    return redirect(f"/studies/{access.study.id}/panel#expert-{expert.id}", "saved")


@router.post("/studies/{study_id}/panel/{expert_id}/reinstate", include_in_schema=False)
def reinstate_page(request: Request, session: SessionDep, access: StudyForEditor, expert_id: int) -> Response:
    expert = service.get_expert(session, access.study, expert_id)
    with refused_form(_refused_for(request, access, expert.pseudonym)):
        service.reinstate(session, access.study, expert, access.researcher)
    return redirect(f"/studies/{access.study.id}/panel#expert-{expert.id}", "saved")
