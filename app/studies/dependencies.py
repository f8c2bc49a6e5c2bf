"""Study lookups scoped by membership: a study you are not a member of is a 404, a role too
small for the action a 403."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.accounts import service as accounts
from app.accounts.dependencies import Auth, CurrentAuth
from app.accounts.models import Researcher
from app.dependencies import SAFE_METHODS, ReadSessionDep, SessionDep
from app.errors import Forbidden, Message
from app.studies import service
from app.studies.models import Study


@dataclass
class StudyAccess:
    study: Study
    role: str
    researcher: Researcher
    study_id: int = field(init=False)

    def __post_init__(self) -> None:
        self.study_id = self.study.id

    def in_session(self, session: Session) -> StudyAccess:
        """The same access with the study read again through ``session`` (a page rendered after
        its request's transaction was rolled back)."""
        again = replace(self, study=service.get_study(session, self.study_id))
        again.study_id = self.study_id
        return again

    @property
    def can_edit(self) -> bool:
        return self.role in ("owner", "editor")

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


def _second_factor_if_required(study: Study, auth: Auth) -> None:
    """A study that requires two-factor authentication opens to a login that gave the second factor
    (not merely to an account that has it: a session opened before it was turned on does not)."""
    if not study.requires_two_factor or auth.login.second_factor_at is not None:
        return
    if auth.researcher.totp_enabled_at is None:
        raise Forbidden(
            Message(
                "This study requires two-factor authentication of its researchers: turn it on in your "
                "account (your e-mail address, at the top of the page), then come back."
            )
        )
    raise Forbidden(
        Message("This study requires two-factor authentication: log out, then log in again with your code.")
    )


def _access(role: str):  # type: ignore[no-untyped-def]
    def dependency(request: Request, study_id: int, session: SessionDep, auth: CurrentAuth) -> StudyAccess:
        researcher = auth.researcher
        member = accounts.require_role(session, study_id, researcher, role)
        study = service.get_study(session, study_id)
        _second_factor_if_required(study, auth)
        if role == "editor" and request.method not in SAFE_METHODS:
            service.require_active(study)  # every change goes through here; restoring is the owner's
        return StudyAccess(study=study, role=member.role, researcher=researcher)

    return dependency


def _editor_reading(request: Request, study_id: int, reader: ReadSessionDep, auth: CurrentAuth) -> StudyAccess:
    """An editor's access, looked up through the reading session: for a route that reads and checks
    for a while (a panel file) before it writes, so that the write lock is taken only for the write."""
    researcher = auth.researcher
    member = accounts.require_role(reader, study_id, researcher, "editor")
    study = service.get_study(reader, study_id)
    _second_factor_if_required(study, auth)
    service.require_active(study)
    return StudyAccess(study=study, role=member.role, researcher=researcher)


StudyForViewer = Annotated[StudyAccess, Depends(_access("viewer"))]
StudyForEditorReading = Annotated[StudyAccess, Depends(_editor_reading)]
StudyForEditor = Annotated[StudyAccess, Depends(_access("editor"))]
StudyForOwner = Annotated[StudyAccess, Depends(_access("owner"))]
