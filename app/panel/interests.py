"""Conflicts of interest declared by the experts themselves, as they agree to take part, where the
study's information for participants asks for them (ACCORD O2: "State any potential conflicts of
interests, including among those directing the consensus study and panellists")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.db import utcnow
from app.errors import InvalidInput, Message
from app.panel.models import Expert

MAX_TEXT = 2000


def declare(expert: Expert, form: Mapping[str, Any], version: int) -> None:
    """Keep what the expert declared on the consent form (read from ``interests`` and
    ``interests_text``); refused, with nothing kept, when they said neither."""
    choice = str(form.get("interests", ""))
    text = str(form.get("interests_text", "")).strip()
    if choice not in ("none", "some"):
        raise InvalidInput(
            Message("Please say whether you have interests to declare."), fields={"interests": Message("Choose one.")}
        )
    if choice == "some" and not text:
        raise InvalidInput(
            Message("Please describe the interests you declare."),
            fields={"interests_text": Message("Describe them in a few words.")},
        )
    if choice == "some" and len(text) > MAX_TEXT:
        raise InvalidInput(
            Message("At most %(count)s characters.", count=MAX_TEXT), fields={"interests_text": Message("Too long.")}
        )
    expert.interests = {
        "declared": choice,
        "text": text if choice == "some" else "",
        "version": version,
        "at": utcnow().isoformat(),
    }


@dataclass(frozen=True)
class Declarations:
    """What the panel declared, for the report: how many were asked, said none, declared some."""

    asked: int
    none: int
    some: list[tuple[str, str]]  # (pseudonym, what they declared)


def declarations(experts: Sequence[Expert]) -> Declarations | None:
    """None when no expert was asked (the study never asked for declarations)."""
    asked = [e for e in experts if e.interests.get("declared")]
    if not asked:
        return None
    some = sorted((e.pseudonym, e.interests.get("text", "")) for e in asked if e.interests["declared"] == "some")
    return Declarations(len(asked), sum(1 for e in asked if e.interests["declared"] == "none"), some)
