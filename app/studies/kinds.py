"""The question kinds on the design side, registered once: what each kind needs of its item (checked
when an item is written or imported), which fields a researcher edits, how it is labelled on the
design page and how it is written to a protocol file.

The answering and analysis side of each kind lives in ``app.rounds.kinds``; the two registries
name the same kinds (a test checks it).
"""

from __future__ import annotations

from typing import Any, ClassVar

from app.errors import FieldValueError, Message
from app.i18n import N_


class DesignKind:
    name: ClassVar[str]
    label: ClassVar[str]  # for the design page's list of kinds (translated where shown)
    has_options: ClassVar[bool] = False  # the researcher writes the options (one per line)

    def check(self, spec: Any) -> None:
        """Refuse an item this kind cannot ask (ValueError with a message for the researcher);
        may tidy the spec in place."""
        if spec.is_seed:
            raise FieldValueError(
                Message("a seed question is an estimate item with a known answer (realization)"), "kind"
            )

    def export(self, item: Any, entry: dict[str, Any]) -> None:
        """Add this kind's own fields to an item's entry in a protocol file."""


def clean_options(options: list[str], kind: str) -> list[str]:
    """Two options or more, each once: "Price" and "price" are one option to an expert."""
    cleaned = [o.strip() for o in options if o.strip()]
    if len(cleaned) < 2:
        raise FieldValueError(Message("a %(kind)s item needs at least two options", kind=Message(kind)), "options")
    seen: set[str] = set()
    for option in cleaned:
        if option.casefold() in seen:
            raise FieldValueError(
                Message("options must be different from each other: “%(option)s” is given twice", option=option),
                "options",
            )
        seen.add(option.casefold())
    return cleaned


class RatingDesign(DesignKind):
    name = "rating"
    label = N_("rating on the study's scale")


class OpenDesign(DesignKind):
    name = "open"
    label = N_("open text")


class _WithOptions(DesignKind):
    """A kind whose items list options the researcher writes."""

    has_options = True

    def check(self, spec: Any) -> None:
        super().check(spec)
        spec.options = clean_options(spec.options, self.name)

    def export(self, item: Any, entry: dict[str, Any]) -> None:
        entry["options"] = list(item.options)


class ChoiceDesign(_WithOptions):
    name = "choice"
    label = N_("choice")

    def export(self, item: Any, entry: dict[str, Any]) -> None:
        super().export(item, entry)
        if item.multiple:
            entry["multiple"] = True


class RankingDesign(_WithOptions):
    name = "ranking"
    label = N_("ranking")


class EstimateDesign(DesignKind):
    name = "estimate"
    label = N_("numeric estimate (5 / 50 / 95 %%)")

    def check(self, spec: Any) -> None:
        if spec.is_seed and spec.realization is None:
            raise FieldValueError(
                Message("a seed question is an estimate item with a known answer (realization)"), "realization"
            )
        q = spec.quantiles
        if not q or any(not 0 < x < 1 for x in q) or any(b <= a for a, b in zip(q, q[1:], strict=False)):
            raise FieldValueError(
                Message("quantiles must increase strictly between 0 and 1, such as 0.05, 0.5, 0.95"), "quantiles"
            )

    def export(self, item: Any, entry: dict[str, Any]) -> None:
        entry["quantiles"] = list(item.quantiles)
        if item.is_seed:
            entry["is_seed"] = True
            entry["realization"] = item.realization


DESIGN_KINDS: dict[str, DesignKind] = {
    kind.name: kind for kind in (RatingDesign(), OpenDesign(), ChoiceDesign(), RankingDesign(), EstimateDesign())
}


def design_kind(name: str) -> DesignKind:
    try:
        return DESIGN_KINDS[name]
    except KeyError:
        raise ValueError(Message("unknown item kind %(kind)s", kind=name)) from None
