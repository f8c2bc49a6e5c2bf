"""Consensus rules that read each stakeholder group (``min_group(agreement) >= 0.7``) and the round
number (a lower threshold in round 1): checked against the figures computed group by group."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring import RuleError, consensus, parse_consensus_rule, parse_stopping_rule, summarize

# 10 experts x 3 items on 1-9; patients are experts 0-4, clinicians 5-9.
RATINGS = np.array(
    [
        [8, 9, 2],
        [7, 8, 3],
        [9, 7, 8],
        [8, 2, 7],
        [7, 3, 9],
        [8, 8, 7],
        [9, 7, 8],
        [7, 9, 9],
        [3, 8, 8],
        [8, 2, 7],
    ],
    dtype=float,
)
PATIENTS, CLINICIANS = slice(0, 5), slice(5, 10)


def summaries():  # type: ignore[no-untyped-def]
    whole = summarize(RATINGS)
    groups = {"patients": summarize(RATINGS[PATIENTS]), "clinicians": summarize(RATINGS[CLINICIANS])}
    return whole, groups


def test_min_group_is_the_lowest_group_figure_and_every_group_must_agree():
    whole, groups = summaries()
    # agreement (7-9): whole 0.9, 0.7, 0.8; patients 1.0, 0.6, 0.6; clinicians 0.8, 0.8, 1.0
    assert whole.agreement.tolist() == pytest.approx([0.9, 0.7, 0.8])
    assert groups["patients"].agreement.tolist() == pytest.approx([1.0, 0.6, 0.6])
    assert groups["clinicians"].agreement.tolist() == pytest.approx([0.8, 0.8, 1.0])
    overall = consensus("agreement >= 0.7", whole)
    per_group = consensus("min_group(agreement) >= 0.7", whole, groups=groups)
    assert overall.tolist() == [True, True, True]
    assert per_group.tolist() == [True, False, False]  # the patients do not agree on items 2 and 3
    either = consensus("max_group(agreement) >= 0.9 and agreement >= 0.7", whole, groups=groups)
    assert either.tolist() == [True, False, True]


def test_a_group_without_ratings_for_an_item_keeps_it_from_consensus_in_every_group():
    ratings = RATINGS.copy()
    ratings[PATIENTS, 0] = np.nan
    whole = summarize(ratings)
    groups = {"patients": summarize(ratings[PATIENTS]), "clinicians": summarize(ratings[CLINICIANS])}
    assert consensus("min_group(agreement) >= 0.5", whole, groups=groups).tolist()[0] is False


def test_without_groups_min_group_reads_the_whole_panel():
    whole, _ = summaries()
    assert consensus("min_group(agreement) >= 0.75", whole).tolist() == consensus("agreement >= 0.75", whole).tolist()


def test_the_round_number_lowers_a_threshold_in_round_1():
    whole, _ = summaries()
    rule = "round == 1 and agreement >= 0.7 or round > 1 and agreement >= 0.85"
    assert consensus(rule, whole, round_number=1).tolist() == [True, True, True]
    assert consensus(rule, whole, round_number=2).tolist() == [True, False, False]
    with pytest.raises(RuleError, match="round number"):
        consensus(rule, whole)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("min_group(agreemnt) >= 0.7", "agreement"),
        ("min_group(0.7) >= 0.7", "name of an item's figure"),
        ("min_group(round) >= 1", "name of an item's figure"),
        ("min_group(agreement, iqr) >= 1", r"expected '\)'"),
        ("min_group(agreement)", "condition"),
    ],
)
def test_bad_group_rules_say_where(rule, message):
    with pytest.raises(RuleError, match=message):
        parse_consensus_rule(rule)


def test_group_functions_belong_to_consensus_rules_only():
    with pytest.raises(RuleError, match="consensus rules"):
        parse_stopping_rule("min_group(consensus_share) >= 1")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(1, 9), min_size=4, max_size=4), min_size=4, max_size=12),
    st.lists(st.integers(0, 2), min_size=12, max_size=12),
    st.floats(0, 1),
)
def test_min_group_holds_exactly_when_the_rule_holds_in_each_group(rows, labels, threshold):
    ratings = np.array(rows, dtype=float)
    labels_array = np.array(labels[: len(rows)])
    whole = summarize(ratings)
    groups = {g: summarize(ratings[labels_array == g]) for g in np.unique(labels_array)}
    together = consensus(f"min_group(agreement) >= {threshold!r}", whole, groups=groups)
    separately = np.logical_and.reduce([consensus(f"agreement >= {threshold!r}", group) for group in groups.values()])
    assert together.tolist() == separately.tolist()


def test_a_group_that_rated_nothing_blocks_every_form_of_an_every_group_rule_and_not_max_group():
    ratings = RATINGS.copy()
    ratings[PATIENTS, 0] = np.nan
    whole = summarize(ratings)
    groups = {"patients": summarize(ratings[PATIENTS]), "clinicians": summarize(ratings[CLINICIANS])}
    # written without a comparison that NaN makes false, the rule still needs every group
    assert consensus("not min_group(agreement) < 0.5", whole, groups=groups).tolist()[0] is False
    # the best group: the clinicians rated item 1 (80 % agree), the patients' silence does not hide it
    assert consensus("max_group(agreement) >= 0.8", whole, groups=groups).tolist()[0] is True


def apmo_by_hand(ratings: np.ndarray) -> float:
    """Kapoor's count, answer by answer: agreeing answers (7-9) on items where more than half of the
    answers agree, and opposing ones (1-3) where more than half oppose, over every agreeing or
    opposing answer."""
    majority = expressed = 0
    for column in ratings.T:
        answers = [v for v in column if not np.isnan(v)]
        agree = sum(7 <= v <= 9 for v in answers)
        oppose = sum(1 <= v <= 3 for v in answers)
        expressed += agree + oppose
        majority += (agree if agree > len(answers) / 2 else 0) + (oppose if oppose > len(answers) / 2 else 0)
    return majority / expressed if expressed else float("nan")


def test_apmo_is_kapoor_s_count_and_a_rule_can_use_it():
    from app.scoring import apmo

    ratings = np.array([[8, 2, 5], [9, 3, 5], [7, 8, 5], [8, 2, 9]], dtype=float)
    assert apmo(summarize(ratings)) == pytest.approx(7 / 9)  # 4 + 3 majority opinions of 9 expressed
    # agreement 100 %, 25 %, 25 %: only the first reaches APMO (77.8 %)
    assert consensus("agreement >= apmo", summarize(ratings)).tolist() == [True, False, False]
    with pytest.raises(RuleError, match="name of an item's figure"):
        parse_consensus_rule("min_group(apmo) >= 0.5")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([1.0, 2.0, 3.0, 5.0, 7.0, 8.0, 9.0, np.nan]), min_size=3, max_size=3),
        min_size=1,
        max_size=15,
    )
)
def test_apmo_matches_the_count_answer_by_answer(rows):
    from app.scoring import apmo

    ratings = np.array(rows, dtype=float)
    expected = apmo_by_hand(ratings)
    assert apmo(summarize(ratings)) == pytest.approx(expected, nan_ok=True)
