"""What every page of a study shows around its content, defined once so that the pages agree."""

from __future__ import annotations

from typing import Any

from app.studies.dependencies import StudyAccess
from app.studies.kinds import DESIGN_KINDS


def study_page(access: StudyAccess, tab: str, **extra: Any) -> dict[str, Any]:
    """The study, the viewer's role, the tab, and whether the page may offer changes (editors, and
    never on an archived study)."""
    study = access.study
    if "themes" in extra:
        extra["theme_options"] = [("", "—")] + [(t.id, t.title) for t in extra["themes"]]
    return {
        "study": study,
        "role": access.role,
        "can_edit": access.can_edit and study.archived_at is None,
        "is_owner": access.is_owner,
        "tab": tab,
        "design_kinds": DESIGN_KINDS,
        **extra,
    }
