"""One option (radio) or several (check boxes) among the item's options."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

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
from app.rounds.snapshot import ChoiceResult
from app.studies.models import Item, Study


@dataclass
class OptionShare:
    option: str
    count: int
    share: float
    mine: bool


@dataclass
class ChoiceFeedback:
    n: int
    multiple: bool
    options: list[OptionShare]
    own_previous: list[str] | None = None
    by_group: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


class ChoiceKind(Kind):
    name = "choice"
    report_title = N_("Choice questions")

    def read_form(self, item: Item, form: Any) -> dict[str, Any]:
        return {"values": [v for v in form.getlist(f"c{item.id}") if v]}

    def clean(self, item: Item, study: Study, data: AnswerIn) -> CleanAnswer:
        reason = clean_text(data.reason, REASON_LIMIT)
        chosen = [str(v) for v in (data.values or [])]
        unknown = [c for c in chosen if c not in item.options]
        if unknown:
            raise ValueError(Message("%(unknown)s is not one of the options", unknown=unknown[0]))
        if len(set(chosen)) != len(chosen):
            raise ValueError(Message("an option is chosen twice"))
        if not item.multiple and len(chosen) > 1:
            raise ValueError(Message("choose one option"))
        return CleanAnswer(None, sorted(chosen, key=item.options.index) or None, None, reason, data.unable)

    def summarize(self, item: Item, answers: list[GivenAnswer], groups: Mapping[int, str], salt: str) -> ChoiceResult:
        given_by_group: dict[str, list[Sequence[str]]] = {}
        for a in answers:
            if a.values:
                given_by_group.setdefault(groups.get(a.expert_id, ""), []).append(a.values)
        by_group = {key: Counter(chain.from_iterable(chosen)) for key, chosen in given_by_group.items()}
        group_n = {key: len(chosen) for key, chosen in given_by_group.items()}
        counts = sum(by_group.values(), Counter())
        n = sum(group_n.values())
        return ChoiceResult(
            item_id=item.id,
            theme_id=item.theme_id,
            text=item.text,
            n=n,
            multiple=item.multiple,
            counts={o: counts.get(o, 0) for o in item.options},
            shares={o: (counts.get(o, 0) / n if n else 0.0) for o in item.options},
            by_group={g: {o: c.get(o, 0) for o in item.options} for g, c in sorted(by_group.items())},
            group_n=dict(sorted(group_n.items())),
        )

    def feedback(self, entry: ChoiceResult, own: Any, context: FeedbackContext) -> ChoiceFeedback | None:
        settings = context.settings
        mine = list(own.values or []) if own is not None and settings.get("own_previous", True) else []
        groups = [
            {
                "label": context.group_label(key),
                "n": entry.group_n[key],
                "shares": [(o, entry.by_group[key].get(o, 0) / entry.group_n[key]) for o in entry.counts],
            }
            for key in (groups_to_show(entry.group_n, entry.n) if settings.get("by_group") else [])
        ]
        reasons = others_reasons(entry, own)
        return ChoiceFeedback(
            n=entry.n,
            multiple=entry.multiple,
            options=[OptionShare(o, c, entry.shares.get(o, 0.0), o in mine) for o, c in entry.counts.items()],
            own_previous=mine if own is not None and settings.get("own_previous", True) else None,
            by_group=groups,
            reasons=reasons if settings.get("reasons", True) else [],
        )
