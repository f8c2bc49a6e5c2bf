"""Researcher pages reflow at 320 CSS pixels (WCAG 1.4.10): nothing makes the page scroll sideways;
wide tables scroll inside their own box."""

import pytest
from sqlmodel import select

from app.accounts.models import Researcher
from app.db import session_scope
from app.rounds import service
from tests.browser.conftest import log_in
from tests.conftest import settings_for
from tests.factories import add_member, make_panel_study
from tests.rounds.helpers import answer_all, open_round

pytestmark = pytest.mark.browser

WIDEST = """() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"""


def test_researcher_pages_fit_a_320_pixel_screen(chromium, live_app):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=6, items=3, language="en")
        study.narrowing = {"target": 4, "keep_group_share": True, "composite": {"weight": 1.0}}
        study.retire_consensual = False
        session.add(study)
        rita = session.exec(select(Researcher).where(Researcher.email == "rita@example.org")).one()
        add_member(session, study, rita, "owner")
        round1 = open_round(session, study, settings)
        answer_all(session, study, round1)
        service.close_round(session, study, round1, None)
        study_id = study.id
    phone = chromium.new_context(viewport={"width": 320, "height": 640}, locale="en-GB", is_mobile=True)
    page = phone.new_page()
    log_in(page, live_app.base)
    wide = {}
    page.goto(f"{live_app.base}/studies")
    if page.evaluate(WIDEST) > 320:
        wide["/studies"] = page.evaluate(WIDEST)
    for path in (
        "",
        "/settings",
        "/protocol",
        "/design",
        "/panel",
        "/rounds",
        "/rounds/1",
        "/rounds/1/results",
        "/rounds/1/narrowing",
        "/mailbox",
        "/audit",
        "/report",
        "/preview",
    ):
        page.goto(f"{live_app.base}/studies/{study_id}{path}")
        width = page.evaluate(WIDEST)
        if width > 320:
            culprit = page.evaluate(
                "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 320)"
                ".map(e => e.tagName + '.' + e.className).slice(-3).join(' ')"
            )
            wide[path or "/"] = (width, culprit)
    phone.close()
    assert wide == {}, f"pages wider than 320 px: {wide}"
