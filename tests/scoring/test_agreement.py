"""Panel agreement against published worked examples and independent implementations."""

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

from app.scoring import fleiss_kappa, kendall_w, krippendorff_alpha, panel_agreement
from app.scoring.quantiles import scale_counts

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 coders, 12 units.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)
# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
FLEISS_1971 = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_krippendorff_published_example(level, published):
    counts = scale_counts(KRIPPENDORFF_2011, np.arange(1, 6, dtype=float))
    alpha = krippendorff_alpha(counts, np.arange(1, 6), level)
    assert round(alpha, 3) == published
    assert alpha == pytest.approx(
        krippendorff.alpha(
            reliability_data=KRIPPENDORFF_2011, level_of_measurement=level, value_domain=[1, 2, 3, 4, 5]
        ),
        rel=1e-12,
    )


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_krippendorff_equals_the_krippendorff_package_with_missing_values(seed, level):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 10, size=(12, 30)).astype(float)
    data[rng.random(data.shape) < 0.15] = nan
    ours = panel_agreement(data, (1, 9))
    reference = krippendorff.alpha(reliability_data=data, level_of_measurement=level, value_domain=list(range(1, 10)))
    assert getattr(ours, f"krippendorff_alpha_{level}") == pytest.approx(reference, rel=1e-9)


def test_fleiss_published_example():
    assert round(fleiss_kappa(FLEISS_1971), 3) == 0.210
    assert fleiss_kappa(FLEISS_1971) == pytest.approx(statsmodels_fleiss(FLEISS_1971), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_fleiss_equals_statsmodels_on_complete_panels(seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 10, size=(15, 25)).astype(float)
    agreement = panel_agreement(data, (1, 9))
    table = scale_counts(data, np.arange(1, 10, dtype=float))
    assert agreement.fleiss_kappa == pytest.approx(statsmodels_fleiss(table), rel=1e-12)


def test_kendall_hand_example():
    # rank sums 3, 7, 8; mean 6; S = 9 + 1 + 4 = 14; W = 12 x 14 / (3^2 (3^3 - 3)) = 0.7778
    w = kendall_w([[1, 2, 3], [1, 2, 3], [1, 3, 2]])
    assert w.w == pytest.approx(168 / 216)
    assert w.chi2 == pytest.approx(3 * 2 * 168 / 216)
    assert w.df == 2 and w.p == pytest.approx(stats.chi2.sf(w.chi2, 2))


@pytest.mark.parametrize("seed", range(6))
def test_kendall_equals_friedman_with_ties(seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 6, size=(9, 7)).astype(float)  # a 1-5 scale: many ties
    w = kendall_w(data)
    friedman = stats.friedmanchisquare(*data.T)
    assert w.chi2 == pytest.approx(friedman.statistic, rel=1e-9)
    assert w.w == pytest.approx(friedman.statistic / (9 * 6), rel=1e-9)
    assert w.p == pytest.approx(friedman.pvalue, rel=1e-9)
    assert w.w_uncorrected <= w.w + 1e-12


def test_kendall_leaves_out_incomplete_experts_and_handles_tiny_panels():
    w = kendall_w([[1, 2, 3], [1, 2, nan], [3, 2, 1]])
    assert w.n_judges == 2
    assert np.isnan(kendall_w([[1, 2, 3]]).w)
    assert kendall_w([[1, 2, 3]] * 4).w == pytest.approx(1.0)


@settings(max_examples=80, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 10), st.integers(2, 8)),
        elements=st.sampled_from([1.0, 2, 3, 4, 5, 6, 7, 8, 9]),
    ),
    st.randoms(use_true_random=False),
)
def test_agreement_ignores_the_order_of_experts(data, random):
    order = list(range(len(data)))
    random.shuffle(order)
    a, b = panel_agreement(data).as_dict(), panel_agreement(data[order]).as_dict()
    for key, value in a.items():
        if value is None:
            assert b[key] is None
        else:
            assert b[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
