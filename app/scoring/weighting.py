"""Weights of answers (items and themes, from the panel's importance ratings), ranking questions,
and weights of experts (equal, self-rated, assigned, or a declared formula over profile fields)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from app.scoring._checks import as_ratings
from app.scoring.agreement import KendallW, kendall_w
from app.scoring.rules import parse_formula

FloatArray = NDArray[np.float64]
EXPERT_WEIGHT_SCHEMES = ("equal", "self_rated", "assigned", "formula", "cooke")


def competition_ranks(scores: ArrayLike) -> NDArray[np.int64]:
    """1 for the highest score; ties share the best rank (1, 2, 2, 4); NaN ranks last.

    Returns
    -------
    numpy.ndarray of int
        The rank of each score.
    """
    values = np.asarray(scores, dtype=np.float64)
    filled = np.where(np.isnan(values), -np.inf, values)
    return stats.rankdata(-filled, method="min").astype(np.int64)


def _normalise(scores: FloatArray) -> FloatArray:
    clean = np.where(np.isnan(scores), 0.0, np.clip(scores, 0, None))
    total = clean.sum()
    return clean / total if total > 0 else np.full(len(scores), 1.0 / max(len(scores), 1))


@dataclass(frozen=True)
class ImportanceWeights:
    """``item_score`` is the (weighted) mean rating rescaled to 0-1 on the scale; weights are scores
    normalised to sum 1 over items (or themes); a theme's score is the mean of its items' scores."""

    item_score: FloatArray
    item_weight: FloatArray
    item_rank: NDArray[np.int64]
    theme_keys: tuple[Any, ...]
    theme_score: FloatArray
    theme_weight: FloatArray
    theme_rank: NDArray[np.int64]


def importance_weights(
    mean_ratings: ArrayLike, item_themes: Sequence[Any], scale: tuple[float, float]
) -> ImportanceWeights:
    """Item and theme weights ("pondération des réponses") from the panel's mean importance ratings.

    >>> w = importance_weights([9, 5, 1], ["a", "a", "b"], (1, 9))
    >>> w.item_weight.round(3).tolist(), w.theme_keys, w.theme_rank.tolist()
    ([0.667, 0.333, 0.0], ('a', 'b'), [1, 2])

    Returns
    -------
    ImportanceWeights
        Scores, weights and ranks of the items and of the themes.
    """
    means = np.asarray(mean_ratings, dtype=np.float64)
    if len(item_themes) != len(means):
        raise ValueError("item_themes must give one theme per item")
    low, high = scale
    if high <= low:
        raise ValueError("scale must have low < high")
    item_score = (means - low) / (high - low)
    keys = tuple(dict.fromkeys(item_themes))
    theme_score = np.array(
        [
            np.nanmean(item_score[[t == key for t in item_themes]])
            if np.any(~np.isnan(item_score[[t == key for t in item_themes]]))
            else np.nan
            for key in keys
        ]
    )
    return ImportanceWeights(
        item_score=item_score,
        item_weight=_normalise(item_score),
        item_rank=competition_ranks(item_score),
        theme_keys=keys,
        theme_score=theme_score,
        theme_weight=_normalise(theme_score),
        theme_rank=competition_ranks(theme_score),
    )


@dataclass(frozen=True)
class RankingSummary:
    """A ranking question: ranks (1 = first) per expert x option, NaN where an option was not ranked."""

    mean_rank: FloatArray
    borda: FloatArray
    n_ranked: NDArray[np.int64]
    order: NDArray[np.int64]
    kendall: KendallW


def summarize_ranking(ranks: ArrayLike) -> RankingSummary:
    """Mean rank, Borda count (k - rank points for k options; unranked options get none) and
    Kendall's W over the experts who ranked every option (Schmidt 1997).

    Returns
    -------
    RankingSummary
        Per option: mean rank, Borda points and how many ranked it; Kendall's W over the experts.

    References
    ----------
    Schmidt 1997 (Decision Sciences 28:763), ranking-type Delphi.
    """
    matrix = as_ratings(ranks, "ranks")
    k = matrix.shape[1]
    present = ~np.isnan(matrix)
    sums = np.where(present, matrix, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rank = sums / present.sum(axis=0)
    borda = np.where(present, k - matrix, 0.0).sum(axis=0)
    order = np.lexsort((np.arange(k), -borda)).astype(np.int64)
    return RankingSummary(
        mean_rank=mean_rank,
        borda=borda,
        n_ranked=present.sum(axis=0).astype(np.int64),
        order=order,
        kendall=kendall_w(-matrix),
    )


def expert_weights(
    scheme: str,
    profiles: Sequence[Mapping[str, Any]],
    *,
    formula: str | None = None,
    field: str = "self_rating",
    assigned: Sequence[float] | None = None,
) -> FloatArray:
    """Raw (unnormalised) expert weights by a declared scheme; see ``normalise_weights``.

    equal: 1 each; self_rated: a profile field (e.g. self-rated expertise); assigned: the values a
    researcher gave; formula: a formula of the rule language over numeric profile fields.

    Returns
    -------
    numpy.ndarray
        One raw weight per expert, in their order.
    """
    n = len(profiles)
    if scheme == "equal":
        return np.ones(n)
    if scheme == "assigned":
        if assigned is None or len(assigned) != n:
            raise ValueError("assigned must give one weight per expert")
        weights = np.asarray(assigned, dtype=np.float64)
    elif scheme == "self_rated":
        weights = np.array([_number(p, field, i) for i, p in enumerate(profiles)])
    elif scheme == "formula":
        if not formula:
            raise ValueError("formula is required for the formula scheme")
        fields = sorted({key for p in profiles for key in p} | _numeric_fields(profiles))
        rule = parse_formula(formula, fields)
        values = {name: np.array([_number(p, name, i) for i, p in enumerate(profiles)]) for name in rule.names}
        weights = np.broadcast_to(np.asarray(rule.evaluate(values), dtype=np.float64), (n,)).copy()
    else:
        raise ValueError(f"scheme must be one of {', '.join(EXPERT_WEIGHT_SCHEMES[:-1])}; got {scheme!r}")
    if not np.all(np.isfinite(weights)):
        raise ValueError("the weights are not all finite numbers; check the formula and the profiles")
    if (weights < 0).any():
        raise ValueError("weights cannot be negative; check the formula and the profiles")
    return weights


def _numeric_fields(profiles: Sequence[Mapping[str, Any]]) -> set[str]:
    return {key for p in profiles for key, value in p.items() if isinstance(value, int | float)}


def _number(profile: Mapping[str, Any], name: str, index: int) -> float:
    value = profile.get(name)
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError(f"expert {index + 1} has no number for {name!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expert {index + 1} has {value!r} for {name!r}, which is not a number") from None


def normalise_weights(weights: ArrayLike, *, mean_one: bool = False) -> FloatArray:
    """Scale weights to sum 1, or (``mean_one``) to a mean of 1 (an average expert counts once, the
    easiest to read); ``summarize`` gives the same figures for either, only ratios matter to it.

    Returns
    -------
    numpy.ndarray
        The weights scaled as asked (equal weights of any size give equal normalised weights).
    """
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if total <= 0:
        raise ValueError("weights must not all be zero")
    return w / total * (len(w) if mean_one else 1.0)
