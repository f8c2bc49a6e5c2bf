import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.scoring import (
    RuleError,
    consensus,
    parse,
    parse_consensus_rule,
    parse_formula,
    should_stop,
    summarize,
)


@pytest.mark.parametrize(
    "source",
    [
        "agreement >= 0.7 and iqr <= 1",
        "opposition < 0.15",
        "di <= 1",
        "agreement >= 70% and opposition < 15%",
        "(median >= 7 or median <= 3) and not di > 1",
        "AGREEMENT >= 0.7 AND IQR <= 1".replace("AGREEMENT", "agreement").replace("IQR", "iqr"),
        "abs(median - mean) < 1 and n >= 5",
    ],
)
def test_valid_rules_parse(source):
    assert parse_consensus_rule(source).is_condition


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("agrement >= 0.7", "did you mean 'agreement'", 0),
        ("agreement >= ", "stops too early", 13),
        ("agreement = 0.7", "use '=='", 10),
        ("(agreement >= 0.7", "missing ')'", 17),
        ("agreement + 1", "must be a condition", 0),
        ("agreement >= 0.7 and", "stops too early", 20),
        ("agreement >= 0.7 iqr <= 1", "unexpected 'iqr'", 17),
        ("0.5 < agreement < 0.9", "cannot be chained", 16),
        ("agreement >= 0.7 and 3", "'and' needs a comparison", 21),
        ("agreement >= 0.7; drop table", "unexpected character ';'", 16),
        ("__import__('os')", "unexpected character", 11),
        ("exec(agreement)", "unknown function 'exec'", 0),
        ("", "empty", 0),
    ],
)
def test_errors_point_at_the_bad_part(source, message, position):
    with pytest.raises(RuleError) as info:
        parse_consensus_rule(source)
    assert message in str(info.value)
    assert info.value.position == position
    assert "^" in str(info.value).splitlines()[-1]


def test_consensus_is_evaluated_per_item_and_nan_is_not_consensus():
    s = summarize(np.array([[8, 1, np.nan], [9, 2, np.nan], [8, 9, np.nan]], dtype=float))
    assert consensus("agreement >= 0.7 and iqr <= 1", s).tolist() == [True, False, False]
    assert consensus("not agreement >= 0.7", s).tolist() == [False, True, True]


def test_stopping_rule_on_round_figures():
    rule = "consensus_share >= 1 or stable_share >= 0.8 or round >= max_rounds"
    assert not should_stop(rule, consensus_share=0.5, stable_share=0.2, round=1, max_rounds=3).stop
    assert should_stop(rule, consensus_share=0.5, stable_share=0.9, round=1, max_rounds=3).stop
    assert should_stop(rule, consensus_share=0.5, stable_share=0.2, round=3, max_rounds=3).stop
    with pytest.raises(RuleError, match="unknown name 'agreement'"):
        should_stop("agreement >= 1")


def test_formula_over_profile_fields():
    rule = parse_formula("0.5 * self_rating / 10 + 0.3 * min(years, 20) / 20 - -1", ["self_rating", "years"])
    values = rule.evaluate({"self_rating": np.array([8, 4]), "years": np.array([30, 5])})
    np.testing.assert_allclose(values, [0.4 + 0.3 + 1, 0.2 + 0.075 + 1])
    with pytest.raises(RuleError, match="must give a number"):
        parse_formula("years > 3", ["years"])
    with pytest.raises(RuleError, match="takes 2 to 8 arguments"):
        parse_formula("min(years)", ["years"])


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="agreement iqr<>=!()0.7%andornt+-*/,_x19", max_size=40))
def test_any_text_either_parses_or_raises_a_rule_error(source):
    try:
        rule = parse(source, {"agreement", "iqr", "x"})
    except RuleError as exc:
        assert exc.source == source and 0 <= exc.position <= len(source)
    else:
        rule.evaluate({"agreement": np.array([0.5, 0.9]), "iqr": np.array([1.0, 2.0]), "x": np.array([0.0, 1.0])})


numbers = st.floats(-100, 100, allow_nan=False).map(lambda v: round(v, 3))


@settings(max_examples=200, deadline=None)
@given(numbers, numbers, numbers, st.sampled_from(["+", "-", "*"]), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
def test_arithmetic_and_comparisons_agree_with_python(a, b, c, op, cmp):
    rule = parse(f"x {op} {b} {cmp} {c}", {"x"})
    python = {"+": a + b, "-": a - b, "*": a * b}[op]
    expected = {
        "<": python < c,
        "<=": python <= c,
        ">": python > c,
        ">=": python >= c,
        "==": python == c,
        "!=": python != c,
    }[cmp]
    assert bool(rule.evaluate({"x": a})) == expected


def test_the_tastle_wierman_consensus_can_be_a_consensus_rule():
    ratings = np.array([[7, 1], [7, 9], [7, 1], [7, 9]], dtype=float)  # item 1 all on 7, item 2 split
    summary = summarize(ratings)
    assert consensus("cns >= 0.8", summary).tolist() == [True, False]
    assert consensus("dnt > 0.5", summary).tolist() == [False, True]
