"""A researcher, in Chromium on a phone and in French, manages one expert: opens them from the
panel, corrects their address (the new address receives a new link, the old link dies), and sends
them a reminder; every e-mail goes over real SMTP."""

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from app.accounts.models import Researcher
from app.db import session_scope
from tests.browser.conftest import log_in, shot
from tests.conftest import settings_for
from tests.factories import add_member, make_panel_study
from tests.rounds.helpers import invited, open_round

pytestmark = pytest.mark.browser
LINK = re.compile(r"http://127\.0\.0\.1:\d+/e/[A-Za-z0-9_-]+")


def test_a_researcher_corrects_an_address_and_reminds_one_expert_on_a_phone(chromium, live_app):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=3, items=2, language="fr")
        rita = session.exec(select(Researcher).where(Researcher.email == "rita@example.org")).one()
        add_member(session, study, rita, "owner")
        round1 = open_round(session, study, settings)
        expert = invited(session, round1)[0]
        study_id, expert_id, old_address = study.id, expert.id, expert.email
    live_app.wait_for_mail(3)
    old_link = LINK.search(
        next(m for m in live_app.inbox.messages if m["To"] == old_address).get_body(("plain",)).get_content()
    ).group(0)

    phone = chromium.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR", is_mobile=True)
    page = phone.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_app.base)
    page.goto(f"{live_app.base}/studies/{study_id}/panel?lang=fr")
    row = page.locator(f"#expert-{expert_id}")
    expect(row).to_contain_text("pas encore ouvert")
    shot(page, "30-panel-phone-fr")
    row.locator("a").first.click()
    page.wait_for_url(f"**/panel/{expert_id}")
    page.fill("#f-email", "claire.nouvelle@example.org")
    page.click("button:has-text('Enregistrer les modifications')")
    expect(page.locator(".alert.ok")).to_contain_text("nouveau lien personnel")
    expect(page.locator("#f-email")).to_have_value("claire.nouvelle@example.org")
    shot(page, "31-expert-page-phone-fr")

    messages = live_app.wait_for_mail(4)
    fresh = next(m for m in messages if m["To"] == "claire.nouvelle@example.org")
    new_link = LINK.search(fresh.get_body(("plain",)).get_content()).group(0)
    assert new_link != old_link
    expert_page = phone.new_page()
    assert expert_page.goto(new_link).status == 200
    assert expert_page.goto(old_link).status == 404
    expert_page.close()

    page.click("button:has-text('Envoyer une relance maintenant')")
    expect(page.locator(".alert.ok")).to_contain_text("La relance est dans la boîte d’envoi.")
    reminder = live_app.wait_for_mail(5)[-1]
    assert reminder["To"] == "claire.nouvelle@example.org" and reminder["Subject"].startswith("Rappel")
    expect(page.locator("td.num").first).to_contain_text("1")  # one reminder in the rounds table
    phone.close()
