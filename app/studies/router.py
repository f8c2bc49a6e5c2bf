"""Studies, protocol, themes and items: server-rendered pages and the JSON API, same services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.dependencies import CurrentResearcher, OptionalAuth
from app.accounts.models import Researcher, StudyMember
from app.dependencies import Form, SessionDep
from app.errors import Message
from app.studies import forms, service
from app.studies.context import study_page
from app.studies.dependencies import StudyAccess, StudyForEditor, StudyForOwner, StudyForViewer
from app.studies.models import Item, Study
from app.studies.schemas import (
    ItemCreate,
    ItemPublic,
    ItemUpdate,
    MemberAdd,
    MergeItems,
    SplitItem,
    StudyCreate,
    StudyPublic,
    StudyUpdate,
    ThemeCreate,
    ThemePublic,
)
from app.web import form_errors, form_ids, form_text, redirect, refusal_status, refused_form, render

router = APIRouter()
Direction = Literal["up", "down"]


# --- pages: studies -------------------------------------------------------------------------------


@router.get("/", include_in_schema=False)
def home(auth: OptionalAuth) -> RedirectResponse:
    return RedirectResponse("/studies" if auth else "/login", status_code=303)


def studies_list_page(
    request: Request,
    session: Session,
    researcher_id: int,
    context: dict[str, Any] | None = None,
    *,
    archived: bool = False,
    status_code: int = 200,
) -> Response:
    """The researcher's studies, with the forms to create one or import a protocol file."""
    researcher = session.get(Researcher, researcher_id)
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
    return studies_list_page(request, session, researcher.id, archived=archived)


@router.post("/studies", include_in_schema=False)
def create_study_page(request: Request, session: SessionDep, researcher: CurrentResearcher, form: Form) -> Response:
    values = {k: form_text(form, k) for k in ("title", "question", "language", "description")}
    researcher_id = researcher.id

    def again(fresh: Session, exc: Exception) -> Response:
        error, errors = form_errors(exc)
        context = {"form": values, "errors": errors, "error": error, "import_error": None}
        return studies_list_page(request, fresh, researcher_id, context, status_code=400)

    with refused_form(again):
        study = service.create_study(session, researcher, StudyCreate(**values))
    return redirect(f"/studies/{study.id}/design", "created")


def _settings_values(study: Study) -> dict[str, Any]:
    values = {k: getattr(study, k) for k in ("title", "question", "description", "language", "expert_definition")}
    return values | {f"report_{k}": study.report_notes.get(k, "") for k in ("rationale", "funding", "conflicts")}


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
) -> Response:
    members = session.exec(
        select(StudyMember, Researcher).join(Researcher).where(StudyMember.study_id == access.study.id)
    ).all()
    refused = bool(errors or error or member_errors)
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
            member_form=member_form or {"email": "", "role": "editor"},
            member_errors=member_errors or {},
        ),
        status_code=400 if refused else 200,
    )


@router.get("/studies/{study_id}/settings", include_in_schema=False)
def settings_page(request: Request, session: SessionDep, access: StudyForViewer) -> Response:
    return _settings_page(request, session, access, _settings_values(access.study))


@router.post("/studies/{study_id}/settings", include_in_schema=False)
def save_settings_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    values = {k: form_text(form, k) for k in ("title", "question", "description", "language", "expert_definition")}
    notes = {k: form_text(form, f"report_{k}", "").strip() for k in ("rationale", "funding", "conflicts")}

    def again(fresh: Session, exc: Exception) -> Response:
        error, errors = form_errors(exc)
        typed = values | {f"report_{k}": v for k, v in notes.items()}
        return _settings_page(request, fresh, access.in_session(fresh), typed, errors=errors, error=error)

    with refused_form(again):
        service.update_study(session, access.study, StudyUpdate(**values, report_notes=notes), access.researcher)
    return redirect(f"/studies/{access.study.id}/settings", "saved")


@router.post("/studies/{study_id}/members", include_in_schema=False)
def add_member_page(request: Request, session: SessionDep, access: StudyForOwner, form: Form) -> Response:
    values = {"email": form_text(form, "email", ""), "role": form_text(form, "role", "editor")}

    def again(fresh: Session, exc: Exception) -> Response:
        error, errors = form_errors(exc)
        again_access = access.in_session(fresh)
        return _settings_page(
            request,
            fresh,
            again_access,
            _settings_values(again_access.study),
            member_form=values,
            member_errors={"email": error, **errors},
        )

    with refused_form(again):
        data = MemberAdd(**values)
        accounts.add_member(session, access.study.id, data.email, data.role)
    return redirect(f"/studies/{access.study.id}/settings", "saved")


@router.post("/studies/{study_id}/members/{researcher_id}/remove", include_in_schema=False)
def remove_member_page(session: SessionDep, access: StudyForOwner, researcher_id: int) -> Response:
    accounts.remove_member(session, access.study.id, researcher_id)
    return redirect(f"/studies/{access.study.id}/settings", "saved")


@router.post("/studies/{study_id}/archive", include_in_schema=False)
def archive_page(session: SessionDep, access: StudyForOwner, form: Form) -> Response:
    restore = form.get("restore") == "1"
    service.archive_study(session, access.study, access.researcher, archived=not restore)
    return redirect(f"/studies/{access.study.id}", "restored" if restore else "archived")


# --- pages: design (themes and items) -------------------------------------------------------------


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
    return render(
        request,
        "researcher/design.html",
        study_page(
            access,
            "design",
            groups=service.themes_with_items(session, study),
            themes=service.themes_of(session, study.id),
            item_form=item_form or forms.item_form_values(),
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

    def again(fresh: Session, exc: Exception) -> Response:
        error, errors = form_errors(exc)
        return _design_page(
            request,
            fresh,
            access.in_session(fresh),
            theme_form=values,
            theme_errors=errors,
            error=error,
            status_code=400,
        )

    with refused_form(again):
        service.add_theme(session, access.study, ThemeCreate(**values), access.researcher)
    return redirect(f"/studies/{access.study.id}/design#themes", "created")


def _design_again(request: Request, access: StudyAccess) -> Callable[[Session, Exception], Response]:
    def again(fresh: Session, exc: Exception) -> Response:
        error = form_errors(exc)[0]
        return _design_page(request, fresh, access.in_session(fresh), error=error, status_code=refusal_status(exc))

    return again


@router.post("/studies/{study_id}/themes/{theme_id}", include_in_schema=False)
def edit_theme_page(
    request: Request, session: SessionDep, access: StudyForEditor, theme_id: int, form: Form
) -> Response:
    theme = service.get_theme(session, access.study, theme_id)
    values = {"title": form_text(form, "title", ""), "description": form_text(form, "description", "")}
    with refused_form(_design_again(request, access)):
        service.update_theme(session, access.study, theme, ThemeCreate(**values), access.researcher)
    return redirect(f"/studies/{access.study.id}/design#theme-{theme.id}", "saved")


@router.post("/studies/{study_id}/themes/{theme_id}/delete", include_in_schema=False)
def delete_theme_page(request: Request, session: SessionDep, access: StudyForEditor, theme_id: int) -> Response:
    theme = service.get_theme(session, access.study, theme_id)
    with refused_form(_design_again(request, access)):
        service.delete_theme(session, access.study, theme, access.researcher)
    return redirect(f"/studies/{access.study.id}/design", "deleted")


@router.post("/studies/{study_id}/themes/{theme_id}/{direction}", include_in_schema=False)
def move_theme_page(session: SessionDep, access: StudyForEditor, theme_id: int, direction: Direction) -> Response:
    theme = service.get_theme(session, access.study, theme_id)
    service.move(session, service.themes_of(session, access.study.id), theme, -1 if direction == "up" else 1)
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

    def again(fresh: Session, exc: Exception) -> Response:
        error, field_errors = form_errors(exc)
        return _design_page(
            request,
            fresh,
            access.in_session(fresh),
            item_form=values,
            item_errors=field_errors,
            error=error,
            status_code=refusal_status(exc),
        )

    with refused_form(again):
        item = service.add_item(session, access.study, data, access.researcher)
    return redirect(f"/studies/{access.study.id}/design#item-{item.id}", "created")


@router.post("/studies/{study_id}/items/merge", include_in_schema=False)
def merge_items_page(request: Request, session: SessionDep, access: StudyForEditor, form: Form) -> Response:
    def again(fresh: Session, exc: Exception) -> Response:
        error = Message(
            "To merge, tick two or more items, write the merged item and say why. %(error)s", error=form_errors(exc)[0]
        )
        return _design_page(request, fresh, access.in_session(fresh), error=error, status_code=400)

    with refused_form(again):
        data = MergeItems(
            item_ids=form_ids(form, "item_ids"),
            text=form_text(form, "merge_text", ""),
            reason=form_text(form, "merge_reason", ""),
        )
        item = service.merge_items(
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
    item = service.get_item(session, access.study, item_id)
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
    history = [r for r in service.revisions_of(session, access.study.id) if r.item_id == item.id]
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
            themes=service.themes_of(session, access.study.id),
            locked=access.study.locked_at is not None,
        ),
        status_code=status_code,
    )


def _item_again(
    request: Request, access: StudyAccess, item_id: int, values: dict[str, Any]
) -> Callable[[Session, Exception], Response]:
    """The item's page again, with what was typed and what is wrong."""

    def again(fresh: Session, exc: Exception) -> Response:
        error, errors = form_errors(exc)
        again_access = access.in_session(fresh)
        item = service.get_item(fresh, again_access.study, item_id)
        return _item_page(request, fresh, again_access, item, values, errors, error, refusal_status(exc))

    return again


def _item_values(form: Any, item: Item) -> dict[str, Any]:
    return forms.posted(form, forms.item_form_values(item) | {"reason": "", "split_texts": ""})


@router.post("/studies/{study_id}/items/{item_id}", include_in_schema=False)
def edit_item_page(request: Request, session: SessionDep, access: StudyForEditor, item_id: int, form: Form) -> Response:
    study = access.study
    item = service.get_item(session, study, item_id)
    with refused_form(_item_again(request, access, item_id, _item_values(form, item))):
        theme = form_text(form, "theme_id", "").strip()
        changes: dict[str, Any] = {
            "text": form.get("text", item.text),
            "reason": form.get("reason", ""),
            "theme_id": int(theme) if theme.isdigit() else None,
        }
        if study.locked_at is None:
            changes.update(
                options=forms.lines(form_text(form, "options", "")), allow_unable=bool(form.get("allow_unable"))
            )
        service.update_item(session, study, item, ItemUpdate(**changes), access.researcher, study.preparing_round)
    return redirect(f"/studies/{study.id}/design#item-{item.id}", "saved")


@router.post("/studies/{study_id}/items/{item_id}/delete", include_in_schema=False)
def delete_item_page(
    request: Request, session: SessionDep, access: StudyForEditor, item_id: int, form: Form
) -> Response:
    item = service.get_item(session, access.study, item_id)
    with refused_form(_item_again(request, access, item_id, _item_values(form, item))):
        service.delete_item(session, access.study, item, access.researcher)
    return redirect(f"/studies/{access.study.id}/design", "deleted")


@router.post("/studies/{study_id}/items/{item_id}/retire", include_in_schema=False)
def retire_item_page(
    request: Request, session: SessionDep, access: StudyForEditor, item_id: int, form: Form
) -> Response:
    item = service.get_item(session, access.study, item_id)
    reason = form_text(form, "reason", "").strip() or "retired"
    with refused_form(_item_again(request, access, item_id, _item_values(form, item))):
        service.retire_item(session, access.study, item, access.researcher, reason, access.study.preparing_round)
    return redirect(f"/studies/{access.study.id}/items/{item.id}", "saved")


@router.post("/studies/{study_id}/items/{item_id}/split", include_in_schema=False)
def split_item_page(
    request: Request, session: SessionDep, access: StudyForEditor, item_id: int, form: Form
) -> Response:
    study = access.study
    item = service.get_item(session, study, item_id)
    with refused_form(_item_again(request, access, item_id, _item_values(form, item))):
        data = SplitItem(texts=forms.lines(form_text(form, "split_texts", "")), reason=form_text(form, "reason", ""))
        parts = service.split_item(
            session, study, item, data.texts, data.reason, access.researcher, study.preparing_round
        )
    return redirect(f"/studies/{study.id}/design#item-{parts[0].id}", "saved")


@router.post("/studies/{study_id}/items/{item_id}/{direction}", include_in_schema=False)
def move_item_page(session: SessionDep, access: StudyForEditor, item_id: int, direction: Direction) -> Response:
    item = service.get_item(session, access.study, item_id)
    service.move(session, service.items_of(session, access.study.id), item, -1 if direction == "up" else 1)
    return redirect(f"/studies/{access.study.id}/design#item-{item.id}")


# --- JSON API -------------------------------------------------------------------------------------


@router.get("/api/studies", response_model=list[StudyPublic], tags=["studies"])
def api_list(session: SessionDep, researcher: CurrentResearcher, archived: bool = False) -> list[StudyPublic]:
    return [StudyPublic.model_validate(s) for s, _ in service.studies_for(session, researcher, archived=archived)]


@router.post("/api/studies", response_model=StudyPublic, status_code=201, tags=["studies"])
def api_create(body: StudyCreate, session: SessionDep, researcher: CurrentResearcher) -> StudyPublic:
    return StudyPublic.model_validate(service.create_study(session, researcher, body))


@router.get("/api/studies/{study_id}", response_model=StudyPublic, tags=["studies"])
def api_get(access: StudyForViewer) -> StudyPublic:
    return StudyPublic.model_validate(access.study)


@router.patch("/api/studies/{study_id}", response_model=StudyPublic, tags=["studies"])
def api_update(body: StudyUpdate, session: SessionDep, access: StudyForEditor) -> StudyPublic:
    return StudyPublic.model_validate(service.update_study(session, access.study, body, access.researcher))


@router.post("/api/studies/{study_id}/lock", response_model=StudyPublic, tags=["studies"])
def api_lock(session: SessionDep, access: StudyForOwner) -> StudyPublic:
    return StudyPublic.model_validate(service.lock_protocol(session, access.study, access.researcher))


@router.post("/api/studies/{study_id}/archive", response_model=StudyPublic, tags=["studies"])
def api_archive(session: SessionDep, access: StudyForOwner, restore: bool = False) -> StudyPublic:
    return StudyPublic.model_validate(service.archive_study(session, access.study, access.researcher, not restore))


@router.get("/api/studies/{study_id}/themes", response_model=list[ThemePublic], tags=["design"])
def api_themes(session: SessionDep, access: StudyForViewer) -> list[ThemePublic]:
    return [ThemePublic.model_validate(t) for t in service.themes_of(session, access.study.id)]


@router.post("/api/studies/{study_id}/themes", response_model=ThemePublic, status_code=201, tags=["design"])
def api_add_theme(body: ThemeCreate, session: SessionDep, access: StudyForEditor) -> ThemePublic:
    return ThemePublic.model_validate(service.add_theme(session, access.study, body, access.researcher))


@router.put("/api/studies/{study_id}/themes/{theme_id}", response_model=ThemePublic, tags=["design"])
def api_edit_theme(theme_id: int, body: ThemeCreate, session: SessionDep, access: StudyForEditor) -> ThemePublic:
    theme = service.get_theme(session, access.study, theme_id)
    return ThemePublic.model_validate(service.update_theme(session, access.study, theme, body, access.researcher))


@router.delete("/api/studies/{study_id}/themes/{theme_id}", status_code=204, tags=["design"])
def api_delete_theme(theme_id: int, session: SessionDep, access: StudyForEditor) -> Response:
    service.delete_theme(session, access.study, service.get_theme(session, access.study, theme_id), access.researcher)
    return Response(status_code=204)


@router.get("/api/studies/{study_id}/items", response_model=list[ItemPublic], tags=["design"])
def api_items(session: SessionDep, access: StudyForViewer) -> list[ItemPublic]:
    return [ItemPublic.model_validate(i) for i in service.items_of(session, access.study.id)]


@router.post("/api/studies/{study_id}/items", response_model=ItemPublic, status_code=201, tags=["design"])
def api_add_item(body: ItemCreate, session: SessionDep, access: StudyForEditor) -> ItemPublic:
    return ItemPublic.model_validate(service.add_item(session, access.study, body, access.researcher))


@router.patch("/api/studies/{study_id}/items/{item_id}", response_model=ItemPublic, tags=["design"])
def api_edit_item(item_id: int, body: ItemUpdate, session: SessionDep, access: StudyForEditor) -> ItemPublic:
    item = service.get_item(session, access.study, item_id)
    return ItemPublic.model_validate(
        service.update_item(session, access.study, item, body, access.researcher, access.study.preparing_round)
    )


@router.delete("/api/studies/{study_id}/items/{item_id}", status_code=204, tags=["design"])
def api_delete_item(item_id: int, session: SessionDep, access: StudyForEditor) -> Response:
    service.delete_item(session, access.study, service.get_item(session, access.study, item_id), access.researcher)
    return Response(status_code=204)


@router.post("/api/studies/{study_id}/items/merge", response_model=ItemPublic, status_code=201, tags=["design"])
def api_merge(body: MergeItems, session: SessionDep, access: StudyForEditor) -> ItemPublic:
    return ItemPublic.model_validate(
        service.merge_items(
            session,
            access.study,
            body.item_ids,
            body.text,
            body.reason,
            access.researcher,
            access.study.preparing_round,
        )
    )


@router.post(
    "/api/studies/{study_id}/items/{item_id}/split", response_model=list[ItemPublic], status_code=201, tags=["design"]
)
def api_split(item_id: int, body: SplitItem, session: SessionDep, access: StudyForEditor) -> list[ItemPublic]:
    item = service.get_item(session, access.study, item_id)
    parts = service.split_item(
        session, access.study, item, body.texts, body.reason, access.researcher, access.study.preparing_round
    )
    return [ItemPublic.model_validate(p) for p in parts]


@router.post("/api/studies/{study_id}/members", status_code=204, tags=["studies"])
def api_add_member(body: MemberAdd, session: SessionDep, access: StudyForOwner) -> Response:
    accounts.add_member(session, access.study.id, body.email, body.role)
    return Response(status_code=204)
