"""The results page as a researcher reads it: items theme by theme, the split by stakeholder group
when the protocol asks for it, a legend, charts to download for slides; and the round's page says
what comes next."""

from __future__ import annotations

import html
import re

from app.rounds import service
from tests.factories import make_item, make_panel_study, make_researcher, make_theme, page_login
from tests.rounds.helpers import answer_all, open_round


def _analysed(session, settings, **feedback):  # type: ignore[no-untyped-def]
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=6, items=0, language="en")
    study.feedback = dict(study.feedback, **feedback)
    study.stopping_rule, study.max_rounds = "consensus_share >= 1 or round >= max_rounds", 3
    session.add(study)
    second = make_theme(session, study, "Zeta second theme")
    first = make_theme(session, study, "Alpha first theme")
    late = make_item(session, study, second, "Statement of the second theme")
    early = make_item(session, study, first, "Statement of the first theme")
    make_item(session, study, first, "Which network first?", kind="choice", options=["Email", "Ads"])
    round_ = open_round(session, study, settings)
    answer_all(session, study, round_)
    service.close_round(session, study, round_, None)
    return owner, study, early, late


def test_items_come_theme_by_theme_with_a_legend_and_the_group_split_when_asked(client, session, settings):
    owner, study, early, late = _analysed(session, settings, by_group=True)
    page_login(client, owner.email)
    text = html.unescape(client.get(f"/studies/{study.id}/rounds/1/results").text)
    sections = text.split("How to read these figures", 1)[1]  # after the themes' weights
    order = [
        sections.index(s)
        for s in (
            "Zeta second theme",
            "Statement of the second theme",
            "Alpha first theme",
            "Statement of the first theme",
            "Which network first?",
        )
    ]
    assert order == sorted(order)  # the themes' order (as created), each with its items, other kinds too
    assert "How to read these figures" in text and "below 15 % the item is stable" in text
    split = re.search(r"Statement of the first theme.*?</td>", text, re.S).group(0)
    assert re.search(r"Academic \(n = \d\): median [\d.]+, agreement", split) and "Practitioner (n = " in split
    assert f"/rounds/1/charts/{early.id}.svg" in text and 'data-png="round-1-item-' in text


def test_the_group_split_is_left_out_when_the_protocol_does_not_ask_for_it(client, session, settings):
    owner, study, early, late = _analysed(session, settings)
    page_login(client, owner.email)
    assert "group-split" not in client.get(f"/studies/{study.id}/rounds/1/results").text


def test_a_chart_downloads_as_a_titled_svg_file_and_only_for_a_rating_item(client, session, settings):
    owner, study, early, late = _analysed(session, settings)
    page_login(client, owner.email)
    response = client.get(f"/studies/{study.id}/rounds/1/charts/{early.id}.svg")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert "attachment" in response.headers["content-disposition"]
    svg = response.text
    assert svg.startswith("<?xml") and "<title>Statement of the first theme</title>" in svg
    assert 'width="960"' in svg and "<rect" in svg and "aria-hidden" not in svg.split(">", 2)[1]
    choice = next(i for i in study_items(session, study) if i.kind == "choice")
    assert client.get(f"/studies/{study.id}/rounds/1/charts/{choice.id}.svg").status_code == 404
    assert client.get(f"/studies/{study.id}/rounds/1/charts/999999.svg").status_code == 404


def test_the_round_page_says_what_the_stopping_rule_found_and_what_comes_next(client, session, settings):
    owner, study, early, late = _analysed(session, settings)
    page_login(client, owner.email)
    text = html.unescape(client.get(f"/studies/{study.id}/rounds/1").text)
    next_card = text.split('id="next"', 1)[1].split("</section>", 1)[0]
    assert "is not met: it calls for another round" in next_card
    assert "consensus_share >= 1 or round >= max_rounds" in next_card and "<code>max_rounds</code>" in next_card
    assert f'href="/studies/{study.id}/rounds#prepare"' in next_card and "Prepare round 2" in next_card
    assert f'href="/studies/{study.id}/rounds#end"' in next_card
    rounds = client.get(f"/studies/{study.id}/rounds").text
    assert 'id="prepare"' in rounds and 'id="end"' in rounds


def study_items(session, study):  # type: ignore[no-untyped-def]
    from app.studies import design

    return design.items_of(session, study.id)


def test_open_answers_show_the_statements_coded_from_them(client, session, settings):
    from app.rounds import answers, coding
    from app.rounds.answers import AnswerIn
    from tests.rounds.helpers import invited

    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=3, items=1, language="en")
    question = make_item(session, study, None, "What else matters?", kind="open")
    round_ = open_round(session, study, settings)
    for expert, text in zip(
        invited(session, round_), ("Local offers", "Offers near the shop", "Live video"), strict=True
    ):
        answers.save_answers(session, study, round_, expert, {question.id: AnswerIn(text=text)})
    service.close_round(session, study, round_, None)
    ((_, given),) = coding.open_answers(session, round_)
    local = coding.create_statement(
        session, study, round_, "Deals by location", [given[0][0].id], None, ["local"], None
    )
    near = coding.create_statement(session, study, round_, "Deals near the shop", [given[1][0].id], None, [], None)
    coding.merge_statements(session, study, local, [near], None)
    video = coding.create_statement(session, study, round_, "Live video sessions", [given[2][0].id], None, [], None)
    coding.promote(session, study, video, None)
    page_login(client, owner.email)
    text = html.unescape(client.get(f"/studies/{study.id}/rounds/1/results").text)
    block = text.split("What else matters?", 1)[1].split("</section>", 1)[0]
    assert "3 answers" in block and "Statements coded from these answers:" in block
    assert re.search(
        r"Deals by location</span> <span class=\"badge \">candidate</span> <span class=\"muted\">\(2 answers\) · local",
        block,
    )
    assert re.search(
        r"Live video sessions</span> <span class=\"badge ok\">promoted</span> <span class=\"muted\">\(1 answer\)", block
    )
    assert "Deals near the shop" not in block  # merged into "Deals by location"
