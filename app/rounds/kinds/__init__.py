"""The question kinds, registered once: ``kind_of(item)`` gives the class that handles an item.

Adding a kind is one class here (and its design-side schema in ``app/studies``), its four
templates (see ``base``), and one collector in ``static/js/autosave.js``.
"""

from __future__ import annotations

from app.rounds.kinds.base import (
    ANSWER_FIELDS,
    MIN_GROUP_SIZE,
    REASON_LIMIT,
    TEXT_LIMIT,
    AnswerIn,
    CleanAnswer,
    FeedbackContext,
    GivenAnswer,
    Kind,
    anonymous_order,
    same_answer,
)
from app.rounds.kinds.choice import ChoiceKind
from app.rounds.kinds.estimate import EstimateKind
from app.rounds.kinds.open import OpenKind
from app.rounds.kinds.ranking import RankingKind
from app.rounds.kinds.rating import RatingKind, scale_of

RATING = RatingKind()  # the kind consensus is defined on: the analysis summarises it as one matrix
KINDS: dict[str, Kind] = {kind.name: kind for kind in (RATING, ChoiceKind(), RankingKind(), EstimateKind(), OpenKind())}


def kind_of(item_or_name: object) -> Kind:
    name = item_or_name if isinstance(item_or_name, str) else getattr(item_or_name, "kind", None)
    try:
        return KINDS[str(name)]
    except KeyError:
        raise ValueError(f"unknown item kind {name!r}") from None


__all__ = [
    "ANSWER_FIELDS",
    "KINDS",
    "MIN_GROUP_SIZE",
    "RATING",
    "REASON_LIMIT",
    "TEXT_LIMIT",
    "AnswerIn",
    "CleanAnswer",
    "FeedbackContext",
    "GivenAnswer",
    "Kind",
    "anonymous_order",
    "kind_of",
    "same_answer",
    "scale_of",
]
