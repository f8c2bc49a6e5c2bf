"""The analysis of a round as a pure function: its answers in, its snapshot out. No database, HTTP or
templates: ``compute`` is tested on rounds built in memory, and ``analysis`` feeds it what it gathers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from app import scoring
from app.db import utcnow
from app.panel.models import ExpertStatus
from app.rounds.kinds import RATING, GivenAnswer, anonymous_order, kind_of
from app.rounds.snapshot import (
    SNAPSHOT_VERSION,
    CampItem,
    CampResult,
    CookeScore,
    CookeScores,
    ItemResult,
    PanelFigures,
    Participation,
    RoundSnapshot,
    StabilityEntry,
    SubsetDesign,
    ThemeResult,
)
from app.serialization import json_safe
from app.studies.models import Item, Study

BOOTSTRAP_CELL_BUDGET = 2_000_000  # resamples x experts x items; keeps a big round's analysis fast


@dataclass(frozen=True)
class Panelist:
    """What the analysis needs of an invited expert (no ORM object per expert)."""

    id: int
    pseudonym: str
    stakeholder_group: str
    weight: float
    status: str
    opened_at: datetime | None
    started_at: datetime | None
    submitted_at: datetime | None

    @property
    def took_part(self) -> bool:
        """Saved a change or submitted. From round 2 on, answers are carried forward from the round
        before; an expert who did neither is a non-respondent, whatever was carried for them."""
        return self.started_at is not None or self.submitted_at is not None


@dataclass(frozen=True)
class Protocol:
    """The study's analysis settings, fixed before round 1."""

    scale: tuple[int, int]
    agree: tuple[float, float]
    quantile_method: str
    weighted: bool
    consensus_rule: str
    stopping_rule: str
    max_rounds: int

    @classmethod
    def of(cls, study: Study) -> Protocol:
        return cls(
            scale=(study.scale_min, study.scale_max),
            agree=(study.agree_low, study.agree_high),
            quantile_method=study.quantile_method,
            weighted=study.weighting.get("scheme", "equal") != "equal",
            consensus_rule=study.consensus_rule,
            stopping_rule=study.stopping_rule,
            max_rounds=study.max_rounds,
        )


@dataclass(frozen=True)
class DrawnItems:
    """The items drawn for each expert, in a round that gives each a random subset, as the analysis
    reads them."""

    design: SubsetDesign
    per_expert: Mapping[int, int]  # expert -> how many items (of every kind) were drawn for them
    asked: np.ndarray  # analysed experts x rating items (sorted by id): True where drawn


@dataclass
class RoundAnswers:
    """A round's answers as the analysis reads them: gathered from the database, or built by a test."""

    round_id: int
    number: int
    items: list[Item]
    invited: list[Panelist]
    matrix: np.ndarray  # analysed experts x rating items (sorted by id); NaN = no rating
    answered: np.ndarray  # per analysed expert: rating items answered (a rating or "unable")
    others: dict[int, list[GivenAnswer]] = field(default_factory=dict)  # other kinds, per item
    reasons: dict[int, list[str]] = field(default_factory=dict)
    themes: dict[int | None, str] = field(default_factory=dict)  # theme id -> title
    previous_number: int | None = None
    previous_matrix: np.ndarray | None = None  # the same experts x items in the round before
    reason_of: dict[tuple[int, int], str] = field(default_factory=dict)  # (expert, item) -> the reason given
    # what the panel was shown after the round before: each rating item's median, and its consensus
    previous_medians: dict[int, float] = field(default_factory=dict)
    previous_consensus: set[int] = field(default_factory=set)
    drawn: DrawnItems | None = None  # a round that draws a subset of its items for each expert

    @property
    def experts(self) -> list[Panelist]:
        return [p for p in self.invited if p.status != ExpertStatus.WITHDRAWN]

    @property
    def rating_items(self) -> list[Item]:
        return sorted((i for i in self.items if i.kind == "rating"), key=lambda i: i.id)

    def analysed_matrix(self) -> np.ndarray:
        """``matrix`` less the answers carried forward for experts who did not take part: what the
        statistics read, and what the analysis keeps for the next round."""
        matrix = self.matrix.copy()
        matrix[[not e.took_part for e in self.experts]] = np.nan
        return matrix


# An item is flagged "conforming" when it reached consensus in this round (not in the one before),
# its answers moved toward the median the panel was shown more often than random directions would
# (one-sided p below this), and most of those moves came without a reason. The p's null is random
# directions, which regression to the mean also departs from: the threshold is strict, and the flag
# a prompt to read the item, not a finding.
CONFORMITY_ALPHA = 0.01


def compute(data: RoundAnswers, protocol: Protocol, n_boot: int | None = None) -> RoundSnapshot:
    """The round's snapshot from its answers: pure, no database."""
    experts = data.experts
    rating_items = data.rating_items
    took_part = np.array([e.took_part for e in experts], dtype=bool)
    matrix = data.analysed_matrix()
    cells = max(matrix.size, 1)
    n_boot = n_boot if n_boot is not None else int(min(1000, BOOTSTRAP_CELL_BUDGET // cells))
    scale, agree = protocol.scale, protocol.agree
    weights = _mean_one_weights(experts) if protocol.weighted and experts else None

    drawn = data.drawn.asked if data.drawn is not None else None

    def asked(rows: np.ndarray | None = None) -> np.ndarray | None:
        """Who was asked each item, among ``rows``: a missing answer is an asked expert's."""
        return None if drawn is None else drawn if rows is None else drawn[rows]

    summary = scoring.summarize(
        matrix,
        scale=scale,
        agree=agree,
        quantile_method=protocol.quantile_method,
        n_boot=n_boot if took_part.sum() > 1 else 0,
        seed=int(data.round_id or 0),
        asked=asked(),
    )
    weighted = (
        scoring.summarize(matrix, scale=scale, agree=agree, weights=weights, n_boot=0, asked=asked())
        if weights is not None
        else None
    )
    basis = weighted or summary
    rated = summary.n > 0
    by_group: dict[str, scoring.ItemSummary] = {}
    groups = sorted({e.stakeholder_group for e in experts})
    for group in groups:
        rows = np.array([e.stakeholder_group == group for e in experts]) & took_part
        if rows.any():
            by_group[group] = scoring.summarize(
                matrix[rows], scale=scale, agree=agree, quantile_method=protocol.quantile_method, asked=asked(rows)
            )
    consensus = np.zeros(len(rating_items), dtype=bool)
    if rating_items:  # an item nobody rated has no consensus, whatever the rule reads of its NaNs
        # the groups a rule reads: the labelled ones (an expert without a group is in no group), with the
        # experts' weights when the study weights them; one group is the panel itself
        labelled = {
            group: (
                scoring.summarize(
                    matrix[rows],
                    scale=scale,
                    agree=agree,
                    weights=weights[rows],
                    quantile_method=protocol.quantile_method,
                    asked=asked(rows),
                )
                if weights is not None
                else by_group[group]
            )
            for group in by_group
            if group
            for rows in [np.array([e.stakeholder_group == group for e in experts]) & took_part]
        }
        rule_groups = labelled if len(labelled) > 1 else None
        consensus = (
            scoring.consensus(protocol.consensus_rule, basis, groups=rule_groups, round_number=data.number) & rated
        )
    subsets = data.drawn.design if data.drawn is not None else None
    if subsets is not None and subsets.min_raters_per_item and rating_items:
        # an item answered by fewer experts than the design promised gets no consensus verdict
        short = summary.n < subsets.min_raters_per_item
        consensus &= ~short
        subsets = subsets.model_copy(
            update={"below_minimum": [item.id for item, low in zip(rating_items, short, strict=True) if low]}
        )
    importance = (
        scoring.importance_weights(
            basis.mean[rated], [i.theme_id for i, r in zip(rating_items, rated, strict=True) if r], scale
        )
        if rated.any()
        else None
    )
    entries: list[ItemResult] = list(
        RATING.entries(
            rating_items,
            summary,
            weighted,
            by_group,
            consensus,
            _spread(importance, rated),
            data.reasons,
            str(data.round_id),
        )
    )
    group_of = {e.id: e.stakeholder_group for e in experts}
    for item in data.items:
        if item.kind == "rating":
            continue
        entry = kind_of(item).summarize(item, data.others.get(item.id, []), group_of, str(data.round_id))
        entry.reasons = anonymous_order(data.reasons.get(item.id, []), f"{data.round_id}:{item.id}")
        entries.append(entry)
    order = {item.id: k for k, item in enumerate(data.items)}
    entries.sort(key=lambda e: order.get(e.item_id, len(order)))

    stability, stable_share, moves_by_expert = _stability(
        data,
        matrix,
        rating_items,
        agree,
        {item.id: bool(c) for item, c in zip(rating_items, consensus, strict=True)},
        scale,
    )
    panel_figures = (
        PanelFigures.model_validate(scoring.panel_agreement(matrix, scale).as_dict())
        if rating_items
        else PanelFigures()
    )
    if drawn is not None:  # Kendall's W ranks every item by every judge: not in a design of subsets
        panel_figures = panel_figures.model_copy(update=dict.fromkeys(_KENDALL))
    consensus_share = float(consensus.mean()) if len(consensus) else 0.0
    stop = scoring.should_stop(
        protocol.stopping_rule,
        round=data.number,
        max_rounds=protocol.max_rounds,
        consensus_share=consensus_share,
        decided_share=consensus_share,
        stable_share=stable_share if stable_share is not None else 0.0,
        items=len(rating_items),
        consensus_items=int(consensus.sum()),
        panel_size=len(experts),
        # unknown in a design of subsets: a rule on it is neither met nor failed by a made-up 0
        kendall_w=panel_figures.kendall_w if panel_figures.kendall_w is not None else _nan_if(drawn is not None),
    )
    participation = _participation(
        experts, data.answered * took_part, data.others, len(data.items), data.drawn.per_expert if data.drawn else {}
    )
    for entry in participation:  # each expert's moves toward the median shown after the round before
        entry.changed, entry.toward_median = moves_by_expert.get(entry.expert_id, (None, None))
    return RoundSnapshot(
        version=SNAPSHOT_VERSION,
        round=data.number,
        computed_at=utcnow().isoformat(),
        scale=list(scale),
        agree=list(agree),
        oppose=list(scoring.opposite_band(scale, agree)),
        quantile_method=protocol.quantile_method,
        weighted=protocol.weighted,
        bootstrap=n_boot,
        consensus_rule=protocol.consensus_rule,
        stopping_rule=protocol.stopping_rule,
        invited=len(data.invited),
        analysed_experts=len(experts),
        responded=sum(1 for p in participation if p.answered > 0),
        submitted=sum(1 for p in participation if p.submitted),
        experts=participation,
        groups=groups,
        items=entries,
        themes=_themes(importance, data.themes),
        panel=panel_figures,
        stability=stability,
        consensus_items=int(consensus.sum()),
        rating_items=len(rating_items),
        consensus_share=consensus_share,
        stable_share=stable_share,
        stop=bool(stop.stop),
        stop_values=json_safe(stop.values),
        cooke=_cooke(data.items, data.others, experts),
        apmo=_f(scoring.apmo(basis)) if rating_items else None,
        subsets=subsets,
        camp=_camp(
            data, matrix[took_part], [e for e, took in zip(experts, took_part, strict=True) if took], rating_items
        ),
    )


def _nan_if(unknown: bool) -> float:
    return float("nan") if unknown else 0.0


_KENDALL = ("kendall_w", "kendall_w_uncorrected", "kendall_chi2", "kendall_df", "kendall_p", "kendall_n_judges")


def _camp(
    data: RoundAnswers, matrix: np.ndarray, experts: Sequence[Panelist], rating_items: list[Item]
) -> CampResult | None:
    """A coherent minority that rates some items the other way (scoring.camps), with the items
    that separate it and its members' reasons on them, in an order that names nobody."""
    if not rating_items or len(experts) == 0:
        return None
    found = scoring.camps(matrix)
    if not found.coherent:
        return None
    members = [e.id for e, label in zip(experts, found.labels, strict=True) if label == 1]
    items = []
    for k in found.separating:
        item = rating_items[int(k)]
        said = [data.reason_of[(m, item.id)] for m in members if (m, item.id) in data.reason_of]
        items.append(
            CampItem(
                item_id=item.id,
                text=item.text,
                panel_median=_f(found.camp_medians[0, k]),
                camp_median=_f(found.camp_medians[1, k]),
                reasons=anonymous_order(said, f"{data.round_id}:camp:{item.id}"),
            )
        )
    return CampResult(size=found.minority, of=int((found.labels >= 0).sum()), silhouette=found.silhouette, items=items)


def _mean_one_weights(experts: Sequence[Panelist]) -> np.ndarray:
    """Weights with a mean of one: an average expert counts once in weighted statistics."""
    raw = [max(e.weight, 0.0) for e in experts]
    if sum(raw) <= 0:
        return np.ones(len(experts))
    return np.asarray(scoring.normalise_weights(raw, mean_one=True), dtype=np.float64)


@dataclass(frozen=True)
class _Spread:
    item_weight: np.ndarray  # NaN for an item nobody rated
    item_rank: np.ndarray  # 0 for an item nobody rated


def _spread(importance: scoring.ImportanceWeights | None, rated: np.ndarray) -> _Spread | None:
    """Importance weights computed over the rated items, placed back among all rating items
    (an item nobody rated has no weight and no rank)."""
    if importance is None:
        return None
    weight = np.full(len(rated), np.nan)
    rank = np.zeros(len(rated), dtype=np.int64)
    weight[rated] = importance.item_weight
    rank[rated] = importance.item_rank
    return _Spread(weight, rank)


def _participation(
    experts: Sequence[Panelist],
    rating_counts: np.ndarray,
    others: Mapping[int, list[GivenAnswer]],
    n_items: int,
    drawn: Mapping[int, int],
) -> list[Participation]:
    """How many items each expert answered, of the round's items or of those ``drawn`` for them:
    ratings and "unable" from the one fetch, plus answers to the other kinds of items (already
    limited to the experts who took part)."""
    given = Counter(a.expert_id for answers in others.values() for a in answers if not a.unable and a.is_given)
    answered = {p.id: int(n) + given[p.id] for p, n in zip(experts, rating_counts, strict=True)}
    return [
        Participation(
            expert_id=p.id,
            pseudonym=p.pseudonym,
            group=p.stakeholder_group,
            weight=p.weight,
            answered=answered.get(p.id, 0),
            items=drawn.get(p.id, n_items) if drawn else n_items,
            submitted=p.submitted_at is not None,
            opened=p.opened_at is not None,
        )
        for p in experts
    ]


def _themes(importance: scoring.ImportanceWeights | None, titles: Mapping[int | None, str]) -> list[ThemeResult]:
    if importance is None:
        return []
    entries = [
        ThemeResult(
            theme_id=key,
            title=titles.get(key, "—"),
            score=float(importance.theme_score[k]),
            weight=float(importance.theme_weight[k]),
            rank=int(importance.theme_rank[k]),
        )
        for k, key in enumerate(importance.theme_keys)
    ]
    return sorted(entries, key=lambda t: (t.rank or 0, t.title))


def _f(value: float) -> float | None:
    return None if value != value else float(value)


def _stability(
    data: RoundAnswers,
    matrix: np.ndarray,
    rating_items: list[Item],
    agree: tuple[float, float],
    consensus: Mapping[int, bool],
    scale: tuple[float, float],
) -> tuple[list[StabilityEntry], float | None, dict[int, tuple[int, int]]]:
    """Per item: stability, agreement's shift and the moves toward the median; and per expert
    (by id): their answers changed and moved toward the median."""
    earlier = data.previous_matrix
    if earlier is None or data.previous_number is None or not rating_items:
        return [], None, {}
    asked_before = ~np.all(np.isnan(earlier), axis=0)
    if not asked_before.any():
        return [], None, {}
    s = scoring.stability(earlier[:, asked_before], matrix[:, asked_before])
    shifts = scoring.agreement_shift(earlier[:, asked_before], matrix[:, asked_before], agree)
    asked_items = [i for i, asked in zip(rating_items, asked_before, strict=True) if asked]
    moves = scoring.conformity(
        earlier[:, asked_before],
        matrix[:, asked_before],
        medians=[data.previous_medians.get(item.id, np.nan) for item in asked_items],
        scale=scale,
    )
    expert_ids = [e.id for e in data.experts]
    unreasoned = [
        sum(1 for row in np.nonzero(moves.moved_toward[:, k])[0] if (expert_ids[row], item.id) not in data.reason_of)
        for k, item in enumerate(asked_items)
    ]
    entries = [
        StabilityEntry(
            item_id=item.id,
            from_round=data.previous_number,
            to_round=data.number,
            n_paired=int(s.n_paired[k]),
            wilcoxon_p=_f(s.wilcoxon_p[k]),
            wilcoxon_method=s.wilcoxon_method[k] or None,
            cv_change=_f(s.cv_change[k]),
            pct_change=_f(s.pct_change[k]),
            stable=bool(s.pct_change[k] < scoring.STABLE_PCT_CHANGE),
            unchanged=bool(s.unchanged[k]),
            agreement_p=_f(shifts[k].p),
            agreement_method=shifts[k].method or None,
            changed=int(moves.changed[k]),
            toward_median=int(moves.toward[k]),
            toward_unreasoned=unreasoned[k],
            conformity_p=_f(moves.item_p[k]),
            conforming=bool(
                consensus.get(item.id, False)
                and item.id not in data.previous_consensus
                and moves.item_p[k] < CONFORMITY_ALPHA
                and 2 * unreasoned[k] > moves.toward[k]
            ),
        )
        for k, item in enumerate(asked_items)
    ]
    by_expert = {
        expert_id: (int(changed), int(toward))
        for expert_id, changed, toward in zip(expert_ids, moves.expert_changed, moves.expert_toward, strict=True)
    }
    return entries, float(np.mean([e.stable for e in entries])), by_expert


def _cooke(items: list[Item], others: Mapping[int, list[GivenAnswer]], experts: list[Panelist]) -> CookeScores | None:
    """Performance scores when the round has seed questions (estimates with a known answer)."""
    estimates = [i for i in items if i.kind == "estimate"]
    if not any(i.is_seed for i in estimates) or not experts:
        return None
    quantiles = np.array(estimates[0].quantiles)
    estimates = [i for i in estimates if list(i.quantiles) == list(quantiles)]
    index = {i.id: k for k, i in enumerate(estimates)}
    expert_index = {e.id: k for k, e in enumerate(experts)}
    data = np.full((len(experts), len(estimates), len(quantiles)), np.nan)
    for item_id, given in others.items():
        for a in given:
            if item_id in index and a.values and a.expert_id in expert_index and len(a.values) == len(quantiles):
                data[expert_index[a.expert_id], index[item_id]] = a.values
    answered = ~np.isnan(data).any(axis=2)
    keep = answered[:, [i.is_seed for i in estimates]].any(axis=1)
    if keep.sum() < 1:
        return None
    try:
        result = scoring.classical_model(
            scoring.CookeData(
                experts=tuple(e.pseudonym for e, k in zip(experts, keep, strict=True) if k),
                items=tuple(str(i.id) for i in estimates),
                quantiles=quantiles,
                assessments=data[keep],
                realizations=np.array(
                    [i.realization if i.is_seed and i.realization is not None else np.nan for i in estimates]
                ),
                log_scale=np.zeros(len(estimates), dtype=bool),
            ),
            optimise_alpha=True,
        )
    except ValueError as exc:
        return CookeScores(error=str(exc))
    return CookeScores(
        alpha=_f(result.alpha), experts=[CookeScore.model_validate(json_safe(e.__dict__)) for e in result.experts]
    )
