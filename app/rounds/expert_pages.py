"""The expert's pages at /e/{token}: no account, any device, French or English.

GET and HEAD change nothing of a study (mail scanners open links); saving, submitting, consenting
and withdrawing are POSTs carrying a CSRF token tied to the link. Every invalid link gets the same
page, and failed look-ups are rate-limited (counted in the database, in a transaction apart).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DataError, SQLAlchemyError
from sqlmodel import Session, col, select

from app.config import Settings
from app.dependencies import Form, RawBody, SessionDep, SettingsDep, same_origin
from app.errors import (
    Conflict,
    Forbidden,
    Gone,
    InvalidInput,
    MalformedRequest,
    Message,
    NotFound,
    TooManyRequests,
)
from app.panel import expertise, interests
from app.panel import service as panel
from app.panel.models import Expert, ExpertStatus
from app.rounds import answers as answer_service
from app.rounds import expert_data
from app.rounds import feedback as feedback_service
from app.rounds import service as rounds
from app.rounds.kinds import AnswerIn, kind_of, same_answer
from app.rounds.models import Answer, Invitation, Round, RoundStatus
from app.rounds.preview import questionnaire
from app.rounds.ratelimit import FailureLimiter
from app.security import link_csrf_token, looks_like_token, tokens_match
from app.studies import information
from app.studies.models import InformationSheet, Item, Study, StudyStatus
from app.studies.translations import Localiser
from app.web import Refusal, pydantic_message, refused_form, render, request_language, whole_number

router = APIRouter(include_in_schema=False)
log = logging.getLogger("delphi.experts")


@dataclass
class LinkContext:
    token: str
    expert: Expert
    study: Study
    round: Round | None
    invitation: Invitation | None
    language: str
    csrf: str
    session: Session = field(repr=False)

    @cached_property
    def sheet(self) -> InformationSheet | None:
        """The study's current information sheet (its contact is on every page); read when a page
        needs it, not on each autosave."""
        return information.current_sheet(self.session, self.study.id)

    @property
    def needs_consent(self) -> bool:
        """Never agreed, or a later version of the information asks to agree again."""
        return information.needs_consent(
            self.session, self.sheet, self.expert.consent_at is not None, self.expert.consent_version
        )

    def answering(self) -> tuple[Round, Invitation]:
        """The round this expert answers now (the status page was ruled out before)."""
        if self.round is None or self.invitation is None:
            raise Gone(Message("You are not on the panel of this round."))
        if expertise.needs_assessment(self.study, self.expert):  # the page asks it first; a script must too
            raise Conflict(Message("Please answer the questions about your expertise first."))
        return self.round, self.invitation


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Links:
    """Resolving a personal link and checking a post made through it; injected (``LinksDep``)."""

    limiter: FailureLimiter
    settings: Settings

    def resolve(self, request: Request, session: Session, token: str) -> LinkContext:
        client = _client(request)
        # The token is looked up first (one indexed query): a valid link is never refused because of
        # other clients' failures; the limits apply to the failures only.
        found = rounds.link_holder(session, token) if looks_like_token(token) else None
        if found is None:
            if self.limiter.blocked(client):
                raise TooManyRequests(
                    Message("Too many attempts with links that do not work. Wait a minute and try again.")
                )
            # The limiter counts the failure in a transaction of its own. Give back this request's
            # connection first (it wrote nothing): on SQLite it may hold the write lock the count needs.
            session.rollback()
            self.limiter.record_failure(client)
            raise NotFound(Message("This link is not valid."))
        expert, study = found.expert, found.study
        language = request_language(request, expert.language or study.language)
        csrf = link_csrf_token(self.settings.secret_key, expert.link_token_hash or "")
        return LinkContext(token, expert, study, found.round, found.invitation, language, csrf, session)

    def check_post(self, request: Request, ctx: LinkContext, given: str | None) -> None:
        if not tokens_match(given, ctx.csrf) or not same_origin(request, self.settings):
            raise Forbidden(Message("This page has expired. Reload it and try again; your saved answers are kept."))


def get_links(request: Request, settings: SettingsDep) -> Links:
    return Links(request.app.state.link_limiter, settings)


LinksDep = Annotated[Links, Depends(get_links)]


def link_page(request: Request, ctx: LinkContext, name: str, status_code: int = 200, **context: Any) -> Response:
    return render(
        request,
        name,
        {
            "study": ctx.study,
            "expert": ctx.expert,
            "round": ctx.round,
            "token": ctx.token,
            "link_csrf": ctx.csrf,
            "base": f"/e/{ctx.token}",
            "sheet": ctx.sheet,
            "local": Localiser(ctx.study, ctx.language),
            **context,
        },
        language=ctx.language,
        status_code=status_code,
    )


def _status_page(request: Request, ctx: LinkContext) -> Response | None:
    """The page for an expert who cannot answer now, or None if they can."""
    expert, round_ = ctx.expert, ctx.round
    if expert.status == ExpertStatus.WITHDRAWN:
        return link_page(request, ctx, "expert/status.html", 410, state="withdrawn")
    if round_ is None:
        return link_page(request, ctx, "expert/status.html", state="not_open")
    if ctx.invitation is None:
        state = "dropped" if expert.status == ExpertStatus.DROPPED else "not_invited"
        return link_page(request, ctx, "expert/status.html", state=state)
    if round_.status != RoundStatus.OPEN or ctx.study.archived_at is not None:
        state = "finished" if ctx.study.status == StudyStatus.FINISHED else "closed"
        return link_page(
            request, ctx, "expert/status.html", state=state, submitted=ctx.invitation.submitted_at is not None
        )
    return None


def _saved_versions(answers: dict[int, Answer]) -> dict[int, int]:
    return {item_id: a.version for item_id, a in answers.items()}


def _saved_values(answers: dict[int, Answer]) -> dict[int, dict[str, Any]]:
    return {
        item_id: {"value": a.value, "values": a.values, "text": a.text, "reason": a.reason, "unable": a.unable}
        for item_id, a in answers.items()
    }


def _form_page(
    request: Request,
    session: Session,
    ctx: LinkContext,
    *,
    values: dict[int, dict[str, Any]] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
    unanswered: list[Item] | None = None,
) -> Response:
    round_, invitation = ctx.answering()
    items = answer_service.expert_items(session, round_, ctx.expert.id)
    saved = answer_service.answers_of(session, round_.id, ctx.expert.id)
    values = values if values is not None else _saved_values(saved)
    answered = sum(1 for a in saved.values() if a.is_given)
    last_saved = max((a.updated_at for a in saved.values()), default=None)
    before = feedback_service.round_before(session, ctx.study, round_, ctx.expert)  # read once
    feedback = feedback_service.for_expert(session, ctx.study, round_, ctx.expert, items, before)
    # "unchanged since round N": the answer carried forward from the round before, not revised
    unchanged = {i for i, a in saved.items() if a.is_given and same_answer(a, before.own.get(i))}
    return link_page(
        request,
        ctx,
        "expert/form.html",
        status_code,
        **questionnaire(session, ctx.study, round_, items, before, feedback),
        unchanged=unchanged,
        versions=_saved_versions(saved),
        values=values,
        errors=errors or {},
        error=error,
        answered=answered,
        last_saved=last_saved,
        invitation=invitation,
        unanswered=unanswered or [],
        preview=False,
        expertise_editable=expertise.method(ctx.study) != "none" and not _assessment_frozen(session, ctx),
    )


@router.api_route("/e/{token}", methods=["GET", "HEAD"])
def expert_page(request: Request, session: SessionDep, token: str, links: LinksDep) -> Response:
    ctx = links.resolve(request, session, token)
    if (page := _status_page(request, ctx)) is not None:
        return page
    if ctx.needs_consent:
        return _welcome_page(request, ctx)
    if expertise.needs_assessment(ctx.study, ctx.expert):
        return _expertise_page(request, ctx)
    return _form_page(request, session, ctx)


def _expertise_page(
    request: Request, ctx: LinkContext, status_code: int = 200, refusal: Refusal | None = None, form: Any = None
) -> Response:
    """The self-assessment of expertise the protocol asks before an expert's first round."""
    asked = expertise.method(ctx.study)
    given = ctx.expert.self_assessment if ctx.expert.self_assessment.get("method") == asked else {}
    typed = (
        dict(form)
        if form is not None
        else {
            "knowledge": given.get("knowledge", ""),
            "familiarity": given.get("familiarity", ""),
            **{f"source_{k}": v for k, v in (given.get("levels") or {}).items()},
        }
    )
    return link_page(
        request,
        ctx,
        "expert/expertise.html",
        status_code,
        method=asked,
        sources=expertise.SOURCE_LABELS[asked],
        level_labels=expertise.LEVEL_LABELS,
        familiarity_labels=expertise.FAMILIARITY_LABELS,
        knowledge_points=expertise.KNOWLEDGE_POINTS,
        form=typed,
        errors=refusal.errors if refusal else {},
        error=refusal.error if refusal else None,
    )


@router.get("/e/{token}/expertise")
def expertise_page(request: Request, session: SessionDep, token: str, links: LinksDep) -> Response:
    """The self-assessment again, to correct it while a round is open."""
    ctx = links.resolve(request, session, token)
    if (page := _not_for_expertise(request, ctx)) is not None:
        return page
    if _assessment_frozen(session, ctx):
        return _redirect(ctx)
    return _expertise_page(request, ctx)


def _not_for_expertise(request: Request, ctx: LinkContext) -> Response | None:
    """The page for an expert who has no self-assessment to give now (the round is not theirs,
    they have not agreed yet, the study asks none), or None."""
    if (page := _status_page(request, ctx)) is not None:
        return page
    if ctx.needs_consent:
        return _welcome_page(request, ctx)
    if expertise.method(ctx.study) == "none":
        return _redirect(ctx)
    return None


def _assessment_frozen(session: Session, ctx: LinkContext) -> bool:
    """A self-assessment stays as it was once a round the expert was invited to has closed: the
    analysis, the narrowing and the report read the same answers."""
    if expertise.needs_assessment(ctx.study, ctx.expert):
        return False
    closed = session.exec(
        select(Invitation.id)
        .join(Round, col(Round.id) == col(Invitation.round_id))
        .where(Invitation.expert_id == ctx.expert.id, col(Round.closed_at).is_not(None))
    ).first()
    return closed is not None


@router.post("/e/{token}/expertise")
def save_expertise(request: Request, session: SessionDep, token: str, links: LinksDep, form: Form) -> Response:
    ctx = links.resolve(request, session, token)
    links.check_post(request, ctx, str(form.get("csrf_token", "")))
    if (page := _not_for_expertise(request, ctx)) is not None:
        return page
    if _assessment_frozen(session, ctx):
        raise Conflict(
            Message("Your answers about your expertise were used when a round closed; they stay as they were.")
        )
    try:
        expertise.record(session, ctx.study, ctx.expert, form)  # checks every answer before it writes
    except InvalidInput as exc:
        return _expertise_page(request, ctx, 400, Refusal.of(exc), form)
    return _redirect(ctx)


def _welcome_page(
    request: Request,
    ctx: LinkContext,
    status_code: int = 200,
    error: str | None = None,
    form: Any = None,
    errors: dict[str, str] | None = None,
) -> Response:
    """How the study works, the information sheet, and the consent (again, after a change that
    asks for it), with the declaration of interests where the information asks for it."""
    return link_page(
        request,
        ctx,
        "expert/welcome.html",
        status_code,
        error=error,
        form=dict(form) if form is not None else {},
        errors=errors or {},
        defaults=information.DEFAULTS,
        rights=information.RIGHTS,
        again=ctx.expert.consent_at is not None,
    )


@router.get("/e/{token}/my-data.{extension}")
def my_data(request: Request, session: SessionDep, token: str, links: LinksDep, extension: str) -> Response:
    """What the study holds about this expert, to see and take away: everything as JSON, the answers
    as CSV. Also once they have left the study (the right of access outlives taking part)."""
    ctx = links.resolve(request, session, token)
    if extension not in ("json", "csv"):
        raise NotFound(Message("This page does not exist."))
    data = expert_data.holdings(session, ctx.study, ctx.expert)
    if extension == "json":
        content, media_type = expert_data.as_json(data), "application/json"
    else:
        content, media_type = expert_data.answers_csv(data["answers"]), "text/csv; charset=utf-8"
    name = f"delphi-study-{ctx.study.id}-{ctx.expert.pseudonym}.{extension}"
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/e/{token}/consent")
def consent(request: Request, session: SessionDep, token: str, links: LinksDep, form: Form) -> Response:
    ctx = links.resolve(request, session, token)
    links.check_post(request, ctx, str(form.get("csrf_token", "")))
    if (page := _status_page(request, ctx)) is not None:
        return page
    if not form.get("consent"):
        return _welcome_page(request, ctx, 400, Message("Please tick the box to say you agree to take part."), form)
    from app.db import utcnow

    if ctx.needs_consent:
        read = form.get("sheet_version")  # the version the page showed (a client that sends none agrees to the current)
        shown = str(ctx.sheet.version) if ctx.sheet is not None else "0"
        if read is not None and str(read) != shown:  # it changed while the expert read it
            return _welcome_page(
                request,
                ctx,
                409,
                Message("The information for participants changed while you were reading it. Please read it again."),
            )
        if ctx.sheet is not None and ctx.sheet.asks_interests:
            try:
                interests.declare(ctx.expert, form, ctx.sheet.version)  # checked before anything is kept
            except InvalidInput as exc:
                return _welcome_page(request, ctx, 400, exc.detail, form, exc.fields)
        ctx.expert.consent_at = utcnow()
        ctx.expert.consent_version = (ctx.sheet or information.sheet_for_consent(session, ctx.study)).version
        ctx.expert.consent_language = ctx.language
        session.add(ctx.expert)
    if ctx.invitation is not None and ctx.invitation.opened_at is None:
        ctx.invitation.opened_at = utcnow()
        session.add(ctx.invitation)
    return _redirect(ctx)


def _redirect(ctx: LinkContext, done: str | None = None, anchor: str = "") -> Response:
    url = f"/e/{ctx.token}" + (f"?done={done}" if done else "") + anchor
    return Response(status_code=303, headers={"Location": url})


def parse_form_answers(
    form: Any, items: list[Item]
) -> tuple[dict[int, AnswerIn], dict[int, dict[str, Any]], dict[str, str]]:
    """The answers in a posted page: what to save, what was typed (to show it again), errors."""
    answers: dict[int, AnswerIn] = {}
    typed: dict[int, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for item in items:
        i = item.id
        raw: dict[str, Any] = {"reason": form.get(f"r{i}"), "unable": bool(form.get(f"u{i}"))}
        raw.update(kind_of(item).read_form(item, form))
        typed[i] = raw
        try:
            answers[i] = AnswerIn(**raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            errors[f"item_{i}"] = pydantic_message(first)
    return answers, typed, errors


def _save_from_form(
    request: Request, session: Session, links: Links, ctx: LinkContext, form: Any, source: str
) -> Response | list[Item]:
    """Save the posted page: the round's items once saved, or, on a problem, the page again with
    what was typed and the messages."""
    round_, invitation = ctx.answering()
    items = answer_service.expert_items(session, round_, ctx.expert.id)
    answers, typed, errors = parse_form_answers(form, items)
    if errors:
        return _form_page(
            request,
            session,
            ctx,
            values=typed,
            errors=errors,
            status_code=400,
            error=Message("%(count)s answer(s) need a correction; nothing was saved.", count=len(errors)),
        )
    stored = answer_service.answers_of(session, round_.id, ctx.expert.id)
    stale = _changed_elsewhere(ctx, items, form, answers, stored)
    if stale:
        # Another tab or device saved these answers after this page was shown: keep those, show them.
        newer = _saved_values({i: a for i, a in stored.items() if i in stale})
        return _form_page(
            request,
            session,
            ctx,
            values={**typed, **newer},
            errors={f"item_{i}": CHANGED_ELSEWHERE for i in stale},
            status_code=409,
            error=Message(
                "%(count)s answer(s) were changed in another tab or device since this page was opened; "
                "nothing was saved. The newer answers are shown: check them, then save again.",
                count=len(stale),
            ),
        )

    def again(fresh: Session, refusal: Refusal) -> Response:
        """The page again with what was typed: nothing was saved (the boundary rolled it back)."""
        fresh_ctx = links.resolve(request, fresh, ctx.token)
        if isinstance(refusal.exc, InvalidInput):
            return _form_page(
                request, fresh, fresh_ctx, values=typed, errors=refusal.errors, error=refusal.error, status_code=400
            )
        if isinstance(refusal.exc, DataError):  # a value the database refuses (a NUL character on PostgreSQL)
            error = Message("A text contains a character that cannot be stored; remove it and save again.")
            return _form_page(request, fresh, fresh_ctx, values=typed, status_code=400, error=error)
        log.warning("an expert's save failed in the database", exc_info=refusal.exc)  # a lock that did not free in time
        error = Message(
            "Your answers could not be saved just now; they are still on this page. Save again in a moment."
        )
        return _form_page(request, fresh, fresh_ctx, values=typed, status_code=503, error=error)

    with refused_form(again, refusals=(InvalidInput, SQLAlchemyError)):
        answer_service.save_answers(
            session,
            ctx.study,
            round_,
            ctx.expert,
            answers,
            source=source,
            items=items,
            invitation=invitation,
            language=ctx.language,
        )
    return items


CHANGED_ELSEWHERE = Message("Changed in another tab or device after this page was opened: here is that answer.")


def _changed_elsewhere(
    ctx: LinkContext, items: list[Item], form: Any, answers: dict[int, AnswerIn], stored: dict[int, Answer]
) -> set[int]:
    """Items whose stored answer is newer than the version this page showed (its ``b{id}`` field) and
    differs from what the page sends: saving would overwrite another tab's answer with a stale one."""
    stale = set()
    for item in items:
        base, answer = form.get(f"b{item.id}"), stored.get(item.id)
        version = whole_number(base)
        if answer is None or version is None or answer.version <= version:
            continue
        try:
            sent = answer_service.clean_answer(item, ctx.study, answers[item.id])
        except (ValueError, KeyError):
            continue  # the save refuses it anyway, with its own message
        if not sent.same_as(answer):
            stale.add(item.id)
    return stale


@router.post("/e/{token}/save")
def save(request: Request, session: SessionDep, token: str, links: LinksDep, form: Form) -> Response:
    ctx = links.resolve(request, session, token)
    links.check_post(request, ctx, str(form.get("csrf_token", "")))
    if (page := _closed_page(request, ctx)) is not None:
        return page
    if isinstance(saved := _save_from_form(request, session, links, ctx, form, "save"), Response):
        return saved
    return _redirect(ctx, "saved", "#save-bar")


@router.post("/e/{token}/submit")
def submit(request: Request, session: SessionDep, token: str, links: LinksDep, form: Form) -> Response:
    ctx = links.resolve(request, session, token)
    links.check_post(request, ctx, str(form.get("csrf_token", "")))
    if (page := _closed_page(request, ctx)) is not None:
        return page
    if isinstance(items := _save_from_form(request, session, links, ctx, form, "submit"), Response):
        return items
    round_, _ = ctx.answering()
    missing = answer_service.unanswered(session, round_, ctx.expert, items)
    if missing and not form.get("confirm_incomplete"):
        # saved, not submitted: the expert sees what is missing and decides
        return _form_page(request, session, ctx, unanswered=missing)
    answer_service.submit(session, round_, ctx.expert, ctx.study)
    return _redirect(ctx, "submitted")


def _closed_page(request: Request, ctx: LinkContext) -> Response | None:
    """A late or impossible write gets its own clear page; what was saved before stays."""
    page = _status_page(request, ctx)
    if page is not None and page.status_code == 200:
        page.status_code = 409
    return page


@router.post("/e/{token}/answers")
def autosave(request: Request, session: SessionDep, token: str, links: LinksDep, body: RawBody) -> Response:
    """Autosave from the page's script: JSON ``{"answers": {item_id: {...}}}``."""
    ctx = links.resolve(request, session, token)
    links.check_post(request, ctx, request.headers.get("x-csrf-token"))
    try:
        raw = json.loads(body)["answers"]
        answers = {int(k): AnswerIn(**v) for k, v in raw.items()}
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError, RecursionError):
        raise MalformedRequest(Message("Malformed answers.")) from None
    # a refusal is a domain error: the boundary rolls back, and the one error mapping answers in JSON
    round_, invitation = ctx.answering()
    result = answer_service.save_answers(
        session, ctx.study, round_, ctx.expert, answers, source="autosave", invitation=invitation, language=ctx.language
    )
    return JSONResponse(
        {
            "saved_at": result.saved_at.isoformat(),
            "changed": result.changed,
            "answered": result.answered,
            "total": result.total,
            "versions": {str(k): v for k, v in result.versions.items()},
        }
    )


@router.post("/e/{token}/withdraw")
def withdraw(request: Request, session: SessionDep, token: str, links: LinksDep, form: Form) -> Response:
    ctx = links.resolve(request, session, token)
    links.check_post(request, ctx, str(form.get("csrf_token", "")))
    if not form.get("confirm"):
        raise Conflict(Message("Tick the box to confirm that you leave the study."))
    panel.withdraw(session, ctx.study, ctx.expert, "withdrew through their link", None)
    return link_page(request, ctx, "expert/status.html", state="withdrawn")
