"""Before opening a round, a researcher in Chromium writes her own words for the invitations, looks
at the questionnaire as an expert will (in English, then in French), and sends herself a test of
the e-mails over real SMTP; nothing is created for anyone on the panel."""

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import func, select

from app.accounts.models import Researcher
from app.db import session_scope
from app.mail.models import OutboxMessage
from app.rounds.models import Answer, Invitation, Round
from app.studies import design, translations
from tests.browser.conftest import log_in, shot
from tests.factories import add_member, make_item, make_panel_study, make_theme

pytestmark = pytest.mark.browser


def _count(session, table) -> int:  # type: ignore[no-untyped-def]
    return session.exec(select(func.count()).select_from(table)).one()


def test_a_researcher_previews_the_questionnaire_and_tests_her_e_mails_before_round_1(chromium, live_app):
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=3, items=0, language="fr", title="Médias sociaux et commerce")
        rita = session.exec(select(Researcher).where(Researcher.email == "rita@example.org")).one()
        add_member(session, study, rita, "owner")
        theme = make_theme(session, study, "Stratégie")
        make_item(session, study, theme, "Répondre aux clients en temps réel")
        choice = make_item(
            session, study, theme, "Quel canal d'abord ?", kind="choice", options=["Courriel", "Publicité"]
        )
        themes, items = design.themes_of(session, study.id), design.items_of(session, study.id, active_only=True)
        translations.save(
            session,
            study,
            themes,
            items,
            {f"item.{choice.id}.text": "Which channel first?", f"item.{choice.id}.options": ["E-mail", "Advertising"]},
            None,
        )
        study_id = study.id

    desktop = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = desktop.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_app.base)
    page.goto(f"{live_app.base}/studies/{study_id}/settings?lang=en")
    page.fill("#f-invitation_note", "Merci de répondre avant le congrès de Lyon.")
    page.click("form[action$='/settings'] button[type=submit]")
    expect(page.locator(".alert.ok")).to_be_visible()
    expect(page.locator("#f-invitation_note")).to_have_value("Merci de répondre avant le congrès de Lyon.")

    page.goto(f"{live_app.base}/studies/{study_id}/design")
    page.click("text=Preview as an expert")
    page.wait_for_url(f"**/studies/{study_id}/preview")
    expect(page.locator(".alert.warn[role=status]")).to_contain_text("nothing you do here is saved")
    expect(page.locator("h1")).to_have_text("Médias sociaux et commerce")
    # the researcher's page is in English, the questionnaire in the study's language (French)
    expect(page.locator("legend").first).to_contain_text("Répondre aux clients en temps réel")
    page.locator("input[type=radio][value='8']").first.check()
    for button in page.locator("form#answers button[type=submit]").all():
        expect(button).to_be_disabled()
    shot(page, "40-preview-desktop-fr")

    page.goto(f"{live_app.base}/studies/{study_id}/preview?language=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("legend", has_text="Which channel first?")).to_be_visible()
    expect(page.locator("label.check", has_text="Advertising")).to_be_visible()
    untranslated = page.locator("legend", has_text="Répondre aux clients en temps réel")
    expect(untranslated).to_have_attribute("lang", "fr")
    expect(untranslated.locator(".badge")).to_have_text("not translated")
    expect(page.locator("header .alert", has_text="Some texts of this study are not translated")).to_be_visible()
    shot(page, "41-preview-desktop-en")

    page.goto(f"{live_app.base}/studies/{study_id}/mailbox")
    page.select_option("#f-test-language", "en")
    page.click("text=Send me a test of the e-mails")
    messages = live_app.wait_for_mail(2)
    assert {m["To"] for m in messages} == {"rita@example.org"}
    invitation = next(m for m in messages if "round 1 is open" in m["Subject"])
    assert invitation["Subject"].startswith("[Test]")
    body = invitation.get_body(("plain",)).get_content()
    assert "Merci de répondre avant le congrès de Lyon." in body  # not translated: the original words
    assert re.search(rf"/studies/{study_id}/preview", body) and "/e/" not in body
    desktop.close()

    with session_scope(live_app.engine) as session:
        assert _count(session, Answer) == 0 and _count(session, Invitation) == 0
        assert session.exec(select(func.count()).select_from(Round).where(Round.status != "draft")).one() == 0
        assert (
            session.exec(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.expert_id.is_not(None))
            ).one()
            == 0
        )
