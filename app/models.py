"""Every table, imported once so that ``SQLModel.metadata`` is complete (Alembic, tests)."""

from sqlmodel import SQLModel

from app.accounts.models import AccountToken, Researcher, ResearcherSession, StudyMember
from app.audit.models import AuditEvent
from app.mail.models import OutboxMessage
from app.panel.models import Expert
from app.reports.models import ReportFile
from app.rounds.models import (
    Answer,
    AnswerHistory,
    Invitation,
    LinkFailure,
    PanelDecision,
    PanelDecisionEntry,
    Round,
    RoundAssignment,
    RoundItem,
    RoundRatings,
    RoundResult,
    Statement,
    StatementSource,
)
from app.studies.models import InformationSheet, Item, ItemRevision, Study, Theme

metadata = SQLModel.metadata

__all__ = [
    "AccountToken",
    "Answer",
    "AnswerHistory",
    "AuditEvent",
    "Expert",
    "InformationSheet",
    "Invitation",
    "Item",
    "ItemRevision",
    "LinkFailure",
    "OutboxMessage",
    "PanelDecision",
    "PanelDecisionEntry",
    "ReportFile",
    "Researcher",
    "ResearcherSession",
    "Round",
    "RoundAssignment",
    "RoundItem",
    "RoundRatings",
    "RoundResult",
    "Statement",
    "StatementSource",
    "Study",
    "StudyMember",
    "Theme",
    "metadata",
]
