import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import SquareTable

from app.scoring import stability, stuart_maxwell


def test_wilcoxon_equals_scipy_on_the_paired_experts():
    rng = np.random.default_rng(2)
    before = rng.integers(1, 10, size=(20, 5)).astype(float)
    after = np.clip(before + rng.integers(-2, 3, size=before.shape), 1, 9)
    before[0, 0] = np.nan  # expert 0 missing in round 1 for item 0
    after[1, 0] = np.nan
    s = stability(before, after)
    assert s.n_paired.tolist() == [18, 20, 20, 20, 20]
    for j in range(5):
        keep = ~np.isnan(before[:, j]) & ~np.isnan(after[:, j])
        if np.all(before[keep, j] == after[keep, j]):
            continue
        assert s.wilcoxon_p[j] == pytest.approx(stats.wilcoxon(after[keep, j], before[keep, j]).pvalue)
        cv = lambda v: np.std(v, ddof=1) / np.mean(v)  # noqa: E731
        assert s.cv_change[j] == pytest.approx(cv(after[keep, j]) - cv(before[keep, j]))


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
