"""A free-text answer. Researchers code the answers into statements that may become items; experts
see the statements their answers fed, and others' raw text only where the protocol says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.i18n import N_
from app.rounds.kinds.base import (
    REASON_LIMIT,
    TEXT_LIMIT,
    AnswerIn,
    CleanAnswer,
    FeedbackContext,
    GivenAnswer,
    Kind,
    anonymous_order,
    clean_text,
)
from app.rounds.snapshot import OpenResult
from app.studies.models import Item, Study


@dataclass
class OpenFeedback:
    n: int
    statements: list[str]
    texts: list[str] = field(default_factory=list)
    own_previous: str | None = None


class OpenKind(Kind):
    name = "open"
    report_title = N_("Open questions and the statements coded from them")
    required = False  # open questions are optional

    def read_form(self, item: Item, form: Any) -> dict[str, Any]:
        return {"text": form.get(f"t{item.id}")}

    def clean(self, item: Item, study: Study, data: AnswerIn) -> CleanAnswer:
        return CleanAnswer(None, None, clean_text(data.text, TEXT_LIMIT), clean_text(data.reason, REASON_LIMIT), False)

    def summarize(self, item: Item, answers: list[GivenAnswer], groups: Mapping[int, str], salt: str) -> OpenResult:
        texts = [a.text for a in answers if a.text]
        return OpenResult(
            item_id=item.id,
            theme_id=item.theme_id,
            text=item.text,
            n=len(texts),
            answers=len(texts),
            texts=anonymous_order(texts, f"{salt}:{item.id}"),
        )

    def feedback(self, entry: OpenResult, own: Any, context: FeedbackContext) -> OpenFeedback | None:
        settings = context.settings
        own_text = own.text if own is not None and settings.get("own_previous", True) else None
        texts = [t for t in entry.texts if t != (own.text if own is not None else None)]
        return OpenFeedback(
            n=entry.answers,
            statements=list(context.statements.get(entry.item_id, [])),
            texts=texts if settings.get("open_answers") else [],
            own_previous=own_text,
        )
