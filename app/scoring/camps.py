"""Dissenting camps: is there a coherent minority that rates a set of items differently from the
rest of the panel? Delphi reports tend to average dissent away; this finds it so the report can
say who (by number), on what, and why (their reasons), without naming anyone."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from app.scoring._checks import as_ratings

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
MIN_SILHOUETTE = 0.5  # Kaufman & Rousseeuw 1990: above 0.5, "a reasonable structure has been found"
MAX_SHARE = 0.4  # a camp is a minority: at most this share of the panel
DISPUTED_SPREAD = 0.6  # items whose standard deviation is at least this share of the widest's
SEPARATING_GAP = 2.0  # scale points between the two camps' medians on an item that separates them


@dataclass(frozen=True)
class Camps:
    """``labels`` per expert: 0 the majority, 1 the minority, -1 left out (no disputed item
    rated). ``silhouette`` is the mean silhouette width of the two-camp split (NaN when it cannot
    be computed); ``separating`` the items whose camp medians differ by ``SEPARATING_GAP`` or more,
    with both camps' medians; ``coherent`` says whether the minority is a camp worth reporting."""

    labels: IntArray
    minority: int
    silhouette: float
    separating: IntArray
    camp_medians: FloatArray  # 2 x items: majority, minority
    coherent: bool


def distances(ratings: ArrayLike) -> FloatArray:
    """Mean absolute difference between two experts over the items both rated (NaN if none)."""
    x = as_ratings(ratings, "ratings")
    rated = ~np.isnan(x)
    filled = np.where(rated, x, 0.0)
    if rated.any() and np.array_equal(filled, np.round(filled)) and np.ptp(filled[rated]) <= 20:
        return _distances_of_points(filled, rated)
    n = x.shape[0]
    out = np.full((n, n), np.nan)
    for i in range(n):
        both = rated[i] & rated
        count = both.sum(axis=1)
        total = (np.abs(filled[i] - filled) * both).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


_BLOCK_CELLS = 4_000_000  # experts x items x thresholds in one product: 16 MB of float32


def _distances_of_points(filled: FloatArray, rated: NDArray[np.bool_]) -> FloatArray:
    """``distances`` for whole scale points, with matrix products: |a - b| counts the thresholds t
    with a > t >= b or b > t >= a, so the sum over the items both rated is the thresholds under one
    against the rated of the other, both ways, less twice the thresholds under both (exact in
    integers; a few matrix products, the last over many thresholds at once, instead of a loop over
    the experts)."""
    mask = rated.astype(np.float32)  # counts of whole points: exact in float32 below 2**24
    count = (mask @ mask.T).astype(np.float64)
    low, high = int(filled[rated].min()), int(filled[rated].max())
    one_way = (np.where(rated, filled - low, 0.0).astype(np.float32) @ mask.T).astype(np.float64)
    total = one_way + one_way.T
    thresholds = np.arange(low, high)
    step = max(1, _BLOCK_CELLS // max(filled.size, 1))  # thresholds at a time: memory bounded, few products
    for start in range(0, len(thresholds), step):
        above = (filled[:, :, None] > thresholds[start : start + step]) & rated[:, :, None]  # experts x items x t
        flat = above.reshape(len(filled), -1).astype(np.float32)
        total -= 2 * (flat @ flat.T)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def silhouette(d: FloatArray, labels: IntArray) -> float:
    """Mean silhouette width (Rousseeuw 1987) from a distance matrix; a point alone in its cluster
    scores 0, as scikit-learn's ``silhouette_score`` does. Needs two clusters or more."""
    clusters, cluster_of = np.unique(labels, return_inverse=True)
    if len(clusters) < 2:
        raise ValueError("a silhouette needs two clusters or more")
    members = np.eye(len(clusters))[cluster_of]  # points x clusters
    sizes = members.sum(axis=0)
    to_cluster = d @ members  # each point's summed distance to every cluster's points
    rows = np.arange(len(labels))
    own_size = sizes[cluster_of]
    a = (to_cluster[rows, cluster_of] - d[rows, rows]) / np.maximum(own_size - 1, 1)
    mean_to = to_cluster / sizes
    mean_to[rows, cluster_of] = np.inf
    b = mean_to.min(axis=1)
    widest = np.maximum(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where((own_size > 1) & (widest > 0), (b - a) / np.where(widest > 0, widest, 1.0), 0.0)
    return float(np.mean(scores))


def camps(
    ratings: ArrayLike,
    *,
    min_share: float = 0.1,
    min_size: int = 3,
    gap: float = SEPARATING_GAP,
    min_silhouette: float = MIN_SILHOUETTE,
) -> Camps:
    """Split the panel in two by average-linkage clustering of the experts' answer vectors, and say
    whether the smaller part is a coherent camp: at least ``min_size`` experts and ``min_share`` of
    the panel but at most ``MAX_SHARE`` of it (a minority), a mean silhouette of ``min_silhouette``
    or more, and one item or more where the two camps' medians are ``gap`` points apart.

    >>> c = camps([[8, 8, 2], [9, 8, 1], [8, 9, 2], [2, 8, 8], [1, 9, 9], [2, 8, 9], [9, 9, 1], [8, 9, 1]])
    >>> c.minority, c.separating.tolist(), c.coherent
    (3, [0, 2], True)

    Returns
    -------
    Camps
        Who is in which camp (by row), the split's silhouette, the separating items with both
        camps' medians, and whether the minority is coherent.

    References
    ----------
    Sokal & Michener 1958 (average linkage, UPGMA); Rousseeuw 1987 (J Comput Appl Math 20:53),
    silhouettes; Kaufman & Rousseeuw 1990 (Finding Groups in Data), the 0.5 threshold. Checked
    against scikit-learn's silhouette_score.
    """
    x = as_ratings(ratings, "ratings")
    n_items = x.shape[1]
    # the disputed items carry the split: those whose spread is at least ``DISPUTED_SPREAD`` of the
    # widest item's (chosen from the answers alone, before any split, so the test is not circular)
    with np.errstate(all="ignore"):
        spread = np.array([np.std(c[~np.isnan(c)]) if (~np.isnan(c)).sum() > 1 else 0.0 for c in x.T])
    disputed = spread >= DISPUTED_SPREAD * spread.max() if spread.max() > 0 else np.ones(n_items, dtype=bool)
    kept = (~np.isnan(x[:, disputed])).sum(axis=1) >= 1
    labels = np.full(x.shape[0], -1, dtype=np.int64)
    none = Camps(labels, 0, float("nan"), np.array([], dtype=np.int64), np.full((2, n_items), np.nan), False)
    if kept.sum() < 2 * min_size:
        return none
    d = distances(x[kept][:, disputed])
    if np.isnan(d).any():  # two experts without an item in common: fill with the largest distance seen
        d = np.where(np.isnan(d), np.nanmax(d), d)
    np.fill_diagonal(d, 0.0)
    if not np.any(d > 0):
        return none
    split = fcluster(linkage(squareform(d, checks=False), method="average"), t=2, criterion="maxclust") - 1
    if len(set(split.tolist())) < 2:
        return none
    minority_label = int(np.argmin(np.bincount(split, minlength=2)))
    inner = np.where(split == minority_label, 1, 0).astype(np.int64)
    labels[kept] = inner
    width = silhouette(d, inner)
    rows = x[kept]
    with np.errstate(all="ignore"):
        medians = np.vstack([_nanmedian(rows[inner == 0]), _nanmedian(rows[inner == 1])])
    separating = np.nonzero(np.abs(medians[0] - medians[1]) >= gap)[0].astype(np.int64)
    size = int(inner.sum())
    panel = int(kept.sum())
    coherent = bool(
        max(min_size, math.ceil(min_share * panel)) <= size <= MAX_SHARE * panel
        and width >= min_silhouette
        and len(separating)
    )
    return Camps(labels, size, width, separating, medians, coherent)


def _nanmedian(rows: FloatArray) -> FloatArray:
    return np.array([np.median(c[~np.isnan(c)]) if (~np.isnan(c)).any() else np.nan for c in rows.T])
