"""The self-assessment coefficients: K = (Kc + Ka) / 2 and Cr = (Ca + Cs) / 2, against a published
worked example and by their properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scoring.competence import (
    AUTHORITY_BASIS,
    COMPETENCE_SOURCES,
    LEVELS,
    AssessmentError,
    authority,
    competence,
    competence_band,
    panel_authority,
    panel_competence,
)


def _expand(counts: dict[str, dict[str, int]], n: int) -> list[dict[str, str]]:
    """Per-expert levels from the counts of experts at each level of each basis (the papers' M_j)."""
    experts: list[dict[str, str]] = [{} for _ in range(n)]
    for basis, by_level in counts.items():
        levels = [level for level in LEVELS for _ in range(by_level.get(level, 0))]
        assert len(levels) == n
        for expert, level in zip(experts, levels, strict=True):
            expert[basis] = level
    return experts


def test_the_authority_of_a_published_panel_of_16_experts():
    """Round 1 of a BMJ Open Delphi study (Table 4, "Expert authority coefficients"): Ca = (16 * 0.5
    + 7 * 0.3 + 9 * 0.2 + 3 * 0.1 + 11 * 0.1 + 2 * 0.1 + 2 * 0.1 + 8 * 0.1 + 6 * 0.1) / 16 = 0.944,
    Cs = (1 * 1 + 12 * 0.8 + 3 * 0.6) / 16 = 0.775, Cr = 0.860."""
    basis = _expand(
        {
            "practice": {"high": 16},
            "theory": {"high": 7, "medium": 9},
            "literature": {"high": 3, "medium": 11, "low": 2},
            "intuition": {"high": 2, "medium": 8, "low": 6},
        },
        16,
    )
    familiarity = ["very_familiar"] + ["familiar"] * 12 + ["somewhat_familiar"] * 3
    panel = panel_authority([authority(f, b) for f, b in zip(familiarity, basis, strict=True)])
    assert panel is not None and panel.n == 16
    assert round(panel.ca, 3) == 0.944 and round(panel.cs, 3) == 0.775
    # the paper averages its rounded parts, (0.944 + 0.775) / 2 = 0.8595 -> 0.860; unrounded, 0.859375
    assert (round(panel.ca, 3) + round(panel.cs, 3)) / 2 == pytest.approx(0.8595)  # printed 0.860
    assert panel.cr == pytest.approx((15.1 / 16 + 12.4 / 16) / 2, abs=1e-12)


def test_competence_of_one_expert_worked_by_hand():
    # knowledge 8 of 10; theory high (0.3), experience medium (0.4), the four others 0.05 each
    levels = {"theory": "high", "experience": "medium"} | {
        s: "low" for s in ("national_works", "international_works", "abroad", "intuition")
    }
    result = competence(8, levels)
    assert (result.kc, result.ka, result.k) == (0.8, 0.9, 0.85)
    assert result.band == "high"
    every_low = competence(5, dict.fromkeys(COMPETENCE_SOURCES, "low"))
    assert every_low.ka == 0.5 and every_low.k == 0.5 and every_low.band == "medium"
    assert competence(0, dict.fromkeys(COMPETENCE_SOURCES, "low")).band == "low"


def test_an_assessment_that_cannot_be_scored_is_refused():
    every_high = dict.fromkeys(COMPETENCE_SOURCES, "high")
    with pytest.raises(AssessmentError):
        competence(11, every_high)
    with pytest.raises(AssessmentError):
        competence(5, every_high | {"theory": "very high"})
    with pytest.raises(AssessmentError):
        competence(5, {k: v for k, v in every_high.items() if k != "intuition"})
    with pytest.raises(AssessmentError):
        authority("expert", dict.fromkeys(AUTHORITY_BASIS, "high"))
    assert panel_competence([]) is None and panel_authority([]) is None


levels = st.sampled_from(LEVELS)
competence_levels = st.fixed_dictionaries(dict.fromkeys(COMPETENCE_SOURCES, levels))


@given(st.integers(0, 10), competence_levels, st.sampled_from(sorted(COMPETENCE_SOURCES)))
def test_k_lies_between_0_and_1_and_never_falls_when_an_answer_rises(knowledge, sources, source):
    base = competence(knowledge, sources)
    assert 0 <= base.kc <= 1 and 0.5 <= base.ka <= 1 and 0 <= base.k <= 1
    assert base.k == pytest.approx((base.kc + base.ka) / 2)
    if knowledge < 10:
        assert competence(knowledge + 1, sources).k > base.k
    higher = LEVELS[max(LEVELS.index(sources[source]) - 1, 0)]
    assert competence(knowledge, sources | {source: higher}).k >= base.k
    # the band is read from K with the published thresholds
    assert base.band == ("high" if base.k >= 0.8 - 1e-9 else "medium" if base.k >= 0.5 - 1e-9 else "low")


@given(st.lists(st.tuples(st.integers(0, 10), competence_levels), min_size=1, max_size=30))
def test_the_panel_s_k_is_the_mean_of_its_experts_and_its_bands_count_everyone(answers):
    experts = [competence(k, s) for k, s in answers]
    panel = panel_competence(experts)
    assert panel is not None
    assert panel.k == pytest.approx(sum(e.k for e in experts) / len(experts))
    assert sum(panel.bands.values()) == len(experts)
    assert panel.bands["high"] == sum(1 for e in experts if competence_band(e.k) == "high")


def test_equal_answers_give_equal_coefficients_to_the_last_bit():
    a = competence(7, dict(zip(COMPETENCE_SOURCES, ["high", "low", "medium", "high", "low", "medium"], strict=True)))
    b = competence(
        7,
        dict(reversed(list(zip(COMPETENCE_SOURCES, ["high", "low", "medium", "high", "low", "medium"], strict=True)))),
    )
    assert a == b
