"""Rounds, the items they ask, invitations, answers (with their history), coding of open
answers, panel decisions and the result snapshot of each analysed round."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import StatusColumn, utcnow
from app.errors import Conflict, InvalidInput, Message


class StatementStatus(StrEnum):
    CANDIDATE = "candidate"
    PROMOTED = "promoted"
    DISCARDED = "discarded"
    MERGED = "merged"


class RoundStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    ANALYSED = "analysed"


class Round(SQLModel, table=True):
    __tablename__ = "round"
    __table_args__ = (UniqueConstraint("study_id", "number"),)

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    number: int
    status: RoundStatus = Field(default=RoundStatus.DRAFT, sa_type=StatusColumn(RoundStatus))
    realtime: bool = False
    closes_at: datetime | None = None
    reminder_interval_hours: int | None = None
    max_reminders: int = 3
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    analysed_at: datetime | None = None
    reopen_reason: str = Field(default="", sa_type=Text)
    # a random subset of the round's items per expert (None: every expert answers every item), balanced
    # so that each item gets at least ``min_raters_per_item`` raters; fixed while the round is a draft
    items_per_expert: int | None = None
    min_raters_per_item: int | None = None
    created_at: datetime = Field(default_factory=utcnow)

    # State transitions: each refuses an illegal move with a domain error.
    def open(self, now: datetime) -> None:
        if self.status != RoundStatus.DRAFT:
            raise Conflict(
                Message(
                    "Round %(number)s is %(status)s; only a draft round can be opened.",
                    number=self.number,
                    status=Message(self.status),
                )
            )
        if self.closes_at is not None and self.closes_at <= now:
            raise InvalidInput(
                Message("The deadline is in the past; choose a later closing date."), fields=("closes_at",)
            )
        self.status = RoundStatus.OPEN
        self.opened_at = now

    def close(self, now: datetime) -> None:
        if self.status != RoundStatus.OPEN:
            raise Conflict(
                Message(
                    "Round %(number)s is %(status)s; only an open round can be closed.",
                    number=self.number,
                    status=Message(self.status),
                )
            )
        self.status = RoundStatus.CLOSED
        self.closed_at = now

    def mark_analysed(self, now: datetime) -> None:
        if self.status not in (RoundStatus.CLOSED, RoundStatus.ANALYSED):
            raise Conflict(
                Message(
                    "Round %(number)s is %(status)s; close it before analysing it.",
                    number=self.number,
                    status=Message(self.status),
                )
            )
        self.status = RoundStatus.ANALYSED
        self.analysed_at = now

    def reopen(self, now: datetime, reason: str, closes_at: datetime | None) -> None:
        if self.status not in (RoundStatus.CLOSED, RoundStatus.ANALYSED):
            raise Conflict(
                Message(
                    "Round %(number)s is %(status)s; only a closed round can be reopened.",
                    number=self.number,
                    status=Message(self.status),
                )
            )
        if not reason.strip():
            raise InvalidInput(Message("Say why the round is reopened (it goes into the report)."), fields=("reason",))
        if closes_at is not None and closes_at <= now:
            raise InvalidInput(Message("The new deadline is in the past."), fields=("closes_at",))
        self.status = RoundStatus.OPEN
        self.closes_at = closes_at
        self.closed_at = None
        self.analysed_at = None
        self.reopen_reason = (self.reopen_reason + "\n" if self.reopen_reason else "") + reason.strip()

    @property
    def accepts_answers(self) -> bool:
        return self.status == RoundStatus.OPEN


class RoundItem(SQLModel, table=True):
    __tablename__ = "round_item"
    __table_args__ = (UniqueConstraint("round_id", "item_id"),)

    id: int = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True, ondelete="CASCADE")
    item_id: int = Field(foreign_key="item.id", index=True, ondelete="CASCADE")
    position: int = 0


class RoundAssignment(SQLModel, table=True):
    """An item drawn for an expert in a round that gives each expert a random subset of its items."""

    __tablename__ = "round_assignment"
    __table_args__ = (UniqueConstraint("round_id", "expert_id", "item_id"),)

    id: int = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True, ondelete="CASCADE")
    expert_id: int = Field(foreign_key="expert.id", index=True, ondelete="CASCADE")
    item_id: int = Field(foreign_key="item.id", index=True, ondelete="CASCADE")


class Invitation(SQLModel, table=True):
    """One expert asked in one round, and how far they got."""

    __tablename__ = "invitation"
    __table_args__ = (UniqueConstraint("round_id", "expert_id"),)

    id: int = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True, ondelete="CASCADE")
    expert_id: int = Field(foreign_key="expert.id", index=True, ondelete="CASCADE")
    invited_at: datetime = Field(default_factory=utcnow)  # when it went out: the outbox says
    opened_at: datetime | None = None
    started_at: datetime | None = None
    submitted_at: datetime | None = None
    last_reminder_at: datetime | None = None
    reminder_count: int = 0


class Answer(SQLModel, table=True):
    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("round_id", "expert_id", "item_id"),)

    id: int = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", index=True, ondelete="CASCADE")
    expert_id: int = Field(foreign_key="expert.id", index=True, ondelete="CASCADE")
    item_id: int = Field(foreign_key="item.id", index=True, ondelete="CASCADE")
    value: float | None = None
    values: list[Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    text: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, sa_type=Text)
    unable: bool = False
    version: int = 1
    language: str | None = Field(default=None, max_length=2)  # of the page the answer was last given on
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def is_given(self) -> bool:
        """The expert answered (a reason alone is not an answer); ``answers.progress`` counts the same."""
        return self.value is not None or bool(self.values) or bool(self.text) or self.unable


class AnswerHistory(SQLModel, table=True):
    """Append-only: every change to an answer, as it was saved."""

    __tablename__ = "answer_history"

    id: int = Field(default=None, primary_key=True)
    answer_id: int = Field(foreign_key="answer.id", index=True, ondelete="CASCADE")
    round_id: int = Field(foreign_key="round.id", ondelete="CASCADE")
    expert_id: int = Field(foreign_key="expert.id", ondelete="CASCADE")
    item_id: int = Field(foreign_key="item.id", ondelete="CASCADE")
    version: int
    value: float | None = None
    values: list[Any] | None = Field(default=None, sa_type=JSON(none_as_null=True))
    text: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, sa_type=Text)
    unable: bool = False
    source: str = Field(default="save", max_length=20)
    recorded_at: datetime = Field(default_factory=utcnow)


class Statement(SQLModel, table=True):
    """A candidate statement coded by researchers from open answers; may become an item."""

    __tablename__ = "statement"

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    round_id: int = Field(foreign_key="round.id", index=True, ondelete="CASCADE")
    theme_id: int | None = Field(default=None, foreign_key="theme.id", ondelete="SET NULL")
    text: str = Field(sa_type=Text)
    tags: list[str] = Field(default_factory=list, sa_type=JSON)
    status: StatementStatus = Field(default=StatementStatus.CANDIDATE, sa_type=StatusColumn(StatementStatus))
    merged_into_id: int | None = Field(default=None, foreign_key="statement.id", ondelete="SET NULL")
    item_id: int | None = Field(default=None, foreign_key="item.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)


class StatementSource(SQLModel, table=True):
    __tablename__ = "statement_source"
    __table_args__ = (UniqueConstraint("statement_id", "answer_id"),)

    id: int = Field(default=None, primary_key=True)
    statement_id: int = Field(foreign_key="statement.id", index=True, ondelete="CASCADE")
    answer_id: int = Field(foreign_key="answer.id", index=True, ondelete="CASCADE")


class PanelDecision(SQLModel, table=True):
    """A confirmed narrowing of the panel after a round: the rule, its inputs, the outcome."""

    __tablename__ = "panel_decision"

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    round_id: int = Field(foreign_key="round.id", index=True, ondelete="CASCADE")
    rule: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    researcher_id: int | None = Field(default=None, foreign_key="researcher.id", ondelete="SET NULL")
    decided_at: datetime = Field(default_factory=utcnow)


class PanelDecisionEntry(SQLModel, table=True):
    __tablename__ = "panel_decision_entry"
    __table_args__ = (UniqueConstraint("decision_id", "expert_id"),)

    id: int = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="panel_decision.id", index=True, ondelete="CASCADE")
    expert_id: int = Field(foreign_key="expert.id", index=True, ondelete="CASCADE")
    kept: bool
    rank: int
    score: float
    reason: str = Field(sa_type=Text)
    overridden: bool = False
    override_reason: str = Field(default="", sa_type=Text)


class RoundResult(SQLModel, table=True):
    """The analysis of a round, frozen: feedback pages and reports read this, never recompute."""

    __tablename__ = "round_result"

    id: int = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="round.id", unique=True, ondelete="CASCADE")
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    scoring_version: str = Field(default="1", max_length=20)
    computed_at: datetime = Field(default_factory=utcnow)


class RoundRatings(SQLModel, table=True):
    """The rating matrix a round was analysed on, kept with its analysis: the next round's stability
    and conformity read it back as one row instead of this round's answers again (hundreds of
    thousands of rows in a big study). Written and replaced only by the analysis."""

    __tablename__ = "round_ratings"

    round_id: int = Field(foreign_key="round.id", primary_key=True, ondelete="CASCADE")
    matrix: bytes = Field(sa_type=LargeBinary)  # app.rounds.analysis.pack_ratings


class LinkFailure(SQLModel, table=True):
    """A failed look-up of an expert link, kept for the rate limit's window: counted here, every app
    server sees the same counts. The client's address is stored hashed."""

    __tablename__ = "link_failure"

    id: int = Field(default=None, primary_key=True)
    client_hash: str = Field(max_length=64, index=True)
    failed_at: datetime = Field(default_factory=utcnow, index=True)
