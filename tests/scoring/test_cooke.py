"""Cooke's classical model against Anduryl 1.2.2 and the published Excalibur values."""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring import classical_model, decision_maker
from app.scoring.cooke import CookeData
from app.scoring.files import InputFileError, read_cooke

DATA = Path(__file__).parent / "data"


def load(name, assessments="assessments.csv"):
    folder = DATA / name
    data = read_cooke((folder / assessments).read_text(), (folder / "items.csv").read_text())
    expected = json.loads((folder / "anduryl_1.2.2_results.json").read_text())
    return data, expected


@pytest.mark.parametrize("name", ["small", "coveringkids"])
def test_scores_equal_anduryl(name):
    data, expected = load(name)
    result = classical_model(data, alpha=0.0)
    for score in result.experts:
        reference = expected["global_alpha0"]["experts"][score.expert]
        assert score.calibration == pytest.approx(reference["calibration"], rel=1e-9)
        assert score.information_all == pytest.approx(reference["info_total_all_items"], rel=1e-12)
        assert score.information_seed == pytest.approx(reference["info_seed_items"], rel=1e-12)
        assert score.combined == pytest.approx(reference["combined_score_cal_x_info_seed"], rel=1e-9)
        assert score.weight == pytest.approx(reference["normalised_global_weight"], rel=1e-9)
    assert sum(e.weight for e in result.experts) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["small", "coveringkids"])
def test_optimised_alpha_equals_anduryl(name):
    data, expected = load(name)
    result = classical_model(data, optimise_alpha=True)
    reference = expected["global_optimised"]
    assert result.alpha == pytest.approx(reference["alpha_opt"], rel=1e-9)
    for score in result.experts:
        assert score.weight == pytest.approx(
            reference["experts"][score.expert]["normalised_global_weight"], rel=1e-9, abs=1e-12
        )


def test_decision_maker_equals_anduryl_and_the_published_excalibur_values():
    data, expected = load("coveringkids")
    weights = [e.weight for e in classical_model(data).experts]
    dm = decision_maker(data, weights)
    landscape = expected["global_alpha_landscape"][0]
    assert dm.calibration == pytest.approx(landscape["DM_calibration"], rel=1e-9)
    assert dm.information_seed == pytest.approx(landscape["DM_info_seed"], rel=1e-9)
    assert dm.information_all == pytest.approx(landscape["DM_info_total"], rel=1e-9)
    assert (round(dm.calibration, 2), round(dm.information_seed, 2), round(dm.combined, 2)) == (0.72, 0.38, 0.28)
    optimised = classical_model(data, optimise_alpha=True).decision_maker
    assert (round(optimised.calibration, 2), round(optimised.information_seed, 2), round(optimised.combined, 2)) == (
        0.72,
        0.43,
        0.31,
    )
    equal = decision_maker(data, np.ones(len(data.experts)))
    assert (round(equal.calibration, 2), round(equal.information_seed, 2), round(equal.combined, 2)) == (
        0.63,
        0.27,
        0.17,
    )


def test_small_set_decision_maker_quantiles_equal_anduryl():
    data, _ = load("small")
    dm = decision_maker(data, [e.weight for e in classical_model(data).experts])
    # Anduryl 1.2.2, global weights, alpha 0 (SUMMARY_numbers: DM global_alpha0)
    np.testing.assert_allclose(dm.quantiles[0], [4.01071833855401, 9.721009669601715, 25.524042078076704], rtol=1e-9)
    np.testing.assert_allclose(dm.quantiles[3], [34.89895041534494, 107.57056553713144, 398.52653534034954], rtol=1e-9)


def test_percent_headers_are_read_as_quantiles():
    data, _ = load("small", "assessments_pct_header.csv")
    np.testing.assert_allclose(data.quantiles, [0.05, 0.5, 0.95])


def test_alpha_above_every_calibration_is_refused():
    data, _ = load("small")
    with pytest.raises(ValueError, match="no expert has calibration"):
        classical_model(data, alpha=0.99)


def test_bad_files_name_their_lines():
    items = "itemid,realization,scale,question\nQ1,10,uni,a\nQ2,abc,uni,b\nQ3,5,cubic,c\n"
    with pytest.raises(InputFileError) as info:
        read_cooke("expertid,itemid,0.05,0.5,0.95\n", items)
    assert [line for line, _ in info.value.problems] == [3, 4]
    items = "itemid,realization,scale,question\nQ1,10,uni,a\n"
    assessments = "expertid,itemid,0.05,0.5,0.95\nE1,Q1,1,5,3\nE1,Q9,1,2,3\nE2,Q1,1,2,3\nE2,Q1,1,2,4\n"
    with pytest.raises(InputFileError) as info:
        read_cooke(assessments, items)
    assert [line for line, _ in info.value.problems] == [2, 3, 5]
    assert "increase strictly" in info.value.problems[0][1]


def test_cooke_data_checks_its_shape():
    with pytest.raises(ValueError, match="experts x items x quantiles"):
        CookeData(("a",), ("q",), np.array([0.05, 0.5, 0.95]), np.zeros((1, 2, 3)), np.array([1.0]), np.array([False]))


def _dm_equals(dm, reference, items):  # type: ignore[no-untyped-def]
    assert dm.calibration == pytest.approx(reference["calibration"], rel=1e-9)
    assert dm.information_all == pytest.approx(reference["info_total_all_items"], rel=1e-9)
    assert dm.information_seed == pytest.approx(reference["info_seed_items"], rel=1e-9)
    assert dm.combined == pytest.approx(reference["combined_score"], rel=1e-9)
    for k, item in enumerate(items):
        expected = [reference["quantiles"][item][q] for q in sorted(reference["quantiles"][item], key=float)]
        np.testing.assert_allclose(dm.quantiles[k], expected, rtol=1e-9, err_msg=item)


@pytest.mark.parametrize("name", ["small", "coveringkids"])
def test_item_weights_and_equal_weights_decision_makers_equal_anduryl(name):
    data, expected = load(name)
    item = classical_model(data, alpha=0.0, weighting="item")
    _dm_equals(item.decision_maker, expected["item_alpha0"]["DM"], data.items)
    assert item.item_weights is not None
    answered = ~np.isnan(data.assessments).any(axis=2)
    np.testing.assert_allclose(np.nansum(item.item_weights, axis=0)[answered.any(axis=0)], 1.0)
    optimised = classical_model(data, optimise_alpha=True, weighting="item")
    assert optimised.alpha == pytest.approx(expected["item_optimised"]["alpha_opt"], rel=1e-9)
    _dm_equals(optimised.decision_maker, expected["item_optimised"]["DM"], data.items)
    equal = classical_model(data, weighting="equal")
    _dm_equals(equal.decision_maker, expected["equal"]["DM"], data.items)
    user = classical_model(data, weighting="user", user_weights=np.ones(len(data.experts)) * 7)
    assert user.decision_maker.combined == pytest.approx(equal.decision_maker.combined, rel=1e-12)


def test_an_expert_without_seed_answers_is_left_out_visibly_not_given_everyone_calibration_1():
    """Before: one expert with no seed answer made N = 0, so every calibration read 1.0."""
    data, _ = load("small")
    with_them = classical_model(data)
    newcomer = np.full((1, len(data.items), len(data.quantiles)), np.nan)
    target = int(np.flatnonzero(~data.seed)[0])
    newcomer[0, target] = np.sort(data.assessments[0, target])  # answers only the target item
    joined = CookeData(
        experts=(*data.experts, "Newcomer"),
        items=data.items,
        quantiles=data.quantiles,
        assessments=np.concatenate((data.assessments, newcomer)),
        realizations=data.realizations,
        log_scale=data.log_scale,
    )
    result = classical_model(joined)
    assert result.left_out == ("Newcomer",)
    others = {e.expert: e for e in result.experts}
    for before in with_them.experts:
        assert others[before.expert].calibration == pytest.approx(before.calibration, rel=1e-12)
    assert np.isnan(others["Newcomer"].calibration) and others["Newcomer"].weight == 0.0
    assert sum(e.weight for e in result.experts) == pytest.approx(1.0)


def test_experts_with_bins_permuted_get_bit_for_bit_equal_calibration_so_a_cut_off_keeps_both():
    """5/50/95 % quantiles (bins of 5, 45, 45, 5 %) and four seeds: bin counts (0, 1, 1, 2) and
    (2, 1, 1, 0) give the same calibration mathematically, but summed bin by bin they came out
    0.07652376788738458 and ...434, and a cut-off at the higher one dropped the other expert (seen in
    a TU Delft study)."""
    quantiles = np.array([0.05, 0.5, 0.95])
    realizations = np.arange(1.0, 5.0)
    bins = {"A": [1, 2, 3, 3], "B": [0, 0, 1, 2]}
    offsets = {0: (0.5, 1.5, 2.5), 1: (-0.5, 0.5, 1.5), 2: (-1.5, -0.5, 0.5), 3: (-2.5, -1.5, -0.5)}
    assessments = np.array(
        [[[r + d for d in offsets[b]] for r, b in zip(realizations, bins[e], strict=True)] for e in bins]
    )
    data = CookeData(
        experts=("A", "B"),
        items=tuple(f"S{k}" for k in range(4)),
        quantiles=quantiles,
        assessments=assessments,
        realizations=realizations,
        log_scale=np.zeros(4, dtype=bool),
    )
    a, b = classical_model(data).experts
    assert a.calibration == b.calibration
    for cut in (a.calibration, b.calibration):
        assert all(e.weight > 0 for e in classical_model(data, alpha=cut).experts)
    # and the middle bins, 45 % each, whose probabilities differed in the last bit: (0, 3, 2, 0)
    # and (0, 2, 3, 0) came out 0.7398549479922024 and ...023
    middle = {"A": [1, 1, 1, 2, 2], "B": [1, 1, 2, 2, 2]}
    assessments = np.array(
        [[[r + d for d in offsets[b]] for r, b in zip(np.arange(1.0, 6.0), middle[e], strict=True)] for e in middle]
    )
    data = CookeData(
        experts=("A", "B"),
        items=tuple(f"S{k}" for k in range(5)),
        quantiles=quantiles,
        assessments=assessments,
        realizations=np.arange(1.0, 6.0),
        log_scale=np.zeros(5, dtype=bool),
    )
    a, b = classical_model(data).experts
    assert a.calibration == b.calibration
    assert all(e.weight > 0 for e in classical_model(data, alpha=a.calibration).experts)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"overshoot": 0.0}, "overshoot"),
        ({"overshoot": -0.1}, "overshoot"),
        ({"alpha": -0.5}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"weighting": "magic"}, "weighting"),
        ({"weighting": "user"}, "user weights"),
    ],
)
def test_options_that_give_null_or_misleading_results_are_refused(options, message):
    data, _ = load("small")
    with pytest.raises(ValueError, match=message):
        classical_model(data, **options)


def test_equal_and_infinite_quantiles_are_refused_with_the_line(tmp_path):
    items = "itemid,realization,scale,question\nS1,10,uni,s1\nS2,20,uni,s2\n"
    for bad, problem in (
        ("A,S1,5,5,15", "increase strictly"),
        ("A,S1,5,9,inf", "finite"),
        ("A,S1,-inf,9,15", "finite"),
    ):
        text = f"expertid,itemid,0.05,0.5,0.95\n{bad}\nA,S2,15,22,30\nB,S1,1,3,8\nB,S2,25,30,40\n"
        with pytest.raises(InputFileError) as refused:
            read_cooke(text, items)
        assert "line 2" in str(refused.value) and problem in str(refused.value), str(refused.value)
    with pytest.raises(InputFileError, match="line 2.*finite"):
        read_cooke("expertid,itemid,0.05,0.5,0.95\nA,S1,5,9,15\n", "itemid,realization,scale,question\nS1,inf,uni,s\n")


def test_a_realization_written_nan_is_a_target_item_as_a_blank_one_is():
    items = "itemid,realization,scale,question\nS1,10,uni,s1\nT1,nan,uni,t1\nT2,,uni,t2\n"
    data = read_cooke("expertid,itemid,0.05,0.5,0.95\nA,S1,5,9,15\nA,T1,1,2,3\nA,T2,1,2,3\n", items)
    assert data.seed.tolist() == [True, False, False]


# Partial quantiles (data/partial): seed items S1-S5 ask only the 5 % and 95 %, T1 only the 95 %,
# T2 all three; the reference values are Anduryl 1.2.2's (see the folder's results file).


def test_partial_quantiles_are_accepted_and_scored_as_anduryl_scores_them():
    from app.scoring.cooke import _information, intrinsic_range

    data, reference = load("partial")
    assert data.asked.tolist()[0] == [True, False, True] and data.asked.tolist()[5] == [False, False, True]
    result = classical_model(data, alpha=0.0)
    for score in result.experts:
        assert score.calibration == pytest.approx(reference["calibration"][score.expert], abs=1e-6)
        assert score.information_seed == pytest.approx(reference["info_seed"][score.expert], abs=1e-5)
        assert score.information_all == pytest.approx(reference["info_all"][score.expert], abs=1e-5)
        assert score.combined == pytest.approx(reference["combined"][score.expert], abs=1e-6)
    lower, upper = intrinsic_range(data, 0.1)
    t1 = data.items.index("T1")
    np.testing.assert_allclose(
        _information(data, data.assessments, lower, upper)[:, t1], reference["info_t1"], atol=1e-6
    )
    # by hand: T1's range [9, 21] (10..20 widened by 10 %), one bin of 95 % below the quantile
    assert _information(data, data.assessments, lower, upper)[0, t1] == pytest.approx(
        np.log(12) + 0.95 * np.log(0.95 / 1) + 0.05 * np.log(0.05 / 11)
    )
    dm = result.decision_maker
    assert dm.calibration == pytest.approx(reference["dm_calibration"], abs=1e-9)
    for item, expected in reference["dm_global"].items():
        row = dm.quantiles[data.items.index(item)]
        for got, want in zip(row, expected, strict=True):
            assert np.isnan(got) if want is None else got == pytest.approx(want, abs=1e-5), item
    equal = decision_maker(data, np.ones(3))
    assert equal.quantiles[t1, 2] == pytest.approx(reference["dm_equal_t1_95"], abs=1e-5)


def test_every_item_asking_every_quantile_gives_the_same_scores_as_before():
    data, expected = load("small")
    asked = CookeData(
        data.experts,
        data.items,
        data.quantiles,
        data.assessments,
        data.realizations,
        data.log_scale,
        asked=np.ones((len(data.items), len(data.quantiles)), dtype=bool),
    )
    for a, b in zip(classical_model(data).experts, classical_model(asked).experts, strict=True):
        assert a == b


def test_partial_quantiles_that_cannot_be_scored_are_refused_with_the_line():
    items = "itemid,realization,scale,question\nS1,3,uni,a\nS2,7,uni,b\nT1,,uni,c\n"
    # a seed item asking other quantiles than the other seeds: calibration could not pool them
    text = "expertid,itemid,0.05,0.5,0.95\nA,S1,1,,4\nA,S2,,,8\nA,T1,,,5\n"
    with pytest.raises(InputFileError) as refused:
        read_cooke(text, items)
    assert refused.value.problems[0][0] == 3 and "seed item S2 asks the quantiles 0.95" in refused.value.problems[0][1]
    # an expert giving other quantiles of an item than the others: not silently left out
    text = "expertid,itemid,0.05,0.5,0.95\nA,S1,1,2,4\nA,S2,1,2,8\nB,S1,1,,4\nB,S2,1,2,8\n"
    with pytest.raises(InputFileError) as refused:
        read_cooke(text, items)
    assert refused.value.problems == [
        (
            4,
            "expert B gives the quantiles 0.05, 0.95 on item S1, where line 2 gives 0.05, 0.5, 0.95: "
            "every expert gives the same quantiles of an item",
        )
    ]
    # quantiles out of order across a gap are still refused
    with pytest.raises(InputFileError, match="increase strictly"):
        read_cooke("expertid,itemid,0.05,0.5,0.95\nA,S1,5,,4\nA,S2,1,,8\n", items)
    with pytest.raises(ValueError, match="same quantiles"):
        data, _ = load("partial")
        bad = data.asked.copy()
        bad[0] = [True, True, True]
        CookeData(data.experts, data.items, data.quantiles, data.assessments, data.realizations, data.log_scale, bad)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pattern=st.sampled_from([(1, 0, 1), (0, 0, 1), (1, 1, 0), (0, 1, 0)]))
def test_items_that_all_ask_a_subset_score_as_a_study_of_only_those_quantiles(seed, pattern):
    rng = np.random.default_rng(seed)
    n_experts, n_items = 4, 6
    centres = rng.uniform(1, 100, size=(n_experts, n_items, 1))
    full = centres + np.cumsum(rng.uniform(0.5, 20, size=(n_experts, n_items, 3)), axis=2)
    realizations = np.where(np.arange(n_items) < 4, rng.uniform(1, 150, size=n_items), np.nan)
    levels, logs = np.array([0.05, 0.5, 0.95]), np.zeros(n_items, dtype=bool)
    experts, items = tuple("abcd"), tuple(f"i{k}" for k in range(n_items))
    keep = np.array(pattern, dtype=bool)
    partial = CookeData(
        experts, items, levels, full, realizations, logs, asked=np.broadcast_to(keep, (n_items, 3)).copy()
    )
    only = CookeData(experts, items, levels[keep], full[:, :, keep], realizations, logs)
    a, b = classical_model(partial), classical_model(only)
    for x, y in zip(a.experts, b.experts, strict=True):
        assert x.calibration == pytest.approx(y.calibration, rel=1e-12)
        assert x.information_all == pytest.approx(y.information_all, rel=1e-12)
        assert x.weight == pytest.approx(y.weight, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(a.decision_maker.quantiles[:, keep], b.decision_maker.quantiles, rtol=1e-12)
    assert np.isnan(a.decision_maker.quantiles[:, ~keep]).all()


def test_a_seed_nobody_answered_and_a_blank_cell_by_mistake_with_partial_quantiles():
    folder = DATA / "partial"
    items = (folder / "items.csv").read_text() + "S6,4,uni,a seed nobody answered\n"
    data = read_cooke((folder / "assessments.csv").read_text(), items)
    assert data.asked[data.items.index("S6")].tolist() == [True, False, True]  # as the other seeds
    assert classical_model(data).experts[0].calibration == pytest.approx(0.400452, abs=1e-6)
    # the expert whose row differs from most rows of the item is the one named
    text = "expertid,itemid,0.05,0.5,0.95\nA,S1,1,,4\nB,S1,1,2,4\nC,S1,0,1,3\n"
    with pytest.raises(InputFileError) as refused:
        read_cooke(text, "itemid,realization,scale,question\nS1,3,uni,s\n")
    assert [line for line, _ in refused.value.problems] == [2]
    assert "expert A gives the quantiles 0.05, 0.95 on item S1, where line 3 gives 0.05, 0.5, 0.95" in str(
        refused.value
    )
