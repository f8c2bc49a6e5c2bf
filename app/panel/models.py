"""Experts on a study's panel, with their profile, weight and personal link."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import StatusColumn, utcnow
from app.errors import Conflict, Message


class ExpertStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    DROPPED = "dropped"


class Expert(SQLModel, table=True):
    __tablename__ = "expert"
    __table_args__ = (UniqueConstraint("study_id", "email"), UniqueConstraint("study_id", "pseudonym"))

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    pseudonym: str = Field(max_length=40)
    stakeholder_group: str = Field(default="", max_length=60)
    profile: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    language: str | None = Field(default=None, max_length=2)

    weight: float = 1.0
    weight_source: str = Field(default="equal", max_length=20)
    weight_reason: str = Field(default="", sa_type=Text)

    status: ExpertStatus = Field(default=ExpertStatus.ACTIVE, sa_type=StatusColumn(ExpertStatus))
    status_reason: str = Field(default="", sa_type=Text)
    status_changed_at: datetime | None = None

    # The link token is derived (HMAC of the secret key and this random nonce), so that every
    # e-mail of the study can carry the same link; only its SHA-256 is stored and looked up.
    link_nonce: str | None = Field(default=None, max_length=64)
    link_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    link_issued_at: datetime | None = None
    consent_at: datetime | None = None
    consent_version: int | None = None  # the information sheet's version the expert agreed to
    consent_language: str | None = Field(default=None, max_length=2)  # the language they read it in
    # the self-assessment of expertise the protocol asks for (panel.expertise): the levels given, and when
    self_assessment: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # the interests declared with the consent where the information asks for them: {"declared":
    # "none" or "some", "text", "version" of the information, "at"}
    interests: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow)
    erased_at: datetime | None = None  # name, address, profile and link erased; the pseudonym stays

    # State transitions (the panel service calls them): each refuses an illegal move.
    def withdraw(self, now: datetime, reason: str) -> None:
        """The expert leaves the panel. Their link stays, to say so ("you have left the study", 410)
        and nothing else: every page and save through it refuses a withdrawn expert."""
        self.status, self.status_reason, self.status_changed_at = ExpertStatus.WITHDRAWN, reason, now

    def reinstate(self, now: datetime) -> None:
        self.status, self.status_reason, self.status_changed_at = ExpertStatus.ACTIVE, "", now

    def drop(self, now: datetime, reason: str) -> None:
        """Left out of the next rounds by a narrowing of the panel."""
        if self.status != ExpertStatus.ACTIVE:
            raise Conflict(
                Message(
                    "%(expert)s is %(status)s, not on the panel.", expert=self.pseudonym, status=Message(self.status)
                )
            )
        self.status, self.status_reason, self.status_changed_at = ExpertStatus.DROPPED, reason, now


class PanelImportRow(SQLModel, table=True):
    """A checked line of a panel file on its way in. A large import writes its lines here in short
    transactions, then moves them to ``expert`` in one statement: other writers never wait for the
    whole file, and the panel gains all of the lines or none. Rows left by a crash are forgotten."""

    __tablename__ = "panel_import_row"

    id: int = Field(default=None, primary_key=True)
    import_key: str = Field(max_length=36, index=True)
    line: int
    study_id: int = Field(foreign_key="study.id", ondelete="CASCADE")
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    pseudonym: str = Field(max_length=40)
    stakeholder_group: str = Field(default="", max_length=60)
    profile: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    language: str | None = Field(default=None, max_length=2)
    weight: float = 1.0
    weight_source: str = Field(default="equal", max_length=20)
    created_at: datetime = Field(default_factory=utcnow, index=True)
