"""A study's design: its protocol (scale, rules, feedback, weighting, narrowing), themes and items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Text
from sqlmodel import Field, SQLModel

from app.db import utcnow

ITEM_KINDS = ("rating", "open", "ranking", "choice", "estimate")
ITEM_STATUSES = ("active", "retired", "merged", "split", "dropped")


class Study(SQLModel, table=True):
    __tablename__ = "study"

    id: int = Field(default=None, primary_key=True)
    title: str = Field(max_length=300)
    question: str = Field(default="", sa_type=Text)
    description: str = Field(default="", sa_type=Text)
    language: str = Field(default="fr", max_length=2)
    expert_definition: str = Field(default="", sa_type=Text)

    scale_min: int = 1
    scale_max: int = 9
    agree_low: int = 7
    agree_high: int = 9
    anchors: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    quantile_method: str = Field(default="linear", max_length=40)

    consensus_rule: str = Field(default="agreement >= 0.7 and opposition < 0.15", sa_type=Text)
    stopping_rule: str = Field(default="consensus_share >= 1 or round >= max_rounds", sa_type=Text)
    max_rounds: int = 3
    divergence_threshold: float = 3.0
    retire_consensual: bool = True
    feedback: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    weighting: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    narrowing: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    groups: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)
    report_notes: dict[str, str] = Field(default_factory=dict, sa_type=JSON)

    status: str = Field(default="design", max_length=20)
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


class Theme(SQLModel, table=True):
    __tablename__ = "theme"

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=300)
    description: str = Field(default="", sa_type=Text)
    position: int = 0


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

    status: str = Field(default="active", max_length=20)
    origin: str = Field(default="protocol", max_length=20)
    source_item_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    introduced_round: int | None = None
    retired_round: int | None = None
    consensus_round: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


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
