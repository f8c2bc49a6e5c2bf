"""Per-item statistics of a ratings matrix (experts x items, NaN = missing).

On a bounded integer scale every statistic follows from the per-item counts of each scale point,
so the matrix is read once per scale point, in cache-sized blocks, and the rest works on an
``items x points`` table. Values that are not integers on the scale take a sorted path that gives
the same numbers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from app.scoring._checks import as_band, as_ratings, as_weights
from app.scoring._kernels import count_points, weigh_scale_points
from app.scoring.quantiles import (
    QUANTILE_METHODS,
    quantile_from_order_stats,
    scale_counts,
    weighted_quantile_from_counts,
)

FloatArray = NDArray[np.float64]


def opposite_band(scale: tuple[float, float], agree: tuple[float, float]) -> tuple[float, float]:
    """The agreement band mirrored on the scale: 7-9 on 1-9 gives 1-3; 4-5 on 1-5 gives 1-2.

    Returns
    -------
    tuple of float
        The low and high ends of the opposite band.
    """
    low, high = scale
    return (low + high - agree[1], low + high - agree[0])


# --- the result ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemSummary:
    """Statistics per item: every array attribute has one value per item (NaN when undefined).

    ``sd`` uses ddof 1; with weights, reliability weights: sum w (x - mean_w)^2 / (V1 - V2 / V1),
    V1 and V2 the sums of the weights and of their squares, so that only the weights' ratios matter
    and equal weights of any size give the unweighted SD (a weight is how much an expert counts,
    not a number of experts);
    ``cv = sd / mean``; ``ad_m`` is the mean absolute deviation around the mean (Burke et al. 1999);
    ``rwg = 1 - sd**2 / ((A**2 - 1) / 12)`` truncated at 0, A the number of scale points (James,
    Demaree & Wolf 1984); ``cns = 1 + sum p_i log2(1 - |X_i - mean| / (high - low))`` is Tastle &
    Wierman's consensus (2007) over the shares p_i of the scale points, 1 when everyone gives the
    same answer and 0 when the panel is split between the two ends, and ``dnt = 1 - cns`` their
    dissention; ``ipr``, ``ipras``, ``di`` and ``rand_class`` follow the RAND/UCLA manual
    (Fitch et al. 2001) and are NaN / None unless the scale is 1-9.
    """

    n: NDArray[np.int64]
    missing: NDArray[np.int64]
    median: FloatArray
    q1: FloatArray
    q3: FloatArray
    iqr: FloatArray
    mean: FloatArray
    sd: FloatArray
    cv: FloatArray
    agreement: FloatArray
    opposition: FloatArray
    ad_m: FloatArray
    rwg: FloatArray
    cns: FloatArray
    dnt: FloatArray
    ipr: FloatArray
    ipras: FloatArray
    di: FloatArray
    rand_class: tuple[str | None, ...]
    counts: FloatArray = field(repr=False)
    points: FloatArray = field(repr=False)
    scale: tuple[float, float] = (1, 9)
    agree: tuple[float, float] = (7, 9)
    oppose: tuple[float, float] = (1, 3)
    quantile_method: str = "linear"
    weighted: bool = False
    median_ci: FloatArray | None = field(default=None, repr=False)
    agreement_ci: FloatArray | None = field(default=None, repr=False)

    METRICS = (
        "n",
        "missing",
        "median",
        "q1",
        "q3",
        "iqr",
        "mean",
        "sd",
        "cv",
        "agreement",
        "opposition",
        "ad_m",
        "rwg",
        "cns",
        "dnt",
        "ipr",
        "ipras",
        "di",
    )

    @property
    def n_items(self) -> int:
        return len(self.n)

    def metric(self, name: str) -> FloatArray:
        """A statistic by name, as floats (what the consensus rule language reads)."""
        if name not in self.METRICS:
            raise ValueError(f"unknown statistic {name!r}")
        return np.asarray(getattr(self, name), dtype=np.float64)

    def records(self, labels: list[str] | None = None) -> list[dict[str, Any]]:
        """One plain dict per item, NaN as None: ready for JSON."""
        labels = labels or [str(i) for i in range(self.n_items)]
        out = []
        for i, label in enumerate(labels):
            record: dict[str, Any] = {"item": label}
            for name in self.METRICS:
                value = getattr(self, name)[i]
                record[name] = None if value != value else (int(value) if name in ("n", "missing") else float(value))
            record["rand_class"] = self.rand_class[i]
            if self.median_ci is not None and self.agreement_ci is not None:
                record["median_ci"] = [_none_if_nan(x) for x in self.median_ci[i]]
                record["agreement_ci"] = [_none_if_nan(x) for x in self.agreement_ci[i]]
            record["distribution"] = {
                _point_label(p): float(c) for p, c in zip(self.points, self.counts[i], strict=True)
            }
            out.append(record)
        return out


def _none_if_nan(value: float) -> float | None:
    return None if value != value else float(value)


def _point_label(point: float) -> str:
    return str(int(point)) if float(point).is_integer() else repr(float(point))


# --- summarize -------------------------------------------------------------------------------------


def _asked_count(asked: ArrayLike | None, shape: tuple[int, ...]) -> NDArray[np.int64] | int:
    if asked is None:
        return int(shape[0])
    mask = np.asarray(asked, dtype=bool)
    if mask.shape != shape:
        raise ValueError("asked must have the shape of the ratings (experts x items)")
    return np.asarray(mask.sum(axis=0), dtype=np.int64)


def summarize(
    ratings: ArrayLike,
    scale: tuple[float, float] = (1, 9),
    agree: tuple[float, float] = (7, 9),
    weights: ArrayLike | None = None,
    quantile_method: str = "linear",
    *,
    n_boot: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
    asked: ArrayLike | None = None,
) -> ItemSummary:
    """Summarise each item (column) of a ratings matrix.

    Parameters
    ----------
    ratings : array (experts x items); NaN marks a missing or "unable to rate" answer.
    scale : the lowest and highest scale points (integers for a rating scale).
    agree : the agreement band; the opposite band is its mirror on the scale.
    weights : one weight per expert (reliability weights: only their ratios matter), or None.
        With weights, quantiles are numpy's ``inverted_cdf`` with weights, whatever
        ``quantile_method`` says.
    quantile_method : any numpy quantile method; "linear" (R type 7) by default, "weibull" for SPSS.
    n_boot, seed, confidence : when ``n_boot > 0``, percentile bootstrap intervals for the median and
        the agreement, resampling experts with a seeded generator.
    asked : experts x items, True where the expert was asked the item (a design that gives each
        expert a subset of the items); ``missing`` then counts the asked experts who did not answer.
        None: every expert was asked every item.

    Examples
    --------
    >>> s = summarize([[7, 1], [8, 2], [9, 9]], scale=(1, 9), agree=(7, 9))
    >>> s.median.tolist(), s.agreement.tolist()
    ([8.0, 2.0], [1.0, 0.3333333333333333])

    Returns
    -------
    ItemSummary
        Per item (one array entry per column): counts, quantiles by the asked method, IQR, mean, SD,
        CV, AD_M, r_wg, agreement and opposition shares, the RAND/UCLA figures and CVR (weighted where
        weights are given, with bootstrap intervals when asked).

    References
    ----------
    Hyndman & Fan 1996 (Am Stat 50:361); Burke et al. 1999 (Organ Res Methods 2:49); Tastle &
    Wierman 2007 (Int J Approx Reason 45:531); James,
    Demaree & Wolf 1984 (J Appl Psychol 69:85); Fitch et al. 2001, RAND/UCLA manual (MR-1269);
    Ayre & Scally 2014 (Meas Eval Couns Dev 47:79).
    """
    matrix = as_ratings(ratings, check_finite=False)  # infinities are refused as off-scale below
    low, high = as_band(scale, "scale")
    agree = as_band(agree, "agree")
    if not (low <= agree[0] and agree[1] <= high):
        raise ValueError(f"agree {agree} must lie inside scale {(low, high)}")
    if quantile_method not in QUANTILE_METHODS:
        raise ValueError(f"quantile_method must be one of {', '.join(QUANTILE_METHODS)}; got {quantile_method!r}")
    w = as_weights(weights, matrix.shape[0])
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    summary = _summarize_matrix(matrix, (low, high), agree, w, quantile_method)
    if asked is not None:
        summary = _replace(summary, missing=(_asked_count(asked, matrix.shape) - summary.n).astype(np.int64))
    if n_boot > 0:
        median_ci, agreement_ci = _bootstrap(matrix, (low, high), agree, w, quantile_method, n_boot, seed, confidence)
        summary = _replace(summary, median_ci=median_ci, agreement_ci=agreement_ci)
    return summary


def _replace(summary: ItemSummary, **changes: Any) -> ItemSummary:
    values = {f.name: getattr(summary, f.name) for f in fields(summary)}
    values.update(changes)
    return ItemSummary(**values)


def _on_integer_scale(matrix: FloatArray, low: float, high: float) -> bool:
    return float(low).is_integer() and float(high).is_integer() and high - low <= 100


def _summarize_matrix(
    matrix: FloatArray, scale: tuple[float, float], agree: tuple[float, float], w: FloatArray | None, method: str
) -> ItemSummary:
    low, high = scale
    n_items = matrix.shape[1]
    points: FloatArray = np.arange(low, high + 1, dtype=np.float64)
    weighted_counts: FloatArray | None = None
    squared_counts: FloatArray | None = None  # the squared weights per point, for the weighted SD
    if _on_integer_scale(matrix, low, high):
        contiguous = np.ascontiguousarray(matrix)
        raw, answered, off = count_points(contiguous, int(low), len(points))
        n = answered
        counts: FloatArray = raw.astype(np.float64)
        if w is not None and not off.any():
            weighted_counts = weigh_scale_points(contiguous, np.ascontiguousarray(w), int(low), len(points))
            squared_counts = weigh_scale_points(contiguous, np.ascontiguousarray(w * w), int(low), len(points))
    else:
        present = ~np.isnan(matrix)
        n = present.sum(axis=0).astype(np.int64)
        off = n
    if off.any():
        present = ~np.isnan(matrix)
        outside = matrix[present & ((matrix < low) | (matrix > high) | ~np.isfinite(matrix))]
        if outside.size:
            raise ValueError(f"ratings contain values outside the scale {low:g}-{high:g}: {np.unique(outside)[:5]}")
        # values between the scale points: distribution over the distinct values instead
        points = np.unique(matrix[present]) if present.any() else np.array([low])
        counts = scale_counts(matrix, points)
        n = present.sum(axis=0).astype(np.int64)
    if weighted_counts is None:
        weighted_counts = counts if w is None else scale_counts(matrix, points, w)
    total = weighted_counts.sum(axis=1)
    # The SD's denominator: V1 - V2/V1 with V1, V2 the sums of the weights and of their squares over
    # the item's raters (reliability weights), which is n - 1 without weights and stays n - 1 when
    # every weight is equal, whatever their size.
    if w is None:
        denominator, raters = total - 1, n
    else:
        if squared_counts is None:
            squared_counts = scale_counts(matrix, points, w * w)
        with np.errstate(invalid="ignore", divide="ignore"):
            denominator = total - squared_counts.sum(axis=1) / total
        # one rater with a weight above 0 has no spread (V1 - V2/V1 rounds to a hair above 0)
        raters = (~np.isnan(matrix) & (w[:, None] > 0)).sum(axis=0)
    nf = n.astype(np.float64)

    if w is None:
        cumulative = np.cumsum(counts, axis=1)

        def order_stat(j: NDArray[np.intp]) -> FloatArray:
            index = (cumulative <= j[:, None]).sum(axis=1)
            return points[np.minimum(index, len(points) - 1)]

        def quantile(q: float) -> FloatArray:
            result = quantile_from_order_stats(order_stat, nf, q, method)
            return np.where(n > 0, result, np.nan)
    else:
        method = "inverted_cdf"

        def quantile(q: float) -> FloatArray:
            return weighted_quantile_from_counts(weighted_counts, points, q)

    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (weighted_counts @ points) / total
        deviations = points[None, :] - mean[:, None]
        sd = np.sqrt((weighted_counts * deviations**2).sum(axis=1) / denominator)
        sd = np.where((raters > 1) & (denominator > 0), sd, np.nan)
        cv = sd / mean
        ad_m = (weighted_counts * np.abs(deviations)).sum(axis=1) / total
        oppose = opposite_band(scale, agree)
        in_agree = (points >= agree[0]) & (points <= agree[1])
        in_oppose = (points >= oppose[0]) & (points <= oppose[1])
        agreement = weighted_counts[:, in_agree].sum(axis=1) / total
        opposition = weighted_counts[:, in_oppose].sum(axis=1) / total
        n_points = high - low + 1
        expected_variance = (n_points**2 - 1) / 12.0
        rwg = np.clip(1 - sd**2 / expected_variance, 0, None)
        # Tastle & Wierman: Cns = 1 + sum p_i log2(1 - |X_i - mean| / (high - low)) over the shares
        # p_i of the points answered; 1 when everyone is on one point, 0 when split between the ends
        shares = weighted_counts / total[:, None]
        closeness = np.log2(1 - np.abs(deviations) / (high - low)) if high > low else np.full_like(deviations, np.nan)
        cns = 1 + np.where(shares > 0, shares * closeness, 0.0).sum(axis=1)
        cns = np.where(total > 0, np.clip(cns, 0.0, 1.0), np.nan)

    median, q1, q3 = quantile(0.5), quantile(0.25), quantile(0.75)
    is_rand = (low, high) == (1, 9)
    if is_rand:
        p30, p70 = quantile(0.30), quantile(0.70)
        ipr = p70 - p30
        ipras = 2.35 + 1.5 * np.abs(5 - (p30 + p70) / 2)
        di = ipr / ipras
        rand_class = tuple(_rand_class(m, d) for m, d in zip(median, di, strict=True))
    else:
        ipr = ipras = di = np.full(n_items, np.nan)
        rand_class = (None,) * n_items

    return ItemSummary(
        n=n,
        missing=(matrix.shape[0] - n).astype(np.int64),
        median=median,
        q1=q1,
        q3=q3,
        iqr=q3 - q1,
        mean=mean,
        sd=sd,
        cv=cv,
        agreement=agreement,
        opposition=opposition,
        ad_m=ad_m,
        rwg=rwg,
        cns=cns,
        dnt=1 - cns,
        ipr=ipr,
        ipras=ipras,
        di=di,
        rand_class=rand_class,
        counts=weighted_counts,
        points=points,
        scale=scale,
        agree=agree,
        oppose=opposite_band(scale, agree),
        quantile_method=method,
        weighted=w is not None,
    )


def _rand_class(median: float, di: float) -> str | None:
    """RAND/UCLA: appropriate (median 7-9, no disagreement), inappropriate (1-3), else uncertain."""
    if median != median:
        return None
    if di <= 1 and median >= 7:
        return "appropriate"
    if di <= 1 and median <= 3:
        return "inappropriate"
    return "uncertain"


def _bootstrap(
    matrix: FloatArray,
    scale: tuple[float, float],
    agree: tuple[float, float],
    w: FloatArray | None,
    method: str,
    n_boot: int,
    seed: int,
    confidence: float,
) -> tuple[FloatArray, FloatArray]:
    """Percentile intervals from resampling experts (rows) with replacement."""
    rng = np.random.default_rng(seed)
    n_experts, n_items = matrix.shape
    medians = np.empty((n_boot, n_items))
    agreements = np.empty((n_boot, n_items))
    for b in range(n_boot):
        rows = rng.integers(0, n_experts, n_experts)
        s = _summarize_matrix(matrix[rows], scale, agree, None if w is None else w[rows], method)
        medians[b], agreements[b] = s.median, s.agreement
    tail = (1 - confidence) / 2 * 100
    with warnings.catch_warnings():  # an item nobody answered has no interval: NaN, as intended
        warnings.simplefilter("ignore", RuntimeWarning)
        median_ci = np.nanpercentile(medians, [tail, 100 - tail], axis=0).T
        agreement_ci = np.nanpercentile(agreements, [tail, 100 - tail], axis=0).T
    return median_ci, agreement_ci
