import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring import (
    competition_ranks,
    expert_weights,
    importance_weights,
    kendall_w,
    normalise_weights,
    summarize_ranking,
)


def test_importance_weights_rescale_normalise_and_rank():
    w = importance_weights([9, 5, 5, 1], ["t1", "t1", "t2", "t2"], (1, 9))
    np.testing.assert_allclose(w.item_score, [1, 0.5, 0.5, 0])
    np.testing.assert_allclose(w.item_weight, [0.5, 0.25, 0.25, 0])
    assert w.item_rank.tolist() == [1, 2, 2, 4]
    assert w.theme_keys == ("t1", "t2")
    np.testing.assert_allclose(w.theme_score, [0.75, 0.25])
    np.testing.assert_allclose(w.theme_weight, [0.75, 0.25])
    assert w.theme_rank.tolist() == [1, 2]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(1, 9), min_size=1, max_size=20), st.data())
def test_weights_sum_to_one_and_follow_the_ratings(means, data):
    themes = data.draw(st.lists(st.sampled_from("abc"), min_size=len(means), max_size=len(means)))
    w = importance_weights(means, themes, (1, 9))
    assert w.item_weight.sum() == pytest.approx(1.0)
    assert w.theme_weight.sum() == pytest.approx(1.0)
    order = np.argsort(-np.asarray(means), kind="stable")
    assert np.all(np.diff(w.item_rank[order]) >= 0)


def test_competition_ranks_share_ties_and_put_nan_last():
    assert competition_ranks([3, 5, 5, np.nan, 1]).tolist() == [3, 1, 1, 5, 4]


def test_ranking_question_mean_rank_borda_and_kendall():
    ranks = np.array([[1, 2, 3], [1, 3, 2], [2, 1, 3], [1, 2, np.nan]])
    r = summarize_ranking(ranks)
    np.testing.assert_allclose(r.mean_rank, [5 / 4, 2, 8 / 3])
    # Borda: k - rank points, k = 3; unranked gets none
    np.testing.assert_allclose(r.borda, [2 + 2 + 1 + 2, 1 + 0 + 2 + 1, 0 + 1 + 0])
    assert r.order.tolist() == [0, 1, 2]
    assert r.kendall.w == pytest.approx(kendall_w(ranks[:3]).w)
    assert r.n_ranked.tolist() == [4, 4, 3]


def test_expert_weight_schemes():
    profiles = [{"self_rating": 8, "years": 12, "publications": 3}, {"self_rating": 4, "years": 30, "publications": 0}]
    assert expert_weights("equal", profiles).tolist() == [1, 1]
    assert expert_weights("self_rated", profiles).tolist() == [8, 4]
    assert expert_weights("assigned", profiles, assigned=[2, 1]).tolist() == [2, 1]
    formula = "0.5 * self_rating / 10 + 0.3 * min(years, 20) / 20 + 0.2 * min(publications, 20) / 20"
    np.testing.assert_allclose(expert_weights("formula", profiles, formula=formula), [0.4 + 0.18 + 0.03, 0.2 + 0.3])
    np.testing.assert_allclose(normalise_weights([1, 3]), [0.25, 0.75])
    np.testing.assert_allclose(normalise_weights([1, 3], mean_one=True), [0.5, 1.5])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scheme": "formula", "formula": "years * 2"}, "expert 2 has no number for 'years'"),
        ({"scheme": "formula", "formula": "self_rating - 10"}, "cannot be negative"),
        ({"scheme": "self_rated", "field": "role"}, "not a number"),
        ({"scheme": "magic"}, "scheme must be one of"),
    ],
)
def test_expert_weight_errors_are_readable(kwargs, message):
    profiles = [{"self_rating": 8, "years": 2, "role": "prof"}, {"self_rating": 4, "role": "dev"}]
    scheme = kwargs.pop("scheme")
    with pytest.raises(ValueError, match=message):
        expert_weights(scheme, profiles, **kwargs)
