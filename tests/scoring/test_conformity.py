"""The conformity diagnostic: moves toward the earlier median, against random directions of change;
its exact p checked by enumerating every direction."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.scoring.conformity import conformity


def enumerated_p(earlier: np.ndarray, later: np.ndarray, column: int | None) -> float:
    """P(toward >= observed) over every way of reversing the changes that could be reversed inside
    the scale 1-9, counted one by one."""
    medians = np.array([np.median(c[~np.isnan(c)]) for c in earlier.T])
    cells = [
        (i, j)
        for i in range(earlier.shape[0])
        for j in range(earlier.shape[1])
        if (column is None or j == column)
        and not np.isnan(earlier[i, j])
        and not np.isnan(later[i, j])
        and later[i, j] != earlier[i, j]
        and earlier[i, j] != medians[j]
        and 1 <= 2 * earlier[i, j] - later[i, j] <= 9  # its reversal stays on the scale
    ]
    forced = sum(
        abs(later[i, j] - medians[j]) < abs(earlier[i, j] - medians[j])
        for i in range(earlier.shape[0])
        for j in range(earlier.shape[1])
        if (column is None or j == column)
        and not np.isnan(earlier[i, j])
        and not np.isnan(later[i, j])
        and later[i, j] != earlier[i, j]
        and earlier[i, j] != medians[j]
        and not 1 <= 2 * earlier[i, j] - later[i, j] <= 9
    )

    def toward(signs: tuple[int, ...]) -> int:
        count = 0
        for (i, j), sign in zip(cells, signs, strict=True):
            moved = earlier[i, j] + sign * (later[i, j] - earlier[i, j])
            count += abs(moved - medians[j]) < abs(earlier[i, j] - medians[j])
        return count

    observed = toward((1,) * len(cells)) + forced
    outcomes = [toward(signs) + forced for signs in itertools.product((1, -1), repeat=len(cells))]
    return sum(o >= observed for o in outcomes) / len(outcomes)


def test_a_panel_that_all_moved_toward_the_median():
    earlier = np.array([[2, 9], [3, 8], [5, 5], [7, 1], [8, 9], [9, 9]], dtype=float)
    later = np.array([[4, 9], [5, 8], [5, 5], [6, 1], [7, 9], [7, 9]], dtype=float)
    c = conformity(earlier, later)
    assert c.medians.tolist() == [6.0, 8.5]
    assert c.changed.tolist() == [5, 0] and c.toward.tolist() == [5, 0] and c.share[0] == 1.0
    assert c.item_p[0] == pytest.approx(1 / 32)  # five changes, each toward the median by chance 1/2
    assert np.isnan(c.item_p[1]) and np.isnan(c.share[1])
    assert c.expert_changed.tolist() == [1, 1, 0, 1, 1, 1] and c.expert_toward.tolist() == [1, 1, 0, 1, 1, 1]


@settings(max_examples=120, deadline=None)
@given(
    arrays(np.float64, (5, 2), elements=st.sampled_from([1.0, 3.0, 5.0, 6.0, 7.0, 9.0])),
    arrays(np.float64, (5, 2), elements=st.sampled_from([1.0, 2.0, 5.0, 7.0, 8.0, 9.0, np.nan])),
)
def test_the_exact_p_is_the_enumeration_of_every_direction(earlier, later):
    c = conformity(earlier, later, scale=(1, 9))
    for j in range(2):
        if c.changed[j]:
            assert c.item_p[j] == pytest.approx(enumerated_p(earlier, later, j), abs=1e-12)
            assert 0 <= c.share[j] <= 1
        else:
            assert np.isnan(c.item_p[j])
    if c.changed.sum():
        assert c.panel_p == pytest.approx(enumerated_p(earlier, later, None), abs=1e-12)
    assert c.expert_changed.sum() == c.changed.sum() and c.expert_toward.sum() == c.toward.sum()


def test_rounds_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        conformity([[1, 2]], [[1, 2, 3]])
