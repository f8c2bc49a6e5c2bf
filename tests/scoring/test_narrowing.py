import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring import Candidate, NarrowingRule, allocate_seats, narrow


def panel(n_academic=11, n_practitioner=11, seed=1):
    rng = random.Random(seed)
    return [
        Candidate(
            f"E{i:02d}",
            "academic" if i < n_academic else "practitioner",
            weight=rng.random(),
            participation=rng.choice([1.0, 1.0, 0.5]),
            completeness=rng.random(),
        )
        for i in range(n_academic + n_practitioner)
    ]


def test_seed_study_narrowing_keeps_ten_with_group_shares():
    result = narrow(panel(), NarrowingRule(target=10))
    assert len(result.kept) == 10
    assert result.seats == {"academic": 5, "practitioner": 5}
    kept_groups = [f.group for f in result.fates if f.kept]
    assert kept_groups.count("academic") == 5


def test_the_kept_are_the_best_of_each_group_and_reasons_say_why():
    result = narrow(panel(), NarrowingRule(target=10))
    for group in ("academic", "practitioner"):
        fates = [f for f in result.fates if f.group == group]
        lowest_kept = min(f.score for f in fates if f.kept)
        assert all(f.score <= lowest_kept for f in fates if not f.kept)
    for fate in result.fates:
        assert fate.reason.startswith("Kept: " if fate.kept else "Dropped: ")
        assert f"rank {fate.rank} of 11" in fate.reason


def test_composite_uses_the_declared_coefficients():
    candidates = [Candidate("a", "g", weight=1.0, completeness=0.2), Candidate("b", "g", weight=0.5, completeness=1.0)]
    assert narrow(candidates, NarrowingRule(1, composite={"weight": 1.0})).kept == ("a",)
    assert narrow(candidates, NarrowingRule(1, composite={"completeness": 1.0})).kept == ("b",)


def test_ties_are_broken_deterministically_and_said():
    candidates = [Candidate(k, "g", weight=1.0, completeness=c) for k, c in (("b", 1.0), ("a", 1.0), ("c", 0.5))]
    result = narrow(candidates, NarrowingRule(1, composite={"weight": 1.0}))
    assert result.kept == ("a",)  # same score, same completeness and participation: by key
    tied = {f.key: f for f in result.fates}
    assert tied["a"].tie_broken and tied["b"].tie_broken and "tied" in tied["b"].reason


def test_without_group_share_the_whole_panel_competes():
    result = narrow(panel(15, 3), NarrowingRule(target=5, keep_group_share=False))
    assert len(result.kept) == 5 and result.seats == {"": 5}
    assert "on the panel" in result.fates[0].reason


def test_apportionment():
    assert allocate_seats({"a": 11, "b": 11}, 10) == {"a": 5, "b": 5}
    assert allocate_seats({"a": 15, "b": 5, "c": 2}, 10) == {"a": 7, "b": 2, "c": 1}
    assert allocate_seats({"a": 1, "b": 9}, 20) == {"a": 1, "b": 9}


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="target"):
        NarrowingRule(0)
    with pytest.raises(ValueError, match="unknown components"):
        NarrowingRule(3, composite={"charisma": 1.0})


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.integers(1, 40), st.integers(0, 10_000), st.booleans())
def test_always_keeps_the_target_and_ignores_input_order(target, size, seed, by_group):
    rng = random.Random(seed)
    candidates = [
        Candidate(f"x{i}", rng.choice("abc"), weight=rng.choice([0.2, 0.5, 1.0]), completeness=rng.choice([0.5, 1.0]))
        for i in range(size)
    ]
    rule = NarrowingRule(target, keep_group_share=by_group)
    result = narrow(candidates, rule)
    assert len(result.kept) == min(target, size)
    shuffled = candidates[:]
    rng.shuffle(shuffled)
    assert set(narrow(shuffled, rule).kept) == set(result.kept)
