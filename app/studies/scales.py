"""Checks of a rating scale's parts, shared by the protocol (the study's anchors) and the design
(an item's own anchors)."""

from __future__ import annotations

from app.errors import Message


def anchor_problem(key: str, low: int, high: int) -> Message | None:
    """Why an anchor's key is not a point of the scale ``low``-``high``, or None."""
    digits = key.removeprefix("-")
    if 0 < len(digits) <= 9 and digits.isascii() and digits.isdigit() and low <= int(key) <= high:
        return None
    return Message(
        "Anchor %(key)s is not a point of the scale %(scale_min)s-%(scale_max)s.",
        key=key,
        scale_min=low,
        scale_max=high,
    )
