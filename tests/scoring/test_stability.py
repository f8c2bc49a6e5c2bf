import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import SquareTable

from app.scoring import stability, stuart_maxwell
from app.scoring.stability import signed_rank_test


def test_stability_tests_the_paired_experts_and_records_the_method():
    rng = np.random.default_rng(2)
    before = rng.integers(1, 10, size=(70, 5)).astype(float)
    after = np.clip(before + rng.integers(-2, 3, size=before.shape), 1, 9)
    before[0, 0] = np.nan  # expert 0 missing in round 1 for item 0
    after[1, 0] = np.nan
    before[20:, 1] = np.nan  # item 1: only 20 experts in both rounds
    s = stability(before, after)
    assert s.n_paired.tolist() == [68, 20, 70, 70, 70]
    for j in range(5):
        keep = ~np.isnan(before[:, j]) & ~np.isnan(after[:, j])
        p, method = signed_rank_test(after[keep, j] - before[keep, j])
        assert (s.wilcoxon_p[j], s.wilcoxon_method[j]) == (p, method)
        cv = lambda v: np.std(v, ddof=1) / np.mean(v)  # noqa: E731
        assert s.cv_change[j] == pytest.approx(cv(after[keep, j]) - cv(before[keep, j]))
    assert s.wilcoxon_method[1] == "exact" and s.wilcoxon_method[2] == "normal"


def _every_sign(d: np.ndarray) -> float:
    """The independent reference: the permutation test enumerating all 2**n sign vectors."""
    d = d[d != 0]
    ranks = stats.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    sums = np.array([ranks[np.array(signs, dtype=bool)].sum() for signs in itertools.product((0, 1), repeat=len(d))])
    low, high = np.mean(sums <= observed + 1e-9), np.mean(sums >= observed - 1e-9)
    return min(1.0, 2 * min(low, high))


def test_signed_rank_p_equals_scipy_exact_without_ties_and_every_sign_vector_with_them():
    rng = np.random.default_rng(7)
    checked = {"exact, no ties": 0, "ties and zeros": 0}
    for _ in range(400):
        n = int(rng.integers(1, 13))
        d = rng.integers(-4, 5, n).astype(float)
        if not (d != 0).any():
            continue
        p, method = signed_rank_test(d)
        assert method == "exact"
        assert p == pytest.approx(_every_sign(d), rel=1e-12, abs=1e-15)
        nonzero = d[d != 0]
        if len(np.unique(np.abs(nonzero))) == len(d):  # no ties, no zeros: scipy's exact method
            assert p == pytest.approx(stats.wilcoxon(d, method="exact").pvalue, rel=1e-12)
            checked["exact, no ties"] += 1
        else:
            checked["ties and zeros"] += 1
    for _ in range(200):  # larger panels without ties, up to the exact limit
        d = rng.permutation(np.arange(1, int(rng.integers(14, 51)) + 1)) * rng.choice([-1.0, 1.0])
        d *= rng.choice([-1.0, 1.0], size=len(d))
        assert signed_rank_test(d)[0] == pytest.approx(stats.wilcoxon(d, method="exact").pvalue, rel=1e-9)
    assert min(checked.values()) > 20, checked


def test_signed_rank_p_above_the_exact_range_equals_scipy_s_normal_approximation():
    rng = np.random.default_rng(8)
    for _ in range(100):
        d = rng.integers(-3, 4, int(rng.integers(60, 400))).astype(float)
        if (d != 0).sum() <= 50:
            continue
        p, method = signed_rank_test(d)
        assert method == "normal"
        assert p == pytest.approx(stats.wilcoxon(d, method="asymptotic").pvalue, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-8, 8), min_size=1, max_size=60), st.floats(0.1, 100))
def test_signed_rank_p_is_a_probability_blind_to_sign_and_scale(values, scale):
    d = np.array(values, dtype=float)
    p, method = signed_rank_test(d)
    if not d.any():
        assert np.isnan(p) and method == ""
        return
    assert 0 < p <= 1
    assert signed_rank_test(-d)[0] == pytest.approx(p, rel=1e-12)
    assert signed_rank_test(d * scale) == (p, method) or signed_rank_test(d * scale)[0] == pytest.approx(p)


def test_percentage_change_is_the_net_share_of_answers_that_moved():
    # item 0: frequencies 5,6,7 -> 7,7,8: |1/3-0| for 5, 6 ... half the L1 distance = 2/3
    s = stability([[5, 7], [6, 7], [7, 8]], [[7, 7], [7, 7], [8, 8]])
    assert s.pct_change.tolist() == pytest.approx([200 / 3, 0.0])
    assert s.unchanged.tolist() == [False, True]
    assert np.isnan(s.wilcoxon_p[1])  # nobody moved: the test is undefined, reported as missing
    assert s.stable().tolist() == [False, True]


def test_shapes_must_match():
    with pytest.raises(ValueError, match="same shape"):
        stability(np.ones((3, 2)), np.ones((2, 2)))


@pytest.mark.parametrize("seed", range(5))
def test_stuart_maxwell_equals_statsmodels(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, 60)
    y = np.where(rng.random(60) < 0.7, x, rng.integers(0, 4, 60))
    table = np.zeros((4, 4))
    for a, b in zip(x, y, strict=True):
        table[a, b] += 1
    reference = SquareTable(table, shift_zeros=False).homogeneity()
    ours = stuart_maxwell(x, y)
    assert ours.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert ours.df == reference.df and ours.p == pytest.approx(reference.pvalue, rel=1e-9)


def test_stuart_maxwell_with_labels_and_a_single_category():
    assert stuart_maxwell(["a", "b", "a"], ["a", "b", "b"]).df == 1
    assert np.isnan(stuart_maxwell(["a", "a"], ["a", "a"]).p)


@pytest.mark.parametrize("seed", range(10))
def test_a_category_nobody_moved_in_or_out_of_adds_no_degree_of_freedom(seed):
    """Five experts stay on "z" in both rounds: the test must be the same as without them (the
    statsmodels reference on the table of the categories that moved), not one df more."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, 40)
    y = np.where(rng.random(40) < 0.5, x, rng.integers(0, 3, 40))
    table = np.zeros((3, 3))
    for a, b in zip(x, y, strict=True):
        table[a, b] += 1
    off_diagonal = table - np.diag(np.diag(table))
    assert (off_diagonal.sum(axis=0) + off_diagonal.sum(axis=1) > 0).all()  # every drawn category moved
    reference = SquareTable(table, shift_zeros=False).homogeneity()
    stayed = stuart_maxwell([*x.tolist(), *[9] * 5], [*y.tolist(), *[9] * 5])
    assert stayed.df == reference.df == 2
    assert stayed.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert stayed.p == pytest.approx(reference.pvalue, rel=1e-9)


def test_signed_rank_test_refuses_missing_differences_with_a_message():
    with pytest.raises(ValueError, match="finite"):
        signed_rank_test([1.0, np.nan, 2.0])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0, np.nan]), st.sampled_from([0.0, 1.0, np.nan])), max_size=80))
def test_mcnemar_matches_statsmodels_exact_and_corrected(pairs):
    from statsmodels.stats.contingency_tables import mcnemar as reference

    from app.scoring import MCNEMAR_EXACT_BELOW, mcnemar

    earlier = np.array([p[0] for p in pairs], dtype=float)
    later = np.array([p[1] for p in pairs], dtype=float)
    mine = mcnemar(earlier, later)
    both = ~np.isnan(earlier) & ~np.isnan(later)
    x, y = earlier[both] == 1, later[both] == 1
    table = np.array([[np.sum(~x & ~y), np.sum(~x & y)], [np.sum(x & ~y), np.sum(x & y)]])
    moved = table[0, 1] + table[1, 0]
    assert (mine.changed_to, mine.changed_from) == (table[0, 1], table[1, 0])
    if moved == 0:
        assert np.isnan(mine.p) and mine.method == ""
        return
    expected = reference(table, exact=moved < MCNEMAR_EXACT_BELOW, correction=True)
    assert mine.method == ("exact" if moved < MCNEMAR_EXACT_BELOW else "chi2")
    assert mine.p == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-15)
    assert mine.statistic == pytest.approx(expected.statistic, rel=1e-12)


def test_mcnemar_is_stuart_maxwell_of_two_categories_without_the_correction():
    from app.scoring import mcnemar, stuart_maxwell

    earlier = [0] * 30 + [1] * 10 + [0] * 8 + [1] * 12
    later = [1] * 30 + [0] * 10 + [0] * 8 + [1] * 12
    b, c = 30, 10
    assert stuart_maxwell(earlier, later).statistic == pytest.approx((b - c) ** 2 / (b + c))
    assert mcnemar(earlier, later).statistic == pytest.approx((abs(b - c) - 1) ** 2 / (b + c))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([1.0, 4.0, 7.0, 9.0, np.nan]), st.sampled_from([2.0, 6.0, 7.0, 8.0, np.nan])),
        min_size=1,
        max_size=40,
    )
)
def test_agreement_shift_is_mcnemar_on_being_inside_the_band(pairs):
    from statsmodels.stats.contingency_tables import mcnemar as reference

    from app.scoring import MCNEMAR_EXACT_BELOW, agreement_shift

    earlier = np.array([[p[0]] for p in pairs])
    later = np.array([[p[1]] for p in pairs])
    (shift,) = agreement_shift(earlier, later, (7, 9))
    both = ~np.isnan(earlier[:, 0]) & ~np.isnan(later[:, 0])
    x, y = earlier[both, 0] >= 7, later[both, 0] >= 7
    table = np.array([[np.sum(~x & ~y), np.sum(~x & y)], [np.sum(x & ~y), np.sum(x & y)]])
    moved = table[0, 1] + table[1, 0]
    if moved:
        expected = reference(table, exact=moved < MCNEMAR_EXACT_BELOW, correction=True).pvalue
        assert shift.p == pytest.approx(expected, rel=1e-12, abs=1e-15)
    else:
        assert np.isnan(shift.p)
