"""The self-assessment of expertise the protocol may ask of each expert before their first round:
the competence coefficient K or the authority coefficient Cr (``app.scoring.competence``). The
levels each expert gives are stored; the coefficients are computed from them with the study's
table, so a reader can always recompute them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app.db import utcnow
from app.errors import InvalidInput, Message
from app.i18n import N_
from app.panel.models import Expert
from app.scoring import competence as scoring
from app.studies.models import Study

SOURCE_LABELS = {
    "competence": {
        "theory": N_("Theoretical analyses you have carried out"),
        "experience": N_("Your own experience"),
        "national_works": N_("Works by authors of your country"),
        "international_works": N_("Works by authors from abroad"),
        "abroad": N_("Your own knowledge of the state of the field abroad"),
        "intuition": N_("Your intuition"),
    },
    "authority": {
        "practice": N_("Practical experience"),
        "theory": N_("Theoretical analysis"),
        "literature": N_("Literature, in your country and abroad"),
        "intuition": N_("Intuition"),
    },
}
# the same sources as the report names them (the form speaks to the expert)
REPORT_LABELS = {
    "competence": {
        "theory": N_("Theoretical analyses carried out by the expert"),
        "experience": N_("The expert's own experience"),
        "national_works": N_("Works by authors of the expert's country"),
        "international_works": N_("Works by foreign authors"),
        "abroad": N_("Knowledge of the state of the field abroad"),
        "intuition": N_("Intuition"),
    },
    "authority": {
        "practice": N_("Practical experience"),
        "theory": N_("Theoretical analysis"),
        "literature": N_("Literature, national and foreign"),
        "intuition": N_("Intuition"),
    },
}
LEVEL_LABELS = {"high": N_("high"), "medium": N_("medium"), "low": N_("low")}
FAMILIARITY_LABELS = {
    "very_familiar": N_("very familiar"),
    "familiar": N_("familiar"),
    "somewhat_familiar": N_("somewhat familiar"),
    "unfamiliar": N_("not very familiar"),
    "very_unfamiliar": N_("unfamiliar"),
}
BAND_LABELS = {"high": N_("high competence"), "medium": N_("medium competence"), "low": N_("low competence")}
KNOWLEDGE_POINTS = list(range(11))


def method(study: Study) -> str:
    """``competence``, ``authority`` or ``none``: what the protocol asks."""
    return str(study.narrowing.get("self_assessment") or "none")


def table(study: Study) -> dict[str, dict[str, float]]:
    """The study's sources table: the published one, with the protocol's own points where it gives them."""
    return scoring.with_points(
        scoring.competence_table(method(study)), study.narrowing.get("self_assessment_points") or {}
    )


def needs_assessment(study: Study, expert: Expert) -> bool:
    """The protocol asks for a self-assessment and this expert's does not score (none given yet)."""
    return method(study) != "none" and coefficient(study, expert) is None


Coefficient = scoring.Competence | scoring.Authority


def coefficient(study: Study, expert: Expert) -> Coefficient | None:
    """The expert's K or Cr from the levels they gave; None if the study asks none or they gave none."""
    given = expert.self_assessment
    if method(study) == "none" or not given.get("levels") or given.get("method") != method(study):
        return None
    try:
        if method(study) == "competence":
            return scoring.competence(given["knowledge"], given["levels"], table(study))
        return scoring.authority(given["familiarity"], given["levels"], table(study))
    except (scoring.AssessmentError, KeyError):  # levels of another table: asked again, never a crash
        return None


def value(study: Study, expert: Expert) -> float | None:
    """The one number narrowing reads: K or Cr."""
    found = coefficient(study, expert)
    if found is None:
        return None
    return found.k if isinstance(found, scoring.Competence) else found.cr


def record(session: Session, study: Study, expert: Expert, form: Mapping[str, Any]) -> None:
    """Store what the expert answered on the form; all or nothing, each missing answer named."""
    asked = method(study)
    if asked == "none":
        raise InvalidInput(Message("This study does not ask for a self-assessment."))
    errors: dict[str, str] = {}
    answers: dict[str, Any] = {"method": asked}
    if asked == "competence":
        knowledge = str(form.get("knowledge", ""))
        if knowledge not in {str(p) for p in KNOWLEDGE_POINTS}:
            errors["knowledge"] = Message("Rate your knowledge from 0 to 10.")
        else:
            answers["knowledge"] = int(knowledge)
    else:
        familiarity = str(form.get("familiarity", ""))
        if familiarity not in scoring.FAMILIARITY:
            errors["familiarity"] = Message("Say how familiar you are with the subject.")
        else:
            answers["familiarity"] = familiarity
    levels = {}
    for source in table(study):
        level = str(form.get(f"source_{source}", ""))
        if level not in scoring.LEVELS:
            errors[f"source_{source}"] = Message("Choose high, medium or low.")
        levels[source] = level
    if errors:
        raise InvalidInput(Message("Some answers are missing: see the marked questions."), fields=errors)
    answers |= {"levels": levels, "at": utcnow().isoformat()}
    expert.self_assessment = answers
    session.add(expert)


@dataclass(frozen=True)
class PanelSummary:
    """The panel's figures for the report and the panel page."""

    method: str
    assessed: int
    of: int
    competence: scoring.PanelCompetence | None = None
    authority: scoring.PanelAuthority | None = None


def panel_summary(study: Study, experts: Sequence[Expert]) -> PanelSummary | None:
    asked = method(study)
    if asked == "none":
        return None
    found = [c for c in (coefficient(study, e) for e in experts) if c is not None]
    if asked == "competence":
        k = [c for c in found if isinstance(c, scoring.Competence)]
        return PanelSummary(asked, len(k), len(experts), competence=scoring.panel_competence(k))
    cr = [c for c in found if isinstance(c, scoring.Authority)]
    return PanelSummary(asked, len(cr), len(experts), authority=scoring.panel_authority(cr))
