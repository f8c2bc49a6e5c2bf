"""The studies' pages: the list, settings and members, the design (themes and items)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, select

from app.accounts import email_links
from app.accounts import service as accounts
from app.accounts.dependencies import CurrentResearcher, OptionalAuth
from app.accounts.models import AccountToken, Researcher, StudyMember
from app.dependencies import Form, SessionDep
from app.mail.dependencies import MailerDep
from app.studies import information, service
from app.studies.context import study_page
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForOwner, StudyForViewer
from app.studies.models import InformationSheet, Study
from app.studies.schemas import (
    DataProtection,
    InformationSheetIn,
    MemberAdd,
    StudyCreate,
    StudyUpdate,
)
from app.web import Refusal, form_text, redirect, refused_form, render, request_language

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(auth: OptionalAuth) -> RedirectResponse:
    return RedirectResponse("/studies" if auth else "/login", status_code=303)


def studies_list_page(
    request: Request,
    session: Session,
    researcher: Researcher | None,
    context: dict[str, Any] | None = None,
    *,
    archived: bool = False,
    status_code: int = 200,
) -> Response:
    """The researcher's studies, with the forms to create one or import a protocol file."""
    return render(
        request,
        "researcher/studies.html",
        {
            "studies": service.studies_for(session, researcher, archived=archived) if researcher else [],
            "archived": archived,
            "form": {"title": "", "question": "", "language": "fr", "description": ""},
            "errors": {},
            "error": None,
            "import_error": None,
            **(context or {}),
        },
        status_code=status_code,
    )


@router.get("/studies", include_in_schema=False)
def studies_page(
    request: Request, session: SessionDep, researcher: CurrentResearcher, archived: bool = False
) -> Response:
    return studies_list_page(request, session, researcher, archived=archived)


@router.post("/studies", include_in_schema=False)
def create_study_page(request: Request, session: SessionDep, researcher: CurrentResearcher, form: Form) -> Response:
    values = {k: form_text(form, k) for k in ("title", "question", "language", "description")}
    researcher_id = researcher.id

    def again(fresh: Session, refusal: Refusal) -> Response:
        context = {"form": values, "errors": refusal.errors, "error": refusal.error, "import_error": None}
        return studies_list_page(request, fresh, fresh.get(Researcher, researcher_id), context, status_code=400)

    with refused_form(again):
        study = service.create_study(session, researcher, StudyCreate(**values))
    return redirect(f"/studies/{study.id}/design", "created")


STUDY_FORM_FIELDS = (
    "title",
    "question",
    "description",
    "language",
    "expert_definition",
    "invitation_note",
    "reminder_note",
)


def _settings_values(study: Study) -> dict[str, Any]:
    values = {k: getattr(study, k) for k in STUDY_FORM_FIELDS}
    return values | {f"report_{k}": study.report_notes.get(k, "") for k in ("rationale", "funding", "conflicts")}


def _sheet_values(sheet: InformationSheet | None) -> dict[str, Any]:
    return {f: getattr(sheet, f) if sheet else "" for f in information.FIELDS} | {
        "asks_again": False,
        "asks_interests": bool(sheet and sheet.asks_interests),
    }


def _settings_page(
    request: Request,
    session: Session,
    access: StudyAccess,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    member_form: dict[str, str] | None = None,
    member_errors: dict[str, str] | None = None,
    sheet_form: dict[str, Any] | None = None,
    sheet_errors: dict[str, str] | None = None,
    sheet_error: str | None = None,
    privacy_form: dict[str, Any] | None = None,
    privacy_errors: dict[str, str] | None = None,
    privacy_error: str | None = None,
    refused_status: int = 400,
) -> Response:
    sheets = information.sheets_of(session, access.study.id)
    members = session.exec(
        select(StudyMember, Researcher).join(Researcher).where(StudyMember.study_id == access.study.id)
    ).all()
    refused = bool(errors or error or member_errors or sheet_errors or sheet_error or privacy_errors or privacy_error)
    study = access.study
    return render(
        request,
        "researcher/settings.html",
        study_page(
            access,
            "settings",
            form=values,
            errors=errors or {},
            error=error,
            members=members,
            invitations=email_links.pending_invitations(session, access.study.id),
            member_form=member_form or {"email": "", "role": "editor"},
            member_errors=member_errors or {},
            sheets=sheets,
            sheet_form=sheet_form or _sheet_values(sheets[-1] if sheets else None),
            sheet_errors=sheet_errors or {},
            sheet_error=sheet_error,
            sheet_defaults=information.DEFAULTS,
            privacy_form=privacy_form
            or {
                "erasure_policy": study.erasure_policy,
                "experts_may_erase": study.experts_may_erase,
                "retention_months": study.retention_months or "",
            },
            privacy_errors=privacy_errors or {},
            privacy_error=privacy_error,
        ),
        status_code=refused_status if refused else 200,
    )


def _settings_again(
    request: Request,
    access: StudyAccess,
    forms: Callable[[Refusal], dict[str, Any]],
    status: int | None = None,
) -> Callable[[Session, Refusal], Response]:
    """The settings page again after one of its cards refused a form: ``forms`` says what that card
    shows (what was typed, the messages); the status is the refusal's unless ``status`` is given."""

    def again(fresh: Session, refusal: Refusal) -> Response:
        fresh_access = access.in_session(fresh)
        return _settings_page(
            request,
            fresh,
            fresh_access,
            _settings_values(fresh_access.study),
            refused_status=status or refusal.status_code,
            **forms(refusal),
        )

    return again


@router.get("/studies/{study_id}/settings", include_in_schema=False)
def settings_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    return _settings_page(request, session, access, _settings_values(access.study))


@router.post("/studies/{study_id}/settings", include_in_schema=False)
def save_settings_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    values = {k: form_text(form, k) for k in STUDY_FORM_FIELDS}
    notes = {k: form_text(form, f"report_{k}", "").strip() for k in ("rationale", "funding", "conflicts")}

    def again(fresh: Session, refusal: Refusal) -> Response:
        typed = values | {f"report_{k}": v for k, v in notes.items()}
        return _settings_page(
            request, fresh, access.in_session(fresh), typed, errors=refusal.errors, error=refusal.error
        )

    with refused_form(again):
        service.update_study(session, access.study, StudyUpdate(**values, report_notes=notes), access.researcher)
    return redirect(f"/studies/{access.study.id}/settings", "saved")


@router.post("/studies/{study_id}/information", include_in_schema=False)
def save_information_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    """A new version of the information sheet (if anything changed)."""
    values: dict[str, Any] = {f: form_text(form, f) for f in information.FIELDS}
    values["asks_again"] = bool(form.get("asks_again"))
    values["asks_interests"] = bool(form.get("asks_interests"))

    again = _settings_again(
        request,
        access,
        lambda refusal: {"sheet_form": values, "sheet_errors": refusal.errors, "sheet_error": refusal.error},
    )
    with refused_form(again):
        information.save_sheet(session, access.study, InformationSheetIn(**values), access.researcher)
    return redirect(f"/studies/{access.study.id}/settings#information", "saved")


@router.post("/studies/{study_id}/data-protection", include_in_schema=False)
def save_data_protection_page(request: Request, session: SessionDep, access: StudyForOwner, form: Form) -> Response:
    """What erasure does, whether experts may erase their own data, how long the data are kept."""
    values: dict[str, Any] = {
        "erasure_policy": form_text(form, "erasure_policy", "keep_anonymised"),
        "experts_may_erase": bool(form.get("experts_may_erase")),
        "retention_months": form_text(form, "retention_months").strip(),
    }

    again = _settings_again(
        request,
        access,
        lambda refusal: {"privacy_form": values, "privacy_errors": refusal.errors, "privacy_error": refusal.error},
    )
    with refused_form(again):
        choices = DataProtection(**{**values, "retention_months": values["retention_months"] or None})
        service.update_data_protection(session, access.study, choices, access.researcher)
    return redirect(f"/studies/{access.study.id}/settings#personal-data", "saved")


@router.post("/studies/{study_id}/two-factor", include_in_schema=False)
def two_factor_requirement_page(request: Request, session: SessionDep, access: StudyForOwner, form: Form) -> Response:
    required = bool(form.get("required"))

    again = _settings_again(request, access, lambda refusal: {"member_errors": {"two_factor": refusal.error}})
    with refused_form(again):
        service.require_two_factor(session, access.study, required, access.researcher)
    return redirect(f"/studies/{access.study.id}/settings#members", "saved")


@router.post("/studies/{study_id}/members", include_in_schema=False)
def add_member_page(
    request: Request, session: SessionDep, access: StudyForOwner, mailer: MailerDep, form: Form
) -> Response:
    """An existing account joins at once; any other address is sent an invitation."""
    values = {"email": form_text(form, "email", ""), "role": form_text(form, "role", "editor")}

    again = _settings_again(
        request,
        access,
        lambda refusal: {"member_form": values, "member_errors": {"email": refusal.error, **refusal.errors}},
        status=400,  # the members card answers 400 to every refusal, a conflict included
    )
    with refused_form(again):
        data = MemberAdd(**values)
        added = email_links.invite(
            session,
            email_links.StudyInvitation(access.study.id, access.study.title),
            data.email,
            data.role,
            access.researcher,
            mailer,
            request_language(request, access.study.language),
        )
    done = "invited" if isinstance(added, AccountToken) else "saved"
    return redirect(f"/studies/{access.study.id}/settings#members", done)


@router.post("/studies/{study_id}/invitations/{token_id}/withdraw", include_in_schema=False)
def withdraw_invitation_page(session: SessionDep, access: StudyForOwner, token_id: int) -> Response:
    email_links.withdraw_invitation(session, access.study.id, token_id, access.researcher)
    return redirect(f"/studies/{access.study.id}/settings#members", "saved")


@router.post("/studies/{study_id}/members/{researcher_id}/remove", include_in_schema=False)
def remove_member_page(session: SessionDep, access: StudyForOwner, researcher_id: int) -> Response:
    accounts.remove_member(session, access.study.id, researcher_id)
    return redirect(f"/studies/{access.study.id}/settings", "saved")


@router.post("/studies/{study_id}/archive", include_in_schema=False)
def archive_page(session: SessionDep, access: StudyForOwner, form: Form) -> Response:
    restore = form.get("restore") == "1"
    service.archive_study(session, access.study, access.researcher, archived=not restore)
    return redirect(f"/studies/{access.study.id}", "restored" if restore else "archived")
