"""The results page in Chromium: a chart downloads as a PNG for slides (drawn from its SVG file),
the legend opens, and the page reads theme by theme."""

import json

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from app.accounts.models import Researcher
from app.db import session_scope
from app.rounds import service
from tests.browser.conftest import log_in, shot
from tests.conftest import settings_for
from tests.factories import add_member, make_panel_study
from tests.rounds.helpers import answer_all, open_round

pytestmark = pytest.mark.browser


def test_a_chart_downloads_as_a_png_and_the_legend_opens(chromium, live_app, tmp_path):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=6, items=3, language="fr")
        rita = session.exec(select(Researcher).where(Researcher.email == "rita@example.org")).one()
        add_member(session, study, rita, "owner")
        round_ = open_round(session, study, settings)
        answer_all(session, study, round_)
        service.close_round(session, study, round_, None)
        study_id = study.id
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_app.base)
    page.goto(f"{live_app.base}/studies/{study_id}/rounds/1/results?lang=fr")
    legend = page.locator("details.legend")
    legend.locator("summary").click()
    expect(legend).to_contain_text("sous 15\u00a0% l’item est stable")
    with page.expect_download() as download:
        page.locator("a[data-png]").first.click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".png" and saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(saved) as image:
        assert image.size == (960, 288)  # three times the page's chart
        assert len(image.convert("RGB").getcolors(maxcolors=1_000_000)) > 3  # bars and text, not blank
    shot(page, "40-results-fr")
    context.close()


def test_closing_a_round_says_it_is_working_and_cannot_be_clicked_twice(chromium, live_app):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=4, items=2, language="en")
        rita = session.exec(select(Researcher).where(Researcher.email == "rita@example.org")).one()
        add_member(session, study, rita, "owner")
        round_ = open_round(session, study, settings)
        answer_all(session, study, round_)
        study_id = study.id
    page = chromium.new_context(viewport={"width": 1366, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_app.base)
    page.goto(f"{live_app.base}/studies/{study_id}/rounds/1")
    # What the form shows the moment it is sent, noted by a listener that runs after busy.js's and
    # kept in sessionStorage to read once the round's page is back. (Holding the request with
    # page.route and reading the page meanwhile could hang Chromium's evaluate under load.)
    page.evaluate(
        """() => document.addEventListener("submit", (event) => {
            const form = event.target;
            const status = form.querySelector(".busy-status[role=status]");
            sessionStorage.setItem("sent", JSON.stringify(
                [form.querySelector("button[type=submit]").disabled, status && status.textContent]));
        })"""
    )
    close = page.locator("form[action$='/close']")
    close.locator("input[name=confirm]").check()
    close.locator("button[type=submit]").click()
    page.wait_for_url("**/rounds/1?done=closed")
    expect(page.locator(".alert.ok")).to_contain_text("closed and analysed")
    sent = json.loads(page.evaluate("() => sessionStorage.getItem('sent')"))
    assert sent == [True, "Closing and analysing the round: a large round takes a few seconds…"]
    page.context.close()
