"""summarize() against numpy/scipy computed item by item, published examples and properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.scoring import QUANTILE_METHODS, summarize
from app.scoring.descriptive import opposite_band


def random_ratings(seed, experts=23, items=40, scale=(1, 9), missing=0.2):
    rng = np.random.default_rng(seed)
    matrix = rng.integers(scale[0], scale[1] + 1, size=(experts, items)).astype(float)
    matrix[rng.random(matrix.shape) < missing] = np.nan
    return matrix


def per_column(matrix, function):
    out = []
    for column in matrix.T:
        values = column[~np.isnan(column)]
        out.append(function(values) if len(values) else np.nan)
    return np.array(out)


@pytest.mark.parametrize("method", QUANTILE_METHODS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quartiles_equal_numpy_for_every_method(method, seed):
    matrix = random_ratings(seed)
    s = summarize(matrix, quantile_method=method)
    for q, got in ((0.25, s.q1), (0.5, s.median), (0.75, s.q3)):
        expected = per_column(matrix, lambda v, q=q: np.quantile(v, q, method=method))
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(s.iqr, s.q3 - s.q1)
    assert s.quantile_method == method


@pytest.mark.parametrize("method", QUANTILE_METHODS)
def test_values_between_scale_points_take_the_same_path_as_numpy(method):
    rng = np.random.default_rng(5)
    matrix = rng.choice([1, 1.5, 2, 4.25, 5], size=(15, 6)).astype(float)
    matrix[0, 0] = np.nan
    s = summarize(matrix, scale=(1, 5), agree=(4, 5), quantile_method=method)
    expected = per_column(matrix, lambda v: np.quantile(v, 0.5, method=method))
    np.testing.assert_array_equal(s.median, expected)
    np.testing.assert_allclose(s.mean, per_column(matrix, np.mean))


def test_moments_and_shares_equal_numpy():
    matrix = random_ratings(3)
    s = summarize(matrix, scale=(1, 9), agree=(7, 9))
    np.testing.assert_array_equal(s.n, (~np.isnan(matrix)).sum(axis=0))
    np.testing.assert_array_equal(s.missing, np.isnan(matrix).sum(axis=0))
    np.testing.assert_allclose(s.mean, per_column(matrix, np.mean))
    np.testing.assert_allclose(s.sd, per_column(matrix, lambda v: np.std(v, ddof=1)))
    np.testing.assert_allclose(s.cv, s.sd / s.mean)
    np.testing.assert_allclose(s.agreement, per_column(matrix, lambda v: np.mean((v >= 7) & (v <= 9))))
    np.testing.assert_allclose(s.opposition, per_column(matrix, lambda v: np.mean(v <= 3)))
    np.testing.assert_allclose(s.ad_m, per_column(matrix, lambda v: np.mean(np.abs(v - v.mean()))))
    expected_rwg = per_column(matrix, lambda v: max(0.0, 1 - np.var(v, ddof=1) / ((9**2 - 1) / 12)))
    np.testing.assert_allclose(s.rwg, expected_rwg)


def test_weighted_figures_equal_numpy_with_weights():
    matrix = random_ratings(4)
    rng = np.random.default_rng(9)
    for weights in (rng.integers(0, 5, size=23).astype(float), rng.random(23) * 3):
        weights[0] = max(weights[0], 1.0)
        s = summarize(matrix, weights=weights)
        for q, got in ((0.25, s.q1), (0.5, s.median), (0.75, s.q3)):
            expected = []
            for column in matrix.T:
                keep = ~np.isnan(column)
                w = weights[keep]
                expected.append(np.quantile(column[keep], q, method="inverted_cdf", weights=w) if w.sum() else np.nan)
            np.testing.assert_array_equal(got, np.array(expected))
        expected_mean = [np.average(c[~np.isnan(c)], weights=weights[~np.isnan(c)]) for c in matrix.T]
        np.testing.assert_allclose(s.mean, expected_mean)
        expected_agreement = [np.average((c[~np.isnan(c)] >= 7), weights=weights[~np.isnan(c)]) for c in matrix.T]
        np.testing.assert_allclose(s.agreement, expected_agreement)
        assert s.weighted and s.quantile_method == "inverted_cdf"


def test_rand_ucla_worked_example():
    # sorted 1 2 3 7 8 9 9 9 9 (type 7): P30 at index 2.4 = 3 + 0.4 (7 - 3) = 4.6; P70 at index 5.6
    # = 9; IPR 4.4; IPRCP 6.8; AI 1.8; IPRAS 2.35 + 1.5 x 1.8 = 5.05; DI 0.871 <= 1; median 8.
    s = summarize(np.array([[1, 2, 3, 7, 8, 9, 9, 9, 9]], dtype=float).T)
    assert s.ipr[0] == pytest.approx(4.4)
    assert s.ipras[0] == pytest.approx(5.05)
    assert s.di[0] == pytest.approx(4.4 / 5.05)
    assert s.rand_class == ("appropriate",)
    polarised = summarize(np.array([[1, 1, 1, 1, 9, 9, 9, 9, 9]], dtype=float).T)
    assert polarised.di[0] > 1 and polarised.rand_class == ("uncertain",)


def test_rand_figures_only_on_a_1_to_9_scale():
    s = summarize(np.array([[1, 2, 5], [4, 5, 5]], dtype=float), scale=(1, 5), agree=(4, 5))
    assert np.isnan(s.ipr).all() and np.isnan(s.di).all() and s.rand_class == (None, None, None)
    assert opposite_band((1, 5), (4, 5)) == (1, 2)
    assert opposite_band((1, 9), (7, 9)) == (1, 3)


def test_item_without_answers_is_nan_not_an_error():
    s = summarize(np.array([[np.nan, 5], [np.nan, 6]]))
    assert s.n.tolist() == [0, 2]
    assert np.isnan(s.median[0]) and np.isnan(s.agreement[0]) and s.median[1] == 5.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantile_method": "nope"}, "quantile_method"),
        ({"agree": (7, 10)}, "agree"),
        ({"weights": [1, 2]}, "weights"),
        ({"weights": [1, -1, 1]}, "weights"),
        ({"scale": (9, 1)}, "scale"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        summarize(np.ones((3, 2)) * 5, **kwargs)


def test_values_off_the_scale_are_refused():
    with pytest.raises(ValueError, match="outside the scale"):
        summarize([[5, 12]], scale=(1, 9))


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    matrix = random_ratings(6, experts=30, items=8, missing=0.0)
    a = summarize(matrix, n_boot=300, seed=11)
    b = summarize(matrix, n_boot=300, seed=11)
    np.testing.assert_array_equal(a.median_ci, b.median_ci)
    assert np.all(a.median_ci[:, 0] <= a.median_ci[:, 1])
    assert np.all(a.agreement_ci[:, 0] <= a.agreement + 1e-12)
    assert np.all(a.agreement + 1e-12 >= a.agreement_ci[:, 0]) and np.all(a.agreement <= a.agreement_ci[:, 1] + 1e-12)
    constant = summarize(np.full((10, 2), 8.0), n_boot=50)
    np.testing.assert_array_equal(constant.median_ci, [[8, 8], [8, 8]])
    small = summarize(matrix[:8], n_boot=300, seed=1)
    large = summarize(np.tile(matrix, (4, 1)), n_boot=300, seed=1)
    assert np.mean(np.diff(large.agreement_ci, axis=1)) < np.mean(np.diff(small.agreement_ci, axis=1))


def test_records_are_json_ready():
    record = summarize(np.array([[7.0, np.nan], [8.0, np.nan]])).records(["a", "b"])
    assert record[0]["median"] == 7.5 and record[1]["median"] is None
    assert record[0]["distribution"]["7"] == 1.0


# --- properties ------------------------------------------------------------------------------------

ratings_matrix = arrays(
    np.float64,
    st.tuples(st.integers(2, 12), st.integers(1, 6)),
    elements=st.sampled_from([1.0, 2, 3, 4, 5, 6, 7, 8, 9, np.nan]),
)


@settings(max_examples=150, deadline=None)
@given(ratings_matrix, st.data())
def test_integer_weights_equal_replicating_experts_but_for_the_sd(matrix, data):
    """Shares, quantiles and means do not tell a weight of 2 from two experts; the SD does, on
    purpose (reliability weights: a weight is how much an expert counts, not a head count)."""
    weights = np.array(data.draw(st.lists(st.integers(1, 4), min_size=len(matrix), max_size=len(matrix))), dtype=float)
    weighted = summarize(matrix, weights=weights)
    replicated = summarize(np.repeat(matrix, weights.astype(int), axis=0), quantile_method="inverted_cdf")
    for name in ("median", "q1", "q3", "mean", "agreement", "opposition", "ad_m", "ipr"):
        np.testing.assert_allclose(weighted.metric(name), replicated.metric(name), rtol=1e-9, atol=1e-12, err_msg=name)


def _reliability_weighted_sd(values: np.ndarray, weights: np.ndarray) -> float:
    """The reference, from the raw answers: sqrt(sum w (x - m)^2 / (V1 - V2 / V1))."""
    keep = ~np.isnan(values)
    x, w = values[keep], weights[keep]
    v1, v2 = w.sum(), (w**2).sum()
    if len(x) < 2 or v1 - v2 / v1 <= 0:
        return float("nan")
    mean = np.average(x, weights=w)
    return float(np.sqrt((w * (x - mean) ** 2).sum() / (v1 - v2 / v1)))


@settings(max_examples=150, deadline=None)
@given(ratings_matrix, st.data(), st.floats(1e-6, 1e6))
def test_the_weighted_sd_depends_on_the_weights_ratios_only(matrix, data, size):
    """Equal weights of any size give the unweighted SD; weights summing to 1 and the same weights
    scaled give the same SD, equal to the reference formula (issue: NaN or 2.5e8 with weights summing
    to 1, and 3.65, 3.16, 2.98, 2.86 for equal weights 0.5, 1, 2, 10)."""
    experts = len(matrix)
    weights = np.array(data.draw(st.lists(st.floats(0.01, 10), min_size=experts, max_size=experts)))
    unweighted = summarize(matrix).sd
    equal = summarize(matrix, weights=np.full(experts, size)).sd
    np.testing.assert_allclose(equal, unweighted, rtol=1e-9, atol=1e-12, equal_nan=True)
    normalised = summarize(matrix, weights=weights / weights.sum()).sd
    scaled = summarize(matrix, weights=weights * size).sd
    expected = [_reliability_weighted_sd(column, weights) for column in matrix.T]
    np.testing.assert_allclose(normalised, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(scaled, expected, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_weighted_quantiles_land_on_the_exact_cumulative_share():
    """Decimal weights whose cumulative share is exactly 1/2 in real numbers (0.1 + 0.2 = 0.3 of 0.6)
    give the lower point, as inverted_cdf defines (and as exact fractions say), not the next one."""
    from fractions import Fraction

    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(2000):
        n = int(rng.integers(2, 9))
        values = rng.integers(1, 10, n).astype(float)
        weights = rng.integers(1, 10, n) / 10  # decimal weights: sums are not exact in binary
        for q in (0.25, 0.5, 0.75):
            got = summarize(values[:, None], weights=weights).metric({0.25: "q1", 0.5: "median", 0.75: "q3"}[q])[0]
            exact = [Fraction(int(round(w * 10)), 10) for w in weights]
            order = np.argsort(values, kind="stable")
            total, running, expected = sum(exact), Fraction(0), None
            for k in order:
                running += exact[k]
                if running >= Fraction(q).limit_denominator(100) * total:
                    expected = values[k]
                    break
            assert got == expected, (values.tolist(), weights.tolist(), q)
            checked += 1
    assert checked == 6000


@settings(max_examples=150, deadline=None)
@given(ratings_matrix, st.randoms(use_true_random=False), st.sampled_from(QUANTILE_METHODS))
def test_permuting_experts_changes_nothing(matrix, random, method):
    order = list(range(len(matrix)))
    random.shuffle(order)
    a = summarize(matrix, quantile_method=method)
    b = summarize(matrix[order], quantile_method=method)
    for name in a.METRICS:
        np.testing.assert_allclose(a.metric(name), b.metric(name), rtol=1e-12, atol=1e-12, err_msg=name)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 9), st.integers(1, 15), st.sampled_from(QUANTILE_METHODS))
def test_constant_ratings_give_iqr_zero_and_full_or_no_agreement(value, experts, method):
    s = summarize(np.full((experts, 3), float(value)), quantile_method=method)
    assert np.all(s.iqr == 0) and np.all(s.median == value)
    assert np.all(s.agreement == (1.0 if value >= 7 else 0.0))
    assert np.all(s.opposition == (1.0 if value <= 3 else 0.0))


def test_big_matrices_take_the_parallel_path_and_agree_with_numpy():
    from app.scoring._kernels import PARALLEL_FROM

    rng = np.random.default_rng(8)
    matrix = rng.integers(1, 10, size=(PARALLEL_FROM // 200 + 7, 200)).astype(float)
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    assert matrix.size >= PARALLEL_FROM
    s = summarize(matrix)
    np.testing.assert_array_equal(s.median, per_column(matrix, np.median))
    np.testing.assert_array_equal(s.n, (~np.isnan(matrix)).sum(axis=0))
    np.testing.assert_allclose(s.mean, per_column(matrix, np.mean))


def test_one_rater_with_weight_has_no_sd_even_when_rounding_leaves_a_hair_of_denominator():
    """Weights (2.997118905373848, 0) on ratings 5 and 7: V1 - V2/V1 came out 1e-17, not 0, and the
    SD 0 with r_wg 1 (perfect agreement from one effective rater)."""
    s = summarize([[5.0], [7.0]], weights=[2.997118905373848, 0.0])
    assert np.isnan(s.sd[0]) and np.isnan(s.rwg[0])
    both = summarize([[5.0], [7.0]], weights=[2.997118905373848, 1.0])
    assert both.sd[0] > 0


def _tastle_wierman(values: np.ndarray, low: float, high: float) -> float:
    """The reference, from the raw answers: 1 + mean over experts of log2(1 - |x - mean| / width)."""
    x = values[~np.isnan(values)]
    return float(1 + np.mean(np.log2(1 - np.abs(x - x.mean()) / (high - low))))


def test_tastle_wierman_consensus_worked_values():
    """Tastle & Wierman (2007) on a 1-5 scale: everyone on one point 1; half at each end 0; one expert
    on each point 1 + (2 log2 1/2 + 2 log2 3/4) / 5 = 0.4340 (their "uniform" case)."""
    one_point = summarize(np.full((6, 1), 3.0), scale=(1, 5), agree=(4, 5))
    split = summarize(np.array([[1.0], [5.0], [1.0], [5.0]]), scale=(1, 5), agree=(4, 5))
    uniform = summarize(np.arange(1.0, 6.0)[:, None], scale=(1, 5), agree=(4, 5))
    assert one_point.cns[0] == 1.0 and split.cns[0] == 0.0
    assert uniform.cns[0] == pytest.approx(1 + (2 * np.log2(0.5) + 2 * np.log2(0.75)) / 5, rel=1e-12)
    assert round(float(uniform.cns[0]), 4) == 0.4340 and uniform.dnt[0] == pytest.approx(1 - uniform.cns[0])
    assert np.isnan(summarize(np.full((3, 1), np.nan)).cns[0])


@settings(max_examples=150, deadline=None)
@given(ratings_matrix, st.integers(1, 20))
def test_tastle_wierman_consensus_is_between_0_and_1_and_equals_the_formula_on_raw_answers(matrix, size):
    s = summarize(matrix)
    expected = [_tastle_wierman(c, 1, 9) if (~np.isnan(c)).any() else np.nan for c in matrix.T]
    np.testing.assert_allclose(s.cns, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
    answered = ~np.isnan(s.cns)
    assert np.all((s.cns[answered] >= 0) & (s.cns[answered] <= 1))
    np.testing.assert_allclose(s.cns + s.dnt, np.where(answered, 1.0, np.nan), equal_nan=True)
    equal = summarize(matrix, weights=np.full(len(matrix), float(size)))
    np.testing.assert_allclose(equal.cns, s.cns, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_attrition_per_item_matches_the_mann_whitney_worked_example():
    """Hollander & Wolfe (1973, p. 69), the example of R's ?wilcox.test: permeability constants,
    x (10 values) against y (5); R prints W = 35, p-value = 0.1272 one-sided, so 0.2544 two-sided."""
    from app.scoring import attrition_bias

    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    left = np.column_stack([x, x])  # the experts who left: x; the second item shifts those who stayed
    stayed = np.column_stack([y, np.array(y) + 5])
    comparison = attrition_bias(stayed, left)
    assert comparison.item_p is not None
    assert comparison.item_p[0] == pytest.approx(0.2544, abs=5e-5)
    assert comparison.item_p[1] == pytest.approx(2 / math.comb(15, 5), rel=1e-9)  # complete separation
    difference = float(np.median(x) - np.median(y))
    assert comparison.median_difference.tolist() == pytest.approx([difference, difference - 5])


def test_missing_counts_the_experts_asked_when_each_was_asked_some_items():
    ratings = [[7, np.nan, np.nan], [8, 9, np.nan], [np.nan, 2, 5]]
    assert summarize(ratings).missing.tolist() == [1, 1, 2]
    asked = [[True, False, False], [True, True, False], [True, True, True]]
    assert summarize(ratings, asked=asked).missing.tolist() == [1, 0, 0]
    assert summarize(ratings, asked=asked).median.tolist() == summarize(ratings).median.tolist()
    with pytest.raises(ValueError, match="shape of the ratings"):
        summarize(ratings, asked=[[True, True]])
