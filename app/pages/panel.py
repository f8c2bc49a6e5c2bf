"""The panel pages: the panel table with each expert's progress in the current round, one page per
expert (details, rounds, reminders, weight, status, link), imports and the personal links file.
They compose the panel with the rounds (invitations, reminders, narrowing decisions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.datastructures import UploadFile as StarletteUpload

from app.accounts import service as accounts
from app.dependencies import Form, ReadSessionDep, SessionDep, TransactionsDep
from app.errors import AppError, Conflict, InvalidInput, Message
from app.mail.dependencies import MailerDep
from app.panel import expertise, panel_file, service
from app.panel.models import Expert
from app.panel.schemas import ExpertCreate, ExpertUpdate, WeightChange
from app.privacy import erasure
from app.rounds import dashboard, invitations, narrowing
from app.rounds import service as rounds
from app.serialization import to_csv
from app.studies import forms
from app.studies.context import study_page
from app.studies.dependencies import (
    StudyAccess,
    StudyForEditor,
    StudyForEditorReading,
    StudyForOwner,
    StudyForViewer,
)
from app.studies.models import Study
from app.studies.service import group_label
from app.web import Refusal, form_text, redirect, refused_form, render, request_language, whole_number

router = APIRouter()


EMPTY_FORM = {"name": "", "email": "", "stakeholder_group": "", "profile": "", "language": ""}


def _groups(study: Study) -> dict[str, Any]:
    return {
        "group_label": lambda key: group_label(study, key),
        "group_options": [("", "—")] + [(g["key"], g["label"]) for g in study.groups],
    }


def _panel_page(
    request: Request,
    session: Session,
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
    # names and e-mails are for editors and owners, as are identity exports; viewers see pseudonyms
    sees_identities = access.can_edit
    search = request.query_params.get("q", "")[:200]
    page = whole_number(request.query_params.get("page", "1")) or 1
    shown = service.experts_page(session, study.id, page, search, identities=sees_identities)
    ids = [e.id for e in shown.experts]
    current_round, participation = dashboard.current_participation(session, study, ids)
    return render(
        request,
        "researcher/panel.html",
        study_page(
            access,
            "panel",
            experts=shown.experts,
            shown=shown,
            panel_size=shown.total if not search else service.panel_size(session, study.id),
            search=search,
            sees_identities=sees_identities,
            current_round=current_round,
            participation=participation,
            dropped_reasons=narrowing.dropped_reasons(
                session, study, request_language(request), lambda key: group_label(study, key), expert_ids=ids
            ),
            form=form or EMPTY_FORM,
            errors=errors or {},
            error=error,
            import_lines=import_lines or [],
            import_error=import_error,
            **_groups(study),
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


@router.post("/studies/{study_id}/panel/links.csv", include_in_schema=False)
def links_csv(session: SessionDep, mailer: MailerDep, access: StudyForEditor) -> Response:
    """The active experts' personal links, for a mail merge when the platform sends no e-mail. A
    POST (with the form's CSRF token): it issues the links an expert has not had yet, and logs the
    export."""
    rows = service.personal_links(session, access.study, access.researcher, mailer.secret_key, mailer.base_url)
    return Response(
        to_csv(rows, service.LINK_COLUMNS),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="study-{access.study.id}-links.csv"'},
    )


# --- one expert -------------------------------------------------------------------------------------


def _expert_page(
    request: Request,
    session: Session,
    access: StudyAccess,
    expert: Expert,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    study = access.study
    participation = dashboard.expert_participation(session, study, expert)
    return render(
        request,
        "researcher/expert.html",
        study_page(
            access,
            "panel",
            expert=expert,
            sees_identities=access.can_edit,
            participation=participation,
            moves=_moves_toward_median(session, expert, [p.round for p in participation]),
            assessment_method=expertise.method(study),
            assessment=expertise.coefficient(study, expert),
            band_labels=expertise.BAND_LABELS,
            dropped_reason=narrowing.dropped_reasons(
                session, study, request_language(request), lambda key: group_label(study, key), expert.id
            ).get(expert.id),
            form=form or _details_of(expert),
            errors=errors or {},
            error=error,
            **_groups(study),
        ),
        status_code=status_code,
    )


def _moves_toward_median(session: Session, expert: Expert, rounds_: list[Any]) -> dict[int, tuple[int, int]]:
    """Per analysed round: the expert's answers changed since the round before (that could move
    toward the median the panel was shown) and how many did. Read from the stored snapshot's list
    of experts only: the whole snapshot (every item's figures) is not parsed for one expert's line."""
    moves = {}
    for round_ in rounds_:
        result = rounds.result_of(session, round_.id)
        for entry in result.data.get("experts", []) if result is not None else []:
            if entry.get("expert_id") == expert.id and entry.get("changed") is not None:
                moves[round_.number] = (int(entry["changed"]), int(entry.get("toward_median") or 0))
    return moves


def _details_of(expert: Expert) -> dict[str, str]:
    return {
        "name": expert.name,
        "email": expert.email,
        "stakeholder_group": expert.stakeholder_group,
        "language": expert.language or "",
    }


def _expert_again(
    request: Request, access: StudyAccess, expert_id: int, form: dict[str, Any] | None = None
) -> Callable[[Session, Refusal], Response]:
    """The expert's page again, in a fresh session, with the refusal (and what was typed, if given)."""

    def again(fresh: Session, refusal: Refusal) -> Response:
        fresh_access = access.in_session(fresh)
        expert = service.get_expert(fresh, fresh_access.study, expert_id)
        return _expert_page(
            request,
            fresh,
            fresh_access,
            expert,
            form=form,
            errors=refusal.errors,
            error=refusal.error,
            status_code=refusal.status_code,
        )

    return again


@router.get("/studies/{study_id}/panel/{expert_id}", include_in_schema=False)
def expert_page(request: Request, session: SessionDep, access: StudyForViewer, expert_id: int) -> Response:
    return _expert_page(request, session, access, service.get_expert(session, access.study, expert_id))


@router.post("/studies/{study_id}/panel/{expert_id}", include_in_schema=False)
def edit_expert_page(
    request: Request, session: SessionDep, mailer: MailerDep, access: StudyForEditor, expert_id: int, form: Form
) -> Response:
    expert = service.get_expert(session, access.study, expert_id)
    values = {k: form_text(form, k, "") for k in ("name", "email", "stakeholder_group", "language")}
    with refused_form(_expert_again(request, access, expert_id, values)):
        data = ExpertUpdate(**{**values, "language": values["language"] or None})
        changed = rounds.edit_expert(session, access.study, expert, data, access.researcher, mailer)
    done = "address" if "email" in changed else "saved" if changed else "unchanged"
    return redirect(f"/studies/{access.study.id}/panel/{expert.id}", done)


@router.post("/studies/{study_id}/panel/{expert_id}/remind", include_in_schema=False)
def remind_expert_page(
    request: Request, session: SessionDep, mailer: MailerDep, access: StudyForEditor, expert_id: int
) -> Response:
    expert = service.get_expert(session, access.study, expert_id)
    with refused_form(_expert_again(request, access, expert_id)):
        round_ = rounds.open_round_for(session, access.study.id)
        if round_ is None:
            raise Conflict(Message("No round is open."))
        invitations.remind_expert(session, access.study, round_, expert, access.researcher, mailer)
    return redirect(f"/studies/{access.study.id}/panel/{expert.id}", "reminder")


@router.post("/studies/{study_id}/panel/{expert_id}/weight", include_in_schema=False)
def weight_page(request: Request, session: SessionDep, access: StudyForEditor, expert_id: int, form: Form) -> Response:
    expert = service.get_expert(session, access.study, expert_id)
    with refused_form(_expert_again(request, access, expert_id)):
        raw = form_text(form, "weight", "").replace(",", ".")
        try:
            weight = float(raw)
        except ValueError:
            raise InvalidInput(Message("“%(raw)s” is not a number.", raw=raw), fields=("weight",)) from None
        change = WeightChange(weight=weight, reason=form_text(form, "reason", ""))
        service.set_weight(session, access.study, expert, change.weight, change.reason, access.researcher)
    return redirect(f"/studies/{access.study.id}/panel/{expert.id}", "saved")


@router.post("/studies/{study_id}/panel/{expert_id}/withdraw", include_in_schema=False)
def withdraw_page(
    request: Request, session: SessionDep, access: StudyForEditor, expert_id: int, form: Form
) -> Response:
    expert = service.get_expert(session, access.study, expert_id)
    with refused_form(_expert_again(request, access, expert_id)):
        service.withdraw(session, access.study, expert, form_text(form, "reason", ""), access.researcher)
    return redirect(f"/studies/{access.study.id}/panel/{expert.id}", "saved")


@router.post("/studies/{study_id}/panel/{expert_id}/reinstate", include_in_schema=False)
def reinstate_page(request: Request, session: SessionDep, access: StudyForEditor, expert_id: int) -> Response:
    expert = service.get_expert(session, access.study, expert_id)
    with refused_form(_expert_again(request, access, expert_id)):
        service.reinstate(session, access.study, expert, access.researcher)
    return redirect(f"/studies/{access.study.id}/panel/{expert.id}", "saved")


@router.post("/studies/{study_id}/panel/{expert_id}/erase", include_in_schema=False)
def erase_expert_page(
    request: Request, session: SessionDep, access: StudyForOwner, expert_id: int, form: Form
) -> Response:
    """Erase an expert's personal data (owners only; what happens to the answers is the protocol's)."""
    expert = service.get_expert(session, access.study, expert_id)
    with refused_form(_expert_again(request, access, expert_id)):
        if not form.get("confirm"):
            raise Conflict(Message("Tick the box to confirm the erasure: it cannot be undone."))
        erasure.erase_expert(session, access.study, expert, access.researcher)
    return redirect(f"/studies/{access.study.id}/panel/{expert.id}", "erased")


@router.post("/studies/{study_id}/panel/{expert_id}/link", include_in_schema=False)
def reissue_link_page(
    request: Request, session: SessionDep, mailer: MailerDep, access: StudyForEditor, expert_id: int
) -> Response:
    """A new personal link; if a round is open for the expert, its invitation goes out again with it."""
    expert = service.get_expert(session, access.study, expert_id)
    with refused_form(_expert_again(request, access, expert_id)):
        rounds.reissue_link(session, access.study, expert, access.researcher, mailer)
    return redirect(f"/studies/{access.study.id}/panel/{expert.id}", "link")
