"""Study lookups scoped by membership: a study you are not a member of is a 404, a role too
small for the action a 403."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from app.accounts import service as accounts
from app.accounts.models import Researcher
from app.dependencies import CurrentResearcher, SessionDep
from app.studies import service
from app.studies.models import Study


@dataclass
class StudyAccess:
    study: Study
    role: str
    researcher: Researcher

    @property
    def can_edit(self) -> bool:
        return self.role in ("owner", "editor")

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


def _access(role: str):  # type: ignore[no-untyped-def]
    def dependency(study_id: int, session: SessionDep, researcher: CurrentResearcher) -> StudyAccess:
        member = accounts.require_role(session, study_id, researcher, role)
        return StudyAccess(study=service.get_study(session, study_id), role=member.role, researcher=researcher)

    return dependency


StudyForViewer = Annotated[StudyAccess, Depends(_access("viewer"))]
StudyForEditor = Annotated[StudyAccess, Depends(_access("editor"))]
StudyForOwner = Annotated[StudyAccess, Depends(_access("owner"))]
