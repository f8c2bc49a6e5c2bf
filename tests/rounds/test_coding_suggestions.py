"""The coding page suggests groups of open answers that look alike and candidate statements that
may say the same thing; the researcher takes, merges or ignores them, and nothing is coded without
her."""

from __future__ import annotations

import html
import re

from sqlmodel import select

from app.rounds import answers, coding, service
from app.rounds.kinds import AnswerIn
from app.rounds.models import Statement
from tests.factories import make_item, make_panel_study, make_researcher, page_login
from tests.rounds.helpers import invited, open_round

DELIVERY = [
    "Livraison rapide et gratuite des commandes",
    "Une livraison gratuite et rapide fidélise",
    "La rapidité de livraison des commandes compte",
]
VIDEO = [
    "Publier des vidéos courtes sur les produits",
    "Des vidéos courtes montrant les produits",
    "Tourner des vidéos sur nos produits phares",
]


def test_the_coding_page_suggests_groups_and_nothing_is_coded_until_the_researcher_adds_a_statement(
    client, session, settings
):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=6, items=0, language="fr")
    question = make_item(session, study, None, "Que faut-il encore faire ?", kind="open")
    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    for expert, text in zip(experts, DELIVERY + VIDEO, strict=True):
        answers.save_answers(session, study, round1, expert, {question.id: AnswerIn(text=text)})
    service.close_round(session, study, round1, None)
    page_login(client, owner.email)
    client.cookies.set("delphi_lang", "en")
    url = f"/studies/{study.id}/rounds/1/coding"
    page = html.unescape(client.get(url).text)
    assert "Answers that look alike" in page and page.count("Take this group") == 2
    assert session.exec(select(Statement)).all() == []  # suggesting codes nothing

    taken = html.unescape(client.get(f"{url}?suggestion=1").text)
    ticked = set(re.findall(r'name="answer_ids" value="(\d+)" form="statement-form" id="a-\d+" checked', taken))
    by_id = {a.id: a.text for item, found in coding.open_answers(session, round1) for a, _ in found}
    texts = {by_id[int(i)] for i in ticked}
    assert texts in (set(DELIVERY), set(VIDEO))  # one whole group, nothing else
    prefilled = re.search(r'<textarea id="f-text" name="text" form="statement-form" rows="3">([^<]*)</textarea>', taken)
    assert prefilled is not None and prefilled.group(1) in texts  # its most typical answer, to rewrite

    csrf = re.search(r'name="csrf_token" value="([^"]+)"', taken).group(1)  # type: ignore[union-attr]
    refused = client.post(
        f"/studies/{study.id}/rounds/1/statements",
        data={"csrf_token": csrf, "text": "", "answer_ids": sorted(ticked), "theme_id": ""},
    )
    assert refused.status_code == 400  # no statement written: the ticked answers stay ticked
    assert (
        set(re.findall(r'name="answer_ids" value="(\d+)" form="statement-form" id="a-\d+" checked', refused.text))
        == ticked
    )
    client.post(
        f"/studies/{study.id}/rounds/1/statements",
        data={"csrf_token": csrf, "text": "Rewritten by the researcher", "answer_ids": sorted(ticked), "theme_id": ""},
    )
    after = html.unescape(client.get(url).text)
    assert after.count("Take this group") == 1  # the coded answers are no longer suggested
    assert "?suggestion=9" not in after and client.get(f"{url}?suggestion=9").status_code == 200  # out of range: none


def test_candidate_statements_that_look_alike_are_offered_for_merging(client, session, settings):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=3, items=0, language="fr")
    question = make_item(session, study, None, "Que faut-il encore faire ?", kind="open")
    round1 = open_round(session, study, settings)
    for expert, text in zip(invited(session, round1), ["a", "b", "c"], strict=True):
        answers.save_answers(session, study, round1, expert, {question.id: AnswerIn(text=f"Réponse {text}")})
    service.close_round(session, study, round1, None)
    first = coding.create_statement(
        session, study, round1, "Publier des vidéos courtes sur les produits", [], None, [], None
    )
    twin = coding.create_statement(
        session, study, round1, "Publier de courtes vidéos sur nos produits", [], None, [], None
    )
    coding.create_statement(session, study, round1, "Mesurer le taux de partage", [], None, [], None)
    assert coding.alike_statements(coding.statements_of(session, study)) == {first.id: [twin.id], twin.id: [first.id]}
    page_login(client, owner.email)
    client.cookies.set("delphi_lang", "en")
    page = client.get(f"/studies/{study.id}/rounds/1/coding").text
    assert f'name="merge_ids" value="{twin.id}" checked' in page and "1 looks alike" in page


def test_english_answers_in_other_words_are_grouped_with_the_local_embedding_model(
    client, session, settings, monkeypatch
):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=6, items=0, language="en")
    question = make_item(session, study, None, "What is still to be done?", kind="open")
    round1 = open_round(session, study, settings)
    said = [
        ("Delivery is far too slow", "en"),
        ("Shipping takes ages to arrive", "en"),
        ("Influencers sell products on Instagram", "en"),
        ("Customers trust reviews from other buyers", "en"),
        ("La livraison est bien trop lente", "fr"),
        ("Les colis mettent des semaines", "fr"),
    ]
    for expert, (text, language) in zip(invited(session, round1), said, strict=True):
        answers.save_answers(session, study, round1, expert, {question.id: AnswerIn(text=text)}, language=language)
    service.close_round(session, study, round1, None)
    page_login(client, owner.email)
    client.cookies.set("delphi_lang", "en")
    url = f"/studies/{study.id}/rounds/1/coding"
    page = html.unescape(client.get(url).text)
    assert page.count("Take this group") == 1  # the two English answers about delivery, nothing else
    taken = html.unescape(client.get(f"{url}?suggestion=1").text)
    ticked = set(re.findall(r'name="answer_ids" value="(\d+)" form="statement-form" id="a-\d+" checked', taken))
    by_id = {a.id: a.text for item, found in coding.open_answers(session, round1) for a, _ in found}
    assert {by_id[int(i)] for i in ticked} == {"Delivery is far too slow", "Shipping takes ages to arrive"}
    # without the model (the setting off), TF-IDF alone sees no shared word: no suggestion
    monkeypatch.setattr(client.app.state, "settings", settings.model_copy(update={"coding_embeddings": False}))
    assert "Take this group" not in html.unescape(client.get(url).text)
