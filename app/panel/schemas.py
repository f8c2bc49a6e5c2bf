from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ExpertCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    stakeholder_group: str = Field(default="", max_length=60)
    profile: dict[str, Any] = Field(default_factory=dict)
    language: str | None = Field(default=None, pattern="^(fr|en)$")


class ExpertUpdate(BaseModel):
    """What a researcher may correct about an expert: identity, group and language (not the
    pseudonym, which the answers and reports are keyed by)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    stakeholder_group: str = Field(default="", max_length=60)
    language: str | None = Field(default=None, pattern="^(fr|en)$")


class WeightChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weight: float = Field(ge=0, le=1000)
    reason: str = Field(min_length=1, max_length=2000)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=2000)


class ExpertPublic(BaseModel):
    """For researchers of the study: identities included (the panel page)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    pseudonym: str
    name: str
    email: str
    stakeholder_group: str
    profile: dict[str, Any]
    weight: float
    weight_source: str
    weight_reason: str
    status: str
    status_reason: str
    created_at: datetime


class ImportReport(BaseModel):
    imported: int
    experts: list[ExpertPublic]
