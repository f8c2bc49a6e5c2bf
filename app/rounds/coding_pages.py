"""Coding a round's open answers into statements, which may become items of the next round."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from app.dependencies import Form, SessionDep, get_settings_dep
from app.errors import InvalidInput, Message
from app.rounds import coding, embedder, service
from app.rounds.context import rounds_tab
from app.rounds.models import Round, Statement
from app.studies import design
from app.studies.context import theme_options
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForViewer
from app.web import Refusal, form_ids, form_text, redirect, refused_form, render, whole_number

router = APIRouter()


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
    ticked: set[int] | None = None,
) -> Response:
    study = access.study
    round_ = service.get_round(session, study, number)
    statements = coding.statements_of(session, study)
    themes = design.themes_of(session, study.id)
    groups = coding.open_answers(session, round_)
    sources = coding.sources_of(session, [s.id for s in statements])
    embed = embedder.embed if get_settings_dep(request).coding_embeddings else None
    suggested = coding.suggestions(groups, {a for ids in sources.values() for a in ids}, embed, embedder.LANGUAGES)
    chosen = _chosen_suggestion(request, suggested)
    if chosen is not None and form is None:  # a suggestion taken: its answers ticked, its typical answer to edit
        form = {"text": chosen.answers[0][0].text or "", "theme_id": "", "tags": ""}
    return render(
        request,
        "researcher/coding.html",
        rounds_tab(
            session,
            access,
            round=round_,
            groups=groups,
            statements=statements,
            sources=sources,
            suggestions=suggested,
            ticked=ticked if ticked is not None else {answer.id for answer, _ in chosen.answers} if chosen else set(),
            alike=coding.alike_statements(statements),
            themes={t.id: t for t in themes},
            theme_options=theme_options(themes),
            error=error,
            form=form or {"text": "", "theme_id": "", "tags": ""},
        ),
        status_code=status_code,
    )


def _chosen_suggestion(request: Request, suggested: list[coding.Suggestion]) -> coding.Suggestion | None:
    """The suggestion the researcher took (``?suggestion=N``, counted from 1), if any."""
    number = whole_number(request.query_params.get("suggestion", ""))
    if number is not None and 1 <= number <= len(suggested):
        return suggested[number - 1]
    return None


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

    def again(fresh: Session, refusal: Refusal) -> Response:
        return _coding_page(
            request,
            fresh,
            access.in_session(fresh),
            number,
            error=refusal.error,
            form=values,
            status_code=400,
            ticked=set(form_ids(form, "answer_ids")),
        )

    with refused_form(again):
        coding.create_statement(
            session,
            study,
            round_,
            values["text"],
            form_ids(form, "answer_ids"),
            whole_number(values["theme_id"]),
            values["tags"].split(","),
            access.researcher,
        )
    return redirect(f"/studies/{study.id}/rounds/{number}/coding", "created")


def _coding_again(request: Request, access: StudyAccess, number: int) -> Callable[[Session, Refusal], Response]:
    def again(fresh: Session, refusal: Refusal) -> Response:
        return _coding_page(
            request, fresh, access.in_session(fresh), number, error=refusal.error, status_code=refusal.status_code
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
