"""The outbox: a message is a row written in the same transaction as the action that caused it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from app.db import StatusColumn, utcnow


class MessageStatus(StrEnum):
    """pending -> sending -> sent | pending (retry) | failed; uncertain when a sender died mid-send."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"

    id: int = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    study_id: int | None = Field(default=None, foreign_key="study.id", index=True, ondelete="SET NULL")
    round_id: int | None = Field(default=None, foreign_key="round.id", ondelete="SET NULL")
    expert_id: int | None = Field(default=None, foreign_key="expert.id", ondelete="SET NULL")
    # The bodies hold PERSONAL_LINK where the expert's link goes; the link is derived at delivery
    # from this nonce and the secret key, so the outbox never stores a working link (SECURITY.md 1).
    link_nonce: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=30)
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    body_text: str = Field(sa_type=Text)
    body_html: str = Field(sa_type=Text)
    status: MessageStatus = Field(default=MessageStatus.PENDING, sa_type=StatusColumn(MessageStatus), index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    last_error: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
