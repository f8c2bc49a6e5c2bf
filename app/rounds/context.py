"""The frame of the rounds tab: the study page's own, with the study's rounds."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.rounds import service
from app.studies.context import study_page
from app.studies.dependencies import StudyAccess


def rounds_tab(session: Session, access: StudyAccess, **extra: Any) -> dict[str, Any]:
    return study_page(access, "rounds", rounds=service.rounds_of(session, access.study.id), **extra)
