"""A researcher, in Chromium: log in, create a study, add themes and items, import a panel with a
bad line (error shown, nothing imported) then a good one, lock the protocol."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS, log_in, shot

pytestmark = pytest.mark.browser
HEADER = "name,email,group,self_rating\nClaire Dubois,claire@example.org,academic,8\n"
BAD_PANEL = HEADER + "Marc Leroy,not-an-email,practitioner,6\n"
GOOD_PANEL = HEADER + "Marc Leroy,marc@example.org,practitioner,6\n"


def test_design_a_study_import_a_panel_and_lock(page, live_app, tmp_path):
    log_in(page, live_app.base)
    shot(page, "01-studies")

    page.fill("#f-title", "Mobile commerce and social media")
    page.fill("#f-question", "What should merchants do on social media?")
    page.select_option("#f-language", "en")
    page.click("text=Create the study")
    page.wait_for_url("**/design?*")

    for title in ("Strategy", "Content"):
        page.fill("form[action$='/themes'] #f-title", title)
        page.click("text=Add the theme")
    page.select_option("#f-theme_id", label="Strategy")
    page.fill("form[action$='/items'] #f-text", "Answer customers' problems in real time")
    page.click("text=Add the item")
    page.select_option("#f-theme_id", label="Content")
    page.fill("form[action$='/items'] #f-text", "Write messages people want to share")
    page.click("text=Add the item")
    expect(page.locator("text=Answer customers' problems in real time")).to_have_count(1)
    shot(page, "02-design")

    page.click("nav.tabs >> text=Panel")
    bad = tmp_path / "panel.csv"
    bad.write_text(BAD_PANEL)
    page.set_input_files("#f-panel-file", str(bad))
    page.click("form[action$='/panel/import'] button")
    error = page.locator(".alert.error")
    expect(error).to_contain_text("line 3")
    expect(error).to_contain_text("Nothing was imported")
    assert page.locator("text=claire@example.org").count() == 0
    shot(page, "03-panel-import-error")
    bad.write_text(GOOD_PANEL)
    page.set_input_files("#f-panel-file", str(bad))
    page.click("form[action$='/panel/import'] button")
    expect(page.locator("td >> text=claire@example.org")).to_have_count(1)
    expect(page.locator("td >> text=E02")).to_have_count(1)
    shot(page, "04-panel")

    page.click("nav.tabs >> text=Protocol")
    page.fill("#f-consensus_rule", "agreement >= 0.75 and iqr <= 1")
    page.click("text=Save the protocol")
    expect(page.locator("text=Saved.")).to_have_count(1)
    page.fill("#f-consensus_rule", "agrement >= 0.75")
    page.click("text=Save the protocol")
    expect(page.locator(".field-error").first).to_contain_text("did you mean")
    assert page.input_value("#f-consensus_rule") == "agrement >= 0.75"  # what was typed stays
    page.click("button:has-text('Lock the protocol')")
    page.wait_for_url("**/protocol?done=locked")
    expect(page.locator(".alert.warn")).to_contain_text("The protocol is locked")
    expect(page.locator("#f-consensus_rule")).to_be_disabled()
    shot(page, "05-protocol-locked")
    assert (ARTIFACTS / "05-protocol-locked.png").stat().st_size > 10_000
