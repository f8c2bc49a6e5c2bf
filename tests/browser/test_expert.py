"""An expert, in Chromium, on a phone-sized screen: opens the link from the captured e-mail,
answers (autosave), reloads, submits; in round 2 sees the feedback with their own answer
highlighted. A researcher narrows the panel on the narrowing page."""

import re

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from app.accounts.models import Researcher
from app.db import session_scope
from app.panel.models import Expert
from app.rounds import answers, service
from app.rounds.answers import AnswerIn
from app.studies.models import Study
from tests.browser.conftest import log_in, shot
from tests.conftest import settings_for
from tests.factories import add_member, make_panel_study
from tests.rounds.helpers import invited, open_round

pytestmark = pytest.mark.browser
LINK = re.compile(r"http://127\.0\.0\.1:\d+/e/[A-Za-z0-9_-]+")


def link_in(message) -> str:  # type: ignore[no-untyped-def]
    return LINK.search(message.get_body(("plain",)).get_content()).group(0)


def test_expert_answers_then_sees_feedback_and_the_researcher_narrows(chromium, live_app):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=6, items=3, language="en")
        study.narrowing = {"target": 4, "keep_group_share": True, "composite": {"weight": 1.0}}
        study.retire_consensual = False
        session.add(study)
        rita = session.exec(select(Researcher).where(Researcher.email == "rita@example.org")).one()
        add_member(session, study, rita, "owner")
        round1 = open_round(session, study, settings)
        study_id, round1_id = study.id, round1.id
        experts = invited(session, round1)
        best = experts[-1]
        best.weight = 5.0  # the narrowing keeps the heaviest of each group
        session.add(best)
        best_email = best.email
    live_app.wait_for_mail(6)
    message = next(m for m in live_app.inbox.messages if m["To"] == best_email)

    phone = chromium.new_context(viewport={"width": 390, "height": 844}, locale="en-GB", is_mobile=True)
    page = phone.new_page()
    page.goto(link_in(message))
    shot(page, "10-expert-welcome")
    page.check("input[name=consent]")
    page.click("button:has-text('Start')")
    items = page.locator(".item")
    expect(items).to_have_count(3)
    for k in range(3):
        items.nth(k).locator("label", has_text=str(3 + k * 3)).first.click()
    expect(page.locator("#saved-at")).to_contain_text("saved at", timeout=10_000)
    expect(page.locator("#progress-text")).to_contain_text("3 / 3")
    shot(page, "11-expert-answered")
    page.reload()
    for k in range(3):
        expect(items.nth(k).locator("input[type=radio]:checked")).to_have_value(str(3 + k * 3))
    page.click("button:has-text('Submit my answers')")
    expect(page.locator(".alert.ok").first).to_contain_text("submitted")
    shot(page, "12-expert-submitted")

    with session_scope(live_app.engine) as session:  # the others answer through the service
        study = session.get(Study, study_id)
        round1 = service.get_round(session, study, 1)
        for k, expert in enumerate(e for e in invited(session, round1) if e.email != best_email):
            batch = {item.id: AnswerIn(value=7 + k % 3) for item in answers.round_items(session, round1_id)}
            answers.save_answers(session, study, round1, expert, batch)
        service.close_round(session, study, round1, None)

    researcher = chromium.new_context(locale="en-GB").new_page()
    log_in(researcher, live_app.base)
    researcher.goto(f"{live_app.base}/studies/{study_id}/rounds/1/narrowing")
    expect(researcher.locator("tbody tr, table tr").first).to_be_visible()
    shot(researcher, "13-narrowing-preview")
    researcher.click("button:has-text('Confirm the narrowing')")
    expect(researcher.locator("text=Decided on")).to_be_visible()
    shot(researcher, "14-narrowing-decided")
    with Session(live_app.engine) as session:
        assert len(session.exec(select(Expert).where(Expert.status == "dropped")).all()) == 2
        assert session.exec(select(Expert).where(Expert.email == best_email)).one().status == "active"

    researcher.goto(f"{live_app.base}/studies/{study_id}/rounds")
    researcher.click("button:has-text('Prepare the round')")
    researcher.check("input[name=confirm]")
    researcher.click("button:has-text('Open the round')")
    expect(researcher.locator(".alert.ok")).to_contain_text("round is open")
    live_app.wait_for_mail(6 + 4)
    second = [m for m in live_app.inbox.messages[6:] if m["To"] == best_email]
    assert len(second) == 1
    page.goto(link_in(second[0]))
    feedback = page.locator(".item").first.locator(".feedback")
    expect(feedback).to_contain_text("Group median")
    expect(feedback).to_contain_text("Your answer last time: 3")
    highlighted = feedback.locator('svg rect[fill="#1f4e79"]')
    expect(highlighted).to_have_count(1)
    first = page.locator(".item").first
    # round 1's answer is carried forward: filled in, counted, and far from the group, so asked why
    expect(first.locator("input[type=radio]:checked")).to_have_value("3")
    expect(first.locator(".unchanged")).to_contain_text("Unchanged since round 1")
    expect(page.locator("#progress-text")).to_contain_text("3 / 3")
    expect(first.locator(".reason-box[open]")).to_have_count(1)
    expect(first.locator(".reason-box summary")).to_contain_text("far from the group")
    first.locator("textarea").fill("Small shops cannot staff this")
    expect(page.locator("#saved-at")).to_contain_text("saved at", timeout=10_000)
    shot(page, "15-expert-round2-feedback")
    phone.close()
