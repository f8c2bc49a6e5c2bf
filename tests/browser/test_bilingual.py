"""An English-speaking expert on a French study, in Chromium on a phone: the e-mail, the welcome
page with its information, the questionnaire and its options in English (the untranslated statement
in French, marked), an answer given by its English label and saved as the original option."""

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import col, select

from app.db import session_scope
from app.panel.models import Expert
from app.rounds.models import Answer
from app.studies import design, translations
from tests.browser.conftest import shot
from tests.conftest import settings_for
from tests.factories import make_item, make_panel_study, make_theme
from tests.rounds.helpers import open_round

pytestmark = pytest.mark.browser
LINK = re.compile(r"http://127\.0\.0\.1:\d+/e/[A-Za-z0-9_-]+")


def test_an_english_expert_answers_a_french_study_in_english(chromium, live_app):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=2, items=0, language="fr", title="Médias sociaux et commerce")
        theme = make_theme(session, study, "Stratégie")
        make_item(session, study, theme, "Publier chaque jour")
        choice = make_item(
            session, study, theme, "Quel canal d'abord ?", kind="choice", options=["Courriel", "Publicité"]
        )
        themes, items = design.themes_of(session, study.id), design.items_of(session, study.id, active_only=True)
        translations.save(
            session,
            study,
            themes,
            items,
            {
                "study.title": "Social media and commerce",
                f"theme.{theme.id}.title": "Strategy",
                f"item.{choice.id}.text": "Which channel first?",
                f"item.{choice.id}.options": ["E-mail", "Advertising"],
            },
            None,
        )
        expert = session.exec(select(Expert).where(Expert.study_id == study.id).order_by(col(Expert.id))).first()
        expert.language = "en"
        session.add(expert)
        open_round(session, study, settings)
        expert_id, address, choice_id = expert.id, expert.email, choice.id
    message = next(m for m in live_app.wait_for_mail(2) if m["To"] == address)
    assert "Social media and commerce" in message["Subject"]

    phone = chromium.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", is_mobile=True)
    page = phone.new_page()
    page.set_default_timeout(15_000)
    page.goto(LINK.search(message.get_body(("plain",)).get_content()).group(0))
    expect(page.locator("h1")).to_have_text("Social media and commerce")
    expect(page.locator("#information-title")).to_contain_text("Information for participants")
    page.check("input[name=consent]")
    page.click("button:has-text('Start')")
    expect(page.locator("h2", has_text="Strategy")).to_have_count(1)
    untranslated = page.locator("legend", has_text="Publier chaque jour")
    expect(untranslated).to_have_attribute("lang", "fr")
    expect(untranslated).to_contain_text("not translated")
    page.locator("label", has_text="Advertising").click()
    expect(page.locator("#saved-at")).to_contain_text("saved at", timeout=10_000)
    shot(page, "50-english-expert-on-a-french-study")
    with session_scope(live_app.engine) as session:
        answer = session.exec(select(Answer).where(Answer.expert_id == expert_id, Answer.item_id == choice_id)).one()
        assert answer.values == ["Publicité"] and answer.language == "en"
    phone.close()
