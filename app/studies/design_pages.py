"""The design pages: themes and items, each change with its own route; refused forms come back with what was typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from app.accounts import service as accounts
from app.dependencies import Form, SessionDep
from app.errors import Message
from app.studies import design, forms, information, translations
from app.studies.context import study_page, theme_options
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForViewer
from app.studies.models import Item, ItemStatus
from app.studies.schemas import (
    ItemUpdate,
    MergeItems,
    SplitItem,
    ThemeCreate,
)
from app.web import Refusal, form_ids, form_text, redirect, refused_form, render, whole_number

router = APIRouter()
Direction = Literal["up", "down"]


def _design_page(
    request: Request,
    session: SessionDep,
    access: StudyAccess,
    *,
    item_form: dict[str, Any] | None = None,
    item_errors: dict[str, str] | None = None,
    theme_form: dict[str, Any] | None = None,
    theme_errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    study = access.study
    groups = design.themes_with_items(session, study)
    themes = [theme for theme, _ in groups if theme is not None]
    active = [item for _, items in groups for item in items if item.status == ItemStatus.ACTIVE]
    rows = translations.rows(study, themes, active, information.current_sheet(session, study.id))
    return render(
        request,
        "researcher/design.html",
        study_page(
            access,
            "design",
            groups=groups,
            translation_missing=sum(row.missing for row in rows),
            untranslated={int(r.key.split(".")[1]) for r in rows if r.missing and r.key.startswith("item.")},
            other_language=translations.other_language(study),
            theme_options=theme_options(design.themes_of(session, study.id)),
            # the theme of the item added last stays chosen: items are written theme by theme
            item_form=item_form or forms.item_form_values() | {"theme_id": request.query_params.get("theme", "")},
            item_errors=item_errors or {},
            theme_form=theme_form or {"title": "", "description": ""},
            theme_errors=theme_errors or {},
            error=error,
            locked=study.locked_at is not None,
        ),
        status_code=status_code,
    )


@router.get("/studies/{study_id}/design", include_in_schema=False)
def design_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    return _design_page(request, session, access)


@router.post("/studies/{study_id}/themes", include_in_schema=False)
def add_theme_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    values = {"title": form_text(form, "title", ""), "description": form_text(form, "description", "")}
    if not accounts.first_submission(session, form_text(form, "form_key", "")):
        return redirect(f"/studies/{access.study.id}/design#themes", "created")  # a second click: added once

    def again(fresh: Session, refusal: Refusal) -> Response:
        return _design_page(
            request,
            fresh,
            access.in_session(fresh),
            theme_form=values,
            theme_errors=refusal.errors,
            error=refusal.error,
            status_code=400,
        )

    with refused_form(again):
        design.add_theme(session, access.study, ThemeCreate(**values), access.researcher)
    return redirect(f"/studies/{access.study.id}/design#themes", "created")


def _design_again(request: Request, access: StudyAccess) -> Callable[[Session, Refusal], Response]:
    def again(fresh: Session, refusal: Refusal) -> Response:
        return _design_page(
            request, fresh, access.in_session(fresh), error=refusal.error, status_code=refusal.status_code
        )

    return again


@router.post("/studies/{study_id}/themes/{theme_id}", include_in_schema=False)
def edit_theme_page(
    request: Request, session: SessionDep, access: StudyForEditor, theme_id: int, form: Form
) -> Response:
    theme = design.get_theme(session, access.study, theme_id)
    values = {"title": form_text(form, "title", ""), "description": form_text(form, "description", "")}
    with refused_form(_design_again(request, access)):
        design.update_theme(session, access.study, theme, ThemeCreate(**values), access.researcher)
    return redirect(f"/studies/{access.study.id}/design#theme-{theme.id}", "saved")


@router.post("/studies/{study_id}/themes/{theme_id}/delete", include_in_schema=False)
def delete_theme_page(request: Request, session: SessionDep, access: StudyForEditor, theme_id: int) -> Response:
    theme = design.get_theme(session, access.study, theme_id)
    with refused_form(_design_again(request, access)):
        design.delete_theme(session, access.study, theme, access.researcher)
    return redirect(f"/studies/{access.study.id}/design", "deleted")


@router.post("/studies/{study_id}/themes/{theme_id}/{direction}", include_in_schema=False)
def move_theme_page(session: SessionDep, access: StudyForEditor, theme_id: int, direction: Direction) -> Response:
    theme = design.get_theme(session, access.study, theme_id)
    design.move(session, design.themes_of(session, access.study.id), theme, -1 if direction == "up" else 1)
    return redirect(f"/studies/{access.study.id}/design#theme-{theme.id}")


@router.post("/studies/{study_id}/items", include_in_schema=False)
def add_item_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    values = forms.posted(form, forms.item_form_values())
    data, errors = forms.item_from_form(values)
    if data is not None and not accounts.first_submission(session, form_text(form, "form_key", "")):
        return redirect(f"/studies/{access.study.id}/design", "created")  # a second click: added once
    if data is None:
        return _design_page(
            request,
            session,
            access,
            item_form=values,
            item_errors=errors,
            error=Message("The item was not added: see the fields marked below."),
            status_code=400,
        )

    def again(fresh: Session, refusal: Refusal) -> Response:
        return _design_page(
            request,
            fresh,
            access.in_session(fresh),
            item_form=values,
            item_errors=refusal.errors,
            error=refusal.error,
            status_code=refusal.status_code,
        )

    with refused_form(again):
        item = design.add_item(session, access.study, data, access.researcher)
    theme = f"?theme={item.theme_id}" if item.theme_id else ""
    return redirect(f"/studies/{access.study.id}/design{theme}#item-{item.id}", "created")


@router.post("/studies/{study_id}/items/merge", include_in_schema=False)
def merge_items_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    def again(fresh: Session, refusal: Refusal) -> Response:
        error = Message(
            "To merge, tick two or more items, write the merged item and say why. %(error)s", error=refusal.error
        )
        return _design_page(request, fresh, access.in_session(fresh), error=error, status_code=400)

    with refused_form(again):
        data = MergeItems(
            item_ids=form_ids(form, "item_ids"),
            text=form_text(form, "merge_text", ""),
            reason=form_text(form, "merge_reason", ""),
        )
        item = design.merge_items(
            session,
            access.study,
            data.item_ids,
            data.text,
            data.reason,
            access.researcher,
            access.study.preparing_round,
        )
    return redirect(f"/studies/{access.study.id}/design#item-{item.id}", "saved")


@router.get("/studies/{study_id}/items/{item_id}", include_in_schema=False)
def item_page(request: Request, session: SessionDep, access: StudyForViewer, item_id: int) -> Response:
    item = design.get_item(session, access.study, item_id)
    return _item_page(request, session, access, item, forms.item_form_values(item), {}, None)


def _item_page(
    request: Request,
    session: SessionDep,
    access: StudyAccess,
    item: Any,
    values: dict[str, Any],
    errors: dict[str, str],
    error: str | None,
    status_code: int = 200,
) -> Response:
    history = [r for r in design.revisions_of(session, access.study.id) if r.item_id == item.id]
    return render(
        request,
        "researcher/item.html",
        study_page(
            access,
            "design",
            item=item,
            form=values,
            errors=errors,
            error=error,
            history=history,
            theme_options=theme_options(design.themes_of(session, access.study.id)),
            locked=access.study.locked_at is not None,
        ),
        status_code=status_code,
    )


def _item_again(
    request: Request, access: StudyAccess, item_id: int, values: dict[str, Any]
) -> Callable[[Session, Refusal], Response]:
    """The item's page again, with what was typed and what is wrong."""

    def again(fresh: Session, refusal: Refusal) -> Response:
        again_access = access.in_session(fresh)
        item = design.get_item(fresh, again_access.study, item_id)
        return _item_page(
            request, fresh, again_access, item, values, refusal.errors, refusal.error, refusal.status_code
        )

    return again


def _item_values(form: Any, item: Item) -> dict[str, Any]:
    return forms.posted(form, forms.item_form_values(item) | {"reason": "", "split_texts": "", "split_reason": ""})


@router.post("/studies/{study_id}/items/{item_id}", include_in_schema=False)
def edit_item_page(request: Request, session: SessionDep, access: StudyForEditor, item_id: int, form: Form) -> Response:
    study = access.study
    item = design.get_item(session, study, item_id)
    with refused_form(_item_again(request, access, item_id, _item_values(form, item))):
        theme = form_text(form, "theme_id", "").strip()
        changes: dict[str, Any] = {
            "text": form.get("text", item.text),
            "reason": form.get("reason", ""),
            "theme_id": whole_number(theme),
            "evidence": form_text(form, "evidence", item.evidence).strip(),
        }
        if study.locked_at is None:
            changes.update(
                options=forms.lines(form_text(form, "options", "")), allow_unable=bool(form.get("allow_unable"))
            )
        design.update_item(session, study, item, ItemUpdate(**changes), access.researcher, study.preparing_round)
    return redirect(f"/studies/{study.id}/design#item-{item.id}", "saved")


@router.post("/studies/{study_id}/items/{item_id}/delete", include_in_schema=False)
def delete_item_page(
    request: Request, session: SessionDep, access: StudyForEditor, item_id: int, form: Form
) -> Response:
    item = design.get_item(session, access.study, item_id)
    with refused_form(_item_again(request, access, item_id, _item_values(form, item))):
        design.delete_item(session, access.study, item, access.researcher)
    return redirect(f"/studies/{access.study.id}/design", "deleted")


@router.post("/studies/{study_id}/items/{item_id}/retire", include_in_schema=False)
def retire_item_page(
    request: Request, session: SessionDep, access: StudyForEditor, item_id: int, form: Form
) -> Response:
    item = design.get_item(session, access.study, item_id)
    reason = form_text(form, "reason", "").strip() or "retired"
    with refused_form(_item_again(request, access, item_id, _item_values(form, item))):
        design.retire_item(session, access.study, item, access.researcher, reason, access.study.preparing_round)
    return redirect(f"/studies/{access.study.id}/items/{item.id}", "saved")


@router.post("/studies/{study_id}/items/{item_id}/split", include_in_schema=False)
def split_item_page(
    request: Request, session: SessionDep, access: StudyForEditor, item_id: int, form: Form
) -> Response:
    study = access.study
    item = design.get_item(session, study, item_id)
    with refused_form(_item_again(request, access, item_id, _item_values(form, item))):
        data = SplitItem(
            texts=forms.lines(form_text(form, "split_texts", "")), reason=form_text(form, "split_reason", "")
        )
        parts = design.split_item(
            session, study, item, data.texts, data.reason, access.researcher, study.preparing_round
        )
    return redirect(f"/studies/{study.id}/design#item-{parts[0].id}", "saved")


@router.post("/studies/{study_id}/items/{item_id}/{direction}", include_in_schema=False)
def move_item_page(session: SessionDep, access: StudyForEditor, item_id: int, direction: Direction) -> Response:
    item = design.get_item(session, access.study, item_id)
    design.move(session, design.items_of(session, access.study.id), item, -1 if direction == "up" else 1)
    return redirect(f"/studies/{access.study.id}/design#item-{item.id}")
