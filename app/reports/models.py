"""Rendered reports, cached per analysed snapshot and language."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import LargeBinary, Text
from sqlmodel import Field, SQLModel

from app.db import StatusColumn, utcnow


class ReportStatus(StrEnum):
    QUEUED = "queued"
    RENDERING = "rendering"
    DONE = "done"
    FAILED = "failed"


class ReportFile(SQLModel, table=True):
    __tablename__ = "report_file"

    id: int = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="study.id", index=True, ondelete="CASCADE")
    language: str = Field(max_length=2)
    guideline: str = Field(default="ACCORD", max_length=12, sa_column_kwargs={"server_default": "ACCORD"})
    cache_key: str = Field(max_length=64, index=True)
    status: ReportStatus = Field(default=ReportStatus.QUEUED, sa_type=StatusColumn(ReportStatus))
    error: str = Field(default="", sa_type=Text)
    pdf: bytes | None = Field(default=None, sa_type=LargeBinary)
    pages: int | None = None
    requested_by: int | None = Field(default=None, foreign_key="researcher.id", ondelete="SET NULL")
    requested_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
