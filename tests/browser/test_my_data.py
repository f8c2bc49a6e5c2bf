"""An expert's rights from their link, in Chromium, in English and in French: download what the
study holds about them, leave the study, and still download it afterwards; erase their personal
data where the protocol allows it."""

import json

import pytest
from playwright.sync_api import expect

from app.db import session_scope
from app.panel import service as panel
from tests.browser.conftest import shot
from tests.conftest import TEST_SECRET, settings_for
from tests.factories import make_panel_study
from tests.rounds.helpers import invited, open_round

pytestmark = pytest.mark.browser
WORDS = {
    "en": {
        "start": "Start",
        "leave": "Leave the study",
        "confirm": "I want to leave",
        "button": "Leave",
        "left": "You have left the study",
        "erase_link": "erase my personal data",
        "erase_confirm": "Erase my personal data. This cannot be undone.",
        "erase": "Erase",
        "erased": "Your personal data are erased",
    },
    "fr": {
        "start": "Commencer",
        "leave": "Quitter l’étude",
        "confirm": "Je souhaite quitter",
        "button": "Quitter",
        "left": "Vous avez quitté l’étude",
        "erase_link": "effacer mes données personnelles",
        "erase_confirm": "Effacer mes données personnelles. C’est irréversible.",
        "erase": "Effacer",
        "erased": "Vos données personnelles sont effacées",
    },
}


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_expert_downloads_their_data_leaves_and_can_still_download_it(chromium, live_app, tmp_path, language):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=2, items=2, language=language)
        round_ = open_round(session, study, settings)
        expert = invited(session, round_)[0]
        link = f"{live_app.base}/e/{panel.current_link(session, expert, TEST_SECRET)}"
        pseudonym, address = expert.pseudonym, expert.email
    words = WORDS[language]
    context = chromium.new_context(viewport={"width": 390, "height": 844}, accept_downloads=True, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(link)
    page.check("input[name=consent]")
    page.click(f"button:has-text('{words['start']}')")
    page.locator(".scale label", has_text="7").first.click()
    expect(page.locator("#saved-at")).not_to_be_empty(timeout=10_000)
    with page.expect_download() as download:
        page.click("footer a[href$='/my-data.json']")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["expert"]["email"] == address and [a["value"] for a in data["answers"]] == [7]
    page.click(f"summary:has-text('{words['leave']}')")
    page.locator("label", has_text=words["confirm"]).click()
    page.click(f"form[action$='/withdraw'] button:has-text('{words['button']}')")
    expect(page.locator("h1")).to_have_text(words["left"])
    shot(page, f"60-left-the-study-{language}")
    with page.expect_download() as again:
        page.click("footer a[href$='/my-data.csv']")
    csv_path = tmp_path / again.value.suggested_filename
    again.value.save_as(csv_path)
    assert csv_path.name.endswith(f"{pseudonym}.csv") and "statement" in csv_path.read_text(encoding="utf-8-sig")
    context.close()


@pytest.mark.parametrize("language", ["en", "fr"])
def test_an_expert_erases_their_personal_data_where_the_protocol_allows(chromium, live_app, language):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=2, items=2, language=language)
        study.experts_may_erase = True
        session.add(study)
        round_ = open_round(session, study, settings)
        expert = invited(session, round_)[0]
        link = f"{live_app.base}/e/{panel.current_link(session, expert, TEST_SECRET)}"
        expert_id = expert.id
    words = WORDS[language]
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(link)
    page.click(f"footer a:has-text('{words['erase_link']}')")
    page.locator("label", has_text=words["erase_confirm"]).click()
    page.click(f"form[action$='/erase'] button:has-text('{words['erase']}')")
    expect(page.locator("h1")).to_have_text(words["erased"])
    expect(page.locator("footer a[href$='/my-data.json']")).to_have_count(0)  # nothing left to download
    shot(page, f"61-erased-{language}")
    gone = page.goto(link)
    assert gone is not None and gone.status == 404  # the link no longer works (the page is in the visitor's language)
    context.close()
    with session_scope(live_app.engine) as session:
        from app.panel.models import Expert

        erased = session.get(Expert, expert_id)
        assert erased is not None and erased.erased_at is not None and erased.name == ""
