"""The evidence shown to the panel (ACCORD M8): a summary under a statement, written on the item's
page, read by each expert in their language, changed between rounds with the change kept in the
item's history, and reported."""

from __future__ import annotations

import html

import pytest
from sqlmodel import select

from app import protocol_file
from app.errors import InvalidInput
from app.panel import service as panel
from app.reports import checklists
from app.reports.results import final_results
from app.reports.service import render_html
from app.rounds import service
from app.studies import design, translations
from app.studies.models import ItemRevision
from app.studies.schemas import ItemUpdate
from app.templating import default_templates
from tests.conftest import TEST_SECRET, csrf_from
from tests.factories import make_item, make_panel_study, make_researcher, make_theme, page_login
from tests.rounds.helpers import answer_all, invited, open_round

EVIDENCE = "Two surveys (2023, n = 1,200) found that replies within an hour doubled repeat purchases."


def test_evidence_is_written_on_the_item_page_shown_to_experts_changed_with_a_trace_and_reported(
    client, session, settings
):
    owner = make_researcher(session)
    study = make_panel_study(session, owner, experts=3, items=0, language="fr")
    study.retire_consensual = False
    theme = make_theme(session, study, "Stratégie")
    item = make_item(session, study, theme, "Répondre aux clients en temps réel")
    plain = make_item(session, study, theme, "Publier chaque jour")
    csrf = page_login(client, owner.email)
    client.cookies.set("delphi_lang", "en")
    saved = client.post(
        f"/studies/{study.id}/items/{item.id}",
        data={
            "csrf_token": csrf,
            "text": item.text,
            "theme_id": str(theme.id),
            "allow_unable": "1",
            "evidence": EVIDENCE,
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.refresh(item)
    assert item.evidence == EVIDENCE
    assert "Evidence shown to the experts" in client.get(f"/studies/{study.id}/items/{item.id}").text
    # the study is French: its evidence is translated into English for English-speaking experts
    translations.save(
        session,
        study,
        design.themes_of(session, study.id),
        design.items_of(session, study.id),
        {f"item.{item.id}.evidence": "Two surveys, in English"},
        owner,
    )
    client.cookies.clear()

    round1 = open_round(session, study, settings)
    experts = invited(session, round1)
    url = f"/e/{panel.current_link(session, experts[0], TEST_SECRET)}"
    welcome = client.get(url).text
    client.post(f"{url}/consent", data={"csrf_token": csrf_from(welcome), "consent": "1"})
    french = html.unescape(client.get(f"{url}?lang=fr").text)
    assert '<details class="evidence"><summary class="small">Données probantes</summary>' in french
    assert EVIDENCE in french
    english = html.unescape(client.get(f"{url}?lang=en").text)
    assert "Two surveys, in English" in english and english.count('class="evidence"') == 1  # not under the other

    answer_all(session, study, round1)
    service.close_round(session, study, round1, None)
    # after the lock, evidence may still change between rounds, with a reason; the change is kept
    with pytest.raises(InvalidInput, match="Say why the evidence"):
        design.update_item(session, study, item, ItemUpdate(evidence="Something else"), owner, 2)
    design.update_item(
        session, study, item, ItemUpdate(evidence=EVIDENCE + " A 2025 trial agreed.", reason="new trial"), owner, 2
    )
    revision = session.exec(
        select(ItemRevision).where(ItemRevision.item_id == item.id, ItemRevision.action == "evidence")
    ).one()
    assert (revision.action, revision.round_number, revision.reason) == ("evidence", 2, "new trial")
    assert revision.before_text == EVIDENCE
    round2 = open_round(session, study, settings)
    answer_all(session, study, round2)
    service.close_round(session, study, round2, None)

    report = html.unescape(render_html(session, study.id, "en", default_templates()))
    assert "Evidence shown to the panel" in report and "A 2025 trial agreed." in report
    assert "changed (round 2): new trial" in report
    fact = checklists.facts(final_results(session, study.id), "en")["evidence"]
    assert fact == "a summary of the evidence was shown under 1 of 2 items; changes in their history"
    text = protocol_file.export_study(session, study.id, with_identities=True)
    copy = protocol_file.create_from_text(session, text, owner=owner)
    copied = {i.text: i for i in design.items_of(session, copy.id)}
    assert copied[item.text].evidence.endswith("A 2025 trial agreed.") and copied[plain.text].evidence == ""
