"""Stability of the panel's answers between two consecutive rounds, for the experts in both."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from app.scoring._checks import as_ratings

FloatArray = NDArray[np.float64]
STABLE_PCT_CHANGE = 15.0  # Scheibe, Skutsch & Schofer (1975): < 15 % net change is stable
# The signed-rank test's p is exact (the permutation distribution of the signs, ties and all) up to
# this many non-zero differences, and the tie-corrected normal approximation above it.
WILCOXON_EXACT_UP_TO = 50
# Zero differences (experts who did not move) are dropped before ranking (Wilcoxon 1945; scipy's
# ``zero_method="wilcox"``).
WILCOXON_ZEROS = "wilcox"


@dataclass(frozen=True)
class ItemStability:
    """Per item: ``wilcoxon_p`` (later vs earlier, two-sided; NaN when no paired expert changed,
    where the test is undefined) and ``wilcoxon_method`` ("exact" or "normal", "" when undefined),
    ``cv_change`` = CV(later) - CV(earlier) on the paired experts (Kalaian & Kasim 2012),
    ``pct_change`` = half the sum of the absolute differences of the two relative frequency
    distributions, in percent (the net share of answers that moved)."""

    n_paired: NDArray[np.int64]
    wilcoxon_p: FloatArray
    cv_change: FloatArray
    pct_change: FloatArray
    unchanged: NDArray[np.bool_]
    wilcoxon_method: tuple[str, ...] = ()

    def stable(self, threshold: float = STABLE_PCT_CHANGE) -> NDArray[np.bool_]:
        return np.asarray(self.pct_change < threshold)


def _cv(x: FloatArray) -> float:
    if len(x) < 2:
        return float("nan")
    mean = x.mean()
    return float(x.std(ddof=1) / mean) if mean != 0 else float("nan")


def signed_rank_test(differences: ArrayLike) -> tuple[float, str]:
    """Two-sided Wilcoxon signed-rank p for paired differences, and how it was computed.

    Zero differences are dropped; the absolute differences get average ranks. Up to
    ``WILCOXON_EXACT_UP_TO`` differences the p comes from the exact distribution of the sum of the
    positive ranks when each sign is + or - with probability 1/2 (ranks doubled to integers, so ties
    are exact too): the same number as a permutation test enumerating every sign vector, in a
    fraction of a millisecond. Above, the normal approximation with the tie correction and no
    continuity correction.

    >>> signed_rank_test([1, 2, 3, 4, 5])
    (0.0625, 'exact')
    >>> signed_rank_test([0, 0])
    (nan, '')

    Returns
    -------
    tuple
        ``(p, method)``, method "exact" or "normal" ("" and NaN when every difference is zero).

    References
    ----------
    Wilcoxon 1945 (Biometrics Bull 1:80); Pratt 1959 (JASA 54:655) for the tie correction. Checked
    against scipy.stats.wilcoxon: ``method="exact"`` without ties, an exhaustive permutation test
    with ties, ``method="asymptotic"`` above the exact range.
    """
    d = np.asarray(differences, dtype=np.float64)
    if not np.all(np.isfinite(d)):
        raise ValueError("differences must be finite numbers (leave out the experts who did not answer both)")
    d = d[d != 0]
    n = len(d)
    if n == 0:
        return float("nan"), ""
    ranks = stats.rankdata(np.abs(d))
    doubled = np.rint(2 * ranks).astype(np.int64)  # average ranks are multiples of 1/2
    positive = int(doubled[d > 0].sum())
    if n <= WILCOXON_EXACT_UP_TO:
        distribution = np.zeros(int(doubled.sum()) + 1)
        distribution[0] = 1.0
        for rank in doubled:  # each rank joins the positive sum with probability 1/2
            moved = np.zeros_like(distribution)
            moved[rank:] = distribution[:-rank]
            distribution = 0.5 * (distribution + moved)
        at_most, at_least = distribution[: positive + 1].sum(), distribution[positive:].sum()
        return float(min(1.0, 2 * min(at_most, at_least))), "exact"
    _, tied = np.unique(np.abs(d), return_counts=True)
    variance = n * (n + 1) * (2 * n + 1) / 24 - float((tied**3 - tied).sum()) / 48
    z = (positive / 2 - n * (n + 1) / 4) / np.sqrt(variance)
    return float(2 * stats.norm.sf(abs(z))), "normal"


def stability(earlier: ArrayLike, later: ArrayLike) -> ItemStability:
    """Compare two rounds. Rows are the same experts in the same order, columns the same items.

    >>> s = stability([[5, 7], [6, 7], [7, 8]], [[7, 7], [7, 7], [8, 8]])
    >>> s.n_paired.tolist(), [round(float(x), 1) for x in s.pct_change]
    ([3, 3], [66.7, 0.0])

    Returns
    -------
    ItemStability
        Per item: experts paired, Wilcoxon signed-rank p (later vs earlier, see
        ``signed_rank_test``) and its method, change of CV, percentage change and whether nobody
        changed.

    References
    ----------
    Kalaian & Kasim 2012 (PARE 17(5)); Wilcoxon 1945 (Biometrics Bull 1:80).
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
    methods = [""] * n_items
    for j in range(n_items):
        both = ~np.isnan(before[:, j]) & ~np.isnan(after[:, j])
        x, y = before[both, j], after[both, j]
        n_paired[j] = len(x)
        if len(x) == 0:
            continue
        unchanged[j] = bool(np.all(x == y))
        if not unchanged[j]:
            p[j], methods[j] = signed_rank_test(y - x)
        cv_change[j] = _cv(y) - _cv(x)
        values = np.union1d(x, y)
        f_before = (x[:, None] == values).mean(axis=0)
        f_after = (y[:, None] == values).mean(axis=0)
        pct[j] = 50.0 * np.abs(f_after - f_before).sum()
    return ItemStability(
        n_paired=n_paired,
        wilcoxon_p=p,
        cv_change=cv_change,
        pct_change=pct,
        unchanged=unchanged,
        wilcoxon_method=tuple(methods),
    )


@dataclass(frozen=True)
class StuartMaxwell:
    statistic: float
    df: int
    p: float


def stuart_maxwell(earlier: ArrayLike, later: ArrayLike) -> StuartMaxwell:
    """Stuart-Maxwell test of marginal homogeneity for a categorical item answered twice.

    With the K x K table of (earlier, later) categories, d = row totals - column totals and V the
    covariance (V_ii = r_i + c_i - 2 n_ii, V_ij = -(n_ij + n_ji)), chi2 = d' V^- d with df the rank
    of V (Stuart 1955; Maxwell 1970). A category nobody moved into or out of has a zero row and
    column in V and d_i = 0: it carries no information, so it adds no degree of freedom (with
    every category moving, df = K - 1 as usual). Nobody moving at all leaves the test undefined
    (p NaN), as for the Wilcoxon test.

    >>> stuart_maxwell(["a", "a", "b", "c"], ["b", "a", "a", "c"]).df  # "c" never moved
    1

    Returns
    -------
    StuartMaxwell
        The statistic, its degrees of freedom and p.

    References
    ----------
    Stuart 1955 (Biometrika 42:412); Maxwell 1970 (Br J Psychiatry 116:651). Checked against
    statsmodels' SquareTable.homogeneity on tables where every category moved, and on the same
    tables with categories nobody moved added.
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
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((k, k))
    for a, b in zip(x.tolist(), y.tolist(), strict=True):
        table[index[a], index[b]] += 1
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    v = -(table + table.T)
    v[np.diag_indices(k)] = rows + cols - 2 * np.diag(table)
    moved = np.diag(v) > 0
    if moved.sum() < 2:
        return StuartMaxwell(statistic=0.0, df=0, p=float("nan"))
    d = (rows - cols)[moved]
    v = v[np.ix_(moved, moved)]
    df = int(np.linalg.matrix_rank(v))
    statistic = float(d @ np.linalg.pinv(v) @ d)
    return StuartMaxwell(statistic=statistic, df=df, p=float(stats.chi2.sf(statistic, df)))


MCNEMAR_EXACT_BELOW = 25  # discordant pairs: the exact binomial p below, the chi-square above


@dataclass(frozen=True)
class McNemar:
    """``changed_to`` and ``changed_from``: the experts who moved into and out of the category;
    ``method`` "exact" (binomial) or "chi2" (with continuity correction), "" when nobody moved."""

    changed_to: int
    changed_from: int
    statistic: float
    p: float
    method: str


def mcnemar(earlier: ArrayLike, later: ArrayLike) -> McNemar:
    """McNemar's test for a yes/no answer given twice by the same experts (True/False, 1/0; NaN is
    left out): did the share answering yes change? The two-by-two case of Stuart-Maxwell.

    With b experts moving no -> yes and c moving yes -> no: below ``MCNEMAR_EXACT_BELOW`` moves,
    the exact two-sided binomial p = min(1, 2 P(X <= min(b, c))), X ~ Bin(b + c, 1/2), and the
    statistic is min(b, c); above, chi2 = (|b - c| - 1)^2 / (b + c) with 1 df (Edwards' correction).
    Nobody moving leaves the test undefined (p NaN).

    >>> mcnemar([0, 0, 0, 1, 1], [1, 1, 0, 1, 1]).p
    0.5

    Returns
    -------
    McNemar
        The moves both ways, the statistic, p and the method.

    References
    ----------
    McNemar 1947 (Psychometrika 12:153); Edwards 1948 (Psychometrika 13:185). Checked against
    statsmodels' ``mcnemar`` (exact, and chi-square with correction).
    """
    x = np.asarray(earlier, dtype=np.float64)
    y = np.asarray(later, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("earlier and later must be 1-D and the same length")
    both = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[both] != 0, y[both] != 0
    b, c = int(np.sum(~x & y)), int(np.sum(x & ~y))
    n = b + c
    if n == 0:
        return McNemar(b, c, 0.0, float("nan"), "")
    if n < MCNEMAR_EXACT_BELOW:
        p = min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), n, 0.5)))
        return McNemar(b, c, float(min(b, c)), p, "exact")
    statistic = (abs(b - c) - 1.0) ** 2 / n
    return McNemar(b, c, statistic, float(stats.chi2.sf(statistic, 1)), "chi2")


def agreement_shift(earlier: ArrayLike, later: ArrayLike, agree: tuple[float, float]) -> list[McNemar]:
    """Per item (column), McNemar's test of the share of paired experts inside the agreement band:
    did agreement itself move between the rounds, beyond the spread of the ratings?

    >>> [m.changed_to for m in agreement_shift([[5, 8], [6, 8]], [[7, 8], [8, 3]], (7, 9))]
    [2, 0]
    """
    before = as_ratings(earlier, "earlier")
    after = as_ratings(later, "later")
    if before.shape != after.shape:
        raise ValueError(f"earlier and later must have the same shape, got {before.shape} and {after.shape}")
    low, high = agree

    def inside(x: FloatArray) -> FloatArray:
        return np.where(np.isnan(x), np.nan, ((x >= low) & (x <= high)).astype(np.float64))

    return [mcnemar(inside(before[:, j]), inside(after[:, j])) for j in range(before.shape[1])]
