"""Random item subsets (issue 20, goal 6): each expert answers a random, balanced subset of a large
item pool; the statistics are computed over the experts each item was drawn for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from app import scoring
from app.errors import Conflict, InvalidInput
from app.panel import service as panel
from app.rounds import analysis, answers, service
from app.rounds.answers import AnswerIn
from app.rounds.models import Answer, Round, RoundAssignment, RoundStatus
from app.rounds.snapshot import RatingResult
from tests.factories import login, mailer_for, make_panel_study, make_researcher, page_login
from tests.rounds.helpers import answer_all, consented_page, invited


@settings(max_examples=200, deadline=None)
@given(
    n_experts=st.integers(0, 60),
    n_items=st.integers(1, 40),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_expert_gets_the_size_asked_and_the_items_are_balanced(n_experts, n_items, data, seed):
    size = data.draw(st.integers(1, n_items))
    groups = data.draw(st.none() | st.lists(st.sampled_from("abc"), min_size=n_experts, max_size=n_experts))
    subsets = scoring.balanced_subsets(n_experts, n_items, size, seed, groups)
    assert len(subsets) == n_experts
    for chosen in subsets:
        assert len(set(chosen.tolist())) == len(chosen) == size
        assert chosen.min() >= 0 and chosen.max() < n_items and list(chosen) == sorted(chosen)
    raters = np.bincount(np.concatenate(subsets), minlength=n_items) if subsets else np.zeros(n_items, int)
    assert raters.max() - raters.min() <= 1
    assert raters.min() == scoring.guaranteed_raters(n_experts, n_items, size)
    assert [s.tolist() for s in scoring.balanced_subsets(n_experts, n_items, size, seed, groups)] == [
        s.tolist() for s in subsets
    ]  # reproducible


def test_the_stakeholder_groups_spread_over_the_items():
    groups = [("academic", "practitioner", "policy")[e % 3] for e in range(30)]
    covered = []
    for seed in range(10):  # 30 experts of 3 groups, 3 of 30 items each: 3 raters an item
        from_group = np.zeros((3, 30), dtype=int)
        for expert, chosen in enumerate(scoring.balanced_subsets(30, 30, 3, seed, groups)):
            from_group[expert % 3, chosen] += 1
        covered.append((from_group > 0).all(axis=0).mean())
    # measured 96 % of the items rated by every group (21 % when the draw ignores the groups)
    assert np.mean(covered) > 0.85


def test_the_draw_is_random_among_the_items_with_the_fewest_raters():
    firsts = {tuple(scoring.balanced_subsets(1, 10, 3, seed).pop().tolist()) for seed in range(40)}
    assert len(firsts) > 20  # not always the same three items


def _subset_round(session, settings, experts=10, items=12, size=4, min_raters=3):
    study = make_panel_study(session, experts=experts, items=items, language="en")
    round_ = service.create_round(session, study, None)
    service.set_item_subsets(session, study, round_, size, min_raters, None)
    service.open_round(session, study, round_, None, mailer_for(settings))
    return study, round_


def _drawn(session, round_):
    pairs = session.exec(
        select(RoundAssignment.expert_id, RoundAssignment.item_id).where(RoundAssignment.round_id == round_.id)
    ).all()
    by_expert: dict[int, set[int]] = {}
    for expert_id, item_id in pairs:
        by_expert.setdefault(expert_id, set()).add(item_id)
    return by_expert


def test_opening_the_round_draws_each_experts_items_balanced(session, settings):
    study, round_ = _subset_round(session, settings)
    drawn = _drawn(session, round_)
    experts = invited(session, round_)
    assert set(drawn) == {e.id for e in experts}
    assert all(len(items) == 4 for items in drawn.values())
    raters = np.bincount([i for items in drawn.values() for i in items])
    raters = raters[raters > 0]
    assert len(raters) == 12 and set(raters.tolist()) <= {3, 4}  # 10 x 4 / 12 = 3.33
    for expert in experts:
        assert {i.id for i in answers.expert_items(session, round_, expert.id)} == drawn[expert.id]
        assert answers.progress(session, round_, expert.id) == (0, 4)


def test_a_panel_too_small_for_the_minimum_is_refused_and_nothing_opens(session, settings):
    study = make_panel_study(session, experts=10, items=12, language="en")
    round_ = service.create_round(session, study, None)
    with pytest.raises(InvalidInput, match="the fewest raters an item is sure of is 3, below the 4 asked"):
        service.set_item_subsets(session, study, round_, 4, 4, None)
    with pytest.raises(InvalidInput, match="between 1 and 11"):
        service.set_item_subsets(session, study, round_, 12, None, None)
    with pytest.raises(InvalidInput):
        service.set_item_subsets(session, study, round_, None, 3, None)
    service.set_item_subsets(session, study, round_, 4, 3, None)
    for expert in panel.experts_of(session, study.id)[:2]:  # the panel shrinks before the round opens
        panel.withdraw(session, study, expert, "left", None)
    with pytest.raises(Conflict, match="With 8 experts answering 4 of the 12 items each"):
        service.open_round(session, study, round_, None, mailer_for(settings))
    session.refresh(round_)
    assert round_.status == RoundStatus.DRAFT and _drawn(session, round_) == {}
    assert study.locked_at is None


def test_the_design_cannot_change_once_the_round_is_open(session, settings):
    study, round_ = _subset_round(session, settings)
    with pytest.raises(Conflict, match="drawn as it opens"):
        service.set_item_subsets(session, study, round_, 5, None, None)


def test_an_expert_sees_saves_and_submits_only_the_items_drawn(client, session, settings):
    study, round_ = _subset_round(session, settings)
    expert = invited(session, round_)[0]
    client.cookies.set("delphi_lang", "en")
    url, csrf = consented_page(client, session, expert)
    page = client.get(url).text
    mine = answers.expert_items(session, round_, expert.id)
    others = [i for i in answers.round_items(session, round_.id) if i.id not in {m.id for m in mine}]
    assert all(f'name="v{i.id}"' in page for i in mine)
    assert not any(f'name="v{i.id}"' in page for i in others)
    headers = {"X-CSRF-Token": csrf}
    refused = client.post(f"{url}/answers", json={"answers": {str(others[0].id): {"value": 7}}}, headers=headers)
    assert refused.status_code == 400
    assert "not among the ones drawn for you" in refused.json()["fields"][f"item_{others[0].id}"]
    assert session.exec(select(Answer).where(Answer.expert_id == expert.id)).all() == []
    saved = client.post(f"{url}/answers", json={"answers": {str(mine[0].id): {"value": 7}}}, headers=headers)
    assert saved.status_code == 200 and (saved.json()["answered"], saved.json()["total"]) == (1, 4)
    data = {"csrf_token": csrf, **{f"v{i.id}": "8" for i in mine}}
    done = client.post(f"{url}/submit", data=data, follow_redirects=True)
    assert done.status_code == 200 and "no answer yet" not in done.text  # all four answered: nothing missing
    assert answers.progress(session, round_, expert.id) == (4, 4)


def test_statistics_count_only_the_experts_each_item_was_drawn_for(session, settings):
    study, round_ = _subset_round(session, settings, experts=12, items=9, size=3, min_raters=4)
    drawn = _drawn(session, round_)
    rng = np.random.default_rng(3)
    given: dict[int, list[int]] = {}
    for expert in invited(session, round_)[:-1]:  # the last one answers nothing
        batch = {item_id: int(rng.integers(1, 10)) for item_id in sorted(drawn[expert.id])}
        answers.save_answers(session, study, round_, expert, {i: AnswerIn(value=v) for i, v in batch.items()})
        answers.submit(session, round_, expert)
        for item_id, value in batch.items():
            given.setdefault(item_id, []).append(value)
    # an answer to an item not drawn for its expert (written around the service): not the design's
    outsider = invited(session, round_)[0]
    foreign = next(i for i in {i for items in drawn.values() for i in items} if i not in drawn[outsider.id])
    session.add(Answer(round_id=round_.id, expert_id=outsider.id, item_id=foreign, value=1))
    session.flush()
    service.close_round(session, study, round_, None)
    snapshot = analysis.snapshot_of(analysis.analyse_round(session, study, round_, None, n_boot=0))
    assert snapshot is not None and snapshot.subsets is not None
    raters = {item_id: sum(item_id in items for items in drawn.values()) for item_id in given}
    assert snapshot.subsets.raters == raters and snapshot.subsets.items_per_expert == 3
    assert snapshot.subsets.fewest_raters == 4  # 12 x 3 / 9
    for entry in snapshot.items:
        assert isinstance(entry, RatingResult)
        values = given[entry.item_id]
        assert entry.stats.n == len(values)
        assert entry.stats.median == pytest.approx(float(np.median(values)))
        assert entry.stats.missing == raters[entry.item_id] - len(values)  # the silent expert's, only
    assert {p.items for p in snapshot.experts} == {3}
    assert snapshot.panel.kendall_w is None and snapshot.panel.kendall_n_judges is None  # needs every item rated
    assert snapshot.panel.krippendorff_alpha_ordinal is not None  # alpha takes missing cells in its stride


def test_the_consensus_rule_reads_the_missing_answers_of_the_experts_asked(session, settings):
    study = make_panel_study(session, experts=12, items=9, language="en")
    study.consensus_rule = "agreement >= 0.7 and missing <= 1"
    session.add(study)
    round_ = service.create_round(session, study, None)
    service.set_item_subsets(session, study, round_, 3, None, None)
    service.open_round(session, study, round_, None, mailer_for(settings))
    experts = invited(session, round_)
    for expert in experts:
        mine = answers.expert_items(session, round_, expert.id)
        answers.save_answers(session, study, round_, expert, {i.id: AnswerIn(value=8) for i in mine})
    panel.withdraw(session, study, experts[0], "left", None)  # withdrawn: not analysed, not missing
    service.close_round(session, study, round_, None)
    snapshot = analysis.snapshot_of(analysis.analyse_round(session, study, round_, None, n_boot=0))
    assert snapshot is not None
    assert {e.stats.missing for e in snapshot.items} == {0}
    assert all(e.consensus for e in snapshot.items)  # 12 - 4 = 8 missing would have refused every item


def test_answers_are_carried_only_into_the_items_drawn(session, settings):
    study = make_panel_study(session, experts=8, items=6, language="en")
    first = service.create_round(session, study, None)
    service.open_round(session, study, first, None, mailer_for(settings))
    answer_all(session, study, first)  # round 1: everyone rates every item
    service.close_round(session, study, first, None)
    analysis.analyse_round(session, study, first, None, n_boot=0)
    second = service.create_round(session, study, None)
    service.set_item_subsets(session, study, second, 2, None, None)
    service.open_round(session, study, second, None, mailer_for(settings))
    drawn = _drawn(session, second)
    carried = session.exec(select(Answer.expert_id, Answer.item_id).where(Answer.round_id == second.id)).all()
    assert len(carried) == 8 * 2
    assert all(item_id in drawn[expert_id] for expert_id, item_id in carried)


def test_the_api_and_the_round_page_set_and_say_the_design(client, session, settings):
    study = make_panel_study(session, make_researcher(session), experts=10, items=12, language="en")
    round_ = service.create_round(session, study, None)
    login(client)
    url = f"/api/studies/{study.id}/rounds/{round_.number}/subsets"
    too_many = client.put(url, json={"items_per_expert": 4, "min_raters_per_item": 9})
    assert too_many.status_code == 400 and "below the 9 asked" in too_many.text
    assert client.put(url, json={"items_per_expert": 0}).status_code == 422
    ok = client.put(url, json={"items_per_expert": 4, "min_raters_per_item": 3})
    assert ok.status_code == 200 and (ok.json()["items_per_expert"], ok.json()["min_raters_per_item"]) == (4, 3)
    client.cookies.set("delphi_lang", "en")
    page = client.get(f"/studies/{study.id}/rounds/{round_.number}").text
    assert "Each expert answers 4 of these items" in page and "each item gets 3 to 4 raters" in page
    assert client.post(f"/api/studies/{study.id}/rounds/{round_.number}/open").status_code == 200
    session.expire_all()
    assert session.get(Round, round_.id).status == RoundStatus.OPEN
    assert client.put(url, json={"items_per_expert": None}).status_code == 409
    page = client.get(f"/studies/{study.id}/rounds/{round_.number}").text
    assert "Each item was drawn for 3 to 4 experts" in page


def test_the_results_page_and_the_report_state_the_design(client, session, settings):
    from app.reports.service import render_html

    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=12, items=9, language="en")
    round_ = service.create_round(session, study, None)
    service.set_item_subsets(session, study, round_, 3, 4, None)
    service.open_round(session, study, round_, None, mailer_for(settings))
    for expert in invited(session, round_):
        mine = answers.expert_items(session, round_, expert.id)
        answers.save_answers(session, study, round_, expert, {i.id: AnswerIn(value=8) for i in mine})
    service.close_round(session, study, round_, None)
    analysis.analyse_round(session, study, round_, None, n_boot=0)
    login(client)
    client.cookies.set("delphi_lang", "en")
    page = client.get(f"/studies/{study.id}/rounds/1/results").text
    assert "Each expert answered a random subset of 3 items; each item was drawn for 4 to 4 experts" in page
    html = render_html(session, study.id, "en")
    assert "random subset of 3 items per expert, each item drawn for 4 to 4 experts (at least 4 asked)" in html
    assert "each item's statistics are computed over those of the experts it was drawn for who answered" in html


def test_numbers_that_are_digits_only_to_unicode_get_a_message_not_a_500(client, session, settings):
    study = make_panel_study(session, make_researcher(session), experts=10, items=12, language="en")
    round_ = service.create_round(session, study, None)
    csrf = page_login(client)
    client.cookies.set("delphi_lang", "en")
    url = f"/studies/{study.id}/rounds/{round_.number}/subsets"
    for typed in ("²", "٣", "9" * 5000):
        refused = client.post(url, data={"csrf_token": csrf, "items_per_expert": typed, "min_raters_per_item": "3"})
        assert refused.status_code == 400 and "whole number" in refused.text, typed
        assert 'name="min_raters_per_item" type="number" value="3"' in refused.text  # what was typed, kept
    assert client.get(f"/studies/{study.id}/panel?page=²").status_code == 200
    assert client.get(f"/studies/{study.id}/rounds/1/coding?suggestion=²").status_code == 200
    session.refresh(round_)
    assert round_.items_per_expert is None


def test_the_study_export_says_which_items_each_expert_was_asked(client, session, settings):
    import json

    study = make_panel_study(session, make_researcher(session), experts=10, items=12, language="en")
    round_ = service.create_round(session, study, None)
    service.set_item_subsets(session, study, round_, 4, 3, None)
    service.open_round(session, study, round_, None, mailer_for(settings))
    login(client)
    exported = json.loads(client.get(f"/studies/{study.id}/exports/study.json").content)
    (entry,) = exported["rounds"]
    assert (entry["items_per_expert"], entry["min_raters_per_item"]) == (4, 3)
    pseudonyms = {e.id: e.pseudonym for e in invited(session, round_)}
    assert entry["items_drawn"] == {pseudonyms[e]: sorted(items) for e, items in _drawn(session, round_).items()}


def test_an_item_answered_by_fewer_than_the_minimum_gets_no_consensus_verdict(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=12, items=9, language="en")
    study.consensus_rule = "agreement >= 0.7"
    study.stopping_rule = "kendall_w < 0.3"  # unknown in a design of subsets: not met by a made-up 0
    session.add(study)
    round_ = service.create_round(session, study, None)
    service.set_item_subsets(session, study, round_, 3, 4, None)
    service.open_round(session, study, round_, None, mailer_for(settings))
    drawn = _drawn(session, round_)
    lonely = next(iter(drawn[invited(session, round_)[0].id]))
    lonely_rater = min(e for e, items in drawn.items() if lonely in items)
    for expert in invited(session, round_):  # only one expert answers ``lonely``; every other item is full
        mine = [
            i for i in answers.expert_items(session, round_, expert.id) if i.id != lonely or expert.id == lonely_rater
        ]
        answers.save_answers(session, study, round_, expert, {i.id: AnswerIn(value=8) for i in mine})
    service.close_round(session, study, round_, None)
    snapshot = analysis.snapshot_of(analysis.analyse_round(session, study, round_, None, n_boot=0))
    assert snapshot is not None and snapshot.subsets is not None
    by_item = {e.item_id: e for e in snapshot.items}
    assert by_item[lonely].stats.n == 1 and by_item[lonely].stats.agreement == 1.0
    assert not by_item[lonely].consensus and snapshot.subsets.below_minimum == [lonely]
    assert all(e.consensus for i, e in by_item.items() if i != lonely)
    assert snapshot.stop_values["kendall_w"] is None and not snapshot.stop
    login(client)
    client.cookies.set("delphi_lang", "en")
    page = client.get(f"/studies/{study.id}/rounds/1/results").text
    assert "1 item has fewer answers than the minimum of 4 raters: it gets no consensus verdict." in page


def test_the_expert_and_the_preview_are_told_of_the_random_subset(client, session, settings):
    study, round_ = _subset_round(session, settings)
    expert = invited(session, round_)[0]
    client.cookies.set("delphi_lang", "en")
    url, csrf = consented_page(client, session, expert)
    assert "drawn at random so that every statement gets about as many answers: here are your 4 statements" in (
        client.get(url).text
    )


def test_the_preview_says_each_expert_sees_a_random_part(client, session, settings):
    study = make_panel_study(session, make_researcher(session), experts=10, items=12, language="en")
    round_ = service.create_round(session, study, None)
    service.set_item_subsets(session, study, round_, 4, None, None)
    page_login(client)
    client.cookies.set("delphi_lang", "en")
    page = client.get(f"/studies/{study.id}/preview").text
    assert "Each expert will answer 4 of these statements, drawn at random as the round opens" in page
