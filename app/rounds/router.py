"""Researchers' side of the rounds: lifecycle, progress, results, narrowing and coding."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from app.dependencies import Form, ReadSessionDep, SessionDep, SettingsDep, TemplatesDep, TransactionsDep
from app.errors import AppError, InvalidInput, Message
from app.panel import service as panel
from app.rounds import coding, dashboard, narrowing, service
from app.rounds.analysis import analyse_apart, snapshot_of
from app.rounds.answers import round_items
from app.rounds.charts import distribution_svg
from app.rounds.kinds import KINDS
from app.rounds.models import Round, RoundStatus, Statement
from app.rounds.schemas import (
    NarrowingConfirm,
    NarrowingPreview,
    NarrowingRow,
    OpenAnswerPublic,
    ProgressPublic,
    ResultsPublic,
    RoundCreate,
    RoundDetail,
    RoundPublic,
    RoundReopen,
    StatementCreate,
    StatementPublic,
    StudyEnd,
    StudyEnded,
)
from app.rounds.snapshot import RoundSnapshot
from app.studies import service as studies
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForEditorReading, StudyForViewer
from app.studies.models import Study
from app.web import form_errors, form_ids, form_text, redirect, refusal_status, refused_form, render, request_language

router = APIRouter()


def _parse_when(raw: str | None, field: str) -> datetime | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(Message("Enter a date and time."), fields={field: "invalid"}) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _context(session: SessionDep, access: StudyAccess, **extra: Any) -> dict[str, Any]:
    study = access.study
    return {
        "study": study,
        "role": access.role,
        "can_edit": access.can_edit and study.archived_at is None,
        "is_owner": access.is_owner,
        "tab": "rounds",
        "rounds": service.rounds_of(session, study.id),
        **extra,
    }


# --- pages ------------------------------------------------------------------------------------------


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
        _context(
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

    def again(fresh: Session, exc: Exception) -> Response:
        error = form_errors(exc)[0]
        return _rounds_page(request, fresh, access.in_session(fresh), error=error, status_code=refusal_status(exc))

    with refused_form(again):
        _confirmed(form)
        service.end_study(session, access.study, form_text(form, "reason", ""), access.researcher)
    return redirect(f"/studies/{access.study.id}/rounds", "ended")


@router.post("/api/studies/{study_id}/end", response_model=StudyEnded, tags=["rounds"])
def api_end_study(body: StudyEnd, session: SessionDep, access: StudyForEditor) -> StudyEnded:
    """End the study by hand (no round may be open); the reason goes into the log and the report."""
    study = service.end_study(session, access.study, body.reason, access.researcher)
    return StudyEnded(
        id=study.id, status=study.status, finished_at=study.finished_at, stopped_reason=study.stopped_reason
    )


@router.post("/studies/{study_id}/rounds", include_in_schema=False)
def create_round_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    realtime = bool(form.get("realtime"))
    closes_at, reminder_text = form_text(form, "closes_at"), form_text(form, "reminder").strip()
    values: dict[str, Any] = {"realtime": realtime, "closes_at": closes_at, "reminder": reminder_text}

    def again(fresh: Session, exc: Exception) -> Response:
        error, errors = form_errors(exc)
        return _rounds_page(request, fresh, access.in_session(fresh), values, errors, error, status_code=400)

    with refused_form(again):
        reminder = _hours(reminder_text)
        data = RoundCreate(
            realtime=realtime,
            closes_at=_parse_when(closes_at, "closes_at"),
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


def _round_page(
    request: Request,
    session: SessionDep,
    access: StudyAccess,
    round_: Round,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    study = access.study
    result = service.result_of(session, round_.id)
    return render(
        request,
        "researcher/round.html",
        _context(
            session,
            access,
            round=round_,
            items=round_items(session, round_.id),
            progress=dashboard.round_progress(session, study, round_),
            result=snapshot_of(result),
            decision=narrowing.decision_for(session, round_),
            narrowing_rule=narrowing.rule_of(study),
            has_open_items=any(i.kind == "open" for i in round_items(session, round_.id)),
            error=error,
        ),
        status_code=status_code,
    )


@router.get("/studies/{study_id}/rounds/{number}", include_in_schema=False)
def round_page(request: Request, session: SessionDep, access: StudyForViewer, number: int) -> Response:
    return _round_page(request, session, access, service.get_round(session, access.study, number))


def _confirmed(form: Any) -> None:
    if not form.get("confirm"):
        raise InvalidInput(Message("Tick the box to confirm: this cannot be undone."), fields={"confirm": "required"})


def _hours(text: str) -> int | None:
    """A reminder interval typed in a form: a whole number of hours, or nothing."""
    text = text.strip()
    if text and not text.isdigit():
        raise InvalidInput(Message("The reminder interval is a whole number of hours."), fields={"reminder": "invalid"})
    return int(text) if text else None


def _round_again(request: Request, access: StudyAccess, number: int) -> Callable[[Session, Exception], Response]:
    """The round's page again, with the refusal, read afresh."""

    def again(fresh: Session, exc: Exception) -> Response:
        again_access = access.in_session(fresh)
        round_ = service.get_round(fresh, again_access.study, number)
        return _round_page(
            request, fresh, again_access, round_, error=form_errors(exc)[0], status_code=refusal_status(exc)
        )

    return again


@router.get("/studies/{study_id}/rounds/{number}/results", include_in_schema=False)
def results_page(request: Request, session: SessionDep, access: StudyForViewer, number: int) -> Response:
    study = access.study
    round_ = service.get_round(session, study, number)
    result = service.result_of(session, round_.id)
    if result is None:
        return _round_page(
            request, session, access, round_, error=Message("This round has not been analysed yet."), status_code=409
        )
    data = RoundSnapshot.load(result.data)
    points = list(range(study.scale_min, study.scale_max + 1))
    charts = {
        entry.item_id: distribution_svg(
            points,
            [entry.shown_stats.count(p) for p in points],
            median=entry.shown_stats.median,
            title=entry.text,
        )
        for entry in data.of_kind("rating")
    }
    themes = {t.id: t for t in studies.themes_of(session, study.id)}
    stability = {s.item_id: s for s in data.stability}
    return render(
        request,
        "researcher/results.html",
        _context(
            session,
            access,
            round=round_,
            data=data,
            charts=charts,
            themes=themes,
            stability=stability,
            kinds=KINDS,
            group_label=lambda key: studies.group_label(study, key),
        ),
    )


@router.get("/studies/{study_id}/rounds/{number}/narrowing", include_in_schema=False)
def narrowing_page(request: Request, session: SessionDep, access: StudyForViewer, number: int) -> Response:
    return _narrowing_page(request, session, access, number)


def _narrowing_page(
    request: Request,
    session: SessionDep,
    access: StudyAccess,
    number: int,
    error: str | None = None,
    status_code: int = 200,
    posted: dict[str, str] | None = None,
    missing: dict[str, str] | None = None,
) -> Response:
    study = access.study
    round_ = service.get_round(session, study, number)
    decision = narrowing.decision_for(session, round_)
    rows, seats, proposal_error = [], {}, None
    if decision is None:
        try:
            proposal = narrowing.propose(session, study, round_)
            rows, seats = narrowing.proposal_rows(proposal), proposal.result.seats
        except AppError as exc:
            proposal_error = exc.detail
    return render(
        request,
        "researcher/narrowing.html",
        _context(
            session,
            access,
            round=round_,
            decision=decision,
            entries=narrowing.entries_of(session, decision) if decision else [],
            rows=rows,
            seats=seats,
            proposal_error=proposal_error,
            error=error,
            group_label=lambda key: studies.group_label(study, key),
            fates=decision.inputs.get("fates", {}) if decision else {},
            posted=posted or {},
            missing=missing or {},
            reason=lambda data: narrowing.reason_text(
                data, request_language(request), lambda key: studies.group_label(study, key)
            ),
        ),
        status_code=status_code,
    )


@router.post("/studies/{study_id}/rounds/{number}/narrowing", include_in_schema=False)
def confirm_narrowing_page(
    request: Request, session: SessionDep, access: StudyForEditor, number: int, form: Form
) -> Response:
    study = access.study
    round_ = service.get_round(session, study, number)
    overrides: dict[str, tuple[bool, str]] = {}
    for key, value in form.items():
        if key.startswith("fate_") and value in ("keep", "drop"):
            pseudonym = key[5:]
            proposed = form_text(form, f"proposed_{pseudonym}", "")
            if value != proposed:
                overrides[pseudonym] = (value == "keep", form_text(form, f"reason_{pseudonym}", ""))
    posted = {key: form_text(form, key) for key in form if key.startswith(("fate_", "reason_"))}

    def again(fresh: Session, exc: Exception) -> Response:
        return _narrowing_page(
            request,
            fresh,
            access.in_session(fresh),
            number,
            error=form_errors(exc)[0],
            status_code=refusal_status(exc),
            posted=posted,
            missing=exc.fields if isinstance(exc, AppError) else {},
        )

    with refused_form(again):
        narrowing.confirm(session, study, round_, overrides, access.researcher)
    return redirect(f"/studies/{study.id}/rounds/{number}/narrowing", "narrowed")


@router.get("/studies/{study_id}/rounds/{number}/coding", include_in_schema=False)
def coding_page(request: Request, session: SessionDep, access: StudyForViewer, number: int) -> Response:
    return _coding_page(request, session, access, number)


def _coding_page(
    request: Request,
    session: SessionDep,
    access: StudyAccess,
    number: int,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    study = access.study
    round_ = service.get_round(session, study, number)
    statements = coding.statements_of(session, study)
    themes = studies.themes_of(session, study.id)
    return render(
        request,
        "researcher/coding.html",
        _context(
            session,
            access,
            round=round_,
            groups=coding.open_answers(session, round_),
            statements=statements,
            sources=coding.sources_of(session, [s.id for s in statements]),
            themes={t.id: t for t in themes},
            theme_options=[("", "—")] + [(t.id, t.title) for t in themes],
            error=error,
            form=form or {"text": "", "theme_id": "", "tags": ""},
        ),
        status_code=status_code,
    )


@router.post("/studies/{study_id}/rounds/{number}/statements", include_in_schema=False)
def create_statement_page(
    request: Request, session: SessionDep, access: StudyForEditor, number: int, form: Form
) -> Response:
    study = access.study
    round_ = service.get_round(session, study, number)
    values = {
        "text": form_text(form, "text", ""),
        "theme_id": form_text(form, "theme_id", ""),
        "tags": form_text(form, "tags", ""),
    }

    def again(fresh: Session, exc: Exception) -> Response:
        error = form_errors(exc)[0]
        return _coding_page(request, fresh, access.in_session(fresh), number, error=error, form=values, status_code=400)

    with refused_form(again):
        coding.create_statement(
            session,
            study,
            round_,
            values["text"],
            form_ids(form, "answer_ids"),
            int(values["theme_id"]) if values["theme_id"].isdigit() else None,
            values["tags"].split(","),
            access.researcher,
        )
    return redirect(f"/studies/{study.id}/rounds/{number}/coding", "created")


def _coding_again(request: Request, access: StudyAccess, number: int) -> Callable[[Session, Exception], Response]:
    def again(fresh: Session, exc: Exception) -> Response:
        error = form_errors(exc)[0]
        return _coding_page(
            request, fresh, access.in_session(fresh), number, error=error, status_code=refusal_status(exc)
        )

    return again


def _statement_round(session: Session, access: StudyAccess, statement_id: int) -> tuple[Statement, int]:
    statement = coding.get_statement(session, access.study, statement_id)
    round_ = session.get(Round, statement.round_id)
    return statement, round_.number if round_ else 1


@router.post("/studies/{study_id}/statements/{statement_id}/promote", include_in_schema=False)
def promote_statement_page(
    request: Request, session: SessionDep, access: StudyForEditor, statement_id: int
) -> Response:
    statement, number = _statement_round(session, access, statement_id)
    with refused_form(_coding_again(request, access, number)):
        coding.promote(session, access.study, statement, access.researcher)
    return redirect(f"/studies/{access.study.id}/rounds/{number}/coding", "saved")


@router.post("/studies/{study_id}/statements/{statement_id}/discard", include_in_schema=False)
def discard_statement_page(
    request: Request, session: SessionDep, access: StudyForEditor, statement_id: int
) -> Response:
    statement, number = _statement_round(session, access, statement_id)
    with refused_form(_coding_again(request, access, number)):
        coding.discard(session, access.study, statement, access.researcher)
    return redirect(f"/studies/{access.study.id}/rounds/{number}/coding", "saved")


@router.post("/studies/{study_id}/statements/{statement_id}/merge", include_in_schema=False)
def merge_statements_page(
    request: Request, session: SessionDep, access: StudyForEditor, statement_id: int, form: Form
) -> Response:
    statement, number = _statement_round(session, access, statement_id)
    with refused_form(_coding_again(request, access, number)):
        ids = form_ids(form, "merge_ids")
        others = [coding.get_statement(session, access.study, i) for i in ids if i != statement.id]
        if not others:
            raise InvalidInput(Message("Tick the statements to fold into this one."))
        coding.merge_statements(session, access.study, statement, others, access.researcher)
    return redirect(f"/studies/{access.study.id}/rounds/{number}/coding", "saved")


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
def open_round_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    access: StudyForEditor,
    number: int,
    form: Form,
) -> Response:
    with refused_form(_round_again(request, access, number)):
        _confirmed(form)
        round_ = service.get_round(session, access.study, number)
        service.open_round(session, access.study, round_, access.researcher, settings, templates)
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "opened")


@router.post("/studies/{study_id}/rounds/{number}/remind", include_in_schema=False)
def remind_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    templates: TemplatesDep,
    access: StudyForEditor,
    number: int,
) -> Response:
    with refused_form(_round_again(request, access, number)):
        round_ = service.get_round(session, access.study, number)
        service.send_reminders(session, access.study, round_, access.researcher, settings, templates)
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "reminded")


@router.post("/studies/{study_id}/rounds/{number}/reopen", include_in_schema=False)
def reopen_page(request: Request, session: SessionDep, access: StudyForEditor, number: int, form: Form) -> Response:
    with refused_form(_round_again(request, access, number)):
        round_ = service.get_round(session, access.study, number)
        closes_at = _parse_when(form_text(form, "closes_at", ""), "closes_at")
        reason = form_text(form, "reason", "")
        service.reopen_round(session, access.study, round_, reason, closes_at, access.researcher)
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "reopened")


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
            closes_at=_parse_when(form_text(form, "closes_at", ""), "closes_at"),
            reminder_interval_hours=_hours(form_text(form, "reminder", "")),
            researcher=access.researcher,
        )
    return redirect(f"/studies/{access.study.id}/rounds/{number}", "saved")


@router.post("/studies/{study_id}/panel/{expert_id}/link", include_in_schema=False)
def reissue_link_page(
    session: SessionDep, settings: SettingsDep, templates: TemplatesDep, access: StudyForEditor, expert_id: int
) -> Response:
    """A new personal link for an expert of the panel page: a rounds operation, since the open
    round's invitation goes out again with it."""
    expert = panel.get_expert(session, access.study, expert_id)
    service.reissue_link(session, access.study, expert, access.researcher, settings, templates)
    return redirect(f"/studies/{access.study.id}/panel#expert-{expert.id}", "link")


# --- API ------------------------------------------------------------------------------------------


def _detail(session: SessionDep, study: Study, round_: Round) -> RoundDetail:
    progress = dashboard.round_progress(session, study, round_)

    def as_public(p):
        return ProgressPublic(
            invited=p.invited,
            opened=p.opened,
            started=p.started,  # noqa: E731
            submitted=p.submitted,
        )

    return RoundDetail(
        **RoundPublic.model_validate(round_).model_dump(),
        items=[i.id for i in round_items(session, round_.id)],
        progress=as_public(progress.total),
        groups={k: as_public(v) for k, v in progress.groups.items()},
    )


@router.get("/api/studies/{study_id}/rounds", response_model=list[RoundPublic], tags=["rounds"])
def api_rounds(session: SessionDep, access: StudyForViewer) -> list[RoundPublic]:
    return [RoundPublic.model_validate(r) for r in service.rounds_of(session, access.study.id)]


@router.post("/api/studies/{study_id}/rounds", response_model=RoundDetail, status_code=201, tags=["rounds"])
def api_create_round(body: RoundCreate, session: SessionDep, access: StudyForEditor) -> RoundDetail:
    round_ = service.create_round(
        session,
        access.study,
        access.researcher,
        realtime=body.realtime,
        closes_at=body.closes_at,
        reminder_interval_hours=body.reminder_interval_hours,
    )
    return _detail(session, access.study, round_)


@router.get("/api/studies/{study_id}/rounds/{number}", response_model=RoundDetail, tags=["rounds"])
def api_round(number: int, session: SessionDep, access: StudyForViewer) -> RoundDetail:
    return _detail(session, access.study, service.get_round(session, access.study, number))


@router.post("/api/studies/{study_id}/rounds/{number}/open", response_model=RoundDetail, tags=["rounds"])
def api_open(
    number: int, session: SessionDep, settings: SettingsDep, templates: TemplatesDep, access: StudyForEditor
) -> RoundDetail:
    """Open the round: locks the protocol (round 1) and queues one invitation per expert."""
    round_ = service.get_round(session, access.study, number)
    service.open_round(session, access.study, round_, access.researcher, settings, templates)
    return _detail(session, access.study, round_)


@router.post("/api/studies/{study_id}/rounds/{number}/close", response_model=RoundDetail, tags=["rounds"])
def api_close(
    number: int, reader: ReadSessionDep, transactions: TransactionsDep, access: StudyForEditorReading
) -> RoundDetail:
    """Close the round, then analyse it: the snapshot is stored when this answers."""
    round_ = service.get_round(reader, access.study, number)
    service.close_then_analyse(transactions, access.study.id, round_.id, access.researcher)
    with transactions.read() as fresh:
        return _detail(fresh, access.study, service.get_round(fresh, access.study, number))


@router.post("/api/studies/{study_id}/rounds/{number}/reopen", response_model=RoundDetail, tags=["rounds"])
def api_reopen(number: int, body: RoundReopen, session: SessionDep, access: StudyForEditor) -> RoundDetail:
    round_ = service.get_round(session, access.study, number)
    service.reopen_round(session, access.study, round_, body.reason, body.closes_at, access.researcher)
    return _detail(session, access.study, round_)


@router.post("/api/studies/{study_id}/rounds/{number}/reminders", tags=["rounds"])
def api_remind(
    number: int, session: SessionDep, settings: SettingsDep, templates: TemplatesDep, access: StudyForEditor
) -> dict[str, int]:
    round_ = service.get_round(session, access.study, number)
    return {"queued": service.send_reminders(session, access.study, round_, access.researcher, settings, templates)}


@router.get("/api/studies/{study_id}/rounds/{number}/results", response_model=ResultsPublic, tags=["rounds"])
def api_results(number: int, session: SessionDep, access: StudyForViewer) -> ResultsPublic:
    round_ = service.get_round(session, access.study, number)
    result = service.result_of(session, round_.id)
    if result is None:
        raise InvalidInput(Message("Round %(number)s has not been analysed yet.", number=number))
    return ResultsPublic(round=number, data=snapshot_of(result))


@router.get("/api/studies/{study_id}/rounds/{number}/narrowing", response_model=NarrowingPreview, tags=["rounds"])
def api_narrowing(number: int, session: SessionDep, access: StudyForViewer) -> NarrowingPreview:
    round_ = service.get_round(session, access.study, number)
    decision = narrowing.decision_for(session, round_)
    if decision is not None:
        rows = [
            NarrowingRow(
                pseudonym=e.pseudonym,
                group=e.stakeholder_group,
                kept=entry.kept,
                rank=entry.rank,
                pool_size=0,
                seats=0,
                score=entry.score,
                components={},
                tie_broken=False,
                reason=entry.override_reason or entry.reason,
                inputs=decision.inputs["experts"].get(e.pseudonym, {}),
            )
            for entry, e in narrowing.entries_of(session, decision)
        ]
        return NarrowingPreview(
            target=decision.rule["target"], seats=decision.inputs.get("seats", {}), decided=True, experts=rows
        )
    proposal = narrowing.propose(session, access.study, round_)
    return NarrowingPreview(
        target=proposal.rule.target,
        seats=proposal.result.seats,
        decided=False,
        experts=[NarrowingRow(**r) for r in narrowing.proposal_rows(proposal)],
    )


@router.post("/api/studies/{study_id}/rounds/{number}/narrowing", response_model=NarrowingPreview, tags=["rounds"])
def api_confirm_narrowing(
    number: int, body: NarrowingConfirm, session: SessionDep, access: StudyForEditor
) -> NarrowingPreview:
    round_ = service.get_round(session, access.study, number)
    narrowing.confirm(
        session, access.study, round_, {o.pseudonym: (o.kept, o.reason) for o in body.overrides}, access.researcher
    )
    return api_narrowing(number, session, access)


@router.get(
    "/api/studies/{study_id}/rounds/{number}/open-answers", response_model=list[OpenAnswerPublic], tags=["coding"]
)
def api_open_answers(number: int, session: SessionDep, access: StudyForViewer) -> list[OpenAnswerPublic]:
    round_ = service.get_round(session, access.study, number)
    return [
        OpenAnswerPublic(answer_id=a.id, item_id=item.id, pseudonym=e.pseudonym, text=a.text or "")
        for item, answers in coding.open_answers(session, round_)
        for a, e in answers
    ]


@router.post(
    "/api/studies/{study_id}/rounds/{number}/statements",
    response_model=StatementPublic,
    status_code=201,
    tags=["coding"],
)
def api_create_statement(
    number: int, body: StatementCreate, session: SessionDep, access: StudyForEditor
) -> StatementPublic:
    round_ = service.get_round(session, access.study, number)
    return StatementPublic.model_validate(
        coding.create_statement(
            session, access.study, round_, body.text, body.answer_ids, body.theme_id, body.tags, access.researcher
        )
    )


@router.post(
    "/api/studies/{study_id}/statements/{statement_id}/promote", response_model=StatementPublic, tags=["coding"]
)
def api_promote(statement_id: int, session: SessionDep, access: StudyForEditor) -> StatementPublic:
    statement = coding.get_statement(session, access.study, statement_id)
    coding.promote(session, access.study, statement, access.researcher)
    return StatementPublic.model_validate(statement)


@router.get("/api/studies/{study_id}/statements", response_model=list[StatementPublic], tags=["coding"])
def api_statements(session: SessionDep, access: StudyForViewer) -> list[StatementPublic]:
    return [StatementPublic.model_validate(s) for s in coding.statements_of(session, access.study)]


@router.get("/api/studies/{study_id}/dashboard", tags=["rounds"])
def api_dashboard(session: SessionDep, access: StudyForViewer) -> dict[str, Any]:
    rounds = []
    for p in dashboard.study_progress(session, access.study):
        rounds.append(
            {
                "number": p.round.number,
                "status": p.round.status,
                **{k: getattr(p.total, k) for k in ("invited", "opened", "started", "submitted")},
                "groups": {
                    g: {k: getattr(v, k) for k in ("invited", "opened", "started", "submitted")}
                    for g, v in p.groups.items()
                },
            }
        )
    return {"study_id": access.study.id, "status": access.study.status, "rounds": rounds}


@router.post("/api/studies/{study_id}/experts/{expert_id}/link", status_code=204, tags=["panel"])
def api_reissue(
    expert_id: int, session: SessionDep, settings: SettingsDep, templates: TemplatesDep, access: StudyForEditor
) -> Response:
    """Issue a new personal link (the old one dies); e-mailed if a round is open."""
    expert = panel.get_expert(session, access.study, expert_id)
    service.reissue_link(session, access.study, expert, access.researcher, settings, templates)
    return Response(status_code=204)
