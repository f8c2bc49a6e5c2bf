"""Pages with a sticky bar, with the keyboard alone (WCAG 2.1.1, 2.4.11): every Tab stop is shown
and not hidden under the bar. The expert form, on a phone and at 400 % zoom, is answered and
submitted without a mouse; the protocol and narrowing pages are walked on a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from app.accounts.models import Researcher
from app.db import session_scope, utcnow
from app.panel import service as panel
from app.rounds import service
from tests.browser.conftest import log_in, shot
from tests.conftest import TEST_SECRET, settings_for
from tests.factories import add_member, make_panel_study
from tests.rounds.helpers import answer_all, invited, open_round
from tests.rounds.test_every_kind import all_kinds_study, answer_everything

pytestmark = pytest.mark.browser

# Where the focused control is, and whether it is inside the viewport and clear of the page's sticky bar.
FOCUS = """async () => {
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));  // scrolling settled
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const box = (el.closest('label') && el.type !== 'checkbox' ? el.closest('label') : el).getBoundingClientRect();
  const bar = document.querySelector('.sticky-bar');
  const barBox = bar.getBoundingClientRect();
  const inBar = bar.contains(el);
  const sticky = getComputedStyle(bar).position === 'sticky';
  // a box taller than the room above the bar (a scrollable table) cannot be shown whole: some of it
  // must be in sight, above the bar; anything else must be whole in sight and clear of the bar
  const room = sticky ? barBox.top : window.innerHeight;
  const tall = box.height > room;
  const under = !inBar && sticky && (tall ? box.top >= barBox.top : box.bottom > barBox.top && box.top < barBox.bottom);
  const inView = tall ? box.bottom > 0 && box.top < room : box.top >= -1 && box.bottom <= window.innerHeight + 1;
  return {
    tag: el.tagName.toLowerCase(), type: el.type || '', name: el.name || '', text: el.textContent.trim().slice(0, 40),
    shown: inView && box.width > 0 && box.height > 0,
    under, sticky, inBar, kind: el.closest('[data-kind]')?.dataset.kind || '',
    box: [box.top, box.bottom], bar: [barBox.top, barBox.bottom], height: window.innerHeight,
  };
}"""


def consented_link(session, expert, base: str) -> str:  # type: ignore[no-untyped-def]
    """The expert's link, consent already given: it opens on the form."""
    expert.consent_at = utcnow()
    session.add(expert)
    return f"{base}/e/{panel.current_link(session, expert, TEST_SECRET)}"


VIEWS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True},
    # 1280 x 800 at 400 % zoom: 320 x 200 CSS pixels, where a sticky bar would take most of the screen
    "400 % zoom": {"viewport": {"width": 320, "height": 200}},
}


@pytest.mark.parametrize("view", VIEWS)
def test_the_expert_form_is_walked_answered_and_submitted_with_the_keyboard(chromium, live_app, view):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        _, study = all_kinds_study(session, experts=3, language="en")
        round1 = open_round(session, study, settings)
        link = consented_link(session, invited(session, round1)[0], live_app.base)
    context = chromium.new_context(locale="en-GB", **VIEWS[view])
    page = context.new_page()
    page.goto(link)
    hidden, stops, answered_radio_groups = [], [], set()
    estimate = 0
    for _ in range(300):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS)
        if focus is None:
            continue
        stops.append(focus)
        if not focus["shown"] or focus["under"]:
            hidden.append(focus)
        if focus["tag"] == "input" and focus["type"] == "radio" and focus["name"] not in answered_radio_groups:
            page.keyboard.press("Space")  # answers the group with its first value
            answered_radio_groups.add(focus["name"])
        elif focus["tag"] == "input" and focus["type"] == "checkbox" and focus["name"].startswith("c"):
            page.keyboard.press("Space")
        elif focus["tag"] == "select":
            position = int(focus["name"].rsplit("_", 1)[1])  # the k-th option gets rank k
            for _ in range(position + 1):
                page.keyboard.press("ArrowDown")
        elif focus["kind"] == "estimate" and focus["tag"] == "input":
            estimate += 1
            page.keyboard.type(str(10 * estimate))
        elif focus["kind"] == "open" and focus["tag"] == "textarea":
            page.keyboard.type("Faster delivery")
        if focus["inBar"] and "Submit" in focus["text"]:
            break
    assert stops and stops[-1]["inBar"] and "Submit" in stops[-1]["text"], [s["text"] for s in stops[-5:]]
    assert hidden == [], f"{len(hidden)} of {len(stops)} focus stops hidden on the {view}: {hidden[:5]}"
    if view == "400 % zoom":
        assert not stops[-1]["sticky"], "the Save bar stays stuck on a 200-pixel-high screen"
    page.keyboard.press("Enter")
    expect(page.locator(".alert.ok").first).to_contain_text("submitted")
    shot(page, f"keyboard-submitted-{view.split()[0]}")
    context.close()


def test_moving_through_the_scale_with_arrow_keys_is_quiet_and_the_why_box_follows_the_answer(chromium, live_app):
    """Round 2, the group's median at 7 and the threshold 3. The expert answered 2 in round 1: the
    page opens with the "please say why" box open. Moving to 5 (near) closes it and gives back its
    plain title; 3 (far) opens it again; 5 closes it. The live status line does not speak at every key."""
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=5, items=1, language="en")
        study.stopping_rule, study.max_rounds, study.retire_consensual = "round >= max_rounds", 3, False
        round1 = open_round(session, study, settings)
        experts = invited(session, round1)
        answer_all(session, study, round1, ratings={e.id: [2 if e is experts[0] else 7] for e in experts})
        service.close_round(session, study, round1, None)
        open_round(session, study, settings)
        link = consented_link(session, experts[0], live_app.base)
    context = chromium.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(link)
    page.evaluate(
        """() => { window.spoken = []; new MutationObserver(() => window.spoken.push(
             document.getElementById('saved-at').textContent)).observe(document.getElementById('saved-at'),
             {childList: true, characterData: true, subtree: true}); }"""
    )
    why = page.locator(".reason-box").first
    checked = page.locator("input[type=radio]:checked")
    expect(checked).to_have_value("2")  # the carried answer, far from the median
    expect(why).to_have_attribute("open", "")
    expect(why.locator("summary")).to_contain_text("please say why")
    checked.focus()

    def move(key: str, times: int, value: str) -> None:
        for _ in range(times):
            with page.expect_response(lambda r: r.url.endswith("/answers")):
                page.keyboard.press(key)
        expect(checked).to_have_value(value)

    move("ArrowRight", 3, "5")
    expect(why).not_to_have_attribute("open", "")
    expect(why.locator("summary")).to_have_text("Add a reason or comment (optional, anonymous)")
    move("ArrowLeft", 2, "3")
    expect(why).to_have_attribute("open", "")
    expect(why.locator("summary")).to_contain_text("please say why")
    move("ArrowRight", 2, "5")
    expect(why).not_to_have_attribute("open", "")
    expect(why.locator("summary")).to_have_text("Add a reason or comment (optional, anonymous)")
    expect(page.locator("#saved-at")).to_contain_text("saved at")
    spoken = page.evaluate("() => window.spoken")
    # seven saves: "saved at HH:MM" once, and once more if a minute turned meanwhile; never "saving…"
    assert 1 <= len(spoken) <= 2 and all(s.startswith("saved at") for s in spoken), spoken
    context.close()


def _walk(page, last) -> tuple[list, list]:  # type: ignore[no-untyped-def]
    """Tab through the page until ``last(focus)``; every stop, and those hidden or under the bar."""
    stops, hidden = [], []
    for _ in range(400):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS)
        if focus is None:
            continue
        stops.append(focus)
        if not focus["shown"] or focus["under"]:
            hidden.append(focus)
        if last(focus):
            break
    return stops, hidden


def test_the_round_2_form_with_its_feedback_charts_keeps_every_focus_stop_in_sight_on_a_phone(chromium, live_app):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        _, study = all_kinds_study(session, experts=6, language="en")
        round1 = open_round(session, study, settings)
        experts = invited(session, round1)
        answer_everything(session, study, round1, experts)
        service.close_round(session, study, round1, None)
        open_round(session, study, settings)
        link = consented_link(session, experts[0], live_app.base)
    context = chromium.new_context(locale="en-GB", viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(link)
    expect(page.locator(".feedback svg").first).to_be_visible()
    stops, hidden = _walk(page, lambda focus: focus["inBar"] and "Submit" in focus["text"])
    assert stops and stops[-1]["inBar"] and len(stops) > 10, [s["text"] for s in stops[-5:]]
    assert hidden == [], f"{len(hidden)} of {len(stops)} focus stops hidden: {hidden[:5]}"
    context.close()


@pytest.mark.parametrize("page_name", ["protocol", "narrowing"])
def test_researcher_pages_with_a_sticky_bar_keep_every_focus_stop_in_sight_on_a_phone(chromium, live_app, page_name):
    settings = settings_for(live_app.url, base_url=live_app.base)
    with session_scope(live_app.engine) as session:
        study = make_panel_study(session, experts=8, items=3, language="en")
        study.narrowing = {"target": 4, "keep_group_share": True, "composite": {"weight": 1.0}}
        rita = session.exec(select(Researcher).where(Researcher.email == "rita@example.org")).one()
        add_member(session, study, rita, "owner")
        if page_name == "narrowing":
            round1 = open_round(session, study, settings)
            answer_all(session, study, round1)
            service.close_round(session, study, round1, None)
        path = f"/studies/{study.id}/" + ("protocol" if page_name == "protocol" else "rounds/1/narrowing")
    context = chromium.new_context(locale="en-GB", viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, live_app.base)
    page.goto(f"{live_app.base}{path}")
    stops, hidden = _walk(page, lambda focus: focus["inBar"] and focus["tag"] == "button")
    assert stops and stops[-1]["inBar"], [s["text"] for s in stops[-5:]]
    assert len(stops) > 10 and hidden == [], f"{len(hidden)} of {len(stops)} focus stops hidden: {hidden[:5]}"
    context.close()
