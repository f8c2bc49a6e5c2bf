"""Studies, their protocol (fixed before round 1, then locked), themes and items with history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.models import Researcher, StudyMember
from app.audit import service as audit
from app.db import utcnow
from app.errors import Conflict, Message, NotFound
from app.scoring import competence
from app.studies.models import Item, Study
from app.studies.schemas import (
    DataProtection,
    FeedbackSpec,
    NarrowingSpec,
    ProtocolSpec,
    ProtocolUpdate,
    ScaleSpec,
    StudyFields,
    StudyUpdate,
    WeightingSpec,
)

# --- studies ----------------------------------------------------------------------------------------


def get_study(session: Session, study_id: int) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise NotFound(Message("No such study."))
    return study


def studies_for(session: Session, researcher: Researcher, *, archived: bool = False) -> list[tuple[Study, str]]:
    query = (
        select(Study, StudyMember.role)
        .join(StudyMember, col(StudyMember.study_id) == col(Study.id))
        .where(StudyMember.researcher_id == researcher.id)
        .order_by(col(Study.created_at).desc(), col(Study.id).desc())
    )
    query = query.where(col(Study.archived_at).is_not(None) if archived else col(Study.archived_at).is_(None))
    return [(study, role) for study, role in session.exec(query).all()]


def create_study(session: Session, researcher: Researcher | None, fields: StudyFields) -> Study:
    study = Study(**fields.model_dump(), created_by=researcher.id if researcher else None)
    apply_protocol(study, ScaleSpec(), ProtocolSpec(), FeedbackSpec(), WeightingSpec(), NarrowingSpec(), [])
    session.add(study)
    session.flush()
    if researcher is not None:
        session.add(StudyMember(study_id=study.id, researcher_id=researcher.id, role="owner"))
    audit.record(session, study.id, researcher, "study.created", f"study:{study.id}", title=study.title)
    session.flush()
    return study


def update_study(session: Session, study: Study, changes: StudyUpdate, researcher: Researcher) -> Study:
    data = changes.model_dump(exclude_unset=True, exclude_none=True)
    for key, value in data.items():
        setattr(study, key, value)
    study.updated_at = utcnow()
    session.add(study)
    audit.record(session, study.id, researcher, "study.updated", f"study:{study.id}", fields=sorted(data))
    session.flush()
    return study


def archive_study(session: Session, study: Study, researcher: Researcher, archived: bool = True) -> Study:
    study.archived_at = utcnow() if archived else None
    session.add(study)
    audit.record(session, study.id, researcher, "study.archived" if archived else "study.restored", f"study:{study.id}")
    session.flush()
    return study


# --- protocol -----------------------------------------------------------------------------------------


def locked_reason(study: Study) -> Message:
    when = study.locked_at.strftime("%Y-%m-%d %H:%M UTC") if study.locked_at else ""
    return Message(
        "The protocol was locked on %(when)s. Rules fixed in advance cannot change afterwards; "
        "what you would change and why belongs in the report instead.",
        when=when,
    )


def require_unlocked(study: Study) -> None:
    if study.locked_at is not None:
        raise Conflict(locked_reason(study))


def require_active(study: Study) -> None:
    if study.archived_at is not None:
        raise Conflict(Message("This study is archived; restore it to change it."))


# --- the study's state (moved by rounds, through these) ----------------------------------------------


def run_study(session: Session, study: Study) -> None:
    """A round opens: the study runs (its round's opening is what the log records)."""
    study.run()
    session.add(study)


def finish_study(session: Session, study: Study, actor: Researcher | None, reason: str | None = None) -> None:
    """The study ends: by its stopping rule (no reason), or by its researchers (their reason)."""
    study.finish(utcnow(), reason)
    session.add(study)
    if reason is None:
        audit.record(session, study.id, actor, "study.finished", f"study:{study.id}", by="stopping rule")
    else:
        audit.record(session, study.id, actor, "study.ended", f"study:{study.id}", reason=reason)


def resume_study(session: Session, study: Study) -> None:
    """Its last round is reopened (the reopening is what the log records)."""
    study.resume()
    session.add(study)


def restore_item(session: Session, item: Item, round_number: int) -> None:
    """Undo a retirement by the analysis of ``round_number``, analysed again after a reopening."""
    if item.restore(round_number):
        session.add(item)


def apply_protocol(
    study: Study,
    scale: ScaleSpec,
    protocol: ProtocolSpec,
    feedback: FeedbackSpec,
    weighting: WeightingSpec,
    narrowing: NarrowingSpec,
    groups: Sequence[Any],
) -> None:
    study.scale_min, study.scale_max = scale.min, scale.max
    study.agree_low, study.agree_high = scale.agree
    study.anchors = dict(scale.anchors)
    study.quantile_method = scale.quantile_method
    study.consensus_rule = protocol.consensus_rule
    study.stopping_rule = protocol.stopping_rule
    study.max_rounds = protocol.max_rounds
    study.divergence_threshold = protocol.divergence_threshold
    study.retire_consensual = protocol.retire_consensual
    study.feedback = feedback.model_dump()
    study.weighting = weighting.model_dump()
    study.narrowing = narrowing.model_dump()
    study.groups = [g.model_dump() if hasattr(g, "model_dump") else dict(g) for g in groups]


def protocol_of(study: Study) -> dict[str, Any]:
    """The study's protocol as the specification objects (for forms and the TOML file)."""
    return {
        "scale": ScaleSpec(
            min=study.scale_min,
            max=study.scale_max,
            agree=(study.agree_low, study.agree_high),
            anchors=study.anchors,
            quantile_method=study.quantile_method,
        ),
        "protocol": ProtocolSpec(
            consensus_rule=study.consensus_rule,
            stopping_rule=study.stopping_rule,
            max_rounds=study.max_rounds,
            divergence_threshold=study.divergence_threshold,
            retire_consensual=study.retire_consensual,
        ),
        "feedback": FeedbackSpec(**study.feedback),
        "weighting": WeightingSpec(**study.weighting),
        "narrowing": NarrowingSpec(**study.narrowing),
    }


def update_protocol(session: Session, study: Study, changes: ProtocolUpdate, researcher: Researcher) -> Study:
    require_active(study)
    require_unlocked(study)
    current = protocol_of(study)
    for key in ("scale", "protocol", "feedback", "weighting", "narrowing"):
        value = getattr(changes, key)
        if value is not None:
            current[key] = value
    narrowing = changes.narrowing
    if (  # the protocol form has no field for a table's own points: saving it keeps them
        narrowing is not None
        and "self_assessment_points" not in narrowing.model_fields_set
        and narrowing.self_assessment == study.narrowing.get("self_assessment")
    ):
        points = study.narrowing.get("self_assessment_points") or {}
        current["narrowing"] = narrowing.model_copy(update={"self_assessment_points": points})
    groups = changes.groups if changes.groups is not None else study.groups
    apply_protocol(study, groups=groups, **current)
    study.updated_at = utcnow()
    session.add(study)
    audit.record(
        session,
        study.id,
        researcher,
        "protocol.updated",
        f"study:{study.id}",
        fields=sorted(k for k in changes.model_fields_set),
    )
    session.flush()
    return study


def update_data_protection(session: Session, study: Study, choices: DataProtection, by: Researcher) -> None:
    """Save the study's data-protection choices; after the lock, only the retention period."""
    require_active(study)
    if study.locked_at is not None and (
        choices.erasure_policy != study.erasure_policy or choices.experts_may_erase != study.experts_may_erase
    ):
        raise Conflict(
            Message(
                "What erasure does to answers, and whether experts may erase their data, are part of the "
                "protocol, locked since round 1. Only the retention period can still change."
            ),
            fields=("erasure_policy",),
        )
    changed = sorted(k for k, v in choices.model_dump().items() if getattr(study, k) != v)
    for key, value in choices.model_dump().items():
        setattr(study, key, value)
    if "retention_months" in changed:
        study.anonymisation_warned_at = None  # a new date: a new warning
    session.add(study)
    audit.record(session, study.id, by, "study.data_protection_updated", f"study:{study.id}", fields=changed)
    session.flush()


def require_two_factor(session: Session, study: Study, required: bool, by: Researcher) -> None:
    """Whether the study's researchers must log in with two-factor authentication to open it. An
    owner turns it on from an account that has it (or they would lock themselves out)."""
    if required and by.totp_enabled_at is None:
        raise Conflict(Message("Turn on two-factor authentication in your own account first."))
    if study.requires_two_factor != required:
        study.requires_two_factor = required
        session.add(study)
        audit.record(session, study.id, by, "study.two_factor_required", f"study:{study.id}", required=required)
        session.flush()


def lock_protocol(session: Session, study: Study, researcher: Researcher | None) -> Study:
    """Fix the rules: timestamped, read-only from now on. Idempotent."""
    if study.locked_at is None:
        study.locked_at = utcnow()
        method = study.narrowing.get("self_assessment") or "none"
        if method != "none":  # the whole table, as it is today, is fixed with the rules
            points = study.narrowing.get("self_assessment_points") or {}
            table = competence.with_points(competence.competence_table(method), points)
            study.narrowing = {**study.narrowing, "self_assessment_points": table}
        session.add(study)
        audit.record(session, study.id, researcher, "protocol.locked", f"study:{study.id}")
        session.flush()
    return study


def group_label(study: Study, key: str) -> str:
    for group in study.groups:
        if group.get("key") == key:
            return group.get("label") or key
    return key


def role_in(session: Session, study: Study, researcher: Researcher) -> str:
    return accounts.require_role(session, study.id, researcher).role
