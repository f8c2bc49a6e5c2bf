from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.rounds.snapshot import RoundSnapshot


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class RoundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    realtime: bool = False
    closes_at: datetime | None = None
    reminder_interval_hours: int | None = Field(default=None, ge=1, le=24 * 30)

    _utc = field_validator("closes_at")(lambda cls, v: _aware(v))


class RoundSubsets(BaseModel):
    """A random subset of the round's items per expert; ``items_per_expert`` null: every item."""

    model_config = ConfigDict(extra="forbid")

    items_per_expert: int | None = Field(default=None, ge=1)
    min_raters_per_item: int | None = Field(default=None, ge=1)


class StudyEnd(BaseModel):
    """Ending a study by hand: the reason is stated in the report."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


class StudyEnded(BaseModel):
    id: int
    status: str
    finished_at: datetime | None
    stopped_reason: str | None


class RoundReopen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    closes_at: datetime | None = None

    _utc = field_validator("closes_at")(lambda cls, v: _aware(v))


class ProgressPublic(BaseModel):
    invited: int
    opened: int
    started: int
    submitted: int


class RoundPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: int
    status: str
    realtime: bool
    closes_at: datetime | None
    opened_at: datetime | None
    closed_at: datetime | None
    analysed_at: datetime | None
    reminder_interval_hours: int | None
    items_per_expert: int | None = None
    min_raters_per_item: int | None = None


class RoundDetail(RoundPublic):
    items: list[int]
    progress: ProgressPublic
    groups: dict[str, ProgressPublic]


class NarrowingOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pseudonym: str
    kept: bool
    reason: str = Field(min_length=1, max_length=2000)


class NarrowingConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overrides: list[NarrowingOverride] = Field(default_factory=list)
    thank_dropped: bool = Field(default=False, description="E-mail each expert left out a thank-you.")


class NarrowingRow(BaseModel):
    pseudonym: str
    group: str
    kept: bool
    rank: int
    pool_size: int
    seats: int
    score: float
    components: dict[str, float]
    tie_broken: bool
    reason: str
    inputs: dict[str, float]


class NarrowingPreview(BaseModel):
    target: int
    seats: dict[str, int]
    decided: bool
    experts: list[NarrowingRow]


class StatementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=3, max_length=2000)
    answer_ids: list[int] = Field(default_factory=list)
    theme_id: int | None = None
    tags: list[str] = Field(default_factory=list)


class StatementPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    theme_id: int | None
    tags: list[str]
    status: str
    item_id: int | None
    merged_into_id: int | None


class OpenAnswerPublic(BaseModel):
    answer_id: int
    item_id: int
    pseudonym: str
    text: str


class ResultsPublic(BaseModel):
    """A round's analysed results: ``data`` is the typed snapshot (its ``items`` one entry per item,
    discriminated on ``kind``)."""

    round: int
    data: RoundSnapshot
