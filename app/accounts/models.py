"""Researchers, their server-side sessions, and who may do what in which study."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import utcnow

ROLES = ("owner", "editor", "viewer")


class Researcher(SQLModel, table=True):
    __tablename__ = "researcher"

    id: int = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=255)
    language: str | None = Field(default=None, max_length=2)
    is_active: bool = True
    is_admin: bool = False  # the instance's administrator: lists and deactivates accounts
    created_at: datetime = Field(default_factory=utcnow)
    # Two-factor authentication (TOTP, RFC 6238): the shared secret, when it was turned on, the last
    # time step accepted (a code works once), and the SHA-256 of each unused recovery code.
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enabled_at: datetime | None = None
    totp_last_step: int | None = None
    recovery_codes: list[str] = Field(default_factory=list, sa_type=JSON)


class ResearcherSession(SQLModel, table=True):
    """A login. The cookie carries a random id; only its SHA-256 is stored here."""

    __tablename__ = "researcher_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    researcher_id: int = Field(foreign_key="researcher.id", index=True, ondelete="CASCADE")
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    client: str = Field(default="", max_length=200)  # the browser, as its User-Agent names it (sessions list)
    # The password was right and the second factor is still to come: not logged in yet.
    second_factor_pending: bool = False
    # When this login gave the second factor (a study that requires it asks this, not the account)
    second_factor_at: datetime | None = None


class StudyMember(SQLModel, table=True):
    __tablename__ = "study_member"
    __table_args__ = (UniqueConstraint("study_id", "researcher_id"),)

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    researcher_id: int = Field(foreign_key="researcher.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=10)
    created_at: datetime = Field(default_factory=utcnow)


class LoginFailure(SQLModel, table=True):
    """A failed researcher login, kept for the throttle's window, once under the account and once
    under the client (both as keyed hashes): every app server counts the same failures."""

    __tablename__ = "login_failure"

    id: int = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, index=True)
    failed_at: datetime = Field(default_factory=utcnow, index=True)


class FormSubmission(SQLModel, table=True):
    """A researcher form already acted on, by the one-time key the form carried: a second click on
    "Add" (or a resent POST) is recognised and does not add twice. Kept a day."""

    __tablename__ = "form_submission"

    id: int = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class AccountToken(SQLModel, table=True):
    """A single-use link sent by e-mail: a password reset, or an invitation to a study that creates
    the account on first use. As with expert links, the token is derived from the secret key and a
    random nonce (the outbox keeps the nonce, not the link); only its SHA-256 is stored here."""

    __tablename__ = "account_token"

    id: int = Field(default=None, primary_key=True)
    purpose: str = Field(max_length=20)  # "reset" or "invitation"
    token_hash: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320, index=True)
    researcher_id: int | None = Field(default=None, foreign_key="researcher.id", ondelete="CASCADE")
    study_id: int | None = Field(default=None, foreign_key="study.id", ondelete="CASCADE")
    role: str | None = Field(default=None, max_length=10)
    invited_by: int | None = Field(default=None, foreign_key="researcher.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, index=True)
    expires_at: datetime
    spent_at: datetime | None = None  # used, replaced by a newer link, or withdrawn
