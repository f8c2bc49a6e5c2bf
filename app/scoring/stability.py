"""Stability of the panel's answers between two consecutive rounds, for the experts in both."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from app.scoring._checks import as_ratings

FloatArray = NDArray[np.float64]
STABLE_PCT_CHANGE = 15.0  # Scheibe, Skutsch & Schofer (1975): < 15 % net change is stable


@dataclass(frozen=True)
class ItemStability:
    """Per item: ``wilcoxon_p`` (later vs earlier, scipy defaults; None when no paired expert
    changed, where the test is undefined), ``cv_change`` = CV(later) - CV(earlier) on the paired
    experts (Kalaian & Kasim 2012), ``pct_change`` = half the sum of the absolute differences of
    the two relative frequency distributions, in percent (the net share of answers that moved)."""

    n_paired: NDArray[np.int64]
    wilcoxon_p: FloatArray
    cv_change: FloatArray
    pct_change: FloatArray
    unchanged: NDArray[np.bool_]

    def stable(self, threshold: float = STABLE_PCT_CHANGE) -> NDArray[np.bool_]:
        return np.asarray(self.pct_change < threshold)


def _cv(x: FloatArray) -> float:
    if len(x) < 2:
        return float("nan")
    mean = x.mean()
    return float(x.std(ddof=1) / mean) if mean != 0 else float("nan")


def stability(earlier: ArrayLike, later: ArrayLike) -> ItemStability:
    """Compare two rounds. Rows are the same experts in the same order, columns the same items.

    >>> s = stability([[5, 7], [6, 7], [7, 8]], [[7, 7], [7, 7], [8, 8]])
    >>> s.n_paired.tolist(), [round(float(x), 1) for x in s.pct_change]
    ([3, 3], [66.7, 0.0])

    Returns
    -------
    ItemStability
        Per item: experts paired, Wilcoxon signed-rank p (later vs earlier, scipy's defaults), change
        of CV, percentage change and share of unchanged answers.

    References
    ----------
    Kalaian & Kasim 2012 (PARE 17(5)); Wilcoxon 1945 (Biometrics Bull 1:80), as scipy.stats.wilcoxon.
    """
    before = as_ratings(earlier, "earlier")
    after = as_ratings(later, "later")
    if before.shape != after.shape:
        raise ValueError(f"earlier and later must have the same shape, got {before.shape} and {after.shape}")
    n_items = before.shape[1]
    n_paired = np.zeros(n_items, dtype=np.int64)
    p = np.full(n_items, np.nan)
    cv_change = np.full(n_items, np.nan)
    pct = np.full(n_items, np.nan)
    unchanged = np.zeros(n_items, dtype=bool)
    for j in range(n_items):
        both = ~np.isnan(before[:, j]) & ~np.isnan(after[:, j])
        x, y = before[both, j], after[both, j]
        n_paired[j] = len(x)
        if len(x) == 0:
            continue
        unchanged[j] = bool(np.all(x == y))
        if not unchanged[j]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                p[j] = stats.wilcoxon(y, x).pvalue
        cv_change[j] = _cv(y) - _cv(x)
        values = np.union1d(x, y)
        f_before = (x[:, None] == values).mean(axis=0)
        f_after = (y[:, None] == values).mean(axis=0)
        pct[j] = 50.0 * np.abs(f_after - f_before).sum()
    return ItemStability(n_paired=n_paired, wilcoxon_p=p, cv_change=cv_change, pct_change=pct, unchanged=unchanged)


@dataclass(frozen=True)
class StuartMaxwell:
    statistic: float
    df: int
    p: float


def stuart_maxwell(earlier: ArrayLike, later: ArrayLike) -> StuartMaxwell:
    """Stuart-Maxwell test of marginal homogeneity for a categorical item answered twice.

    With the K x K table of (earlier, later) categories, d = row totals - column totals and V the
    covariance (V_ii = r_i + c_i - 2 n_ii, V_ij = -(n_ij + n_ji)), chi2 = d' V^-1 d on the first K-1
    categories, df = K - 1 (Stuart 1955; Maxwell 1970). Categories nobody chose are left out.

    Returns
    -------
    StuartMaxwell
        The statistic, its degrees of freedom and p.

    References
    ----------
    Stuart 1955 (Biometrika 42:412); Maxwell 1970 (Br J Psychiatry 116:651). Checked against
    statsmodels' SquareTable.homogeneity.
    """
    x = np.asarray(earlier)
    y = np.asarray(later)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("earlier and later must be 1-D and the same length")
    keep = np.array(
        [
            not (isinstance(a, float) and a != a) and not (isinstance(b, float) and b != b)
            for a, b in zip(x.tolist(), y.tolist(), strict=True)
        ],
        dtype=bool,
    )
    x, y = x[keep], y[keep]
    categories = sorted(set(x.tolist()) | set(y.tolist()))
    k = len(categories)
    if k < 2:
        return StuartMaxwell(statistic=0.0, df=max(k - 1, 0), p=float("nan"))
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((k, k))
    for a, b in zip(x.tolist(), y.tolist(), strict=True):
        table[index[a], index[b]] += 1
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    d = (rows - cols)[:-1]
    v = -(table + table.T)
    v[np.diag_indices(k)] = rows + cols - 2 * np.diag(table)
    v = v[:-1, :-1]
    try:
        statistic = float(d @ np.linalg.solve(v, d))
    except np.linalg.LinAlgError:
        statistic = float(d @ np.linalg.pinv(v) @ d)
    return StuartMaxwell(statistic=statistic, df=k - 1, p=float(stats.chi2.sf(statistic, k - 1)))
