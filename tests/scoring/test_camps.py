"""Dissenting camps: the silhouette checked against scikit-learn, the distances against their
definition, a planted minority found and a panel without one left alone."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import silhouette_score

from app.scoring.camps import camps, distances, silhouette


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.float64, (7, 4), elements=st.sampled_from([1.0, 3.0, 5.0, 7.0, 9.0, np.nan])),
    st.lists(st.integers(0, 2), min_size=7, max_size=7),
)
def test_distances_and_silhouette_match_their_definition_and_scikit_learn(ratings, labels):
    d = distances(ratings)
    for i in range(7):
        for j in range(7):
            both = ~np.isnan(ratings[i]) & ~np.isnan(ratings[j])
            expected = np.abs(ratings[i, both] - ratings[j, both]).mean() if both.any() else np.nan
            assert d[i, j] == pytest.approx(expected, nan_ok=True)
    labels = np.array(labels)
    if np.isnan(d).any() or len(set(labels.tolist())) < 2:
        return
    assert silhouette(d, labels) == pytest.approx(silhouette_score(d, labels, metric="precomputed"), abs=1e-12)


def test_a_planted_minority_is_found_with_the_items_that_separate_it():
    rng = np.random.default_rng(3)
    majority = np.clip(np.round(rng.normal([8, 8, 7, 8, 2, 5], 0.7, (12, 6))), 1, 9)
    minority = np.clip(np.round(rng.normal([8, 8, 7, 2, 8, 5], 0.7, (4, 6))), 1, 9)
    ratings = np.vstack([majority, minority])
    found = camps(ratings)
    assert found.coherent and found.minority == 4
    assert found.labels.tolist() == [0] * 12 + [1] * 4
    assert found.separating.tolist() == [3, 4]  # the two items the minority sees the other way
    assert found.camp_medians[1, 3] < found.camp_medians[0, 3] - 4


def test_a_panel_without_camps_has_no_coherent_minority():
    rng = np.random.default_rng(11)
    ratings = np.clip(np.round(rng.normal(7, 1.0, (20, 8))), 1, 9)
    found = camps(ratings)
    assert not found.coherent


def test_too_small_panels_and_identical_answers_give_no_camps():
    assert camps([[7, 8], [8, 8], [7, 7]]).labels.tolist() == [-1, -1, -1]
    same = camps(np.full((8, 3), 7.0))
    assert not same.coherent and same.minority == 0


def _distances_one_by_one(x):  # type: ignore[no-untyped-def]
    rated = ~np.isnan(x)
    filled = np.where(rated, x, 0.0)
    out = np.full((len(x), len(x)), np.nan)
    for i in range(len(x)):
        both = rated[i] & rated
        count = both.sum(axis=1)
        total = (np.abs(filled[i] - filled) * both).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 25).flatmap(
        lambda n: st.integers(1, 12).flatmap(
            lambda k: st.lists(
                st.lists(st.one_of(st.none(), st.integers(1, 9), st.floats(1, 9)), min_size=k, max_size=k),
                min_size=n,
                max_size=n,
            )
        )
    )
)
def test_distances_by_matrix_products_equal_the_pair_by_pair_mean_absolute_difference(rows):
    x = np.array([[np.nan if v is None else float(v) for v in row] for row in rows])
    expected = _distances_one_by_one(x)
    found = distances(x)
    assert np.allclose(found, expected, equal_nan=True, rtol=0, atol=1e-12)


def test_distances_are_the_same_whatever_number_of_thresholds_goes_in_one_product(monkeypatch):
    """A big panel's thresholds go into the products a few at a time (memory bounded): one at a time
    gives the same matrix, exactly."""
    module = sys.modules["app.scoring.camps"]  # the package's ``camps`` is the function

    rng = np.random.default_rng(4)
    ratings = rng.integers(0, 11, size=(30, 12)).astype(float)
    ratings[rng.random(ratings.shape) < 0.2] = np.nan
    whole = distances(ratings)
    monkeypatch.setattr(module, "_BLOCK_CELLS", 1)
    assert np.array_equal(distances(ratings), whole, equal_nan=True)
    assert np.allclose(whole, _distances_one_by_one(ratings), equal_nan=True)
