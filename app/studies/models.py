"""A study's design: its protocol (scale, rules, feedback, weighting, narrowing), themes and items."""

from __future__ import annotations

import calendar
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import StatusColumn, utcnow
from app.errors import Conflict, Message

ITEM_KINDS = ("rating", "open", "ranking", "choice", "estimate")


# The protocol's rules when a researcher states none (the protocol schemas use the same).
DEFAULT_CONSENSUS_RULE = "agreement >= 0.7 and opposition < 0.15"
DEFAULT_STOPPING_RULE = "consensus_share >= 1 or round >= max_rounds"


class StudyStatus(StrEnum):
    DESIGN = "design"
    RUNNING = "running"
    FINISHED = "finished"


class ItemStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"
    MERGED = "merged"
    SPLIT = "split"
    DROPPED = "dropped"


KEEP_ANONYMISED = "keep_anonymised"  # erasing an expert keeps their answers of closed rounds, anonymised
REMOVE_ANSWERS = "remove_answers"  # erasing an expert removes all their answers; the rounds are analysed again
ERASURE_POLICIES = (KEEP_ANONYMISED, REMOVE_ANSWERS)


class Study(SQLModel, table=True):
    __tablename__ = "study"

    id: int = Field(default=None, primary_key=True)
    title: str = Field(max_length=300)
    question: str = Field(default="", sa_type=Text)
    description: str = Field(default="", sa_type=Text)
    language: str = Field(default="fr", max_length=2)
    expert_definition: str = Field(default="", sa_type=Text)
    # the research team's own words, added to every invitation and every reminder (translatable)
    invitation_note: str = Field(default="", sa_type=Text)
    reminder_note: str = Field(default="", sa_type=Text)

    scale_min: int = 1
    scale_max: int = 9
    agree_low: int = 7
    agree_high: int = 9
    anchors: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    quantile_method: str = Field(default="linear", max_length=40)

    consensus_rule: str = Field(default=DEFAULT_CONSENSUS_RULE, sa_type=Text)
    stopping_rule: str = Field(default=DEFAULT_STOPPING_RULE, sa_type=Text)
    max_rounds: int = 3
    divergence_threshold: float = 3.0
    retire_consensual: bool = True
    feedback: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    weighting: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    narrowing: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    groups: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)
    report_notes: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    # the study's text in its other language: {language: {field: {"value": ..., "source": original}}}
    translations: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)

    status: StudyStatus = Field(default=StudyStatus.DESIGN, sa_type=StatusColumn(StudyStatus))
    created_by: int | None = Field(default=None, foreign_key="researcher.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    locked_at: datetime | None = None
    finished_at: datetime | None = None
    stopped_reason: str | None = Field(default=None, sa_type=Text)  # ended by hand, not by the stopping rule
    # The round that changes to the design now prepare (None before round 1): the latest round until
    # it is analysed, then the next. Kept by the rounds domain.
    preparing_round: int | None = None
    archived_at: datetime | None = None

    # Personal data (fixed with the protocol, but the retention period): what erasing an expert does
    # to their answers in closed rounds, whether experts may erase themselves, and how long after
    # the study ends its panel's names, addresses and links are kept (None: until anonymised by hand).
    erasure_policy: str = Field(default=KEEP_ANONYMISED, max_length=20)
    experts_may_erase: bool = False
    retention_months: int | None = None
    anonymisation_warned_at: datetime | None = None
    anonymised_at: datetime | None = None
    requires_two_factor: bool = False  # its members open it only with two-factor authentication on

    # State transitions (the studies service calls them): each refuses an illegal move.
    def run(self) -> None:
        """A round opens: the study runs (from its design, or it goes on running)."""
        if self.status == StudyStatus.FINISHED:
            raise Conflict(Message("The study has finished. Reopen its last round to go on."))
        self.status = StudyStatus.RUNNING

    def finish(self, now: datetime, reason: str | None = None) -> None:
        """Its stopping rule was met (no reason), or its researchers ended it (their reason)."""
        if self.status == StudyStatus.FINISHED:
            raise Conflict(Message("The study has already finished."))
        self.status, self.finished_at, self.stopped_reason = StudyStatus.FINISHED, now, reason

    @property
    def ended_at(self) -> datetime | None:
        """When the study ended: it finished, or was archived (whichever came first)."""
        ends = [t for t in (self.finished_at, self.archived_at) if t is not None]
        return min(ends) if ends else None

    @property
    def anonymisation_date(self) -> datetime | None:
        """When its retention period is over and the panel's personal data go (None: no period set,
        not ended yet, or anonymised already)."""
        end = self.ended_at
        if self.retention_months is None or end is None or self.anonymised_at is not None:
            return None
        month = end.month - 1 + self.retention_months
        year, month = end.year + month // 12, month % 12 + 1
        return end.replace(year=year, month=month, day=min(end.day, calendar.monthrange(year, month)[1]))

    def resume(self) -> None:
        """Its last round is reopened: a finished study goes on, and forgets why it had ended."""
        if self.status == StudyStatus.FINISHED:
            self.status, self.finished_at, self.stopped_reason = StudyStatus.RUNNING, None, None
            self.anonymisation_warned_at = None  # when it ends again, its owners are warned again


class Theme(SQLModel, table=True):
    __tablename__ = "theme"

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=300)
    description: str = Field(default="", sa_type=Text)
    position: int = 0
    translations: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class Item(SQLModel, table=True):
    __tablename__ = "item"

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    theme_id: int | None = Field(default=None, foreign_key="theme.id", index=True, ondelete="SET NULL")
    kind: str = Field(default="rating", max_length=20)
    text: str = Field(sa_type=Text)
    position: int = 0
    scale_min: int | None = None
    scale_max: int | None = None
    anchors: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    options: list[str] = Field(default_factory=list, sa_type=JSON)
    multiple: bool = False
    allow_unable: bool = True
    is_seed: bool = False
    realization: float | None = None
    quantiles: list[float] = Field(default_factory=lambda: [0.05, 0.5, 0.95], sa_type=JSON)
    # what the experts are shown of the evidence behind the statement (a summary, references);
    # may change between rounds, each change kept in the item's history (ACCORD M8)
    evidence: str = Field(default="", sa_type=Text)
    translations: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)

    status: ItemStatus = Field(default=ItemStatus.ACTIVE, sa_type=StatusColumn(ItemStatus))
    origin: str = Field(default="protocol", max_length=20)
    source_item_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    introduced_round: int | None = None
    retired_round: int | None = None
    consensus_round: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    # State transitions (the studies service calls them, and keeps the item's history).
    def leave(self, status: ItemStatus, round_number: int | None) -> None:
        """The item stops being asked: retired, dropped, merged into another or split into others."""
        if self.status != ItemStatus.ACTIVE:
            raise Conflict(Message("This item is already %(status)s.", status=Message(self.status)))
        self.status, self.retired_round = status, round_number

    def restore(self, round_number: int) -> bool:
        """Undo a retirement decided by the analysis of ``round_number`` (analysed again after a
        reopening); says whether it was undone."""
        if self.status != ItemStatus.RETIRED or self.retired_round != round_number:
            return False
        self.status, self.retired_round = ItemStatus.ACTIVE, None
        return True


class ItemRevision(SQLModel, table=True):
    """What happened to an item (created, reworded, merged, split, retired): history as data."""

    __tablename__ = "item_revision"

    id: int = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True, ondelete="CASCADE")
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    action: str = Field(max_length=20)
    before_text: str | None = Field(default=None, sa_type=Text)
    after_text: str | None = Field(default=None, sa_type=Text)
    related_item_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    reason: str = Field(default="", sa_type=Text)
    round_number: int | None = None
    researcher_id: int | None = Field(default=None, foreign_key="researcher.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)


class InformationSheet(SQLModel, table=True):
    """One version of what experts read before they agree to take part (the study's purpose, who is
    responsible for the data, the contact, the ethics approval, how long data are kept). A change
    is a new version; each expert's consent names the version they agreed to. An empty field is
    written by the platform's default text, in the reader's language."""

    __tablename__ = "information_sheet"
    __table_args__ = (UniqueConstraint("study_id", "version"),)

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    version: int
    purpose: str = Field(default="", sa_type=Text)
    controller: str = Field(default="", sa_type=Text)
    contact_name: str = Field(default="", max_length=200)
    contact_email: str = Field(default="", max_length=320)
    ethics: str = Field(default="", sa_type=Text)
    retention: str = Field(default="", sa_type=Text)
    # experts who agreed to an earlier version are asked to read this one and agree again
    asks_again: bool = False
    # experts declare their interests (conflicts of interest) as they agree (ACCORD O2)
    asks_interests: bool = False
    # this version in the study's other language (as the study's translations are kept)
    translations: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    researcher_id: int | None = Field(default=None, foreign_key="researcher.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
