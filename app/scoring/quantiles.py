"""Quantiles exactly as numpy computes them (all of its methods, Hyndman & Fan types 1-9 and four
others), from order statistics or from the counts of each scale point, and those counts."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: numpy's quantile methods (Hyndman & Fan types 1-9 and numpy's four others)
QUANTILE_METHODS = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
    "lower",
    "higher",
    "midpoint",
    "nearest",
)
CDF_TOLERANCE = 1e-12  # rounding of summed weights, far below any real difference of shares
_BLOCK_ROWS = 512  # rows of the matrix compared at once: stays in cache, keeps memory flat
_CONTINUOUS = {  # (alpha, beta) of Hyndman & Fan's virtual index n*p + alpha + p*(1 - alpha - beta) - 1
    "interpolated_inverted_cdf": (0.0, 1.0),
    "hazen": (0.5, 0.5),
    "weibull": (0.0, 0.0),
    "median_unbiased": (1 / 3.0, 1 / 3.0),
    "normal_unbiased": (3 / 8.0, 3 / 8.0),
}


def virtual_index(n: FloatArray, q: float, method: str) -> tuple[FloatArray, FloatArray | None]:
    """numpy's virtual index for each item (``n`` values) and, for interpolating methods, gamma."""
    if method == "linear":
        v = (n - 1) * q
    elif method in _CONTINUOUS:
        a, b = _CONTINUOUS[method]
        v = n * q + (a + q * (1 - a - b)) - 1
    elif method == "averaged_inverted_cdf":
        v = n * q - 1
        frac = v - np.floor(v)
        return v, np.where(frac == 0, 0.5, 1.0)
    elif method == "midpoint":
        v = 0.5 * (np.floor((n - 1) * q) + np.ceil((n - 1) * q))
        return v, np.where(v % 1 == 0, 0.0, 0.5)
    elif method == "inverted_cdf":
        index = n * q - 1
        previous = np.floor(index)
        return np.where(index - previous == 0, previous, previous + 1).clip(min=0), None
    elif method == "closest_observation":
        index = n * q - 1 - 0.5
        previous = np.floor(index)
        take_previous = (index - previous == 0) & (previous % 2 == 1)
        return np.where(take_previous, previous, previous + 1).clip(min=0), None
    elif method == "lower":
        return np.floor((n - 1) * q), None
    elif method == "higher":
        return np.ceil((n - 1) * q), None
    elif method == "nearest":
        return np.around((n - 1) * q), None
    else:
        raise ValueError(f"quantile_method must be one of {', '.join(QUANTILE_METHODS)}; got {method!r}")
    return v, v - np.floor(v)


def lerp(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """numpy's lerp, including its exactness trick for t >= 0.5."""
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def quantile_from_order_stats(order_stat: Any, n: FloatArray, q: float, method: str) -> FloatArray:
    """Quantile ``q`` per item; ``order_stat(j)`` returns the j-th smallest value of each item."""
    v, gamma = virtual_index(n, q, method)
    last = np.maximum(n - 1, 0)
    if gamma is None:  # discrete methods: one order statistic
        return np.asarray(order_stat(np.minimum(v, last).astype(np.intp)), dtype=np.float64)
    previous = np.floor(v)
    above = v >= n - 1
    below = v < 0
    prev_index = np.where(above, last, np.where(below, 0, previous)).astype(np.intp)
    next_index = np.where(above, last, np.where(below, 0, previous + 1)).astype(np.intp)
    return lerp(order_stat(prev_index), order_stat(next_index), gamma)


# --- counts ----------------------------------------------------------------------------------------


def scale_counts(matrix: FloatArray, points: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """Per item, the number (or total weight) of ratings equal to each scale point: items x points."""
    n_rows, n_items = matrix.shape
    counts = np.zeros((n_items, len(points)), dtype=np.float64)
    block = min(_BLOCK_ROWS, max(n_rows, 1))
    equal = np.empty((block, n_items), dtype=bool)
    for start in range(0, n_rows, block):
        rows = matrix[start : start + block]
        eq = equal[: len(rows)]
        w = None if weights is None else weights[start : start + block]
        for k, point in enumerate(points):
            np.equal(rows, point, out=eq)
            counts[:, k] += np.add.reduce(eq, axis=0, dtype=np.int64) if w is None else w @ eq
    return counts


def weighted_quantile_from_counts(counts: FloatArray, points: FloatArray, q: float) -> FloatArray:
    """numpy's ``quantile(..., weights=w, method="inverted_cdf")``: the smallest value whose
    cumulative weight reaches ``q`` of the total.

    A cumulative share within ``CDF_TOLERANCE`` below ``q`` counts as reaching it: decimal weights
    whose exact cumulative share is ``q`` (0.1 + 0.2 of 0.6 for the median) add up a hair short of
    it in floating point, which would move the quantile a whole scale point up.
    """
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cdf = np.cumsum(counts, axis=1) / total
    cdf = np.where(counts > 0, cdf, np.where(cdf == 0, -1.0, cdf))
    index = np.minimum((cdf < q - CDF_TOLERANCE).sum(axis=1), len(points) - 1)
    result = points[index]
    return np.where(total[:, 0] > 0, result, np.nan)
