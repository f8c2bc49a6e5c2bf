"""Erasure through an expert's link (where the protocol allows it), and a study anonymised by hand."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.dependencies import Form, SessionDep
from app.errors import Conflict, Forbidden, Message
from app.privacy import erasure
from app.rounds.expert_pages import LinksDep, link_page
from app.studies.dependencies import StudyForOwner
from app.web import redirect

router = APIRouter(include_in_schema=False)

NOT_OFFERED = Message("This study does not let experts erase their data themselves; write to the research team.")


@router.get("/e/{token}/erase")
def erase_page(request: Request, session: SessionDep, token: str, links: LinksDep) -> Response:
    """What erasing means in this study, and the button (a GET changes nothing: mail scanners)."""
    ctx = links.resolve(request, session, token)
    if not ctx.study.experts_may_erase:
        raise Forbidden(NOT_OFFERED)
    return link_page(request, ctx, "expert/erase.html", policy=ctx.study.erasure_policy)


@router.post("/e/{token}/erase")
def erase(request: Request, session: SessionDep, token: str, links: LinksDep, form: Form) -> Response:
    """The expert erases their personal data: the link stops working with this answer."""
    ctx = links.resolve(request, session, token)
    links.check_post(request, ctx, str(form.get("csrf_token", "")))
    if not ctx.study.experts_may_erase:
        raise Forbidden(NOT_OFFERED)
    if not form.get("confirm"):
        raise Conflict(Message("Tick the box to confirm that your personal data are to be erased."))
    erasure.erase_expert(session, ctx.study, ctx.expert, None)
    return link_page(request, ctx, "expert/status.html", state="erased", base="")


@router.post("/studies/{study_id}/anonymise")
def anonymise_page(session: SessionDep, access: StudyForOwner, form: Form) -> Response:
    if not form.get("confirm"):
        raise Conflict(Message("Tick the box to confirm the anonymisation: it cannot be undone."))
    erasure.anonymise_study(session, access.study, access.researcher)
    return redirect(f"/studies/{access.study.id}/settings#personal-data", "anonymised")
