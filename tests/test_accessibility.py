"""Accessibility checks that need no browser: contrast of the focus ring and field borders (WCAG
1.4.11, 3:1), names of repeated buttons (2.4.6), scroll boxes reachable by keyboard (2.1.1)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlmodel import select

from app.studies.models import Item
from tests.factories import make_panel_study, make_researcher, page_login

CSS = (Path(__file__).parent.parent / "app" / "static" / "css" / "app.css").read_text()


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_focus_rings_and_field_borders_stand_out_from_white_and_the_page():
    background = re.search(r"--bg: (#[0-9a-f]{6})", CSS).group(1)  # type: ignore[union-attr]
    rings = set(re.findall(r"outline: 3px solid (#[0-9a-f]{6})", CSS))
    borders = set(re.findall(r"border: 1px solid (#[0-9a-f]{6})", CSS)) - {"#d8dee6"}  # card lines are decoration
    assert rings and borders
    for colour in rings | borders:
        for behind in ("#ffffff", background):
            assert contrast(colour, behind) >= 3.0, (colour, behind, round(contrast(colour, behind), 2))


def test_move_buttons_say_what_they_move_and_scroll_boxes_are_named_regions(client, session):
    study = make_panel_study(session, make_researcher(session), experts=2, items=3, language="en")
    page_login(client)
    design = client.get(f"/studies/{study.id}/design").text
    names = re.findall(r'aria-label="(Move (?:up|down)[^"]*)"', design)
    items = session.exec(select(Item).where(Item.study_id == study.id)).all()
    assert len(names) >= 2 * len(items) and len(names) == len(set(names))
    panel = client.get(f"/studies/{study.id}/panel").text
    boxes = re.findall(r'<div class="table-scroll"([^>]*)>', panel)
    assert boxes and all('tabindex="0"' in b and 'role="region"' in b and "aria-label=" in b for b in boxes)


def test_rating_radios_carry_their_anchor_and_the_anchors_describe_the_scale(client, session, settings):
    from app.panel import service as panel
    from tests.conftest import TEST_SECRET, csrf_from
    from tests.rounds.helpers import invited, open_round

    study = make_panel_study(session, experts=1, items=1, language="en")
    study.anchors = {"1": "not important", "9": "essential"}
    session.add(study)
    round_ = open_round(session, study, settings)
    token = panel.current_link(session, invited(session, round_)[0], TEST_SECRET)
    page = client.get(f"/e/{token}")
    client.post(f"/e/{token}/consent", data={"csrf_token": csrf_from(page.text), "consent": "1"})
    html = client.get(f"/e/{token}").text
    group = re.search(r'role="radiogroup"[^>]*aria-describedby="(anchors-\d+)"', html)
    assert group and f'id="{group.group(1)}"' in html
    assert re.search(r'value="1"[^>]*>1<span class="visually-hidden"> – not important</span></label>', html)
    assert re.search(r'value="9"[^>]*>9<span class="visually-hidden"> – essential</span></label>', html)


def test_a_french_study_read_in_english_marks_its_own_text_french(client, session, settings):
    """WCAG 3.1.2: study text keeps its language on a page in the other language, and only there."""
    from app.panel import service as panel
    from tests.conftest import TEST_SECRET, csrf_from
    from tests.rounds.helpers import invited, open_round

    study = make_panel_study(session, experts=1, items=1, language="fr")
    round_ = open_round(session, study, settings)
    token = panel.current_link(session, invited(session, round_)[0], TEST_SECRET)
    welcome = client.get(f"/e/{token}?lang=en").text
    assert re.search(r'<h1 lang="fr">', welcome)
    client.post(f"/e/{token}/consent", data={"csrf_token": csrf_from(welcome), "consent": "1"})
    english = client.get(f"/e/{token}?lang=en").text
    assert '<html lang="en"' in english
    assert re.search(
        r'<legend lang="fr">Statement number 1 <span class="badge grey" lang="en">not translated</span>', english
    )
    assert re.search(r'<h2 lang="fr">', english)
    french = client.get(f"/e/{token}?lang=fr").text
    assert '<html lang="fr"' in french and 'lang="fr">Statement number 1' not in french


def test_a_translated_hint_with_a_rule_in_it_is_escaped_in_both_languages(client, session):
    study = make_panel_study(session, make_researcher(session), experts=1, items=1, language="en")
    page_login(client)
    for language in ("en", "fr"):
        page = client.get(f"/studies/{study.id}/protocol?lang={language}").text
        assert "opposition &lt; 0.15" in page and "opposition < 0.15" not in page


def test_study_text_keeps_its_language_on_researcher_pages_and_in_the_report(client, session, settings):
    """A French study read in English: its title, items and options are marked lang="fr" (WCAG 3.1.2),
    and only its text (the page's own words stay English); read in French, nothing is marked."""
    from app.reports.service import render_html
    from app.rounds import service
    from app.templating import default_templates
    from tests.rounds.helpers import open_round
    from tests.rounds.test_every_kind import all_kinds_study, answer_everything, invited

    owner, study = all_kinds_study(session, experts=4, language="fr")
    study.title = "Réseaux sociaux"
    session.add(study)
    round1 = open_round(session, study, settings)
    answer_everything(session, study, round1, invited(session, round1))
    service.close_round(session, study, round1, None)
    page_login(client, owner.email)
    marked = re.compile(r'<(\w+)[^>]* lang="fr"[^>]*>([^<]*)')
    item_text = "Which network do you use most?"
    for path, shown in (("", {"Réseaux sociaux"}), ("/design", {item_text}), ("/rounds/1", {item_text})):
        english = client.get(f"/studies/{study.id}{path}?lang=en").text
        assert shown <= {text.strip() for _, text in marked.findall(english)}, path
        french = client.get(f"/studies/{study.id}{path}?lang=fr").text
        assert not shown & {text.strip() for _, text in marked.findall(french)}, path
    coding = client.get(f"/studies/{study.id}/rounds/1/coding?lang=en").text
    assert {"What else matters?", "Idea 1: delivery times"} <= {text.strip() for _, text in marked.findall(coding)}
    results = client.get(f"/studies/{study.id}/rounds/1/results?lang=en").text
    assert {"Facebook", "Price"} <= {text.strip() for _, text in marked.findall(results)}
    assert not re.search(r'<th[^>]* lang="fr"', results)  # the table's own headings stay English
    report = render_html(session, study.id, "en", default_templates())
    assert item_text in {text.strip() for _, text in marked.findall(report)}
    images = re.findall(r"<img\b[^>]*>", report)  # every figure of the PDF says what it shows (1.1.1)
    assert images and all(re.search(r'alt="[^"]{12,}"', image) for image in images), images
    french_report = render_html(session, study.id, "fr", default_templates())
    assert item_text not in {text.strip() for _, text in marked.findall(french_report)}
