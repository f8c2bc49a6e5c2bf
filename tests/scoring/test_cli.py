"""`delphi score` and `delphi cooke` (contract: names of options and JSON keys)."""

import csv
import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.scoring import panel_agreement, summarize

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


@pytest.mark.parametrize("args", [["--scale", "9-1"], ["--agree", "7-12"], ["--quantile-method", "magic"]])
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
