"""What goes in and out of the studies domain; the protocol is validated here, once, for the
TOML file, the JSON API and the forms alike."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.errors import Message
from app.scoring import QUANTILE_METHODS, RuleError, parse, parse_consensus_rule, parse_stopping_rule
from app.scoring.competence import LEVELS, competence_table, with_points
from app.scoring.narrowing import COMPONENTS
from app.studies.kinds import design_kind
from app.studies.models import DEFAULT_CONSENSUS_RULE, DEFAULT_STOPPING_RULE
from app.studies.scales import anchor_problem

ItemKind = Literal["rating", "open", "ranking", "choice", "estimate"]
Language = Literal["fr", "en"]


class _AnyName:
    """Formula names are profile fields, known only once the panel exists: accept any at design."""

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def __len__(self) -> int:
        return 0


def _rule_error(exc: RuleError) -> ValueError:
    return ValueError(str(exc))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _one_line(value: str | None) -> str | None:
    """Titles go into e-mail subjects and page headings: no line breaks or control characters."""
    if value is not None and any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError(Message("must be one line, without control characters"))
    return value


OneLine = Annotated[str, AfterValidator(_one_line)]


class ScaleSpec(Strict):
    min: int = Field(default=1, ge=0, le=10)
    max: int = Field(default=9, ge=1, le=20)
    agree: tuple[int, int] = (7, 9)
    anchors: dict[str, str] = Field(default_factory=dict)
    quantile_method: str = "linear"

    @model_validator(mode="after")
    def _consistent(self) -> ScaleSpec:
        if not 2 <= self.max - self.min + 1 <= 11:
            raise ValueError(Message("a scale has 2 to 11 points"))
        if not (self.min <= self.agree[0] <= self.agree[1] <= self.max):
            raise ValueError(
                Message(
                    "the agreement band %(low)s-%(high)s must lie on the scale %(min)s-%(max)s",
                    low=self.agree[0],
                    high=self.agree[1],
                    min=self.min,
                    max=self.max,
                )
            )
        for key in self.anchors:
            if problem := anchor_problem(key, self.min, self.max):
                raise ValueError(problem)
        if self.quantile_method not in QUANTILE_METHODS:
            raise ValueError(Message("quantile_method must be one of %(names)s", names=", ".join(QUANTILE_METHODS)))
        return self


class ProtocolSpec(Strict):
    consensus_rule: str = DEFAULT_CONSENSUS_RULE
    stopping_rule: str = DEFAULT_STOPPING_RULE
    max_rounds: int = Field(default=3, ge=1, le=10)
    divergence_threshold: float = Field(default=3.0, gt=0, le=20)
    retire_consensual: bool = True

    @field_validator("consensus_rule")
    @classmethod
    def _consensus(cls, value: str) -> str:
        try:
            parse_consensus_rule(value)
        except RuleError as exc:
            raise _rule_error(exc) from None
        return value

    @field_validator("stopping_rule")
    @classmethod
    def _stopping(cls, value: str) -> str:
        try:
            parse_stopping_rule(value)
        except RuleError as exc:
            raise _rule_error(exc) from None
        return value


class FeedbackSpec(Strict):
    distribution: bool = True
    median_iqr: bool = True
    own_previous: bool = True
    reasons: bool = True
    by_group: bool = False
    open_answers: bool = False  # others' raw open answers (anonymous); by default only the coded statements
    weights: bool = True
    consensus: bool = True


class WeightingSpec(Strict):
    scheme: Literal["equal", "self_rated", "assigned", "formula"] = "equal"
    formula: str = ""
    field: str = "self_rating"

    @model_validator(mode="after")
    def _formula(self) -> WeightingSpec:
        if self.scheme == "formula":
            if not self.formula:
                raise ValueError(Message("the formula scheme needs a formula"))
            try:
                parse(self.formula, _AnyName(), expect="number")
            except RuleError as exc:
                raise _rule_error(exc) from None
        return self


SelfAssessment = Literal["none", "competence", "authority"]


class NarrowingSpec(Strict):
    target: int | None = Field(default=None, ge=1)
    keep_group_share: bool = True
    # the self-assessment form experts fill in before their first round (app.scoring.competence),
    # and the points of its table where the study departs from the published ones
    self_assessment: SelfAssessment = "none"
    self_assessment_points: dict[str, dict[str, float]] = Field(default_factory=dict)
    composite: dict[str, float] = Field(
        default_factory=lambda: {"weight": 0.4, "participation": 0.3, "completeness": 0.3, "performance": 0.0}
    )

    @field_validator("composite")
    @classmethod
    def _components(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(COMPONENTS)
        if unknown:
            raise ValueError(
                Message(
                    "unknown components %(unknown)s; use %(names)s",
                    unknown=sorted(unknown),
                    names=", ".join(COMPONENTS),
                )
            )
        if any(v < 0 for v in value.values()) or sum(value.values()) <= 0:
            raise ValueError(Message("coefficients must be >= 0 and not all zero"))
        return value

    @model_validator(mode="after")
    def _self_assessment(self) -> NarrowingSpec:
        if self.composite.get("competence", 0) > 0 and self.self_assessment == "none":
            raise ValueError(Message("the competence component needs a self-assessment of expertise"))
        table = competence_table(self.self_assessment)
        for source, points in self.self_assessment_points.items():
            if source not in table:
                raise ValueError(
                    Message(
                        "%(source)s is not a source of this self-assessment; use %(names)s",
                        source=source,
                        names=", ".join(table),
                    )
                )
            if set(points) - set(LEVELS) or not all(0 <= v <= 1 for v in points.values()):
                raise ValueError(Message("points are given for high, medium and low, each from 0 to 1"))
        full = with_points(table, self.self_assessment_points)
        if any(not (p["high"] >= p["medium"] >= p["low"]) for p in full.values()):
            raise ValueError(Message("a source's points go down from high to medium to low"))
        if sum(p["high"] for p in full.values()) > 1 + 1e-9:
            raise ValueError(Message("the points of every source at high add up to 1 at most"))
        return self


class GroupSpec(Strict):
    key: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_-]+$")
    label: str = Field(min_length=1, max_length=120)


class StudyFields(Strict):
    title: OneLine = Field(min_length=3, max_length=300)
    question: str = Field(default="", max_length=5000)
    description: str = Field(default="", max_length=10000)
    language: Language = "fr"
    expert_definition: str = Field(default="", max_length=10000)
    invitation_note: str = Field(default="", max_length=5000)
    reminder_note: str = Field(default="", max_length=5000)


class ItemSpec(Strict):
    text: str = Field(min_length=3, max_length=2000)
    kind: ItemKind = "rating"
    anchors: dict[str, str] = Field(default_factory=dict)
    options: list[str] = Field(default_factory=list)
    multiple: bool = False
    allow_unable: bool = True
    is_seed: bool = False
    realization: float | None = None
    quantiles: list[float] = Field(default_factory=lambda: [0.05, 0.5, 0.95])
    evidence: str = Field(default="", max_length=5000)

    @model_validator(mode="after")
    def _kind_needs(self) -> ItemSpec:
        design_kind(self.kind).check(self)
        return self


# In a protocol file, a text's translation into the study's other language, by language and field:
# translations.en = { text = "…", options = ["…", "…"] }
Translations = dict[Language, dict[str, Any]]


class FileStudy(StudyFields):
    translations: Translations = Field(default_factory=dict)  # title, question, description, anchors


class FileItem(ItemSpec):
    translations: Translations = Field(default_factory=dict)  # text, options, evidence

    @model_validator(mode="after")
    def _translated_options_fit(self) -> FileItem:
        for language, fields in self.translations.items():
            options = fields.get("options")
            if options is not None and len(options) != len(self.options):
                raise ValueError(
                    Message(
                        "the %(language)s options need one translation per option (%(count)s)",
                        language=language,
                        count=len(self.options),
                    )
                )
        return self


class ThemeSpec(Strict):
    title: OneLine = Field(min_length=2, max_length=300)
    description: str = Field(default="", max_length=5000)
    translations: Translations = Field(default_factory=dict)  # title, description
    items: list[FileItem] = Field(default_factory=list)


class ExpertSpec(Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(default="", max_length=320)
    group: str = Field(default="", max_length=60)
    profile: dict[str, Any] = Field(default_factory=dict)
    pseudonym: str | None = Field(default=None, max_length=40)


class DataProtection(Strict):
    """What erasing an expert does to their answers and whether experts may erase their own data
    (part of the protocol: fixed when it is locked), and how many months after the study ends the
    panel's personal data are kept (None: until anonymised by hand)."""

    erasure_policy: Literal["keep_anonymised", "remove_answers"] = "keep_anonymised"
    experts_may_erase: bool = False
    retention_months: int | None = Field(default=None, ge=1, le=240)


class ProtocolFile(Strict):
    """A whole study as a file: ``delphi study export`` writes it, ``delphi study create`` reads it."""

    format: Literal[1] = 1
    study: FileStudy
    scale: ScaleSpec = Field(default_factory=ScaleSpec)
    protocol: ProtocolSpec = Field(default_factory=ProtocolSpec)
    feedback: FeedbackSpec = Field(default_factory=FeedbackSpec)
    weighting: WeightingSpec = Field(default_factory=WeightingSpec)
    narrowing: NarrowingSpec = Field(default_factory=NarrowingSpec)
    groups: list[GroupSpec] = Field(default_factory=list)
    themes: list[ThemeSpec] = Field(default_factory=list)
    experts: list[ExpertSpec] = Field(default_factory=list)
    report: dict[str, str] = Field(default_factory=dict)
    data_protection: DataProtection = Field(default_factory=DataProtection)

    @model_validator(mode="after")
    def _groups_known(self) -> ProtocolFile:
        keys = [g.key for g in self.groups]
        if len(set(keys)) != len(keys):
            raise ValueError(Message("group keys must be unique"))
        unknown = sorted({e.group for e in self.experts if e.group and keys and e.group not in keys})
        if unknown:
            raise ValueError(
                Message("experts use groups not declared in [[groups]]: %(names)s", names=", ".join(unknown))
            )
        return self


# --- API shapes ---------------------------------------------------------------------------------------


class StudyCreate(StudyFields):
    pass


class StudyUpdate(Strict):
    title: OneLine | None = Field(default=None, min_length=3, max_length=300)
    question: str | None = Field(default=None, max_length=5000)
    description: str | None = Field(default=None, max_length=10000)
    language: Language | None = None
    expert_definition: str | None = Field(default=None, max_length=10000)
    invitation_note: str | None = Field(default=None, max_length=5000)
    reminder_note: str | None = Field(default=None, max_length=5000)
    report_notes: dict[str, str] | None = None


class InformationSheetIn(Strict):
    """What experts are told before they agree; an empty field is written by the default text."""

    purpose: str = Field(default="", max_length=5000)
    controller: str = Field(default="", max_length=2000)
    contact_name: OneLine = Field(default="", max_length=200)
    contact_email: str = Field(default="", max_length=320)
    ethics: str = Field(default="", max_length=2000)
    retention: str = Field(default="", max_length=2000)
    asks_again: bool = False
    asks_interests: bool = False


class ProtocolUpdate(Strict):
    scale: ScaleSpec | None = None
    protocol: ProtocolSpec | None = None
    feedback: FeedbackSpec | None = None
    weighting: WeightingSpec | None = None
    narrowing: NarrowingSpec | None = None
    groups: list[GroupSpec] | None = None


class StudyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    question: str
    description: str
    language: str
    expert_definition: str
    invitation_note: str
    reminder_note: str
    status: str
    scale_min: int
    scale_max: int
    agree_low: int
    agree_high: int
    anchors: dict[str, str]
    quantile_method: str
    consensus_rule: str
    stopping_rule: str
    max_rounds: int
    divergence_threshold: float
    retire_consensual: bool
    feedback: dict[str, Any]
    weighting: dict[str, Any]
    narrowing: dict[str, Any]
    groups: list[dict[str, str]]
    report_notes: dict[str, str]
    created_at: datetime
    locked_at: datetime | None
    archived_at: datetime | None


class ThemeCreate(Strict):
    title: OneLine = Field(min_length=2, max_length=300)
    description: str = Field(default="", max_length=5000)


class ThemePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str
    position: int


class ItemCreate(ItemSpec):
    theme_id: int | None = None


class ItemUpdate(Strict):
    text: str | None = Field(default=None, min_length=3, max_length=2000)
    theme_id: int | None = None
    anchors: dict[str, str] | None = None
    options: list[str] | None = None
    allow_unable: bool | None = None
    evidence: str | None = Field(default=None, max_length=5000)
    reason: str = Field(default="", max_length=2000)


class ItemPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    theme_id: int | None
    kind: str
    text: str
    position: int
    anchors: dict[str, str]
    options: list[str]
    multiple: bool
    allow_unable: bool
    is_seed: bool
    realization: float | None
    quantiles: list[float]
    evidence: str
    status: str
    origin: str
    source_item_ids: list[int]


class MergeItems(Strict):
    item_ids: list[int] = Field(min_length=2)
    text: str = Field(min_length=3, max_length=2000)
    reason: str = Field(min_length=1, max_length=2000)


class SplitItem(Strict):
    texts: list[str] = Field(min_length=2)
    reason: str = Field(min_length=1, max_length=2000)


class MemberAdd(Strict):
    email: str
    role: Literal["owner", "editor", "viewer"]
