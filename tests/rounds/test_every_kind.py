"""Every question kind from the expert's page to the results, the API, the exports and the report, and
rounds of any size: none, one expert, everyone unable to rate."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from app.audit.models import AuditEvent
from app.reports import exports
from app.reports.service import render_html
from app.rounds import answers, coding, service
from app.rounds.answers import AnswerIn
from app.rounds.models import Answer, AnswerHistory, Invitation, RoundResult
from app.rounds.snapshot import RoundSnapshot
from app.studies import design
from app.templating import default_templates
from tests.conftest import TEST_SECRET
from tests.factories import make_item, make_panel_study, make_researcher, make_theme, page_login
from tests.rounds.helpers import consented_page, invited, open_round

OPTIONS = ["Price", "Trust", "Speed", "Choice"]


def all_kinds_study(session, experts: int = 8, language: str = "en"):  # type: ignore[no-untyped-def]
    owner = make_researcher(session, f"owner-{experts}-{language}@example.org")
    study = make_panel_study(session, owner, experts=experts, items=2, language=language)
    study.stopping_rule = "round >= max_rounds"
    study.max_rounds = 3
    study.feedback = dict(study.feedback, by_group=True)
    session.add(study)
    theme = make_theme(session, study, "Customers")
    make_item(session, study, theme, "Which network do you use most?", kind="choice", options=["Facebook", "LinkedIn"])
    make_item(
        session, study, theme, "Which channels matter?", kind="choice", options=["Email", "Ads", "SEO"], multiple=True
    )
    make_item(session, study, theme, "Order what drives a purchase", kind="ranking", options=OPTIONS)
    make_item(session, study, theme, "Share of sales online in 2030 (%)", kind="estimate", quantiles=[0.05, 0.5, 0.95])
    make_item(session, study, None, "What else matters?", kind="open")
    return owner, study


def first_round_closed(session, study, settings):  # type: ignore[no-untyped-def]
    """Round 1 opened, answered by every invited expert (``answer_everything``), closed and analysed."""
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    answer_everything(session, study, round1, experts)
    service.close_round(session, study, round1, None)
    return round1, experts


def by_kind(session, round_):  # type: ignore[no-untyped-def]
    items = answers.round_items(session, round_.id)
    found: dict[str, list] = {}
    for item in items:
        found.setdefault(item.kind, []).append(item)
    return found


def answer_everything(session, study, round_, experts):  # type: ignore[no-untyped-def]
    """A fixed, varied pattern: expert k rates 5 + k % 5, ranks options in a rotation, etc."""
    kinds = by_kind(session, round_)
    for k, expert in enumerate(experts):
        batch = {item.id: AnswerIn(value=5 + (k + j) % 5) for j, item in enumerate(kinds.get("rating", []))}
        single, multiple = kinds["choice"]
        batch[single.id] = AnswerIn(values=[single.options[k % 2]])
        batch[multiple.id] = AnswerIn(values=multiple.options[: 1 + k % 3])
        ranking = kinds["ranking"][0]
        order = ranking.options[k % 2 :] + ranking.options[: k % 2]
        batch[ranking.id] = AnswerIn(ranks={o: str(n + 1) for n, o in enumerate(order)})
        batch[kinds["estimate"][0].id] = AnswerIn(values=[10 + k, 20 + k, 40 + k])
        batch[kinds["open"][0].id] = AnswerIn(text=f"Idea {k}: delivery times")
        answers.save_answers(session, study, round_, expert, batch)
        answers.submit(session, round_, expert)


def snapshot(session, round_) -> RoundSnapshot:  # type: ignore[no-untyped-def]
    return RoundSnapshot.load(session.exec(select(RoundResult).where(RoundResult.round_id == round_.id)).one().data)


# --- rounds of any size ----------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["nobody", "one expert", "everyone unable"])
def test_results_api_feedback_and_report_render_after_any_round(client, session, settings, pattern):
    owner, study = all_kinds_study(session)
    for item in by_kind(session, open_round(session, study, settings))["rating"]:
        item.allow_unable = True
        session.add(item)
    round1 = service.get_round(session, study, 1)
    experts = invited(session, round1)
    rating = by_kind(session, round1)["rating"]
    if pattern == "one expert":
        answer_everything(session, study, round1, experts[:1])
    elif pattern == "everyone unable":
        for expert in experts:
            answers.save_answers(session, study, round1, expert, {i.id: AnswerIn(unable=True) for i in rating})
    service.close_round(session, study, round1, None)
    data = snapshot(session, round1)
    assert {e.kind for e in data.items} == {"rating", "choice", "ranking", "estimate", "open"}
    assert data.responded == {"nobody": 0, "one expert": 1, "everyone unable": 8}[pattern]
    if pattern != "one expert":
        assert all(e.stats.n == 0 and e.stats.median is None and not e.consensus for e in data.of_kind("rating"))

    page_login(client, owner.email)
    results = client.get(f"/studies/{study.id}/rounds/1/results")
    assert results.status_code == 200, results.text
    assert "-0.000" not in results.text and "-0,000" not in results.text
    if pattern == "nobody":
        assert "Nobody answered in this round" in results.text
        assert all(e.pseudonym in results.text for e in experts)  # listed as non-respondents
    api = client.get(f"/api/studies/{study.id}/rounds/1/results")
    assert api.status_code == 200, api.text
    assert all("kind" in e for e in api.json()["data"]["items"])

    round2 = open_round(session, study, settings)
    url, _ = consented_page(client, session, invited(session, round2)[0])
    page = client.get(url)
    assert page.status_code == 200, page.text
    html = render_html(session, study.id, "en", default_templates())
    assert "Results per item" in html and "Traceback" not in html


def test_the_report_cli_exits_0_after_a_round_with_no_answers(database, tmp_path):
    """Contract: `delphi report STUDY --out F.pdf` exits 0 for any study with a closed round."""
    import os
    import subprocess

    from sqlmodel import Session

    from app.db import make_engine
    from tests.conftest import settings_for

    url = database.fresh()
    engine = make_engine(url)
    with Session(engine) as session:
        _, study = all_kinds_study(session, experts=3)
        round1 = open_round(session, study, settings_for(url))
        service.close_round(session, study, round1, None)
        session.commit()
        study_id = study.id
    engine.dispose()
    out = tmp_path / "quiet.pdf"
    env = {**os.environ, "DELPHI_DATABASE_URL": url, "DELPHI_SECRET_KEY": TEST_SECRET}
    done = subprocess.run(
        [os.path.join(os.path.dirname(os.sys.executable), "delphi"), "report", str(study_id), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert out.read_bytes().startswith(b"%PDF")


# --- results of every kind -------------------------------------------------------------------------


def test_snapshot_and_api_keep_the_contract_for_every_kind(client, session, settings):
    owner, study = all_kinds_study(session)
    round1, experts = first_round_closed(session, study, settings)
    page_login(client, owner.email)
    body = client.get(f"/api/studies/{study.id}/rounds/1/results").json()
    entries = {e["text"]: e for e in body["data"]["items"]}
    single = entries["Which network do you use most?"]
    assert single["kind"] == "choice" and single["counts"] == {"Facebook": 4, "LinkedIn": 4}
    assert single["shares"] == {"Facebook": 0.5, "LinkedIn": 0.5}
    several = entries["Which channels matter?"]
    assert several["counts"] == {"Email": 8, "Ads": 5, "SEO": 2}  # k % 3 + 1 options each
    assert several["shares"]["Email"] == 1.0 and several["shares"]["SEO"] == pytest.approx(2 / 8)
    ranking = entries["Order what drives a purchase"]
    assert [r["option"] for r in ranking["ranking"]] == OPTIONS
    # half the experts rank Price first, half Trust first (Price then last): means 2.5 and 1.5
    mean_rank = {r["option"]: r["mean_rank"] for r in ranking["ranking"]}
    assert mean_rank == {"Price": 2.5, "Trust": 1.5, "Speed": 2.5, "Choice": 3.5}
    assert {r["option"]: r["borda"] for r in ranking["ranking"]} == {
        "Price": 8 * 4 - 8 * 2.5,
        "Trust": 8 * 4 - 8 * 1.5,
        "Speed": 8 * 4 - 8 * 2.5,
        "Choice": 8 * 4 - 8 * 3.5,
    }
    assert 0 <= ranking["kendall_w"] <= 1
    estimate = entries["Share of sales online in 2030 (%)"]
    assert estimate["median_of_quantiles"] == [13.5, 23.5, 43.5]
    assert entries["What else matters?"]["answers"] == 8

    results = client.get(f"/studies/{study.id}/rounds/1/results").text
    assert "Kendall" in results and "Borda" in results and "50" in results
    # ratings: the Tastle-Wierman consensus in the API and on the page, explained where it is shown
    rating = next(e for e in body["data"]["items"] if e["kind"] == "rating")
    cns = rating["stats"]["cns"]
    assert 0 <= cns <= 1 and rating["stats"]["dnt"] == pytest.approx(1 - cns)
    assert "Tastle–Wierman consensus" in results and f"{cns:.2f}" in results


def test_exports_carry_every_kind(session, settings):
    _, study = all_kinds_study(session)
    round1 = open_round(session, study, settings)
    answer_everything(session, study, round1, invited(session, round1))
    service.close_round(session, study, round1, None)
    rows = exports.option_rows(session, study)
    assert {(r["kind"], r.get("option") or r.get("quantile")) for r in rows} >= {
        ("choice", "Facebook"),
        ("ranking", "Trust"),
        ("estimate", 0.5),
    }
    trust = next(r for r in rows if r.get("option") == "Trust")
    assert trust["mean_rank"] == 1.5 and trust["group_rank"] == 1
    acknowledged = session.exec(select(Answer).where(Answer.round_id == round1.id)).all()
    exported = list(exports.answer_rows(session, study))
    assert len(exported) == len(acknowledged) == 8 * 7


# --- round 2: feedback of every kind, answers carried forward --------------------------------------


def two_rounds(client, session, settings):  # type: ignore[no-untyped-def]
    owner, study = all_kinds_study(session)
    round1, experts = first_round_closed(session, study, settings)
    round2 = open_round(session, study, settings)
    return owner, study, round1, round2, experts


def test_round_two_shows_feedback_for_every_kind_with_the_expert_s_own_answer(client, session, settings):
    owner, study, round1, round2, experts = two_rounds(client, session, settings)
    url, _ = consented_page(client, session, experts[1])
    page = client.get(url).text
    # choice: share per option, own answer marked; by group (4 per group, shown from 3)
    assert re.search(r"Facebook.{0,600}?50\s%", page, re.S)
    assert "your answer last time" in page
    # ranking: the group's order with mean rank and Borda, own rank
    assert "Mean rank" in page and "Your rank last time" in page and "Kendall" in page
    # estimate: the panel's median per quantile
    assert "Panel median" in page and "23.50" in page
    items = {i.kind: i for i in answers.round_items(session, round2.id)}
    assert "open" not in items  # open questions were coded, not asked again


def test_previous_answers_are_carried_forward_and_count_as_answered(client, session, settings):
    owner, study, round1, round2, experts = two_rounds(client, session, settings)
    expert = experts[2]
    url, csrf = consented_page(client, session, expert)
    page = client.get(url).text
    rating = by_kind(session, round2)["rating"][0]
    before = session.exec(
        select(Answer).where(Answer.round_id == round1.id, Answer.expert_id == expert.id, Answer.item_id == rating.id)
    ).one()
    # contract: the previous rating's radio is checked
    assert re.search(rf'name="v{rating.id}" value="{int(before.value)}" checked', page)
    total = len(answers.round_items(session, round2.id))
    assert f"{total} / {total} answered" in page
    assert "Unchanged since round 1" in page
    # the expert revises one answer: round 1 is untouched, round 2 keeps both versions in its history
    other = 1 + int(before.value) % 9
    saved = client.post(
        f"{url}/answers", json={"answers": {str(rating.id): {"value": other}}}, headers={"X-CSRF-Token": csrf}
    )
    assert saved.status_code == 200 and saved.json()["answered"] == total
    session.refresh(before)
    assert before.value is not None and before.value != other and before.version == 1
    history = session.exec(
        select(AnswerHistory).where(
            AnswerHistory.round_id == round2.id,
            AnswerHistory.expert_id == expert.id,
            AnswerHistory.item_id == rating.id,
        )
    ).all()
    assert sorted((h.source, h.value) for h in history) == sorted([("carried", before.value), ("autosave", other)])
    assert f'id="unchanged-{rating.id}"' not in client.get(url).text


def test_carried_answers_of_experts_who_did_not_take_part_are_not_analysed(client, session, settings):
    owner, study, round1, round2, experts = two_rounds(client, session, settings)
    taking_part = experts[:3]
    for expert in taking_part:
        answers.submit(session, round2, expert)  # confirms the carried answers as they are
    service.close_round(session, study, round2, None)
    data = snapshot(session, round2)
    assert data.responded == 3 and len(data.non_respondents()) == len(experts) - 3
    assert all(e.stats.n == 3 for e in data.of_kind("rating"))
    assert all(s.unchanged for s in data.stability)  # nobody changed anything
    choice = data.of_kind("choice")[0]
    assert choice.n == 3


def test_a_tie_in_a_ranking_is_refused_everywhere_with_the_same_message_and_nothing_saved(client, session, settings):
    _, study = all_kinds_study(session)
    round1 = open_round(session, study, settings)
    expert = invited(session, round1)[0]
    url, csrf = consented_page(client, session, expert)
    ranking = by_kind(session, round1)["ranking"][0]
    tie = {"Price": "1", "Trust": "2", "Speed": "3", "Choice": "3"}
    auto = client.post(
        f"{url}/answers", json={"answers": {str(ranking.id): {"ranks": tie}}}, headers={"X-CSRF-Token": csrf}
    )
    assert auto.status_code == 400
    message = auto.json()["fields"][f"item_{ranking.id}"]
    assert message == "Give each option a different rank."
    form = {"csrf_token": csrf, **{f"k{ranking.id}_{n}": tie[o] for n, o in enumerate(ranking.options)}}
    for action in ("save", "submit"):
        page = client.post(f"{url}/{action}", data=form)
        assert page.status_code == 400 and message in page.text and "nothing was saved" in page.text
        assert re.search(rf'name="k{ranking.id}_3"[^>]*>.*?value="3" selected', page.text, re.S)  # as typed
    assert session.exec(select(Answer).where(Answer.expert_id == expert.id)).all() == []
    good = {"Price": "2", "Trust": "1", "Speed": "", "Choice": "3"}  # a partial ranking is fine
    ok = client.post(
        f"{url}/answers", json={"answers": {str(ranking.id): {"ranks": good}}}, headers={"X-CSRF-Token": csrf}
    )
    assert ok.status_code == 200
    stored = session.exec(select(Answer).where(Answer.expert_id == expert.id)).one()
    assert stored.values == ["Trust", "Price", "Choice"]


def test_a_promoted_statement_joins_its_theme_once(client, session, settings):
    owner, study = all_kinds_study(session)
    round1, experts = first_round_closed(session, study, settings)
    theme = next(t for t in design.themes_of(session, study.id) if t.title == "Strategy")
    open_answers = coding.open_answers(session, round1)[0][1]
    statement = coding.create_statement(
        session, study, round1, "Delivery times decide", [open_answers[0][0].id], theme.id, [], None
    )
    coding.promote(session, study, statement, None)
    round2 = open_round(session, study, settings)
    url, _ = consented_page(client, session, experts[0])
    page = client.get(url).text
    assert page.count("<h2>Strategy</h2>") == 1 and page.count("<h2>Customers</h2>") == 1
    assert page.index("Delivery times decide") < page.index("<h2>Customers</h2>")  # inside its theme
    assert "Delivery times decide" in page and round2.number == 2


# --- ending a study by hand ------------------------------------------------------------------------


def test_ending_the_study_by_hand_needs_a_reason_and_is_reported(client, session, settings):
    owner, study = all_kinds_study(session)
    round1 = open_round(session, study, settings)
    answer_everything(session, study, round1, invited(session, round1))
    csrf = page_login(client, owner.email)
    refused = client.post(f"/api/studies/{study.id}/end", json={"reason": "enough"}, headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 409 and "close it first" in refused.json()["detail"]
    service.close_round(session, study, round1, None)
    empty = client.post(f"/studies/{study.id}/end", data={"csrf_token": csrf, "reason": " ", "confirm": "1"})
    assert empty.status_code == 400 and "Say why the study ends" in empty.text
    done = client.post(
        f"/studies/{study.id}/end",
        data={"csrf_token": csrf, "reason": "Funding ended after round 1", "confirm": "1"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    session.refresh(study)
    assert study.status == "finished" and study.stopped_reason == "Funding ended after round 1"
    logged = session.exec(
        select(AuditEvent).where(AuditEvent.study_id == study.id, AuditEvent.action == "study.ended")
    ).one()
    assert logged.details["reason"] == "Funding ended after round 1"
    html = render_html(session, study.id, "en", default_templates())
    assert "Stopped by the researchers: Funding ended after round 1" in html
    again = client.post(f"/api/studies/{study.id}/end", json={"reason": "again"}, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409


def test_the_report_has_a_section_for_every_kind(session, settings):
    owner, study = all_kinds_study(session)
    round1, experts = first_round_closed(session, study, settings)
    open_answers = coding.open_answers(session, round1)[0][1]
    coding.create_statement(
        session, study, round1, "Delivery times decide", [a.id for a, _ in open_answers[:2]], None, [], None
    )
    round2 = open_round(session, study, settings)
    for expert in experts[:5]:
        answers.submit(session, round2, expert)
    service.close_round(session, study, round2, None)
    html = render_html(session, study.id, "en", default_templates())
    for heading in ("Choice questions", "Ranking questions", "Estimates", "Open questions and the statements"):
        assert heading in html
    assert "The panel's order in round 2: 1. Trust" in re.sub(r"<[^>]+>", "", html)  # options marked with their lang
    assert "Idea 3: delivery times" in html and "Delivery times decide" in html
    assert "did not answer round 2" in html  # three experts went silent in round 2
    silent = [e.pseudonym for e in experts[5:]]
    assert all(p in html for p in silent)


@pytest.mark.parametrize("language", ["en", "fr"])
def test_numbers_that_round_to_zero_never_print_as_minus_zero(language):
    filters = default_templates().envs[language].filters
    assert filters["num"](-0.0001, 3) in ("0.000", "0,000")
    assert filters["num"](-0.4, 0) == "0"
    assert filters["pct"](-0.00001) == "0\u00a0%"
    assert filters["num"](-0.5, 1) in ("-0.5", "-0,5")  # a real negative stays negative
    # a p-value too small to show says so, never "0.0000"
    assert filters["pval"](0.00003, 4) in ("<\u00a00.0001", "<\u00a00,0001")
    assert filters["pval"](0.0412, 3) in ("0.041", "0,041") and filters["pval"](None) == "—"


def test_invitations_unchanged_for_experts_who_never_open_round_two(session, settings):
    _, study = all_kinds_study(session, experts=3)
    round1 = open_round(session, study, settings)
    answer_everything(session, study, round1, invited(session, round1))
    service.close_round(session, study, round1, None)
    round2 = open_round(session, study, settings)
    invitations = session.exec(select(Invitation).where(Invitation.round_id == round2.id)).all()
    assert all(i.started_at is None and i.submitted_at is None for i in invitations)
    carried = session.exec(select(Answer).where(Answer.round_id == round2.id)).all()
    assert carried and all(a.reason is None and a.version == 1 for a in carried)


# --- carried answers never count for experts who did not take part ---------------------------------


def test_stability_pairs_only_answers_the_experts_gave(session, settings):
    """An expert silent in round 2 has round-1 answers carried into it: round 3's stability does not
    pair them as if given in round 2."""
    _, study = all_kinds_study(session, experts=4)
    round1, experts = first_round_closed(session, study, settings)
    round2 = open_round(session, study, settings)
    for expert in experts[:3]:
        answers.submit(session, round2, expert)
    service.close_round(session, study, round2, None)
    round3 = open_round(session, study, settings)
    for expert in experts:
        answers.submit(session, round3, expert)
    service.close_round(session, study, round3, None)
    assert snapshot(session, round2).responded == 3
    paired = [s.n_paired for s in snapshot(session, round3).stability]
    assert paired and set(paired) == {3}


def test_attrition_counts_an_expert_who_only_submitted_as_staying(session, settings):
    from app.reports.results import final_results

    _, study = all_kinds_study(session, experts=4)
    round1, experts = first_round_closed(session, study, settings)
    round2 = open_round(session, study, settings)
    for expert in experts[:3]:
        answers.submit(session, round2, expert)  # agrees with everything: no change, just submit
    service.close_round(session, study, round2, None)
    results = final_results(session, study.id)
    assert results.rounds[1].total.responded == 3
    assert results.attrition is not None and results.attrition.n_stayed == 3 and results.attrition.n_left == 1


def test_a_real_time_round_two_shows_no_group_figures_before_anyone_takes_part(client, session, settings):
    _, study = all_kinds_study(session, experts=4)
    round1, experts = first_round_closed(session, study, settings)
    round2 = open_round(session, study, settings, realtime=True)
    url, _ = consented_page(client, session, experts[0])
    assert "Group median" not in client.get(url).text  # four carried answers, nobody has given them
    for expert in experts[1:]:
        answers.submit(session, round2, expert)
    assert "Group median" in client.get(url).text  # three experts took part: live figures


def test_the_exports_say_who_took_part_in_each_round(session, settings):
    _, study = all_kinds_study(session, experts=3)
    round1, experts = first_round_closed(session, study, settings)
    round2 = open_round(session, study, settings)
    answers.submit(session, round2, experts[0])
    rating = next(i for i in answers.round_items(session, round2.id) if i.kind == "rating")
    answers.save_answers(session, study, round2, experts[1], {rating.id: AnswerIn(value=2)})  # changed, not sent
    rows = [r for r in exports.answer_rows(session, study) if r["round"] == 2]
    assert rows and all(r["carried"] == 1 for r in rows if r["expert"] != experts[1].pseudonym)
    assert {r["expert"] for r in rows if r["took_part"]} == {experts[0].pseudonym, experts[1].pseudonym}
    # who submitted, apart from who only saved (their answers are partial)
    assert {r["expert"] for r in rows if r["submitted"]} == {experts[0].pseudonym}


# --- round 2 shows what the open questions of round 1 gave -----------------------------------------


def test_round_two_shows_the_statements_drawn_from_round_one_s_open_answers(client, session, settings):
    _, study = all_kinds_study(session, experts=4)
    round1, experts = first_round_closed(session, study, settings)
    sources = coding.open_answers(session, round1)[0][1]
    coding.create_statement(session, study, round1, "Delivery times decide", [a.id for a, _ in sources], None, [], None)
    open_round(session, study, settings)
    url, _ = consented_page(client, session, experts[2])
    page = client.get(url).text
    assert "What the panel said to the open questions of round 1" in page
    assert "Delivery times decide" in page and "Your answer last time: Idea 2: delivery times" in page
    assert "Idea 1: delivery times" not in page  # others' raw text only where the protocol says so


def test_a_group_split_is_hidden_when_a_small_group_could_be_worked_out():
    from app.rounds.kinds import FeedbackContext, kind_of
    from app.rounds.snapshot import ChoiceResult

    entry = ChoiceResult(
        item_id=1,
        text="Q",
        n=7,
        counts={"Yes": 3, "No": 4},
        shares={"Yes": 3 / 7, "No": 4 / 7},
        by_group={"a": {"Yes": 3, "No": 0}, "b": {"Yes": 0, "No": 3}, "c": {"Yes": 0, "No": 1}},
        group_n={"a": 3, "b": 3, "c": 1},
    )
    context = FeedbackContext(study=None, settings={"by_group": True}, group_label=str)  # type: ignore[arg-type]
    assert kind_of("choice").feedback(entry, None, context).by_group == []  # c = total - a - b
    entry.group_n, entry.by_group["c"] = {"a": 3, "b": 3, "c": 3}, {"Yes": 0, "No": 3}
    assert len(kind_of("choice").feedback(entry, None, context).by_group) == 3


def test_moving_an_item_keeps_its_answers_carried_and_rewording_it_does_not(session, settings):
    from app.studies.schemas import ItemUpdate

    owner, study = all_kinds_study(session, experts=3)
    round1, experts = first_round_closed(session, study, settings)
    moved, reworded = by_kind(session, round1)["rating"]
    other_theme = make_theme(session, study, "Elsewhere")
    design.update_item(session, study, moved, ItemUpdate(theme_id=other_theme.id), owner)
    design.update_item(session, study, reworded, ItemUpdate(text="A clearer statement", reason="ambiguous"), owner)
    round2 = open_round(session, study, settings)
    carried = {a.item_id for a in session.exec(select(Answer).where(Answer.round_id == round2.id)).all()}
    assert moved.id in carried and reworded.id not in carried


def test_reopening_a_study_ended_by_hand_forgets_why_it_ended(session, settings):
    _, study = all_kinds_study(session, experts=3)
    round1 = open_round(session, study, settings)
    service.close_round(session, study, round1, None)
    service.end_study(session, study, "funding ran out", None)
    with pytest.raises(Exception, match="ended by its researchers"):
        service.create_round(session, study, None)
    service.reopen_round(session, study, round1, "more funding", None, None)
    assert study.status == "running" and study.stopped_reason is None
    html = render_html(session, study.id, "en", default_templates())
    assert "Stopped by the researchers" not in html and "funding ran out" in html  # still in the log


def test_rankings_and_estimates_are_split_by_stakeholder_group(client, session, settings):
    owner, study = all_kinds_study(session)
    round1 = open_round(session, study, settings)
    answer_everything(session, study, round1, invited(session, round1))  # even: academic, odd: practitioner
    service.close_round(session, study, round1, None)
    entries = {e.kind: e for e in snapshot(session, round1).items if e.kind in ("ranking", "estimate")}
    ranking, estimate = entries["ranking"], entries["estimate"]
    assert ranking.group_n == {"academic": 4, "practitioner": 4} == estimate.group_n
    # the academics rank Price, Trust, Speed, Choice; the practitioners Trust, Speed, Choice, Price
    assert ranking.by_group == {
        "academic": {"Price": 1.0, "Trust": 2.0, "Speed": 3.0, "Choice": 4.0},
        "practitioner": {"Price": 4.0, "Trust": 1.0, "Speed": 2.0, "Choice": 3.0},
    }
    assert estimate.by_group == {"academic": [13.0, 23.0, 43.0], "practitioner": [14.0, 24.0, 44.0]}
    page_login(client, owner.email)
    client.cookies.set("delphi_lang", "en")
    page = client.get(f"/studies/{study.id}/rounds/1/results").text
    assert page.count("Academic (n = 4)") >= 3 and "the mean rank of each option among that group" in page
    html = render_html(session, study.id, "en")
    assert "By stakeholder group, in round 1: Academic (n = 4) 1. <span>Price</span>, 2. <span>Trust</span>" in html
    assert re.search(r"<td>Practitioner</td><td class=\"num\">4</td><td class=\"num\">14(\.00)?</td>", html)


def test_experts_see_rankings_and_estimates_by_group_when_no_one_could_be_worked_out(client, session, settings):
    from app.rounds.kinds.base import groups_to_show

    owner, study, round1, round2, experts = two_rounds(client, session, settings)
    url, _ = consented_page(client, session, experts[1])
    page = client.get(url).text
    # the ranking's table gains each group's mean rank (academics put Price first, practitioners last)
    ranking = re.search(r"The panel's order.*?</table>", page, re.S).group(0)  # type: ignore[union-attr]
    assert "Academic (n = 4)" in ranking and "Practitioner (n = 4)" in ranking
    cells = (
        r"<td class=\"num\">2.5</td><td class=\"num\">[0-9]+</td><td class=\"num\">1.0</td><td class=\"num\">4.0</td>"
    )
    assert re.search(r"Price</span></th>" + cells, ranking)  # the panel's 2.5, Borda, academics 1, practitioners 4
    estimate = re.search(r"The panel's median of each value.*?</table>", page, re.S).group(0)  # type: ignore[union-attr]
    assert "Academic (n = 4)" in estimate and "13.00" in estimate and "14.00" in estimate
    # who may be worked out: a split is shown only when what is left outside the groups shown is 0 or 3+
    assert groups_to_show({"academic": 4, "practitioner": 4}, 8) == ["academic", "practitioner"]
    assert groups_to_show({"academic": 4, "practitioner": 2}, 6) == []  # the 2 would follow from the panel's
    assert groups_to_show({"academic": 4, "": 3}, 7) == ["academic"]
    assert groups_to_show({"academic": 5}, 6) == []


def test_the_round_page_writes_whole_stopping_figures_as_whole_numbers(client, session, settings):
    owner, study = all_kinds_study(session, experts=3)
    round1 = open_round(session, study, settings)
    answer_everything(session, study, round1, invited(session, round1))
    service.close_round(session, study, round1, None)
    session.commit()
    page_login(client, owner.email)
    client.cookies.set("delphi_lang", "en")
    html = client.get(f"/studies/{study.id}/rounds/{round1.number}").text
    assert "<dt><code>round</code></dt><dd>1</dd>" in html and "<dt><code>items</code></dt><dd>2</dd>" in html
    figures = re.findall(r"<dt><code>[a-z_]+</code></dt><dd>([^<]*)</dd>", html)
    assert figures and not [f for f in figures if f.endswith((".00", ",00"))]
