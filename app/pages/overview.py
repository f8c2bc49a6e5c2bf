"""The study's overview: its progress and timeline (rounds), its panel and design in figures."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.dependencies import SessionDep
from app.panel import service as panel
from app.panel.models import ExpertStatus
from app.rounds import dashboard
from app.rounds import service as rounds
from app.studies import design
from app.studies.context import study_page
from app.studies.dependencies import StudyForViewer
from app.web import render

router = APIRouter()


@router.get("/studies/{study_id}", include_in_schema=False)
def overview_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    study = access.study
    experts = panel.experts_of(session, study.id)
    items = design.items_of(session, study.id)
    return render(
        request,
        "researcher/overview.html",
        study_page(
            access,
            "overview",
            rounds=rounds.rounds_of(session, study.id),
            progress=dashboard.study_progress(session, study),
            timeline=dashboard.timeline(session, study),
            n_experts=len(experts),
            n_active=sum(e.status == ExpertStatus.ACTIVE for e in experts),
            n_items=len(items),
            n_themes=len(design.themes_of(session, study.id)),
        ),
    )
