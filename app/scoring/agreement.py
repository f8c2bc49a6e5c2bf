"""Agreement of the whole panel over items: Kendall's W, Fleiss' kappa, Krippendorff's alpha."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from app.scoring._checks import as_ratings
from app.scoring.quantiles import scale_counts

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class KendallW:
    """Kendall's coefficient of concordance. NaN when fewer than 2 judges or 2 objects."""

    w: float
    w_uncorrected: float
    chi2: float
    df: int
    p: float
    n_judges: int
    n_objects: int


def kendall_w(ratings: ArrayLike) -> KendallW:
    """Kendall's W with experts as judges and items as the ranked objects.

    Each expert's ratings are turned into mid-ranks over the items; experts with a missing rating
    are left out (W needs complete rankings). With m judges, n objects, rank sums R_j and
    S = sum_j (R_j - mean R)^2:

        W = 12 S / (m^2 (n^3 - n) - m T),   T = sum over judges and tie groups of (t^3 - t)

    the tie-corrected form (Kendall & Babington Smith 1939; Siegel & Castellan 1988, 10.2);
    ``w_uncorrected`` drops ``m T``. chi2 = m (n - 1) W with n - 1 degrees of freedom, which equals
    Friedman's tie-corrected statistic.

    >>> round(kendall_w([[1, 2, 3], [1, 2, 3], [1, 3, 2]]).w, 4)
    0.7778

    Returns
    -------
    KendallW
        ``w`` (tie-corrected), ``w_uncorrected``, ``chi2``, ``df`` and ``p`` (chi-squared approximation), with
        the numbers of judges and objects used.

    References
    ----------
    Kendall & Babington Smith 1939 (Ann Math Stat 10:275); Siegel & Castellan 1988, Nonparametric
    Statistics, ch. 9 (tie correction). Checked against scipy.stats.friedmanchisquare.
    """
    matrix = as_ratings(ratings)
    complete = matrix[~np.isnan(matrix).any(axis=1)]
    m, n = complete.shape
    if m < 2 or n < 2:
        return KendallW(np.nan, np.nan, np.nan, max(n - 1, 0), np.nan, m, n)
    ranks = stats.rankdata(complete, axis=1)
    rank_sums = ranks.sum(axis=0)
    s = float(((rank_sums - rank_sums.mean()) ** 2).sum())
    ties = _tie_term(complete)
    full = m**2 * (n**3 - n)
    w_uncorrected = 12 * s / full
    denominator = full - m * ties
    w = 12 * s / denominator if denominator > 0 else np.nan
    chi2 = m * (n - 1) * w
    p = float(stats.chi2.sf(chi2, n - 1)) if w == w else np.nan
    return KendallW(w=w, w_uncorrected=w_uncorrected, chi2=chi2, df=n - 1, p=p, n_judges=m, n_objects=n)


def _tie_term(matrix: FloatArray) -> float:
    """T = sum over rows and groups of tied values of (t^3 - t), for all rows at once."""
    ordered = np.sort(matrix, axis=1)
    new_run = np.ones(ordered.shape, dtype=bool)
    new_run[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    starts = np.flatnonzero(new_run.ravel())
    lengths = np.diff(np.append(starts, ordered.size)).astype(np.float64)
    return float((lengths**3 - lengths).sum())


def fleiss_kappa(category_counts: ArrayLike) -> float:
    """Fleiss' kappa from a subjects x categories table of how many raters chose each category.

    P_i = (sum_k n_ik^2 - n_i) / (n_i (n_i - 1)), P = mean P_i, p_k = sum_i n_ik / sum_i n_i,
    P_e = sum_k p_k^2, kappa = (P - P_e) / (1 - P_e) (Fleiss 1971). Subjects with fewer than two
    ratings are skipped; with a constant number of raters this is exactly Fleiss' statistic.

    Returns
    -------
    float
        Fleiss' kappa; NaN when it is undefined (no subject rated twice, or every rating in one
        category).

    References
    ----------
    Fleiss 1971 (Psychol Bull 76:378). Checked against statsmodels.stats.inter_rater.fleiss_kappa.
    """
    table = np.asarray(category_counts, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError("category_counts must be a subjects x categories table")
    n_i = table.sum(axis=1)
    table = table[n_i >= 2]
    n_i = n_i[n_i >= 2]
    if len(table) == 0:
        return float("nan")
    agreement = ((table**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_k = table.sum(axis=0) / n_i.sum()
    expected = float((p_k**2).sum())
    if expected >= 1:
        return float("nan")
    return float((agreement.mean() - expected) / (1 - expected))


def krippendorff_alpha(value_counts: ArrayLike, values: ArrayLike, level: str = "ordinal") -> float:
    """Krippendorff's alpha from a units x values table (how many coders gave each value to a unit).

    Coincidences o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1) over units with m_u >= 2
    pairable values; alpha = 1 - (n - 1) sum o_ck d_ck / sum n_c n_k d_ck, with d the nominal,
    ordinal or interval metric over the value domain (Krippendorff 2011, "Computing Krippendorff's
    alpha-reliability"). Missing ratings simply do not appear in the table.

    Returns
    -------
    float
        Alpha at the asked level of measurement; NaN when there is no disagreement to compare with.

    References
    ----------
    Krippendorff 2011, Computing Krippendorff's alpha-reliability (Annenberg, U. Pennsylvania).
    Checked against the ``krippendorff`` package.
    """
    table = np.asarray(value_counts, dtype=np.float64)
    domain = np.asarray(values, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(domain):
        raise ValueError("value_counts must be units x values, one column per value of the domain")
    m_u = table.sum(axis=1)
    table, m_u = table[m_u >= 2], m_u[m_u >= 2]
    if len(table) == 0:
        return float("nan")
    scaled = table / (m_u - 1)[:, None]
    coincidence = scaled.T @ table - np.diag(scaled.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n_total = n_c.sum()
    delta = _metric(domain, n_c, level)
    observed = (coincidence * delta).sum()
    expected = (np.outer(n_c, n_c) * delta).sum()
    if expected == 0:
        return float("nan")
    return float(1 - (n_total - 1) * observed / expected)


def _metric(domain: FloatArray, n_c: FloatArray, level: str) -> FloatArray:
    if level == "nominal":
        return 1.0 - np.eye(len(domain))
    if level == "interval":
        return (domain[:, None] - domain[None, :]) ** 2
    if level == "ordinal":
        cumulative = np.concatenate(([0.0], np.cumsum(n_c)))
        # sum_{g=c}^{k} n_g - (n_c + n_k) / 2, for c <= k (symmetric)
        lo = np.minimum.outer(np.arange(len(domain)), np.arange(len(domain)))
        hi = np.maximum.outer(np.arange(len(domain)), np.arange(len(domain)))
        between = cumulative[hi + 1] - cumulative[lo]
        return (between - (n_c[:, None] + n_c[None, :]) / 2) ** 2
    raise ValueError(f"level must be nominal, ordinal or interval; got {level!r}")


@dataclass(frozen=True)
class PanelAgreement:
    kendall_w: float
    kendall_w_uncorrected: float
    kendall_chi2: float
    kendall_df: int
    kendall_p: float
    kendall_n_judges: int
    fleiss_kappa: float
    krippendorff_alpha_nominal: float
    krippendorff_alpha_ordinal: float
    krippendorff_alpha_interval: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {k: (None if isinstance(v, float) and v != v else v) for k, v in asdict(self).items()}


def panel_agreement(ratings: ArrayLike, scale: tuple[int, int] = (1, 9)) -> PanelAgreement:
    """All panel-level agreement figures for one round, the scale points as categories/values.

    Returns
    -------
    PanelAgreement
        Kendall's W (tie-corrected and not, with chi-squared, df and p), Fleiss' kappa, and
        Krippendorff's alpha at the nominal, ordinal and interval levels.

    References
    ----------
    DELPHI.md, "Panel agreement over items"; von der Gracht 2012 (Technol Forecast Soc Change 79:1525).
    """
    matrix = as_ratings(ratings)
    points = np.arange(scale[0], scale[1] + 1, dtype=np.float64)
    counts = scale_counts(matrix, points)
    present = (~np.isnan(matrix)).sum(axis=0)
    if not np.array_equal(counts.sum(axis=1), present):
        points = np.unique(matrix[~np.isnan(matrix)])
        counts = scale_counts(matrix, points)
    w = kendall_w(matrix)
    return PanelAgreement(
        kendall_w=w.w,
        kendall_w_uncorrected=w.w_uncorrected,
        kendall_chi2=w.chi2,
        kendall_df=w.df,
        kendall_p=w.p,
        kendall_n_judges=w.n_judges,
        fleiss_kappa=fleiss_kappa(counts),
        krippendorff_alpha_nominal=krippendorff_alpha(counts, points, "nominal"),
        krippendorff_alpha_ordinal=krippendorff_alpha(counts, points, "ordinal"),
        krippendorff_alpha_interval=krippendorff_alpha(counts, points, "interval"),
    )
