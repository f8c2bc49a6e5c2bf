"""The rounds' pages for researchers: lifecycle, progress, results, narrowing and coding."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from app.dependencies import Form, ReadSessionDep, SessionDep, TransactionsDep
from app.errors import InvalidInput, Message
from app.mail.dependencies import MailerDep
from app.rounds import dashboard, invitations, narrowing, service
from app.rounds.analysis import analyse_apart, snapshot_of
from app.rounds.answers import round_items
from app.rounds.context import rounds_tab
from app.rounds.models import Round, RoundStatus
from app.rounds.schemas import (
    RoundCreate,
)
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForEditorReading, StudyForViewer
from app.web import Refusal, form_text, local_to_utc, redirect, refused_form, render, request_timezone, whole_number

router = APIRouter()


def _parse_when(raw: str | None, field: str, tz: ZoneInfo) -> datetime | None:
    """A deadline typed in the researcher's time zone, stored in UTC."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return local_to_utc(raw, tz)
    except ValueError:
        raise InvalidInput(Message("Enter a date and time."), fields=(field,)) from None


def _rounds_page(
    request: Request,
    session: SessionDep,
    access: StudyAccess,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    study = access.study
    latest = service.current_round(session, study.id)
    next_items = []
    if latest is None or latest.status == RoundStatus.ANALYSED:
        next_items = service.next_round_items(session, study, latest)
    return render(
        request,
        "researcher/rounds.html",
        rounds_tab(
            session,
            access,
            progress={p.round.id: p for p in dashboard.study_progress(session, study)},
            latest=latest,
            next_items=next_items,
            form=form or {"realtime": False, "closes_at": "", "reminder": ""},
            errors=errors or {},
            error=error,
        ),
        status_code=status_code,
    )


@router.get("/studies/{study_id}/rounds", include_in_schema=False)
def rounds_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    return _rounds_page(request, session, access)


@router.post("/studies/{study_id}/end", include_in_schema=False)
def end_study_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    """End the study by hand, with a reason (stated in the report next to the stopping rule)."""

    def again(fresh: Session, refusal: Refusal) -> Response:
        return _rounds_page(
            request, fresh, access.in_session(fresh), error=refusal.error, status_code=refusal.status_code
        )

    with refused_form(again):
        _confirmed(form)
        service.end_study(session, access.study, form_text(form, "reason", ""), access.researcher)
    return redirect(f"/studies/{access.study.id}/rounds", "ended")


@router.post("/studies/{study_id}/rounds", include_in_schema=False)
def createround_detail_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    realtime = bool(form.get("realtime"))
    closes_at, reminder_text = form_text(form, "closes_at"), form_text(form, "reminder").strip()
    values: dict[str, Any] = {"realtime": realtime, "closes_at": closes_at, "reminder": reminder_text}

    def again(fresh: Session, refusal: Refusal) -> Response:
        return _rounds_page(
            request, fresh, access.in_session(fresh), values, refusal.errors, refusal.error, status_code=400
        )

    with refused_form(again):
        reminder = _hours(reminder_text)
        data = RoundCreate(
            realtime=realtime,
            closes_at=_parse_when(closes_at, "closes_at", request_timezone(request, form_text(form, "tz") or None)),
            reminder_interval_hours=reminder,
        )
        round_ = service.create_round(
            session,
            access.study,
            access.researcher,
            realtime=data.realtime,
            closes_at=data.closes_at,
            reminder_interval_hours=data.reminder_interval_hours,
        )
    return redirect(f"/studies/{access.study.id}/rounds/{round_.number}", "created")


def round_detail_page(
    request: Request,
    session: SessionDep,
    access: StudyAccess,
    round_: Round,
    error: str | None = None,
    status_code: int = 200,
    subset_form: dict[str, str] | None = None,
) -> Response:
    study = access.study
    result = service.result_of(session, round_.id)
    items = round_items(session, round_.id)
    return render(
        request,
        "researcher/round.html",
        rounds_tab(
            session,
            access,
            round=round_,
            items=items,
            subset_raters=service.subset_raters(session, study, round_, len(items)),
            progress=dashboard.round_progress(session, study, round_),
            result=snapshot_of(result),
            decision=narrowing.decision_for(session, round_),
            narrowing_rule=narrowing.rule_of(study),
            has_open_items=any(i.kind == "open" for i in items),
            error=error,
            subset_form=subset_form,
        ),
        status_code=status_code,
    )


@router.get("/studies/{study_id}/rounds/{number}", include_in_schema=False)
def round_page(request: Request, session: SessionDep, access: StudyForViewer, number: int) -> Response:
    return round_detail_page(request, session, access, service.get_round(session, access.study, number))


def _confirmed(form: Any) -> None:
    if not form.get("confirm"):
        raise InvalidInput(Message("Tick the box to confirm: this cannot be undone."), fields=("confirm",))


def _hours(text: str) -> int | None:
    """A reminder interval typed in a form: a whole number of hours, or nothing."""
    return _whole_number(text, "reminder", Message("The reminder interval is a whole number of hours."))


def _round_again(
    request: Request, access: StudyAccess, number: int, subset_form: dict[str, str] | None = None
) -> Callable[[Session, Refusal], Response]:
    """The round's page again, with the refusal (and what was typed in the subsets form), read afresh."""

    def again(fresh: Session, refusal: Refusal) -> Response:
        again_access = access.in_session(fresh)
        round_ = service.get_round(fresh, again_access.study, number)
        return round_detail_page(request, fresh, again_access, round_, refusal.error, refusal.status_code, subset_form)

    return again


@router.post("/studies/{study_id}/rounds/{number}/close", include_in_schema=False)
def close_page(
    request: Request,
    reader: ReadSessionDep,
    transactions: TransactionsDep,
    access: StudyForEditorReading,
    number: int,
    form: Form,
) -> Response:
    """Close, then analyse apart: neither the request's session nor a write transaction is held
    while the round is analysed."""
    round_ = service.get_round(reader, access.study, number)
    with refused_form(_round_again(request, access, number)):
        _confirmed(form)
        service.close_then_analyse(transactions, access.study.id, round_.id, access.researcher)
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "closed")


@router.post("/studies/{study_id}/rounds/{number}/analyse", include_in_schema=False)
def analyse_page(
    request: Request, reader: ReadSessionDep, transactions: TransactionsDep, access: StudyForEditorReading, number: int
) -> Response:
    round_ = service.get_round(reader, access.study, number)
    with refused_form(_round_again(request, access, number)):
        analyse_apart(transactions, access.study.id, round_.id, access.researcher)
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "analysed")


@router.post("/studies/{study_id}/rounds/{number}/open", include_in_schema=False)
def openround_detail_page(
    request: Request,
    session: SessionDep,
    mailer: MailerDep,
    access: StudyForEditor,
    number: int,
    form: Form,
) -> Response:
    with refused_form(_round_again(request, access, number)):
        _confirmed(form)
        round_ = service.get_round(session, access.study, number)
        service.open_round(session, access.study, round_, access.researcher, mailer)
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "opened")


@router.post("/studies/{study_id}/rounds/{number}/remind", include_in_schema=False)
def remind_page(
    request: Request,
    session: SessionDep,
    mailer: MailerDep,
    access: StudyForEditor,
    number: int,
) -> Response:
    with refused_form(_round_again(request, access, number)):
        round_ = service.get_round(session, access.study, number)
        invitations.send_reminders(session, access.study, round_, access.researcher, mailer)
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "reminded")


@router.post("/studies/{study_id}/rounds/{number}/reopen", include_in_schema=False)
def reopen_page(request: Request, session: SessionDep, access: StudyForEditor, number: int, form: Form) -> Response:
    with refused_form(_round_again(request, access, number)):
        round_ = service.get_round(session, access.study, number)
        closes_at = _parse_when(
            form_text(form, "closes_at", ""), "closes_at", request_timezone(request, form_text(form, "tz") or None)
        )
        reason = form_text(form, "reason", "")
        service.reopen_round(session, access.study, round_, reason, closes_at, access.researcher)
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "reopened")


def _whole_number(text: str, name: str, message: Message) -> int | None:
    """A whole number typed in a form, or nothing; anything else refused with ``message``."""
    text = text.strip()
    number = whole_number(text)
    if text and number is None:
        raise InvalidInput(message, fields=(name,))
    return number


@router.post("/studies/{study_id}/rounds/{number}/subsets", include_in_schema=False)
def round_subsets_page(
    request: Request, session: SessionDep, access: StudyForEditor, number: int, form: Form
) -> Response:
    typed = {name: form_text(form, name, "") for name in ("items_per_expert", "min_raters_per_item")}
    with refused_form(_round_again(request, access, number, typed)):
        round_ = service.get_round(session, access.study, number)
        service.set_item_subsets(
            session,
            access.study,
            round_,
            _whole_number(
                form_text(form, "items_per_expert", ""),
                "items_per_expert",
                Message("The number of items per expert is a whole number."),
            ),
            _whole_number(
                form_text(form, "min_raters_per_item", ""),
                "min_raters_per_item",
                Message("The minimum of raters per item is a whole number."),
            ),
            access.researcher,
        )
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "saved")


@router.post("/studies/{study_id}/rounds/{number}/settings", include_in_schema=False)
def round_settings_page(
    request: Request, session: SessionDep, access: StudyForEditor, number: int, form: Form
) -> Response:
    with refused_form(_round_again(request, access, number)):
        round_ = service.get_round(session, access.study, number)
        service.update_draft(
            session,
            access.study,
            round_,
            realtime=bool(form.get("realtime")),
            closes_at=_parse_when(
                form_text(form, "closes_at", ""), "closes_at", request_timezone(request, form_text(form, "tz") or None)
            ),
            reminder_interval_hours=_hours(form_text(form, "reminder", "")),
            researcher=access.researcher,
        )
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "saved")
