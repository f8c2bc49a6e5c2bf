"""The studies' JSON API: studies, members, themes and items."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from app.accounts import email_links
from app.accounts.dependencies import CurrentResearcher
from app.accounts.models import AccountToken
from app.dependencies import SessionDep
from app.mail.dependencies import MailerDep
from app.studies import design, service
from app.studies.dependencies import StudyForEditor, StudyForOwner, StudyForViewer
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
from app.web import request_language

router = APIRouter()


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
    return [ThemePublic.model_validate(t) for t in design.themes_of(session, access.study.id)]


@router.post("/api/studies/{study_id}/themes", response_model=ThemePublic, status_code=201, tags=["design"])
def api_add_theme(body: ThemeCreate, session: SessionDep, access: StudyForEditor) -> ThemePublic:
    return ThemePublic.model_validate(design.add_theme(session, access.study, body, access.researcher))


@router.put("/api/studies/{study_id}/themes/{theme_id}", response_model=ThemePublic, tags=["design"])
def api_edit_theme(theme_id: int, body: ThemeCreate, session: SessionDep, access: StudyForEditor) -> ThemePublic:
    theme = design.get_theme(session, access.study, theme_id)
    return ThemePublic.model_validate(design.update_theme(session, access.study, theme, body, access.researcher))


@router.delete("/api/studies/{study_id}/themes/{theme_id}", status_code=204, tags=["design"])
def api_delete_theme(theme_id: int, session: SessionDep, access: StudyForEditor) -> Response:
    design.delete_theme(session, access.study, design.get_theme(session, access.study, theme_id), access.researcher)
    return Response(status_code=204)


@router.get("/api/studies/{study_id}/items", response_model=list[ItemPublic], tags=["design"])
def api_items(session: SessionDep, access: StudyForViewer) -> list[ItemPublic]:
    return [ItemPublic.model_validate(i) for i in design.items_of(session, access.study.id)]


@router.post("/api/studies/{study_id}/items", response_model=ItemPublic, status_code=201, tags=["design"])
def api_add_item(body: ItemCreate, session: SessionDep, access: StudyForEditor) -> ItemPublic:
    return ItemPublic.model_validate(design.add_item(session, access.study, body, access.researcher))


@router.patch("/api/studies/{study_id}/items/{item_id}", response_model=ItemPublic, tags=["design"])
def api_edit_item(item_id: int, body: ItemUpdate, session: SessionDep, access: StudyForEditor) -> ItemPublic:
    item = design.get_item(session, access.study, item_id)
    return ItemPublic.model_validate(
        design.update_item(session, access.study, item, body, access.researcher, access.study.preparing_round)
    )


@router.delete("/api/studies/{study_id}/items/{item_id}", status_code=204, tags=["design"])
def api_delete_item(item_id: int, session: SessionDep, access: StudyForEditor) -> Response:
    design.delete_item(session, access.study, design.get_item(session, access.study, item_id), access.researcher)
    return Response(status_code=204)


@router.post("/api/studies/{study_id}/items/merge", response_model=ItemPublic, status_code=201, tags=["design"])
def api_merge(body: MergeItems, session: SessionDep, access: StudyForEditor) -> ItemPublic:
    return ItemPublic.model_validate(
        design.merge_items(
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
    item = design.get_item(session, access.study, item_id)
    parts = design.split_item(
        session, access.study, item, body.texts, body.reason, access.researcher, access.study.preparing_round
    )
    return [ItemPublic.model_validate(p) for p in parts]


@router.post("/api/studies/{study_id}/members", status_code=204, tags=["studies"])
def api_add_member(
    request: Request, body: MemberAdd, session: SessionDep, access: StudyForOwner, mailer: MailerDep
) -> Response:
    """204: the account exists and is a member now. 202: no account uses the address; an invitation
    whose link creates it is in the outbox (valid for 7 days)."""
    added = email_links.invite(
        session,
        email_links.StudyInvitation(access.study.id, access.study.title),
        body.email,
        body.role,
        access.researcher,
        mailer,
        request_language(request, access.study.language),
    )
    if isinstance(added, AccountToken):
        return JSONResponse({"invited": added.email, "expires_at": added.expires_at.isoformat()}, status_code=202)
    return Response(status_code=204)
