"""What every question kind provides, on the answering and analysis side.

A kind is one class, registered once (as Indico's survey fields): it reads its answer from a
posted page, checks it against its item, says whether it counts as answered, summarises a closed
round's answers into its snapshot entry, and builds the feedback an expert sees in the next
round. Its templates are named after it: ``expert/answer/KIND.html``,
``expert/feedback/KIND.html``, ``researcher/results/KIND.html`` and ``reports/items/KIND.html``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from app.errors import Message
from app.studies.models import Item, Study

TEXT_LIMIT = 5000
REASON_LIMIT = 3000
MIN_GROUP_SIZE = 3  # fewer answers than this in a group and its split is not shown to experts


def groups_to_show(group_n: Mapping[str, int], total: int) -> list[str]:
    """The stakeholder groups whose split experts may see: each of at least ``MIN_GROUP_SIZE``
    answers, and none at all when the answers outside them are fewer than that but not none (their
    figures would follow from the panel's less the groups')."""
    shown = [key for key, n in group_n.items() if key and n >= MIN_GROUP_SIZE]
    rest = total - sum(group_n[key] for key in shown)
    return shown if shown and not 0 < rest < MIN_GROUP_SIZE else []


class AnswerIn(BaseModel):
    """One answer as sent by an expert's page (form or autosave).

    A ranking comes either as ``values`` (the options in order) or as ``ranks`` (option -> rank as
    chosen on the page): ``ranks`` lets the server refuse a tie instead of guessing an order."""

    model_config = ConfigDict(extra="forbid")

    value: float | None = None
    values: list[Any] | None = None
    ranks: dict[str, Any] | None = None
    text: str | None = Field(default=None, max_length=TEXT_LIMIT)
    reason: str | None = Field(default=None, max_length=REASON_LIMIT)
    unable: bool = False


# What an expert gives for an item; the rest of an answer row is bookkeeping.
ANSWER_FIELDS = ("value", "values", "text", "reason", "unable")


@dataclass(frozen=True)
class CleanAnswer:
    value: float | None
    values: list[Any] | None
    text: str | None
    reason: str | None
    unable: bool

    @property
    def is_empty(self) -> bool:
        return self.value is None and not self.values and not self.text and not self.unable

    def same_as(self, stored: Any) -> bool:
        """Nothing to write: the stored answer (a row with its fields) holds the same."""
        return all(getattr(stored, name) == getattr(self, name) for name in ANSWER_FIELDS)


class GivenAnswer(NamedTuple):
    """What the analysis reads of one stored answer: a plain tuple, as a big round holds hundreds of
    thousands of them (no ORM object per answer). Answers that gave the same ``values`` may share
    one tuple of them."""

    expert_id: int
    item_id: int
    value: float | None
    values: Sequence[Any] | None
    text: str | None
    unable: bool
    reason: str | None = None

    @property
    def is_given(self) -> bool:
        return self.unable or self.value is not None or bool(self.values) or bool(self.text)


@dataclass
class FeedbackContext:
    """What a kind's feedback needs besides its snapshot entry and the expert's own answer."""

    study: Study
    settings: Mapping[str, Any]
    group_label: Any  # key -> label
    ranked_items: int = 0  # rating items with an importance rank in the snapshot
    statements: Mapping[int, list[str]] = field(default_factory=dict)  # open item -> coded statements


def clean_text(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.replace("\r\n", "\n").strip()
    if len(value) > limit:
        raise ValueError(Message("at most %(limit)s characters", limit=limit))
    return value or None


def anonymous_order(texts: list[str], salt: str) -> list[str]:
    """A stable order that does not follow who answered first."""
    return sorted(texts, key=lambda t: hashlib.sha256((salt + t).encode()).hexdigest())


def others_reasons(entry: Any, own: Any) -> list[str]:
    """The reasons of an item's snapshot entry, less the expert's own (once): the others' reasons."""
    reasons = list(entry.reasons)
    if own is not None and own.reason in reasons:
        reasons.remove(own.reason)
    return reasons


def same_answer(a: Any, b: Any) -> bool:
    """Two answers (rows or answers) give the same thing, reasons aside."""
    if a is None or b is None:
        return False
    return all(getattr(a, name) == getattr(b, name) for name in ("value", "values", "text", "unable"))


class Kind:
    """One question kind. Subclasses set ``name`` and override what differs."""

    name: ClassVar[str]
    report_title: ClassVar[str]  # the heading of the kind's items in the report (N_ text)
    required: ClassVar[bool] = True  # an empty answer counts as "not answered yet" at submit

    @property
    def answer_template(self) -> str:
        return f"expert/answer/{self.name}.html"

    @property
    def feedback_template(self) -> str:
        return f"expert/feedback/{self.name}.html"

    @property
    def results_template(self) -> str:
        return f"researcher/results/{self.name}.html"

    @property
    def report_template(self) -> str:
        return f"reports/items/{self.name}.html"

    def read_form(self, item: Item, form: Any) -> dict[str, Any]:
        """The answer's fields as posted by the page (names ``X{item id}``), for ``AnswerIn``."""
        raise NotImplementedError

    def clean(self, item: Item, study: Study, data: AnswerIn) -> CleanAnswer:
        """Check an answer against its item; ValueError with a message for the expert."""
        raise NotImplementedError

    def summarize(self, item: Item, answers: list[GivenAnswer], groups: Mapping[int, str], salt: str) -> Any:
        """The item's snapshot entry from the round's answers of the analysed experts."""
        raise NotImplementedError

    def feedback(self, entry: Any, own: Any, context: FeedbackContext) -> Any:
        """What the expert sees of the group in the next round, or None."""
        return None
