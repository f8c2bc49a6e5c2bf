"""Progress of a study's rounds: invited, opened, started, submitted, per stakeholder group."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
from app.panel.models import Expert
from app.rounds.models import Invitation, Round
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
