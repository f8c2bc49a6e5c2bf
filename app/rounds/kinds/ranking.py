"""The item's options put in order (1 = first). Ties are refused, never renumbered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app import scoring
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
from app.rounds.snapshot import RankedOption, RankingResult
from app.studies.models import Item, Study

TIE = Message("Give each option a different rank.")


@dataclass
class RankedRow:
    option: str
    mean_rank: float | None
    borda: float | None
    group_position: int | None  # 1 = the group's first
    own_rank: int | None


@dataclass
class RankingFeedback:
    n: int
    rows: list[RankedRow]  # in the group's order
    kendall_w: float | None
    own_previous: list[str] | None = None
    reasons: list[str] = field(default_factory=list)
    by_group: list[dict[str, Any]] = field(default_factory=list)  # label, n, each option's mean rank


def _f(value: float) -> float | None:
    return None if value != value else float(value)


class RankingKind(Kind):
    name = "ranking"
    report_title = N_("Ranking questions")

    def read_form(self, item: Item, form: Any) -> dict[str, Any]:
        return {"ranks": {option: form.get(f"k{item.id}_{n}") for n, option in enumerate(item.options)}}

    def clean(self, item: Item, study: Study, data: AnswerIn) -> CleanAnswer:
        reason = clean_text(data.reason, REASON_LIMIT)
        ranked = self._order(item, data.ranks) if data.ranks is not None else [str(v) for v in data.values or []]
        unknown = [r for r in ranked if r not in item.options]
        if unknown:
            raise ValueError(Message("%(unknown)s is not one of the options", unknown=unknown[0]))
        if len(set(ranked)) != len(ranked):
            raise ValueError(Message("each option can have only one rank"))
        return CleanAnswer(None, ranked or None, None, reason, data.unable)

    @staticmethod
    def _order(item: Item, ranks: Mapping[str, Any]) -> list[str]:
        """Options by the rank chosen for them; a tie or a rank out of range is refused (the same
        message from autosave and from the page's Save and Submit)."""
        given: dict[str, int] = {}
        for option, rank in ranks.items():
            if rank in (None, ""):
                continue
            if option not in item.options:
                raise ValueError(Message("%(unknown)s is not one of the options", unknown=option))
            try:
                number = int(str(rank))
            except ValueError:
                raise ValueError(TIE) from None
            if not 1 <= number <= len(item.options):
                raise ValueError(TIE)
            given[option] = number
        if len(set(given.values())) != len(given):
            raise ValueError(TIE)
        return sorted(given, key=given.__getitem__)

    def summarize(self, item: Item, answers: list[GivenAnswer], groups: Mapping[int, str], salt: str) -> RankingResult:
        given = [a for a in answers if a.values]
        orders = [tuple(a.values or ()) for a in given]
        rows: dict[tuple[str, ...], list[float]] = {}  # a big round gives a few orders many times
        for order in set(orders):
            position = {option: k + 1 for k, option in enumerate(order)}
            rows[order] = [float(position.get(option, np.nan)) for option in item.options]
        ranks = np.array([rows[order] for order in orders], dtype=np.float64).reshape(len(given), len(item.options))
        summary = scoring.summarize_ranking(ranks) if given and item.options else None
        labels = [groups.get(a.expert_id, "") for a in given]
        by_group: dict[str, dict[str, float | None]] = {}
        for key in sorted({label for label in labels if label}):
            means = scoring.summarize_ranking(ranks[[label == key for label in labels]]).mean_rank
            by_group[key] = {o: _f(means[k]) for k, o in enumerate(item.options)}
        return RankingResult(
            item_id=item.id,
            theme_id=item.theme_id,
            text=item.text,
            n=len(given),
            ranking=[
                RankedOption(
                    option=o,
                    mean_rank=_f(summary.mean_rank[k]) if summary else None,
                    borda=_f(summary.borda[k]) if summary else None,
                    n_ranked=int(summary.n_ranked[k]) if summary else 0,
                )
                for k, o in enumerate(item.options)
            ],
            order=[item.options[k] for k in summary.order] if summary else [],
            kendall_w=_f(summary.kendall.w) if summary else None,
            by_group=by_group,
            group_n={key: labels.count(key) for key in by_group},
        )

    def feedback(self, entry: RankingResult, own: Any, context: FeedbackContext) -> RankingFeedback | None:
        settings = context.settings
        show_own = settings.get("own_previous", True) and own is not None
        mine = list(own.values or []) if show_own else []
        position = {o: k + 1 for k, o in enumerate(entry.order)}
        by_option = {r.option: r for r in entry.ranking}
        order = entry.order or [r.option for r in entry.ranking]
        rows = [
            RankedRow(
                option=o,
                mean_rank=by_option[o].mean_rank if o in by_option else None,
                borda=by_option[o].borda if o in by_option else None,
                group_position=position.get(o),
                own_rank=mine.index(o) + 1 if o in mine else None,
            )
            for o in order
        ]
        reasons = others_reasons(entry, own)
        return RankingFeedback(
            n=entry.n,
            rows=rows,
            kendall_w=entry.kendall_w,
            own_previous=mine if show_own else None,
            reasons=reasons if settings.get("reasons", True) else [],
            by_group=[
                {"label": context.group_label(key), "n": entry.group_n[key], "means": entry.by_group.get(key, {})}
                for key in (groups_to_show(entry.group_n, entry.n) if settings.get("by_group") else [])
            ],
        )
