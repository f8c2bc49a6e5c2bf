"""A numeric estimate given as quantiles (e.g. 5 %, 50 %, 95 %); seed items have a known answer."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.errors import Message
from app.i18n import N_
from app.rounds.kinds.base import (
    REASON_LIMIT,
    AnswerIn,
    CleanAnswer,
    FeedbackContext,
    GivenAnswer,
    Kind,
    clean_text,
    groups_to_show,
    others_reasons,
)
from app.rounds.snapshot import EstimateResult
from app.studies.models import Item, Study


@dataclass
class EstimateFeedback:
    n: int
    quantiles: list[float]
    medians: list[float] | None
    own_previous: list[float] | None = None
    reasons: list[str] = field(default_factory=list)
    by_group: list[dict[str, Any]] = field(default_factory=list)  # label, n, the medians of the values

    @property
    def rows(self) -> list[tuple[float, float | None, float | None]]:
        """(quantile, the panel's median of it, the expert's own previous value)."""
        own = self.own_previous or []
        medians = self.medians or []
        return [
            (q, medians[k] if k < len(medians) else None, own[k] if k < len(own) else None)
            for k, q in enumerate(self.quantiles)
        ]


class EstimateKind(Kind):
    name = "estimate"
    report_title = N_("Estimates")

    def read_form(self, item: Item, form: Any) -> dict[str, Any]:
        return {"values": [form.get(f"q{item.id}_{k}") or "" for k in range(len(item.quantiles))]}

    def clean(self, item: Item, study: Study, data: AnswerIn) -> CleanAnswer:
        reason = clean_text(data.reason, REASON_LIMIT)
        raw = data.values or []
        if all(v in (None, "") for v in raw):
            return CleanAnswer(None, None, None, reason, data.unable)
        if len(raw) != len(item.quantiles):
            raise ValueError(Message("give all %(count)s values", count=len(item.quantiles)))
        try:
            numbers = [float(v) for v in raw]
        except (TypeError, ValueError):
            raise ValueError(Message("the estimates must be numbers")) from None
        if not all(math.isfinite(n) for n in numbers):
            raise ValueError(Message("the estimates must be numbers"))
        if any(b < a for a, b in zip(numbers, numbers[1:], strict=False)):
            raise ValueError(Message("the low, middle and high estimates must go up"))
        return CleanAnswer(None, numbers, None, reason, data.unable)

    def summarize(self, item: Item, answers: list[GivenAnswer], groups: Mapping[int, str], salt: str) -> EstimateResult:
        width = len(item.quantiles)
        given = [a for a in answers if a.values and len(a.values) == width]
        rows = [a.values for a in given]
        values = np.array(rows, dtype=np.float64).reshape(len(rows), width)
        labels = np.array([groups.get(a.expert_id, "") for a in given], dtype=object)
        by_group = {
            key: [float(v) for v in np.median(values[labels == key], axis=0)]
            for key in sorted({str(label) for label in labels if label})
        }
        return EstimateResult(
            item_id=item.id,
            theme_id=item.theme_id,
            text=item.text,
            n=len(rows),
            quantiles=list(item.quantiles),
            median_of_quantiles=[float(np.median(values[:, k])) for k in range(width)] if rows else None,
            is_seed=bool(item.is_seed),
            by_group=by_group,
            group_n={key: int((labels == key).sum()) for key in by_group},
        )

    def feedback(self, entry: EstimateResult, own: Any, context: FeedbackContext) -> EstimateFeedback | None:
        settings = context.settings
        show_own = settings.get("own_previous", True) and own is not None and bool(own.values)
        reasons = others_reasons(entry, own)
        return EstimateFeedback(
            n=entry.n,
            quantiles=entry.quantiles,
            medians=entry.median_of_quantiles if settings.get("median_iqr", True) else None,
            own_previous=[float(v) for v in own.values] if show_own else None,
            reasons=reasons if settings.get("reasons", True) else [],
            by_group=[
                {"label": context.group_label(key), "n": entry.group_n[key], "medians": entry.by_group.get(key, [])}
                for key in (groups_to_show(entry.group_n, entry.n) if settings.get("by_group") else [])
            ]
            if settings.get("median_iqr", True)
            else [],
        )
