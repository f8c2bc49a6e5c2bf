"""Attrition bias: did the experts who left answer differently from those who stayed?"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from app.scoring._checks import as_ratings


@dataclass(frozen=True)
class AttritionComparison:
    """``median_difference`` per item is median(left) - median(stayed) on the earlier round, and
    ``item_p`` the Mann-Whitney U test of that item's ratings, left against stayed; ``p_value`` is
    the same test on the experts' mean ratings (all two-sided, scipy's defaults: exact for small
    groups without ties); NaN where either group has no rating."""

    n_stayed: int
    n_left: int
    median_difference: NDArray[np.float64]
    mean_stayed: float
    mean_left: float
    p_value: float
    item_p: NDArray[np.float64] | None = None


def attrition_bias(stayed: ArrayLike, left: ArrayLike) -> AttritionComparison:
    """Compare the earlier answers (experts x items) of those who stayed and those who left.

    >>> c = attrition_bias([[8, 9], [7, 8]], [[3, 4]])
    >>> c.median_difference.tolist(), c.n_left
    ([-4.5, -4.5], 1)

    Returns
    -------
    AttritionComparison
        The sizes of both groups, the difference of their medians, their means, and the p value of a
        Mann-Whitney U test between the experts' mean ratings.

    References
    ----------
    Mann & Whitney 1947 (Ann Math Stat 18:50), as scipy.stats.mannwhitneyu; checked against the
    worked example of Hollander & Wolfe (1973, p. 69) that R's ``wilcox.test`` prints.
    """
    a = as_ratings(stayed, "stayed")
    b = as_ratings(left, "left")
    if a.shape[1] != b.shape[1]:
        raise ValueError("stayed and left must have the same items (columns)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an item nobody in a group rated: NaN
        difference = (
            np.nanmedian(b, axis=0) - np.nanmedian(a, axis=0) if len(a) and len(b) else np.full(a.shape[1], np.nan)
        )
        means_a = np.nanmean(a, axis=1) if len(a) else np.array([])
        means_b = np.nanmean(b, axis=1) if len(b) else np.array([])
    means_a, means_b = means_a[~np.isnan(means_a)], means_b[~np.isnan(means_b)]
    p = float(stats.mannwhitneyu(means_b, means_a).pvalue) if len(means_a) and len(means_b) else float("nan")
    item_p = np.full(a.shape[1], np.nan)
    for j in range(a.shape[1]):
        x, y = b[:, j][~np.isnan(b[:, j])], a[:, j][~np.isnan(a[:, j])]
        if len(x) and len(y):
            item_p[j] = float(stats.mannwhitneyu(x, y).pvalue)
    return AttritionComparison(
        n_stayed=len(means_a),
        n_left=len(means_b),
        median_difference=difference,
        mean_stayed=float(means_a.mean()) if len(means_a) else float("nan"),
        mean_left=float(means_b.mean()) if len(means_b) else float("nan"),
        p_value=p,
        item_p=item_p,
    )
