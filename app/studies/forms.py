"""Turn the researcher pages' form fields into the studies domain's schemas (and back)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from app.studies.models import Item, Study
from app.studies.schemas import (
    FeedbackSpec,
    GroupSpec,
    ItemCreate,
    NarrowingSpec,
    ProtocolSpec,
    ProtocolUpdate,
    ScaleSpec,
    WeightingSpec,
)
from app.web import pydantic_message, whole_number

FEEDBACK_FIELDS = (
    "distribution",
    "median_iqr",
    "own_previous",
    "reasons",
    "by_group",
    "weights",
    "consensus",
    "open_answers",
)
COMPOSITE_FIELDS = ("weight", "participation", "completeness", "performance", "competence")


def posted(form: Any, defaults: dict[str, Any]) -> dict[str, Any]:
    """The fields of a form as posted, for every field the page shows (unticked boxes are False)."""
    values: dict[str, Any] = {}
    for key, default in defaults.items():
        raw = form.get(key)
        values[key] = bool(raw) if isinstance(default, bool) else (raw if isinstance(raw, str) else "")
    return values


def lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def pairs(text: str | None) -> list[tuple[str, str]]:
    """'key: value' or 'key = value' lines."""
    result = []
    for line in lines(text):
        for separator in (":", "="):
            if separator in line:
                key, value = line.split(separator, 1)
                result.append((key.strip(), value.strip()))
                break
        else:
            result.append((line, ""))
    return result


def _number(form: dict[str, Any], name: str, errors: dict[str, str], default: float | None = None) -> Any:
    raw = (form.get(name) or "").strip()
    if raw == "":
        return default
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        errors[name] = "Enter a number."
        return default
    return int(value) if value.is_integer() else value


def _collect(
    errors: dict[str, str], exc: ValidationError, fields: dict[str, str] | None = None, fallback: str = "form"
) -> None:
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        problem = (error.get("ctx") or {}).get("error")
        name = (fields or {}).get(loc[0], loc[0]) if loc else getattr(problem, "field", None) or fallback
        errors.setdefault(name, pydantic_message(error))


def protocol_from_form(form: dict[str, Any]) -> tuple[ProtocolUpdate | None, dict[str, str]]:
    errors: dict[str, str] = {}
    specs: dict[str, Any] = {}
    scale_min = _number(form, "scale_min", errors, 1)
    scale_max = _number(form, "scale_max", errors, 9)
    agree_low = _number(form, "agree_low", errors, 7)
    agree_high = _number(form, "agree_high", errors, 9)
    try:
        specs["scale"] = ScaleSpec(
            min=scale_min,
            max=scale_max,
            agree=(agree_low, agree_high),
            anchors=dict(pairs(form.get("anchors"))),
            quantile_method=form.get("quantile_method") or "linear",
        )
    except ValidationError as exc:
        _collect(
            errors,
            exc,
            {
                "agree": "agree_low",
                "anchors": "anchors",
                "quantile_method": "quantile_method",
                "min": "scale_min",
                "max": "scale_max",
            },
            "scale_min",
        )
    try:
        specs["protocol"] = ProtocolSpec(
            consensus_rule=form.get("consensus_rule", ""),
            stopping_rule=form.get("stopping_rule", ""),
            max_rounds=_number(form, "max_rounds", errors, 3),
            divergence_threshold=_number(form, "divergence_threshold", errors, 3),
            retire_consensual=bool(form.get("retire_consensual")),
        )
    except ValidationError as exc:
        _collect(errors, exc)
    specs["feedback"] = FeedbackSpec(**{name: bool(form.get(f"feedback_{name}")) for name in FEEDBACK_FIELDS})
    try:
        specs["weighting"] = WeightingSpec(
            scheme=form.get("weighting_scheme") or "equal",
            formula=form.get("weighting_formula", ""),
            field=form.get("weighting_field") or "self_rating",
        )
    except ValidationError as exc:
        _collect(errors, exc, {"scheme": "weighting_scheme", "formula": "weighting_formula"}, "weighting_formula")
    try:
        specs["narrowing"] = NarrowingSpec(
            target=_number(form, "narrowing_target", errors, None),
            keep_group_share=bool(form.get("narrowing_keep_group_share")),
            composite={name: _number(form, f"composite_{name}", errors, 0) or 0 for name in COMPOSITE_FIELDS},
            self_assessment=form.get("self_assessment") or "none",  # its points come from the file or the API
        )
    except ValidationError as exc:
        _collect(
            errors,
            exc,
            {"target": "narrowing_target", "composite": "composite_weight", "self_assessment": "self_assessment"},
            "self_assessment",
        )
    try:
        specs["groups"] = [GroupSpec(key=key, label=label or key) for key, label in pairs(form.get("groups"))]
    except ValidationError as exc:
        _collect(errors, exc, fallback="groups")
        errors["groups"] = "One group per line, as key: label (key in letters, digits, - or _)."
    if errors:
        return None, errors
    try:
        return ProtocolUpdate(**specs), {}
    except ValidationError as exc:
        _collect(errors, exc)
        return None, errors


def protocol_form_values(study: Study) -> dict[str, Any]:
    values: dict[str, Any] = {
        "scale_min": study.scale_min,
        "scale_max": study.scale_max,
        "agree_low": study.agree_low,
        "agree_high": study.agree_high,
        "anchors": "\n".join(f"{k}: {v}" for k, v in study.anchors.items()),
        "quantile_method": study.quantile_method,
        "consensus_rule": study.consensus_rule,
        "stopping_rule": study.stopping_rule,
        "max_rounds": study.max_rounds,
        "divergence_threshold": study.divergence_threshold,
        "retire_consensual": study.retire_consensual,
        "weighting_scheme": study.weighting.get("scheme", "equal"),
        "weighting_formula": study.weighting.get("formula", ""),
        "weighting_field": study.weighting.get("field", "self_rating"),
        "narrowing_target": study.narrowing.get("target") or "",
        "narrowing_keep_group_share": study.narrowing.get("keep_group_share", True),
        "self_assessment": study.narrowing.get("self_assessment", "none"),
        "groups": "\n".join(f"{g['key']}: {g['label']}" for g in study.groups),
    }
    for name in FEEDBACK_FIELDS:
        values[f"feedback_{name}"] = bool(study.feedback.get(name))
    for name in COMPOSITE_FIELDS:
        values[f"composite_{name}"] = (study.narrowing.get("composite") or {}).get(name, 0)
    return values


def item_from_form(form: dict[str, Any]) -> tuple[ItemCreate | None, dict[str, str]]:
    errors: dict[str, str] = {}
    theme = (form.get("theme_id") or "").strip()
    realization = _number(form, "realization", errors, None)
    data = {
        "text": form.get("text", ""),
        "kind": form.get("kind") or "rating",
        "theme_id": whole_number(theme),
        "options": lines(form.get("options")),
        "multiple": bool(form.get("multiple")),
        "allow_unable": bool(form.get("allow_unable")),
        "is_seed": bool(form.get("is_seed")),
        "realization": realization,
        "evidence": (form.get("evidence") or "").strip(),
    }
    if errors:
        return None, errors
    try:
        return ItemCreate(**data), {}
    except ValidationError as exc:
        _collect(errors, exc, fallback="text")
        return None, errors


def item_form_values(item: Item | None = None) -> dict[str, Any]:
    if item is None:
        return {
            "text": "",
            "kind": "rating",
            "theme_id": "",
            "options": "",
            "multiple": False,
            "allow_unable": True,
            "is_seed": False,
            "realization": "",
            "evidence": "",
        }
    return {
        "text": item.text,
        "kind": item.kind,
        "theme_id": item.theme_id or "",
        "options": "\n".join(item.options),
        "multiple": item.multiple,
        "allow_unable": item.allow_unable,
        "is_seed": item.is_seed,
        "realization": "" if item.realization is None else item.realization,
        "evidence": item.evidence,
    }
