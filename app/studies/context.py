"""What every page of a study shows around its content, defined once so that the pages agree."""

from __future__ import annotations

from typing import Any

from app.studies.dependencies import StudyAccess
from app.studies.kinds import DESIGN_KINDS
from app.studies.models import Theme


def theme_options(themes: list[Theme]) -> list[tuple[int | str, str]]:
    """The choices of a "theme" field: none, then each theme."""
    return [("", "—")] + [(t.id, t.title) for t in themes]


def study_page(access: StudyAccess, tab: str, **extra: Any) -> dict[str, Any]:
    """The study, the viewer's role, the tab, and whether the page may offer changes (editors, and
    never on an archived study)."""
    study = access.study
    return {
        "study": study,
        "role": access.role,
        "can_edit": access.can_edit and study.archived_at is None,
        "is_owner": access.is_owner,
        "tab": tab,
        "design_kinds": DESIGN_KINDS,
        **extra,
    }
