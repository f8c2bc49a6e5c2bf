"""Cooke's classical model against Anduryl 1.2.2 and the published Excalibur values."""

import json
from pathlib import Path

import numpy as np
import pytest

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
    assert "out of order" in info.value.problems[0][1]


def test_cooke_data_checks_its_shape():
    with pytest.raises(ValueError, match="experts x items x quantiles"):
        CookeData(("a",), ("q",), np.array([0.05, 0.5, 0.95]), np.zeros((1, 2, 3)), np.array([1.0]), np.array([False]))
