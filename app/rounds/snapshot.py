"""The typed snapshot of an analysed round: what feedback pages, results pages, exports, the report
and the public API read, instead of a dict read by string.

One model per kind of item result (a union discriminated on ``kind``), plus participation,
stability, themes, panel agreement and Cooke's scores. Snapshots are stored as JSON with a
``version``; an older snapshot is upgraded when it is read (``RoundSnapshot.load``), so a round
analysed by an earlier release still renders.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SNAPSHOT_VERSION = 2


class _Model(BaseModel):
    # Stored snapshots may carry keys a later release dropped: they are ignored, not an error.
    model_config = ConfigDict(extra="ignore")


class Stats(_Model):
    """One rating item's descriptive figures (None where undefined, e.g. no answers)."""

    n: int = 0
    missing: int = 0
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    iqr: float | None = None
    mean: float | None = None
    sd: float | None = None
    cv: float | None = None
    agreement: float | None = None
    opposition: float | None = None
    ad_m: float | None = None
    rwg: float | None = None
    cns: float | None = None  # Tastle-Wierman consensus (older snapshots: None)
    dnt: float | None = None
    ipr: float | None = None
    ipras: float | None = None
    di: float | None = None
    rand_class: str | None = None
    median_ci: list[float | None] | None = None
    agreement_ci: list[float | None] | None = None
    distribution: dict[str, float] = Field(default_factory=dict)

    def count(self, point: int | float) -> float:
        return self.distribution.get(str(int(point)) if float(point).is_integer() else repr(float(point)), 0.0)


class GroupStats(_Model):
    n: int = 0
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    agreement: float | None = None
    distribution: dict[str, float] = Field(default_factory=dict)


class _ItemResult(_Model):
    item_id: int
    theme_id: int | None = None
    text: str = ""
    n: int = 0  # experts who answered the item
    consensus: bool = False
    weight: float | None = None
    rank: int | None = None
    reasons: list[str] = Field(default_factory=list)


class RatingResult(_ItemResult):
    kind: Literal["rating"] = "rating"
    stats: Stats = Field(default_factory=Stats)
    weighted_stats: Stats | None = None
    by_group: dict[str, GroupStats] = Field(default_factory=dict)

    @property
    def shown_stats(self) -> Stats:
        """The figures the consensus rule read: weighted when the study weights experts."""
        return self.weighted_stats or self.stats


class OpenResult(_ItemResult):
    kind: Literal["open"] = "open"
    answers: int = 0
    texts: list[str] = Field(default_factory=list)  # anonymous, in an order that does not follow who answered


class ChoiceResult(_ItemResult):
    kind: Literal["choice"] = "choice"
    multiple: bool = False
    counts: dict[str, int] = Field(default_factory=dict)
    shares: dict[str, float] = Field(default_factory=dict)  # of the experts who answered (0..1)
    by_group: dict[str, dict[str, int]] = Field(default_factory=dict)  # group -> option -> count
    group_n: dict[str, int] = Field(default_factory=dict)


class RankedOption(_Model):
    option: str
    mean_rank: float | None = None
    borda: float | None = None
    n_ranked: int = 0


class RankingResult(_ItemResult):
    kind: Literal["ranking"] = "ranking"
    ranking: list[RankedOption] = Field(default_factory=list)  # in the item's option order
    order: list[str] = Field(default_factory=list)  # the group's order, best first
    kendall_w: float | None = None
    # per stakeholder group: each option's mean rank, and how many ranked (older snapshots: empty)
    by_group: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    group_n: dict[str, int] = Field(default_factory=dict)

    @property
    def in_order(self) -> list[RankedOption]:
        """The options in the group's order (the item's order when nobody ranked)."""
        by_option = {r.option: r for r in self.ranking}
        ordered = [by_option[o] for o in self.order if o in by_option]
        return ordered + [r for r in self.ranking if r.option not in self.order]


class EstimateResult(_ItemResult):
    kind: Literal["estimate"] = "estimate"
    quantiles: list[float] = Field(default_factory=list)
    median_of_quantiles: list[float] | None = None
    is_seed: bool = False
    # per stakeholder group: the median of each quantile, and how many answered (older snapshots: empty)
    by_group: dict[str, list[float]] = Field(default_factory=dict)
    group_n: dict[str, int] = Field(default_factory=dict)


ItemResult = Annotated[
    RatingResult | OpenResult | ChoiceResult | RankingResult | EstimateResult, Field(discriminator="kind")
]


class Participation(_Model):
    expert_id: int
    pseudonym: str
    group: str = ""
    weight: float = 1.0
    answered: int = 0
    items: int = 0
    submitted: bool = False
    opened: bool = False
    # since the round before: answers changed (that could move toward the median) and how many did
    changed: int | None = None
    toward_median: int | None = None


class StabilityEntry(_Model):
    item_id: int
    from_round: int
    to_round: int
    n_paired: int = 0
    wilcoxon_p: float | None = None
    wilcoxon_method: str | None = None  # "exact" or "normal" (scoring.signed_rank_test); older snapshots: None
    cv_change: float | None = None
    pct_change: float | None = None
    stable: bool = False
    unchanged: bool = False
    # McNemar's test of the share inside the agreement band (older snapshots: None)
    agreement_p: float | None = None
    agreement_method: str | None = None
    # moves toward the median of the round before (scoring.conformity; older snapshots: None)
    changed: int | None = None
    toward_median: int | None = None
    toward_unreasoned: int | None = None
    conformity_p: float | None = None
    conforming: bool = False


class CampItem(_Model):
    """An item that separates the dissenting camp from the rest of the panel."""

    item_id: int
    text: str = ""
    panel_median: float | None = None  # the majority's median
    camp_median: float | None = None
    reasons: list[str] = Field(default_factory=list)  # the camp's reasons, in an order naming nobody


class CampResult(_Model):
    """A coherent minority of the panel (scoring.camps): how many of how many, how clearly apart
    (mean silhouette width), and on which items."""

    size: int
    of: int
    silhouette: float
    items: list[CampItem] = Field(default_factory=list)


class ThemeResult(_Model):
    theme_id: int | None = None
    title: str = "—"
    score: float | None = None
    weight: float | None = None
    rank: int | None = None


class PanelFigures(_Model):
    kendall_w: float | None = None
    kendall_w_uncorrected: float | None = None
    kendall_chi2: float | None = None
    kendall_df: int | None = None
    kendall_p: float | None = None
    kendall_n_judges: int | None = None
    fleiss_kappa: float | None = None
    krippendorff_alpha_nominal: float | None = None
    krippendorff_alpha_ordinal: float | None = None
    krippendorff_alpha_interval: float | None = None


class CookeScore(_Model):
    expert: str
    calibration: float | None = None
    information_all: float | None = None
    information_seed: float | None = None
    combined: float | None = None
    weight: float | None = None


class CookeScores(_Model):
    alpha: float | None = None
    experts: list[CookeScore] = Field(default_factory=list)
    error: str | None = None


class SubsetDesign(_Model):
    """A round that gave each expert a random subset of its items: each item's statistics are over
    the experts it was drawn for (Kendall's W, which needs every expert to rate every item, is not
    computed)."""

    items_per_expert: int
    min_raters_per_item: int | None = None
    raters: dict[int, int] = Field(default_factory=dict)  # item -> the experts it was drawn for
    below_minimum: list[int] = Field(default_factory=list)  # rating items answered by fewer: no verdict

    @property
    def fewest_raters(self) -> int:
        return min(self.raters.values(), default=0)

    @property
    def most_raters(self) -> int:
        return max(self.raters.values(), default=0)


class RoundSnapshot(_Model):
    """Everything known of a round once it is analysed."""

    version: int = SNAPSHOT_VERSION
    round: int
    computed_at: str = ""
    scale: list[int] = Field(default_factory=lambda: [1, 9])
    agree: list[float] = Field(default_factory=lambda: [7.0, 9.0])
    oppose: list[float] = Field(default_factory=lambda: [1.0, 3.0])
    quantile_method: str = "linear"
    weighted: bool = False
    bootstrap: int = 0
    consensus_rule: str = ""
    stopping_rule: str = ""
    invited: int = 0
    analysed_experts: int = 0
    responded: int = 0
    submitted: int = 0
    experts: list[Participation] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    items: list[ItemResult] = Field(default_factory=list)
    themes: list[ThemeResult] = Field(default_factory=list)
    panel: PanelFigures = Field(default_factory=PanelFigures)
    stability: list[StabilityEntry] = Field(default_factory=list)
    consensus_items: int = 0
    rating_items: int = 0
    consensus_share: float = 0.0
    stable_share: float | None = None
    stop: bool = False
    stop_values: dict[str, Any] = Field(default_factory=dict)
    cooke: CookeScores | None = None
    camp: CampResult | None = None  # a coherent dissenting minority (older snapshots: None)
    apmo: float | None = None  # the average percentage of majority opinions (older snapshots: None)
    subsets: SubsetDesign | None = None  # the round gave each expert a random subset of its items

    @classmethod
    def load(cls, data: dict[str, Any]) -> RoundSnapshot:
        """A stored snapshot, upgraded to this version if it is older."""
        return cls.model_validate(upgrade(data))

    def item(self, item_id: int) -> ItemResult | None:
        return next((e for e in self.items if e.item_id == item_id), None)

    def of_kind(self, kind: str) -> list[Any]:
        return [e for e in self.items if e.kind == kind]

    def non_respondents(self) -> list[Participation]:
        """Experts invited to the round who answered nothing in it."""
        return [p for p in self.experts if p.answered == 0]


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored snapshot to ``SNAPSHOT_VERSION`` (version 1 had no ``version`` key)."""
    version = int(data.get("version") or 1)
    if version >= SNAPSHOT_VERSION:
        return data
    data = dict(data)
    items = []
    for entry in data.get("items", []):
        entry = dict(entry)
        if entry.get("kind") == "choice" and "shares" not in entry:
            # version 1 kept counts only; the share is of the experts who answered the item
            n = entry.get("n") or 0
            entry["shares"] = {o: (c / n if n else 0.0) for o, c in (entry.get("counts") or {}).items()}
        if entry.get("kind") == "rating":
            entry.setdefault("n", (entry.get("stats") or {}).get("n", 0))
        if entry.get("kind") == "ranking":
            ranked = [r for r in entry.get("ranking") or [] if r.get("mean_rank") is not None]
            entry.setdefault("order", [r["option"] for r in sorted(ranked, key=lambda r: r["mean_rank"])])
        items.append(entry)
    data["items"] = items
    if not data.get("panel"):
        data["panel"] = {}
    if data.get("cooke") is not None and not isinstance(data["cooke"], dict):
        data["cooke"] = None
    data["version"] = SNAPSHOT_VERSION
    return data
