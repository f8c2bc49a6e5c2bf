"""Each question kind's class, on its own: reading the page, checking an answer, summarising a round,
the feedback it gives. No database: items are built in memory."""

from __future__ import annotations

from collections import Counter
from typing import get_args

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from starlette.datastructures import FormData

from app import scoring
from app.errors import Message
from app.rounds.kinds import KINDS, AnswerIn, FeedbackContext, GivenAnswer, kind_of
from app.rounds.snapshot import RoundSnapshot
from app.studies.kinds import DESIGN_KINDS
from app.studies.models import ITEM_KINDS, Item, Study
from app.studies.schemas import ItemKind, ItemSpec

OPTIONS = ["Price", "Trust", "Speed", "Choice"]


def item(kind: str, **fields) -> Item:  # type: ignore[no-untyped-def]
    defaults = {
        "id": 7,
        "study_id": 1,
        "text": "A question",
        "kind": kind,
        "options": [],
        "quantiles": [0.05, 0.5, 0.95],
    }
    return Item(**(defaults | fields))


def study(**fields) -> Study:  # type: ignore[no-untyped-def]
    return Study(**({"title": "S", "scale_min": 1, "scale_max": 9, "feedback": {}} | fields))


def context(**settings_) -> FeedbackContext:  # type: ignore[no-untyped-def]
    return FeedbackContext(study=study(), settings=settings_, group_label=lambda key: key.title())


def given_answers(item_id: int, rows: list[dict]) -> list[GivenAnswer]:
    return [
        GivenAnswer(
            expert_id=k + 1,
            item_id=item_id,
            value=row.get("value"),
            values=row.get("values"),
            text=row.get("text"),
            unable=row.get("unable", False),
        )
        for k, row in enumerate(rows)
    ]


def test_both_registries_and_the_schema_name_the_same_kinds():
    assert set(KINDS) == set(DESIGN_KINDS) == set(get_args(ItemKind)) == set(ITEM_KINDS)
    for name, kind in KINDS.items():
        assert kind_of(name) is kind and kind.name == name
    with pytest.raises(ValueError):
        kind_of("slider")


def test_every_kind_has_its_four_templates():
    from app.templating import TEMPLATES_DIR

    for kind in KINDS.values():
        for template in (kind.answer_template, kind.feedback_template, kind.results_template, kind.report_template):
            assert (TEMPLATES_DIR / template).is_file(), template


# --- rating ----------------------------------------------------------------------------------------


def test_rating_accepts_whole_points_of_its_scale_and_unable_only_where_allowed():
    rating = kind_of("rating")
    assert rating.clean(item("rating"), study(), AnswerIn(value=7)).value == 7.0
    for bad in (0, 10, 6.5, float("inf")):
        with pytest.raises(ValueError, match="whole number from 1 to 9"):
            rating.clean(item("rating"), study(), AnswerIn(value=bad))
    assert rating.clean(item("rating", allow_unable=True), study(), AnswerIn(unable=True)).unable
    with pytest.raises(ValueError, match="needs a rating"):
        rating.clean(item("rating", allow_unable=False), study(), AnswerIn(unable=True))
    assert rating.read_form(item("rating"), FormData([("v7", "4")])) == {"value": "4"}
    assert rating.read_form(item("rating"), FormData([("v7", "")])) == {"value": None}


# --- choice ----------------------------------------------------------------------------------------


def test_choice_checks_options_and_keeps_them_in_the_item_s_order():
    choice = kind_of("choice")
    several = item("choice", options=OPTIONS, multiple=True)
    assert choice.clean(several, study(), AnswerIn(values=["Speed", "Price"])).values == ["Price", "Speed"]
    with pytest.raises(ValueError, match="not one of the options"):
        choice.clean(several, study(), AnswerIn(values=["Colour"]))
    with pytest.raises(ValueError, match="chosen twice"):
        choice.clean(several, study(), AnswerIn(values=["Price", "Price"]))
    with pytest.raises(ValueError, match="choose one option"):
        choice.clean(item("choice", options=OPTIONS), study(), AnswerIn(values=["Price", "Trust"]))
    assert choice.read_form(several, FormData([("c7", "Trust"), ("c7", "Speed")])) == {"values": ["Trust", "Speed"]}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(OPTIONS), unique=True, max_size=4), max_size=30))
def test_choice_counts_and_shares_match_a_plain_count(chosen):
    entry = kind_of("choice").summarize(
        item("choice", options=OPTIONS, multiple=True),
        given_answers(7, [{"values": c or None} for c in chosen]),
        {k + 1: "ab"[k % 2] for k in range(len(chosen))},
        "1",
    )
    answered = [c for c in chosen if c]
    counted = Counter(o for c in answered for o in c)
    assert entry.n == len(answered)
    assert entry.counts == {o: counted.get(o, 0) for o in OPTIONS}
    for option in OPTIONS:
        assert entry.shares[option] == pytest.approx(counted.get(option, 0) / len(answered) if answered else 0.0)
        assert sum(g.get(option, 0) for g in entry.by_group.values()) == counted.get(option, 0)
    assert sum(entry.group_n.values()) == len(answered)


def test_choice_feedback_marks_the_expert_s_previous_choice_and_hides_small_groups():
    choice = kind_of("choice")
    entry = choice.summarize(
        item("choice", options=OPTIONS),
        given_answers(7, [{"values": ["Price"]}] * 3 + [{"values": ["Trust"]}]),
        {1: "a", 2: "a", 3: "a", 4: "b"},
        "1",
    )
    own = GivenAnswer(2, 7, None, ["Price"], None, False)
    fb = choice.feedback(entry, own, context(by_group=True))
    assert [(o.option, o.count, o.mine) for o in fb.options][:2] == [("Price", 3, True), ("Trust", 1, False)]
    assert fb.options[0].share == pytest.approx(0.75) and fb.own_previous == ["Price"]
    # group b has one answer: not shown, and neither is a's, since b's would be the total minus a's
    assert fb.by_group == []
    hidden = choice.feedback(entry, own, context(own_previous=False))
    assert hidden.own_previous is None and not any(o.mine for o in hidden.options)


# --- ranking ---------------------------------------------------------------------------------------


def test_ranking_from_ranks_refuses_ties_and_out_of_range_ranks_with_one_message():
    ranking = kind_of("ranking")
    it = item("ranking", options=OPTIONS)
    clean = ranking.clean(it, study(), AnswerIn(ranks={"Price": "2", "Trust": "1", "Speed": "", "Choice": None}))
    assert clean.values == ["Trust", "Price"]
    for ranks in ({"Price": "1", "Trust": "1"}, {"Price": "5"}, {"Price": "x"}, {"Price": "0"}):
        with pytest.raises(ValueError) as refused:
            ranking.clean(it, study(), AnswerIn(ranks=ranks))
        assert refused.value.args[0] == "Give each option a different rank."
    with pytest.raises(ValueError, match="not one of the options"):
        ranking.clean(it, study(), AnswerIn(ranks={"Colour": "1"}))
    assert ranking.clean(it, study(), AnswerIn(values=["Speed", "Price"])).values == ["Speed", "Price"]  # the API
    form = FormData([("k7_0", "2"), ("k7_1", "1"), ("k7_2", ""), ("k7_3", "3")])
    assert ranking.read_form(it, form) == {"ranks": {"Price": "2", "Trust": "1", "Speed": "", "Choice": "3"}}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.permutations(OPTIONS), min_size=1, max_size=20))
def test_ranking_summary_matches_mean_ranks_borda_and_kendall_w_computed_apart(orders):
    entry = kind_of("ranking").summarize(
        item("ranking", options=OPTIONS), given_answers(7, [{"values": list(o)} for o in orders]), {}, "1"
    )
    ranks = np.array([[list(o).index(option) + 1 for option in OPTIONS] for o in orders], dtype=float)
    assert [r.mean_rank for r in entry.ranking] == pytest.approx(ranks.mean(axis=0).tolist())
    assert [r.borda for r in entry.ranking] == pytest.approx((len(OPTIONS) - ranks).sum(axis=0).tolist())
    m, k = ranks.shape
    if m > 1:
        # Kendall's W from Friedman's chi-square (no ties in complete rankings): W = chi2 / (m (k - 1))
        chi2 = scipy_stats.friedmanchisquare(*ranks.T).statistic
        assert entry.kendall_w == pytest.approx(chi2 / (m * (k - 1)), abs=1e-9)
    borda = {r.option: r.borda for r in entry.ranking}
    assert [borda[o] for o in entry.order] == sorted(borda.values(), reverse=True)


def test_ranking_feedback_lists_the_group_s_order_with_the_expert_s_own_ranks():
    ranking = kind_of("ranking")
    entry = ranking.summarize(
        item("ranking", options=OPTIONS),
        given_answers(7, [{"values": ["Trust", "Price", "Speed", "Choice"]}] * 2 + [{"values": ["Price", "Trust"]}]),
        {},
        "1",
    )
    fb = ranking.feedback(entry, GivenAnswer(3, 7, None, ["Price", "Trust"], None, False), context())
    assert [r.option for r in fb.rows][:2] == ["Trust", "Price"]
    assert [(r.group_position, r.own_rank) for r in fb.rows] == [(1, 2), (2, 1), (3, None), (4, None)]
    assert fb.n == 3 and entry.ranking[2].n_ranked == 2


def test_nobody_ranked_gives_an_empty_but_complete_entry():
    entry = kind_of("ranking").summarize(item("ranking", options=OPTIONS), [], {}, "1")
    assert entry.n == 0 and entry.kendall_w is None and entry.order == []
    assert [r.option for r in entry.in_order] == OPTIONS


# --- estimate --------------------------------------------------------------------------------------


def test_estimate_needs_every_value_in_increasing_order():
    estimate = kind_of("estimate")
    it = item("estimate")
    assert estimate.clean(it, study(), AnswerIn(values=["1", "2,5".replace(",", "."), "4"])).values == [1, 2.5, 4]
    assert estimate.clean(it, study(), AnswerIn(values=["", "", ""])).values is None
    with pytest.raises(ValueError, match="give all 3 values"):
        estimate.clean(it, study(), AnswerIn(values=["1", "2"]))
    with pytest.raises(ValueError, match="must go up"):
        estimate.clean(it, study(), AnswerIn(values=["3", "2", "4"]))
    with pytest.raises(ValueError, match="must be numbers"):
        estimate.clean(it, study(), AnswerIn(values=["1", "nan", "4"]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3).map(sorted), max_size=25))
def test_estimate_medians_are_numpy_s_median_of_each_quantile(rows):
    entry = kind_of("estimate").summarize(item("estimate"), given_answers(7, [{"values": r} for r in rows]), {}, "1")
    assert entry.n == len(rows)
    if rows:
        assert entry.median_of_quantiles == pytest.approx(np.median(np.array(rows), axis=0).tolist())
    else:
        assert entry.median_of_quantiles is None


def test_estimate_feedback_pairs_each_quantile_with_the_panel_and_the_expert():
    estimate = kind_of("estimate")
    entry = estimate.summarize(
        item("estimate"), given_answers(7, [{"values": [1, 2, 3]}, {"values": [3, 4, 5]}]), {}, "1"
    )
    fb = estimate.feedback(entry, GivenAnswer(1, 7, None, [1.0, 2.0, 3.0], None, False), context())
    assert fb.rows == [(0.05, 2.0, 1.0), (0.5, 3.0, 2.0), (0.95, 4.0, 3.0)]


# --- open ------------------------------------------------------------------------------------------


def test_open_answers_are_counted_anonymised_and_shown_as_statements_unless_the_protocol_says_more():
    open_kind = kind_of("open")
    assert not open_kind.required
    entry = open_kind.summarize(item("open"), given_answers(7, [{"text": "b"}, {"text": "a"}, {}]), {}, "3")
    assert entry.answers == entry.n == 2 and sorted(entry.texts) == ["a", "b"]
    again = open_kind.summarize(item("open"), given_answers(7, [{"text": "a"}, {"text": "b"}]), {}, "3")
    assert again.texts == entry.texts  # the order does not follow who answered first
    ctx = FeedbackContext(study=study(), settings={}, group_label=str, statements={7: ["Delivery matters"]})
    fb = open_kind.feedback(entry, GivenAnswer(1, 7, None, None, "b", False), ctx)
    assert fb.statements == ["Delivery matters"] and fb.texts == [] and fb.own_previous == "b"
    ctx.settings = {"open_answers": True}
    assert open_kind.feedback(entry, GivenAnswer(1, 7, None, None, "b", False), ctx).texts == ["a"]


# --- design side -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "choice", "options": ["One"]}, "at least two options"),
        ({"kind": "ranking", "options": ["A", "A "]}, "different from each other"),
        ({"kind": "rating", "is_seed": True}, "seed question"),
        ({"kind": "estimate", "is_seed": True}, "seed question"),
        ({"kind": "estimate", "quantiles": [0.5, 0.5]}, "quantiles must increase"),
    ],
)
def test_design_kinds_refuse_what_they_cannot_ask(fields, message):
    with pytest.raises(ValueError, match=message):
        ItemSpec(text="A question", **fields)


def test_design_kinds_export_their_own_fields():
    entry: dict = {}
    DESIGN_KINDS["estimate"].export(item("estimate", is_seed=True, realization=3.5), entry)
    assert entry == {"quantiles": [0.05, 0.5, 0.95], "is_seed": True, "realization": 3.5}
    entry = {}
    DESIGN_KINDS["choice"].export(item("choice", options=["a", "b"], multiple=True), entry)
    assert entry == {"options": ["a", "b"], "multiple": True}


def test_a_message_is_what_the_kinds_raise():
    with pytest.raises(ValueError) as refused:
        kind_of("choice").clean(item("choice", options=OPTIONS), study(), AnswerIn(values=["x"]))
    assert isinstance(refused.value.args[0], Message)


def test_version_1_snapshots_are_upgraded_when_read():
    old = {
        "round": 1,
        "items": [
            {"item_id": 1, "kind": "choice", "text": "Q", "counts": {"a": 3, "b": 1}, "n": 4, "consensus": False},
            {"item_id": 2, "kind": "rating", "text": "R", "stats": {"n": 5, "median": 7.0, "distribution": {"7": 5}}},
            {
                "item_id": 3,
                "kind": "ranking",
                "text": "K",
                "ranking": [
                    {"option": "x", "mean_rank": 2.0, "borda": 1},
                    {"option": "y", "mean_rank": 1.0, "borda": 2},
                ],
                "kendall_w": 1.0,
                "n": 2,
            },
        ],
        "panel": {},
        "cooke": None,
        "experts": [{"expert_id": 1, "pseudonym": "E01", "answered": 0}],
    }
    snapshot = RoundSnapshot.load(old)
    assert snapshot.version == 2
    choice, rating, ranking = snapshot.items
    assert choice.shares == {"a": 0.75, "b": 0.25}
    assert rating.n == 5 and rating.stats.agreement_ci is None and rating.stats.count(7) == 5
    assert ranking.order == ["y", "x"]
    assert snapshot.panel.kendall_w is None and [p.pseudonym for p in snapshot.non_respondents()] == ["E01"]


def test_compute_is_pure_and_survives_a_round_nobody_answered():
    from app.rounds.compute import Panelist, Protocol, RoundAnswers, compute

    items = [item("rating", id=1), item("rating", id=2), item("choice", id=3, options=["a", "b"]), item("open", id=4)]
    experts = [Panelist(k, f"E{k}", "g", 1.0, "active", None, None, None) for k in (1, 2, 3)]
    data = RoundAnswers(
        round_id=1, number=1, items=items, invited=experts, matrix=np.full((3, 2), np.nan), answered=np.zeros(3)
    )
    protocol = Protocol((1, 9), (7, 9), "linear", False, "agreement >= 0.7", "round >= max_rounds", 3)
    snapshot = compute(data, protocol)
    assert snapshot.responded == 0 and len(snapshot.non_respondents()) == 3
    assert [e.kind for e in snapshot.items] == ["rating", "rating", "choice", "open"]
    assert not any(e.consensus for e in snapshot.items) and snapshot.themes == []
    assert snapshot.stop is False and snapshot.consensus_share == 0.0
    # one expert rates: a complete entry, no bootstrap interval from one answer
    data.matrix[0] = [8, 2]
    data.invited[0] = Panelist(1, "E1", "g", 1.0, "active", None, None, object())  # type: ignore[arg-type]
    data.answered[0] = 2
    one = compute(data, protocol)
    rating = one.of_kind("rating")
    assert [e.stats.median for e in rating] == [8.0, 2.0] and one.responded == 1
    assert rating[0].consensus and not rating[1].consensus
    assert scoring.summarize(data.matrix[:1]).median.tolist() == [8.0, 2.0]
