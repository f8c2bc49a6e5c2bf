"""A statement rated on the study's scale (1-9 by default), with "unable to rate" where allowed."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from markupsafe import Markup

from app import scoring
from app.errors import Message
from app.i18n import N_
from app.rounds.charts import distribution_svg
from app.rounds.kinds.base import (
    MIN_GROUP_SIZE,
    REASON_LIMIT,
    AnswerIn,
    CleanAnswer,
    FeedbackContext,
    Kind,
    anonymous_order,
    clean_text,
    others_reasons,
)
from app.rounds.snapshot import GroupStats, RatingResult, Stats
from app.studies.models import Item, Study


def scale_of(item: Item, study: Study) -> tuple[int, int]:
    return (
        item.scale_min if item.scale_min is not None else study.scale_min,
        item.scale_max if item.scale_max is not None else study.scale_max,
    )


@dataclass
class RatingFeedback:
    n: int
    median: float | None
    q1: float | None
    q3: float | None
    agreement: float | None
    points: list[int]
    counts: list[float]
    own_previous: float | None = None
    consensus: bool | None = None
    weight: float | None = None
    rank: int | None = None
    of: int | None = None
    reasons: list[str] = field(default_factory=list)
    by_group: list[dict[str, Any]] = field(default_factory=list)
    live: bool = False
    own_unable: bool = False
    chart: Markup = Markup("")

    def far_from_group(self, value: float | None, threshold: float) -> bool:
        return value is not None and self.median is not None and abs(value - self.median) >= threshold


def _weight(importance: Any, j: int) -> float | None:
    if importance is None:
        return None
    value = float(importance.item_weight[j])
    return None if value != value else value


class RatingKind(Kind):
    name = "rating"
    report_title = N_("Results per item")

    def read_form(self, item: Item, form: Any) -> dict[str, Any]:
        value = form.get(f"v{item.id}")
        return {"value": value if value not in (None, "") else None}

    def clean(self, item: Item, study: Study, data: AnswerIn) -> CleanAnswer:
        reason = clean_text(data.reason, REASON_LIMIT)
        low, high = scale_of(item, study)
        if data.unable:
            if not item.allow_unable:
                raise ValueError(Message("this item needs a rating"))
            return CleanAnswer(None, None, None, reason, True)
        value = data.value
        if value is not None:
            if not math.isfinite(value) or not float(value).is_integer() or not low <= value <= high:
                raise ValueError(Message("choose a whole number from %(low)s to %(high)s", low=low, high=high))
            value = float(value)
        return CleanAnswer(value, None, None, reason, False)

    def entries(
        self,
        items: Sequence[Item],
        summary: scoring.ItemSummary,
        weighted: scoring.ItemSummary | None,
        by_group: Mapping[str, scoring.ItemSummary],
        consensus: np.ndarray,
        importance: Any,
        reasons: Mapping[int, list[str]],
        salt: str,
    ) -> list[RatingResult]:
        """The snapshot entries of every rating item of a round, from the round's summaries;
        ``importance`` has ``item_weight`` (NaN: none) and ``item_rank`` (0: none) per item."""
        labels = [str(i.id) for i in items]
        records = summary.records(labels)
        weighted_records = weighted.records(labels) if weighted is not None else None
        group_records = {g: s.records(labels) for g, s in by_group.items()}
        return [
            RatingResult(
                item_id=item.id,
                theme_id=item.theme_id,
                text=item.text,
                n=int(records[j]["n"]),
                stats=Stats.model_validate(records[j]),
                weighted_stats=Stats.model_validate(weighted_records[j]) if weighted_records else None,
                consensus=bool(consensus[j]),
                weight=_weight(importance, j),
                rank=int(importance.item_rank[j]) or None if importance is not None else None,
                by_group={g: GroupStats.model_validate(group_records[g][j]) for g in by_group},
                reasons=anonymous_order(reasons.get(item.id, []), f"{salt}:{item.id}"),
            )
            for j, item in enumerate(items)
        ]

    def feedback(self, entry: RatingResult, own: Any, context: FeedbackContext) -> RatingFeedback:
        study, settings = context.study, context.settings
        points = list(range(study.scale_min, study.scale_max + 1))
        # Experts see the panel as it answered (counts of people, not weights), and its median
        stats = entry.stats
        counts = [float(stats.count(p)) for p in points]
        own_value = own.value if own is not None else None
        reasons = others_reasons(entry, own)
        groups = []
        if settings.get("by_group"):
            for key, g in entry.by_group.items():
                if g.n >= MIN_GROUP_SIZE:
                    groups.append(
                        {
                            "label": context.group_label(key),
                            "n": g.n,
                            "median": g.median,
                            "q1": g.q1,
                            "q3": g.q3,
                            "agreement": g.agreement,
                        }
                    )
        show_own = settings.get("own_previous", True)
        fb = RatingFeedback(
            n=stats.n,
            median=stats.median,
            q1=stats.q1,
            q3=stats.q3,
            agreement=stats.agreement,
            points=points,
            counts=counts,
            own_previous=own_value if show_own else None,
            own_unable=bool(show_own and own is not None and own.unable),
            consensus=entry.consensus if settings.get("consensus", True) else None,
            weight=entry.weight if settings.get("weights", True) else None,
            rank=entry.rank if settings.get("weights", True) else None,
            of=context.ranked_items,
            reasons=reasons if settings.get("reasons", True) else [],
            by_group=groups,
        )
        if settings.get("distribution", True) and fb.n:
            fb.chart = distribution_svg(
                points, counts, own=fb.own_previous, median=fb.median if settings.get("median_iqr", True) else None
            )
        if not settings.get("median_iqr", True):
            fb.median = fb.q1 = fb.q3 = None
        return fb
