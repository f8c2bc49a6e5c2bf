"""The rounds' JSON API: lifecycle, progress, results, narrowing and coding."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from app.dependencies import ReadSessionDep, SessionDep, TransactionsDep
from app.mail.dependencies import MailerDep
from app.panel import service as panel
from app.rounds import coding, dashboard, invitations, narrowing, service
from app.rounds.analysis import snapshot_of
from app.rounds.answers import round_items
from app.rounds.models import Round
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
    RoundSubsets,
    StatementCreate,
    StatementPublic,
    StudyEnd,
    StudyEnded,
)
from app.studies.dependencies import StudyForEditor, StudyForEditorReading, StudyForViewer
from app.studies.models import Study

router = APIRouter()


@router.post("/api/studies/{study_id}/end", response_model=StudyEnded, tags=["rounds"])
def api_end_study(body: StudyEnd, session: SessionDep, access: StudyForEditor) -> StudyEnded:
    """End the study by hand (no round may be open); the reason goes into the log and the report."""
    study = service.end_study(session, access.study, body.reason, access.researcher)
    return StudyEnded(
        id=study.id, status=study.status, finished_at=study.finished_at, stopped_reason=study.stopped_reason
    )


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


@router.put("/api/studies/{study_id}/rounds/{number}/subsets", response_model=RoundDetail, tags=["rounds"])
def api_round_subsets(number: int, body: RoundSubsets, session: SessionDep, access: StudyForEditor) -> RoundDetail:
    """Give each expert a random, balanced subset of a draft round's items (null: every item)."""
    round_ = service.get_round(session, access.study, number)
    service.set_item_subsets(
        session, access.study, round_, body.items_per_expert, body.min_raters_per_item, access.researcher
    )
    return _detail(session, access.study, round_)


@router.get("/api/studies/{study_id}/rounds/{number}", response_model=RoundDetail, tags=["rounds"])
def api_round(number: int, session: SessionDep, access: StudyForViewer) -> RoundDetail:
    return _detail(session, access.study, service.get_round(session, access.study, number))


@router.post("/api/studies/{study_id}/rounds/{number}/open", response_model=RoundDetail, tags=["rounds"])
def api_open(number: int, session: SessionDep, mailer: MailerDep, access: StudyForEditor) -> RoundDetail:
    """Open the round: locks the protocol (round 1) and queues one invitation per expert."""
    round_ = service.get_round(session, access.study, number)
    service.open_round(session, access.study, round_, access.researcher, mailer)
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
def api_remind(number: int, session: SessionDep, mailer: MailerDep, access: StudyForEditor) -> dict[str, int]:
    round_ = service.get_round(session, access.study, number)
    return {"queued": invitations.send_reminders(session, access.study, round_, access.researcher, mailer)}


@router.get("/api/studies/{study_id}/rounds/{number}/results", response_model=ResultsPublic, tags=["rounds"])
def api_results(number: int, session: SessionDep, access: StudyForViewer) -> ResultsPublic:
    round_ = service.get_round(session, access.study, number)
    return ResultsPublic(round=number, data=snapshot_of(service.analysed_result(session, round_)))


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
    number: int, body: NarrowingConfirm, session: SessionDep, mailer: MailerDep, access: StudyForEditor
) -> NarrowingPreview:
    round_ = service.get_round(session, access.study, number)
    narrowing.confirm(
        session,
        access.study,
        round_,
        {o.pseudonym: (o.kept, o.reason) for o in body.overrides},
        access.researcher,
        thank_dropped=mailer if body.thank_dropped else None,
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
def api_reissue(expert_id: int, session: SessionDep, mailer: MailerDep, access: StudyForEditor) -> Response:
    """Issue a new personal link (the old one dies); e-mailed if a round is open."""
    expert = panel.get_expert(session, access.study, expert_id)
    service.reissue_link(session, access.study, expert, access.researcher, mailer)
    return Response(status_code=204)
