"""A round's results and the narrowing of the panel they support."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlmodel import Session

from app.dependencies import Form, SessionDep
from app.errors import AppError, Conflict, Message, NotFound
from app.mail.dependencies import MailerDep
from app.rounds import coding, narrowing, service
from app.rounds.charts import chart_file, distribution_svg
from app.rounds.context import rounds_tab
from app.rounds.kinds import KINDS
from app.rounds.pages import round_detail_page
from app.rounds.snapshot import ItemResult, RatingResult, RoundSnapshot
from app.studies import design
from app.studies import service as studies
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForViewer
from app.studies.models import Theme
from app.web import Refusal, form_text, redirect, refused_form, render, request_language

router = APIRouter()


@router.get("/studies/{study_id}/rounds/{number}/results", include_in_schema=False)
def results_page(request: Request, session: SessionDep, access: StudyForViewer, number: int) -> Response:
    study = access.study
    round_ = service.get_round(session, study, number)
    try:
        result = service.analysed_result(session, round_)
    except Conflict as exc:  # the round's own page says so, with what can be done next
        return round_detail_page(request, session, access, round_, error=exc.detail, status_code=exc.status_code)
    data = RoundSnapshot.load(result.data)
    points = list(range(study.scale_min, study.scale_max + 1))
    drawn = {entry.item_id: _distribution(points, entry) for entry in data.of_kind("rating")}
    counts = {item_id: item_counts for item_id, (item_counts, _) in drawn.items()}
    charts = {item_id: chart for item_id, (_, chart) in drawn.items()}
    themes = {t.id: t for t in design.themes_of(session, study.id)}
    stability = {s.item_id: s for s in data.stability}
    # items in the order the experts read them: theme by theme, in each theme the round's order
    sections: list[tuple[Theme | None, list[ItemResult]]] = [
        (theme, [e for e in data.items if e.theme_id == theme.id]) for theme in themes.values()
    ]
    sections.append((None, [e for e in data.items if e.theme_id not in themes]))
    return render(
        request,
        "researcher/results.html",
        rounds_tab(
            session,
            access,
            round=round_,
            data=data,
            charts=charts,
            points=points,
            counts=counts,
            themes=themes,
            sections=[(theme, entries) for theme, entries in sections if entries],
            stability=stability,
            by_group=bool(study.feedback.get("by_group")),
            coded=coding.statements_by_item(session, round_),
            kinds=KINDS,
            group_label=lambda key: studies.group_label(study, key),
        ),
    )


def _distribution(points: list[int], entry: RatingResult) -> tuple[list[float], Markup]:
    """A rating item's count at each scale point (the figures the consensus rule read), and their chart."""
    counts = [entry.shown_stats.count(p) for p in points]
    return counts, distribution_svg(points, counts, median=entry.shown_stats.median)


@router.get("/studies/{study_id}/rounds/{number}/charts/{item_id}.svg", include_in_schema=False)
def chart_download(session: SessionDep, access: StudyForViewer, number: int, item_id: int) -> Response:
    """A rating item's distribution chart as an SVG file (for slides; the page makes a PNG of it)."""
    study = access.study
    round_ = service.get_round(session, study, number)
    entry = RoundSnapshot.load(service.analysed_result(session, round_).data).item(item_id)
    if entry is None or entry.kind != "rating":
        raise NotFound(Message("This chart does not exist."))
    _, chart = _distribution(list(range(study.scale_min, study.scale_max + 1)), entry)
    return Response(
        chart_file(chart, entry.text),
        media_type="image/svg+xml",
        headers={"Content-Disposition": f'attachment; filename="round-{number}-item-{item_id}.svg"'},
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
        rounds_tab(
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
    request: Request, session: SessionDep, mailer: MailerDep, access: StudyForEditor, number: int, form: Form
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
    posted = {key: form_text(form, key) for key in form if key.startswith(("fate_", "reason_", "thank_"))}

    def again(fresh: Session, refusal: Refusal) -> Response:
        return _narrowing_page(
            request,
            fresh,
            access.in_session(fresh),
            number,
            error=refusal.error,
            status_code=refusal.status_code,
            posted=posted,
            missing=refusal.errors,
        )

    with refused_form(again):
        narrowing.confirm(
            session,
            study,
            round_,
            overrides,
            access.researcher,
            thank_dropped=mailer if form.get("thank_dropped") else None,
        )
    return redirect(f"/studies/{study.id}/rounds/{number}/narrowing", "narrowed")
