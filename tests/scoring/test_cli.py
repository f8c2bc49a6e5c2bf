"""`delphi score` and `delphi cooke` (contract: names of options and JSON keys)."""

import csv
import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.scoring import agreement_shift, apmo, panel_agreement, summarize

runner = CliRunner()
ITEM_KEYS = {
    "item",
    "n",
    "median",
    "q1",
    "q3",
    "iqr",
    "mean",
    "sd",
    "cv",
    "agreement",
    "opposition",
    "ad_m",
    "rwg",
    "ipr",
    "ipras",
    "di",
}
PANEL_KEYS = {
    "kendall_w",
    "kendall_w_uncorrected",
    "kendall_chi2",
    "kendall_df",
    "kendall_p",
    "fleiss_kappa",
    "krippendorff_alpha_nominal",
    "krippendorff_alpha_ordinal",
    "krippendorff_alpha_interval",
}


@pytest.fixture
def two_rounds(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "ratings.csv"
    rows = []
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["expert", "item", "value", "round"])
        for rnd in (1, 2):
            for e in range(12):
                for i in range(6):
                    v = "" if rng.random() < 0.05 else rng.randint(1, 9)
                    w.writerow([f"e{e}", f"item{i}", v, rnd])
                    rows.append((rnd, e, i, v))
    matrices = {r: np.full((12, 6), np.nan) for r in (1, 2)}
    for rnd, e, i, v in rows:
        if v != "":
            matrices[rnd][e, i] = v
    return path, matrices


def run(*args):
    return runner.invoke(cli, [str(a) for a in args])


def test_score_json_has_the_contract_keys_and_the_library_values(two_rounds):
    path, matrices = two_rounds
    result = run("score", path, "--scale", "1-9", "--agree", "7-9", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(out["items"]) == 12
    assert ITEM_KEYS | {"round"} <= set(out["items"][0])
    assert set(out["panel"]) >= PANEL_KEYS
    assert len(out["stability"]) == 6
    assert {"item", "from_round", "to_round", "n_paired", "wilcoxon_p", "cv_change", "pct_change"} <= set(
        out["stability"][0]
    )
    expected = summarize(matrices[2])
    round2 = [r for r in out["items"] if r["round"] == 2]
    assert [r["median"] for r in round2] == expected.median.tolist()
    assert [r["iqr"] for r in round2] == pytest.approx(expected.iqr.tolist())
    assert out["panel"]["kendall_w"] == pytest.approx(panel_agreement(matrices[2]).kendall_w)
    shifts = agreement_shift(matrices[1], matrices[2], (7, 9))
    assert [s["agreement_mcnemar_p"] for s in out["stability"]] == pytest.approx([m.p for m in shifts], nan_ok=True)
    assert {s["agreement_mcnemar_method"] for s in out["stability"]} <= {"exact", "chi2", None}
    assert out["panel"]["apmo"] == pytest.approx(apmo(summarize(matrices[2], scale=(1, 9), agree=(7, 9))))


def test_score_without_round_column_and_with_weights(tmp_path):
    ratings = tmp_path / "r.csv"
    ratings.write_text("expert,item,value\na,x,9\nb,x,1\nc,x,5\na,y,7\nb,y,7\nc,y,\n")
    weights = tmp_path / "w.csv"
    weights.write_text("expert,weight\na,3\nb,1\nc,1\n")
    plain = json.loads(run("score", ratings, "--scale", "1-9", "--json").stdout)
    weighted = json.loads(run("score", ratings, "--weights", weights, "--json").stdout)
    assert "round" not in plain["items"][0] and plain["stability"] == []
    assert plain["items"][0]["mean"] == pytest.approx(5.0)
    assert weighted["items"][0]["mean"] == pytest.approx((27 + 1 + 5) / 5)
    assert weighted["items"][0]["median"] == 9.0 and weighted["weighted"] is True
    assert plain["items"][1]["ipr"] is not None
    five = json.loads(
        run(
            "score",
            ratings.parent / "r.csv",
            "--scale",
            "1-9",
            "--agree",
            "7-9",
            "--quantile-method",
            "weibull",
            "--json",
        ).stdout
    )
    assert five["quantile_method"] == "weibull"


def test_score_prints_a_table_by_default(two_rounds):
    result = run("score", two_rounds[0])
    assert result.exit_code == 0
    assert "median" in result.stdout and "Kendall's W" in result.stdout and "item0" in result.stdout


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        ("expert,item,value\ne1,i1,5\ne2,i1,lots\ne3,i1,42\n", ["line 3", "line 4"]),
        ("expert,item,value\ne1,i1,5\ne1,i1,6\n", ["line 3", "duplicate of line 2"]),
        ("expert,item,value,round\ne1,i1,5,one\n", ["line 2", "round"]),
        ("expert,item\ne1,i1\n", ["line 1", "missing column"]),
        ("", ["empty"]),
    ],
)
def test_score_bad_input_exits_non_zero_and_names_the_lines(tmp_path, content, lines):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = run("score", path, "--json")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for text in lines:
        assert text in result.stderr


def test_score_weights_with_an_unknown_expert(tmp_path):
    ratings = tmp_path / "r.csv"
    ratings.write_text("expert,item,value\na,x,9\nb,x,1\n")
    weights = tmp_path / "w.csv"
    weights.write_text("expert,weight\na,1\nb,1\nzed,2\n")
    result = run("score", ratings, "--weights", weights, "--json")
    assert result.exit_code == 2 and "line 4" in result.stderr and "zed" in result.stderr


def test_a_one_point_agreement_band_is_accepted_as_the_library_accepts_it(two_rounds):
    path, matrices = two_rounds
    result = run("score", path, "--agree", "7-7", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    expected = summarize(matrices[2], agree=(7, 7))
    last = [i for i in out["items"] if i["round"] == 2]
    assert [i["agreement"] for i in last] == pytest.approx(expected.agreement.tolist())
    assert out["agree"] == [7, 7]
    # stability records how each p was computed, and how zeros were handled
    assert {s["wilcoxon_method"] for s in out["stability"]} <= {"exact", "normal", None}
    assert out["wilcoxon"] == {"zeros": "wilcox", "exact_up_to": 50}


@pytest.mark.parametrize(
    "args", [["--scale", "9-1"], ["--scale", "5-5"], ["--agree", "7-12"], ["--quantile-method", "magic"]]
)
def test_score_bad_options(two_rounds, args):
    result = run("score", two_rounds[0], *args)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_missing_file_is_one_line(tmp_path):
    result = run("score", tmp_path / "nope.csv")
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_cooke_json(tmp_path):
    from pathlib import Path

    data = Path(__file__).parent / "data" / "coveringkids"
    for extra in (["--alpha", "0"], ["--optimise-alpha"]):
        result = run("cooke", data / "assessments.csv", data / "items.csv", "--overshoot", "0.1", "--json", *extra)
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert {"alpha", "experts"} <= set(out)
        assert {"expert", "calibration", "information_all", "information_seed", "combined", "weight"} <= set(
            out["experts"][0]
        )
        assert sum(e["weight"] for e in out["experts"]) == pytest.approx(1.0)
        for e in out["experts"]:
            assert e["combined"] == pytest.approx(e["calibration"] * e["information_seed"])
    table = run("cooke", data / "assessments.csv", data / "items.csv")
    assert table.exit_code == 0 and "calibration" in table.stdout


def test_cooke_refuses_both_alpha_options(tmp_path):
    result = run("cooke", tmp_path / "a.csv", tmp_path / "i.csv", "--alpha", "0.1", "--optimise-alpha")
    assert result.exit_code == 2 and "either" in result.stderr


COOKE_ITEMS = "itemid,realization,scale,question\nS1,10,uni,s1\nS2,20,uni,s2\nS3,5,log,s3\nT1,,uni,t1\n"
COOKE_ASSESSMENTS = (
    "expertid,itemid,0.05,0.5,0.95\nA,S1,5,9,15\nA,S2,15,22,30\nA,S3,1,4,9\nA,T1,1,2,3\n"
    "B,S1,1,3,8\nB,S2,25,30,40\nB,S3,2,3,4\nB,T1,2,3,4\nC,T1,1,5,9\n"
)


@pytest.fixture
def cooke_files(tmp_path):
    (tmp_path / "a.csv").write_text(COOKE_ASSESSMENTS)
    (tmp_path / "i.csv").write_text(COOKE_ITEMS)
    return tmp_path / "a.csv", tmp_path / "i.csv"


def test_cooke_leaves_out_an_expert_without_seed_answers_visibly_and_prints_no_numpy_warning(cooke_files):
    result = run("cooke", *cooke_files, "--json")
    assert result.exit_code == 0 and result.stderr == "", result.output
    out = json.loads(result.stdout)
    assert out["left_out"] == ["C"] and out["weighting"] == "global"
    calibration = {e["expert"]: e["calibration"] for e in out["experts"]}
    assert calibration["C"] is None and calibration["A"] < 1 and calibration["B"] < 1  # not all 1.0 (N = 0)
    table = run("cooke", *cooke_files)
    assert "left out of calibration (no seed answer): C" in table.stdout and table.stderr == ""


def test_cooke_item_weights_in_json(cooke_files):
    out = json.loads(run("cooke", *cooke_files, "--weighting", "item", "--json").stdout)
    assert out["weighting"] == "item"
    assert sum(out["item_weights"]["S1"].values()) == pytest.approx(1.0)
    assert out["item_weights"]["S1"]["C"] == 0.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--overshoot", "0"], "--overshoot"),
        (["--alpha", "-0.5"], "--alpha"),
        (["--alpha", "1.5"], "--alpha"),
        (["--weighting", "magic"], "--weighting"),
    ],
)
def test_cooke_refuses_options_that_mislead(cooke_files, args, message):
    result = run("cooke", *cooke_files, *args)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output


def _write_panel(tmp_path, rows, groups):  # type: ignore[no-untyped-def]
    ratings, labels = tmp_path / "ratings.csv", tmp_path / "groups.csv"
    with ratings.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["expert", "item", "value"])
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                writer.writerow([f"E{i + 1:02d}", f"I{j + 1}", value])
    with labels.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["expert", "group"])
        for i, group in enumerate(groups):
            writer.writerow([f"E{i + 1:02d}", group])
    return ratings, labels


def test_score_gives_each_group_s_figures_and_a_rule_in_every_group(tmp_path):
    rows = [
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
    ]
    groups = ["patients"] * 5 + ["clinicians"] * 5
    ratings, labels = _write_panel(tmp_path, rows, groups)
    rule = "min_group(agreement) >= 0.7"
    result = runner.invoke(cli, ["score", str(ratings), "--groups", str(labels), "--rule", rule, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["rule"] == rule and [r["consensus"] for r in data["items"]] == [True, False, False]
    matrix = np.array(rows, dtype=float)
    for group, rows_of in (("patients", slice(0, 5)), ("clinicians", slice(5, 10))):
        expected = summarize(matrix[rows_of])
        mine = [r for r in data["groups"] if r["group"] == group]
        assert [r["item"] for r in mine] == ["I1", "I2", "I3"]
        assert [r["agreement"] for r in mine] == pytest.approx(expected.agreement.tolist())
        assert [r["median"] for r in mine] == expected.median.tolist()
        assert [r["cns"] for r in mine] == pytest.approx(expected.cns.tolist())
    table = runner.invoke(cli, ["score", str(ratings), "--groups", str(labels), "--rule", rule])
    assert "consensus rule: min_group(agreement) >= 0.7" in table.output and "clinicians" in table.output


def test_score_refuses_a_groups_file_with_its_lines_and_a_bad_rule_with_its_place(tmp_path):
    ratings, labels = _write_panel(tmp_path, [[8], [7]], ["a", ""])
    bad = runner.invoke(cli, ["score", str(ratings), "--groups", str(labels)])
    assert bad.exit_code == 2 and "line 3" in bad.output and "no group" in bad.output
    labels.write_text("expert,group\nE01,a\nE09,b\n")
    unknown = runner.invoke(cli, ["score", str(ratings), "--groups", str(labels)])
    assert unknown.exit_code == 2 and "E09" in unknown.output
    rule = runner.invoke(cli, ["score", str(ratings), "--rule", "min_group(agreemnt) >= 1"])
    assert rule.exit_code == 2 and "agreement" in rule.output


def test_cooke_accepts_partial_quantiles_and_refuses_unpoolable_seeds_with_the_line(tmp_path):
    from pathlib import Path

    data = Path(__file__).parent / "data" / "partial"
    result = run("cooke", data / "assessments.csv", data / "items.csv", "--json", "--optimise-alpha")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [round(e["calibration"], 6) for e in out["experts"]] == [0.400452] * 3  # Anduryl 1.2.2's
    at_zero = json.loads(run("cooke", data / "assessments.csv", data / "items.csv", "--json").stdout)
    # the decision maker's answer at the one quantile the target asks (Anduryl 1.2.2: 18.247558)
    assert at_zero["decision_maker"]["quantiles"]["T1"] == {"0.95": pytest.approx(18.247558, abs=1e-5)}
    table = run("cooke", data / "assessments.csv", data / "items.csv")
    assert "decision maker's answers to the target items" in table.stdout and "0.95: 18.25" in table.stdout
    assert [e["seeds_answered"] for e in at_zero["experts"]] == [5, 5, 5] and "5/5" in table.stdout
    # a seed left blank by one expert is said, not silent: their count of seeds drops
    blank = tmp_path / "blank.csv"
    blank.write_text((data / "assessments.csv").read_text().replace("A,S1,1,,4", "A,S1,,,"))
    one_less = json.loads(run("cooke", blank, data / "items.csv", "--json").stdout)
    assert [e["seeds_answered"] for e in one_less["experts"]] == [4, 5, 5]
    na = tmp_path / "na.csv"
    na.write_text((data / "assessments.csv").read_text().replace("A,S1,1,,4", "A,S1,NA,,4"))
    refused = run("cooke", na, data / "items.csv")
    assert refused.exit_code != 0 and "line 2: quantile 0.05 is 'NA'" in refused.output
    items = tmp_path / "items.csv"
    items.write_text("itemid,realization,scale,question\nS1,3,uni,a\nS2,7,uni,b\n")
    assessments = tmp_path / "assessments.csv"
    assessments.write_text("expertid,itemid,0.05,0.5,0.95\nA,S1,1,,4\nA,S2,,,8\n")
    refused = run("cooke", assessments, items)
    assert refused.exit_code != 0 and "line 3" in refused.output and "must ask the same quantiles" in refused.output
