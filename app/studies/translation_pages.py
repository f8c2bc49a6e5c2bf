"""The translations page: every text of the study beside its translation into the other language,
saved at once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from app.dependencies import Form, SessionDep
from app.studies import design, forms, information, translations
from app.studies.context import study_page
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForViewer
from app.studies.models import InformationSheet, Study
from app.web import Refusal, redirect, refused_form, render

router = APIRouter()


def _texts(session: Session, study: Study) -> tuple[list[Any], list[Any], InformationSheet | None]:
    themes = design.themes_of(session, study.id)
    items = design.items_of(session, study.id, active_only=True)
    return themes, items, information.current_sheet(session, study.id)


def _page(
    request: Request,
    session: Session,
    access: StudyAccess,
    *,
    typed: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    study = access.study
    themes, items, sheet = _texts(session, study)
    rows = translations.rows(study, themes, items, sheet)
    return render(
        request,
        "researcher/translations.html",
        study_page(
            access,
            "design",
            rows=rows,
            typed=typed or {},
            errors=errors or {},
            error=error,
            other_language=translations.other_language(study),
            themes={f"theme.{t.id}": t for t in themes},
            items={f"item.{i.id}": i for i in items},
            missing=sum(row.missing for row in rows),
        ),
        status_code=status_code,
    )


@router.get("/studies/{study_id}/translations", include_in_schema=False)
def translations_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    return _page(request, session, access)


def _given(form: Any, rows: list[translations.TranslationRow]) -> dict[str, Any]:
    """The posted translations, typed as the texts they translate (options by line, anchors by point)."""
    given: dict[str, Any] = {}
    for row in rows:
        if row.key == "study.anchors":
            points = {point: str(form.get(f"t:{row.key}:{point}") or "").strip() for point in row.original}
            given[row.key] = points if any(points.values()) else {}
        elif f"t:{row.key}" in form:
            raw = str(form.get(f"t:{row.key}") or "")
            given[row.key] = forms.lines(raw) if row.is_list else raw.strip()
    return given


@router.post("/studies/{study_id}/translations", include_in_schema=False)
def save_translations_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    study = access.study
    themes, items, sheet = _texts(session, study)
    given = _given(form, translations.rows(study, themes, items, sheet))
    typed = {k: str(v) for k, v in form.items() if k.startswith("t:")}

    def again(fresh: Session, refusal: Refusal) -> Response:
        return _page(
            request,
            fresh,
            access.in_session(fresh),
            typed=typed,
            errors=refusal.errors,
            error=refusal.error,
            status_code=refusal.status_code,
        )

    with refused_form(again):
        translations.save(session, study, themes, items, given, access.researcher, sheet)
    return redirect(f"/studies/{study.id}/translations", "saved")
