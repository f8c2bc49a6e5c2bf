"""Progress of a study's rounds: invited, opened, started, submitted, per stakeholder group."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, func, select

from app.audit.models import AuditEvent
from app.i18n import N_
from app.panel.models import Expert
from app.rounds.models import AnswerHistory, Invitation, Round, RoundStatus
from app.studies import service as studies
from app.studies.models import Study


@dataclass
class Progress:
    invited: int = 0
    opened: int = 0
    started: int = 0
    submitted: int = 0

    def add(self, invitation: Invitation) -> None:
        self.invited += 1
        self.opened += invitation.opened_at is not None
        # an expert who submits the answers carried from the round before, unchanged, has started too
        self.started += invitation.started_at is not None or invitation.submitted_at is not None
        self.submitted += invitation.submitted_at is not None

    def share(self, name: str) -> float:
        return getattr(self, name) / self.invited if self.invited else 0.0


@dataclass
class RoundProgress:
    round: Round
    total: Progress = field(default_factory=Progress)
    groups: dict[str, Progress] = field(default_factory=dict)


def round_progress(session: Session, study: Study, round_: Round) -> RoundProgress:
    progress = RoundProgress(round=round_)
    rows = session.exec(
        select(Invitation, Expert)
        .join(Expert, col(Expert.id) == col(Invitation.expert_id))
        .where(Invitation.round_id == round_.id)
    ).all()
    for invitation, expert in rows:
        progress.total.add(invitation)
        label = studies.group_label(study, expert.stakeholder_group) or "—"
        progress.groups.setdefault(label, Progress()).add(invitation)
    return progress


def study_progress(session: Session, study: Study) -> list[RoundProgress]:
    rounds = session.exec(select(Round).where(Round.study_id == study.id).order_by(col(Round.number))).all()
    return [round_progress(session, study, r) for r in rounds]


# how far one expert got, as a badge says it (the counts above use "invited", "opened"... as headings)
STAGE_LABELS = {
    "submitted": N_("answers sent"),
    "started": N_("answering"),
    "opened": N_("link opened"),
    "invited": N_("not opened yet"),
}


@dataclass(frozen=True)
class Participation:
    """How far one expert got in one round, and when they last did something in it."""

    round: Round
    invitation: Invitation
    last_activity: datetime | None

    @property
    def stage(self) -> str:
        """The furthest step reached: submitted, started, opened or invited (the words the
        dashboard counts)."""
        if self.invitation.submitted_at is not None:
            return "submitted"
        if self.invitation.started_at is not None:
            return "started"
        if self.invitation.opened_at is not None:
            return "opened"
        return "invited"

    @property
    def stage_label(self) -> str:
        return STAGE_LABELS[self.stage]


def _participations(
    session: Session, rounds: list[Round], expert_id: int | None = None, expert_ids: list[int] | None = None
) -> list[Participation]:
    by_id = {r.id: r for r in rounds}
    if not by_id:
        return []
    invited = select(Invitation).where(col(Invitation.round_id).in_(by_id))
    saved = (
        select(AnswerHistory.round_id, AnswerHistory.expert_id, func.max(AnswerHistory.recorded_at))
        .where(col(AnswerHistory.round_id).in_(by_id), AnswerHistory.source != "carried")
        .group_by(col(AnswerHistory.round_id), col(AnswerHistory.expert_id))
    )
    if expert_id is not None:
        invited = invited.where(Invitation.expert_id == expert_id)
        saved = saved.where(AnswerHistory.expert_id == expert_id)
    if expert_ids is not None:  # a page of the panel
        invited = invited.where(col(Invitation.expert_id).in_(expert_ids))
        saved = saved.where(col(AnswerHistory.expert_id).in_(expert_ids))
    last_save = {(round_id, expert): when for round_id, expert, when in session.exec(saved).all()}
    out = []
    for invitation in session.exec(invited).all():
        moments = [
            invitation.opened_at,
            invitation.submitted_at,
            last_save.get((invitation.round_id, invitation.expert_id)),
        ]
        known = [m for m in moments if m is not None]
        out.append(Participation(by_id[invitation.round_id], invitation, max(known) if known else None))
    return out


def expert_participation(session: Session, study: Study, expert: Expert) -> list[Participation]:
    """One expert's rounds, first to last: the per-expert page of the panel."""
    rounds = list(session.exec(select(Round).where(Round.study_id == study.id).order_by(col(Round.number))).all())
    return sorted(_participations(session, rounds, expert.id), key=lambda p: p.round.number)


def current_participation(
    session: Session, study: Study, expert_ids: list[int] | None = None
) -> tuple[Round | None, dict[int, Participation]]:
    """The latest round that has been opened, and each invited expert's participation in it (by
    expert id; only ``expert_ids`` when given, a page of the panel): the status column of the
    panel page."""
    round_ = session.exec(
        select(Round)
        .where(Round.study_id == study.id, Round.status != RoundStatus.DRAFT)
        .order_by(col(Round.number).desc())
    ).first()
    if round_ is None:
        return None, {}
    return round_, {p.invitation.expert_id: p for p in _participations(session, [round_], expert_ids=expert_ids)}


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    action: str
    target: str
    actor: str


TIMELINE_ACTIONS = (
    "study.created",
    "protocol.locked",
    "round.opened",
    "round.closed",
    "round.analysed",
    "round.reopened",
    "panel.narrowed",
    "panel.imported",
    "round.reminders",
)


def timeline(session: Session, study: Study) -> list[TimelineEntry]:
    events = session.exec(
        select(AuditEvent)
        .where(AuditEvent.study_id == study.id, col(AuditEvent.action).in_(TIMELINE_ACTIONS))
        .order_by(col(AuditEvent.created_at), col(AuditEvent.id))
    ).all()
    return [TimelineEntry(e.created_at, e.action, e.target, e.actor) for e in events]
